"""One realistic ophys experiment NWB -> vbzarr store, against hdmf-zarr and h5py.

Targets (issue): conversion >= 3x faster than hdmf-zarr's ``NWBZarrIO.export``; peak RSS of the
converting process < 1 GB; store <= 0.6x the NWB size and lossless; both access patterns ("all
cells, 3 s window around a time" and "one cell's whole dff trace") faster from the store than from
the NWB file.

What runs (every figure measured in this one run, each peer side by side):

a. vbzarr ``convert_nwb`` (default Chunking) in a child process: wall time of the call, the child's
   peak RSS (``wait4`` rusage of that child only) and CPU time; ``--repeats`` runs; and the same
   file through a project's path (written into an Icechunk session and committed).
b. hdmf-zarr 0.13 ``NWBZarrIO.export`` of the same file, in its own venv (child process), same
   number of runs.
c. The "h5py limit": reading every dataset of the file fully with h5py (a lower bound of any
   conversion), in a child process.
d. NWB size vs store size (apparent bytes of all files), per-group and per-variable store sizes,
   and a losslessness check against h5py (traces, timestamps, templates, masks, images).
e. The two access patterns, each in a fresh process (so every query is "cold" for the process),
   with the files' pages in the page cache ("warm") or dropped from it first ("cold"): the store
   through xarray (``vbzarr.open_store``, the user path) and through zarr directly (lower bound),
   the NWB through h5py.
f. (a), (d) and (e) for alternative ``Chunking(cells, time)`` settings; plus exploratory layouts
   of ``dff`` the converter cannot write today (zarr sharding, a bitshuffle codec) and xarray
   without dask, to show where the read time goes.
g. Diagnosis helpers: a step-by-step breakdown of the conversion (the converter's own
   ``build_groups`` and ``StagedStore``) with variants of the ``ophys`` codecs, a codec probe
   on samples of the large variables, and a sweep of ``dff`` layouts read with zarr and h5py.

Page cache: on this VM the kernel evicts file pages within seconds, so every conversion run first
reads the source NWB once (warm source, both peers alike), and every read measurement states
whether the files were pre-read ("warm") or dropped with ``posix_fadvise`` ("cold").

Usage (from the repository root)::

    python -m benchmarks run ophys_conversion                                # realistic file, ~10 min
    python -m benchmarks run ophys_conversion --size small --repeats 1       # quick check
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from benchmarks.harness import (
    REPO,
    SCRATCH,
    Children,
    cached_fraction,
    command,
    drop_page_cache,
    du_bytes,
    factory_hash,
    git_markdown,
    git_state,
    machine,
    machine_markdown,
    md_table,
    peak_rss_mb,
    read_every_dataset,
    read_results,
    realistic_experiment,
    stats,
    warm_page_cache,
    write_results,
)

NAME = "bench_ophys_conversion"
DFF = "processing/ophys/dff/traces"
TRACES = {  # store variable -> NWB dataset (time x roi)
    "dff": "processing/ophys/dff/traces/data",
    "corrected_fluorescence": "processing/ophys/corrected_fluorescence/traces/data",
    "events": "processing/ophys/event_detection/data",
    "demixed_trace": "processing/ophys/demixed_trace/traces/data",
    "neuropil_trace": "processing/ophys/neuropil_trace/traces/data",
}
ROIS = {
    "dff": "processing/ophys/dff/traces/rois",
    "corrected_fluorescence": "processing/ophys/corrected_fluorescence/traces/rois",
    "events": "processing/ophys/event_detection/rois",
    "demixed_trace": "processing/ophys/demixed_trace/traces/rois",
    "neuropil_trace": "processing/ophys/neuropil_trace/traces/rois",
}
CELL_TABLE = "processing/ophys/image_segmentation/cell_specimen_table"


def current_codec():
    """The BloscCodec the converter uses for float64 arrays, and a label for it."""
    import numpy as np

    from vbzarr.convert.writer import _compressors

    codec = _compressors(np.dtype("float64"))[0]
    return codec, f"blosc {codec.cname.name}{codec.clevel} {codec.shuffle.name}"


# ------------------------------------------------------------------------------------------------
# Children: each runs in its own process (python -m benchmarks.bench_ophys_conversion --child ...)
# ------------------------------------------------------------------------------------------------
def child_convert(p: dict) -> dict:
    """vbzarr conversion; imports are not timed (as in the hdmf-zarr child)."""
    import warnings

    warnings.filterwarnings("ignore")
    from vbzarr.convert import Chunking, convert_nwb

    rss_after_import = peak_rss_mb()
    shutil.rmtree(p["dst"], ignore_errors=True)
    t0 = time.perf_counter()
    convert_nwb(p["src"], p["dst"], chunking=Chunking(cells=p["cells"], time=p["time"]))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_after_import_mb": rss_after_import}


def child_convert_project(p: dict) -> dict:
    """The same file through a project's path: written into an Icechunk session and committed
    (what ``convert_project`` does for each file), into a new repository."""
    import warnings

    warnings.filterwarnings("ignore")
    from vbzarr.convert.commits import open_or_create
    from vbzarr.convert.project import Job, convert_job

    rss_after_import = peak_rss_mb()
    shutil.rmtree(p["dst"], ignore_errors=True)  # this benchmark's own output
    open_or_create(p["dst"])
    t0 = time.perf_counter()
    convert_job(Job(kind="ophys_experiment", id=1, source=p["src"]), p["dst"], None)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_after_import_mb": rss_after_import}


def child_h5py_limit(p: dict) -> dict:
    """Read every dataset of the file fully with h5py."""
    r = read_every_dataset(p["src"])
    return {
        "seconds": r["seconds"],
        "datasets": r["datasets"],
        "bytes_in_memory": r["bytes"],
        "peak_rss_mb": peak_rss_mb(),
    }


def child_read(p: dict) -> dict:
    """One access pattern on one target, timing every query; the open is timed separately."""
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np

    method, pattern = p["method"], p["pattern"]
    if method == "h5py":
        import h5py
    elif method.startswith("xarray"):
        import xarray as xr

        import vbzarr
    else:
        import zarr
    per = []
    t0 = time.perf_counter()
    if method == "h5py":
        # What answering "by cell_specimen_id and time" needs: timestamps, ids, ROI columns.
        f = h5py.File(p["path"], "r")
        data = f[f"{DFF}/data"]
        ts = f[f"{DFF}/timestamps"][()]
        csid = f[f"{CELL_TABLE}/cell_specimen_id"][()]
        rois = f[f"{DFF}/rois"][()]
        column = {int(csid[r]): i for i, r in enumerate(rois)}
    elif method == "xarray":  # the user path: vbzarr.open_store (dask arrays, stored chunks)
        dff = vbzarr.open_store(p["path"])["ophys"]["dff"]
    elif method == "xarray-time-1":  # vbzarr.open_store with dask chunks spanning all of time
        dff = vbzarr.open_store(p["path"], chunks={"time": -1})["ophys"]["dff"]
    elif method == "xarray-nodask":  # plain xarray lazy indexing, no dask
        dff = xr.open_datatree(p["path"], engine="zarr", chunks=None, consolidated=True, zarr_format=3)[
            "ophys"
        ]["dff"]
    else:  # zarr directly, time/cell coordinates read at open
        group = zarr.open_group(p["path"], mode="r", zarr_format=3, use_consolidated=True)
        arr = group["ophys/dff"]
        ts = group["ophys/time"][:]
        row = {int(c): i for i, c in enumerate(group["ophys/cell_specimen_id"][:])}
    open_s = time.perf_counter() - t0
    shape = None
    if pattern == "windows":
        for tc in p["times"]:
            a, b = tc - p["half_window"], tc + p["half_window"]
            q0 = time.perf_counter()
            if method == "h5py":
                i0, i1 = np.searchsorted(ts, a, "left"), np.searchsorted(ts, b, "right")
                x = data[i0:i1, :]
            elif method.startswith("xarray"):
                x = dff.sel(time=slice(a, b)).values
            else:
                i0, i1 = np.searchsorted(ts, a, "left"), np.searchsorted(ts, b, "right")
                x = arr[:, i0:i1]
            per.append(time.perf_counter() - q0)
            shape = x.shape
    else:
        for c in p["cells"]:
            q0 = time.perf_counter()
            if method == "h5py":
                x = data[:, column[c]]
            elif method.startswith("xarray"):
                x = dff.sel(cell_specimen_id=c).values
            else:
                x = arr[row[c], :]
            per.append(time.perf_counter() - q0)
            shape = x.shape
    return {"open_s": open_s, "per_query_s": per, "shape": list(shape), "peak_rss_mb": peak_rss_mb()}


def child_breakdown(p: dict) -> dict:
    """Where the conversion's time goes: the converter's own steps one at a time (sha256, the
    stream builders, the metadata of every group, then each group's slabs), then variants of the
    ``ophys`` group written by the converter's writer with other codecs. Written to a scratch
    store."""
    import warnings

    warnings.filterwarnings("ignore")
    import dask
    import dask.local
    from zarr.codecs import BloscCodec

    from vbzarr.convert import Chunking, writer
    from vbzarr.convert.convert import build_groups
    from vbzarr.convert.nwb import NWBReader
    from vbzarr.convert.source import file_sha256
    from vbzarr.convert.writer import FolderTarget, StagedStore
    from vbzarr.urls import filesystem

    out: dict = {}
    chunking = Chunking(cells=p["cells"], time=p["time"])
    t0 = time.perf_counter()
    fs, path = filesystem(p["src"])
    file_sha256(fs, path)
    out["sha256_s"] = time.perf_counter() - t0
    nwb = NWBReader(p["src"])
    dst = p["dst"]
    shutil.rmtree(dst, ignore_errors=True)
    out["write_threads"] = writer.WRITE_THREADS
    out["slab_mb"] = writer.WRITE_SLAB_BYTES / 2**20
    with dask.config.set(scheduler=dask.local.get_sync):  # as convert_nwb
        t0 = time.perf_counter()
        groups, _ = build_groups(nwb, chunking, "ophys_experiment")
        out["build_groups_s"] = time.perf_counter() - t0
        staged = StagedStore(FolderTarget(dst), chunking)
        t0 = time.perf_counter()
        slabs = staged.write_metadata(groups)
        out["metadata_s"] = time.perf_counter() - t0
        out["groups"] = {}
        for name, ds in groups.items():
            mine = [s for s in slabs if s.group == name]
            t0 = time.perf_counter()
            staged.write_slabs(mine)
            out["groups"][name] = {
                "seconds": time.perf_counter() - t0,
                "mb": ds.nbytes / 1e6,
                "slabs": len(mine),
            }
        t0 = time.perf_counter()
        staged.finish({})
        out["consolidate_s"] = time.perf_counter() - t0
        ophys = groups["ophys"]

        dense = [
            v for v in ("dff", "corrected_fluorescence", "demixed_trace", "neuropil_trace") if v in ophys
        ]

        def with_codecs(kind: str):
            ds = ophys.copy()
            for name in ds.data_vars:
                name = str(name)
                if kind == "bitshuffle-dense" and name in dense:
                    codec = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")
                elif kind == "lz4":
                    codec = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
                elif kind in ("zstd1", "zstd3", "zstd5"):
                    codec = BloscCodec(cname="zstd", clevel=int(kind[-1]), shuffle="shuffle")
                else:
                    continue
                ds[name].encoding["compressors"] = [codec]
            return ds

        _, label = current_codec()
        variants = {
            f"{label} (as the converter)": "current",
            "blosc zstd3 shuffle (the converter's codec before lz4hc1)": "zstd3",
            "blosc zstd5 shuffle": "zstd5",
            "blosc zstd5 bitshuffle for dff/corrected/demixed/neuropil, rest as now": "bitshuffle-dense",
            "blosc zstd1 shuffle": "zstd1",
            "blosc lz4 shuffle (hdmf-zarr's default codec)": "lz4",
        }
        out["ophys_variants"] = {}
        for label, kind in variants.items():
            target = dst + ".variant"
            shutil.rmtree(target, ignore_errors=True)
            ds = with_codecs(kind)
            t0 = time.perf_counter()
            StagedStore(FolderTarget(target), chunking).write({"ophys": ds})
            out["ophys_variants"][label] = {"seconds": time.perf_counter() - t0, "bytes": du_bytes(target)[0]}
            shutil.rmtree(target, ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child_hdmf(p: dict) -> dict:
    """A small intermediate process that runs the hdmf-zarr peer (benchmarks/peers), so that the
    peer's ``ru_maxrss`` inherits this small process's peak, not the benchmark parent's."""
    from benchmarks.peers.hdmf_zarr_env import export_nwb_to_zarr

    r = export_nwb_to_zarr(p["src"], p["dst"], p["python"])
    r.pop("stderr", None)
    r["intermediate_peak_rss_mb"] = peak_rss_mb()
    return r


def child_generate(p: dict) -> dict:
    """Generate (or find cached) the factory file in a child, keeping the parent's RSS small."""
    path, seconds = realistic_experiment(p["size"], p["seed"])
    return {"path": str(path), "seconds": seconds}


CHILDREN = Children(
    NAME,
    {
        "convert": child_convert,
        "convert_project": child_convert_project,
        "h5py_limit": child_h5py_limit,
        "read": child_read,
        "breakdown": child_breakdown,
        "hdmf": child_hdmf,
        "generate": child_generate,
    },
)


# ------------------------------------------------------------------------------------------------
# Parent
# ------------------------------------------------------------------------------------------------
def parse_chunking(text: str) -> tuple[int, int]:
    cells, t = text.lower().split("x")
    return int(cells), int(t)


def convert_once(src: Path, dst: Path, cells: int, t: int) -> dict:
    warm_page_cache(src)
    cached = cached_fraction(src)
    r = CHILDREN.run("convert", {"src": str(src), "dst": str(dst), "cells": cells, "time": t})
    r["source_cached_fraction"] = cached
    return r


def hdmf_once(src: Path, dst: Path, py: Path) -> dict:
    warm_page_cache(src)
    cached = cached_fraction(src)
    r = CHILDREN.run("hdmf", {"src": str(src), "dst": str(dst), "python": str(py)})
    r["source_cached_fraction"] = cached
    return r


def array_sizes(store: Path) -> dict[str, dict]:
    """``{group/variable: {stored, raw, files}}`` for every array of a store."""
    import numpy as np

    out = {}
    for meta in store.rglob("zarr.json"):
        node = json.loads(meta.read_text())
        if node.get("node_type") != "array":
            continue
        rel = meta.parent.relative_to(store).as_posix()
        stored, files = du_bytes(meta.parent)
        dtype = node["data_type"]
        try:
            itemsize = np.dtype(dtype if isinstance(dtype, str) else "O").itemsize
        except TypeError:
            itemsize = 0
        raw = (
            int(np.prod(node["shape"])) * itemsize
            if isinstance(dtype, str) and dtype not in ("string", "variable_length_utf8")
            else None
        )
        out[rel] = {
            "stored": stored - meta.stat().st_size,
            "raw": raw,
            "files": files - 1,
            "chunks": node["chunk_grid"]["configuration"]["chunk_shape"],
            "codecs": [c["name"] for c in node["codecs"]],
        }
    return out


def group_sizes(store: Path) -> dict[str, int]:
    out = {}
    for child in sorted(store.iterdir()):
        out[child.name] = du_bytes(child)[0]
    return out


def nwb_storage(src: Path) -> dict[str, int]:
    import h5py

    out = {}
    with h5py.File(src, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = int(obj.id.get_storage_size())

        f.visititems(visit)
    return out


def lossless(src: Path, store: Path) -> dict[str, dict]:
    """Store arrays equal the NWB's (values, dtype, NaN positions), cells matched by cell_roi_id."""
    import h5py
    import numpy as np
    import zarr

    from vbzarr.convert.ophys import FILTER_SCALE_SECONDS, filter_events, half_normal_kernel

    g = zarr.open_group(str(store), mode="r", zarr_format=3, use_consolidated=True)
    out = {}
    with h5py.File(src, "r") as f:
        ids = f[f"{CELL_TABLE}/id"][()]
        roi_ids = g["ophys/cell_roi_id"][:].astype(np.int64)
        row_of_id = {int(i): k for k, i in enumerate(ids)}
        for var, path in TRACES.items():
            rois = f[ROIS[var]][()]
            col_of_row = {int(r): i for i, r in enumerate(rois)}
            cols = [col_of_row[row_of_id[int(r)]] for r in roi_ids]
            ref = f[path][()][:, cols].T
            got = g[f"ophys/{var}"][:]
            out[f"ophys/{var}"] = {
                "equal": bool(
                    got.dtype == ref.dtype
                    and got.shape == ref.shape
                    and np.array_equal(got, ref, equal_nan=True)
                ),
                "dtype": str(got.dtype),
                "shape": list(got.shape),
            }
        ts = f[f"{DFF}/timestamps"][()]
        out["ophys/time"] = {"equal": bool(np.array_equal(g["ophys/time"][:], ts))}
        rate = float(g["ophys"].attrs.get("ophys_frame_rate", 31.0))
        events = g["ophys/events"][:]
        expected = filter_events(events, half_normal_kernel(FILTER_SCALE_SECONDS * rate))
        fe = g["ophys/filtered_events"][:]
        out["ophys/filtered_events (vs AllenSDK filter of events)"] = {
            "equal": bool(np.array_equal(fe, expected, equal_nan=True)),
            "max_abs_diff": float(np.max(np.abs(fe - expected))),
        }
        for name in f["stimulus/templates"]:
            base = f"stimulus/templates/{name}"
            for src_name, var in (("data", "warped"), ("unwarped", "unwarped")):
                ref = f[f"{base}/{src_name}"][()]
                got = g[f"stimulus_templates/{var}"][:]
                out[f"stimulus_templates/{var}"] = {
                    "equal": bool(got.dtype == ref.dtype and np.array_equal(got, ref, equal_nan=True)),
                    "dtype": str(got.dtype),
                    "shape": list(got.shape),
                }
        masks = f[f"{CELL_TABLE}/image_mask"][()]
        rows = [row_of_id[int(r)] for r in g["images/cell_roi_id"][:].astype(np.int64)]
        out["images/roi_masks"] = {
            "equal": bool(np.array_equal(g["images/roi_masks"][:], masks[rows].astype(bool)))
        }
        for var, nwb_name in (("max_projection", "max_projection"), ("average_projection", "average_image")):
            ref = f[f"processing/ophys/images/{nwb_name}"][()]
            got = g[f"images/{var}"][:]
            out[f"images/{var}"] = {"equal": bool(got.dtype == ref.dtype and np.array_equal(got, ref))}
    return out


def read_params(src: Path, n_windows: int, n_cells: int, seed: int) -> dict:
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    with h5py.File(src, "r") as f:
        ts = f[f"{DFF}/timestamps"][()]
        csid = f[f"{CELL_TABLE}/cell_specimen_id"][()]
        rois = f[f"{DFF}/rois"][()]
    half = 1.5
    times = rng.uniform(ts[0] + half, ts[-1] - half, n_windows)
    cells = rng.choice(csid[rois], n_cells, replace=False)
    return {"times": [float(t) for t in times], "half_window": half, "cells": [int(c) for c in cells]}


def measure_reads(target: Path, method: str, pattern: str, state: str, params: dict) -> dict:
    if state == "warm":
        warm_page_cache(target)
    else:
        drop_page_cache(target)
    cached = cached_fraction(target)
    r = CHILDREN.run("read", {"path": str(target), "method": method, "pattern": pattern, **params})
    per = r.pop("per_query_s")
    # The first query of a process pays one-time costs (thread pools, codec and numpy warm-up):
    # reported apart; per_query = the other queries (steady state).
    r.update(
        per_query=stats(per[1:] or per),
        first_query_s=per[0],
        total_s=sum(per),
        all_queries=per,
        cached_fraction_before=cached,
        cached_fraction_after=cached_fraction(target),
    )
    return r


def exploratory_store(default_store: Path, dst: Path, encoding: dict) -> Path:
    """A store holding only ophys/dff (+ its coordinates) re-encoded, opened like a real store."""
    import warnings

    import xarray as xr
    import zarr

    warnings.filterwarnings("ignore")
    shutil.rmtree(dst, ignore_errors=True)
    src = xr.open_zarr(default_store, group="ophys", consolidated=True, zarr_format=3)
    ds = src[["dff"]].load()
    for v in ds.variables.values():
        v.encoding = {}
    root = zarr.open_group(str(default_store), mode="r", zarr_format=3, use_consolidated=True)
    zarr.open_group(str(dst), mode="w", zarr_format=3, attributes=dict(root.attrs))
    ds.to_zarr(dst, group="ophys", mode="w", zarr_format=3, consolidated=False, encoding={"dff": encoding})
    zarr.consolidate_metadata(str(dst), zarr_format=3)
    return dst


LAYOUTS = [  # (chunks, shards, codec) of dff for the in-process layout sweep; "current" = converter's
    ((16, 8192), None, "current"),
    ((8, 16384), None, "current"),
    ((4, 4096), None, "current"),
    ((8, 2048), None, "current"),
    ((80, 1024), None, "current"),
    ((16, 1024), (80, 16384), "current"),
    ((1, 8192), (80, 16384), "current"),
    ((16, 8192), None, "lz4-shuffle"),
    ((8, 16384), None, "lz4-shuffle"),
    ((8, 16384), None, "zstd5-bitshuffle"),
]


def layout_sweep(default_store: Path, src: Path, params: dict, work: Path) -> list[dict]:
    """dff re-written in several zarr layouts; both access patterns read with zarr directly and,
    in the same process and for the same queries, from the NWB with h5py (files pre-read)."""
    import h5py
    import numpy as np
    import zarr
    from zarr.codecs import BloscCodec

    codec, label = current_codec()
    codecs = {
        "current": codec,
        "zstd5-shuffle": BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),
        "lz4-shuffle": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
        "zstd5-bitshuffle": BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"),
    }
    g = zarr.open_group(str(default_store), mode="r", zarr_format=3, use_consolidated=True)
    data = g["ophys/dff"][:]
    ts = g["ophys/time"][:]
    row = {int(c): i for i, c in enumerate(g["ophys/cell_specimen_id"][:])}
    half = params["half_window"]
    spans = [
        (int(np.searchsorted(ts, t - half, "left")), int(np.searchsorted(ts, t + half, "right")))
        for t in params["times"]
    ]
    with h5py.File(src, "r") as f:
        csid = f[f"{CELL_TABLE}/cell_specimen_id"][()]
        rois = f[f"{DFF}/rois"][()]
    column = {int(csid[r]): i for i, r in enumerate(rois)}

    def timed(fn, items) -> float:
        fn(items[0])  # warm-up query, not timed
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        return (time.perf_counter() - t0) / len(items)

    out = []
    for chunks, shards, codec in LAYOUTS:
        path = work / "layout.zarr"
        shutil.rmtree(path, ignore_errors=True)
        arr = zarr.create_array(
            str(path),
            shape=data.shape,
            dtype=data.dtype,
            chunks=chunks,
            shards=shards,
            compressors=[codecs[codec]],
            overwrite=True,
        )
        t0 = time.perf_counter()
        arr[:] = data
        write_s = time.perf_counter() - t0
        size, files = du_bytes(path)
        warm_page_cache(path)
        warm_page_cache(src)
        arr = zarr.open_array(str(path), mode="r")
        z_win = timed(lambda s, a=arr: a[:, s[0] : s[1]], spans)
        z_cell = timed(lambda c, a=arr: a[row[c], :], params["cells"])
        with h5py.File(src, "r") as f:
            d = f[f"{DFF}/data"]
            h_win = timed(lambda s, d=d: d[s[0] : s[1], :], spans)
            h_cell = timed(lambda c, d=d: d[:, column[c]], params["cells"])
        out.append(
            {
                "chunks": list(chunks),
                "shards": list(shards) if shards else None,
                "codec": label if codec == "current" else codec,
                "write_s": write_s,
                "bytes": size,
                "files": files,
                "zarr_windows_s": z_win,
                "zarr_cell_s": z_cell,
                "h5py_windows_s": h_win,
                "h5py_cell_s": h_cell,
            }
        )
        shutil.rmtree(path, ignore_errors=True)
    return out


def codec_probe(store: Path, reference: Path | None) -> list[dict]:
    """Ratio and single-thread encode/decode speed of candidate codecs on samples of the large
    variables (one column of chunks over all cells), factory content; plus AllenSDK-written dff."""
    import numcodecs.blosc as nb
    import numpy as np
    import zarr
    from numcodecs import Blosc

    nb.use_threads = False
    current, label = current_codec()
    shuffles = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
    codecs = {f"{label} (current)": Blosc(current.cname.name, current.clevel, shuffles[current.shuffle.name])}
    for name, cname, level, shuffle in [
        ("blosc zstd5 shuffle", "zstd", 5, Blosc.SHUFFLE),
        ("blosc zstd5 bitshuffle", "zstd", 5, Blosc.BITSHUFFLE),
        ("blosc zstd3 shuffle", "zstd", 3, Blosc.SHUFFLE),
        ("blosc zstd1 shuffle", "zstd", 1, Blosc.SHUFFLE),
        ("blosc lz4 5 shuffle", "lz4", 5, Blosc.SHUFFLE),
        ("blosc lz4hc1 shuffle", "lz4hc", 1, Blosc.SHUFFLE),
    ]:
        if name != label:
            codecs[name] = Blosc(cname, level, shuffle)
    g = zarr.open_group(str(store), mode="r", zarr_format=3, use_consolidated=True)
    samples = {}
    for var in (
        "dff",
        "corrected_fluorescence",
        "demixed_trace",
        "neuropil_trace",
        "events",
        "filtered_events",
    ):
        a = g[f"ophys/{var}"]
        samples[var] = np.ascontiguousarray(a[:, : min(a.shape[1], 65536)])
    if np.mean(samples["dff"].astype(np.float32).astype(np.float64) == samples["dff"]) < 1:
        samples["dff rounded to float32 (AllenSDK-like precision)"] = (
            samples["dff"].astype(np.float32).astype(np.float64)
        )
    w = g["stimulus_templates/unwarped"]
    samples["stimulus_templates/unwarped (2 images)"] = np.ascontiguousarray(w[:2])
    if reference is not None:
        import h5py

        with h5py.File(reference, "r") as f:
            samples[f"AllenSDK-written reference file dff ({reference.name})"] = np.ascontiguousarray(
                f[TRACES["dff"]][()].T
            )
    rows = []
    for name, x in samples.items():
        f32 = float(np.mean(x.astype(np.float32).astype(np.float64) == x)) if x.dtype == np.float64 else None
        for label, codec in codecs.items():
            t0 = time.perf_counter()
            enc = codec.encode(x)
            te = time.perf_counter() - t0
            t0 = time.perf_counter()
            codec.decode(enc)
            td = time.perf_counter() - t0
            rows.append(
                {
                    "sample": name,
                    "codec": label,
                    "mb": x.nbytes / 1e6,
                    "ratio": len(enc) / x.nbytes,
                    "encode_mb_s": x.nbytes / te / 1e6,
                    "decode_mb_s": x.nbytes / td / 1e6,
                    "float32_exact_fraction": f32,
                }
            )
    return rows


# ------------------------------------------------------------------------------------------------
# The run, step by step (each step returns the results it adds, in the order of the results file)
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run ophys_conversion", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--size", default="realistic", help="factory size preset (default realistic)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs of the default conversion and of the hdmf-zarr export"
    )
    ap.add_argument("--default", default="16x8192", help="the default Chunking, cells x time")
    ap.add_argument(
        "--chunkings",
        default="8x16384,16x8192,32x4096,80x2048",
        help="Chunking(cells x time) settings compared (comma separated)",
    )
    ap.add_argument("--n-windows", type=int, default=50)
    ap.add_argument("--n-cells", type=int, default=16)
    ap.add_argument("--skip-hdmf", action="store_true")
    ap.add_argument("--hdmf-venv", default=str(SCRATCH / "venv-hdmf-zarr"))
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the markdown from the existing results JSON, measuring nothing",
    )
    return ap.parse_args(argv)


def source_step(args: argparse.Namespace) -> dict:
    """The factory file (generated in a child, or cached) and its shape."""
    gen = CHILDREN.run("generate", {"size": args.size, "seed": args.seed})
    src, gen_s = Path(gen["path"]), gen["seconds"]
    nwb_bytes = src.stat().st_size
    print(
        f"source {src} ({nwb_bytes / 1e6:.0f} MB)"
        + (f", generated in {gen_s:.0f} s" if gen_s else ", cached")
    )
    import h5py

    with h5py.File(src, "r") as f:
        n_frames, n_rois = f[f"{DFF}/data"].shape
        templates = {n: f[f"stimulus/templates/{n}/data"].shape for n in f["stimulus/templates"]}
    return {
        "path": str(src),
        "bytes": nwb_bytes,
        "size_preset": args.size,
        "seed": args.seed,
        "factory_hash": factory_hash(),
        "generation_s": gen_s,
        "frames": n_frames,
        "rois": n_rois,
        "templates": templates,
    }


def h5py_limit_step(src: Path) -> dict:
    """(c) The h5py limit, warm and cold source."""
    limit = {}
    for state in ("warm", "cold"):
        warm_page_cache(src) if state == "warm" else drop_page_cache(src)
        cached = cached_fraction(src)
        limit[state] = CHILDREN.run("h5py_limit", {"src": str(src)})
        limit[state]["source_cached_fraction"] = cached
        print(f"h5py limit ({state}): {limit[state]['seconds']:.2f} s")
    return {"h5py_limit": limit}


def conversion_step(
    src: Path, work: Path, chunkings: list, default: tuple, repeats: int
) -> tuple[dict, dict[str, Path]]:
    """(a) + (f) vbzarr conversions, every Chunking (the default one ``repeats`` times), then the
    project path; returns the results and the stores by Chunking."""
    conversions: dict = {}
    stores: dict[str, Path] = {}
    for cells, t in chunkings:
        key = f"{cells}x{t}"
        dst = work / f"store-{key}.zarr"
        runs = [convert_once(src, dst, cells, t) for _ in range(repeats if (cells, t) == default else 1)]
        conversions[key] = {
            "runs": runs,
            "seconds": stats([r["seconds"] for r in runs]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        stores[key] = dst
        print(
            f"vbzarr convert {key}: "
            + ", ".join(f"{r['seconds']:.1f} s" for r in runs)
            + f", peak RSS {conversions[key]['peak_rss_mb']:.0f} MB"
        )
    pruns = []
    for _ in range(repeats):
        warm_page_cache(src)
        pruns.append(CHILDREN.run("convert_project", {"src": str(src), "dst": str(work / "project")}))
    print("vbzarr into an Icechunk project: " + ", ".join(f"{r['seconds']:.1f} s" for r in pruns))
    return {
        "conversions": conversions,
        "project_conversion": {
            "runs": pruns,
            "seconds": stats([r["seconds"] for r in pruns]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in pruns),
        },
    }, stores


def hdmf_step(src: Path, work: Path, args: argparse.Namespace) -> dict:
    """(b) The peer: hdmf-zarr's export, in its own venv."""
    if args.skip_hdmf:
        return {}
    from benchmarks.peers.hdmf_zarr_env import ensure_venv

    py = ensure_venv(Path(args.hdmf_venv))
    hdst = work / "hdmf-zarr.zarr"
    hruns = [hdmf_once(src, hdst, py) for _ in range(args.repeats)]
    print("hdmf-zarr export: " + ", ".join(f"{r['seconds']:.1f} s" for r in hruns))
    return {
        "hdmf_zarr": {
            "runs": hruns,
            "seconds": stats([r["seconds"] for r in hruns]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in hruns),
            "bytes": hruns[-1]["bytes"],
            "n_files": hruns[-1]["n_files"],
            "versions": hruns[-1].get("versions"),
        }
    }


def size_step(src: Path, stores: dict[str, Path], dkey: str) -> dict:
    """(d) Sizes of the NWB and of every store, and losslessness of the default store."""
    nwb_bytes = src.stat().st_size
    storage = nwb_storage(src)
    sizes = {}
    for key, store in stores.items():
        total, nfiles = du_bytes(store)
        sizes[key] = {
            "bytes": total,
            "files": nfiles,
            "ratio_to_nwb": total / nwb_bytes,
            "groups": group_sizes(store),
        }
    sizes[dkey]["arrays"] = array_sizes(stores[dkey])
    by_prefix: dict[str, int] = {}
    for name, n in storage.items():
        prefix = "/".join(name.split("/")[:2])
        by_prefix[prefix] = by_prefix.get(prefix, 0) + n
    out = {
        "sizes": sizes,
        "nwb_storage_top": dict(sorted(storage.items(), key=lambda kv: -kv[1])[:25]),
        "nwb_storage_by_prefix": by_prefix,
        "lossless": lossless(src, stores[dkey]),
    }
    print("lossless:", all(v["equal"] for v in out["lossless"].values()))
    return out


def read_step(
    src: Path, stores: dict[str, Path], dkey: str, default: tuple, params: dict, work: Path
) -> dict:
    """(e) + (f) Both access patterns, warm and cold, on the NWB, every store and the exploratory
    layouts of dff."""
    targets = [("nwb", src, ["h5py"])]
    targets += [
        (f"store {k}", s, ["xarray", "zarr"] + (["xarray-nodask", "xarray-time-1"] if k == dkey else []))
        for k, s in stores.items()
    ]
    # Exploratory layouts of dff (not what the converter writes today).
    from zarr.codecs import BloscCodec

    codec, label = current_codec()
    current = [codec]  # what the converter uses
    explore = {
        f"dff sharded: shards 80x16384, inner chunks 16x1024 ({label})": {
            "chunks": (16, 1024),
            "shards": (80, 16384),
            "compressors": current,
        },
        f"dff {dkey}, blosc zstd5 bitshuffle": {
            "chunks": default,
            "compressors": [BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")],
        },
    }
    explored = {}
    for i, (label, enc) in enumerate(explore.items()):
        path = exploratory_store(stores[dkey], work / f"explore-{i}.zarr", enc)
        explored[label] = {"bytes_dff": du_bytes(path / "ophys" / "dff")[0], "path": str(path)}
        targets.append((f"explore: {label}", path, ["xarray", "zarr"]))
    reads: dict = {}
    for name, path, methods in targets:
        for method in methods:
            for pattern in ("windows", "cell"):
                for state in ("warm", "cold"):
                    r = measure_reads(path, method, pattern, state, params)
                    reads[f"{name} | {method} | {pattern} | {state}"] = r
                    print(
                        f"read {name:58s} {method:13s} {pattern:7s} {state}: "
                        f"{r['per_query']['mean'] * 1e3:8.2f} ms/query (open {r['open_s'] * 1e3:.0f} ms)"
                    )
    return {"exploratory_layouts": explored, "reads": reads}


def diagnosis_step(
    src: Path, stores: dict[str, Path], dkey: str, default: tuple, params: dict, work: Path
) -> dict:
    """(g) The conversion's breakdown, the codec probe and the layout sweep."""
    warm_page_cache(src)
    breakdown = CHILDREN.run(
        "breakdown",
        {"src": str(src), "dst": str(work / "breakdown.zarr"), "cells": default[0], "time": default[1]},
    )
    shutil.rmtree(work / "breakdown.zarr", ignore_errors=True)
    reference = next(
        iter(
            sorted(
                REPO.parent.glob(
                    "shared/reference-nwb/visual-behavior-ophys/behavior_ophys_experiments/*.nwb"
                )
            )
        ),
        None,
    )
    return {
        "breakdown": breakdown,
        "codec_probe": codec_probe(stores[dkey], reference),
        "layout_sweep": layout_sweep(stores[dkey], src, params, work),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        results = read_results(NAME)
        chunkings = [parse_chunking(k) for k in results["conversions"]]
        dkey = results.get("default_chunking", args.default)
        write_results(NAME, results, render(results, dkey, chunkings, args))
        return 0

    t_start = time.perf_counter()
    results: dict = {"machine": machine(), "command": command(), "git_start": git_state()}
    work = SCRATCH / f"ophys-conversion-{args.size}"
    work.mkdir(parents=True, exist_ok=True)
    results["source"] = source_step(args)
    src = Path(results["source"]["path"])
    default = parse_chunking(args.default)
    dkey = f"{default[0]}x{default[1]}"
    chunkings = [parse_chunking(c) for c in args.chunkings.split(",")]
    if default not in chunkings:
        chunkings.insert(0, default)

    results.update(h5py_limit_step(src))
    converted, stores = conversion_step(src, work, chunkings, default, args.repeats)
    results.update(converted)
    results.update(hdmf_step(src, work, args))
    results.update(size_step(src, stores, dkey))
    params = read_params(src, args.n_windows, args.n_cells, args.seed)
    results["read_params"] = params
    results.update(read_step(src, stores, dkey, default, params, work))
    results.update(diagnosis_step(src, stores, dkey, default, params, work))
    results.update(
        total_seconds=time.perf_counter() - t_start,
        git_end=git_state(),
        parent_peak_rss_mb=peak_rss_mb(),
        converter_codec=current_codec()[1],
        default_chunking=dkey,
    )

    md = render(results, dkey, chunkings, args)
    j, m = write_results(NAME, results, md)
    print(md)
    print(f"wrote {j} and {m}")
    return 0


def render(r: dict, dkey: str, chunkings, args) -> str:
    mb = 1e6
    src = r["source"]
    conv = r["conversions"][dkey]
    hd = r.get("hdmf_zarr")
    lim = r["h5py_limit"]
    out = [
        f"# {NAME}\n",
        machine_markdown(r["machine"], r["command"], r["total_seconds"]),
        git_markdown(r["git_start"], r["git_end"])
        + f"; converter codec for float64: {r['converter_codec']}; factory source hash "
        f"{r['source']['factory_hash']}.\n",
        f"Source: one factory ophys experiment (`size={src['size_preset']!r}`, seed {src['seed']}): "
        f"{src['bytes'] / mb:.0f} MB NWB, {src['rois']} cells x {src['frames']:,} frames, "
        f"templates {list(src['templates'].values())}. Times are medians of the runs shown "
        "(min-max); every conversion run starts with the source NWB read once into the page "
        "cache (both peers alike). Peak RSS: the converting process only (vbzarr: the child's "
        "`VmHWM`; hdmf-zarr: its child's `ru_maxrss`, spawned from a small intermediate "
        "process so that no large parent peak is inherited).\n",
    ]
    vz = conv["seconds"]
    rows = [
        [
            "vbzarr `convert_nwb` (Chunking " + dkey + ")",
            f"{vz['median']:.2f} ({vz['min']:.2f}-{vz['max']:.2f}), n={vz['n']}",
            f"{conv['peak_rss_mb']:.0f}",
            "1.00",
            "",
        ]
    ]
    if hd:
        hs = hd["seconds"]
        rows.append(
            [
                "hdmf-zarr 0.13 `NWBZarrIO.export`",
                f"{hs['median']:.2f} ({hs['min']:.2f}-{hs['max']:.2f}), n={hs['n']}",
                f"{hd['peak_rss_mb']:.0f}",
                f"{hs['median'] / vz['median']:.2f}",
                "target >= 3.0: " + ("MET" if hs["median"] / vz["median"] >= 3 else "MISSED"),
            ]
        )
    pc = r.get("project_conversion")
    if pc:
        ps = pc["seconds"]
        rows.append(
            [
                "vbzarr into an Icechunk project (`convert_project`'s path: write + commit)",
                f"{ps['median']:.2f} ({ps['min']:.2f}-{ps['max']:.2f}), n={ps['n']}",
                f"{pc['peak_rss_mb']:.0f}",
                f"{ps['median'] / vz['median']:.2f}",
                "",
            ]
        )
        if hd:
            ratio = hd["seconds"]["median"] / ps["median"]
            rows.append(
                [
                    "hdmf-zarr export / Icechunk-project path",
                    "",
                    "",
                    f"{ratio:.2f}",
                    "target >= 3.0: " + ("MET" if ratio >= 3 else "MISSED"),
                ]
            )
    for state in ("warm", "cold"):
        rows.append(
            [
                f"h5py limit: read every dataset fully ({state} page cache)",
                f"{lim[state]['seconds']:.2f}",
                f"{lim[state]['peak_rss_mb']:.0f}",
                f"{lim[state]['seconds'] / vz['median']:.2f}",
                "",
            ]
        )
    out += [
        "## Conversion time and memory\n",
        md_table(["", "seconds", "peak RSS MB", "peer s / vbzarr s", ""], rows),
        f"Peak RSS target < 1024 MB: {'MET' if conv['peak_rss_mb'] < 1024 else 'MISSED'} "
        f"({conv['peak_rss_mb']:.0f} MB; after imports {conv['runs'][0]['rss_after_import_mb']:.0f} MB). "
        f"Child CPU time of the vbzarr runs: "
        + ", ".join(f"{x['child_cpu_s']:.1f} s" for x in conv["runs"])
        + ".\n",
    ]

    size = r["sizes"][dkey]
    srows = [
        ["NWB (source)", f"{src['bytes'] / mb:.1f}", "1.00", ""],
        [
            f"vbzarr store (Chunking {dkey})",
            f"{size['bytes'] / mb:.1f}",
            f"{size['ratio_to_nwb']:.3f}",
            "target <= 0.6: " + ("MET" if size["ratio_to_nwb"] <= 0.6 else "MISSED"),
        ],
    ]
    if hd:
        srows.append(["hdmf-zarr store", f"{hd['bytes'] / mb:.1f}", f"{hd['bytes'] / src['bytes']:.3f}", ""])
    ok = all(v["equal"] for v in r["lossless"].values())
    out += [
        "## Size and losslessness\n",
        md_table(["", "MB", "x NWB", ""], srows),
        f"Lossless: {'all equal' if ok else 'NOT all equal'} ("
        + ", ".join(f"{k}: {'ok' if v['equal'] else 'DIFFERENT'}" for k, v in r["lossless"].items())
        + ").\n",
    ]
    grows = sorted(size["groups"].items(), key=lambda kv: -kv[1])
    out += [
        "Store size by group:\n",
        md_table(
            ["group", "MB", "% of store"],
            [[g, f"{b / mb:.2f}", f"{100 * b / size['bytes']:.1f}"] for g, b in grows],
        ),
    ]
    arrays = size["arrays"]
    big = sorted(arrays.items(), key=lambda kv: -kv[1]["stored"])[:14]
    storage = r["nwb_storage_top"]
    nwb_of = {"ophys/" + k: storage.get(v) for k, v in TRACES.items()}
    out += [
        "Largest arrays of the store (raw = uncompressed bytes):\n",
        md_table(
            ["array", "stored MB", "raw MB", "stored/raw", "NWB MB", "chunks"],
            [
                [
                    k,
                    f"{v['stored'] / mb:.2f}",
                    f"{v['raw'] / mb:.1f}" if v["raw"] else "",
                    f"{v['stored'] / v['raw']:.3f}" if v["raw"] else "",
                    f"{nwb_of[k] / mb:.1f}" if nwb_of.get(k) else "",
                    v["chunks"],
                ]
                for k, v in big
            ],
        ),
    ]

    def q(key: str) -> dict | None:
        return r["reads"].get(key)

    out += [
        "## Access patterns (ms per query, fresh process; open not included)\n",
        f"`windows`: all cells, 3 s window around {len(r['read_params']['times'])} random times; "
        f"`cell`: one cell's whole dff trace, {len(r['read_params']['cells'])} cells. "
        "warm = files pre-read into the page cache; cold = dropped with posix_fadvise first. "
        "Ratio = NWB/h5py time divided by the store time (> 1: store faster). Mean over the "
        "queries after the first one of each process (the first query, which pays one-time "
        "warm-up costs, is in the next table). `xarray` = `vbzarr.open_store` (dask, stored "
        "chunks), `xarray-time-1` = `open_store(chunks={'time': -1})`, `xarray-nodask` = "
        "`xr.open_datatree(chunks=None)`, `zarr` = `zarr.open_group` directly.\n",
    ]
    rows = []
    for pattern in ("windows", "cell"):
        for state in ("warm", "cold"):
            nwb = q(f"nwb | h5py | {pattern} | {state}")["per_query"]["mean"]
            for method in ("xarray", "xarray-time-1", "xarray-nodask", "zarr"):
                s = q(f"store {dkey} | {method} | {pattern} | {state}")
                if s is None:
                    continue
                m = s["per_query"]["mean"]
                nmed = q(f"nwb | h5py | {pattern} | {state}")["per_query"]["median"]
                smed = s["per_query"]["median"]
                rows.append(
                    [
                        pattern,
                        state,
                        f"{nwb * 1e3:.2f} / {nmed * 1e3:.2f}",
                        method,
                        f"{m * 1e3:.2f} / {smed * 1e3:.2f}",
                        f"{nwb / m:.2f}",
                        "faster" if m < nwb else "SLOWER",
                    ]
                )
    out += [
        md_table(
            [
                "pattern",
                "page cache",
                "NWB h5py ms (mean / median)",
                "store via",
                "store ms (mean / median)",
                "NWB/store (means)",
                "store vs NWB",
            ],
            rows,
        )
    ]
    nrows = []
    for pattern in ("windows", "cell"):
        for state in ("warm", "cold"):
            x = q(f"nwb | h5py | {pattern} | {state}")
            s = q(f"store {dkey} | xarray | {pattern} | {state}")
            nrows.append(
                [
                    pattern,
                    state,
                    f"{x['open_s'] * 1e3:.1f}",
                    f"{s['open_s'] * 1e3:.1f}",
                    f"{x['first_query_s'] * 1e3:.2f}",
                    f"{s['first_query_s'] * 1e3:.2f}",
                ]
            )
    out += [
        "Open and first query (ms):\n",
        md_table(
            [
                "pattern",
                "page cache",
                "NWB open (h5py + timestamps/ids)",
                "store open (vbzarr.open_store)",
                "NWB first query",
                "store first query",
            ],
            nrows,
        ),
    ]

    crow = []
    for cells, t in chunkings:
        key = f"{cells}x{t}"
        c = r["conversions"][key]
        sz = r["sizes"][key]
        cell = [
            key + (" (default)" if key == dkey else ""),
            f"{c['seconds']['median']:.1f}",
            f"{c['peak_rss_mb']:.0f}",
            f"{sz['bytes'] / mb:.1f}",
            f"{sz['ratio_to_nwb']:.3f}",
            f"{sz['groups'].get('ophys', 0) / mb:.1f}",
        ]
        for pattern in ("windows", "cell"):
            for state in ("warm", "cold"):
                x = q(f"store {key} | xarray | {pattern} | {state}")["per_query"]["mean"]
                z = q(f"store {key} | zarr | {pattern} | {state}")["per_query"]["mean"]
                nwb = q(f"nwb | h5py | {pattern} | {state}")["per_query"]["mean"]
                cell.append(f"{x * 1e3:.1f} / {z * 1e3:.1f} ({nwb / x:.2f})")
        crow.append(cell)
    for label, e in r["exploratory_layouts"].items():
        cell = [f"explore: {label}", "", "", f"dff only {e['bytes_dff'] / mb:.1f}", "", ""]
        for pattern in ("windows", "cell"):
            for state in ("warm", "cold"):
                x = q(f"explore: {label} | xarray | {pattern} | {state}")["per_query"]["mean"]
                z = q(f"explore: {label} | zarr | {pattern} | {state}")["per_query"]["mean"]
                nwb = q(f"nwb | h5py | {pattern} | {state}")["per_query"]["mean"]
                cell.append(f"{x * 1e3:.1f} / {z * 1e3:.1f} ({nwb / x:.2f})")
        crow.append(cell)
    nw = [
        f"{q(f'nwb | h5py | {p} | {s}')['per_query']['mean'] * 1e3:.2f}"
        for p in ("windows", "cell")
        for s in ("warm", "cold")
    ]
    crow.append(["NWB via h5py (peer)", "", "", f"{src['bytes'] / mb:.1f}", "1.000", "", *nw])
    out += [
        "## Chunking alternatives (cells x time)\n",
        "Read cells: `xarray ms / zarr-direct ms (NWB/xarray ratio)`, mean per query.\n",
        md_table(
            [
                "Chunking",
                "convert s",
                "peak RSS MB",
                "store MB",
                "x NWB",
                "ophys MB",
                "windows warm",
                "windows cold",
                "cell warm",
                "cell cold",
            ],
            crow,
        ),
    ]

    b = r["breakdown"]
    brows = [["sha256 of the source", f"{b['sha256_s']:.2f}"], ["build_groups", f"{b['build_groups_s']:.2f}"]]
    if "metadata_s" in b:
        brows.append(["metadata and in-memory values of every group", f"{b['metadata_s']:.2f}"])
    brows += [
        [
            f"write group `{g}` ({v['mb']:.0f} MB raw" + (f", {v['slabs']} slabs)" if "slabs" in v else ")"),
            f"{v['seconds']:.2f}",
        ]
        for g, v in sorted(b["groups"].items(), key=lambda kv: -kv[1]["seconds"])
    ]
    brows.append(["consolidate_metadata", f"{b['consolidate_s']:.2f}"])
    how = (
        f"slabs of {b['slab_mb']:.0f} MB on {b['write_threads']} threads"
        if "write_threads" in b
        else f"scheduler {b.get('converter_scheduler', {})}"
    )
    out += [
        "## Diagnosis: where the conversion time goes (the converter's own steps, one at a "
        f"time, {how}; the converter hashes the source on a thread alongside and writes the "
        "slabs of every group in one pool)\n",
        md_table(["step", "seconds"], brows),
        "Variants: the `ophys` group written by the converter's writer with other codecs (exploratory):\n",
        md_table(
            ["variant", "seconds", "ophys MB"],
            [[k, f"{v['seconds']:.2f}", f"{v['bytes'] / mb:.1f}"] for k, v in b["ophys_variants"].items()],
        ),
    ]
    lrow = [
        [
            f"{x['chunks']}" + (f" in shards {x['shards']}" if x["shards"] else ""),
            x["codec"],
            f"{x['bytes'] / mb:.1f}",
            x["files"],
            f"{x['write_s']:.2f}",
            f"{x['zarr_windows_s'] * 1e3:.2f}",
            f"{x['h5py_windows_s'] * 1e3:.3f}",
            f"{x['h5py_windows_s'] / x['zarr_windows_s']:.3f}",
            f"{x['zarr_cell_s'] * 1e3:.2f}",
            f"{x['h5py_cell_s'] * 1e3:.2f}",
            f"{x['h5py_cell_s'] / x['zarr_cell_s']:.2f}",
        ]
        for x in r["layout_sweep"]
    ]
    out += [
        "## Layout sweep of dff (in one process, files pre-read; zarr directly vs h5py on the "
        "NWB, same queries; first query of each not timed)\n",
        md_table(
            [
                "chunks",
                "codec",
                "dff MB",
                "files",
                "write s",
                "windows zarr ms",
                "windows h5py ms",
                "h5py/zarr",
                "cell zarr ms",
                "cell h5py ms",
                "h5py/zarr",
            ],
            lrow,
        ),
    ]
    prow = [
        [
            p["sample"],
            f"{p['mb']:.2f}",
            p["codec"],
            f"{p['ratio']:.3f}",
            f"{p['encode_mb_s']:.0f}",
            f"{p['decode_mb_s']:.0f}",
            "" if p["float32_exact_fraction"] is None else f"{p['float32_exact_fraction']:.2f}",
        ]
        for p in r["codec_probe"]
    ]
    out += [
        "## Codec probe (single thread; sample = all cells x first 65,536 frames)\n",
        md_table(
            [
                "sample",
                "sample MB",
                "codec",
                "stored/raw",
                "encode MB/s",
                "decode MB/s",
                "float32-exact fraction",
            ],
            prow,
        ),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    CHILDREN.entry(main)

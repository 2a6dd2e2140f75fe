"""The two 2-photon access patterns read from object storage, vbzarr vs the NWB file.

Where users would read the data from (S3), not from a local page cache: the realistic factory
experiment of ``bench_ophys_conversion`` (637 MB NWB) and its vbzarr store are uploaded to
moto's S3 server on 127.0.0.1 (``vbzarr.testing.s3``, which counts the requests), then each
route runs in a fresh process: open the file or store, then (a) all cells in ``--n-windows``
3 s windows at random times, or (b) ``--n-cells`` whole single-cell traces. Peers on the NWB:
h5py on an s3fs file object (fsspec's default read-ahead cache, and its ``blockcache``), the
route of the NWB streaming docs. vbzarr: ``vbzarr.open_store`` (dask, stored chunks) and zarr
directly. Reported: open time, first and median per-query time, GETs and bytes served.

moto on localhost answers in about a millisecond; real S3 takes tens of milliseconds per request,
so the GET counts carry over to S3 and the times are a lower bound.

Usage (from the repository root)::

    python -m benchmarks run s3_reads
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.bench_ophys_conversion import CELL_TABLE, DFF, current_codec, read_params
from benchmarks.harness import (
    SCRATCH,
    Children,
    command,
    machine,
    machine_markdown,
    md_table,
    peak_rss_mb,
    realistic_experiment,
    write_results,
)

NAME = "bench_s3_reads"
ROUTES = ["h5py + s3fs (readahead)", "h5py + s3fs (blockcache)", "vbzarr.open_store", "zarr"]


def child_convert(p: dict) -> dict:
    from vbzarr.convert import convert_nwb

    convert_nwb(p["src"], p["dst"])
    return {}


def child_read(p: dict) -> dict:
    """Open one target on S3 and run one access pattern, timing the open and every query."""
    import numpy as np

    route, pattern, options = p["route"], p["pattern"], p["storage_options"]
    # Imports are not timed (they cost the same whatever the data): the open is.
    import h5py
    import s3fs
    import zarr

    import vbzarr
    from vbzarr.urls import object_storage_options

    t0 = time.perf_counter()
    if route.startswith("h5py"):
        fs = s3fs.S3FileSystem(**options)
        cache = "blockcache" if "blockcache" in route else "readahead"
        f = h5py.File(fs.open(p["nwb"], "rb", cache_type=cache), "r")
        data = f[f"{DFF}/data"]
        ts = f[f"{DFF}/timestamps"][()]
        csid = f[f"{CELL_TABLE}/cell_specimen_id"][()]
        column = {int(csid[r]): i for i, r in enumerate(f[f"{DFF}/rois"][()])}
    elif route == "vbzarr.open_store":
        dff = vbzarr.open_store(p["store"], storage_options=options)["ophys"]["dff"]
    else:
        group = zarr.open_group(
            p["store"],
            mode="r",
            zarr_format=3,
            use_consolidated=True,
            storage_options=object_storage_options(p["store"], options),
        )
        arr, ts = group["ophys/dff"], group["ophys/time"][:]
        row = {int(c): i for i, c in enumerate(group["ophys/cell_specimen_id"][:])}
    open_s = time.perf_counter() - t0
    per, shape = [], None
    for q in p["times"] if pattern == "windows" else p["cells"]:
        q0 = time.perf_counter()
        if pattern == "windows":
            a, b = q - p["half_window"], q + p["half_window"]
            if route == "vbzarr.open_store":
                x = dff.sel(time=slice(a, b)).values
            else:
                i0, i1 = np.searchsorted(ts, a, "left"), np.searchsorted(ts, b, "right")
                x = data[i0:i1, :] if route.startswith("h5py") else arr[:, i0:i1]
        elif route == "vbzarr.open_store":
            x = dff.sel(cell_specimen_id=q).values
        else:
            x = data[:, column[q]] if route.startswith("h5py") else arr[row[q], :]
        per.append(time.perf_counter() - q0)
        shape = x.shape
    return {"open_s": open_s, "per_query_s": per, "shape": list(shape), "peak_rss_mb": peak_rss_mb()}


CHILDREN = Children(NAME, {"convert": child_convert, "read": child_read})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run s3_reads", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--size", default="realistic", help="factory size preset (default realistic)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-windows", type=int, default=10)
    ap.add_argument("--n-cells", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per route and pattern")
    args = ap.parse_args(argv)

    import s3fs

    from vbzarr.testing.s3 import CountingS3Server

    t_start = time.perf_counter()
    src, _ = realistic_experiment(args.size, args.seed)
    # Converted once per converter codec: a cached store written with another one is not reused.
    codec = current_codec()[1].replace(" ", "-")
    store = SCRATCH / f"s3-reads-{args.size}-{args.seed}-{codec}.zarr"
    if not (store / "zarr.json").exists():
        CHILDREN.run("convert", {"src": str(src), "dst": str(store)})
    params = read_params(src, args.n_windows, args.n_cells, args.seed)
    rows: dict[tuple[str, str], list[dict]] = {}
    with CountingS3Server() as s3:
        s3.make_bucket("bench")
        options = s3.storage_options()
        fs = s3fs.S3FileSystem(**options)
        fs.put_file(str(src), "bench/experiment.nwb")
        fs.put(str(store), "bench/experiment.zarr", recursive=True)
        target = {"nwb": "bench/experiment.nwb", "store": "s3://bench/experiment.zarr"}
        for pattern in ("windows", "cells"):
            for route in ROUTES:
                for _ in range(args.repeats):
                    s3.reset()
                    r = CHILDREN.run(
                        "read",
                        {"route": route, "pattern": pattern, "storage_options": options, **target, **params},
                    )
                    r.update(gets=s3.count("GET"), heads=s3.count("HEAD"), bytes=s3.bytes_sent)
                    rows.setdefault((pattern, route), []).append(r)
                print(
                    f"{pattern:8s} {route:26s} open {rows[pattern, route][-1]['open_s']:.3f} s, "
                    f"median query {statistics.median(rows[pattern, route][-1]['per_query_s']):.4f} s, "
                    f"GETs {rows[pattern, route][-1]['gets']}",
                    flush=True,
                )
    results = {
        "machine": machine(),
        "command": command(),
        "source": str(src),
        "nwb_bytes": src.stat().st_size,
        "params": params,
        "runs": {f"{p}|{r}": v for (p, r), v in rows.items()},
        "seconds": time.perf_counter() - t_start,
    }
    md = report(results, args)
    write_results(NAME, results, md)
    print(md)
    return 0


def report(r: dict, args) -> str:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    lines = [
        f"# {NAME}\n",
        machine_markdown(r["machine"], r["command"], r["seconds"]),
        f"\nSource: the realistic factory experiment ({r['nwb_bytes'] / 1e6:.0f} MB NWB, "
        f"80 cells) and its vbzarr store, both on moto's S3 server on 127.0.0.1. Each cell of "
        f"the table is the median over {args.repeats} fresh processes; a query is one read "
        f"({args.n_windows} windows of all cells, 3 s each, at random times; {args.n_cells} "
        "whole single-cell dF/F traces). 'first' includes one-time costs of the process.\n",
    ]
    for pattern, title in (("windows", "All cells in a 3 s window"), ("cells", "One cell's whole trace")):
        rows, base = [], None
        for route in ROUTES:
            runs = r["runs"][f"{pattern}|{route}"]
            open_s = med([x["open_s"] for x in runs])
            first = med([x["per_query_s"][0] for x in runs])
            steady = med([med(x["per_query_s"][1:] or x["per_query_s"]) for x in runs])
            gets = med([x["gets"] for x in runs])
            served = med([x["bytes"] for x in runs])
            total = open_s + sum(
                med([x["per_query_s"][k] for x in runs]) for k in range(len(runs[0]["per_query_s"]))
            )
            if base is None:
                base = total
            rows.append(
                [
                    route,
                    f"{open_s * 1e3:.0f} ms",
                    f"{first * 1e3:.1f} ms",
                    f"{steady * 1e3:.1f} ms",
                    f"{total:.2f} s",
                    f"{base / total:.2f}x",
                    f"{gets:.0f}",
                    f"{served / 1e6:.1f}",
                ]
            )
        lines.append(f"\n## {title}\n")
        lines.append(
            md_table(
                [
                    "route",
                    "open",
                    "first query",
                    "median query",
                    "open + all queries",
                    "first route / this",
                    "GETs",
                    "MB served",
                ],
                rows,
            )
        )
    return "\n".join(lines)


if __name__ == "__main__":
    CHILDREN.entry(main)

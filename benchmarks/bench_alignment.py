"""Event-aligned analysis from a vbzarr project vs the per-file route users take today.

Issue targets: (i) the change-aligned mean dF/F of one container (6 sessions) is >= 20x faster,
cold, from the vbzarr project than from the NWB files with pynwb + pandas + a Python loop over
events. That per-file route is measured in two forms: a lean loop (``child_align_pynwb``: one
loop over events, vectorised over all cells; stricter than today's tools) and the Allen-utilities
style (``child_align_allen_style``: per cell, per event, as brain_observatory_utilities'
``get_stimulus_response_xr`` does; ``benchmarks/peers/allen_style.py``; slow, so run
``--allen-repeats`` times); (ii) PSTHs of every unit of a Neuropixels session around every
image flash, vbzarr (``psth`` straight from the spikes, and ``spike_counts`` + ``psth``) vs
pynapple; (iii) an average over 2, 8 and 32 sessions keeps a flat peak RSS (bounded by chunks)
and ~linear time; 128 sessions show where peak RSS levels off.

Every timed piece runs in a fresh child process (cold: nothing opened in Python; the OS page cache
is warm) and is repeated ``--repeats`` times (median); peak RSS is that child's ``ru_maxrss``
(``os.wait4``). Inputs are synthetic (``vbzarr.testing.synthetic``), generated once and cached under
``--scratch`` (default /tmp/bench2):

* (i) one container: 6 ophys sessions x ~150 cells x 60 min task (+ gray screens and 10 movie
  repeats: ~85 min of imaging at 31 Hz each), converted with ``convert_project`` (timed here,
  separately from the analysis);
* (ii) the VBN session of bench_ecephys_conversion (~2,000 units, 5e7 spikes, 2.1 h), converted
  once with ``convert_nwb``;
* (iii) one project of 32 containers x 4 sessions (20 min task, 50 cells each).

Usage (from the repository root)::

    python -m benchmarks run alignment                 # full size
    python -m benchmarks run alignment --size dev      # small, for debugging
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.harness import (
    RESULTS,
    Children,
    cached,
    code_changed_since,
    code_markdown,
    command,
    current_rss_mb,
    du_bytes,
    factory_hash,
    fmt_mb,
    fmt_s,
    log,
    machine_markdown,
    md_table,
    median,
    ratio,
    read_results,
    snapshot_run,
    wait_quiet,
    warm_page_cache,
    write_results,
)

NAME = "bench_alignment"
WINDOW = (-1.0, 2.0)
RATE = 30.0
PSTH_EDGES = (-0.25, 0.5, 0.01)  # start, stop, width (s)
#: (iii)'s allocator-pinned runs: every buffer over 128 KiB mapped and unmapped on its own, one
#: malloc arena for all threads.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "1"}
#: Tolerance of the comparison of a peer's means with vbzarr's (np.isclose / np.allclose).
MEAN_RTOL, MEAN_ATOL = 1e-9, 1e-12

SIZES = {
    "full": {
        "container": dict(
            task_minutes=60,
            gray_minutes=5,
            movie_repeats=10,
            movie_frames=900,
            n_cells=150,
            fov=512,
            template_shape=(300, 480),
        ),
        "scale": dict(
            task_minutes=20,
            gray_minutes=2,
            movie_repeats=2,
            movie_frames=300,
            n_cells=50,
            fov=128,
            template_shape=(60, 96),
        ),
        "scale_layout": (32, 4),  # containers x sessions per container
        "scale_counts": [2, 8, 32, 128],
        # The union route aligns every session against every container's cells (NaN blocks):
        # quadratic in containers, so it is run up to here only.
        "scale_union_max": 32,
        "vbn": "full",
        "perievent_units": 16,
    },
    "dev": {
        "container": dict(
            task_minutes=6,
            gray_minutes=0.5,
            movie_repeats=1,
            movie_frames=300,
            n_cells=30,
            fov=128,
            template_shape=(60, 96),
        ),
        "scale": dict(
            task_minutes=3,
            gray_minutes=0.5,
            movie_repeats=1,
            movie_frames=90,
            n_cells=10,
            fov=64,
            template_shape=(24, 38),
        ),
        "scale_layout": (4, 4),
        "scale_counts": [2, 4, 8, 16],
        "scale_union_max": 8,
        "vbn": "dev",
        "perievent_units": 4,
    },
}


def grid():
    import numpy as np

    n = int(np.floor((WINDOW[1] - WINDOW[0]) * RATE + 1e-9)) + 1
    return WINDOW[0] + np.arange(n) / RATE


# --------------------------------------------------------------------------------------------
# children (each runs in a fresh interpreter)
# --------------------------------------------------------------------------------------------
def child_vbo_generate(p: dict) -> dict:
    from vbzarr.testing.synthetic.content import Size
    from vbzarr.testing.synthetic.project import make_vbo_project

    size = Size(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["size"].items()})
    t = time.perf_counter()
    project = make_vbo_project(
        p["root"],
        n_containers=p["n_containers"],
        sessions_per_container=p["sessions_per_container"],
        behavior_only_sessions=0,
        size=size,
        seed=p["seed"],
    )
    table_ = project.ophys_experiment_table.sort_values(["ophys_container_id", "date_of_acquisition"])
    return {
        "seconds": time.perf_counter() - t,
        "experiments": [int(i) for i in table_.index],
        "containers": [int(c) for c in table_.ophys_container_id],
        "paths": [str(project.experiment_path(int(i))) for i in table_.index],
    }


def child_convert_project(p: dict) -> dict:
    from vbzarr.convert.project import convert_project

    if p.get("codec"):  # A/B: numbers compressed with this blosc codec instead of the converter's
        import vbzarr.convert.writer as convert

        convert.NUMBER_CODEC = tuple(p["codec"])
    shutil.rmtree(p["dst"], ignore_errors=True)
    t = time.perf_counter()
    report = convert_project(p["src"], p["dst"], workers=p["workers"])
    return {"seconds": time.perf_counter() - t, "converted": len(report.converted), "failed": report.failed}


def child_convert_nwb(p: dict) -> dict:
    from vbzarr.convert import convert_nwb

    t = time.perf_counter()
    convert_nwb(p["src"], p["dst"])
    return {"seconds": time.perf_counter() - t}


def _save_mean(path: str, images, cells, offsets, values, counts=None) -> None:
    import numpy as np

    np.savez(
        path,
        images=np.asarray(images, dtype=str),
        cells=np.asarray(cells, np.int64),
        offsets=np.asarray(offsets),
        values=values,
        counts=np.zeros(0) if counts is None else counts,
    )


def child_align_vbzarr(p: dict) -> dict:
    """open_project -> dff(selection) -> events_table -> align -> groupby(image).mean -> compute."""
    import warnings

    import flox  # noqa: F401  (xarray's groupby engine: imported here, untimed, like pynwb is)
    import numpy as np

    import vbzarr

    warnings.filterwarnings("ignore")
    if p.get("zarr_python_pipeline"):  # A/B: zarr-python's own codec pipeline, not zarrs'
        sys.modules["vbzarr.store"].READ_CONFIG.clear()
    client = cluster = None
    if p.get("distributed"):
        import dask
        from dask.distributed import Client, LocalCluster

        # dask's default starts workers with MALLOC_TRIM_THRESHOLD_=65536 (see the report);
        # "no_malloc_trim" unsets it, as convert_project does.
        from vbzarr.convert.cluster import NO_MALLOC_TRIM

        with dask.config.set(NO_MALLOC_TRIM if p.get("no_malloc_trim") else {}):
            cluster = LocalCluster(
                n_workers=p["distributed"], threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = Client(cluster)
    if p.get("trace_memory"):  # a separate, untimed run: tracemalloc slows allocation
        import tracemalloc

        tracemalloc.start()
    t = time.perf_counter()
    project = vbzarr.open_project(p["root"])
    table_ = project.ophys_experiment_table
    sel = table_.loc[p["ids"]]
    if p.get("per_container"):
        # What align's docstring advises over many containers: each container aligned on its
        # own cells and reduced, the lazy means concatenated over cells, computed once.
        import xarray as xr

        means, n_events, n_cells, frames, per_session = [], 0, 0, 0, {}
        for _, group in sel.groupby("ophys_container_id", sort=False):
            dff = project.dff(group)
            changes = project.events_table(group, "stimulus_presentations", query="is_change")
            resp = vbzarr.align(dff, changes, window=tuple(WINDOW), rate=RATE)
            means.append(resp.groupby("image_name").mean("event"))
            n_events += len(changes)
            per_session.update(changes.groupby("ophys_experiment_id").size().to_dict())
            n_cells += dff.sizes["cell_specimen_id"]
            frames = max(frames, dff.sizes["frame"])
        mean = xr.concat(means, "cell_specimen_id", join="outer")
        t_dff = t_events = float("nan")
    else:
        dff = project.dff(sel)
        t_dff = time.perf_counter() - t
        changes = project.events_table(sel, "stimulus_presentations", query="is_change")
        t_events = time.perf_counter() - t - t_dff
        resp = vbzarr.align(dff, changes, window=tuple(WINDOW), rate=RATE)
        mean = resp.groupby("image_name").mean("event")
        n_events, n_cells, frames = len(changes), dff.sizes["cell_specimen_id"], dff.sizes["frame"]
        per_session = changes.groupby("ophys_experiment_id").size().to_dict()
    t_graph = time.perf_counter() - t
    rss_graph_mb = current_rss_mb()  # tables, coordinates and task graph, before any chunk is read
    traced = {}
    if p.get("trace_memory"):
        # Live Python objects and numpy buffers (numpy reports its allocations to tracemalloc):
        # what the process holds, apart from what the allocator keeps after it is freed.
        traced["traced_before_compute_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.reset_peak()
    tasks = len(mean.data.__dask_graph__()) if hasattr(mean.data, "__dask_graph__") else None
    mean = mean.compute()
    seconds = time.perf_counter() - t
    if p.get("trace_memory"):
        traced["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if client is not None:
        client.close()
        cluster.close()
    mean = mean.transpose("image_name", "cell_specimen_id", "time_from_event")
    if p.get("out"):
        _save_mean(
            p["out"],
            mean.image_name.values,
            mean.cell_specimen_id.values,
            mean.time_from_event.values,
            mean.values,
        )
    return {
        "seconds": seconds,
        "graph_s": t_graph,
        "open_dff_s": t_dff,
        "events_s": t_events,
        "align_groupby_graph_s": t_graph - t_dff - t_events,
        "compute_s": seconds - t_graph,
        "tasks": tasks,
        "rss_before_compute_mb": rss_graph_mb,
        "result_mb": mean.nbytes / 2**20,
        "n_events": int(n_events),
        "n_cells": int(n_cells),
        "frames": int(frames),
        "changes_per_session": {str(k): int(v) for k, v in per_session.items()},
        "dims": {k: int(v) for k, v in resp.sizes.items()},
        "finite": int(np.isfinite(mean.values).sum()),
        **traced,
    }


def _read_session_pynwb(path: str):
    """One session as the per-file routes see it: ``(timestamps, dff_traces, stimulus_presentations)``.

    Opens the NWB file with pynwb and builds AllenSDK's tables: ``dff_traces`` (index
    cell_specimen_id; cell_roi_id, dff array) from processing/ophys/dff/traces and the cell
    specimen table, and ``stimulus_presentations`` (every ``intervals/*_presentations`` table,
    concatenated, sorted by start_time, index ``stimulus_presentations_id``).
    """
    import numpy as np
    import pandas as pd
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        nwb = io.read()
        ophys = nwb.processing["ophys"]
        series = ophys["dff"].roi_response_series["traces"]
        ts = np.asarray(series.timestamps[:])
        data = np.asarray(series.data[:])  # (frames, rois)
        rows = np.asarray(series.rois.data[:])
        cells = ophys["image_segmentation"]["cell_specimen_table"].to_dataframe(exclude={"image_mask"})
        dff_traces = pd.DataFrame(
            {"cell_roi_id": cells.index.to_numpy()[rows], "dff": list(data.T)},
            index=pd.Index(cells["cell_specimen_id"].to_numpy()[rows], name="cell_specimen_id"),
        )
        blocks = [
            nwb.intervals[name].to_dataframe(exclude={"tags", "timeseries"})
            for name in nwb.intervals
            if name.endswith("_presentations")
        ]
    stim = (
        pd.concat(blocks, ignore_index=True)
        .sort_values("start_time", kind="mergesort")
        .reset_index(drop=True)
        .rename_axis("stimulus_presentations_id")
    )
    return ts, dff_traces, stim


def child_align_pynwb(p: dict) -> dict:
    """Lean per-file route: pynwb + pandas tables + a Python loop over the change events.

    For each session: the tables of ``_read_session_pynwb``; keep the changes (``is_change``);
    then for each change, find the window's samples with ``searchsorted`` and interpolate
    linearly onto the (-1, 2) s grid at 30 Hz (vectorised over cells); sum per image. Stricter
    than today's tools (one loop over events for all cells at once, no tidy table).
    """
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    offsets = grid()
    sums: dict = {}  # (image, cell_specimen_id) -> [sum (t,), count (t,)]
    n_events = 0
    per_session = {}
    t = time.perf_counter()
    for eid, path in zip(p["ids"], p["paths"], strict=True):
        ts, dff_traces, stim = _read_session_pynwb(path)
        changes = stim[stim["is_change"] == 1]
        per_session[str(eid)] = int(len(changes))
        traces = np.vstack(dff_traces["dff"].to_numpy())  # (cells, frames)
        csids = dff_traces.index.to_numpy()
        n = len(ts)
        acc: dict = {}
        for start, image in zip(
            changes["start_time"].to_numpy(), changes["image_name"].to_numpy(), strict=True
        ):
            q = start + offsets
            valid = (q >= ts[0]) & (q <= ts[-1])
            i1 = np.clip(np.searchsorted(ts, q, side="right"), 1, n - 1)
            i0 = i1 - 1
            w = np.clip((q - ts[i0]) / (ts[i1] - ts[i0]), 0.0, 1.0)
            x0, x1 = traces[:, i0], traces[:, i1]
            win = np.where(w == 0, x0, np.where(w == 1, x1, x0 * (1 - w) + x1 * w))
            win[:, ~valid] = np.nan
            s = acc.setdefault(image, [np.zeros_like(win), np.zeros(win.shape)])
            ok = np.isfinite(win)
            s[0] += np.where(ok, win, 0.0)
            s[1] += ok
            n_events += 1
        for image, (s, c) in acc.items():
            for k, csid in enumerate(csids):
                tot = sums.setdefault((image, int(csid)), [np.zeros(len(offsets)), np.zeros(len(offsets))])
                tot[0] += s[k]
                tot[1] += c[k]
    images = sorted({k[0] for k in sums})
    cells_all = sorted({k[1] for k in sums})
    values = np.full((len(images), len(cells_all), len(offsets)), np.nan)
    for (image, csid), (s, c) in sums.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            values[images.index(image), cells_all.index(csid)] = np.where(c > 0, s / c, np.nan)
    seconds = time.perf_counter() - t
    if p.get("out"):
        _save_mean(p["out"], images, cells_all, offsets, values)
    return {
        "seconds": seconds,
        "n_events": n_events,
        "n_cells": len(cells_all),
        "changes_per_session": per_session,
    }


def child_align_allen_style(p: dict) -> dict:
    """Allen-utilities style route: per cell, per event, as brain_observatory_utilities does.

    For each session: the tables of ``_read_session_pynwb``, then
    ``benchmarks.peers.allen_style.stimulus_response_xr`` (the algorithm of
    ``get_stimulus_response_xr``: a tidy (cell, frame) table, a boolean filter of it per cell,
    a Python loop over the change events per cell with ``np.interp``, a wide DataFrame per cell,
    cells stacked into a DataArray), on the benchmark's grid (``grid()``: same as vbzarr's).
    Skipped, as they only add time: the p-value shuffles and the mean response / baseline
    extras. Then the user's average per image over the container's change events: per session
    a groupby(image_name) sum and count over ``stimulus_presentations_id`` (NaN skipped),
    combined over the sessions (outer join on cells) and divided: the groupby mean over all the
    events, without concatenating the sessions' responses first.
    """
    import warnings

    import numpy as np
    import xarray as xr

    from benchmarks.peers.allen_style import stimulus_response_xr

    warnings.filterwarnings("ignore")
    offsets = grid()
    sums, counts, per_session = [], [], {}
    t = time.perf_counter()
    for eid, path in zip(p["ids"], p["paths"], strict=True):
        ts, dff_traces, stim = _read_session_pynwb(path)
        resp = stimulus_response_xr(ts, dff_traces, stim, offsets)
        resp = resp.assign_coords(
            image_name=(
                "stimulus_presentations_id",
                stim.loc[resp["stimulus_presentations_id"].values, "image_name"].to_numpy(),
            )
        )
        per_session[str(eid)] = int(resp.sizes["stimulus_presentations_id"])
        by_image = resp.groupby("image_name")
        sums.append(by_image.sum("stimulus_presentations_id", skipna=True))
        counts.append(by_image.count("stimulus_presentations_id"))
        del resp, by_image
    total = xr.concat(sums, "session", join="outer", fill_value=0.0).sum("session")
    count = xr.concat(counts, "session", join="outer", fill_value=0).sum("session")
    mean = (total / count.where(count > 0)).transpose(
        "image_name", "cell_specimen_id", "eventlocked_timestamps"
    )
    seconds = time.perf_counter() - t
    if p.get("out"):
        _save_mean(
            p["out"],
            mean.image_name.values,
            mean.cell_specimen_id.values,
            mean.eventlocked_timestamps.values,
            mean.values,
        )
    return {
        "seconds": seconds,
        "n_events": int(sum(per_session.values())),
        "n_cells": int(mean.sizes["cell_specimen_id"]),
        "changes_per_session": per_session,
        "finite": int(np.isfinite(mean.values).sum()),
    }


def _flashes_store(tree):
    import vbzarr

    pres = vbzarr.to_dataframe(tree["stimulus_presentations"], ragged_columns=False)
    shown = pres["omitted"].astype("boolean").eq(False).fillna(False).astype(bool)
    images = pres["image_name"].notna() & pres["image_name"].ne("omitted")
    return pres[shown & images]


def child_psth_vbzarr(p: dict) -> dict:
    import warnings

    import numpy as np

    import vbzarr

    warnings.filterwarnings("ignore")
    edges = (
        np.arange(round((PSTH_EDGES[1] - PSTH_EDGES[0]) / PSTH_EDGES[2]) + 1) * PSTH_EDGES[2] + PSTH_EDGES[0]
    )
    t = time.perf_counter()
    tree = vbzarr.open_store(p["store"])
    flashes = _flashes_store(tree)
    if p["route"] == "direct":  # the average straight from the spikes
        rate = vbzarr.psth(tree["units"], flashes, edges)
    else:  # per-event counts (what a groupby by image needs), then their mean
        rate = vbzarr.psth(vbzarr.spike_counts(tree["units"], flashes, edges))
    t_setup = time.perf_counter() - t
    rate = rate.compute()
    seconds = time.perf_counter() - t
    if p.get("out"):
        np.savez(
            p["out"],
            units=rate.unit_id.values,
            rate=rate.values,
            n_events=len(flashes),
            flash_times=flashes["start_time"].to_numpy(),
        )
    return {
        "seconds": seconds,
        "setup_s": t_setup,
        "compute_s": seconds - t_setup,
        "n_units": int(rate.sizes["unit_id"]),
        "n_events": int(len(flashes)),
        "bins": int(rate.sizes["time_from_event"]),
    }


def child_psth_pynapple(p: dict) -> dict:
    """pynapple: nap.load_file(NWB) -> units TsGroup + image-flash Ts -> PSTH of every unit.

    The vectorised route is ``nap.compute_eventcorrelogram`` (numba, all units): the events are
    shifted by half a bin so that its centred bins have our edges (multiples of 10 ms). The route
    pynapple documents for PETHs, ``compute_perievent`` (one Ts per event and unit) + ``count``,
    is timed on ``perievent_units`` random units and extrapolated to all (too slow in full).
    """
    import warnings

    import numpy as np
    import pynapple as nap

    warnings.filterwarnings("ignore")
    start, stop, width = PSTH_EDGES
    n_bins = round((stop - start) / width)
    t = time.perf_counter()
    data = nap.load_file(p["src"])
    units = data["units"]
    names = [k for k in data if k.endswith("_presentations") and "Natural_Images" in k]
    flash_t = []
    for name in names:
        iset = data[name]
        meta = iset.metadata
        shown = (meta["omitted"].fillna(1).to_numpy() == 0) & (
            meta["image_name"].astype(str).to_numpy() != "omitted"
        )
        flash_t.append(iset.start[shown])
    flash_t = np.sort(np.concatenate(flash_t))
    load_s = time.perf_counter() - t

    t1 = time.perf_counter()
    last = max(float(units[u].t[-1]) for u in units if len(units[u]))
    ep = nap.IntervalSet(start=0.0, end=last + 10.0)
    tref = nap.Ts(t=flash_t + width / 2)
    # Symmetric window, one bin wider than needed (its bin count is floor(2 w / b), made odd).
    cc = nap.compute_eventcorrelogram(
        units, tref, binsize=width, windowsize=max(-start, stop) + width, ep=ep, norm=False
    )
    # With the events shifted by b/2, the centre of a correlogram bin is the start of ours.
    centres = cc.index.to_numpy()
    first = int(np.argmin(np.abs(centres - start)))
    assert abs(centres[first] - start) < 1e-6, centres
    assert abs(centres[first + n_bins - 1] - (stop - width)) < 1e-6, centres
    rate = cc.to_numpy()[first : first + n_bins].T  # (units, bins), Hz
    compute_s = time.perf_counter() - t1
    seconds = time.perf_counter() - t
    out = {
        "seconds": seconds,
        "load_s": load_s,
        "compute_s": compute_s,
        "n_units": len(units),
        "n_events": int(len(flash_t)),
    }

    # compute_perievent + count on a random subset of units (extrapolated).
    rng = np.random.default_rng(0)
    keys = np.array(list(units.keys()))
    subset = np.sort(rng.choice(keys, min(p["perievent_units"], len(keys)), replace=False))
    tev = nap.Ts(t=flash_t)
    t2 = time.perf_counter()
    peri_tot = []
    for u in subset:
        peri = nap.compute_perievent(units[u], tev, window=(-start, stop))
        counts = peri.count(width)
        peri_tot.append(np.asarray(counts.values).sum(axis=1)[:n_bins])
    peri_s = time.perf_counter() - t2
    out.update(
        perievent_units=len(subset),
        perievent_s=peri_s,
        perievent_extrapolated_s=peri_s * len(keys) / max(1, len(subset)),
        perievent_bins=int(len(peri_tot[0])) if peri_tot else 0,
    )
    if p.get("out"):
        np.savez(
            p["out"],
            units=keys,
            rate=rate,
            n_events=len(flash_t),
            flash_times=flash_t,
            peri_units=subset,
            peri_totals=np.array(peri_tot),
        )
    return out


def child_compare_means(p: dict) -> dict:
    """Means of route ``b`` against vbzarr's (``a``), value by value, to MEAN_RTOL / MEAN_ATOL.

    Besides the overall verdict (``allclose``, NaNs included), the share of vbzarr's finite
    values that ``b`` has finite and equal (``equal_finite_fraction``), the max |diff| where
    both are finite, where their NaNs differ (per offset), and the verdict on the offsets
    strictly inside the window (``interior_*``): the Allen-style route is NaN at the window's
    ends (see report())."""
    import numpy as np

    a, b = np.load(p["a"]), np.load(p["b"])
    # Cells in id order (vbzarr orders them by first appearance, the loop by id).
    ia, ib = np.argsort(a["cells"], kind="stable"), np.argsort(b["cells"], kind="stable")
    out = {
        "same_images": list(a["images"]) == list(b["images"]),
        "same_cells": np.array_equal(a["cells"][ia], b["cells"][ib]),
        "same_offsets": bool(np.allclose(a["offsets"], b["offsets"])),
    }
    if all(out.values()):
        x, y = a["values"][:, ia], b["values"][:, ib]
        fx, fy = np.isfinite(x), np.isfinite(y)
        close = np.isclose(x, y, rtol=MEAN_RTOL, atol=MEAN_ATOL)
        out["same_nan"] = bool(np.array_equal(np.isnan(x), np.isnan(y)))
        d = np.abs(x - y)[fx & fy]
        out["max_abs_diff"] = float(d.max()) if d.size else 0.0
        out["allclose"] = bool(np.allclose(x, y, rtol=MEAN_RTOL, atol=MEAN_ATOL, equal_nan=True))
        out["shape"] = list(x.shape)
        out.update(
            finite_a=int(fx.sum()),
            finite_b=int(fy.sum()),
            equal_finite_fraction=float((fx & fy & close).sum() / max(1, fx.sum())),
            both_finite_equal_fraction=float((fx & fy & close).sum() / max(1, (fx & fy).sum())),
        )
        differs = (np.isnan(x) != np.isnan(y)).sum(axis=(0, 1))
        out["nan_differs_at_offsets"] = {
            f"{o:+.4f}": int(n) for o, n in zip(a["offsets"], differs, strict=True) if n
        }
        unequal = (fx & fy & ~close).sum(axis=(0, 1))
        out["values_differ_at_offsets"] = {
            f"{o:+.4f}": int(n) for o, n in zip(a["offsets"], unequal, strict=True) if n
        }
        inner = slice(1, -1)
        xi, yi = x[..., inner], y[..., inner]
        di = np.abs(xi - yi)[np.isfinite(xi) & np.isfinite(yi)]
        out.update(
            interior_allclose=bool(np.allclose(xi, yi, rtol=MEAN_RTOL, atol=MEAN_ATOL, equal_nan=True)),
            interior_same_nan=bool(np.array_equal(np.isnan(xi), np.isnan(yi))),
            interior_max_abs_diff=float(di.max()) if di.size else 0.0,
        )
    return out


def child_compare_psth(paths: dict) -> dict:
    import numpy as np

    v, p = np.load(paths["v"]), np.load(paths["p"])
    out = {
        "same_units": np.array_equal(v["units"], p["units"]),
        "same_events": bool(np.array_equal(v["flash_times"], p["flash_times"])),
    }
    n, width = int(v["n_events"]), PSTH_EDGES[2]
    tv = np.rint(v["rate"] * width * n).astype(np.int64)  # total counts per (unit, bin)
    tp = np.rint(p["rate"] * width * n).astype(np.int64)
    if out["same_units"] and tv.shape == tp.shape:
        diff = np.abs(tv - tp)
        out.update(
            total_spikes_vbzarr=int(tv.sum()),
            total_spikes_pynapple=int(tp.sum()),
            cells_equal_fraction=float((diff == 0).mean()),
            max_abs_count_diff=int(diff.max()),
            abs_count_diff_sum=int(diff.sum()),
        )
    if len(p["peri_units"]):
        rows = np.searchsorted(v["units"], p["peri_units"])
        pt = p["peri_totals"]
        k = min(pt.shape[1], tv.shape[1])
        d = np.abs(tv[rows][:, :k] - pt[:, :k])
        out.update(
            perievent_bins=int(pt.shape[1]),
            perievent_equal_fraction=float((d == 0).mean()),
            perievent_max_abs_diff=int(d.max()),
            perievent_units=int(len(rows)),
        )
    return out


CHILDREN = Children(
    NAME,
    {
        "vbo_generate": child_vbo_generate,
        "convert_project": child_convert_project,
        "convert_nwb": child_convert_nwb,
        "align_vbzarr": child_align_vbzarr,
        "align_pynwb": child_align_pynwb,
        "align_allen_style": child_align_allen_style,
        "psth_vbzarr": child_psth_vbzarr,
        "psth_pynapple": child_psth_pynapple,
        "compare_means": child_compare_means,
        "compare_psth": child_compare_psth,
    },
    detailed=True,
)


# --------------------------------------------------------------------------------------------
# parent: the run, step by step (each part returns its results)
# --------------------------------------------------------------------------------------------
def clean(d: dict) -> dict:
    """A child's answer without its process bookkeeping."""
    return {
        k: v
        for k, v in d.items()
        if k
        not in (
            "self_maxrss_mb",
            "vmhwm_mb",
            "rusage_maxrss_mb",
            "user_s",
            "sys_s",
            "wall_s",
            "parent_rss_mb",
        )
    }


def summary(runs: list[dict]) -> dict:
    """Repeated runs of one route: median time (and compute), every time, the highest peak RSS,
    the median RSS before compute."""
    return {
        "median_s": median([r["seconds"] for r in runs]),
        "all_s": [r["seconds"] for r in runs],
        "compute_s": median([r["compute_s"] for r in runs]),
        "peak_rss_mb": max(r["rusage_maxrss_mb"] for r in runs),
        "rss_before_compute_mb": median([r["rss_before_compute_mb"] for r in runs]),
    }


def cached_project(scratch: Path, tag: str, size: dict, n_containers: int, spc: int, seed: int) -> dict:
    """A synthetic VBO project (generated once in a child; cached under ``scratch``)."""
    key = hashlib.sha1(
        json.dumps([size, n_containers, spc, seed, factory_hash()], sort_keys=True).encode()
    ).hexdigest()[:10]
    root = scratch / f"vbo-{tag}-{key}"

    def generate() -> dict:
        info = CHILDREN.run(
            "vbo_generate",
            {
                "root": str(root / "src"),
                "size": size,
                "n_containers": n_containers,
                "sessions_per_container": spc,
                "seed": seed,
            },
        )
        info.update(root=str(root), src=str(root / "src"), size=size)
        log(f"generated in {info['seconds']:.0f} s")
        return info

    return cached(root, generate, f"generating {n_containers} x {spc} VBO sessions")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run alignment", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument("--scratch", default="/tmp/bench2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument(
        "--convert-workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="convert_project worker counts to time (the store of the first is used)",
    )
    ap.add_argument(
        "--distributed",
        type=int,
        default=2,
        help="also run (i) on a LocalCluster of this many workers (0: skip)",
    )
    ap.add_argument("--distributed-repeats", type=int, default=1)
    ap.add_argument(
        "--allen-repeats",
        type=int,
        default=1,
        help="runs of the Allen-utilities style route in (i) (slow: per cell, per event; 0: skip)",
    )
    ap.add_argument("--parts", default="i,ii,iii")
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument(
        "--no-codec-ab", action="store_true", help="(i) without the A/B store converted with blosc zstd 3"
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the markdown from the results JSON (no measurement)",
    )
    return ap.parse_args(argv)


def scale_inputs(scratch: Path, args: argparse.Namespace, cfg: dict) -> tuple[dict, Path]:
    """(iii)'s project, generated and converted once (per converter codec: a cached conversion
    with another one is not reused)."""
    nc, spc = cfg["scale_layout"]
    scale = cached_project(scratch, f"scale-{args.size}", cfg["scale"], nc, spc, args.seed + 1)
    from benchmarks.bench_ophys_conversion import current_codec

    scale_dst = Path(scale["root"]) / ("zarr-" + current_codec()[1].replace(" ", "-"))
    cached(
        scale_dst,
        lambda: CHILDREN.run("convert_project", {"src": scale["src"], "dst": str(scale_dst), "workers": 1}),
        "converting the scale project",
    )
    return scale, scale_dst


def vbn_inputs(scratch: Path, args: argparse.Namespace, cfg: dict) -> tuple[dict, Path, Path]:
    """(ii)'s VBN session (bench_ecephys_conversion's) and its store, converted once."""
    from benchmarks import bench_ecephys_conversion as ecephys

    sess = ecephys.session(argparse.Namespace(size=cfg["vbn"], spikes=None, seed=11, scratch=args.scratch))
    vbn_src = Path(sess["path"])
    vbn_store = vbn_src.parent / f"{vbn_src.stem}-alignment.zarr"  # beside its (cached) source
    if not (vbn_store / "zarr.json").exists():
        log("converting the VBN session (once; cached) ...")
        CHILDREN.run("convert_nwb", {"src": str(vbn_src), "dst": str(vbn_store)})
    return sess, vbn_src, vbn_store


def container_conversions(cont: dict, args: argparse.Namespace) -> tuple[dict, Path, Path]:
    """(i) convert_project of the container at each worker count (timed, apart from the analysis),
    and the A/B store; returns the conversions, the store analysed and the A/B store."""
    src, root = cont["src"], Path(cont["root"])
    conv = {}
    for w in args.convert_workers:
        dst = root / f"zarr-w{w}"
        log(f"(i) convert_project, workers={w} ...")
        warm_page_cache(src)
        try:
            r = CHILDREN.run("convert_project", {"src": src, "dst": str(dst), "workers": w})
        except RuntimeError as err:  # recorded, not fatal: see the report
            last = [ln for ln in str(err).strip().splitlines() if ln.strip()][-1]
            conv[w] = {"error": last, "traceback_tail": str(err)[-3000:]}
            log(f"    FAILED: {last}")
            continue
        r["store_bytes"] = du_bytes(dst)[0]
        conv[w] = r
        log(f"    {r['seconds']:.1f} s")
    first = args.convert_workers[0] if args.convert_workers else None
    zroot = root / f"zarr-w{first or 1}"
    if first is None or "error" in conv[first]:
        CHILDREN.run("convert_project", {"src": src, "dst": str(zroot), "workers": 1})
    for w in args.convert_workers[1:]:
        shutil.rmtree(root / f"zarr-w{w}", ignore_errors=True)
    # A/B: the same files converted with the converter's codec before lz4hc 1 (blosc zstd 3).
    zstd_root = root / "zarr-zstd3"
    if not args.no_codec_ab:
        log("(i) convert_project with blosc zstd 3 (A/B store) ...")
        conv_zstd = CHILDREN.run(
            "convert_project", {"src": src, "dst": str(zstd_root), "workers": 1, "codec": ["zstd", 3]}
        )
        conv_zstd["store_bytes"] = du_bytes(zstd_root)[0]
        conv["zstd3"] = conv_zstd
        warm_page_cache(zstd_root)
    return conv, zroot, zstd_root


def container_part(cont: dict, scratch: Path, args: argparse.Namespace) -> dict:
    """(i) The change-aligned mean of one container: vbzarr against the per-file routes."""
    conv, zroot, zstd_root = container_conversions(cont, args)
    warm_page_cache(zroot)
    warm_page_cache(cont["src"])
    ids = cont["experiments"]
    out_v, out_p = scratch / "mean-vbzarr.npz", scratch / "mean-pynwb.npz"
    out_a = scratch / "mean-allen-style.npz"
    runs = {
        "vbzarr": [],
        "vbzarr_zarr_pipeline": [],
        "vbzarr_zstd3": [],
        "pynwb": [],
        "allen_style": [],
        "vbzarr_distributed": [],
        "vbzarr_distributed_no_trim": [],
    }
    for k in range(args.repeats):
        if not args.no_wait:
            wait_quiet()
        runs["vbzarr"].append(
            CHILDREN.run(
                "align_vbzarr", {"root": str(zroot), "ids": ids, "out": str(out_v) if k == 0 else None}
            )
        )
        runs["vbzarr_zarr_pipeline"].append(
            CHILDREN.run("align_vbzarr", {"root": str(zroot), "ids": ids, "zarr_python_pipeline": True})
        )
        if not args.no_codec_ab:
            runs["vbzarr_zstd3"].append(CHILDREN.run("align_vbzarr", {"root": str(zstd_root), "ids": ids}))
        runs["pynwb"].append(
            CHILDREN.run(
                "align_pynwb", {"ids": ids, "paths": cont["paths"], "out": str(out_p) if k == 0 else None}
            )
        )
        if k < args.allen_repeats:
            runs["allen_style"].append(
                CHILDREN.run(
                    "align_allen_style",
                    {"ids": ids, "paths": cont["paths"], "out": str(out_a) if k == 0 else None},
                )
            )
        if args.distributed and k < args.distributed_repeats:
            runs["vbzarr_distributed"].append(
                CHILDREN.run(
                    "align_vbzarr", {"root": str(zroot), "ids": ids, "distributed": args.distributed}
                )
            )
            runs["vbzarr_distributed_no_trim"].append(
                CHILDREN.run(
                    "align_vbzarr",
                    {"root": str(zroot), "ids": ids, "distributed": args.distributed, "no_malloc_trim": True},
                )
            )
        log(
            f"(i) repeat {k + 1}: vbzarr {runs['vbzarr'][-1]['seconds']:.2f} s, pynwb "
            f"{runs['pynwb'][-1]['seconds']:.2f} s"
            + (f", Allen-style {runs['allen_style'][-1]['seconds']:.2f} s" if k < args.allen_repeats else "")
            + (
                f", vbzarr on LocalCluster({args.distributed}) "
                f"{runs['vbzarr_distributed'][-1]['seconds']:.2f} s"
                if args.distributed and k < args.distributed_repeats
                else ""
            )
        )
    out = {
        "input": {k: v for k, v in cont.items() if k != "paths"},
        "nwb_bytes": sum(Path(x).stat().st_size for x in cont["paths"]),
        "convert": conv,
        "runs": runs,
        "agree": clean(CHILDREN.run("compare_means", {"a": str(out_v), "b": str(out_p)})),
    }
    log(f"(i) agreement: {out['agree']}")
    if runs["allen_style"]:
        out["agree_allen_style"] = clean(CHILDREN.run("compare_means", {"a": str(out_v), "b": str(out_a)}))
        log(f"(i) agreement, Allen-style: {out['agree_allen_style']}")
    return out


def psth_part(vbn_src: Path, vbn_store: Path, scratch: Path, args: argparse.Namespace, cfg: dict) -> dict:
    """(ii) PSTH of every unit around every image flash: vbzarr against pynapple."""
    warm_page_cache(vbn_src)
    warm_page_cache(vbn_store)
    out_v, out_p = scratch / "psth-vbzarr.npz", scratch / "psth-pynapple.npz"
    out_c = scratch / "psth-vbzarr-counts.npz"
    runs = {"vbzarr": [], "vbzarr_counts": [], "pynapple": []}
    for k in range(args.repeats):
        if not args.no_wait:
            wait_quiet()
        runs["vbzarr"].append(
            CHILDREN.run(
                "psth_vbzarr",
                {"store": str(vbn_store), "route": "direct", "out": str(out_v) if k == 0 else None},
            )
        )
        runs["vbzarr_counts"].append(
            CHILDREN.run(
                "psth_vbzarr",
                {"store": str(vbn_store), "route": "counts", "out": str(out_c) if k == 0 else None},
            )
        )
        runs["pynapple"].append(
            CHILDREN.run(
                "psth_pynapple",
                {
                    "src": str(vbn_src),
                    "out": str(out_p) if k == 0 else None,
                    "perievent_units": cfg["perievent_units"] if k == 0 else 0,
                },
            )
        )
        log(
            f"(ii) repeat {k + 1}: vbzarr psth {runs['vbzarr'][-1]['seconds']:.2f} s, vbzarr "
            f"spike_counts + psth {runs['vbzarr_counts'][-1]['seconds']:.2f} s, pynapple "
            f"{runs['pynapple'][-1]['seconds']:.2f} s (compute "
            f"{runs['pynapple'][-1]['compute_s']:.2f} s)"
        )
    out = {
        "runs": runs,
        "agree": clean(CHILDREN.run("compare_psth", {"v": str(out_v), "p": str(out_p)})),
        "agree_counts": clean(CHILDREN.run("compare_psth", {"v": str(out_c), "p": str(out_p)})),
    }
    log(f"(ii) agreement: {out['agree']}")
    return out


def scale_row(
    n: int, scale: dict, scale_dst: Path, scratch: Path, args: argparse.Namespace, cfg: dict
) -> dict:
    """(iii) One average over the first ``n`` sessions: per container, and from one view of all
    the sessions (the union) up to ``scale_union_max`` sessions."""
    ids = scale["experiments"][:n]
    if not args.no_wait:
        wait_quiet()
    union = n <= cfg["scale_union_max"]
    outs = [scratch / f"scale-{n}-{route}.npz" for route in ("union", "per-container")]
    base = {"root": str(scale_dst), "ids": ids}
    rs = [
        CHILDREN.run("align_vbzarr", {**base, "out": str(outs[0]) if k == 0 else None})
        for k in range(args.repeats if union else 0)
    ]
    pc = [
        CHILDREN.run("align_vbzarr", {**base, "per_container": True, "out": str(outs[1]) if k == 0 else None})
        for k in range(args.repeats)
    ]
    traced = CHILDREN.run("align_vbzarr", {**base, "per_container": True, "trace_memory": True})
    # glibc's adaptive mmap threshold and per-thread arenas pinned (what vbzarr itself must not
    # set for a whole process): RSS without the freed buffers glibc keeps, whose amount grows
    # with the work done, not with the chunks.
    pinned = [
        CHILDREN.run("align_vbzarr", {**base, "per_container": True}, env=PINNED_MALLOC)
        for _ in range(args.repeats)
    ]
    row = {
        "sessions": n,
        "n_events": pc[0]["n_events"],
        "n_cells": pc[0]["n_cells"],
        "frames": pc[0]["frames"],
        "dims": pc[0]["dims"],
        "containers": len(set(scale["containers"][:n])),
        "per_container": {
            **summary(pc),
            "traced_before_compute_mb": traced["traced_before_compute_mb"],
            "traced_peak_mb": traced["traced_peak_mb"],
            "result_mb": pc[0]["result_mb"],
            "pinned_malloc": summary(pinned),
        },
    }
    if union:
        row.update(summary(rs))
        row["per_container"]["agree"] = clean(
            CHILDREN.run("compare_means", {"a": str(outs[0]), "b": str(outs[1])})
        )
    log(
        f"(iii) {n} sessions, {row['n_events']} events, per container: "
        f"{row['per_container']['median_s']:.2f} s, "
        f"{row['per_container']['peak_rss_mb']:.0f} MiB"
        + (
            f"; union: {row['median_s']:.2f} s, {row['peak_rss_mb']:.0f} MiB, same means "
            f"{row['per_container']['agree'].get('allclose')}"
            if union
            else ""
        )
    )
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = SIZES[args.size]
    if args.report_only:
        write_results(NAME, results := read_results(NAME), report(results, args, cfg))
        return 0
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    code = snapshot_run(scratch, guard=not args.no_wait)
    results: dict = {
        "machine": CHILDREN.machine(),
        "command": command(),
        "code": code,
        "size": args.size,
        "window": WINDOW,
        "rate": RATE,
        "psth_edges": PSTH_EDGES,
    }

    # -- inputs (cached) -----------------------------------------------------------------------
    if "i" in parts:
        cont = cached_project(scratch, f"container-{args.size}", cfg["container"], 1, 6, args.seed)
    if "iii" in parts:
        scale, scale_dst = scale_inputs(scratch, args, cfg)
    if "ii" in parts:
        results["vbn_session"], vbn_src, vbn_store = vbn_inputs(scratch, args, cfg)
    results["waited_for_other_benchmarks_s"] = 0.0 if args.no_wait else wait_quiet()

    # -- the parts -------------------------------------------------------------------------------
    if "i" in parts:
        results["container"] = container_part(cont, scratch, args)
    if "ii" in parts:
        results["psth"] = psth_part(vbn_src, vbn_store, scratch, args, cfg)
    if "iii" in parts:
        warm_page_cache(scale_dst)
        rows = [scale_row(n, scale, scale_dst, scratch, args, cfg) for n in cfg["scale_counts"]]
        results["scale"] = {"input": {k: v for k, v in scale.items() if k != "paths"}, "rows": rows}

    results["code_changed_during_run"] = code_changed_since(code)
    for key in ("container", "psth", "scale"):
        if key in results:
            results[key]["code"] = code
    # A run of some parts keeps the other parts' last results (same size), each with its code.
    if parts != {"i", "ii", "iii"} and (RESULTS / f"{NAME}.json").exists():
        old = read_results(NAME)
        if old.get("size") == args.size:
            kept = [k for k in ("container", "psth", "scale") if k in old and k not in results]
            results.update({k: old[k] for k in kept})
    md = report(results, args, cfg)
    j, m = write_results(NAME, results, md)
    print(md)
    log(f"wrote {j} and {m}")
    return 0


def code_line(code: dict) -> str:
    return (
        f"Code of this part: commit `{code['commit'][:10]}` + {len(code['dirty_files'])} "
        f"uncommitted package files (content sha1 `{code['content_sha1']}`).\n"
    )


def report(r: dict, args, cfg: dict) -> str:
    lines = [
        f"# {NAME}\n",
        machine_markdown(r["machine"], r["command"]),
        code_markdown(r["code"], r.get("code_changed_during_run", False)),
    ]
    if "container" in r:
        c = r["container"]
        v, pn = c["runs"]["vbzarr"], c["runs"]["pynwb"]
        vd = c["runs"]["vbzarr_distributed"]
        vs, ps = median([x["seconds"] for x in v]), median([x["seconds"] for x in pn])
        size = c["input"]["size"]
        lines.append(
            f"## (i) Change-aligned mean dF/F of one container, cold\n\n"
            f"6 sessions x {size['n_cells']} cells (union {v[0]['n_cells']}), task "
            f"{size['task_minutes']} min (~{v[0]['frames']} frames at 31 Hz per session), "
            f"{v[0]['n_events']} change events; NWB total {c['nwb_bytes'] / 2**30:.2f} GiB. Window "
            f"{WINDOW} s at {RATE} Hz, linear interpolation, mean per image (dims "
            f"{c['agree'].get('shape')}). Each run a fresh process; median over the runs "
            f"counted in the table. Imports are not timed in any route (pynwb, pandas; for "
            f"vbzarr also flox, xarray's groupby engine, which loads numba when installed); the "
            f"files are in the page cache.\n"
        )
        lines.append(code_line(c.get("code", r["code"])))
        al = c["runs"].get("allen_style", [])
        als = median([x["seconds"] for x in al]) if al else None
        vn = c["runs"].get("vbzarr_distributed_no_trim", [])

        def row(label: str, runs_: list, rss_note: str = "") -> list:
            seconds = median([x["seconds"] for x in runs_])
            return [
                label,
                fmt_s(seconds),
                fmt_mb(max(x["rusage_maxrss_mb"] for x in runs_)) + rss_note,
                ratio(vs, seconds),
                len(runs_),
            ]

        rows = [row("vbzarr: open_project -> dff -> events_table -> align -> groupby(image).mean", v)]
        vz = c["runs"].get("vbzarr_zarr_pipeline", [])
        if vz:
            rows.append(
                row(
                    "vbzarr, chunks decoded by zarr-python's own codec pipeline instead of "
                    "zarrs' (vbzarr's default)",
                    vz,
                )
            )
        vc = c["runs"].get("vbzarr_zstd3", [])
        if vc:
            rows.append(
                row(
                    "vbzarr, store converted with blosc zstd 3 (the converter's codec before blosc lz4hc 1)",
                    vc,
                )
            )
        rows.append(
            row(
                "lean loop (vectorised over cells, stricter than today's tools): pynwb + "
                "pandas tables + one loop over events for all cells (per file)",
                pn,
            )
        )
        if al:
            rows.append(
                row(
                    "Allen-utilities style (per cell, per event, as "
                    "brain_observatory_utilities does): pynwb + tidy cell table + "
                    "event_triggered_response per cell + groupby(image) (per file)",
                    al,
                )
            )
        if vd:
            rows.append(
                row(
                    f"vbzarr on LocalCluster(n_workers={args.distributed}) (cluster start "
                    "not timed; dask's default worker environment)",
                    vd,
                    " (client process)",
                )
            )
        if vn:
            rows.append(
                row(
                    f"vbzarr on LocalCluster(n_workers={args.distributed}), workers started "
                    "without MALLOC_TRIM_THRESHOLD_",
                    vn,
                    " (client process)",
                )
            )
        lines.append(md_table(["route", "time (median)", "peak RSS", "time / vbzarr time", "runs"], rows))
        if vd and vn:
            lines.append(
                "\ndask starts LocalCluster workers with MALLOC_TRIM_THRESHOLD_=65536, which turns "
                "off glibc's adaptive mmap threshold: every large numpy buffer is then a fresh mmap "
                "whose pages fault in again. The two LocalCluster rows differ only in that "
                "variable; `convert_project` starts its workers without it.\n"
            )
        a = c["agree"]
        vs_allen = (
            f" and **{als / vs:.1f}x** faster than the Allen-utilities style route"
            if al
            else " (Allen-utilities style route not run)"
        )
        lines.append(
            f"\nvbzarr is **{ps / vs:.1f}x** faster than the lean loop{vs_allen} "
            f"(target >= 20x vs the per-file route users take today). Same means as the "
            f"lean loop: {'yes' if a.get('allclose') else '**NO**'} (max |diff| "
            f"{a.get('max_abs_diff', float('nan')):.2e}, same NaNs {a.get('same_nan')}; "
            f"tolerance rtol {MEAN_RTOL:g}, atol {MEAN_ATOL:g}). "
            f"vbzarr graph building (open, tables, align, groupby; before compute): "
            f"{fmt_s(median([x['graph_s'] for x in v]))} (open_project + dff "
            f"{fmt_s(median([x.get('open_dff_s', float('nan')) for x in v]))}, events_table "
            f"{fmt_s(median([x.get('events_s', float('nan')) for x in v]))}, align + groupby "
            f"{fmt_s(median([x.get('align_groupby_graph_s', float('nan')) for x in v]))}); "
            f"compute {fmt_s(median([x.get('compute_s', float('nan')) for x in v]))} for "
            f"{v[0].get('tasks')} dask tasks.\n"
        )
        aa = c.get("agree_allen_style")
        if al and aa:
            edges = aa.get("nan_differs_at_offsets", {})
            only_edges = set(edges) <= {f"{WINDOW[0]:+.4f}", f"{WINDOW[1]:+.4f}"}
            same_events = al[0].get("n_events") == v[0]["n_events"]
            lines.append(
                f"\nAllen-utilities style means vs vbzarr's ({aa.get('shape')}; "
                f"{al[0].get('n_events')} change events, "
                f"{'the same as vbzarr' if same_events else '**not** the same count as vbzarr'}"
                f"): {100 * aa.get('equal_finite_fraction', float('nan')):.3f}% of vbzarr's "
                f"{aa.get('finite_a')} finite values are finite and equal (rtol {MEAN_RTOL:g}, "
                f"atol {MEAN_ATOL:g}) in the Allen-style result ({aa.get('finite_b')} finite); "
                f"where both are finite, {100 * aa.get('both_finite_equal_fraction', float('nan')):.3f}"
                f"% are equal, max |diff| {aa.get('max_abs_diff', float('nan')):.2e}. Strictly "
                f"inside the window (offsets {WINDOW[0]} and {WINDOW[1]} s excluded): same means "
                f"{'yes' if aa.get('interior_allclose') else '**NO**'} (same NaNs "
                f"{aa.get('interior_same_nan')}, max |diff| "
                f"{aa.get('interior_max_abs_diff', float('nan')):.2e}). NaNs differ at offsets "
                f"{edges or 'none'}"
                + (
                    " only, i.e. at the window's two ends: "
                    if edges and only_edges
                    else (" (**not only at the window's ends**): " if edges else ": ")
                )
                + "the Allen route interpolates (np.interp, left = right = NaN) over the samples "
                "inside [event - 1 s, event + 2 s] only, so a grid time before the first or after "
                "the last of them is NaN, and the window's end points are, unless a frame falls "
                "exactly on them; vbzarr interpolates there with the frame just outside the "
                "window (NaN only past the recording). Elsewhere the two use the same two frames "
                "and the same linear formula; the tiny differences come from the Allen route "
                "interpolating on times relative to the event (t - event, rounded in float64) "
                "and np.interp's slope form, vs vbzarr's weights on absolute times. Finite means "
                f"differ at offsets {aa.get('values_differ_at_offsets', 'not recorded')} (count "
                "of (image, cell) pairs): for the same reason, an event whose window holds no "
                "frame between its start (or end) and the next grid time is NaN there in the "
                "Allen route and drops out of that image's mean, while vbzarr interpolates with "
                "the frame just outside the window.\n"
            )

        def conv_label(w: str) -> str:
            return (
                "convert_project workers=1, numbers in blosc zstd 3 (the A/B store)"
                if w == "zstd3"
                else f"convert_project workers={w}"
            )

        rows = [
            [
                conv_label(w),
                fmt_s(x["seconds"]),
                fmt_mb(x["rusage_maxrss_mb"]),
                f"{x['store_bytes'] / 2**30:.2f} GiB ({x['store_bytes'] / c['nwb_bytes']:.2f}x NWB)",
            ]
            if "error" not in x
            else [conv_label(w), "**FAILED**", "-", f"`{x['error'][:160]}`"]
            for w, x in c["convert"].items()
        ]
        if rows:
            lines.append("\nConversion of the 6 files (timed separately, not part of the analysis):\n")
            lines.append(
                md_table(
                    ["", "time", "peak RSS (converting process; workers not included)", "store size"], rows
                )
            )
    if "psth" in r:
        ps_ = r["psth"]
        v, pn = ps_["runs"]["vbzarr"], ps_["runs"]["pynapple"]
        vs, pt = median([x["seconds"] for x in v]), median([x["seconds"] for x in pn])
        pc = median([x["compute_s"] for x in pn])
        pl = median([x["load_s"] for x in pn])
        p0 = pn[0]
        a = ps_["agree"]
        lines.append(
            f"\n## (ii) PSTH of every unit around every image flash\n\n"
            f"{v[0]['n_units']} units, {v[0]['n_events']} image flashes (omitted excluded), "
            f"{v[0]['bins']} bins of 10 ms from -0.25 to 0.5 s. Median of {len(v)} fresh processes.\n"
        )
        lines.append(code_line(ps_.get("code", r["code"])))
        vc = ps_["runs"]["vbzarr_counts"]
        vcs = median([x["seconds"] for x in vc])

        def split(runs_: list) -> str:
            return (
                f"setup {fmt_s(median([x['setup_s'] for x in runs_]))}, compute "
                f"{fmt_s(median([x['compute_s'] for x in runs_]))}"
            )

        rows = [
            [
                "vbzarr: open_store -> psth(units, flashes, edges) -> compute (reads the store)",
                fmt_s(vs),
                split(v),
                fmt_mb(max(x["rusage_maxrss_mb"] for x in v)),
                "1.00x",
            ],
            [
                "vbzarr: open_store -> spike_counts -> psth(counts) (per-event counts, as a "
                "groupby by image needs)",
                fmt_s(vcs),
                split(vc),
                fmt_mb(max(x["rusage_maxrss_mb"] for x in vc)),
                ratio(vs, vcs),
            ],
            [
                "pynapple: nap.load_file(NWB) -> TsGroup + Ts -> compute_eventcorrelogram",
                fmt_s(pt),
                f"load {fmt_s(pl)}, compute {fmt_s(pc)}",
                fmt_mb(max(x["rusage_maxrss_mb"] for x in pn)),
                ratio(vs, pt),
            ],
            [
                "pynapple compute alone (compute_eventcorrelogram, spikes in memory)",
                fmt_s(pc),
                "-",
                "-",
                ratio(vs, pc),
            ],
        ]
        if p0.get("perievent_units"):
            rows.append(
                [
                    f"pynapple compute_perievent + count, {p0['perievent_units']} random "
                    "units, extrapolated to all",
                    fmt_s(p0["perievent_extrapolated_s"]),
                    f"measured {fmt_s(p0['perievent_s'])} for {p0['perievent_units']} units",
                    "-",
                    ratio(vs, p0["perievent_extrapolated_s"]),
                ]
            )
        lines.append(
            f"Median of {len(v)} fresh processes per route (import not timed; the "
            "store and the NWB in the page cache).\n"
        )
        lines.append(md_table(["route", "time", "split", "peak RSS", "this / vbzarr psth"], rows))
        lines.append(
            f"\npynapple (load + compute) / vbzarr psth: **{pt / vs:.2f}x**; / vbzarr "
            f"spike_counts + psth: **{pt / vcs:.2f}x** (target: faster than pynapple).\n"
        )
        ac = ps_.get("agree_counts", {})
        lines.append(
            f"\nvbzarr spike_counts + psth vs pynapple: total counts equal in "
            f"{100 * ac.get('cells_equal_fraction', float('nan')):.3f}% of (unit, bin) "
            f"cells (max |diff| {ac.get('max_abs_count_diff')}).\n"
        )
        lines.append(
            f"\nCounts agree: same units {a.get('same_units')}, same flash times "
            f"{a.get('same_events')}; total counts per (unit, bin) equal in "
            f"{100 * a.get('cells_equal_fraction', float('nan')):.3f}% of cells (max |diff| "
            f"{a.get('max_abs_count_diff')}, {a.get('abs_count_diff_sum')} spikes of "
            f"{a.get('total_spikes_vbzarr')}) vs compute_eventcorrelogram; "
            f"{100 * a.get('perievent_equal_fraction', float('nan')):.2f}% (max |diff| "
            f"{a.get('perievent_max_abs_diff')}) vs compute_perievent + count on "
            f"{a.get('perievent_units')} units. "
            + (
                "No difference at all. "
                if a.get("max_abs_count_diff") == 0 and a.get("perievent_max_abs_diff", 0) == 0
                else ""
            )
            + "Where counts can differ, it is at bin edges: compute_eventcorrelogram accumulates "
            "its edges (float drift) and compute_perievent keeps closed windows "
            "[t - 0.25, t + 0.5]; vbzarr bins are exact half-open [edge_k, edge_k+1). The "
            "pynapple compute time of the first process includes numba's JIT compilation unless "
            "its on-disk cache is warm (it was, from earlier runs).\n"
        )
    if "scale" in r:
        rows_ = r["scale"]["rows"]
        size = r["scale"]["input"]["size"]
        lines.append(
            f"\n## (iii) One average over N sessions (fresh process each; median of "
            f"{len(rows_[0]['per_container']['all_s'])})\n\nSessions: {size['task_minutes']} min "
            f"task, {size['n_cells']} cells, taken in table order (whole containers of "
            f"{cfg['scale_layout'][1]} sessions); same analysis as (i), aligned container by "
            f"container as `align`'s docstring advises over many containers: each container's "
            f"`dff` and changes aligned and reduced on their own, the lazy means concatenated "
            f"over `cell_specimen_id` and computed once.\n"
        )
        lines.append(code_line(r["scale"].get("code", r["code"])))
        q0 = rows_[0]["per_container"]

        def pc_row(k: int, x: dict) -> list:
            q = x["per_container"]
            prev = rows_[k - 1]["per_container"] if k else q
            return [
                x["sessions"],
                x["containers"],
                x["n_cells"],
                x["n_events"],
                fmt_s(q["median_s"]),
                f"{q['median_s'] / q0['median_s'] * rows_[0]['sessions'] / x['sessions']:.2f}",
                fmt_mb(q["peak_rss_mb"]),
                f"{q['peak_rss_mb'] / q0['peak_rss_mb']:.2f}x",
                f"{q['peak_rss_mb'] / prev['peak_rss_mb']:.2f}x",
            ]

        lines.append(
            md_table(
                [
                    "sessions",
                    "containers",
                    "cells",
                    "events",
                    "time",
                    "time per session / first",
                    "peak RSS",
                    "peak RSS / first",
                    "peak RSS / previous row",
                ],
                [pc_row(k, x) for k, x in enumerate(rows_)],
            )
        )

        pinned = all("pinned_malloc" in x["per_container"] for x in rows_)

        def memory_row(x: dict) -> list:
            q = x["per_container"]
            row = [
                x["sessions"],
                fmt_mb(q["rss_before_compute_mb"]),
                fmt_mb(q["peak_rss_mb"] - q["rss_before_compute_mb"]),
                fmt_mb(q.get("result_mb")),
                f"{fmt_mb(q['traced_before_compute_mb'])} / {fmt_mb(q['traced_peak_mb'])}",
            ]
            pin = q.get("pinned_malloc")
            if pin:
                row += [
                    fmt_mb(pin["peak_rss_mb"]),
                    fmt_mb(pin["rss_before_compute_mb"]),
                    fmt_mb(pin["peak_rss_mb"] - pin["rss_before_compute_mb"]),
                    fmt_mb(pin["peak_rss_mb"] - pin["rss_before_compute_mb"] - q["result_mb"]),
                    fmt_s(pin["median_s"]),
                ]
            return row

        lines.append(
            "\nWhere the memory goes (same runs"
            + (
                "; the allocator-pinned columns are runs with "
                + ", ".join(f"`{k}={v}`" for k, v in PINNED_MALLOC.items())
                if pinned
                else ""
            )
            + "):\n"
        )
        lines.append(
            md_table(
                [
                    "sessions",
                    "RSS before compute (imports, tables, coords, graph)",
                    "peak - before (compute)",
                    "result (the means)",
                    "live memory: before compute / peak (tracemalloc)",
                ]
                + (
                    [
                        "pinned allocator: peak RSS",
                        "before compute",
                        "peak - before",
                        "peak - before - result (chunks in flight)",
                        "time",
                    ]
                    if pinned
                    else []
                ),
                [memory_row(x) for x in rows_],
            )
        )
        lines.append(
            "\nLive memory: tracemalloc's current and peak traced size in one more, untimed run "
            "(numpy reports its buffers to tracemalloc; zarrs' and blosc's own buffers are not "
            "traced): what the process holds, as against peak RSS, which also counts the shared "
            "libraries and what the allocator keeps after it is freed. The result grows with the "
            "cells averaged; the chunks in flight should not grow with the sessions.\n"
        )
        union = [x for x in rows_ if "median_s" in x]
        if union:
            lines.append(
                "\nThe same averages from one view of all the sessions (`dff(selection)` -> "
                "`align` -> `groupby`), up to "
                f"{cfg['scale_union_max']} sessions. Its result is dense over (cells of every "
                "container) x (events of every session): containers x sessions blocks, all but one "
                "per session NaN (never read, but each still reduced by flox), so its cost is "
                "quadratic in containers.\n"
            )
            lines.append(
                md_table(
                    [
                        "sessions",
                        "containers",
                        "time (union)",
                        "time (per container)",
                        "compute (union)",
                        "compute (per container)",
                        "peak RSS (union)",
                        "peak RSS (per container)",
                        "same means",
                    ],
                    [
                        [
                            x["sessions"],
                            x["containers"],
                            fmt_s(x["median_s"]),
                            fmt_s(x["per_container"]["median_s"]),
                            fmt_s(x.get("compute_s")),
                            fmt_s(x["per_container"]["compute_s"]),
                            fmt_mb(x["peak_rss_mb"]),
                            fmt_mb(x["per_container"]["peak_rss_mb"]),
                            f"{'yes' if x['per_container']['agree'].get('allclose') else '**NO**'} (max "
                            f"abs diff {x['per_container']['agree'].get('max_abs_diff', float('nan')):.1e})",
                        ]
                        for x in union
                    ],
                )
            )
    return "\n".join(lines)


if __name__ == "__main__":
    CHILDREN.entry(main)

"""The per-experiment route (code ported from the AllenSDK, one experiment at a time): open each
experiment, its presentations as a DataFrame, the change-aligned mean dF/F, with the open, table
and analysis costs apart, against the AllenSDK itself and against pynwb + pandas per file.

What runs (one run; each route in a fresh process per repeat, imports not counted; the container's
NWB files and stores warm in the page cache):

a. vbzarr: ``project.ophys_experiment(id)`` (open), ``vbzarr.to_dataframe(tree["stimulus_presentations"])``
   (table), ``vbzarr.align(tree["ophys"]["dff"], changes, (-1, 2), rate=30).mean("event").compute()``
   (analysis), for each experiment of a container of three realistic-size synthetic experiments.
b. The AllenSDK 2.16.2 (its last release, in its own venv: ``benchmarks/peers/allensdk_env.py``):
   ``BehaviorOphysExperiment.from_nwb_path(path)`` (open), ``.stimulus_presentations`` (table),
   ``.dff_traces`` and ``.ophys_timestamps`` and each change's window interpolated onto the same
   grid, vectorised over cells (analysis).
c. pynwb + pandas: ``NWBHDF5IO(path).read()`` (open), every ``intervals/*_presentations`` table
   concatenated and sorted as the AllenSDK does (table), the dF/F read and the same interpolation
   (analysis).

Same means (checked to 1e-9).

Usage (from the repository root)::

    python -m benchmarks run experiment_route [--repeats 3] [--allensdk-venv DIR | --skip-allensdk]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    SCRATCH,
    Children,
    cached,
    factory_hash,
    git_state,
    guard_children,
    log,
    md_table,
    median,
    publish,
    ratio,
    report_head,
    warm_page_cache,
)

NAME = "bench_experiment_route"
WINDOW, RATE = (-1.0, 2.0), 30.0


def child_vbzarr(p: dict) -> dict:
    import numpy as np

    import vbzarr

    # An import, not counted like the peers' (pynwb, the AllenSDK): dask imports distributed at a
    # process's first compute, whatever computes first (a table here). Its cost is reported.
    t = time.perf_counter()
    import distributed  # noqa: F401

    imported = time.perf_counter() - t
    project = vbzarr.open_project(p["project"])
    cost = {"open": 0.0, "table": 0.0, "analysis": 0.0}
    means = []
    for eid in p["ids"]:
        t0 = time.perf_counter()
        tree = project.ophys_experiment(eid)
        t1 = time.perf_counter()
        presentations = vbzarr.to_dataframe(tree["stimulus_presentations"])
        t2 = time.perf_counter()
        changes = presentations[presentations.is_change]
        mean = vbzarr.align(tree["ophys"]["dff"], changes, WINDOW, rate=RATE).mean("event").compute()
        t3 = time.perf_counter()
        cost["open"] += t1 - t0
        cost["table"] += t2 - t1
        cost["analysis"] += t3 - t2
        means.append(mean.values)
    checksum = float(np.nansum(np.concatenate(means)))
    return {**cost, "seconds": sum(cost.values()), "checksum": checksum, "distributed_import_s": imported}


def child_floor(p: dict) -> dict:
    """What vbzarr's route cannot go below with this store and xarray's DataTree: the metadata
    reads of each store (concurrent), xarray building the tree from metadata already in memory,
    the presentation columns read with zarr at once (no dask, no pandas), and the stored dF/F
    read and decompressed with zarr at once (no dask, no alignment)."""
    import asyncio
    import json

    import numpy as np
    import xarray as xr
    import zarr
    from zarr.core.sync import sync

    import vbzarr
    from vbzarr.store import READ_CONFIG
    from vbzarr.store_tree import StoreView, read_metadata, task_chunks

    project = vbzarr.open_project(p["project"])
    store = project.session.store
    cost = {"metadata": 0.0, "xarray_tree": 0.0, "table_columns": 0.0, "dff_bytes": 0.0}
    with zarr.config.set(READ_CONFIG):
        for eid in p["ids"]:
            path = f"ophys_experiments/{eid}"
            t0 = time.perf_counter()
            root = sync(read_metadata(store, path))
            t1 = time.perf_counter()
            metadata = root["consolidated_metadata"]["metadata"]
            view = StoreView(store, path, json.dumps(root).encode())
            chunks = task_chunks(metadata)
            xr.open_datatree(view, engine="zarr", chunks=chunks, consolidated=True, zarr_format=3)
            t2 = time.perf_counter()
            group = zarr.open_group(view, mode="r", use_consolidated=True)
            table = group["stimulus_presentations"]
            arrays = [a._async_array for _, a in table.arrays()]

            async def columns(arrays: list = arrays) -> list:
                return await asyncio.gather(*(a.getitem(slice(None)) for a in arrays))

            sync(columns())
            t3 = time.perf_counter()
            np.asarray(group["ophys/dff"][:])
            t4 = time.perf_counter()
            cost["metadata"] += t1 - t0
            cost["xarray_tree"] += t2 - t1
            cost["table_columns"] += t3 - t2
            cost["dff_bytes"] += t4 - t3
    return {**cost, "seconds": sum(cost.values())}


def change_mean(ts: Any, traces: Any, starts: Any) -> Any:
    """The mean over ``starts`` of each cell's ``traces`` (cells, frames) at ``start + offsets``,
    linearly interpolated between the frames at ``ts``: the peers' analysis, vectorised over
    cells."""
    import numpy as np

    offsets = np.arange(round(WINDOW[0] * RATE), round(WINDOW[1] * RATE) + 1) / RATE
    total, n = np.zeros((traces.shape[0], len(offsets))), len(ts)
    for start in starts:
        q = start + offsets
        i1 = np.clip(np.searchsorted(ts, q, side="right"), 1, n - 1)
        w = (q - ts[i1 - 1]) / (ts[i1] - ts[i1 - 1])
        total += traces[:, i1 - 1] * (1 - w) + traces[:, i1] * w
    return total / len(starts)


def child_pynwb(p: dict) -> dict:
    import warnings

    import numpy as np
    import pandas as pd
    from pynwb import NWBHDF5IO

    warnings.filterwarnings("ignore")
    cost = {"open": 0.0, "table": 0.0, "analysis": 0.0}
    means = []
    for path in p["paths"]:
        t0 = time.perf_counter()
        io = NWBHDF5IO(path, "r")
        nwb = io.read()
        t1 = time.perf_counter()
        blocks = [
            nwb.intervals[name].to_dataframe(exclude={"tags", "timeseries"})
            for name in nwb.intervals
            if name.endswith("_presentations")
        ]
        presentations = (
            pd.concat(blocks, ignore_index=True)
            .sort_values("start_time", kind="mergesort")
            .reset_index(drop=True)
            .rename_axis("stimulus_presentations_id")
        )
        t2 = time.perf_counter()
        series = nwb.processing["ophys"]["dff"].roi_response_series["traces"]
        ts, traces = np.asarray(series.timestamps[:]), np.asarray(series.data[:]).T  # (cells, frames)
        starts = presentations.start_time[presentations.is_change == 1].to_numpy()
        means.append(change_mean(ts, traces, starts))
        io.close()
        t3 = time.perf_counter()
        cost["open"] += t1 - t0
        cost["table"] += t2 - t1
        cost["analysis"] += t3 - t2
    return {**cost, "seconds": sum(cost.values()), "checksum": float(np.nansum(np.concatenate(means)))}


def child_allensdk(p: dict) -> dict:
    """Runs in the AllenSDK's venv (numpy 1.23, pandas 1.5): numpy and the AllenSDK only."""
    import importlib.metadata
    import warnings

    import numpy as np
    from allensdk.brain_observatory.behavior.behavior_ophys_experiment import BehaviorOphysExperiment

    warnings.filterwarnings("ignore")
    cost = {"open": 0.0, "table": 0.0, "analysis": 0.0}
    means = []
    for path in p["paths"]:
        t0 = time.perf_counter()
        experiment = BehaviorOphysExperiment.from_nwb_path(path)
        t1 = time.perf_counter()
        presentations = experiment.stimulus_presentations
        t2 = time.perf_counter()
        dff = experiment.dff_traces
        ts, traces = np.asarray(experiment.ophys_timestamps), np.stack(dff["dff"].to_numpy())
        starts = presentations.start_time[presentations.is_change.astype(bool)].to_numpy()
        means.append(change_mean(ts, traces, starts))
        t3 = time.perf_counter()
        cost["open"] += t1 - t0
        cost["table"] += t2 - t1
        cost["analysis"] += t3 - t2
    versions = {d: importlib.metadata.version(d) for d in ("allensdk", "pynwb", "hdmf", "numpy", "pandas")}
    return {
        **cost,
        "seconds": sum(cost.values()),
        "checksum": float(np.nansum(np.concatenate(means))),
        "versions": versions,
    }


CHILDREN = Children(
    NAME, {"vbzarr": child_vbzarr, "allensdk": child_allensdk, "pynwb": child_pynwb, "floor": child_floor}
)
ROUTES = ("vbzarr", "allensdk", "pynwb")
STEPS = ("open", "table", "analysis", "seconds")
FLOOR = ("metadata", "xarray_tree", "table_columns", "dff_bytes", "seconds")


def container(size: str, seed: int = 31) -> dict:
    root = SCRATCH / f"experiment-route-{size}-{seed}"

    def make() -> dict:
        from vbzarr.convert.project import convert_project
        from vbzarr.testing.synthetic.project import make_vbo_project

        made = make_vbo_project(
            root / "release",
            n_containers=1,
            sessions_per_container=3,
            behavior_only_sessions=0,
            size=size,
            seed=seed,
        )
        report = convert_project(str(root / "release"), str(root / "project"))
        assert not report.failed, report.failed
        ids = [int(i) for i in made.ophys_experiment_table.index]
        return {
            "ids": ids,
            "paths": [str(made.experiment_path(i)) for i in ids],
            "project": str(root / "project"),
            "nwb_bytes": report.converted_bytes,
            "factory": factory_hash(),
        }

    return cached(root, make, what=f"a container of three {size} experiments")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.peers.allensdk_env import DEFAULT, VENV

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run experiment_route", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", default="realistic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--allensdk-venv", default=str(DEFAULT), help="made on first use (~0.8 GB)")
    parser.add_argument("--skip-allensdk", action="store_true")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    info = container(args.size)
    python = {"allensdk": None if args.skip_allensdk else VENV.ensure(Path(args.allensdk_venv))}
    if not args.no_wait:
        guard_children()
    machine = CHILDREN.machine()
    runs: dict[str, list[dict]] = {route: [] for route in ROUTES if python.get(route, True)}
    floor: list[dict] = []
    for r in range(args.repeats):
        for route in runs:
            for path in info["paths"]:
                warm_page_cache(path)
            log(f"({r + 1}/{args.repeats}) {route} ...")
            runs[route].append(CHILDREN.run(route, info, python=python.get(route)))
        log(f"({r + 1}/{args.repeats}) floor ...")
        floor.append(CHILDREN.run("floor", info))
    results = {
        "machine": machine,
        "size": args.size,
        "container": info,
        "runs": runs,
        "floor": floor,
    }
    publish(NAME, results, render, started, t0)
    return 0


def render(res: dict) -> str:
    runs = res["runs"]
    med = {route: {k: median([r[k] for r in rs]) for k in STEPS} for route, rs in runs.items()}
    peers = [route for route in ROUTES[1:] if route in runs]
    same = all(
        abs(a["checksum"] - b["checksum"]) <= 1e-9 * abs(b["checksum"])
        for peer in peers
        for a, b in zip(runs["vbzarr"], runs[peer], strict=True)
    )
    label = {"vbzarr": "vbzarr", "allensdk": "AllenSDK", "pynwb": "pynwb + pandas"}
    rows = [
        [
            step if step != "seconds" else "**whole route**",
            *(f"{med[route][step]:.3f}" for route in runs),
            *(ratio(med["vbzarr"][step], med[peer][step]) for peer in peers),
        ]
        for step in STEPS
    ]
    info = res["container"]
    head = [
        "step (3 experiments)",
        *(f"{label[route]} s" for route in runs),
        *(f"{label[peer]} / vbzarr" for peer in peers),
    ]
    versions = runs.get("allensdk", [{}])[0].get("versions")
    floor = {k: median([f[k] for f in res.get("floor", [])]) for k in FLOOR} if res.get("floor") else None
    target = ""
    if floor and "allensdk" in med:
        allen = med["allensdk"]["seconds"]
        target = (
            f"**What the 25x target needs:** the whole route in {allen / 25:.3f} s for the three "
            f"experiments (the AllenSDK's {allen:.2f} s / 25). What vbzarr's route cannot go below "
            "with these stores and xarray's DataTree (the `floor` child, medians; no dask, no pandas, "
            f"no alignment): the stores' metadata read at once {floor['metadata']:.3f} s, xarray "
            f"building the trees from it in memory {floor['xarray_tree']:.3f} s, the presentation "
            f"columns read with zarr at once {floor['table_columns']:.3f} s, the dF/F read and "
            f"decompressed with zarr at once {floor['dff_bytes']:.3f} s: {floor['seconds']:.3f} s "
            f"in all, {ratio(floor['seconds'], allen)} the AllenSDK's route at best.\n"
        )
    return "\n".join(
        [
            *report_head(NAME, res),
            f"Container: 3 synthetic experiments (factory `{res['size']}` size, "
            f"{info['nwb_bytes'] / 1e9:.2f} GB of NWB, factory {info['factory']}); seconds summed over the "
            f"three experiments, medians of {len(runs['vbzarr'])} fresh processes; same means: "
            f"{'yes' if same else 'NO'}."
            + (
                " The AllenSDK's venv: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
                if versions
                else ""
            )
            + "\n",
            md_table(head, rows),
            "",
            target,
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

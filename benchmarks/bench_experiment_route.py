"""The per-experiment route (code ported from the AllenSDK, one experiment at a time): open each
experiment, its presentations as a DataFrame, the change-aligned mean dF/F, with the open, table
and analysis costs apart, against pynwb + pandas per file.

What runs (one run; each route in a fresh process per repeat, imports not counted; the container's
NWB files and stores warm in the page cache):

a. vbzarr: ``project.ophys_experiment(id)`` (open), ``vbzarr.to_dataframe(tree["stimulus_presentations"])``
   (table), ``vbzarr.align(tree["ophys"]["dff"], changes, (-1, 2), rate=30).mean("event").compute()``
   (analysis), for each experiment of a container of three realistic-size synthetic experiments.
b. The peer: ``NWBHDF5IO(path).read()`` (open), every ``intervals/*_presentations`` table
   concatenated and sorted as the AllenSDK does (table), the dF/F read and each change's window
   interpolated onto the same grid, vectorised over cells (analysis).

Same means (checked to 1e-9).

Usage (from the repository root)::

    python -m benchmarks run experiment_route
"""

from __future__ import annotations

import argparse
import time

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
    return {**cost, "seconds": sum(cost.values()), "checksum": float(np.nansum(np.concatenate(means)))}


def child_pynwb(p: dict) -> dict:
    import warnings

    import numpy as np
    import pandas as pd
    from pynwb import NWBHDF5IO

    warnings.filterwarnings("ignore")
    offsets = np.arange(round(WINDOW[0] * RATE), round(WINDOW[1] * RATE) + 1) / RATE
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
        total, n = np.zeros((traces.shape[0], len(offsets))), len(ts)
        for start in starts:
            q = start + offsets
            i1 = np.clip(np.searchsorted(ts, q, side="right"), 1, n - 1)
            w = (q - ts[i1 - 1]) / (ts[i1] - ts[i1 - 1])
            total += traces[:, i1 - 1] * (1 - w) + traces[:, i1] * w
        means.append(total / len(starts))
        io.close()
        t3 = time.perf_counter()
        cost["open"] += t1 - t0
        cost["table"] += t2 - t1
        cost["analysis"] += t3 - t2
    return {**cost, "seconds": sum(cost.values()), "checksum": float(np.nansum(np.concatenate(means)))}


CHILDREN = Children(NAME, {"vbzarr": child_vbzarr, "pynwb": child_pynwb})


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
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run experiment_route", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", default="realistic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    info = container(args.size)
    if not args.no_wait:
        guard_children()
    machine = CHILDREN.machine()
    runs: dict[str, list[dict]] = {"vbzarr": [], "pynwb": []}
    for r in range(args.repeats):
        for route in runs:
            for path in info["paths"]:
                warm_page_cache(path)
            log(f"({r + 1}/{args.repeats}) {route} ...")
            runs[route].append(CHILDREN.run(route, info))
    results = {
        "machine": machine,
        "size": args.size,
        "container": info,
        "runs": runs,
    }
    publish(NAME, results, render, started, t0)
    return 0


def render(res: dict) -> str:
    med = {route: {k: median([r[k] for r in runs]) for k in ("open", "table", "analysis", "seconds")}
           for route, runs in res["runs"].items()}  # fmt: skip
    ours, theirs = med["vbzarr"], med["pynwb"]
    same = all(
        abs(a["checksum"] - b["checksum"]) <= 1e-9 * abs(b["checksum"])
        for a, b in zip(res["runs"]["vbzarr"], res["runs"]["pynwb"], strict=True)
    )
    rows = [
        [k, f"{ours[k]:.3f}", f"{theirs[k]:.3f}", ratio(ours[k], theirs[k])]
        for k in ("open", "table", "analysis", "seconds")
    ]
    rows[-1][0] = "**whole route**"
    info = res["container"]
    return "\n".join(
        [
            *report_head(NAME, res),
            f"Container: 3 synthetic experiments (factory `{res['size']}` size, "
            f"{info['nwb_bytes'] / 1e9:.2f} GB of NWB, factory {info['factory']}); seconds summed over the "
            f"three experiments, medians of {len(res['runs']['vbzarr'])} fresh processes; same means: "
            f"{'yes' if same else 'NO'}.\n",
            md_table(["step (3 experiments)", "vbzarr s", "pynwb + pandas s", "peer / vbzarr"], rows),
            "",
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

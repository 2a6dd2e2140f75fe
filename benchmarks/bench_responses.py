"""Response statistics of a container (every cell x every change), vbzarr against Allen's per-cell style.

vbzarr: ``open_project``, ``Project.dff`` of the container, its changes (``events_table``), and
``response_statistics`` (means over the response and baseline windows, p-values against 10,000
gray-screen shuffles), one compute. Peer, the route of Allen's stimulus-response utilities
(``get_stimulus_response_xr``): per NWB file, pynwb reads dF/F and the presentations; per cell
and per change, the window is interpolated on the grid (``np.interp``) and averaged; the null
means come from random windows of the gray screen (``np.random.choice``, all cells at once) and
each p-value is a ``searchsorted`` in them. Both draw with ``numpy.random.default_rng(0)`` over
the same frames, so their p-values are comparable; fresh processes, medians of ``--repeats``.
The synthetic sessions have little gray screen: both use each session's first 20 s of imaging.

Usage (from the repository root)::

    python -m benchmarks run responses [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Children, command, machine, machine_markdown, md_table, write_results

NAME = "bench_responses"
WINDOW, RESPONSE, SHUFFLES, SECONDS = (-0.5, 0.5), 0.5, 10_000, 20.0


def child_vbzarr(p: dict) -> dict:
    import numpy as np

    import vbzarr

    t = time.perf_counter()
    project = vbzarr.open_project(p["project"])
    sel = project.ophys_experiment_table.loc[p["ids"]]
    windows = {}
    for eid in sel.index:
        time_ = project.group("ophys_experiment", int(eid), "ophys", dask=False)["time"].values
        windows[int(eid)] = (float(time_[0]), float(time_[0]) + SECONDS)
    changes = project.events_table(sel, query="is_change")
    stats = vbzarr.response_statistics(project.dff(sel), changes, windows, rate=30.0, shuffles=SHUFFLES)
    stats = stats.compute()
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "cells": stats.sizes["cell_specimen_id"],
        "events": stats.sizes["event"],
        "mean_response_sum": float(np.nansum(stats.mean_response.values)),
        "p_values": int(np.isfinite(stats.p_value_gray_screen.values).sum()),
        "significant": int(stats.significant.values.sum()),
    }


def child_allen(p: dict) -> dict:
    import warnings

    import numpy as np
    from pynwb import NWBHDF5IO

    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    grid = np.linspace(WINDOW[0], WINDOW[1], int(round((WINDOW[1] - WINDOW[0]) * 30.0)) + 1)
    total, n_p, significant, cells, events = 0.0, 0, 0, 0, 0
    for path in p["files"]:
        with NWBHDF5IO(path, "r", load_namespaces=True) as io:
            nwb = io.read()
            dff = nwb.processing["ophys"]["dff"]["traces"]
            traces = np.asarray(dff.data[:]).T  # (cells, frames)
            times = np.asarray(dff.timestamps[:])
            presentations = [
                table.to_dataframe()
                for name, table in nwb.intervals.items()
                if name.endswith("_presentations")
            ]
        changes = np.sort(
            np.concatenate(
                [
                    t.start_time[t.is_change.fillna(0).astype(bool)].to_numpy()
                    for t in presentations
                    if "is_change" in t
                ]
            )
        )
        cells += traces.shape[0]
        events += len(changes)
        response = np.full((traces.shape[0], len(changes)), np.nan)
        for c in range(traces.shape[0]):  # per cell, per event, as the utilities' tidy loop
            for e, onset in enumerate(changes):
                inside = (times >= onset + WINDOW[0]) & (times <= onset + WINDOW[1])
                if inside.sum() < 2:
                    continue
                values = np.interp(grid, times[inside] - onset, traces[c, inside])
                response[c, e] = values[(grid >= -1e-9) & (grid <= RESPONSE + 1e-9)].mean()
        frames = np.arange(np.searchsorted(times, times[0]), np.searchsorted(times, times[0] + SECONDS))
        starts = np.random.default_rng(0).choice(frames, SHUFFLES)
        length = int(round(RESPONSE / np.median(np.diff(times))))
        spont = traces[:, starts[:, None] + np.arange(length)[None, :]].mean(axis=-1)  # (cells, shuffles)
        spont.sort(axis=1)
        for c in range(traces.shape[0]):
            p_values = 1 - np.searchsorted(spont[c], response[c]) / SHUFFLES
            p_values[np.isnan(response[c])] = np.nan
            n_p += int(np.isfinite(p_values).sum())
            significant += int((p_values < 0.05).sum())
        total += float(np.nansum(response))
    return {
        "seconds": time.perf_counter() - t,
        "cells": cells,
        "events": events,
        "mean_response_sum": total,
        "p_values": n_p,
        "significant": significant,
    }


CHILDREN = Children(NAME, {"vbzarr": child_vbzarr, "allen": child_allen})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run responses", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-behavior"))
    args = parser.parse_args(argv)
    import vbzarr

    work = Path(args.work)
    project_dir = next(work.glob("project-*"), None)
    release = next(work.glob("release-*"), None)
    if project_dir is None or release is None:
        raise SystemExit(f"run `python -m benchmarks run behavior` first (it makes the project under {work})")
    project = vbzarr.open_project(project_dir)
    table = project.ophys_experiment_table
    container = table[table.ophys_container_id == table.ophys_container_id.iloc[0]]
    ids = [int(i) for i in container.index]
    files = [str(release / "behavior_ophys_experiments" / f"behavior_ophys_experiment_{i}.nwb") for i in ids]
    runs: dict[str, list] = {"vbzarr": [], "allen": []}
    for _ in range(args.repeats):
        runs["vbzarr"].append(CHILDREN.run("vbzarr", {"project": str(project_dir), "ids": ids}))
        runs["allen"].append(CHILDREN.run("allen", {"files": files}))
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    ours, theirs = runs["vbzarr"][-1], runs["allen"][-1]
    results = {"command": command(), "machine": machine(), "runs": runs, "medians": med}
    rows = [
        [
            "vbzarr `response_statistics` of `Project.dff` (one compute)",
            f"{med['vbzarr']:.2f}",
            "1.00",
            ours["cells"],
            ours["events"],
            ours["significant"],
        ],
        [
            "Allen utilities' style: pynwb + per cell, per event `np.interp` + shuffles",
            f"{med['allen']:.2f}",
            f"{med['allen'] / med['vbzarr']:.1f}x",
            theirs["cells"],
            theirs["events"],
            theirs["significant"],
        ],
    ]
    report = "\n".join(
        [
            f"# {NAME}\n",
            machine_markdown(results["machine"], results["command"]),
            f"Container of {len(ids)} experiments (`small` factory size, the project of `bench_behavior`); "
            f"{SHUFFLES:,} shuffles; medians of {args.repeats} fresh processes. Sums of the mean responses: "
            f"{ours['mean_response_sum']:.6f} (vbzarr) and {theirs['mean_response_sum']:.6f} (peer).\n",
            md_table(["", "seconds", "peer / vbzarr", "cells", "events", "significant (p < 0.05)"], rows),
        ]
    )
    write_results(NAME, results, report)
    print(report)
    print(json.dumps(med))
    return 0


if __name__ == "__main__":
    CHILDREN.entry(main)

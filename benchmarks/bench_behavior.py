"""Behavior performance of every session of a project, vbzarr against the per-file pynwb route.

vbzarr: ``open_project`` then ``Project.performance_metrics()`` for the imaging sessions and for
the behavior-only (training) sessions. Peer, what a user does today without the AllenSDK: for each
NWB file, pynwb reads it (``NWBHDF5IO.read``), the trials and rewards become DataFrames
(``to_dataframe``), and the same algorithm (vbzarr's, on those DataFrames) runs in a loop. Both
in fresh processes, medians of ``--repeats``; the metrics must be equal.

Usage (from the repository root)::

    python -m benchmarks run behavior [--size small] [--sessions 4] [--repeats 3]
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

NAME = "bench_behavior"


def child_vbzarr(p: dict) -> dict:
    import vbzarr

    t = time.perf_counter()
    project = vbzarr.open_project(p["project"])
    tables = [project.performance_metrics(), project.performance_metrics(kind="behavior_session")]
    seconds = time.perf_counter() - t
    rows = {str(i): row.to_dict() for table in tables for i, row in table.iterrows()}
    return {"seconds": seconds, "metrics": rows}


def child_pynwb(p: dict) -> dict:
    import warnings

    import h5py
    import numpy as np
    from pynwb import NWBHDF5IO

    from vbzarr import performance

    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    rows = {}
    for path in p["files"]:
        with NWBHDF5IO(path, "r", load_namespaces=True) as io:
            nwb = io.read()
            trials = nwb.trials.to_dataframe()
            rewards = nwb.processing["rewards"]["volume"].data[:] if "rewards" in nwb.processing else []
        with h5py.File(path, "r") as f:
            window_start = float(f["general/task_parameters"].attrs["response_window_sec"][0])
        trials["lick_times"] = [np.asarray(x) for x in trials["lick_times"]]
        rolling = performance._rolling(trials, window_start)
        engaged = rolling["reward_rate"] > performance.ENGAGED_REWARD_RATE
        rows[Path(path).stem.rsplit("_", 1)[-1]] = {
            "trial_count": len(trials),
            "hit_trial_count": int(trials["hit"].sum()),
            "total_reward_count": len(rewards),
            "engaged_trial_count": int(engaged.sum()),
            "mean_dprime": rolling["rolling_dprime"].mean(),
        }
    return {"seconds": time.perf_counter() - t, "metrics": rows}


CHILDREN = Children(NAME, {"vbzarr": child_vbzarr, "pynwb": child_pynwb})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run behavior", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--size", default="small")
    parser.add_argument("--sessions", type=int, default=4, help="imaging sessions per container")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-behavior"))
    args = parser.parse_args(argv)
    from vbzarr.convert.project import convert_project
    from vbzarr.testing.synthetic import content
    from vbzarr.testing.synthetic.project import make_vbo_project

    work = Path(args.work)
    release = work / f"release-{args.size}-{args.sessions}"
    if not (release / "project_metadata").exists():
        make_vbo_project(
            release,
            n_containers=2,
            sessions_per_container=args.sessions,
            behavior_only_sessions=2,
            size=content.Size.preset(args.size),
            seed=4,
        )
    project = work / f"project-{args.size}-{args.sessions}"
    assert not convert_project(str(release), str(project)).failed
    files = sorted(str(p) for p in release.glob("*/*.nwb"))
    runs: dict[str, list] = {"vbzarr": [], "pynwb": []}
    for _ in range(args.repeats):
        runs["vbzarr"].append(CHILDREN.run("vbzarr", {"project": str(project)}))
        runs["pynwb"].append(CHILDREN.run("pynwb", {"files": files}))
    ours, theirs = runs["vbzarr"][-1]["metrics"], runs["pynwb"][-1]["metrics"]
    same = all(
        ours[k][m] == v or (v != v and ours[k][m] != ours[k][m])
        for k, row in theirs.items()
        for m, v in row.items()
    )
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    results = {
        "command": command(),
        "machine": machine(),
        "sessions": len(files),
        "nwb_bytes": sum(Path(f).stat().st_size for f in files),
        "seconds": {k: [r["seconds"] for r in v] for k, v in runs.items()},
        "same_metrics": same,
    }
    rows = [
        [
            "vbzarr `Project.performance_metrics()` (imaging + training sessions)",
            f"{med['vbzarr']:.2f}",
            "1.00",
        ],
        [
            "pynwb `read` + `to_dataframe` + the same algorithm, per file",
            f"{med['pynwb']:.2f}",
            f"{med['pynwb'] / med['vbzarr']:.1f}x",
        ],
    ]
    report = "\n".join(
        [
            f"# {NAME}\n",
            machine_markdown(results["machine"], results["command"]),
            f"Project: {len(files)} sessions ({results['nwb_bytes'] / 1e6:.0f} MB of NWB, "
            f"`{args.size}` factory size: 2 containers x {args.sessions} imaging sessions + 2 training "
            "sessions); medians of "
            f"{args.repeats} fresh processes; the same metrics from both routes: {same}.\n",
            md_table(["", "seconds", "peer / vbzarr"], rows),
        ]
    )
    write_results(NAME, results, report)
    print(report)
    print(json.dumps(med))
    return 0


if __name__ == "__main__":
    CHILDREN.entry(main)

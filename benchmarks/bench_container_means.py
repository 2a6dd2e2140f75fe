"""The whole-release-style average in one call: ``vbzarr.mean_by_container`` over 16 to 64
sessions (4 to 16 containers), against the per-container loop users write today.

What runs (one run; every measurement a fresh process on the same converted project, medians of
``--repeats``):

a. ``vbzarr.mean_by_container(project, experiments, by="experience_level", rate=30.0)`` over the
   first 4, 8 and 16 containers (4 sessions each): one lazy result, one ``compute``. Time, peak
   RSS (``VmHWM``), RSS before the compute, and the result's size.
b. The peer: for each container, ``project.dff`` + ``events_table`` + ``align`` + groupby mean,
   computed container by container in a Python loop (the recipe users port from the AllenSDK's
   per-session code), then concatenated. Same means (checked).

"Linear in sessions" is read from seconds per session at 16, 32 and 64 sessions; "memory bounded by
chunks" from peak RSS minus RSS before the compute minus the result, which must not grow with
sessions.

Usage (from the repository root)::

    python -m benchmarks run container_means             # small factory sessions, ~10 min
    python -m benchmarks run container_means --size tiny  # quick check
"""

from __future__ import annotations

import argparse
import time

from benchmarks.harness import (
    SCRATCH,
    Children,
    cached,
    current_rss_mb,
    factory_hash,
    git_state,
    guard_children,
    log,
    md_table,
    median,
    peak_rss_mb,
    publish,
    ratio,
    report_head,
)

NAME = "bench_container_means"
WINDOW, RATE, BY = (-1.0, 2.0), 30.0, "experience_level"


def _experiments(project, containers: int):
    table = project.ophys_experiment_table
    keep = table.ophys_container_id.drop_duplicates().iloc[:containers]
    return table[table.ophys_container_id.isin(keep)]


def child_one_call(p: dict) -> dict:
    import numpy as np

    import vbzarr

    t = time.perf_counter()
    project = vbzarr.open_project(p["dst"])
    experiments = _experiments(project, p["containers"])
    mean = vbzarr.mean_by_container(project, experiments, by=BY, window=WINDOW, rate=RATE)
    graph = time.perf_counter() - t
    before = current_rss_mb()
    values = mean.compute()
    return {
        "seconds": time.perf_counter() - t,
        "graph_s": graph,
        "sessions": len(experiments),
        "rss_before_compute_mb": before,
        "peak_mb": peak_rss_mb(),
        "result_mb": values.nbytes / 2**20,
        "checksum": float(np.nansum(values.values)),
        "cells": int(values.sizes["cell_specimen_id"]),
    }


def child_loop(p: dict) -> dict:
    import numpy as np
    import xarray as xr

    import vbzarr

    t = time.perf_counter()
    project = vbzarr.open_project(p["dst"])
    experiments = _experiments(project, p["containers"])
    means = []
    for _, container in experiments.groupby("ophys_container_id", sort=False):
        dff = project.dff(container)
        changes = project.events_table(container, query="is_change")
        aligned = vbzarr.align(dff, changes, WINDOW, rate=RATE)
        means.append(aligned.groupby(BY).mean("event").compute())
    values = xr.concat(means, "cell_specimen_id", join="outer")
    return {
        "seconds": time.perf_counter() - t,
        "sessions": len(experiments),
        "peak_mb": peak_rss_mb(),
        "checksum": float(np.nansum(values.values)),
    }


CHILDREN = Children(NAME, {"one_call": child_one_call, "loop": child_loop})


def project(size: str, containers: int, seed: int = 21) -> tuple[str, dict]:
    """A converted VBO project of ``containers`` x 4 sessions, made once."""
    root = SCRATCH / f"container-means-{size}-{containers}-{seed}"

    def make() -> dict:
        from vbzarr.convert.project import convert_project
        from vbzarr.testing.synthetic.project import make_vbo_project

        t = time.perf_counter()
        made = make_vbo_project(
            root / "release",
            n_containers=containers,
            sessions_per_container=4,
            behavior_only_sessions=0,
            size=size,
            seed=seed,
        )
        report = convert_project(str(root / "release"), str(root / "project"))
        assert not report.failed, report.failed
        return {
            "seconds": time.perf_counter() - t,
            "factory": factory_hash(),
            "nwb_bytes": report.converted_bytes,
            "experiments": len(made.ophys_experiment_table),
        }

    return str(root / "project"), cached(root, make, what=f"a {containers}-container {size} project")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run container_means", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", default="small")
    parser.add_argument("--containers", default="4,8,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    counts = [int(c) for c in args.containers.split(",")]
    dst, info = project(args.size, max(counts))
    if not args.no_wait:
        guard_children()
    machine = CHILDREN.machine()
    runs: dict[str, dict[int, list[dict]]] = {"one_call": {}, "loop": {}}
    for r in range(args.repeats):
        for c in counts:
            for route in runs:
                log(f"({r + 1}/{args.repeats}) {route}, {c} containers ...")
                runs[route].setdefault(c, []).append(CHILDREN.run(route, {"dst": dst, "containers": c}))
    results = {
        "machine": machine,
        "size": args.size,
        "project": info,
        "runs": runs,
    }
    publish(NAME, results, render, started, t0)
    return 0


def render(res: dict) -> str:
    rows = []
    first = None
    for c, runs in res["runs"]["one_call"].items():
        loop = res["runs"]["loop"][c]
        s = median([r["seconds"] for r in runs])
        sessions = runs[0]["sessions"]
        per = s / sessions
        first = first or per
        bounded = median([r["peak_mb"] - r["rss_before_compute_mb"] - r["result_mb"] for r in runs])
        same = all(abs(r["checksum"] - loop[0]["checksum"]) <= 1e-9 * abs(loop[0]["checksum"]) for r in runs)
        rows.append(
            [
                f"{sessions} ({c} containers, {runs[0]['cells']} cells)",
                f"{s:.2f} (graph {median([r['graph_s'] for r in runs]):.2f})",
                f"{per / first:.2f}",
                f"{median([r['peak_mb'] for r in runs]):.0f}",
                f"{median([r['rss_before_compute_mb'] for r in runs]):.0f}",
                f"{runs[0]['result_mb']:.1f}",
                f"{bounded:.0f}",
                f"{median([r['seconds'] for r in loop]):.2f}",
                f"{median([r['peak_mb'] for r in loop]):.0f}",
                ratio(s, median([r["seconds"] for r in loop])),
                "yes" if same else "NO",
            ]
        )
    info = res["project"]
    return "\n".join(
        [
            *report_head(NAME, res),
            f"Project: {info['experiments']} synthetic experiments (factory `{res['size']}` size, "
            f"{info['nwb_bytes'] / 1e9:.2f} GB of NWB, factory {info['factory']}), 4 sessions per "
            "container; the mean dF/F around every image change by cell and experience level, "
            f"30 Hz grid, window -1 to 2 s. Medians of {len(next(iter(res['runs']['loop'].values())))} "
            "fresh processes.\n",
            md_table(
                [
                    "sessions",
                    "one call: seconds",
                    "s per session (x first)",
                    "peak RSS MiB",
                    "RSS before compute",
                    "result MiB",
                    "peak - before - result",
                    "loop: seconds",
                    "loop: peak RSS",
                    "loop / one call",
                    "same means",
                ],
                rows,
            ),  # fmt: skip
            "",
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

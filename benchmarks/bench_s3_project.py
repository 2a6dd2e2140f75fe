"""A cross-session read of a vbzarr project on S3, vbzarr vs plain xarray per store.

A synthetic VBO project (``--containers`` x ``--sessions`` sessions, factory ``--size``) is
converted, uploaded to moto's S3 server on 127.0.0.1 (``vbzarr.testing.s3``, which counts the
requests), and each route runs in a fresh process (imports untimed), ``--repeats`` times:

a. vbzarr: ``open_project`` -> ``project.dff(sessions)`` (each session's ``ophys`` group opened;
   no trace read) -> ``project.events_table(sessions, "stimulus_presentations")`` (read whole).
b. Plain xarray on the repository, what a user does without ``Project``: Icechunk's read-only
   session of the branch, then per session ``xr.open_zarr(session.store,
   group="ophys_experiments/<id>/ophys")`` and the same for ``stimulus_presentations``, then
   ``vbzarr.to_dataframe`` of the presentations.

Both read the same arrays from the same Icechunk repository (converted into the bucket). Reported:
median time, GETs and bytes served. moto on localhost answers in about a millisecond; real S3
takes tens of milliseconds per request, so the GET counts carry over and times are a lower bound.

Usage (from the repository root)::

    python -m benchmarks run s3_project
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.harness import (
    SCRATCH,
    Children,
    cached,
    command,
    git_state,
    machine,
    machine_markdown,
    md_table,
    write_results,
)

NAME = "bench_s3_project"
ROUTES = {
    "vbzarr": "a. vbzarr `open_project` + `dff` + `events_table`",
    "xarray": "b. `xr.open_zarr` per session and group on the Icechunk session",
}


def child_make(p: dict) -> dict:
    from vbzarr.testing.synthetic.project import make_vbo_project

    make_vbo_project(
        Path(p["root"]) / "src",
        n_containers=p["containers"],
        sessions_per_container=p["sessions"],
        behavior_only_sessions=0,
        size=p["size"],
        seed=p["seed"],
    )
    return {}


def child_convert(p: dict) -> dict:
    from vbzarr.convert.project import convert_project

    report = convert_project(p["src"], p["url"], storage_options=p["storage_options"])
    assert not report.failed, report.failed
    return {}


def child_read(p: dict) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import xarray as xr

    import vbzarr

    options, url = p["storage_options"], p["url"]
    ids = p["ids"]
    t0 = time.perf_counter()
    if p["route"] == "vbzarr":
        project = vbzarr.open_project(url, storage_options=options)
        dff = project.dff(ids)
        events = project.events_table(ids, "stimulus_presentations")
        n_cells, n_events = dff.sizes["cell_specimen_id"], len(events)
    else:
        import icechunk

        from vbzarr.repository import storage

        session = icechunk.Repository.open(storage(url, options)).readonly_session("main")
        n_cells = n_events = 0
        for eid in ids:
            group = f"ophys_experiments/{eid}"
            ophys = xr.open_zarr(session.store, group=f"{group}/ophys", consolidated=False)
            pres = xr.open_zarr(session.store, group=f"{group}/stimulus_presentations", consolidated=False)
            n_cells += ophys.sizes["cell_specimen_id"]
            n_events += len(vbzarr.to_dataframe(pres))
    return {"seconds": time.perf_counter() - t0, "cells": int(n_cells), "events": int(n_events)}


CHILDREN = Children(NAME, {"make": child_make, "convert": child_convert, "read": child_read})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run s3_project", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--containers", type=int, default=2)
    ap.add_argument("--sessions", type=int, default=4, help="sessions per container")
    ap.add_argument("--size", default="small", help="factory size preset")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from vbzarr.testing.s3 import CountingS3Server

    t_start = time.perf_counter()
    root = SCRATCH / f"s3-project-{args.containers}x{args.sessions}-{args.size}-{args.seed}"
    cached(
        root,
        lambda: CHILDREN.run(
            "make",
            {
                "root": str(root),
                "containers": args.containers,
                "sessions": args.sessions,
                "size": args.size,
                "seed": args.seed,
            },
        ),
        "making the project",
    )
    import pandas as pd

    table = pd.read_csv(root / "src" / "project_metadata" / "ophys_experiment_table.csv")
    ids = [int(i) for i in table["ophys_experiment_id"]]
    runs: dict[str, list[dict]] = {}
    with CountingS3Server() as s3:
        s3.make_bucket("bench")
        options = s3.storage_options()
        convert = {"src": str(root / "src"), "url": "s3://bench/vbo", "storage_options": options}
        CHILDREN.run("convert", convert)
        for _ in range(args.repeats):
            for route in ROUTES:
                s3.reset()
                r = CHILDREN.run(
                    "read", {"route": route, "url": "s3://bench/vbo", "storage_options": options, "ids": ids}
                )
                r.update(gets=s3.count("GET"), heads=s3.count("HEAD"), bytes=s3.bytes_sent)
                runs.setdefault(route, []).append(r)
                print(f"{route:7s} {r['seconds']:.2f} s, GETs {r['gets']}, HEADs {r['heads']}", flush=True)
    results = {
        "machine": machine(),
        "command": command(),
        "git": git_state(),
        "sessions": len(ids),
        "args": vars(args),
        "runs": runs,
        "seconds": time.perf_counter() - t_start,
    }
    write_results(NAME, results, render(results))
    return 0


def render(r: dict) -> str:
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in r["runs"].items()}
    rows = [
        [
            label,
            f"{med[k]:.2f} s",
            r["runs"][k][-1]["gets"],
            r["runs"][k][-1]["heads"],
            f"{r['runs'][k][-1]['bytes'] / 1e6:.1f} MB",
            r["runs"][k][-1]["cells"],
            r["runs"][k][-1]["events"],
        ]
        for k, label in ROUTES.items()
    ]
    a = r["args"]
    return (
        "# A project's sessions opened from S3 (moto on 127.0.0.1)\n\n"
        + machine_markdown(r["machine"], r["command"], r["seconds"])
        + f"\nCode: commit `{r['git']['head']}`. Project: {a['containers']} containers x "
        f"{a['sessions']} sessions ({r['sessions']} experiments, factory size `{a['size']}`); "
        f"fresh process per run, imports untimed, median of {a['repeats']}.\n\n"
        + md_table(["route", "time", "GETs", "HEADs", "served", "cells", "presentations"], rows)
        + f"\nTime of plain xarray / time of vbzarr: **{med['xarray'] / med['vbzarr']:.2f}x**. Both read "
        "through one Icechunk session (no HEAD per GET, one connection pool). Cells: vbzarr's union "
        "over the sessions (cells are matched across a container), xarray's summed per session.\n"
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

"""S3 requests and seconds of converting Neuropixels (VBN) sessions, LFP included, into a project
on S3: the per-file and per-MB costs the release plan of `bench_cluster` scales to VBN.

What runs (one run; each conversion a fresh process, into a new project on moto's S3 server on
127.0.0.1, ``vbzarr.testing.s3``, which counts the requests):

a. One synthetic VBN session (with its probes' LFP files) of the factory's ``tiny`` size and one
   of its ``small`` size, each alone in a released layout, converted with ``convert_project``:
   PUTs, GETs and HEADs, NWB bytes, seconds and CPU seconds.
b. A line through the two points, requests = per file + per MB x MB, extrapolates to a released
   session's size (a full-size session is not generated here: it takes about 20 minutes).

Usage (from the repository root)::

    python -m benchmarks run vbn_requests
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
    line,
    log,
    md_table,
    publish,
    report_head,
)

NAME = "bench_vbn_requests"
SIZES = ("tiny", "small")


def child_convert(p: dict) -> dict:
    from vbzarr.convert.project import convert_project
    from vbzarr.testing.s3 import CountingS3Server

    with CountingS3Server() as s3:
        s3.make_bucket("bench")
        s3.reset()
        t = time.perf_counter()
        report = convert_project(p["src"], "s3://bench/vbn", storage_options=s3.storage_options())
        seconds = time.perf_counter() - t
        assert not report.failed, report.describe()
        assert len(report.converted) == 1, report.describe()
        return {
            "seconds": seconds,
            "nwb_bytes": report.converted_bytes,
            "requests": {m: s3.count(m) for m in ("PUT", "GET", "HEAD", "POST", "DELETE")},
        }


CHILDREN = Children(NAME, {"convert": child_convert})


def release(size: str, seed: int = 3) -> str:
    """A VBN release of one ecephys session (with LFP) and no behavior-only session."""
    root = SCRATCH / f"vbn-requests-{size}-{seed}"

    def make() -> dict:
        from vbzarr.testing.synthetic.vbn_project import make_vbn_project

        t = time.perf_counter()
        make_vbn_project(root, n_sessions=1, behavior_only_sessions=0, size=size, seed=seed)
        return {"seconds": time.perf_counter() - t, "factory": factory_hash()}

    cached(root, make, what=f"a {size} VBN session")
    return str(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run vbn_requests", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    sources = {size: release(size) for size in SIZES}
    if not args.no_wait:
        guard_children()
    runs = {}
    for size, src in sources.items():
        log(f"{size}: convert_project into moto ...")
        runs[size] = CHILDREN.run("convert", {"src": src})
    results = {"machine": CHILDREN.machine(), "runs": runs, "fit": fit(runs)}
    publish(NAME, results, render, started, t0)
    return 0


def fit(runs: dict) -> dict:
    """Requests per file and per MB of NWB, through the two sessions' points."""
    (a, b) = (runs[s] for s in SIZES)
    out = {}
    for method in ("PUT", "GET"):
        per_file, per_mb = line(
            a["nwb_bytes"] / 1e6, a["requests"][method], b["nwb_bytes"] / 1e6, b["requests"][method]
        )
        out[method] = {"per_file": per_file, "per_mb": per_mb}
    return out


def render(res: dict) -> str:
    rows = [
        [
            size,
            f"{r['nwb_bytes'] / 1e6:.0f}",
            f"{r['seconds']:.1f}",
            f"{r['child_cpu_s']:.1f}",
            ", ".join(f"{k} {v}" for k, v in r["requests"].items() if v),
        ]
        for size, r in res["runs"].items()
    ]
    f = res["fit"]
    return "\n".join(
        [
            *report_head(NAME, res),
            "One synthetic VBN session with the LFP of its probes, in a released layout, converted "
            "into a new project on moto's S3 server (fresh process each).\n",
            md_table(["size", "MB of NWB", "seconds", "CPU seconds", "requests"], rows),
            "",
            f"Through the two points: {f['PUT']['per_file']:.0f} PUTs per file + "
            f"{f['PUT']['per_mb']:.2f} per MB of NWB; {f['GET']['per_file']:.0f} GETs per file + "
            f"{f['GET']['per_mb']:.3f} per MB.\n",
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

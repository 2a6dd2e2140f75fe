"""Commits at the releases' scale: what one file's commit costs when the project already holds
hundreds or thousands of stores, how large each snapshot gets, and how long a project of that size
takes to open; against the same commit into a project of two stores.

Why: every Icechunk commit writes a snapshot that lists every node (group and array) of every
store in the project. Converting VBO's 6,015 files (1,936 ophys experiments, 4,079 behavior-only
sessions) with one commit per file therefore writes 6,015 snapshots of a size growing with the
project; this measures how much that is, and what ``convert_project``'s batches (``Batches``)
cost instead (in ``bench_cluster``'s release plan).

What runs (one run, in a fresh process; a local project on this machine's disk):

a. A tiny synthetic VBO release (one ophys experiment, one behavior-only session) converted with
   ``convert_project``: the real stores, the templates of the others.
b. The project is filled with metadata-only stores, copies of the two real stores' group and
   array metadata under new ids (no chunk is written: a snapshot lists nodes, not chunks), in
   the release's proportion of ophys to behavior stores, in batch commits, up to each checkpoint.
c. At each checkpoint, ``convert_job`` converts the real ophys file into a new store (a fork of
   a new ``Batches``) and the batch of that one file is committed (three times): the seconds of
   the whole job and of its commit, and the size of the snapshot it wrote. Then once more as on
   a dask worker: the fork pickled, converted into in a fresh process (a ``worker`` child, which
   reports its peak RSS, ``VmHWM``), pickled back, merged and committed; the pickles' sizes are
   what goes over the network each way. Then ``open_project`` and its first table on a new
   repository object (the snapshot read from disk, not a cache).

d. On the grown project: ``open_project``, one store's tree and its presentations, with vbzarr's
   cache of snapshot nodes and with Icechunk's default one (500,000 nodes, fewer than the project
   holds), each read in a fresh process (its seconds and peak RSS), alternating, ``--repeats``
   processes each (medians); and the size of the project's snapshot decompressed.

Peers: the same job's commit into the project of the two real stores (the first checkpoint); the
read of d. with Icechunk's default cache.

Usage (from the repository root)::

    python -m benchmarks run commits
    python -m benchmarks run commits --checkpoints 0,500,1500,3000,6015
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
    median,
    publish,
    ratio,
    report_head,
)

NAME = "bench_commits"
#: The releases' stores: VBO 1,936 ophys experiments + 4,079 behavior-only sessions (4,782
#: behavior sessions, 703 of them ophys sessions); VBN 153 ecephys sessions + 3,271 behavior-only.
RELEASE_STORES = {"VBO": (1936, 4079), "VBN": (153, 3271)}
#: Metadata-only stores added per batch commit while filling.
FILL_BATCH = 100
#: Timed commits per checkpoint.
REPEATS = 3


def child_worker(p: dict) -> dict:
    """One file converted as a dask worker converts it: a pickled fork in, the fork out."""
    import pickle
    from pathlib import Path

    from benchmarks.harness import peak_rss_mb
    from vbzarr.convert.project import Job, Task, convert_job

    fork = pickle.loads(Path(p["fork"]).read_bytes())
    before = peak_rss_mb()
    t = time.perf_counter()
    done = convert_job(Task(Job("ophys_experiment", p["id"], p["source"]), fork), threads=1)
    seconds = time.perf_counter() - t
    out = pickle.dumps(done)
    Path(p["out"]).write_bytes(out)
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "before_mb": before, "fork_out_bytes": len(out)}


ZSTD_MAGIC = bytes([0x28, 0xB5, 0x2F, 0xFD])  # a zstd frame's first bytes (after Icechunk's header)


def child_read(p: dict) -> dict:
    """``open_project``, one store's tree and its presentations, in a fresh process: seconds of
    each and the peak RSS, with vbzarr's cache of snapshot nodes or Icechunk's default."""
    import icechunk

    import vbzarr
    from benchmarks.harness import peak_rss_mb
    from vbzarr import repository

    if p["cache"] == "icechunk default":
        repository.CONFIG = icechunk.RepositoryConfig(manifest=repository.CONFIG.manifest)
    before = peak_rss_mb()
    t0 = time.perf_counter()
    project = vbzarr.open_project(p["url"])
    project.ophys_experiment_table  # noqa: B018 - the first table, as a user's first step
    t1 = time.perf_counter()
    tree = project.ophys_experiment(p["ophys_id"])
    t2 = time.perf_counter()
    vbzarr.to_dataframe(tree["stimulus_presentations"])
    t3 = time.perf_counter()
    return {
        "open_s": t1 - t0,
        "tree_s": t2 - t1,
        "table_s": t3 - t2,
        "seconds": t3 - t0,
        "peak_rss_mb": peak_rss_mb(),
        "before_mb": before,
    }


def child_grow(p: dict) -> dict:
    import pickle
    import shutil
    from pathlib import Path

    import zarr
    from numcodecs import Zstd
    from zarr.core.buffer import default_buffer_prototype

    import vbzarr
    from vbzarr.convert.commits import Batches
    from vbzarr.convert.project import Job, Task, convert_job
    from vbzarr.repository import BRANCH, open_repository
    from vbzarr.store import concurrently

    dst = Path(p["work"]) / "project"
    shutil.rmtree(dst.parent, ignore_errors=True)
    shutil.copytree(p["project"], dst)
    url = str(dst)

    def metadata(store, prefix: str) -> dict[str, bytes]:
        """Every ``zarr.json`` under ``prefix`` (the store's groups and arrays), by relative key."""

        async def keys() -> list[str]:
            return [k async for k in store.list_prefix(prefix + "/") if k.endswith("zarr.json")]

        found = zarr.core.sync.sync(keys())
        proto = default_buffer_prototype()
        values = concurrently(store.get(k, proto) for k in found)
        return {k[len(prefix) :]: v.to_bytes() for k, v in zip(found, values, strict=True)}

    repo = open_repository(url, None)
    tip = repo.readonly_session(BRANCH).store
    templates = {
        "ophys_experiments": metadata(tip, f"ophys_experiments/{p['ophys_id']}"),
        "behavior_sessions": metadata(tip, f"behavior_sessions/{p['behavior_id']}"),
    }
    n_ophys, n_behavior = p["release"]
    share = n_ophys / (n_ophys + n_behavior)
    counts = {"ophys_experiments": 0, "behavior_sessions": 0}
    next_id = 10**9

    def fill(n: int) -> None:
        nonlocal next_id
        # A new repository object per commit, as Batches opens one per batch: a long-lived one
        # caches every snapshot it committed.
        session = open_repository(url, None).writable_session(BRANCH)
        buffer = zarr.core.buffer.cpu.Buffer
        writes = []
        for _ in range(n):
            folder = (
                "ophys_experiments"
                if counts["ophys_experiments"] < share * (sum(counts.values()) + 1)
                else "behavior_sessions"
            )
            counts[folder] += 1
            next_id += 1
            for key, value in templates[folder].items():
                writes.append(session.store.set(f"{folder}/{next_id}{key}", buffer.from_bytes(value)))
        concurrently(writes)
        session.commit(f"fill: {n} metadata-only stores")

    def newest_snapshot_bytes(decompressed: bool = False) -> int:
        """The newest snapshot file's size; or its zstd frame's, decompressed (what a reader of
        the project holds in memory)."""
        newest = max((dst / "snapshots").iterdir(), key=lambda f: f.stat().st_mtime_ns)
        if not decompressed:
            return newest.stat().st_size
        data = newest.read_bytes()
        return len(Zstd().decode(data[data.index(ZSTD_MAGIC) :]))

    rows = []
    filled = 0
    for checkpoint in p["checkpoints"]:
        t = time.perf_counter()
        while filled < checkpoint:
            n = min(FILL_BATCH, checkpoint - filled)
            fill(n)
            filled += n
        fill_s = time.perf_counter() - t
        stores = filled + 2  # + the two real stores
        jobs, commits, snapshot_bytes = [], [], []
        for _ in range(p["repeats"]):
            next_id += 1
            batches = Batches(open_repository(url, None), url)  # as a run starts: forks of the tip
            job = Job("ophys_experiment", next_id, p["ophys_source"])
            t = time.perf_counter()
            fork = convert_job(Task(job, batches.fork()), threads=1)
            batches.add(job, fork)
            t_commit = time.perf_counter()
            assert batches.commit() == [(job, None)]
            jobs.append(time.perf_counter() - t)
            commits.append(time.perf_counter() - t_commit)
            snapshot_bytes.append(newest_snapshot_bytes())
            filled += 1
        # Once more as on a dask worker: the fork pickled to a fresh process and back.
        next_id += 1
        batches = Batches(open_repository(url, None), url)
        fork_in = pickle.dumps(batches.fork())
        (dst.parent / "fork-in.pkl").write_bytes(fork_in)
        worker = CHILDREN.run(
            "worker",
            {
                "fork": str(dst.parent / "fork-in.pkl"),
                "out": str(dst.parent / "fork-out.pkl"),
                "id": next_id,
                "source": p["ophys_source"],
            },
        )
        job = Job("ophys_experiment", next_id, p["ophys_source"])
        batches.add(job, pickle.loads((dst.parent / "fork-out.pkl").read_bytes()))
        assert batches.commit() == [(job, None)]
        worker["fork_in_bytes"] = len(fork_in)
        filled += 1
        t = time.perf_counter()
        project = vbzarr.open_project(url)
        project.ophys_experiment_table  # noqa: B018 - the first table, as a user's first step
        open_s = time.perf_counter() - t
        rows.append(
            {
                "stores": stores,
                "fill_s": fill_s,
                "job_s": jobs,
                "commit_s": commits,
                "snapshot_bytes": snapshot_bytes,
                "open_s": open_s,
                "worker": worker,
            }
        )
        log(
            f"  {stores} stores: commit {median(commits):.3f} s of a {median(jobs):.3f} s job, "
            f"snapshot {snapshot_bytes[-1] / 1e6:.2f} MB, open {open_s:.2f} s (filled in {fill_s:.0f} s); "
            f"a worker's peak RSS {worker['peak_rss_mb']:.0f} MB, forks pickled {len(fork_in) / 1e3:.1f} kB "
            f"in, {worker['fork_out_bytes'] / 1e3:.1f} kB out"
        )
    # The grown project read as a user opens it (a fresh process each time), with vbzarr's cache
    # of snapshot nodes and with Icechunk's default; alternating, so neither is always second.
    rounds: dict[str, list[dict]] = {"vbzarr": [], "icechunk default": []}
    for name in ["icechunk default", "vbzarr"] * p["repeats"]:
        read = CHILDREN.run("read", {"url": url, "ophys_id": p["ophys_id"], "cache": name})
        rounds[name].append(read)
        log(
            f"  {name} cache: open_project {read['open_s']:.2f} s, one store's tree {read['tree_s']:.2f} s, "
            f"its presentations {read['table_s']:.2f} s; peak RSS {read['peak_rss_mb']:.0f} MB"
        )
    reads = {name: median([r["seconds"] for r in rs]) for name, rs in rounds.items()}
    snapshot = newest_snapshot_bytes(decompressed=True)
    nodes = {k: len(v) for k, v in templates.items()}
    shutil.rmtree(dst.parent, ignore_errors=True)
    return {
        "rows": rows,
        "nodes_per_store": nodes,
        "reads": reads,
        "read_rounds": rounds,
        "snapshot_decompressed_bytes": snapshot,
    }


CHILDREN = Children(NAME, {"grow": child_grow, "worker": child_worker, "read": child_read})


def release(seed: int = 41) -> dict:
    """A tiny VBO release of one ophys experiment and one behavior-only session, converted."""
    root = SCRATCH / f"commits-tiny-{seed}"

    def make() -> dict:
        from vbzarr.convert.project import convert_project
        from vbzarr.testing.synthetic.project import make_vbo_project

        made = make_vbo_project(
            root / "release",
            n_containers=1,
            sessions_per_container=1,
            behavior_only_sessions=1,
            size="tiny",
            seed=seed,
        )
        report = convert_project(str(root / "release"), str(root / "project"))
        assert not report.failed, report.failed
        ophys_id = int(made.ophys_experiment_table.index[0])
        behavior_ids = set(made.behavior_session_table.index) - set(
            made.ophys_experiment_table.behavior_session_id
        )
        return {
            "project": str(root / "project"),
            "ophys_id": ophys_id,
            "ophys_source": str(made.experiment_path(ophys_id)),
            "behavior_id": int(min(behavior_ids)),
            "factory": factory_hash(),
        }

    return cached(root, make, what="a tiny VBO release of two files")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run commits", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--checkpoints", default="0,500,1500,3000,6015")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    info = release()
    if not args.no_wait:
        guard_children()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    log(f"growing a project to {checkpoints[-1]} stores ...")
    grown = CHILDREN.run(
        "grow",
        {
            **info,
            "work": str(SCRATCH / "commits-work"),
            "checkpoints": checkpoints,
            "repeats": args.repeats,
            "release": RELEASE_STORES["VBO"],
        },
    )
    results = {"machine": CHILDREN.machine(), "release": info, "grown": grown}
    publish(NAME, results, render, started, t0)
    return 0


def fit(rows: list[dict], key: str) -> tuple[float, float]:
    """``(intercept, per store)`` of a line through the first and last checkpoints' medians."""
    first, last = rows[0], rows[-1]
    return line(first["stores"], median(first[key]), last["stores"], median(last[key]))


def per_file(rows: list[dict], n_stores: int) -> dict:
    """Snapshot bytes and commit seconds of converting ``n_stores`` files, one commit each."""
    out = {}
    for key in ("snapshot_bytes", "commit_s"):
        base, slope = fit(rows, key)
        out[key] = base * n_stores + slope * n_stores * (n_stores + 1) / 2
    out["commits"] = n_stores
    return out


def worker_growth_mb(rows: list[dict], n_stores: int) -> float | None:
    """A worker's peak RSS above its peak in a 2-store project, converting into a project of
    ``n_stores`` (the fork's base snapshot read into Icechunk's caches): a line through the first
    and last checkpoints' worker children; None when the run had no worker children."""
    if "worker" not in rows[0]:
        return None
    first, last = rows[0], rows[-1]
    peaks = first["worker"]["peak_rss_mb"], last["worker"]["peak_rss_mb"]
    _, slope = line(first["stores"], peaks[0], last["stores"], peaks[1])
    return slope * (n_stores - first["stores"])


def batched(rows: list[dict], n_stores: int, seconds: float) -> dict:
    """The same for ``convert_project``'s batches (``Batches``), files finishing at an even rate
    over a run of ``seconds``: a batch is committed once the time since the last commit is
    ``COMMIT_WAIT_FACTOR`` times that commit's duration (at least ``MIN_COMMIT_INTERVAL``)."""
    from vbzarr.convert.commits import COMMIT_WAIT_FACTOR, MIN_COMMIT_INTERVAL

    (c0, c1), (s0, s1) = fit(rows, "commit_s"), fit(rows, "snapshot_bytes")
    rate = n_stores / seconds
    t, last_end, last_c, committed = 0.0, 0.0, 0.0, 0
    out = {"commits": 0, "commit_s": 0.0, "snapshot_bytes": 0.0, "largest_batch": 0}
    while committed < n_stores:
        t = max(t, last_end + max(MIN_COMMIT_INTERVAL, COMMIT_WAIT_FACTOR * last_c))
        finished = min(n_stores, int(rate * t))
        batch = max(finished - committed, 1 if t >= seconds else 0)
        if not batch:
            t = (committed + 1) / rate
            continue
        committed += batch
        last_c = c0 + c1 * committed
        last_end = t = t + last_c
        out["commits"] += 1
        out["commit_s"] += last_c
        out["snapshot_bytes"] += s0 + s1 * committed
        out["largest_batch"] = max(out["largest_batch"], batch)
    out["run_s"] = max(seconds, last_end)
    return out


def render(res: dict) -> str:
    g = res["grown"]
    rows, base = g["rows"], g["rows"][0]
    table = [
        [
            f"{r['stores']:,}",
            f"{median(r['commit_s']):.3f}",
            ratio(median(base["commit_s"]), median(r["commit_s"])),
            f"{median(r['job_s']):.3f}",
            f"{median(r['commit_s']) / median(r['job_s']):.0%}",
            f"{median(r['snapshot_bytes']) / 1e6:.2f}",
            f"{r['open_s']:.2f}",
            *(
                [
                    f"{r['worker']['peak_rss_mb']:.0f} ({r['worker']['before_mb']:.0f} before)",
                    f"{r['worker']['fork_in_bytes'] / 1e3:.1f} / {r['worker']['fork_out_bytes'] / 1e3:.1f}",
                ]
                if "worker" in r
                else []
            ),
        ]
        for r in rows
    ]
    worker = "worker" in base
    lines = [
        *report_head(NAME, res),
        f"A local project grown with metadata-only stores ({g['nodes_per_store']['ophys_experiments']} "
        f"nodes per ophys store, {g['nodes_per_store']['behavior_sessions']} per behavior store, in VBO's "
        "proportion), then one tiny ophys file converted by `convert_job` into a fork and committed "
        f"as a batch of one ({len(base['commit_s'])} times per row; medians).\n",
        md_table(
            [
                "stores in the project",
                "commit s",
                "commit time / 2-store project's",
                "whole job s",
                "commit's share",
                "snapshot MB",
                "open_project + first table s",
                *(["a worker's peak RSS MB", "fork pickled in / out kB"] if worker else []),
            ],
            table,
        ),
        "",
    ]
    if worker:
        lines.append(
            "A worker's figures: one more job per row, converted as on a dask worker (the fork "
            "pickled to a fresh process, converted into there, pickled back, merged and committed): "
            "the process's peak RSS (`VmHWM`; before: after its imports and unpickling the fork) and "
            "the pickles' sizes.\n"
        )
    reads = g["reads"]
    text = (
        f"Reading the grown project ({rows[-1]['stores'] + len(base['commit_s']) + worker:,} stores): "
        "`open_project` and its first table, one store's tree and its presentations as a DataFrame "
        f"took {reads['vbzarr']:.2f} s with vbzarr's cache of snapshot nodes "
        f"(`vbzarr.repository.SNAPSHOT_NODES`) and {reads['icechunk default']:.2f} s with Icechunk's "
        f"default (500,000 nodes): {ratio(reads['vbzarr'], reads['icechunk default'])}"
    )
    ours = g["read_rounds"]["vbzarr"]
    text += (
        f" (medians of {len(ours)} fresh processes each, alternating; with vbzarr's cache: "
        f"open_project {median([r['open_s'] for r in ours]):.2f} s, the tree "
        f"{median([r['tree_s'] for r in ours]):.2f} s, the presentations "
        f"{median([r['table_s'] for r in ours]):.2f} s, peak RSS "
        f"{median([r['peak_rss_mb'] for r in ours]):.0f} MB against "
        f"{median([r['before_mb'] for r in ours]):.0f} MB after imports). The project's "
        f"snapshot is {median(rows[-1]['snapshot_bytes']) / 1e6:.1f} MB on disk and "
        f"{g['snapshot_decompressed_bytes'] / 1e6:.0f} MB decompressed, which every reader and "
        "every worker's fork holds once it opens the project"
    )
    lines.append(text + ".\n")
    for name, (n_ophys, n_behavior) in RELEASE_STORES.items():
        n = n_ophys + n_behavior
        one = per_file(rows, n)
        lines.append(
            f"- {name} ({n:,} files), one commit per file: {one['snapshot_bytes'] / 1e9:.0f} GB of "
            f"snapshots written and {one['commit_s'] / 3600:.1f} h of commits, which succeed one at "
            "a time (lines through the first and last rows)."
        )
    lines.append(
        "\n`convert_project` therefore commits in batches (`vbzarr.convert.commits.Batches`); "
        "`bench_cluster`'s release plan gives their commits and snapshot bytes from these lines.\n"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    CHILDREN.entry(main)

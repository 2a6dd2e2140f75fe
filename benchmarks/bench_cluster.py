"""Converting a release on a dask cluster: scaling with workers, the default choice, memory per
worker, object-store requests, and the release-wide change-aligned average.

What runs (one run, each route side by side, every conversion in a fresh process into a fresh
project from the same warm sources):

a. ``convert_project`` of a release of ``--files`` realistic-size synthetic ophys experiments
   (the factory's ``realistic`` preset: 637 MB NWB, 80 cells, 60-minute task) with
   1 worker x 1 thread (one file at a time, in the process), 1 worker x N threads (in the
   process), N workers x 1 thread (a LocalCluster), the default choice (``workers=None``), and
   ``--scheduler`` on an existing cluster (``dask scheduler`` + ``dask worker --nworkers N
   --nthreads 1`` started as processes on 127.0.0.1: dask's defaults, and with the nannies
   starting workers without ``MALLOC_TRIM_THRESHOLD_`` as ``--workers`` does). Peak RSS of every worker
   (``VmHWM`` polled from /proc) and of the converting process.
b. The single-file converter (``convert_nwb`` into a plain store) on one of the files, with 1 and
   N threads: the per-file time the project path is compared with.
c. Requests: two of the files converted into a project on moto's S3 server on 127.0.0.1
   (``vbzarr.testing.s3``), PUTs, GETs and bytes counted by the server.
d. The release-wide change-aligned average (``vbzarr.mean_by_container`` over every experiment),
   on the threaded scheduler and on a LocalCluster of N workers.

Usage (from the repository root)::

    python -m benchmarks run cluster                       # 16 realistic files (~10 GB), ~25 min
    python -m benchmarks run cluster --files 4 --size small  # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import bench_commits, bench_lfp
from benchmarks.harness import (
    RESULTS,
    SCRATCH,
    Children,
    cached,
    du_bytes,
    factory_hash,
    fmt_mb,
    git_state,
    guard_children,
    log,
    md_table,
    median,
    peak_rss_mb,
    publish,
    ratio,
    read_results,
    report_head,
    warm_page_cache,
)
from vbzarr.convert.cluster import NO_MALLOC_TRIM_YAML

NAME = "bench_cluster"


# ------------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------------
class PeakWatcher:
    """Polls the peak RSS (``VmHWM``) of a set of processes (this one's descendants, or given
    pids) until stopped; ``peaks`` maps pid -> (command, MB)."""

    def __init__(self, pids: list[int] | None = None, every: float = 0.25) -> None:
        self.pids, self.every = pids, every
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        import psutil

        while not self._stop.wait(self.every):
            procs = (
                [psutil.Process(p) for p in self.pids]
                if self.pids
                else psutil.Process().children(recursive=True)
            )
            for proc in procs:
                try:
                    mb = peak_rss_mb(proc.pid)
                    if mb is not None:
                        cmd = " ".join(proc.cmdline())[-80:]
                        self.peaks[proc.pid] = (cmd, max(mb, self.peaks.get(proc.pid, ("", 0.0))[1]))
                except (psutil.Error, OSError):
                    continue

    def workers(self) -> list[float]:
        """Peak MB of the processes that converted (not nannies, schedulers or resource trackers)."""
        return sorted(
            mb for cmd, mb in self.peaks.values() if "nanny" not in cmd and "resource_tracker" not in cmd
        )


def child_project(p: dict) -> dict:
    from vbzarr.convert.project import convert_project

    shutil.rmtree(p["dst"], ignore_errors=True)  # a redone run (another process overlapped) starts afresh

    with PeakWatcher() as watch:
        t = time.perf_counter()
        report = convert_project(
            p["src"],
            p["dst"],
            workers=p.get("workers"),
            threads=p.get("threads"),
            scheduler=p.get("scheduler"),
            storage_options=p.get("storage_options"),
        )
        seconds = time.perf_counter() - t
    assert not report.failed, report.failed
    return {
        "seconds": seconds,
        "converted": len(report.converted),
        "bytes": report.converted_bytes,
        "parallelism": report.parallelism,
        "worker_peaks_mb": watch.workers(),
        "process_peak_mb": peak_rss_mb(),
    }


def child_single(p: dict) -> dict:
    from vbzarr.convert.convert import convert_nwb

    shutil.rmtree(p["dst"], ignore_errors=True)

    t = time.perf_counter()
    convert_nwb(p["src"], p["dst"], threads=p["threads"])
    return {"seconds": time.perf_counter() - t, "process_peak_mb": peak_rss_mb()}


def child_cluster_start(p: dict) -> dict:
    """Seconds to start a LocalCluster of ``workers`` processes (as ``convert_project`` does), and
    to close it."""
    import dask
    from dask.distributed import Client, LocalCluster

    from vbzarr.convert.cluster import NO_MALLOC_TRIM

    t = time.perf_counter()
    with dask.config.set(NO_MALLOC_TRIM):
        cluster = LocalCluster(
            n_workers=p["workers"], threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    client = Client(cluster)
    started = time.perf_counter() - t
    client.close()
    cluster.close()
    return {"start_s": started, "total_s": time.perf_counter() - t}


def child_mean(p: dict) -> dict:
    import dask

    import vbzarr

    project = vbzarr.open_project(p["dst"])
    experiments = project.ophys_experiment_table
    client = None
    if p["workers"]:
        from dask.distributed import Client, LocalCluster

        from vbzarr.convert.cluster import NO_MALLOC_TRIM

        with dask.config.set(NO_MALLOC_TRIM):
            cluster = LocalCluster(n_workers=p["workers"], threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    t = time.perf_counter()
    mean = vbzarr.mean_by_container(project, experiments, window=(-1.0, 2.0), rate=30.0)
    values = mean.compute(scheduler=None if client else "threads")
    seconds = time.perf_counter() - t
    if client is not None:
        client.close()
        cluster.close()
    return {
        "seconds": seconds,
        "experiments": len(experiments),
        "checksum": float(values.sum()),
        "process_peak_mb": peak_rss_mb(),
    }


def child_s3(p: dict) -> dict:
    from vbzarr.convert.project import convert_project
    from vbzarr.testing.s3 import CountingS3Server

    with CountingS3Server() as s3:
        s3.make_bucket("bench")
        s3.reset()
        t = time.perf_counter()  # a fresh server per run: a redone run starts afresh
        report = convert_project(p["src"], "s3://bench/vbo", workers=1, storage_options=s3.storage_options())
        seconds = time.perf_counter() - t
        assert not report.failed, report.failed
        counts = {m: s3.count(m) for m in ("PUT", "GET", "HEAD", "POST", "DELETE")}
        return {
            "seconds": seconds,
            "files": len(report.converted),
            "nwb_bytes": report.converted_bytes,
            "requests": counts,
        }


CHILDREN = Children(
    NAME,
    {
        "project": child_project,
        "single": child_single,
        "mean": child_mean,
        "s3": child_s3,
        "cluster_start": child_cluster_start,
    },
)


# ------------------------------------------------------------------------------------------------
# The release and an external cluster
# ------------------------------------------------------------------------------------------------
def release(files: int, size: str, seed: int = 7) -> tuple[Path, dict]:
    """A VBO release of ``files`` experiments (containers of 4 sessions), generated once."""
    root = SCRATCH / f"cluster-release-{files}-{size}-{seed}"

    def make() -> dict:
        from vbzarr.testing.synthetic.project import make_vbo_project

        t = time.perf_counter()
        make_vbo_project(
            root,
            n_containers=max(1, files // 4),
            sessions_per_container=min(4, files),
            behavior_only_sessions=0,
            size=size,
            seed=seed,
        )
        return {"seconds": time.perf_counter() - t, "factory": factory_hash()}

    info = cached(root, make, what=f"generating {files} {size} experiments")
    nwb = sorted(root.glob("behavior_ophys_experiments/*.nwb"))
    info["files"] = [str(f) for f in nwb]
    info["bytes"] = sum(f.stat().st_size for f in nwb)
    return root, info


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", default="realistic")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    args = parser.parse_args(argv)
    started, t_run = git_state(), time.perf_counter()
    if not args.no_wait:
        guard_children()
    cpus = len(os.sched_getaffinity(0))
    src, info = release(args.files, args.size)
    machine = CHILDREN.machine()
    work = SCRATCH / "cluster-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    configs = {
        "1x1": {"workers": 1, "threads": 1},
        f"1x{cpus}": {"workers": 1, "threads": cpus},
        f"{cpus}x1": {"workers": cpus, "threads": 1},
        "default": {},
        "scheduler": {"scheduler": True},
        "scheduler-no-trim": {"scheduler": True, "no_trim": True},
    }
    runs: dict[str, list[dict]] = {k: [] for k in configs}
    for r in range(args.repeats):
        for label, cfg in configs.items():
            dst = work / f"{label}-{r}"
            for f in info["files"]:
                warm_page_cache(f)
            log(f"({r + 1}/{args.repeats}) convert_project {label} ...")
            if cfg.get("scheduler"):
                from vbzarr.testing.cluster import ExternalCluster

                env = None
                if cfg.get("no_trim"):
                    config = work / "dask-config"
                    config.mkdir(exist_ok=True)
                    (config / "no-trim.yaml").write_text(NO_MALLOC_TRIM_YAML)
                    env = {"DASK_CONFIG": str(config)}
                with ExternalCluster(cpus, env=env) as cluster:
                    watch = PeakWatcher(cluster.worker_pids())
                    with watch:
                        out = CHILDREN.run(
                            "project", {"src": str(src), "dst": str(dst), "scheduler": cluster.address}
                        )
                    out["worker_peaks_mb"] = watch.workers()
            else:
                out = CHILDREN.run("project", {"src": str(src), "dst": str(dst), **cfg})
            log(f"    {out['seconds']:.1f} s ({out['parallelism']}); worker peaks {out['worker_peaks_mb']}")
            assert out["converted"] == len(info["files"]), out  # every file converted in the run measured
            runs[label].append(out)
            if label != "default" or r < args.repeats - 1:
                shutil.rmtree(dst)
    single: dict[str, list[dict]] = {"1": [], str(cpus): []}
    for r in range(args.repeats):
        for threads in single:
            warm_page_cache(info["files"][0])
            dst = work / f"single-{threads}-{r}.zarr"
            single[threads].append(
                CHILDREN.run("single", {"src": info["files"][0], "dst": str(dst), "threads": int(threads)})
            )
            shutil.rmtree(dst)
    starts = [CHILDREN.run("cluster_start", {"workers": cpus}) for _ in range(3)]
    log("requests: two files into a project on moto's S3 server ...")
    s3_src = work / "s3-release"
    _two_file_release(src, s3_src, 2)
    s3 = CHILDREN.run("s3", {"src": str(s3_src)})
    log("the release-wide change-aligned average ...")
    project = str(work / f"default-{args.repeats - 1}")
    means = {
        "threads": [CHILDREN.run("mean", {"dst": project, "workers": 0}) for _ in range(args.repeats)],
        f"{cpus} workers": [
            CHILDREN.run("mean", {"dst": project, "workers": cpus}) for _ in range(args.repeats)
        ],
    }
    project_bytes = du_bytes(work / f"default-{args.repeats - 1}")[0]
    results = {
        "machine": machine,
        "cpus": cpus,
        "project_bytes": project_bytes,
        "size": args.size,
        "release": info,
        "runs": runs,
        "single": single,
        "s3": s3,
        "means": means,
        "cluster_start": starts,
    }
    publish(NAME, results, render, started, t_run)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _two_file_release(src: Path, dst: Path, n: int) -> None:
    """A copy of the release's metadata with ``n`` of its NWB files linked (the rest absent)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src / "project_metadata", dst / "project_metadata")
    (dst / "behavior_ophys_experiments").mkdir(parents=True)
    for f in sorted((src / "behavior_ophys_experiments").glob("*.nwb"))[:n]:
        os.link(f, dst / "behavior_ophys_experiments" / f.name)


def render(res: dict) -> str:
    cpus = res["cpus"]
    med = {k: median([r["seconds"] for r in v]) for k, v in res["runs"].items()}
    n = len(res["release"]["files"])
    gb = res["release"]["bytes"] / 1e9
    base = med["1x1"]
    rows = []
    for label, runs in res["runs"].items():
        peaks = [max(r["worker_peaks_mb"], default=0.0) for r in runs]
        rows.append(
            [
                f"`{label}`: {runs[-1]['parallelism']}",
                f"{med[label]:.1f}",
                f"{med[label] / n:.2f}",
                f"{res['release']['bytes'] / 1e6 / med[label]:.0f}",
                ratio(med[label], base),
                fmt_mb(max(peaks) if any(peaks) else None),
                fmt_mb(max(r["process_peak_mb"] or 0 for r in runs)),
            ]
        )
    single = {k: median([r["seconds"] for r in v]) for k, v in res["single"].items()}
    s3 = res["s3"]
    means = {k: median([r["seconds"] for r in v]) for k, v in res["means"].items()}
    lines = [
        *report_head(NAME, res),
        f"Release: {n} synthetic ophys experiments (factory `{res['size']}` preset, {gb:.1f} GB of NWB; "
        f"factory {res['release'].get('factory')}), sources warm in the page cache before every run; "
        f"medians of {len(next(iter(res['runs'].values())))} run(s), each a fresh process and project.\n",
        "## Conversion\n",
        md_table(
            [
                "route",
                "seconds",
                "s per file",
                "MB/s of NWB",
                "speed-up vs 1x1",
                "peak RSS per worker",
                "peak RSS of the run's process",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Single-file converter (`convert_nwb`, one file into a plain store): "
        + ", ".join(f"{k} thread(s) {v:.2f} s" for k, v in single.items())
        + f"; the project path per file at {cpus}x1: {med[f'{cpus}x1'] / n * cpus:.2f} s of a worker "
        f"(the single-file converter with 1 thread is {ratio(single['1'], med[f'{cpus}x1'] / n * cpus)} "
        "faster).\n",
        f"Starting and closing a LocalCluster of {cpus} workers (what `--workers` costs before any file): "
        + ", ".join(f"{r['total_s']:.1f} s" for r in res["cluster_start"])
        + ".\n",
        "## Requests (moto's S3 server on 127.0.0.1)\n",
        f"{s3['files']} files ({s3['nwb_bytes'] / 1e6:.0f} MB of NWB) into a new project: "
        + ", ".join(f"{k} {v}" for k, v in s3["requests"].items() if v)
        + f" ({s3['seconds']:.1f} s); per file: "
        + ", ".join(f"{k} {v / s3['files']:.0f}" for k, v in s3["requests"].items() if v)
        + ".\n",
        "## The release-wide change-aligned average\n",
        f"`vbzarr.mean_by_container` over the {n} experiments (mean dF/F around every image change, "
        "by container and experience level): "
        + ", ".join(f"{k} {v:.1f} s ({v / n:.2f} s per experiment)" for k, v in means.items())
        + ".\n",
        release_plan(res),
    ]
    return "\n".join(lines)


#: The releases (from their documentation) and S3 Standard list prices (us-west-2, 2026), the
#: assumptions of the plan; everything else in it is measured by this benchmark.
RELEASES = {"VBO": (1936, "experiments", 600e9), "VBN": (153, "sessions", 500e9)}
PRICE_PUT, PRICE_GET, PRICE_GB_MONTH = 0.005 / 1000, 0.0004 / 1000, 0.023


def release_plan(res: dict) -> str:
    """ "Converting the full releases": the measured rates scaled to the releases' sizes."""
    cpus, n = res["cpus"], len(res["release"]["files"])
    nwb = res["release"]["bytes"]
    par = res["runs"][f"{cpus}x1"]
    seconds = median([r["seconds"] for r in par])
    per_worker = nwb / seconds / cpus  # bytes per second per one-thread worker
    peak = max(max(r["worker_peaks_mb"]) for r in par)
    s3 = res["s3"]
    puts_per_byte = s3["requests"]["PUT"] / s3["nwb_bytes"]
    gets_per_byte = (s3["requests"]["GET"] + s3["requests"]["HEAD"]) / s3["nwb_bytes"]
    ratio_size = res["project_bytes"] / nwb
    mean = {k: median([r["seconds"] for r in v]) for k, v in res["means"].items()}
    threads_per_exp = mean["threads"] / n
    cluster_per_exp = mean[f"{cpus} workers"] / n * cpus  # worker-seconds per experiment
    # VBN: the ecephys benchmark's full-size session, converted in one process; its CPU seconds
    # give a one-thread worker's rate (the ophys run above has its rate within 5% of its CPU's).
    ecephys = read_results("bench_ecephys_conversion")
    runs = ecephys["vbzarr_convert"]
    cpu = median([r["user_s"] + r["sys_s"] for r in runs])
    vbn_store = ecephys["sizes"]["store_bytes"] / ecephys["sizes"]["nwb_bytes"]
    # Requests: VBO's measured per byte; VBN's from `vbn_requests` (per file + per MB, a line
    # through two small sessions), when it has run.
    vbn_fit = (
        read_results("bench_vbn_requests").get("fit")
        if (RESULTS / "bench_vbn_requests.json").exists()
        else None
    )

    def requests(name: str, count: int, size: float) -> tuple[float, float] | None:
        if name == "VBO":
            return size * puts_per_byte, size * gets_per_byte
        if vbn_fit is None:
            return None
        put, get = vbn_fit["PUT"], vbn_fit["GET"]
        return (
            count * put["per_file"] + size / 1e6 * put["per_mb"],
            count * get["per_file"] + size / 1e6 * get["per_mb"],
        )

    rates = {
        "VBO": (per_worker, peak, ratio_size),
        "VBN": (ecephys["nwb_bytes"] / cpu, max(r["vmhwm_mb"] for r in runs), vbn_store),
    }
    commits = None
    if (RESULTS / "bench_commits.json").exists():
        commits = read_results("bench_commits")["grown"]["rows"]

    def committing(name: str, seconds: float) -> str:
        """The batches' commits over a run of ``seconds`` (bench_commits' measured costs)."""
        if commits is None:
            return "not measured"
        n = sum(bench_commits.RELEASE_STORES[name])
        b = bench_commits.batched(commits, n, seconds)
        return (
            f"{b['commits']} commits of {n:,} files, {b['commit_s'] / 60:.1f} min, "
            f"{b['snapshot_bytes'] / 1e9:.1f} GB of snapshots"
        )

    def worker_memory(converting_mb: float, n_stores: int) -> str:
        """A worker's peak converting a file (MiB), plus what forks of a project of ``n_stores``
        add to it (bench_commits' worker children)."""
        growth = bench_commits.worker_growth_mb(commits, n_stores) if commits else None
        if growth is None:
            return f"{converting_mb / 1024:.2f} GiB (+ the project's snapshot: not measured)"
        return f"{(converting_mb + growth) / 1024:.2f} GiB ({growth / 1024:.2f} of it the snapshot)"

    rows = []

    def add_rows(
        label: str,
        name: str,
        count: int,
        size: float,
        worker_s: float,
        memory_mb: float,
        stored: float,
        commits_cell: Callable[[float], str],
    ) -> None:
        """The table's rows of ``count`` files of ``size`` NWB bytes in all, ``worker_s``
        one-thread worker-seconds, on 16 and 64 workers; ``commits_cell(seconds)`` the commits'."""
        counted = requests(name, count, size)
        for workers in (16, 64):
            rows.append(
                [
                    label,
                    str(workers),
                    f"{worker_s / workers / 60:.0f} min",
                    worker_memory(memory_mb, sum(bench_commits.RELEASE_STORES[name])),
                    f"{counted[0] / 1e6:.2f} M PUT, {counted[1] / 1e3:.0f} k GET"
                    if counted
                    else "not measured",
                    f"${counted[0] * PRICE_PUT + counted[1] * PRICE_GET:.2f}" if counted else "-",
                    f"{stored / 1e9:,.0f} GB, ${stored / 1e9 * PRICE_GB_MONTH:,.0f}/month",
                    commits_cell(worker_s / workers),
                ]
            )

    for name, (count, unit, size) in RELEASES.items():
        rate, memory, store_ratio = rates[name]
        add_rows(
            f"{name}: {count:,} {unit}, {size / 1e12:.1f} TB of NWB",
            name,
            count,
            size,
            size / rate,
            memory,
            size * store_ratio,
            lambda seconds, name=name: committing(name, seconds),
        )
    lfp_text = "VBN's LFP at its released rate (`lfp` not run), "
    if (RESULTS / "bench_lfp.json").exists():
        # VBN's LFP files: a released probe's recording measured by `lfp` (one writer thread), for
        # every probe of every session; requests per MB as VBN's.
        lfp = bench_lfp.released(read_results("bench_lfp"))
        count = RELEASES["VBN"][0] * bench_lfp.RELEASED_PROBES
        size = count * lfp["probe_bytes"]
        add_rows(
            f"VBN LFP: {count:,} probe files at 2500 Hz, {size / 1e12:.1f} TB",
            "VBN",
            count,
            size,
            count * lfp["probe_seconds"],
            lfp["peak_rss_mb"],
            size * lfp["store_ratio"],
            lambda seconds: "in the sessions' (one store each)",
        )
        lfp_text = ""
    vbo = RELEASES["VBO"][0]
    return "\n".join(
        [
            "## Converting the full releases\n",
            f"From this run: a one-thread worker converts {per_worker / 1e6:.0f} MB of NWB per second "
            f"(the {cpus}x1 LocalCluster: {nwb / 1e9:.1f} GB in {seconds:.1f} s on {cpus} workers) and "
            f"peaks at {peak:.0f} MiB; a project takes {ratio_size:.2f}x the NWB bytes; converting "
            f"into S3 makes {puts_per_byte * 1e6:.2f} PUTs and {gets_per_byte * 1e6:.3f} GETs/HEADs per MB "
            f"of NWB. Scaled to the releases' sizes (their documentation; S3 Standard list prices "
            f"${PRICE_PUT * 1000:.3f} per 1,000 PUTs, ${PRICE_GET * 1000:.4f} per 1,000 GETs, "
            f"${PRICE_GB_MONTH}/GB-month), one thread per worker, reading the NWB files at the "
            "rate this machine reads its page cache:\n",
            md_table(
                [
                    "release",
                    "workers",
                    "conversion time",
                    "memory per worker",
                    "requests",
                    "request cost",
                    "project size, storage",
                    "commits (batched)",
                ],
                rows,
            ),  # fmt: skip
            "",
            f"VBN rows: the rate and peak memory of `ecephys_conversion`'s full-size session "
            f"({ecephys['nwb_bytes'] / 1e9:.2f} GB in {cpu:.1f} CPU-seconds, in one process); its "
            "requests from `vbn_requests` (per file + per MB through two small synthetic sessions "
            "with LFP, 12 and 84 MB: an extrapolation to 3 GB sessions). VBN LFP rows: `lfp`'s "
            "one-thread conversion of a released probe's recording (2.1 h at 2500 Hz on 96 "
            "channels, float32), for 6 probes per session (the release's probes A to F; sessions "
            "with fewer probes make it less). Memory per worker: a file's peak while converting, "
            "plus what the fork of a release-size project adds (its snapshot, decompressed, in "
            "Icechunk: `commits`' worker children, a line through a 2-store and a 6,017-store "
            "project). Not in the table: reading "
            f"the sources from S3 (each worker reads its files once), {lfp_text}"
            "the conversion time of the behavior-only sessions (their files count in the "
            "commits column: VBO 4,079, VBN 3,271). Commits: every commit writes a snapshot "
            "listing every node of the project, which grows with it (`bench_commits`); "
            "`convert_project` commits finished files in batches, waiting "
            "4x the last commit's duration between commits, so committing takes at most a fifth "
            "of the run and overlaps the workers' conversions (modelled from `bench_commits`' "
            "measured costs, files finishing evenly over the run). History is kept (never expired).",
            "",
            f"The release-wide change-aligned average (`mean_by_container`) took "
            f"{threads_per_exp:.2f} s per experiment on this machine's threads and "
            f"{cluster_per_exp:.2f} worker-seconds per experiment on a {cpus}-worker LocalCluster: "
            f"all {vbo:,} VBO experiments (at this benchmark's size, 80 cells x 139,492 frames) "
            f"would take {vbo * threads_per_exp / 60:.0f} min here, and "
            f"{vbo * cluster_per_exp / 64 / 60:.1f} min of compute on 64 workers, plus reading from "
            "S3 (`s3_project`, `icechunk`: a few dozen GETs per session).\n",
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)

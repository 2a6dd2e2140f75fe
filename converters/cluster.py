"""Where a project's files convert: in this process, on a private LocalCluster of processes
(``--workers N``), or on an existing ``dask.distributed`` cluster (``--scheduler ADDRESS``: a
scheduler started by ``dask scheduler``, dask-jobqueue, Kubernetes, Coiled...).

Each file is one task that converts it and commits it alone to the project, so workers need only
the destination (and source) URLs, a worker's death loses only its file in flight (dask runs it
again elsewhere, or the next run does), and the commit protocol (:mod:`.commits`) keeps parallel
commits safe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vbzarr.errors import ClusterError, UsageError

#: Dask config starting LocalCluster workers without dask's MALLOC_TRIM_THRESHOLD_=65536, which
#: turns off glibc's adaptive mmap threshold: every large buffer is then a fresh mmap whose pages
#: fault in again, and conversions and analyses run about half as fast
#: (benchmarks/bench_alignment.py, part i, compares LocalClusters with and without it).
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

#: The dask config that starts a cluster's workers without it: for ``dask worker``, in a YAML file
#: of its dask config (``DASK_CONFIG``); an environment variable cannot name the key. On 2 cores an
#: existing cluster converts 16 realistic files in 51.0 s with it, 68.0 s without
#: (benchmarks/results/bench_cluster.md).
NO_MALLOC_TRIM_YAML = "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n"

#: Memory a worker needs: LocalCluster workers converting realistic-size ophys files (637 MB of
#: NWB each) peak at 853-942 MiB (benchmarks/results/bench_cluster.md).
WORKER_MEMORY_BYTES = 1 << 30

#: Below this many bytes of NWB to convert, files convert in the process: a LocalCluster's start
#: (0.6 s) and its workers' first imports and repository opens cost more than it can gain. On 2
#: cores (benchmarks/results/bench_cluster.md) 4 small files (0.1 GB) took 3.4 s in the process
#: against 8.9 s on 2 workers, and 16 realistic ones (10.2 GB) 48.7 s against 50.2 s: a tie there,
#: since one file with one writer thread already keeps 1.35 cores busy. The threshold is not tuned
#: finer; machines with more cores than one file's pipeline can use are where workers gain.
MIN_CLUSTER_BYTES = 2 << 30


@dataclass(frozen=True)
class Parallelism:
    """How a run converts: ``workers`` files at once, each with ``threads`` writer threads, in
    this process (``workers == 1`` and no scheduler), on a LocalCluster, or on ``scheduler``."""

    workers: int
    threads: int
    scheduler: str | None = None

    def describe(self) -> str:
        where = (
            f"on the cluster at {self.scheduler}"
            if self.scheduler
            else "in this process"
            if self.workers == 1
            else "on a LocalCluster"
        )
        files = "the cluster's threads" if self.scheduler else str(self.workers)
        return f"files at once: {files}, {self.threads} writer thread(s) each, {where}"


def choose_parallelism(
    n_files: int,
    workers: int | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    *,
    total_bytes: int | None = None,
    cpus: int | None = None,
    memory: int | None = None,
) -> Parallelism:
    """The run's parallelism: what the user asked for, the rest chosen for the machine.

    One file per core, each with one writer thread, once there are at least as many files as
    cores (on 2 cores it ties with one file at a time on two threads: 48.9 s against 48.7 s for
    16 realistic files, both 1.26x one file at a time on one thread; ``python -m benchmarks run
    cluster``); a single file, or fewer files than cores, converts in this process with one
    writer thread per core, as do files too small to repay starting a cluster
    (``MIN_CLUSTER_BYTES`` in all). Workers are capped by memory (``WORKER_MEMORY_BYTES`` each).
    On an existing cluster each file gets one thread unless told.

    Parameters
    ----------
    n_files
        Files to convert in this run.
    workers, threads
        Asked for by the user (``--workers``, ``--threads``); ``None``: chosen.
    scheduler
        Address of an existing ``dask.distributed`` scheduler.
    total_bytes
        Size of the files to convert (``None``: large).
    cpus, memory
        The machine (default: this one's usable cores and available memory).
    """
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise UsageError(f"--{name}: expected a positive number; found {value}")
    if scheduler is not None:
        if workers is not None:
            raise UsageError(
                "--workers: a run on an existing cluster (--scheduler) uses the cluster's workers; found both"
            )
        return Parallelism(workers=0, threads=threads or 1, scheduler=scheduler)
    cpus = cpus or len(os.sched_getaffinity(0))
    if workers is None:
        memory = memory if memory is not None else _available_memory()
        fit = max(1, memory // WORKER_MEMORY_BYTES) if memory else cpus
        workers = max(1, min(cpus // (threads or 1), n_files, fit))
        if total_bytes is not None and total_bytes < MIN_CLUSTER_BYTES:
            workers = 1
        if workers == 1:
            return Parallelism(workers=1, threads=threads or cpus)
    return Parallelism(workers=workers, threads=threads or max(1, cpus // workers))


def _malloc_trim_threshold() -> str | None:
    """A worker's ``MALLOC_TRIM_THRESHOLD_`` (run on each worker)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


class Runner:
    """Run ``fn(job, *args, threads)`` for each job with ``parallelism``; a context manager that
    holds the LocalCluster or the connection to the scheduler (connected on entry, so an
    unreachable scheduler stops the run before anything is written)."""

    def __init__(self, parallelism: Parallelism, batch_errors: tuple[type[BaseException], ...]) -> None:
        self.parallelism, self.batch_errors = parallelism, batch_errors
        self._stack: Any = None
        self.client: Any = None
        self.dashboard: str | None = None
        self.notes: list[str] = []  # what the user should know about the cluster

    def __enter__(self) -> Runner:
        import contextlib

        p = self.parallelism
        if p.scheduler is None and p.workers == 1:
            return self
        import dask
        from dask.distributed import Client, LocalCluster

        self._stack = contextlib.ExitStack()
        try:
            if p.scheduler is not None:
                try:
                    self.client = self._stack.enter_context(Client(p.scheduler))
                except (OSError, TimeoutError) as err:
                    raise ClusterError(
                        f"--scheduler {p.scheduler}: expected a running dask scheduler at this "
                        f"address; could not connect ({err})"
                    ) from err
            else:
                self._stack.enter_context(dask.config.set(NO_MALLOC_TRIM))
                cluster = self._stack.enter_context(
                    LocalCluster(
                        n_workers=p.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
                    )
                )
                self.client = self._stack.enter_context(Client(cluster))
        except BaseException:
            self._stack.close()
            raise
        self.dashboard = self.client.dashboard_link
        if p.scheduler is not None:
            try:  # also checks that the workers can import vbzarr's write side
                trimmed = sorted(w for w, v in self.client.run(_malloc_trim_threshold).items() if v)
            except ImportError as err:
                self.__exit__()
                raise ClusterError(
                    f"--scheduler {p.scheduler}: expected workers with vbzarr[convert] installed; "
                    f"a worker could not import it ({err})"
                ) from err
            if trimmed:
                self.notes.append(
                    f"{len(trimmed)} worker(s) of {p.scheduler} run with MALLOC_TRIM_THRESHOLD_ set "
                    "(dask's default), which makes conversions about 1.3x slower; start the workers "
                    "with this in their dask config (a YAML file in DASK_CONFIG):\n" + NO_MALLOC_TRIM_YAML
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()

    def run(self, fn: Callable[..., Any], jobs: list[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
        """Yield ``(job, result or batch error)`` as jobs finish; any other error is a bug and
        raised. A job whose worker died (``KilledWorker``: dask tried it on several) is a failed
        file: the next run converts it."""
        threads = self.parallelism.threads
        if self.client is None:
            for job in jobs:
                try:
                    yield job, fn(job, *args, threads)
                except self.batch_errors as err:  # one bad file never stops the batch
                    yield job, err
            return
        from dask.distributed import as_completed
        from distributed.scheduler import KilledWorker

        futures = {self.client.submit(fn, job, *args, threads, pure=False): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            failure = future.exception()
            if isinstance(failure, KilledWorker):
                failure = ClusterError(
                    f"{job.source}: the dask workers converting it died ({failure}); the next run converts it"
                )
            elif failure is not None and not isinstance(failure, self.batch_errors):
                raise failure  # a bug, not a bad file
            yield job, failure if failure is not None else future.result()
            del futures[future]  # free its result on the cluster

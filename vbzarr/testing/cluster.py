"""A real ``dask.distributed`` cluster on 127.0.0.1: ``dask scheduler`` and ``dask worker`` started
as processes, as a user's cluster (dask-jobqueue, Kubernetes, a shell) starts them.

Used by the tests and the benchmarks to run conversions and analyses through ``--scheduler
ADDRESS`` and to kill workers mid-run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

_RUN = [sys.executable, "-m"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExternalCluster:
    """A scheduler and ``workers`` workers of ``threads`` threads each, as processes.

    With ``nanny=False`` each worker is its own process (``--no-nanny``): a killed worker stays
    dead, as a lost machine does. ``env`` adds environment variables (e.g. dask config). The
    scheduler's address is ``address`` once entered.
    """

    def __init__(
        self, workers: int = 2, threads: int = 1, *, nanny: bool = True, env: dict[str, str] | None = None
    ) -> None:
        self.workers, self.threads, self.nanny, self.env = workers, threads, nanny, env
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.scheduler: subprocess.Popen | None = None
        self.worker_procs: list[subprocess.Popen] = []

    def _start(self, argv: list[str]) -> subprocess.Popen:
        env = {**os.environ, **self.env} if self.env else None
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def __enter__(self) -> ExternalCluster:
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start(
            [*_RUN, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port,
             "--dashboard-address", ":0"]
        )  # fmt: skip
        worker = [*_RUN, "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1",
                  "--nthreads", str(self.threads), "--memory-limit", "0"]  # fmt: skip
        try:
            if self.nanny:
                self.worker_procs.append(self._start([*worker, "--nworkers", str(self.workers)]))
            else:
                for _ in range(self.workers):
                    self.worker_procs.append(self._start([*worker, "--no-nanny"]))
            from dask.distributed import Client

            with Client(self.address, timeout="60s") as client:
                client.wait_for_workers(self.workers, timeout=120)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        procs = [*self.worker_procs, *([self.scheduler] if self.scheduler else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def worker_pids(self) -> list[int]:
        """The processes that run tasks (not the nannies)."""
        if not self.nanny:
            return [p.pid for p in self.worker_procs]
        import psutil

        return [
            c.pid
            for p in self.worker_procs
            for c in psutil.Process(p.pid).children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline())
        ]

"""Converting on a dask cluster: the parallelism chosen, an existing cluster (``--scheduler``) of
real scheduler and worker processes, a worker killed mid-run, analyses on that cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import icechunk
import numpy as np
import pytest

import vbzarr
from vbzarr.convert.cluster import MIN_CLUSTER_BYTES, WORKER_MEMORY_BYTES, Parallelism, choose_parallelism
from vbzarr.convert.project import convert_project
from vbzarr.convert.validate import validate_store
from vbzarr.errors import UsageError
from vbzarr.testing.cluster import ExternalCluster

GB = 1 << 30


@pytest.mark.parametrize(
    ("n_files", "workers", "threads", "cpus", "memory", "expected"),
    [
        (16, None, None, 2, 16 * GB, Parallelism(2, 1)),  # one file per core
        (1, None, None, 2, 16 * GB, Parallelism(1, 2)),  # one file: its writer threads
        (0, None, None, 8, 16 * GB, Parallelism(1, 8)),  # nothing to do: no cluster
        (3, None, None, 8, 16 * GB, Parallelism(3, 2)),  # fewer files than cores: threads share
        (16, None, None, 8, 3 * WORKER_MEMORY_BYTES, Parallelism(3, 2)),  # capped by memory
        (16, None, None, 8, WORKER_MEMORY_BYTES // 2, Parallelism(1, 8)),
        (16, None, 2, 8, 16 * GB, Parallelism(4, 2)),  # threads asked for: workers fill the cores
        (16, 3, None, 8, 16 * GB, Parallelism(3, 2)),  # workers asked for: threads share the cores
        (16, 1, 1, 8, 16 * GB, Parallelism(1, 1)),  # both asked for
    ],
)
def test_the_parallelism_chosen(n_files, workers, threads, cpus, memory, expected):
    assert choose_parallelism(n_files, workers, threads, cpus=cpus, memory=memory) == expected


def test_small_files_convert_in_the_process():
    """Too few bytes to repay starting a LocalCluster, unless workers are asked for."""
    small = MIN_CLUSTER_BYTES - 1
    assert choose_parallelism(16, total_bytes=small, cpus=2, memory=16 * GB) == Parallelism(1, 2)
    assert choose_parallelism(16, total_bytes=MIN_CLUSTER_BYTES, cpus=2, memory=16 * GB) == Parallelism(2, 1)
    assert choose_parallelism(16, 2, total_bytes=small, cpus=2, memory=16 * GB) == Parallelism(2, 1)


def test_an_existing_cluster_takes_one_thread_per_file_and_no_workers_option():
    assert choose_parallelism(16, None, None, "tcp://h:8786") == Parallelism(0, 1, "tcp://h:8786")
    assert choose_parallelism(16, None, 2, "tcp://h:8786").threads == 2
    with pytest.raises(UsageError, match="--workers"):
        choose_parallelism(16, 2, None, "tcp://h:8786")
    with pytest.raises(UsageError, match="--threads: expected a positive number; found 0"):
        choose_parallelism(16, None, 0)


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vbzarr.cli", "convert", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def test_an_unreachable_scheduler_stops_the_run_before_anything_is_written(vbo_project, tmp_path):
    dst = tmp_path / "project"
    run = _cli(
        str(vbo_project.root),
        str(dst),
        "-q",
        "--scheduler",
        "tcp://127.0.0.1:9",  # discard port: nothing listens
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, err.decode()
    assert "--scheduler tcp://127.0.0.1:9: expected a running dask scheduler" in err.decode()
    assert not dst.exists()


@pytest.mark.slow
def test_a_conversion_on_an_existing_cluster_survives_a_killed_worker(vbo_project, tmp_path):
    """``vbzarr convert --scheduler`` on a scheduler and two worker processes; one worker is
    SIGKILLed once the first file is committed; the run (or its re-run) converts every file and
    every store equals its NWB; then the README's cross-session mean runs on that cluster."""
    dst = str(tmp_path / "project")
    report = tmp_path / "report.json"
    n_files = len(vbo_project.ophys_experiment_table) + 1  # + the training session
    with ExternalCluster(workers=2, threads=1, nanny=False) as cluster:
        run = _cli(str(vbo_project.root), dst, "--scheduler", cluster.address, "--report", str(report))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            try:
                repo = icechunk.Repository.open(icechunk.local_filesystem_storage(dst))
                if len(list(repo.ancestry(branch="main"))) >= 3:  # initial, manifest, first store
                    break
            except (icechunk.IcechunkError, ValueError):
                pass
            time.sleep(0.05)
        victim = cluster.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        out, err = run.communicate(timeout=300)
        assert run.returncode in (0, 1), err.decode()  # 1: the killed worker's file failed
        first = json.loads(report.read_text())
        assert "on the cluster at tcp://127.0.0.1" in first["parallelism"]
        assert not any("MALLOC" in p for p in first["problems"])  # no nannies, no trim threshold
        assert len(first["converted"]) + len(first["failed"]) == n_files
        rerun = _cli(
            str(vbo_project.root), dst, "-q", "--scheduler", cluster.address, "--report", str(report)
        )
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err.decode()
        second = json.loads(report.read_text())
        assert sorted(second["unchanged"]) == sorted(first["converted"])
        assert len(second["converted"]) == len(first["failed"])
        assert validate_store(dst) == []  # every store of the project equals its NWB

        # Analyses on the same cluster, unchanged code: the project pickles to the workers.
        from dask.distributed import Client

        project = vbzarr.open_project(dst)
        experiments = project.ophys_experiment_table
        changes = project.events_table(experiments, query="is_change")
        mean = vbzarr.align(project.dff(experiments), changes, (-0.5, 1.0), rate=20.0).mean("event")
        local = mean.compute(scheduler="threads")
        assert np.isfinite(local.values).any()
        with Client(cluster.address) as client:
            assert len(client.scheduler_info()["workers"]) == 1  # the survivor
            remote = mean.compute()
        np.testing.assert_array_equal(remote.values, local.values)


def test_the_report_counts_bytes_and_says_how_it_ran(vbo_project, tmp_path):
    report = convert_project(str(vbo_project.root), str(tmp_path / "p"), workers=1, threads=1)
    sizes = sum(os.path.getsize(s) for s in report.converted)
    assert report.converted_bytes == sizes > 0
    assert report.parallelism == "files at once: 1, 1 writer thread(s) each, in this process"
    assert f"{sizes / 1e9:.2f} GB of NWB" in report.describe()
    assert report.as_dict()["converted_bytes"] == sizes


def test_workers_with_dasks_malloc_trim_get_a_note():
    """dask's nannies start workers with MALLOC_TRIM_THRESHOLD_ (conversions ~1.3x slower): a run
    on such a cluster says so and gives the config that starts them without it."""
    from dask.distributed import LocalCluster

    from vbzarr.convert.cluster import NO_MALLOC_TRIM_YAML, Runner

    # dask's defaults, as `dask worker` has them: the nanny sets MALLOC_TRIM_THRESHOLD_.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        parallelism = choose_parallelism(1, scheduler=cluster.scheduler_address)
        with Runner(parallelism, (OSError,)) as runner:
            assert len(runner.notes) == 1
            assert "run with MALLOC_TRIM_THRESHOLD_ set" in runner.notes[0]
            assert runner.notes[0].endswith(NO_MALLOC_TRIM_YAML)

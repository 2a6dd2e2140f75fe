"""The transactional project: kills at random moments, readers during commits, two writers.

Real conversions in subprocesses (``vbzarr convert``), SIGKILLed; real Icechunk repositories on
a local folder and on moto's S3 server.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import h5py
import icechunk
import numpy as np
import pytest
import zarr

import vbzarr
from tests.converters.test_bad_input import _corrupt_chunk
from vbzarr.convert import commits
from vbzarr.convert.commits import Batches, open_or_create
from vbzarr.convert.project import Task, convert_job, convert_project, discover
from vbzarr.convert.validate import validate_store
from vbzarr.errors import ConcurrentConversionError, ProjectNotFoundError
from vbzarr.testing.synthetic import content
from vbzarr.testing.synthetic.project import make_vbo_project


@pytest.fixture(scope="module")
def small_release(tmp_path_factory):
    """Two files: an imaging session and a training session."""
    return make_vbo_project(
        tmp_path_factory.mktemp("release"),
        n_containers=1,
        sessions_per_container=1,
        behavior_only_sessions=1,
        size=content.Size.preset("tiny"),
        seed=5,
    )


def _convert(src: Path, dst: str, options: dict | None = None) -> subprocess.Popen:
    extra = ["--storage-options", json.dumps(options)] if options else []
    return subprocess.Popen(
        [sys.executable, "-m", "vbzarr.cli", "convert", str(src), dst, "-q", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _committed(project: vbzarr.Project) -> Counter:
    """How many commits wrote each store (from the commits' metadata: a commit holds a batch)."""
    return Counter(path for info in project.history() for path in (info.metadata or {}).get("stores", {}))


def _other_values(release: Path, folder: Path) -> Path:
    """A copy of ``release`` whose ophys files hold other dF/F values (the same ids)."""
    shutil.copytree(release, folder)
    for path in (folder / "behavior_ophys_experiments").glob("*.nwb"):
        with h5py.File(path, "r+") as f:
            dff = f["processing/ophys/dff/traces/data"]
            dff[...] = dff[...] * 2.0 + 1.0
    return folder


def _orphans(dst: str) -> icechunk.GCSummary:
    """What a garbage collection would delete now: objects no snapshot references."""
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(dst))
    return repo.garbage_collect(dt.datetime.now(dt.UTC), dry_run=True)


def _kill_and_check(src, dst, storage_options, kills, rng) -> dict:
    """Convert, SIGKILL at a random moment, check the project, repeat; then finish."""
    start = time.perf_counter()
    whole = _convert(src, dst + "-timing", storage_options)
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()
    duration = time.perf_counter() - start
    validated: set[str] = set()
    seen = {"opened": 0, "absent": 0, "stores": []}
    for _ in range(kills):
        run = _convert(src, dst, storage_options)
        time.sleep(rng.uniform(0.2, duration))
        run.send_signal(signal.SIGKILL)
        run.wait()
        try:
            project = vbzarr.open_project(dst, storage_options=storage_options)
        except ProjectNotFoundError:
            seen["absent"] += 1  # killed before its first commit
            continue
        seen["opened"] += 1
        stores = project.stores
        seen["stores"].append(len(stores))
        # No finished file was converted twice; every visible store equals its NWB.
        assert set(_committed(project).values()) <= {1}, _committed(project)
        fresh = [p for p in stores.index if p not in validated]
        for path in fresh:
            kind = stores.loc[path, "kind"]
            tree = project.store(kind, int(stores.loc[path, "id"]))
            assert tree.attrs["provenance"]["sha256"] == stores.loc[path, "sha256"]
        validated.update(fresh)
    if storage_options is None:
        seen["orphans"] = _orphans(dst).chunks_deleted  # chunks of killed runs, never committed
    final = _convert(src, dst, storage_options)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    project = vbzarr.open_project(dst, storage_options=storage_options)
    assert set(_committed(project).values()) == {1}
    assert len(project.stores) == len(list(Path(src).glob("*/*.nwb")))
    return seen


@pytest.mark.slow
def test_kills_at_random_moments_leave_a_valid_project(small_release, tmp_path):
    rng = random.Random(7)
    dst = str(tmp_path / "project")
    seen = _kill_and_check(small_release.root, dst, None, kills=10, rng=rng)
    assert seen["opened"] + seen["absent"] == 10
    assert validate_store(dst) == []  # every store equals its NWB, every array
    # The final run collected the chunks the killed runs wrote but never committed.
    print(f"orphan chunks before the final run: {seen['orphans']}")
    assert _orphans(dst).chunks_deleted == 0
    # No staging litter: nothing beside the repository's own folders.
    assert {p.name for p in Path(dst).iterdir()} <= {
        "chunks",
        "manifests",
        "refs",
        "snapshots",
        "transactions",
        "config.yaml",
    }
    assert not list(tmp_path.glob("vbzarr-*"))


@pytest.mark.slow
@pytest.mark.s3
def test_kills_on_s3(small_release):
    from vbzarr.testing.s3 import CountingS3Server

    with CountingS3Server() as s3:
        s3.make_bucket("kills")
        options = s3.storage_options()
        seen = _kill_and_check(small_release.root, "s3://kills/vbo", options, kills=3, rng=random.Random(11))
        assert seen["opened"] + seen["absent"] == 3
        assert validate_store("s3://kills/vbo", storage_options=options) == []  # every array


@pytest.mark.slow
def test_a_reader_sees_old_or_new_values_while_a_reconversion_commits(tmp_path, small_release):
    """A reader pinned at open keeps its values; a reader opening the tip sees whole stores of
    one version or the other, never a mix, NaN or an error."""
    other = _other_values(small_release.root, tmp_path / "v2")
    dst = str(tmp_path / "project")
    assert not convert_project(str(small_release.root), dst).failed
    pinned = vbzarr.open_project(dst)
    ids = [int(i) for i in pinned.ophys_experiment_table.index]
    old = {i: pinned.ophys_experiment(i)["ophys"]["dff"].values for i in ids}
    news: dict[int, np.ndarray] = {}
    problems: list[str] = []
    reads = Counter()
    # The second release's files replace the first's (same ids, new values), one commit each, in
    # another process, while this one reads.
    run = _convert(other, dst)
    while run.poll() is None:
        try:
            for i in ids:
                np.testing.assert_array_equal(pinned.ophys_experiment(i)["ophys"]["dff"].values, old[i])
                tip = vbzarr.open_project(dst).ophys_experiment(i)["ophys"]["dff"].values
                assert np.isfinite(tip).any()
                version = "old" if np.array_equal(tip, old[i], equal_nan=True) else "new"
                reads[version] += 1
                if version == "new" and not np.array_equal(news.setdefault(i, tip), tip, equal_nan=True):
                    problems.append(f"{i}: a third version")
        except Exception as err:  # noqa: BLE001 - any error is a failure of the test
            problems.append(f"{type(err).__name__}: {err}")
    assert run.returncode == 0, run.stderr.read().decode()
    assert not problems, problems[:3]
    assert sum(reads.values()) >= 3, reads
    final = vbzarr.open_project(dst)
    assert final.snapshot_id != pinned.snapshot_id
    for i in ids:
        values = final.ophys_experiment(i)["ophys"]["dff"].values
        assert not np.array_equal(values, old[i], equal_nan=True)
        if i in news:
            np.testing.assert_array_equal(values, news[i])


@pytest.mark.slow
def test_two_converts_on_one_destination_end_valid(tmp_path, small_release):
    dst = str(tmp_path / "project")
    runs = [_convert(small_release.root, dst) for _ in range(2)]
    codes = [r.wait(timeout=300) for r in runs]
    outputs = [r.stdout.read().decode() + r.stderr.read().decode() for r in runs]
    assert set(codes) <= {0, 1}, outputs
    project = vbzarr.open_project(dst)
    assert len(project.stores) == 2
    # Each store was committed once (the other run's same store is refused at commit, never mixed).
    assert set(_committed(project).values()) <= {1, 2}
    assert validate_store(dst) == []


def test_a_run_collects_orphans_of_killed_runs_but_not_a_live_runs(tmp_path, small_release):
    """Chunks written but never committed (a run killed before its commit) are collected by the
    next run, unless another run is live (its chunks may be about to be committed)."""
    import zarr

    from vbzarr.convert.commits import conversion_run

    dst = str(tmp_path / "project")
    assert not convert_project(str(small_release.root), dst).failed
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(dst))
    killed = repo.writable_session("main")  # a run killed before its commit
    values = np.random.default_rng(0).random(8 * 16384)  # 8 chunks, too large to be inlined
    orphan = zarr.create_array(killed.store, name="orphan", shape=values.shape, chunks=(16384,), dtype="f8")
    orphan[:] = values
    assert _orphans(dst).chunks_deleted == 8
    with conversion_run(repo, dst) as collected:  # the next run, alone
        assert collected is not None and collected.chunks_deleted == 8
        live = repo.writable_session("main")  # its chunks, not committed yet
        in_flight = zarr.create_array(
            live.store, name="in_flight", shape=(32768,), chunks=(16384,), dtype="f8"
        )
        in_flight[:] = values[:32768]
        convert_project(str(small_release.root), dst)  # a second run meanwhile
        assert _orphans(dst).chunks_deleted == 2  # the live run's chunks are kept
        live.commit("the live run commits")
    assert _orphans(dst).chunks_deleted == 0
    tip = zarr.open_group(repo.readonly_session("main").store, mode="r")
    np.testing.assert_array_equal(tip["in_flight"][:], values[:32768])
    assert validate_store(dst) == []


def test_a_run_opening_while_another_commits_the_manifest_opens_it(tmp_path, monkeypatch):
    """Two runs starting together: one reads the tip (no manifest yet), the other commits the
    manifest before the first reads the history. The history read is the tip's own, so the
    repository is the new project it is, not 'an Icechunk repository without a manifest'."""
    dst = str(tmp_path / "project")
    open_or_create(dst)
    real = commits.open_manifest

    def manifest_committed_meanwhile(store, url):
        other = commits.open_repository(dst, None).writable_session("main")
        zarr.open_group(other.store, mode="a").create_group("manifest")
        other.commit("the other run's manifest")
        monkeypatch.setattr(commits, "open_manifest", real)
        return real(store, url)  # the tip read before that commit: no manifest

    monkeypatch.setattr(commits, "open_manifest", manifest_committed_meanwhile)
    repo = open_or_create(dst)
    assert [i.message for i in repo.ancestry(branch="main")][0] == "the other run's manifest"


def test_a_batch_drops_a_store_another_run_committed_meanwhile_and_commits_the_rest(tmp_path, small_release):
    """Forks are merged into a session of the tip, newer than their base, which Icechunk does not
    check: a store another run committed since is dropped from the batch (never mixed with that
    run's version), and the batch's other stores are committed."""
    other = _other_values(small_release.root, tmp_path / "v2")
    dst = str(tmp_path / "project")
    assert not convert_project(str(small_release.root), dst).failed
    _, jobs, _ = discover(str(small_release.root))
    ophys = next(j for j in jobs if j.kind == "ophys_experiment")
    behavior = next(j for j in jobs if j.kind == "behavior_session")
    repo = open_or_create(dst)
    ours = Batches(repo, dst)
    for job in (ophys, behavior):
        ours.add(job, convert_job(Task(job, ours.fork())))
    # Another run re-converts the ophys file from the other release and commits first.
    theirs = Batches(repo, dst)
    other_job = replace(ophys, source=str(other / Path(ophys.source).relative_to(small_release.root)))
    theirs.add(other_job, convert_job(Task(other_job, theirs.fork())))
    assert theirs.commit() == [(other_job, None)]

    results = dict(ours.commit())
    assert isinstance(results[ophys], ConcurrentConversionError)
    assert results[behavior] is None
    project = vbzarr.open_project(dst)
    assert _committed(project)[ophys.path] == 2  # the first conversion and the other run's
    assert _committed(project)[behavior.path] == 2  # the first conversion and this batch
    assert project.store("ophys_experiment", ophys.id).attrs["provenance"]["source"] == other_job.source
    assert validate_store(dst) == []  # every store whole: each equals the NWB it records


def test_a_file_failing_half_way_leaves_nothing_in_its_batch(tmp_path, vbo_project):
    """A file that fails after some of its groups were written (a garbled chunk of its events)
    is reported failed, and no node of it reaches the project; the other files of the run, in
    the same batches, are committed whole."""
    src = tmp_path / "src"
    shutil.copytree(vbo_project.root, src)
    ids = [int(i) for i in vbo_project.ophys_experiment_table.index]
    bad = src / vbo_project.experiment_path(ids[1]).relative_to(vbo_project.root)
    _corrupt_chunk(tmp_path, bad).replace(bad)
    dst = str(tmp_path / "project")
    report = convert_project(str(src), dst, workers=1, threads=1)  # in this process: one session
    assert list(report.failed) == [str(bad)]
    assert "could not read the values" in report.failed[str(bad)]
    project = vbzarr.open_project(dst)
    folder = zarr.open_group(project.session.store, path="ophys_experiments", mode="r")
    assert sorted(int(k) for k in folder.group_keys()) == sorted(ids[:1] + ids[2:])
    assert validate_store(dst) == []

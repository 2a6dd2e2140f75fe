"""Writing a project repository: creating it (never over something that is not vbzarr's),
committing its manifest, and committing each converted store safely beside other writers."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import icechunk
import pandas as pd
import zarr

from vbzarr.errors import ConcurrentConversionError, DestinationError, ProjectNotFoundError
from vbzarr.manifest import open_manifest
from vbzarr.repository import BRANCH, SNAPSHOT_NODES, open_repository, storage
from vbzarr.schema import SCHEMA_VERSION, STORE_FOLDERS
from vbzarr.store import check_schema
from vbzarr.urls import filesystem, is_local

from .publish import require_bucket, require_writable
from .release import encode_table, write_manifest

#: Chunks up to this many (compressed) bytes live inside their array's manifest, which a reader
#: fetches anyway: a table column or a small array is one GET, not two (Icechunk's maximum; the
#: container change-mean from S3 takes 124 GETs with it, 162 without, 127 with plain stores:
#: benchmarks/results/bench_icechunk.md).
INLINE_CHUNK_BYTES = 65535
NEW_REPOSITORY = icechunk.RepositoryConfig(
    inline_chunk_threshold_bytes=INLINE_CHUNK_BYTES,
    caching=icechunk.CachingConfig(num_snapshot_nodes=SNAPSHOT_NODES),
)

#: What an Icechunk repository writes at its root.
REPOSITORY_ENTRIES = {"config.yaml", "refs", "snapshots", "manifests", "chunks", "transactions", "repo"}


def check_destination(dst: str, storage_options: dict | None = None) -> bool:
    """Whether ``dst`` already holds a vbzarr project; raise if it holds anything else.

    A new or empty folder (or bucket prefix) is fine; a file, a folder or prefix with other
    content, or a repository that is not a vbzarr project is refused, untouched. On object
    storage the bucket must exist.
    """
    fs, path = filesystem(dst, storage_options)
    if not is_local(dst):
        require_bucket(dst, fs, path)
    if is_local(dst) and os.path.isfile(path):
        raise DestinationError(
            f"{dst}: expected a project folder (new, empty or a vbzarr project); found a file. "
            "vbzarr never overwrites what is not its own"
        )
    if is_local(dst):
        require_writable(dst)
    repository = storage(dst, storage_options)
    if icechunk.Repository.exists(repository):
        return True
    content = [p for p in (fs.ls(path, detail=False) if fs.exists(path) else []) if p.rstrip("/") != path]
    if content and {os.path.basename(p.rstrip("/")) for p in content} <= REPOSITORY_ENTRIES:
        # Another run is creating the repository right now: give it a moment.
        for _ in range(50):
            time.sleep(0.2)
            if icechunk.Repository.exists(repository):
                return True
    if content:
        shown = ", ".join(sorted(os.path.basename(p.rstrip("/")) for p in content)[:5])
        raise DestinationError(
            f"{dst}: expected a new or empty folder, or a vbzarr project; found other content "
            f"({shown}{', ...' if len(content) > 5 else ''}). vbzarr never deletes or overwrites what "
            "is not its own: choose another destination"
        )
    return False


def open_or_create(dst: str, storage_options: dict | None = None) -> icechunk.Repository:
    """The project repository at ``dst``: opened (and its schema checked) or created (locally,
    under the commit lock, so two runs starting together create it once). The destination is
    checked before anything is written there."""
    if check_destination(dst, storage_options):
        return _open(dst, storage_options)
    if is_local(dst):
        os.makedirs(filesystem(dst)[1], exist_ok=True)
        with _commit_lock(dst):
            if check_destination(dst, storage_options):  # created meanwhile by another run
                return _open(dst, storage_options)
            return icechunk.Repository.create(storage(dst, storage_options), config=NEW_REPOSITORY)
    try:
        return icechunk.Repository.create(storage(dst, storage_options), config=NEW_REPOSITORY)
    except icechunk.IcechunkError as err:
        if icechunk.Repository.exists(storage(dst, storage_options)):  # another run created it
            return _open(dst, storage_options)
        raise DestinationError(
            f"{dst}: could not create a project here ({str(err).splitlines()[0]})"
        ) from err


def _open(dst: str, storage_options: dict | None) -> icechunk.Repository:
    repo = open_repository(dst, storage_options)
    tip = repo.readonly_session(BRANCH)
    try:
        open_manifest(tip.store, dst)
    except ProjectNotFoundError as err:
        # The same snapshot's history: another run may commit the manifest meanwhile.
        if list(repo.ancestry(snapshot_id=tip.snapshot_id))[1:]:  # commits besides the initial one
            raise DestinationError(
                f"{dst}: expected a vbzarr project; found an Icechunk repository without a manifest"
            ) from err
    return repo


@contextlib.contextmanager
def _commit_lock(dst: str) -> Iterator[None]:
    """Hold the local project's commit lock (no-op on object storage): an exclusive ``flock`` on
    the project folder itself, so no file is added to it."""
    if not is_local(dst):
        yield
        return
    import fcntl

    fd = os.open(filesystem(dst)[1], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


#: On object storage (no locks), objects no snapshot references are collected once they are this
#: old: far older than any file's conversion, so never the chunks of a run still in flight.
ORPHAN_AGE = dt.timedelta(days=1)


@contextlib.contextmanager
def conversion_run(repo: icechunk.Repository, dst: str) -> Iterator[icechunk.GCSummary | None]:
    """Hold the project for one conversion run, after collecting the orphans of killed runs.

    A run killed between writing chunks and committing them leaves objects that no snapshot
    references. Locally every run holds a shared ``flock`` on the repository's ``refs`` folder;
    a run that finds no other run holding it collects every unreferenced object written before
    it started (none can belong to a live run). On object storage, without locks, only those older
    than :data:`ORPHAN_AGE`. History is never expired: every snapshot stays readable.

    Yields the garbage collection's summary (None when another run was live).
    """
    now = dt.datetime.now(dt.UTC)
    if not is_local(dst):
        yield repo.garbage_collect(now - ORPHAN_AGE)
        return
    import fcntl

    fd = os.open(os.path.join(filesystem(dst)[1], "refs"), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            summary = None  # another run is live: its chunks may not be committed yet
        else:
            summary = repo.garbage_collect(now)
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield summary
    finally:
        os.close(fd)


def commit(
    repo: icechunk.Repository,
    session: icechunk.Session,
    dst: str,
    storage_options: dict | None,
    message: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Commit ``session`` to the branch, rebased over what others committed meanwhile.

    Stores of different files never conflict; two runs committing the same store do, and the
    later one raises :class:`ConcurrentConversionError` (its work is dropped, the project intact).
    """
    with _commit_lock(dst):
        try:
            return session.commit(message, metadata=metadata, rebase_with=icechunk.ConflictDetector())
        except icechunk.RebaseFailedError as err:
            raise ConcurrentConversionError(
                f"{dst}: another conversion committed the same store meanwhile ({err.conflicts[:3]}); "
                "its version is kept"
            ) from err


#: A batch of converted files is committed once the time since the last commit is this many
#: times that commit's duration (and at least MIN_COMMIT_INTERVAL): a commit rewrites a snapshot
#: listing every node of the project, which grows with it (``bench_commits``), so committing each
#: file alone is quadratic in the release's size; this way committing takes at most a fifth of a
#: run's time however large the project, and a kill loses at most the files of one interval.
COMMIT_WAIT_FACTOR = 4
MIN_COMMIT_INTERVAL = 1.0  # seconds
#: Tries of a batch's commit while other runs' commits land first.
COMMIT_ATTEMPTS = 10


class Batches:
    """Commit the stores a run converts, in batches: each file is written into its own fork of
    one session (:meth:`fork`, picklable to a worker), and the forks of finished files are merged
    and committed together when :meth:`due`.

    A fork is merged into a session of the branch's tip, which may be newer than the forks' base;
    Icechunk does not check conflicts between the two, so every commit since the base is read
    (``Repository.diff``) first, and a fork of a store that another run committed meanwhile is
    dropped (:class:`ConcurrentConversionError`: that run's version is kept), never mixed with it.
    """

    def __init__(self, repo: icechunk.Repository, dst: str, storage_options: dict | None = None) -> None:
        self.repo, self.dst, self.storage_options = repo, dst, storage_options
        self._base = repo.writable_session(BRANCH)
        self._checked = self._base.snapshot_id  # commits up to here have been read
        self._touched: set[str] = set()  # stores that others' commits since the base changed
        self._ours: set[str] = set()  # this run's commits
        self._pending: list[tuple[Any, icechunk.ForkSession]] = []
        self._last_end, self._last_seconds = time.monotonic(), 0.0

    def fork(self) -> icechunk.ForkSession:
        """A session for one file's writes (on a worker too: it pickles)."""
        return self._base.fork()

    def add(self, job: Any, fork: icechunk.ForkSession) -> None:
        """A finished file (``job.path`` its store, ``job.kind``/``job.id``/``job.source`` its
        description) and the fork holding its writes, to commit in the next batch."""
        self._pending.append((job, fork))

    def due(self) -> bool:
        """Whether the pending files should be committed now."""
        wait = max(MIN_COMMIT_INTERVAL, COMMIT_WAIT_FACTOR * self._last_seconds)
        return bool(self._pending) and time.monotonic() - self._last_end >= wait

    def commit(self) -> list[tuple[Any, BaseException | None]]:
        """Commit the pending files; returns each one's job and None (committed) or the error
        that kept it out (another run committed its store, or the commit failed)."""
        if not self._pending:  # nothing to commit: no repository opened, no history read
            return []
        out: list[tuple[Any, BaseException | None]] = []
        start, pending = time.monotonic(), self._pending
        self._pending = []
        # A new repository object per batch: its cache holds only the snapshots this batch reads,
        # not every snapshot the run committed (each a parsed listing of the whole project).
        self.repo = open_repository(self.dst, self.storage_options)
        for attempt in range(COMMIT_ATTEMPTS):
            session = self.repo.writable_session(BRANCH)
            self._read_commits_up_to(session.snapshot_id)
            for job, _ in pending:
                if job.path in self._touched:
                    message = f"{self.dst}/{job.path}: another conversion committed this store meanwhile"
                    out.append((job, ConcurrentConversionError(f"{message}; its version is kept")))
            pending = [(j, f) for j, f in pending if j.path not in self._touched]
            if not pending:
                break
            try:
                session.merge(*(f for _, f in pending))
                message, metadata = _describe([j for j, _ in pending])
                self._ours.add(commit(self.repo, session, self.dst, self.storage_options, message, metadata))
            except ConcurrentConversionError as err:
                if attempt + 1 < COMMIT_ATTEMPTS:
                    continue  # a commit landed meanwhile: read it, drop what it clashes with, again
                out += [(j, err) for j, _ in pending]
                break
            except (OSError, icechunk.IcechunkError) as err:
                out += [(j, err) for j, _ in pending]
                break
            out += [(j, None) for j, _ in pending]
            break
        self._last_end = time.monotonic()
        self._last_seconds = self._last_end - start
        return out

    def _read_commits_up_to(self, tip: str) -> None:
        """Note the stores that other writers' commits between the last one read and ``tip``
        changed (this run's own commits hold only stores of other files of the run)."""
        for info in self.repo.ancestry(snapshot_id=tip):
            if info.id == self._checked:
                break
            if info.id in self._ours or info.parent_id is None:
                continue
            diff = self.repo.diff(from_snapshot_id=info.parent_id, to_snapshot_id=info.id)
            changed = (
                *diff.new_groups,
                *diff.new_arrays,
                *diff.deleted_groups,
                *diff.deleted_arrays,
                *diff.updated_groups,
                *diff.updated_arrays,
                *diff.updated_chunks,
            )
            self._touched.update("/".join(path.strip("/").split("/")[:2]) for path in changed)
        self._checked = tip


def _describe(jobs: list[Any]) -> tuple[str, dict[str, Any]]:
    """A batch's commit message and metadata (each store's path and source)."""
    if len(jobs) == 1:
        message = f"convert {jobs[0].kind} {jobs[0].id} from {jobs[0].source}"
    else:
        message = f"convert {len(jobs)} files: " + ", ".join(f"{j.kind} {j.id}" for j in jobs)
    return message, {"stores": {j.path: j.source for j in jobs}}


def tables_sha256(tables: dict[str, pd.DataFrame]) -> str:
    """A checksum of the tables' stored bytes: a changed release table rewrites the manifest."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode())
        digest.update(encode_table(tables[name], name)[0].tobytes())
    return digest.hexdigest()


def commit_manifest(
    repo: icechunk.Repository,
    dst: str,
    tables: dict[str, pd.DataFrame],
    attrs: dict[str, Any],
    storage_options: dict | None = None,
) -> None:
    """Commit the manifest (and the stores' folders) unless the tip already holds these tables."""
    checksum = tables_sha256(tables)
    tip = repo.readonly_session(BRANCH)
    try:
        manifest = open_manifest(tip.store, dst)
    except ProjectNotFoundError:
        manifest = None
    if manifest is not None:
        check_schema(manifest.attrs, dst)
        if manifest.attrs.get("tables_sha256") == checksum:
            return
        if manifest.attrs.get("dataset") != attrs["dataset"]:
            raise DestinationError(
                f"{dst}: this project holds {manifest.attrs.get('dataset')}; the source is {attrs['dataset']}"
            )
    session = repo.writable_session(BRANCH)
    write_manifest(
        session.store,
        tables,
        {
            **attrs,
            "vbzarr_schema_version": SCHEMA_VERSION,
            "tables": list(tables),
            "tables_sha256": checksum,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    root = zarr.open_group(session.store, mode="a", zarr_format=3)
    for folder in STORE_FOLDERS.values():
        if folder not in root:
            root.create_group(folder)
    try:
        commit(repo, session, dst, storage_options, f"manifest: {', '.join(tables)}")
    except ConcurrentConversionError:
        # Another run wrote the manifest first: fine if it holds the same tables.
        manifest = open_manifest(repo.readonly_session(BRANCH).store, dst)
        if manifest.attrs.get("tables_sha256") != checksum:
            raise

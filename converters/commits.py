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
from vbzarr.repository import BRANCH, open_repository, storage
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
NEW_REPOSITORY = icechunk.RepositoryConfig(inline_chunk_threshold_bytes=INLINE_CHUNK_BYTES)

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
    repo: icechunk.Repository, session: icechunk.Session, dst: str, storage_options: dict | None, message: str
) -> str:
    """Commit ``session`` to the branch, rebased over what others committed meanwhile.

    Stores of different files never conflict; two runs committing the same store do, and the
    later one raises :class:`ConcurrentConversionError` (its work is dropped, the project intact).
    """
    with _commit_lock(dst):
        try:
            return session.commit(message, rebase_with=icechunk.ConflictDetector())
        except icechunk.RebaseFailedError as err:
            raise ConcurrentConversionError(
                f"{dst}: another conversion committed the same store meanwhile ({err.conflicts[:3]}); "
                "its version is kept"
            ) from err


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

"""Where a converted store goes: destinations checked before anything is written (never over what
is not vbzarr's, never where it cannot write), a private staging folder to assemble a store in,
and publishing it without ever exposing a partial store (or none).

A staging folder is held under an exclusive ``flock`` while its run lives and carries a marker
file; the folders of runs that were killed (marker, no lock) are removed by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fsspec

from vbzarr.errors import DestinationError
from vbzarr.urls import filesystem, is_local, join

#: The marker file of a staging folder: only folders holding it are ever removed.
STAGING_MARK = ".vbzarr-staging"

_NEVER = "vbzarr never deletes or overwrites what is not its own: choose another destination"


def require_bucket(dst: str, fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Raise unless the bucket of an object-storage destination exists and can be listed."""
    bucket = path.split("/", 1)[0]
    try:
        fs.ls(bucket, detail=False)
    except FileNotFoundError as err:
        raise DestinationError(f"{dst}: expected an existing bucket; {bucket!r} does not exist") from err
    except PermissionError as err:
        raise DestinationError(
            f"{dst}: the bucket {bucket!r} is not readable with these credentials"
        ) from err


def require_writable(dst: str) -> None:
    """Raise unless vbzarr can write at the local destination ``dst`` (made if new).

    Checked by doing it, before any file converts: the folder is created (a new destination is
    vbzarr's anyway) and an anonymous file is opened in it, which also catches read-only
    filesystems, where permission bits say nothing.
    """
    path = Path(filesystem(dst)[1])
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise DestinationError(
            f"{dst}: expected a folder vbzarr can write to; could not write there "
            f"({err.strerror or type(err).__name__})"
        ) from err


def refuse_foreign_destination(dst: str, storage_options: dict | None = None) -> None:
    """Raise unless ``dst`` is new, an empty folder, or a vbzarr store (which a conversion may
    replace), and vbzarr can write there: vbzarr never deletes or overwrites what is not its own."""
    fs, path = filesystem(dst, storage_options)
    if not is_local(dst):
        require_bucket(dst, fs, path)
    if fs.exists(path):
        _require_vbzarr_store_or_empty(dst, fs, path)
    if is_local(dst):
        require_writable(str(Path(path).parent))  # the store is staged beside it


def _require_vbzarr_store_or_empty(dst: str, fs: fsspec.AbstractFileSystem, path: str) -> None:
    if is_local(dst) and not os.path.isdir(path):
        raise DestinationError(f"{dst}: expected a new store path or a vbzarr store; found a file. {_NEVER}")
    meta = join(path, "zarr.json")
    if fs.exists(meta):
        try:
            attrs = json.loads(fs.cat_file(meta)).get("attributes", {})
        except (ValueError, OSError):
            attrs = {}
        if "vbzarr_schema_version" in attrs and "kind" in attrs:
            if not is_local(dst):
                raise DestinationError(
                    f"{dst}: a vbzarr store is there; replacing a plain store on object storage "
                    "cannot be atomic. Convert into a project (an NWB release folder, versioned), or "
                    "choose a new URL"
                )
            return
    if fs.ls(path, detail=False):
        raise DestinationError(
            f"{dst}: expected a new store path, an empty folder or a vbzarr store; found other "
            f"content. {_NEVER}"
        )


@contextlib.contextmanager
def staging(dst: str) -> Iterator[Path]:
    """A private folder to assemble a store in, removed afterwards; the abandoned staging folders
    of killed runs for the same destination are removed first.

    Beside a local destination (same filesystem, so publishing is a rename), named
    ``.<name>.vbzarr-staging-*``; in the temporary folder for object storage.
    """
    if is_local(dst):
        target = Path(filesystem(dst)[1])
        parent, prefix = target.parent, f".{target.name}.vbzarr-staging-"
    else:
        parent, prefix = Path(tempfile.gettempdir()), "vbzarr-staging-"
    _remove_abandoned(parent, prefix)
    while True:  # again if another run's clean-up removes the folder while it is still empty
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            fd = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)  # held while this run lives: the folder is in use
        try:
            (folder / STAGING_MARK).touch()
            break
        except FileNotFoundError:
            os.close(fd)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def _remove_abandoned(parent: Path, prefix: str) -> None:
    """Remove staging folders (marker present) that no live run holds, and empty ones (a run
    killed before its marker; ``rmdir`` removes only an empty folder)."""
    for folder in parent.glob(prefix + "*"):
        if not (folder / STAGING_MARK).is_file():
            with contextlib.suppress(OSError):
                folder.rmdir()
            continue  # anything else without the marker is never touched
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live run's
        else:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) == 0


def publish(folder: Path, staged: Path, dst: str, storage_options: dict | None) -> None:
    """Move the finished store ``staged`` (inside the staging ``folder``) to ``dst`` without ever
    exposing a partial store, or none: a rename (an exchange over an old store) locally; on object
    storage, an upload into a new prefix with the root ``zarr.json`` last."""
    if is_local(dst):
        target = Path(filesystem(dst)[1])
        if not target.exists() or not any(target.iterdir()):
            os.replace(staged, target)  # new, or an empty folder: one rename
        elif not _exchange(staged, target):
            # Without an atomic exchange: the old store (checked to be vbzarr's) moves into the
            # staging folder first, which is removed with it.
            os.replace(target, folder / "old.zarr")
            os.replace(staged, target)
        return
    fs, root = filesystem(dst, storage_options)
    # Everything else first, then the root zarr.json, which carries the consolidated metadata
    # without which nothing opens.
    files = [p for p in staged.rglob("*") if p.is_file() and p != staged / "zarr.json"]
    fs.put([str(p) for p in files], [join(root, p.relative_to(staged).as_posix()) for p in files])
    fs.put_file(str(staged / "zarr.json"), join(root, "zarr.json"))

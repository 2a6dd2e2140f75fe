"""Opening a conversion's source NWB files (local paths or fsspec URLs), checksummed as read."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec

from vbzarr.errors import InvalidNWBError
from vbzarr.urls import filesystem, is_local, join

from .nwb import NWBReader


@contextlib.contextmanager
def open_source(
    src: str | os.PathLike, storage_options: dict | None = None
) -> Iterator[tuple[NWBReader, dict[str, Any]]]:
    """Open a local or fsspec NWB file; yields the reader and its provenance record (a local
    source by its absolute path, so the record holds from any folder; a URL as given)."""
    src = str(src)
    fs, path = filesystem(src, storage_options)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InvalidNWBError(src, None, "expected an NWB file; there is no file at this path") from None
    if info.get("type") == "directory":
        raise InvalidNWBError(src, None, "expected an NWB file; this is a folder")
    provenance: dict[str, Any] = {"source": path if is_local(src) else src, "size": int(info["size"])}
    # The checksum reads the file once more: do it on a thread while the conversion runs
    # (hashlib releases the GIL), and record it at the end.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(file_sha256, fs, path)
        if is_local(src):
            reader = NWBReader(path, name=src)
        else:
            handle = fs.open(path, "rb", block_size=8 * 2**20, cache_type="readahead")
            reader = NWBReader(handle, name=src)
        try:
            yield reader, provenance
        finally:
            reader.close()
            provenance["sha256"] = digest.result()


def file_sha256(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """The sha256 of a file, read in 8 MiB blocks (the provenance checksum of a source)."""
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while block := f.read(8 * 2**20):
            digest.update(block)
    return digest.hexdigest()


def lfp_files(src: str, storage_options: dict | None = None) -> tuple[str, ...]:
    """The ``probe_<name>_lfp.nwb`` files beside an ecephys session's NWB ``src`` (same URL
    scheme as ``src``)."""
    fs, path = filesystem(src, storage_options)
    folder, name = os.path.dirname(path), os.path.basename(path)
    found = sorted(fs.glob(join(folder, "probe_*_lfp.nwb")))
    prefix = src[: len(src) - len(name)].rstrip("/")
    return tuple(join(prefix, os.path.basename(p)) for p in found)

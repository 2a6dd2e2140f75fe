"""The driver: one NWB file -> one Zarr store, written aside and moved into place.

Every registered stream builds its group lazily from the open HDF5 file; groups are written one at
a time with the synchronous dask scheduler, so at most a few chunks are in memory whatever the file
size. The store is assembled in a temporary folder and only then published: renamed into place on
a local filesystem, or uploaded with its root ``zarr.json`` (the consolidated metadata that makes it
openable) last on object storage. A failure leaves no store a reader could open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import fsspec
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from vbzarr import __version__
from vbzarr.errors import InvalidNWBError
from vbzarr.schema import SCHEMA_VERSION
from vbzarr.urls import filesystem, is_local, join

from . import metadata
from .lfp import lfp_group
from .nwb import NWBReader
from .registry import STREAMS, Chunking


def _compressors(dtype: np.dtype) -> list | None:
    """Lossless codecs: zstd level 3 (twice the encode speed of level 5 for ~1% more bytes, see
    benchmarks/results/bench_ophys_conversion.md), byte shuffle for multi-byte numbers, bit
    shuffle for 1-byte ones; none for text."""
    if dtype.kind in "OUST":
        return None
    shuffle = "bitshuffle" if dtype.itemsize == 1 else "shuffle"
    return [BloscCodec(cname="zstd", clevel=3, shuffle=shuffle)]


#: Streams a kind of file never has (not reported missing for it).
_OPHYS_ONLY = {"ophys", "images", "motion_correction"}
_ECEPHYS_ONLY = {"units", "channels", "probes", "optotagging", "lfp"}
NOT_IN_KIND = {
    "ophys_experiment": _ECEPHYS_ONLY,
    "behavior_session": _OPHYS_ONLY | _ECEPHYS_ONLY,
    "ecephys_session": _OPHYS_ONLY,
}


#: Threads compressing and writing chunks while one reads HDF5 (the machine has 2 cores).
WRITE_THREADS = 2


@dataclass
class StoreSummary:
    """What the manifest records of one store."""

    kind: str
    id: int
    url: str
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


def _encoding(ds: xr.Dataset, chunking: Chunking) -> dict[str, dict]:
    enc = {}
    for name, var in ds.variables.items():
        if var.chunks is not None:
            chunks = tuple(c[0] for c in var.chunks)
        else:
            chunks = tuple(min(n, chunking.rows) if i == 0 else n for i, n in enumerate(var.shape))
        e: dict[str, Any] = {"chunks": chunks or None}
        compressors = var.encoding.get("compressors") or _compressors(var.dtype)
        if compressors is not None:
            e["compressors"] = compressors
        enc[str(name)] = e
    return enc


@contextlib.contextmanager
def _open_source(src: str | os.PathLike) -> Iterator[tuple[NWBReader, dict[str, Any]]]:
    """Open a local or fsspec NWB file; yields the reader and its provenance record."""
    src = str(src)
    fs, path = filesystem(src)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InvalidNWBError(src, None, "expected an NWB file; there is no file at this path") from None
    provenance: dict[str, Any] = {"source": src, "size": int(info["size"])}
    # The checksum reads the file once more: do it on a thread while the conversion runs
    # (hashlib releases the GIL), and record it at the end.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(_sha256, fs, path)
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


def _sha256(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while block := f.read(8 * 2**20):
            digest.update(block)
    return digest.hexdigest()


def build_groups(nwb: NWBReader, chunking: Chunking) -> tuple[dict[str, xr.Dataset], list[str]]:
    """Every stream of the file as ``{group path: lazy Dataset}``, and the streams it lacks."""
    groups, missing = {}, []
    for name, build in STREAMS.items():
        result = build(nwb, chunking)
        if result is None:
            missing.append(name)
        elif isinstance(result, dict):
            groups.update({f"{name}/{k}": v for k, v in result.items()})
        else:
            groups[name] = result
    return groups, missing


def convert_nwb(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    chunking: Chunking | None = None,
    progress: bool = False,
    storage_options: dict | None = None,
    lfp: Sequence[str | os.PathLike] | None = None,
) -> StoreSummary:
    """Convert one Allen Visual Behavior NWB file into a Zarr store (an ``xarray.DataTree``).

    Parameters
    ----------
    src
        The NWB file: a local path or an fsspec URL.
    dst
        Where the store goes (local path or fsspec URL, e.g. ``s3://bucket/x.zarr``). An existing
        store there is replaced only once the new one is complete.
    chunking
        Chunk lengths (default :class:`Chunking`).
    progress
        Show a progress bar over the groups.
    storage_options
        fsspec options for ``dst``.
    lfp
        The per-probe ``probe_<name>_lfp.nwb`` files of an ecephys session: each becomes the
        group ``lfp/<probe_id>``.

    Returns
    -------
    StoreSummary
        Kind, id, group shapes, missing streams and provenance, as the manifest records them.

    Raises
    ------
    InvalidNWBError
        The file is not HDF5, is truncated, is not a Visual Behavior NWB file, or lacks a field a
        stream needs; the message names the file and the field. Nothing is written at ``dst``.

    Examples
    --------
    >>> convert_nwb("behavior_ophys_experiment_951980471.nwb", "951980471.zarr")  # doctest: +SKIP
    """
    chunking = chunking or Chunking()
    dst = str(dst)
    # Every dask computation of a conversion runs here, on local threads, even inside a
    # dask.distributed worker (whose default scheduler would try to ship h5py objects).
    with (
        dask.config.set(scheduler="threads", num_workers=WRITE_THREADS),
        tempfile.TemporaryDirectory(prefix="vbzarr-", dir=_scratch_dir(dst)) as tmp,
    ):
        staged = os.path.join(tmp, "store.zarr")
        with contextlib.ExitStack() as stack:
            nwb, provenance = stack.enter_context(_open_source(src))
            kind, store_id = metadata.kind_and_id(nwb)
            groups, missing = build_groups(nwb, chunking)
            for path in lfp or ():
                lfp_nwb, lfp_provenance = stack.enter_context(_open_source(path))
                probe_id, ds = lfp_group(lfp_nwb, chunking)
                groups[f"lfp/{probe_id}"] = ds
                provenance.setdefault("lfp_sources", []).append(lfp_provenance)
            if kind == "ecephys_session" and not lfp:
                missing.append("lfp")
            missing = [m for m in missing if m not in NOT_IN_KIND[kind]]
            attrs = metadata.root_attrs(nwb, kind)
            _write_groups(staged, groups, chunking, progress, label=Path(str(src)).name)
        # Sources closed: their checksums (computed alongside) are in the provenance now.
        provenance |= {
            "converter_version": __version__,
            "converted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        attrs |= {
            "vbzarr_schema_version": SCHEMA_VERSION,
            "kind": kind,
            "missing_streams": missing,
            "provenance": provenance,
        }
        _finish(staged, attrs)
        _publish(staged, dst, storage_options)
    return StoreSummary(
        kind=kind,
        id=store_id,
        url=dst,
        groups={g: {str(d): int(n) for d, n in ds.sizes.items()} for g, ds in groups.items()},
        missing=missing,
        source=provenance,
    )


def _scratch_dir(dst: str) -> str | None:
    """Stage next to a local destination (same filesystem: the final rename is atomic)."""
    if is_local(dst):
        parent = Path(dst).expanduser().resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        return str(parent)
    return None


def _write_groups(
    path: str, groups: dict[str, xr.Dataset], chunking: Chunking, progress: bool, label: str
) -> None:
    from tqdm.auto import tqdm

    zarr.open_group(path, mode="w", zarr_format=3)
    bar = tqdm(groups.items(), desc=label, unit="group", disable=not progress, leave=False)
    # HDF5 reads are serialised by the lock in NWBReader.lazy; compression and writes run on
    # ``WRITE_THREADS`` threads (set by convert_nwb), so a few chunks per thread are in memory.
    for name, ds in bar:
        bar.set_postfix_str(name)
        ds.to_zarr(
            path, group=name, mode="w", zarr_format=3, consolidated=False, encoding=_encoding(ds, chunking)
        )


def _finish(path: str, attrs: dict[str, Any]) -> None:
    """Root attributes, then the consolidated metadata that makes the store openable."""
    zarr.open_group(path, mode="r+", zarr_format=3).attrs.update(attrs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(path, zarr_format=3)


def _publish(staged: str, dst: str, storage_options: dict | None) -> None:
    """Move a finished store into place without ever exposing a partial one."""
    if is_local(dst):
        target = Path(dst).expanduser().resolve()
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    fs, root = filesystem(dst, storage_options)
    # The root zarr.json carries the consolidated metadata: without it nothing opens. Remove the
    # old one first, upload everything else, and the new root last.
    root_meta = join(root, "zarr.json")
    if fs.exists(root_meta):
        fs.rm(root_meta)
    if fs.exists(root):
        fs.rm(root, recursive=True)
    files = [p for p in Path(staged).rglob("*") if p.is_file() and p != Path(staged, "zarr.json")]
    fs.put([str(p) for p in files], [join(root, p.relative_to(staged).as_posix()) for p in files])
    fs.put_file(os.path.join(staged, "zarr.json"), root_meta)

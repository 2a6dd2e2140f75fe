"""The driver: one NWB file -> one Zarr store, written aside and moved into place.

Every registered stream builds its group lazily from the open HDF5 file: tables and coordinates in
memory, the large datasets as dask arrays. xarray then encodes every group into an in-memory
store (the metadata of every array, the values of the in-memory ones), written out as plain files.
The dask arrays follow in slabs: runs of whole chunks, about ``SLAB_BYTES`` each, computed on
``WRITE_THREADS`` threads with dask's synchronous scheduler (the arrays of a group that share a
chunk grid together, so a derived array, e.g. filtered events, reuses its source's reads), then
compressed and written chunk by chunk in the same thread, byte for byte as zarr writes them. HDF5
is read under one process-wide lock; a few slabs are in memory whatever the file size. The store is
assembled in a temporary folder and only then published: renamed into place on a local
filesystem, or uploaded with its root ``zarr.json`` (the consolidated metadata that makes it
openable) last on object storage. A failure leaves no store a reader could open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import dask.local
import fsspec
import numcodecs
import numpy as np
import xarray as xr
import zarr
from zarr.abc.buffer import Buffer
from zarr.abc.store import Store
from zarr.codecs import BloscCodec, BytesCodec, Endian
from zarr.core.buffer import cpu
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from vbzarr import __version__
from vbzarr.errors import InvalidNWBError
from vbzarr.schema import SCHEMA_VERSION
from vbzarr.urls import filesystem, is_local, join

from . import metadata
from .lfp import lfp_group
from .nwb import NWBReader
from .publish import publish, refuse_foreign_destination, staging
from .registry import STREAMS, Chunking

#: Blosc (compressor, level) for numbers: a store is decoded many times and encoded once, so
#: decoding speed decides (codec probe in benchmarks/results/bench_ophys_conversion.md).
NUMBER_CODEC = ("lz4hc", 1)


def _compressors(dtype: np.dtype) -> list | None:
    """Lossless codecs: ``NUMBER_CODEC`` with byte shuffle for multi-byte numbers, bit shuffle
    for 1-byte ones; none for text."""
    if dtype.kind in "OUST":
        return None
    shuffle = "bitshuffle" if dtype.itemsize == 1 else "shuffle"
    cname, clevel = NUMBER_CODEC
    return [BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle)]


#: Streams a kind of file never has (not reported missing for it).
_OPHYS_ONLY = {"ophys", "images", "motion_correction"}
_ECEPHYS_ONLY = {"units", "channels", "probes", "optotagging", "lfp"}
NOT_IN_KIND = {
    "ophys_experiment": _ECEPHYS_ONLY,
    "behavior_session": _OPHYS_ONLY | _ECEPHYS_ONLY,
    "ecephys_session": _OPHYS_ONLY,
}


#: Slabs in flight, one per core (at least two: one reads HDF5 under the process-wide lock while
#: another compresses; at most 8: each holds a slab in memory).
WRITE_THREADS = min(max(os.cpu_count() or 2, 2), 8)
#: Uncompressed bytes of one slab (all the lazy arrays of a group sharing a chunk grid, over a
#: run of whole dask chunks; at least one): big enough to amortise a dask computation, small
#: enough that ``WRITE_THREADS`` of them stay far below the memory of a large file.
SLAB_BYTES = 16 * 2**20


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
    """Chunks and codecs of every variable: a variable's own ``encoding`` (e.g. the spike codec,
    trace chunks), else its dask chunks, else ``chunking.rows`` along the first dim."""
    enc = {}
    for name, var in ds.variables.items():
        if "chunks" in var.encoding:
            chunks = tuple(min(c, max(n, 1)) for c, n in zip(var.encoding["chunks"], var.shape, strict=True))
        elif var.chunks is not None:
            chunks = tuple(c[0] for c in var.chunks)
        else:
            # (An empty table's arrays still need chunks of at least 1.)
            chunks = tuple(max(min(n, chunking.rows) if i == 0 else n, 1) for i, n in enumerate(var.shape))
        e: dict[str, Any] = {"chunks": chunks or None}
        compressors = var.encoding.get("compressors") or _compressors(var.dtype)
        if compressors is not None:
            e["compressors"] = compressors
        enc[str(name)] = e
    return enc


@contextlib.contextmanager
def _open_source(
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
    threads: int | None = None,
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
        Show a progress bar over the slabs written.
    storage_options
        fsspec options for ``dst``.
    lfp
        The per-probe ``probe_<name>_lfp.nwb`` files of an ecephys session: each becomes the
        group ``lfp/<probe_id>``. Default: those beside ``src`` (as the release lays them out);
        ``()`` for none.
    threads
        Writer threads (default ``WRITE_THREADS``, one per core); fewer when several files
        convert at once on one machine.

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
    refuse_foreign_destination(dst, storage_options)
    with staging(dst) as folder:
        staged = folder / "store.zarr"
        summary = write_store(
            src, FolderTarget(str(staged)), chunking=chunking, progress=progress, lfp=lfp, threads=threads
        )
        publish(folder, staged, dst, storage_options)
    summary.url = dst
    return summary


def write_store(
    src: str | os.PathLike,
    target: FolderTarget | StoreTarget,
    *,
    chunking: Chunking | None = None,
    progress: bool = False,
    lfp: Sequence[str | os.PathLike] | None = None,
    threads: int | None = None,
    consolidate: bool = True,
    source_options: dict | None = None,
) -> StoreSummary:
    """Write the store of one NWB file into ``target`` (a staging folder, or a path of an
    Icechunk session, which needs no consolidated metadata); see :func:`convert_nwb`."""
    chunking = chunking or Chunking()
    # Every dask computation of a conversion runs in the thread that asks for it (the writer
    # parallelises over slabs), even inside a dask.distributed worker, whose default scheduler
    # would try to ship h5py objects. A function, not a name: given a name, dask first imports
    # distributed to look for a client (a quarter of a second).
    with dask.config.set(scheduler=dask.local.get_sync):
        staged = _StagedStore(target, chunking, threads or WRITE_THREADS)
        with contextlib.ExitStack() as stack:
            nwb, provenance = stack.enter_context(_open_source(src, source_options))
            kind, store_id = metadata.kind_and_id(nwb)
            if lfp is None and kind == "ecephys_session":
                lfp = lfp_files(str(src), source_options)
            groups, missing = build_groups(nwb, chunking)
            for path in lfp or ():
                lfp_nwb, lfp_provenance = stack.enter_context(_open_source(path, source_options))
                probe_id, ds = lfp_group(lfp_nwb, chunking)
                groups[f"lfp/{probe_id}"] = ds
                provenance.setdefault("lfp_sources", []).append(lfp_provenance)
            if kind == "ecephys_session" and not lfp:
                missing.append("lfp")
            missing = [m for m in missing if m not in NOT_IN_KIND[kind]]
            missing += [f"{g}/{v}" for g, ds in groups.items() for v in ds.attrs.get("missing_variables", [])]
            attrs = metadata.root_attrs(nwb, kind)
            if not attrs["eye_tracking_rig_geometry"]:
                missing.append("eye_tracking_rig_geometry")
            staged.write(groups, progress, label=Path(str(src)).name)
        # Sources closed: their checksums (computed alongside) are in the provenance now.
        provenance |= {
            "converter_version": __version__,
            "converted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        summary = StoreSummary(
            kind=kind,
            id=store_id,
            url="",
            groups={g: {str(d): int(n) for d, n in ds.sizes.items()} for g, ds in groups.items()},
            missing=missing,
            source=provenance,
        )
        attrs |= {
            "vbzarr_schema_version": SCHEMA_VERSION,
            "kind": kind,
            "missing_streams": missing,
            "provenance": provenance,
            "group_sizes": summary.groups,
        }
        staged.finish(attrs, consolidate)
    return summary


def lfp_files(src: str, storage_options: dict | None = None) -> tuple[str, ...]:
    """The ``probe_<name>_lfp.nwb`` files beside an ecephys session's NWB ``src`` (same URL
    scheme as ``src``)."""
    fs, path = filesystem(src, storage_options)
    folder, name = os.path.dirname(path), os.path.basename(path)
    found = sorted(fs.glob(join(folder, "probe_*_lfp.nwb")))
    prefix = src[: len(src) - len(name)].rstrip("/")
    return tuple(join(prefix, os.path.basename(p)) for p in found)


class _Deferred:
    """The ``writer`` that xarray's ``Dataset.dump_to_store`` hands every encoded array to, with
    its zarr target: in-memory values are written at once, dask ones are kept for the slabs."""

    def __init__(self) -> None:
        self.lazy: list[tuple[zarr.Array, da.Array]] = []

    def add(self, source: Any, target: zarr.Array, region: Any = None) -> None:
        # ``region`` is always the whole array: groups are written whole, never appended to.
        if isinstance(source, da.Array):
            if source.size:
                self.lazy.append((target, source))
        else:
            target[...] = source


@dataclass
class _Slab:
    """One write task: the same block of every lazy array of a group that shares a chunk grid
    (``targets``: their zarr arrays, as created in memory: metadata only)."""

    group: str
    targets: list[zarr.Array]
    sources: list[da.Array]
    block: tuple[slice, ...]


def _slabs(group: str, lazy: list[tuple[zarr.Array, da.Array]]) -> list[_Slab]:
    """Cut a group's lazy arrays into slabs along one axis (time for traces, images for templates).

    Arrays sharing a chunk grid share their slabs. A slab is a run of whole dask chunks (each read
    once, not sliced) of about ``SLAB_BYTES``, and starts and ends on stored-chunk boundaries, so
    no two slabs write the same stored chunk. The axis is the one with the most such boundaries.
    """
    grids: dict[tuple, list[tuple[zarr.Array, da.Array]]] = {}
    for target, source in lazy:
        grids.setdefault((target.shape, target.chunks), []).append((target, source))
    slabs = []
    for (shape, chunks), members in grids.items():
        targets, sources = [t for t, _ in members], [s for _, s in members]
        if not shape:  # a 0-d array: one slab
            slabs.append(_Slab(group, targets, sources, ()))
            continue
        # Per axis, the dask chunk ends of every array that fall on a stored chunk's edge.
        ends = [
            sorted(
                e
                for e in set.intersection(*(set(np.cumsum(s.chunks[axis]).tolist()) for s in sources))
                if e % chunks[axis] == 0 or e == shape[axis]
            )
            for axis in range(len(shape))
        ]
        axis = int(np.argmax([len(e) for e in ends]))
        row_bytes = sum(s.nbytes for s in sources) / shape[axis]
        cuts, previous = [0], 0
        for end in ends[axis]:
            if previous > cuts[-1] and (end - cuts[-1]) * row_bytes > SLAB_BYTES:
                cuts.append(previous)
            previous = end
        cuts.append(shape[axis])
        for start, stop in itertools.pairwise(cuts):
            block = tuple(slice(start, stop) if i == axis else slice(None) for i in range(len(shape)))
            slabs.append(_Slab(group, targets, sources, block))
    return slabs


def _write_file(path: Path, data: Any) -> None:
    """Write ``data`` to ``path``; its folder is created only if missing (rarely: every chunk of a
    row lands in the same folder)."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


class FolderTarget:
    """Where a store's objects go: files under a folder (a plain Zarr store being staged)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def put(self, key: str, data: Any) -> None:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"Expected a key inside the store. Got {key!r}.")
        _write_file(Path(self.root, key), data)

    def zarr_store(self) -> tuple[Store, str]:
        return LocalStore(self.root), ""


class StoreTarget:
    """Where a store's objects go: keys under ``prefix`` of a Zarr store (an Icechunk session's:
    nothing is visible to readers before the session commits)."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix.strip("/")

    def put(self, key: str, data: Any) -> None:
        sync(self.store.set(f"{self.prefix}/{key}", cpu.Buffer.from_bytes(bytes(data))))

    def zarr_store(self) -> tuple[Store, str]:
        return self.store, self.prefix


class _StagedStore:
    """The store being assembled in the scratch folder.

    xarray encodes every group into an in-memory store first (creating ~160 arrays through zarr
    costs half as much there as on disk): the metadata of every array and the values of the
    in-memory ones, then written out as plain files. The dask arrays follow, slab by slab, on a
    thread pool. ``finish`` adds the root attributes and the consolidated metadata, computed from
    the documents in memory (the same as on disk).
    """

    def __init__(
        self, target: FolderTarget | StoreTarget, chunking: Chunking, threads: int = WRITE_THREADS
    ) -> None:
        self.target, self.chunking, self.threads = target, chunking, threads
        self.documents: dict[str, Buffer] = {}
        self.memory = MemoryStore(self.documents)
        self.written: dict[str, Buffer] = {}
        zarr.open_group(self.memory, mode="w", zarr_format=3)

    def write(self, groups: dict[str, xr.Dataset], progress: bool = False, label: str = "") -> None:
        """Every group: metadata and in-memory values, then the dask arrays' slabs."""
        self.write_slabs(self.write_metadata(groups), progress, label)

    def write_metadata(self, groups: dict[str, xr.Dataset]) -> list[_Slab]:
        """Metadata and in-memory values of every group, to memory then to disk; returns the
        slabs of their dask arrays, still to be written."""
        slabs: list[_Slab] = []
        for name, ds in groups.items():
            deferred = _Deferred()
            target = xr.backends.ZarrStore.open_group(self.memory, group=name, mode="w", zarr_format=3)
            ds.dump_to_store(target, writer=deferred, encoding=_encoding(ds, self.chunking))
            slabs += _slabs(name, deferred.lazy)
        self._write_documents()
        return slabs

    def write_slabs(self, slabs: list[_Slab], progress: bool = False, label: str = "") -> None:
        """Compute and write ``slabs`` on ``self.threads`` threads (metadata written already)."""
        from tqdm.auto import tqdm

        with (
            tqdm(total=len(slabs), desc=label, unit="slab", disable=not progress, leave=False) as bar,
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="vbzarr-write") as pool,
        ):
            for slab in pool.map(lambda slab: _write_slab(self.target, slab), slabs):
                bar.set_postfix_str(slab.group, refresh=False)
                bar.update()

    def finish(self, attrs: dict[str, Any], consolidate: bool = True) -> None:
        """Root attributes, then (for a plain store) the consolidated metadata that makes the
        store openable."""
        zarr.open_group(self.memory, mode="r+", zarr_format=3).attrs.update(attrs)
        if consolidate:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
                zarr.consolidate_metadata(self.memory, zarr_format=3)
        self._write_documents()

    def _write_documents(self) -> None:
        """Write out what changed in memory since the last call (zarr replaces a buffer, never
        modifies it)."""
        for key, buffer in self.documents.items():
            if self.written.get(key) is not buffer:
                self.target.put(key, buffer.as_buffer_like())
                self.written[key] = buffer


def _write_slab(target: FolderTarget | StoreTarget, slab: _Slab) -> _Slab:
    """Compute one slab in this thread (HDF5 reads under the process-wide lock) and store it."""
    values = dask.compute(*(s[slab.block] for s in slab.sources), scheduler=dask.local.get_sync)
    for array, v in zip(slab.targets, values, strict=True):
        _write_chunks(target, array, slab.block, v)
    return slab


def _write_chunks(
    target: FolderTarget | StoreTarget, array: zarr.Array, block: tuple[slice, ...], values: np.ndarray
) -> None:
    """Store ``values``, the region ``block`` of ``array`` (whole chunks), in ``target``.

    For the converter's numeric codecs (bytes, then blosc), the chunk files are written here, in
    this thread, exactly as zarr writes them: C order, a partial edge chunk padded with the fill
    value, a chunk equal to the fill value left out (unless ``write_empty_chunks``). Compressing
    releases the GIL, so the writer threads compress in parallel, without zarr's bookkeeping of
    every chunk on its one event-loop thread (measured: 30% of the conversion time). Other codecs
    go through zarr. ``array`` only supplies the metadata (e.g. the one xarray created in memory).
    """
    encode = _chunk_encoder(array)
    if encode is None:
        store, prefix = target.zarr_store()
        path = f"{prefix}/{array.path}" if prefix else array.path
        zarr.open_array(store, path=path, mode="r+", zarr_format=3)[block] = values
        return
    chunks, fill, shape = array.chunks, array.fill_value, array.shape
    values = np.asarray(values, dtype=array.dtype.newbyteorder("<"))
    starts = [b.indices(n)[0] for b, n in zip(block, shape, strict=True)]
    stops = [b.indices(n)[1] for b, n in zip(block, shape, strict=True)]
    grid = [range(a // c, -(-z // c)) for a, z, c in zip(starts, stops, chunks, strict=True)]
    for index in itertools.product(*grid):
        region = values[
            tuple(
                slice(i * c - a, min((i + 1) * c, n) - a)
                for i, c, a, n in zip(index, chunks, starts, shape, strict=True)
            )
        ]
        if region.shape == chunks:
            chunk = np.ascontiguousarray(region)
        else:
            chunk = np.full(chunks, fill, dtype=values.dtype)
            chunk[tuple(slice(0, k) for k in region.shape)] = region
        if array.config.write_empty_chunks or not _is_fill(chunk, fill):
            key = array.metadata.encode_chunk_key(index)
            target.put(f"{array.path}/{key}" if array.path else key, encode(chunk))


#: zarr's blosc shuffle names -> numcodecs' constants.
_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _chunk_encoder(array: zarr.Array) -> Callable[[np.ndarray], bytes] | None:
    """The function encoding one chunk of ``array`` as zarr does, if its codecs are bytes (little
    endian) then blosc, its dtype numeric and its order C; else ``None``."""
    codecs = array.metadata.codecs
    if not (
        len(codecs) == 2
        and isinstance(codecs[0], BytesCodec)
        and codecs[0].endian in (None, Endian.little)
        and isinstance(codecs[1], BloscCodec)
        and array.dtype.kind in "biuf"
        and array.config.order == "C"
    ):
        return None
    blosc = codecs[1]
    try:
        codec = numcodecs.Blosc(
            cname=blosc.cname.value,
            clevel=blosc.clevel,
            shuffle=_SHUFFLE[blosc.shuffle.value],
            blocksize=blosc.blocksize,
            typesize=blosc.typesize,
        )
    except TypeError:  # numcodecs < 0.16 takes no typesize: leave the encoding to zarr
        return None
    return codec.encode


def _is_fill(chunk: np.ndarray, fill: Any) -> bool:
    """Whether zarr would leave ``chunk`` out as equal to the fill value: NaN equals NaN, a zero
    float fill is matched bit for bit (-0.0 is data). The first element settles most chunks."""
    if chunk.dtype.kind == "f" and np.isnan(fill):
        return bool(np.isnan(chunk.flat[0]) and np.isnan(chunk).all())
    if chunk.dtype.kind == "f" and fill == 0:
        bits = chunk.view(f"u{chunk.itemsize}")
        return bool(bits.flat[0] == 0 and not bits.any())
    return bool(chunk.flat[0] == fill and (chunk == fill).all())

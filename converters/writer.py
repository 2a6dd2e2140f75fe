"""Writing a store's groups: xarray encodes every group's metadata (and its in-memory arrays)
into an in-memory store, written out as plain files; the dask arrays follow in slabs: runs of
whole chunks, about ``WRITE_SLAB_BYTES`` each, computed on ``WRITE_THREADS`` threads with dask's
synchronous scheduler (the arrays of a group that share a chunk grid together, so a derived
array, e.g. filtered events, reuses its source's reads), then compressed and written chunk by
chunk in the same thread, byte for byte as zarr writes them. HDF5 is read under one process-wide
lock; a few slabs are in memory whatever the file size.

Targets: a folder (a staged single-file store) or a prefix of any zarr store (an Icechunk
session of a project).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import dask
import dask.array as da
import dask.local
import numcodecs
import numpy as np
import xarray as xr
import zarr
from zarr.abc.buffer import Buffer
from zarr.abc.store import Store
from zarr.codecs import BloscCodec, BytesCodec, Endian
from zarr.core.buffer import cpu
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from vbzarr.errors import DestinationError

from .chunking import Chunking
from .progress import progress_bar

#: Blosc (compressor, level) for numbers: a store is decoded many times and encoded once, so
#: decoding speed decides (codec probe in benchmarks/results/bench_ophys_conversion.md).
NUMBER_CODEC: tuple[Literal["lz4", "lz4hc", "blosclz", "snappy", "zlib", "zstd"], int] = ("lz4hc", 1)


def _compressors(dtype: np.dtype) -> list | None:
    """Lossless codecs: ``NUMBER_CODEC`` with byte shuffle for multi-byte numbers, bit shuffle
    for 1-byte ones; none for text."""
    if dtype.kind in "OUST":
        return None
    shuffle: Literal["bitshuffle", "shuffle"] = "bitshuffle" if dtype.itemsize == 1 else "shuffle"
    cname, clevel = NUMBER_CODEC
    return [BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle)]


#: Slabs in flight, one per core (at least two: one reads HDF5 under the process-wide lock while
#: another compresses; at most 8: each holds a slab in memory).
WRITE_THREADS = min(max(os.cpu_count() or 2, 2), 8)
#: Uncompressed bytes of one slab (all the lazy arrays of a group sharing a chunk grid, over a
#: run of whole dask chunks; at least one): big enough to amortise a dask computation, small
#: enough that ``WRITE_THREADS`` of them stay far below the memory of a large file.
WRITE_SLAB_BYTES = 16 * 2**20


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
    once, not sliced) of about ``WRITE_SLAB_BYTES``, and starts and ends on stored-chunk boundaries, so
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
            if previous > cuts[-1] and (end - cuts[-1]) * row_bytes > WRITE_SLAB_BYTES:
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


class Target(Protocol):
    """Where a store's objects go: ``put`` one object (metadata document or encoded chunk) under
    its key, and the zarr store (and prefix) xarray writes metadata through."""

    def put(self, key: str, data: Any) -> None: ...

    def zarr_store(self) -> tuple[Store, str]: ...

    def flush(self) -> None:
        """Wait until every object put is written (raising the first failure)."""


class FolderTarget:
    """Where a store's objects go: files under a folder (a plain Zarr store being staged)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def put(self, key: str, data: Any) -> None:
        if key.startswith("/") or ".." in key.split("/"):
            raise DestinationError(f"{self.root}: expected a key inside the store; got {key!r}")
        _write_file(Path(self.root, key), data)

    def zarr_store(self) -> tuple[Store, str]:
        return LocalStore(self.root), ""

    def flush(self) -> None:
        pass  # every put wrote its file


class StoreTarget:
    """Where a store's objects go: keys under ``prefix`` of a Zarr store (an Icechunk session's:
    nothing is visible to readers before the session commits).

    Chunk puts do not wait for the store: up to ``IN_FLIGHT`` of them are written meanwhile (the
    writer threads go on computing and compressing; Icechunk writes in parallel), and
    :meth:`flush` waits for the rest. Metadata documents are written in order, each once what
    came before it is written: Icechunk takes a chunk only for an array it knows. Memory:
    ``IN_FLIGHT`` encoded chunks at most.
    """

    IN_FLIGHT = 32

    def __init__(self, store: Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix.strip("/")
        self._slots = threading.BoundedSemaphore(self.IN_FLIGHT)
        self._pending: list[concurrent.futures.Future] = []
        self._lock = threading.Lock()
        # Each put waits for its write in one of these threads, not in the writer's.
        self._writes = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vbzarr-put")

    def put(self, key: str, data: Any) -> None:
        write = self.store.set(f"{self.prefix}/{key}", cpu.Buffer.from_bytes(bytes(data)))
        if key.rsplit("/", 1)[-1] == "zarr.json":
            self._wait()
            sync(write)
            return
        self._slots.acquire()
        future = self._writes.submit(sync, write)
        future.add_done_callback(lambda _: self._slots.release())
        with self._lock:
            self._pending.append(future)

    def zarr_store(self) -> tuple[Store, str]:
        return self.store, self.prefix

    def flush(self) -> None:
        self._wait()
        self._writes.shutdown()

    def _wait(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()


class StagedStore:
    """The store being assembled in the scratch folder.

    xarray encodes every group into an in-memory store first (creating ~160 arrays through zarr
    costs half as much there as on disk): the metadata of every array and the values of the
    in-memory ones, then written out as plain files. The dask arrays follow, slab by slab, on a
    thread pool. ``finish`` adds the root attributes and the consolidated metadata, computed from
    the documents in memory (the same as on disk).
    """

    def __init__(self, target: Target, chunking: Chunking, threads: int = WRITE_THREADS) -> None:
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
        bar_class = progress_bar(not progress)
        with (
            bar_class(total=len(slabs), desc=label, unit="slab", disable=not progress, leave=False) as bar,
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
        self.target.flush()

    def _write_documents(self) -> None:
        """Write out what changed in memory since the last call (zarr replaces a buffer, never
        modifies it)."""
        for key, buffer in self.documents.items():
            if self.written.get(key) is not buffer:
                self.target.put(key, buffer.as_buffer_like())
                self.written[key] = buffer


def _write_slab(target: Target, slab: _Slab) -> _Slab:
    """Compute one slab in this thread (HDF5 reads under the process-wide lock) and store it."""
    values = dask.compute(*(s[slab.block] for s in slab.sources), scheduler=dask.local.get_sync)
    for array, v in zip(slab.targets, values, strict=True):
        _write_chunks(target, array, slab.block, v)
    return slab


def _write_chunks(target: Target, array: zarr.Array, block: tuple[slice, ...], values: np.ndarray) -> None:
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
    if not isinstance(array.metadata, ArrayV3Metadata):
        return None
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

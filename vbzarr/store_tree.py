"""One store of a project as a DataTree, its metadata read in one round of requests.

``xr.open_datatree`` on a group of an Icechunk session lists every group and reads every node's
metadata one call at a time (about 50 round trips into the store for an ophys experiment). Here
the store's groups are listed level by level, each level's listings and metadata documents read
concurrently, and the tree is opened from a view of the store whose root metadata holds them all
(Zarr's consolidated metadata, made in memory: nothing is written). The view reads everything else
(array chunks) from the session's store.

Each dask task reads a trace's rows over the whole recording where that stays small
(:func:`task_chunks`), rather than one stored chunk per task.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import WrapperStore

from .store import READ_CONFIG

ROOT = "zarr.json"

#: Bytes a dask task of a store's tree reads at most when it reads a dim whole (see task_chunks).
TASK_BYTES = 64 * 2**20


class StoreView(WrapperStore[Store]):
    """The group at ``prefix`` of ``store`` as a read-only store of its own, whose root metadata
    is ``root`` (the group's ``zarr.json`` with its descendants' metadata consolidated)."""

    def __init__(self, store: Store, prefix: str = "", root: bytes = b"") -> None:
        super().__init__(store)
        self._prefix, self._root = prefix.strip("/"), root

    def _with_store(self, store: Store) -> StoreView:
        return type(self)(store, self._prefix, self._root)

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if key else self._prefix

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if key == ROOT:
            return prototype.buffer.from_bytes(self._root) if byte_range is None else None
        return await self._store.get(self._key(key), prototype, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return await self._store.get_partial_values(prototype, [(self._key(k), r) for k, r in key_ranges])

    async def exists(self, key: str) -> bool:
        return key == ROOT or await self._store.exists(self._key(key))

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        async for name in self._store.list_dir(self._key(prefix)):
            yield name

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in self._store.list_prefix(self._key(prefix)):
            yield key[len(self._prefix) + 1 :]

    async def list(self) -> AsyncIterator[str]:
        async for key in self.list_prefix(""):
            yield key


async def read_metadata(store: Store, path: str) -> dict[str, Any]:
    """The ``zarr.json`` of the group at ``path`` with every descendant's metadata inlined (as
    consolidated metadata), read level by level, each level at once."""
    proto = default_buffer_prototype()

    async def document(key: str) -> dict[str, Any] | None:
        found = await store.get(f"{key}/{ROOT}".lstrip("/"), proto)
        return None if found is None else json.loads(found.to_bytes())

    async def children(group: str) -> list[str]:
        return [f"{group}/{name}" async for name in store.list_dir(group) if name != ROOT]

    root = await document(path)
    if root is None:
        raise FileNotFoundError(f"{path}/{ROOT}")
    metadata: dict[str, Any] = {}
    level = [path]
    while level:  # each level of groups listed, and its nodes' metadata read, at once
        keys = [k for names in await asyncio.gather(*(children(g) for g in level)) for k in names]
        level = []
        for key, doc in zip(keys, await asyncio.gather(*(document(k) for k in keys)), strict=True):
            if doc is None:  # not a node (an array's chunk folder)
                continue
            metadata[key[len(path) + 1 :]] = doc
            if doc.get("node_type") == "group":
                level.append(key)
    root["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": metadata}
    return root


def task_chunks(metadata: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The dask chunks of a store's tree, by dim, from its arrays' metadata: ``-1`` (whole) for
    each dim that is the last dim of every array stored in several chunks along it, when each of
    these arrays' stored chunks of its other dims, times the whole dim, hold at most
    :data:`TASK_BYTES`; every other dim keeps its stored chunks.

    A task then reads its cells' whole trace (nine stored chunks of dF/F) in one call into the
    store, which fetches and decodes them concurrently, instead of one task and one round trip
    per stored chunk. A slice still reads only the stored chunks it covers: dask fuses it into
    the read.
    """
    whole: dict[str, bool] = {}
    for doc in metadata.values():
        if doc.get("node_type") != "array":
            continue
        dims, shape = doc.get("dimension_names") or [], doc["shape"]
        chunks = doc["chunk_grid"]["configuration"]["chunk_shape"]
        try:  # text and structured types have no fixed item size: their dims keep stored chunks
            dtype = np.dtype(doc["data_type"])
        except TypeError:
            dtype = np.dtype(object)
        for i, dim in enumerate(dims):
            if shape[i] <= chunks[i]:
                continue
            last = i == len(dims) - 1 and dtype.kind in "biufc"
            fits = last and dtype.itemsize * math.prod(chunks[:-1]) * shape[-1] <= TASK_BYTES
            whole[dim] = whole.get(dim, True) and fits
    return {dim: -1 for dim, fits in whole.items() if fits}


def open_store_tree(store: Store, path: str) -> xr.DataTree:
    """The group at ``path`` of ``store`` (a project session's) as a lazy DataTree, every variable
    a dask array on whole stored chunks (:func:`task_chunks`).

    Raises
    ------
    FileNotFoundError
        No group at ``path``.
    """
    root = sync(read_metadata(store, path.strip("/")))
    view = StoreView(store, path, json.dumps(root).encode())
    with zarr.config.set(READ_CONFIG):
        return xr.open_datatree(
            view,  # type: ignore[arg-type]  # a zarr Store: accepted, not in xarray's hints
            engine="zarr",
            chunks=task_chunks(root["consolidated_metadata"]["metadata"]),
            consolidated=True,
            zarr_format=3,
        )

"""``vbzarr validate``: check a store (or every store of a project) against its source NWB.

The source is converted again, slab by slab as a conversion does, and every object the
conversion would write (each array's metadata and every chunk of every group) is compared with
the stored one, byte for byte; objects the store holds that the conversion would not write are
reported too. So every array of every group is checked against the NWB's values (or the values
the converter derives from them), with the memory of a conversion, not of the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import MemoryStore

from vbzarr.errors import ProjectNotFoundError
from vbzarr.manifest import store_records
from vbzarr.project import open_project
from vbzarr.urls import filesystem, is_local, zarr_store

from .convert import write_store

#: Root attributes that record the conversion itself (when, from where), not the data.
RUN_ATTRS = ("provenance",)


def _document(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    for key in RUN_ATTRS:
        doc.get("attributes", {}).pop(key, None)
    return doc


class CompareTarget:
    """A conversion target that writes nothing: it compares every object with ``store``'s."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix.strip("/")
        self.problems: list[str] = []
        self.seen: set[str] = set()
        # Arrays zarr itself writes (codecs the writer does not encode) go to a scratch store.
        self.scratch = MemoryStore()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: Any) -> None:
        data = bytes(data)
        self.seen.add(key)
        if key.endswith("zarr.json"):  # written again as the conversion goes: compared at the end
            sync(self.scratch.set(key, default_buffer_prototype().buffer.from_bytes(data)))
            return
        got = sync(self.store.get(self._key(key), prototype=default_buffer_prototype()))
        if got is None:
            self.problems.append(f"{key}: missing from the store")
        elif got.to_bytes() != data:
            self.problems.append(f"{key}: differs from the NWB's values (as converted)")

    def zarr_store(self) -> tuple[Store, str]:
        return self.scratch, ""

    def flush(self) -> None:
        pass  # every put was compared already

    def finish(self) -> list[str]:
        """Compare what zarr wrote to the scratch store, and report objects only the store has."""

        async def check() -> None:
            async for key in self.scratch.list():
                buffer = await self.scratch.get(key, prototype=default_buffer_prototype())
                assert buffer is not None  # listed just now, in memory
                data = buffer.to_bytes()
                if key.endswith("zarr.json"):
                    got = await self.store.get(self._key(key), prototype=default_buffer_prototype())
                    if got is None:
                        self.problems.append(f"{key}: missing from the store")
                    elif _document(got.to_bytes()) != _document(data):
                        self.problems.append(f"{key}: metadata differs from a new conversion's")
                elif key not in self.seen:  # chunks zarr wrote (codecs the writer leaves to zarr)
                    self.seen.add(key)
                    got = await self.store.get(self._key(key), prototype=default_buffer_prototype())
                    if got is None or got.to_bytes() != data:
                        self.problems.append(f"{key}: missing or differs from the NWB's values")
            prefix = f"{self.prefix}/" if self.prefix else ""
            async for key in self.store.list_prefix(prefix):
                rel = key[len(prefix) :]
                if rel not in self.seen and not rel.startswith("."):
                    self.problems.append(f"{rel}: in the store, but a conversion would not write it")

        sync(check())
        return self.problems


def _compare(
    store: Store, prefix: str, attrs: dict[str, Any], nwb: str | None, options: dict | None
) -> list[str]:
    provenance = attrs.get("provenance", {})
    source = nwb or provenance.get("source")
    if source is None:
        return [f"{prefix or '/'}: no recorded source; give the NWB file"]
    fs, path = filesystem(source, options)
    if not fs.exists(path):
        return [f"{source}: the source NWB is not there (give its path)"]
    lfp = [s["source"] for s in provenance.get("lfp_sources", [])]
    target = CompareTarget(store, prefix)
    # The conversion hashes the source as it reads it: its checksum, not a second read.
    summary = write_store(source, target, lfp=lfp, consolidate=prefix == "", source_options=options)
    problems = []
    if provenance.get("sha256") != summary.source["sha256"]:
        problems.append(f"{source}: checksum differs from the one recorded at conversion")
    return problems + target.finish()


def validate_store(
    store: str,
    nwb: str | None = None,
    storage_options: dict | None = None,
    source_options: dict | None = None,
) -> list[str]:
    """Problems found comparing a store, or every store of a project, with its source NWB
    (default: the recorded source; ``nwb`` for a single store). Empty when they agree.

    ``storage_options`` are fsspec options for ``store``, ``source_options`` for the sources."""
    try:
        project = open_project(store, storage_options=storage_options)
    except ProjectNotFoundError:
        project = None
    if project is None:
        root = zarr_store(os.path.abspath(store) if is_local(store) else store, storage_options)
        meta = sync(root.get("zarr.json", prototype=default_buffer_prototype()))
        if meta is None:
            return [f"{store}: expected a vbzarr store or project; there is none"]
        attrs = json.loads(meta.to_bytes()).get("attributes", {})
        return _compare(root, "", attrs, nwb, source_options)
    problems = []
    for path, attrs in sorted(store_records(project.session.store).items()):
        problems += [
            f"{path}: {p}" for p in _compare(project.session.store, path, attrs, None, source_options)
        ]
    return problems

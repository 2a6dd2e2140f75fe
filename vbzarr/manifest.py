"""The project manifest: the AllenSDK project tables, and the index of the project's stores.

``manifest/`` is a Zarr group of the project repository whose attributes hold the project's
(dataset, source, table names, schema version). Each table is one single-chunk array of bytes:
the table as a Parquet file (zstd inside), which keeps every float bit for bit, the index, the
dtypes (nullable integers, UTC datetimes, text) and list columns, and which any Parquet reader
opens (``pd.read_parquet(io.BytesIO(group[name][:].tobytes()))``). Opening a project reads the
repository's snapshot (every group's metadata, whatever the number of sessions), and each table
one chunk more.

The index of stores is each store's own root attributes (kind, id, source, checksum, group
sizes, missing streams): committed with the store, so a reader never sees one without the other.

The project tables follow the AllenSDK's reading conventions (``BehaviorProjectCloudApi`` for VBO,
``VisualBehaviorNeuropixelsProjectCloudApi`` for VBN): same file names, indexes, column order,
list parsing, date parsing and nullable integer columns.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import zarr
import zarr.api.asynchronous
from zarr.abc.store import Store
from zarr.core.sync import sync

from .errors import ManifestError, ProjectNotFoundError
from .schema import MANIFEST, STORE_FOLDERS
from .store import check_schema


def decode_table(data: np.ndarray, attrs: dict[str, Any]) -> pd.DataFrame:
    """A manifest table back as pandas gets it: the inverse of ``vbzarr.convert.release.encode_table``."""
    frame = pd.read_parquet(io.BytesIO(np.asarray(data, dtype=np.uint8).tobytes()), engine="pyarrow")
    if "index_dtype" in attrs and str(frame.index.dtype) != attrs["index_dtype"]:
        frame.index = frame.index.astype(attrs["index_dtype"])
    for col in attrs.get("list_columns", []):
        frame[col] = pd.Series(
            [np.nan if v is None else v.tolist() for v in frame[col]], index=frame.index, dtype=object
        )
    for col in attrs.get("json_columns", []):
        frame[col] = pd.Series(
            [np.nan if v is None else json.loads(v) for v in frame[col]], index=frame.index, dtype=object
        )
    return frame


@dataclass
class Manifest:
    """An opened manifest: attributes now, tables on first use (one read each)."""

    url: str
    group: zarr.Group
    attrs: dict[str, Any]

    @property
    def table_names(self) -> list[str]:
        return list(self.attrs["tables"])

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.table_names:
            raise ManifestError(f"{self.url}: no table {name!r}; the manifest has {self.table_names}")
        arr = self.group[name]
        assert isinstance(arr, zarr.Array)  # listed in the manifest's table names
        return decode_table(np.asarray(arr[:]), dict(arr.attrs))


def open_manifest(store: Store, url: str) -> Manifest:
    """Open the ``manifest`` group of a project session (its metadata is in the snapshot)."""
    try:
        group = zarr.open_group(store, path=MANIFEST, mode="r", zarr_format=3, use_consolidated=False)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError) as err:
        raise ProjectNotFoundError(
            f"{url}: expected a vbzarr project (a '{MANIFEST}' group); there is none. Convert one "
            "with `vbzarr convert SRC DST`."
        ) from err
    attrs = dict(group.attrs)
    check_schema(attrs, url)
    return Manifest(url=url, group=group, attrs=attrs)


def store_records(store: Store) -> dict[str, dict[str, Any]]:
    """``{store path: root attributes}`` of every store of a project session (its index).

    Reads only group metadata (in the snapshot: no object-store request), every store's at once.
    """

    async def records() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for folder in STORE_FOLDERS.values():
            if not await store.exists(f"{folder}/zarr.json"):
                continue
            names = [n async for n in store.list_dir(folder) if n != "zarr.json"]
            groups = await asyncio.gather(
                *(
                    zarr.api.asynchronous.open_group(
                        store, path=f"{folder}/{n}", mode="r", use_consolidated=False
                    )
                    for n in names
                )
            )
            out.update({f"{folder}/{n}": dict(g.attrs) for n, g in zip(names, groups, strict=True)})
        return out

    return sync(records())


#: Columns of the index of stores (the first is its index).
STORE_COLUMNS = [
    "store",
    "kind",
    "id",
    "source",
    "source_size",
    "sha256",
    "lfp_sources",
    "groups",
    "missing_streams",
    "converted_at",
    "vbzarr_schema_version",
]


def stores_table(records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The index of stores as a table: one row per store (``STORE_COLUMNS``), empty or not."""
    rows = []
    for path, attrs in sorted(records.items()):
        provenance = attrs.get("provenance", {})
        rows.append(
            {
                "store": path,
                "kind": attrs.get("kind"),
                "id": int(path.rsplit("/", 1)[-1]),
                "source": provenance.get("source"),
                "source_size": provenance.get("size"),
                "sha256": provenance.get("sha256"),
                "lfp_sources": [s.get("source") for s in provenance.get("lfp_sources", [])],
                "groups": attrs.get("group_sizes", {}),
                "missing_streams": attrs.get("missing_streams", []),
                "converted_at": provenance.get("converted_at"),
                "vbzarr_schema_version": attrs.get("vbzarr_schema_version"),
            }
        )
    return pd.DataFrame(rows, columns=STORE_COLUMNS).set_index("store")

"""Opening one vbzarr store, and reading its tables and ragged columns the AllenSDK way."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from zarr.core.sync import sync

from .errors import ProjectAccessError, SchemaVersionError, StoreNotFoundError, TableError
from .schema import RAGGED_INDEX_SUFFIX, RAGGED_START_SUFFIX, SCHEMA_CHANGES, SCHEMA_VERSION
from .urls import filesystem, join, object_storage_options

#: Zarr settings for the arrays vbzarr opens: chunks decode in zarrs' Rust codec pipeline
#: (in parallel, without the Python per-chunk overhead), which hands what it does not support
#: (some stores and codecs) to zarr-python's own. Set only while opening, so that other zarr
#: use in the process is untouched.
READ_CONFIG: dict[str, Any] = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}


def check_schema(attrs: Mapping[Any, Any], url: str) -> None:
    """Refuse a store or manifest written by another schema than this reader's."""
    version = attrs.get("vbzarr_schema_version")
    if version is None:
        raise StoreNotFoundError(
            f"{url}: expected a vbzarr store (root attribute 'vbzarr_schema_version'); "
            "found a Zarr group without it"
        )
    if int(version) > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{url}: written with vbzarr schema version {version}; this vbzarr reads version "
            f"{SCHEMA_VERSION}. Upgrade vbzarr (pip install -U vbzarr)."
        )
    if int(version) < SCHEMA_VERSION:
        changes = "; ".join(SCHEMA_CHANGES.get(v, "") for v in range(int(version), SCHEMA_VERSION))
        raise SchemaVersionError(
            f"{url}: written with vbzarr schema version {version}; this vbzarr reads version "
            f"{SCHEMA_VERSION} ({changes}). Re-convert it from its NWB files: "
            "vbzarr convert SRC DST (the provenance attribute names each store's source)."
        )


def open_store(
    url: str | os.PathLike,
    *,
    storage_options: dict[str, Any] | None = None,
    chunks: dict | None | str = "stored",
) -> xr.DataTree:
    """Open one store lazily as an ``xarray.DataTree`` (every variable a dask array).

    Parameters
    ----------
    url
        Local path or fsspec URL of a store written by ``vbzarr convert``.
    storage_options
        Passed to fsspec (e.g. ``{"anon": True}`` or an ``endpoint_url`` for S3).
    chunks
        ``"stored"`` (default): dask arrays on the stored chunks; a dict of dask chunks; or
        ``None`` for lazily indexed numpy-backed arrays (no dask: fastest for small reads).

    Raises
    ------
    StoreNotFoundError
        Nothing at ``url`` is a vbzarr store.
    SchemaVersionError
        The store was written by a newer vbzarr.

    Examples
    --------
    >>> exp = vbzarr.open_store("ophys_experiments/951980471.zarr")  # doctest: +SKIP
    >>> exp["ophys"]["dff"].sel(cell_specimen_id=1086491048)  # doctest: +SKIP
    """
    url = str(url)
    fs, path = filesystem(url, storage_options)
    try:
        fs.info(join(path, "zarr.json"))
    except FileNotFoundError as err:
        raise StoreNotFoundError(f"{url}: expected a Zarr store (zarr.json); there is none") from err
    except PermissionError as err:  # not "missing": the credentials are refused
        raise ProjectAccessError(f"{url}: expected a readable store; access was refused ({err})") from err
    with zarr.config.set(READ_CONFIG):
        tree = xr.open_datatree(
            url if "://" in url else path,
            engine="zarr",
            chunks={} if chunks == "stored" else chunks,
            consolidated=True,
            zarr_format=3,
            storage_options=object_storage_options(url, storage_options) if "://" in url else None,
        )
    check_schema(tree.attrs, url)
    return tree


def row_offsets(ds: xr.Dataset, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``: each row's values of ragged ``column`` are ``ds[column][start:end]``.

    Both offsets are variables over the row dim, so they follow any selection of rows.
    """
    attrs = ds[column].attrs
    names = attrs.get("ragged_index", column + RAGGED_INDEX_SUFFIX), attrs.get("ragged_start")
    if names[1] is None or names[1] not in ds or names[0] not in ds:
        raise SchemaVersionError(
            f"expected the start and end offsets of each row of ragged column {column!r} "
            f"({column}{RAGGED_START_SUFFIX}, {column}{RAGGED_INDEX_SUFFIX}, over the row dim); "
            f"found {[n for n in names if n is not None and n in ds]}. A store written before "
            f"schema {SCHEMA_VERSION} lacks them: re-convert it (vbzarr convert SRC DST); a "
            "Dataset that dropped them cannot tell which values belong to which row"
        )
    starts, ends = (np.asarray(ds[n].values, dtype=np.int64) for n in (names[1], names[0]))
    return starts, ends


def read_rows(flat: xr.DataArray | xr.Variable, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The values ``flat[start:end]`` of every row, concatenated, reading only what they cover:
    one slice when the rows are back to back, else the rows' positions (one orthogonal read)."""
    if not len(starts):
        return np.asarray(flat[:0].values)
    if np.array_equal(starts[1:], ends[:-1]):
        return np.asarray(flat[int(starts[0]) : int(ends[-1])].values)
    counts = ends - starts
    positions = np.repeat(ends - counts.cumsum(), counts) + np.arange(counts.sum())
    return np.asarray(flat[positions].values)


def ragged(ds: xr.Dataset | xr.DataTree, column: str) -> list[np.ndarray]:
    """Per-row arrays of a ragged column (e.g. ``trials.lick_times``, ``units.spike_times``).

    Each row's values are one contiguous slice of the flat variable, found from the row's own
    start and end offsets: ``ds`` may be any selection of rows (``isel``, ``sel``, a mask).

    Examples
    --------
    >>> licks = vbzarr.ragged(exp["trials"].to_dataset(), "lick_times")  # doctest: +SKIP
    """
    if isinstance(ds, xr.DataTree):
        ds = ds.to_dataset()
    starts, ends = row_offsets(ds, column)
    values = read_rows(ds[column].variable, starts, ends)
    return np.split(values, np.cumsum(ends - starts)[:-1]) if len(starts) else []


def to_dataframe(ds: xr.Dataset | xr.DataTree, *, ragged_columns: bool = True) -> pd.DataFrame:
    """A table group (``trials``, ``stimulus_presentations``, ``units``...) as the AllenSDK DataFrame.

    The index is the group's row dim (``trials_id``, ``stimulus_presentations_id``, ``unit_id``);
    ragged columns (``lick_times``, ``spike_times``...) come back as one array per row unless
    ``ragged_columns=False``; missing text comes back as NaN; nullable flags as ``boolean``.
    """
    if isinstance(ds, xr.DataTree):
        ds = ds.to_dataset()
    ragged_cols = [k for k, v in ds.data_vars.items() if "ragged_index" in v.attrs]
    index_vars = {
        ds[k].attrs[a] for k in ragged_cols for a in ("ragged_index", "ragged_start") if a in ds[k].attrs
    }
    flat_dims = {d for k in ragged_cols for d in ds[k].dims}
    rows = ds.drop_dims(flat_dims)
    if any(v.chunks is not None for v in rows.variables.values()):
        # One compute for the whole table (not one per column), in this process: a table is small,
        # and its columns are read concurrently without the overhead of a cluster round trip.
        rows = rows.load(scheduler="threads")
    row_dims = [d for d in rows.dims if d in rows.indexes]
    if len(row_dims) != 1:
        raise TableError(f"expected a table (one indexed row dim); found dims {list(ds.dims)}")
    dim = row_dims[0]
    columns = {}
    for name, var in rows.variables.items():
        if name == dim or var.dims != (dim,) or name in index_vars:
            continue
        values = np.asarray(var.values)
        if values.dtype.kind in "OUT":
            values = values.astype(object)
            if "missing_text" in var.attrs:
                values[values == var.attrs["missing_text"]] = np.nan
        column = pd.Series(values, index=rows[dim].values)
        if var.attrs.get("nullable_boolean"):
            column = column.astype("boolean")
        columns[str(name)] = column
    for name in ragged_cols if ragged_columns else []:
        columns[str(name)] = pd.Series(ragged(ds, str(name)), index=rows[dim].values, dtype=object)
    # The table's own column order where the store records it (AllenSDK's), else as listed.
    order = [c for c in ds.attrs.get("column_order", []) if c in columns]
    columns = {c: columns[c] for c in [*order, *(c for c in columns if c not in order)]}
    frame = pd.DataFrame(columns, index=rows[dim].values)
    frame.index.name = dim
    return frame


def concurrently(coroutines: Iterable[Any], return_exceptions: bool = False) -> list[Any]:
    """Run ``coroutines`` at once on zarr's event loop (which also works inside Jupyter's) and
    return their results in order."""
    pending = list(coroutines)

    async def gather() -> list[Any]:
        return await asyncio.gather(*pending, return_exceptions=return_exceptions)

    return sync(gather())

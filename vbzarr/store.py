"""Opening one vbzarr store, and reading its tables and ragged columns the AllenSDK way."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from .errors import SchemaVersionError, StoreNotFoundError
from .schema import RAGGED_INDEX_SUFFIX, SCHEMA_VERSION
from .urls import filesystem, join, object_storage_options

#: Zarr settings for the arrays vbzarr opens: chunks decode in zarrs' Rust codec pipeline
#: (in parallel, without the Python per-chunk overhead), which hands what it does not support
#: (some stores and codecs) to zarr-python's own. Set only while opening, so that other zarr
#: use in the process is untouched.
READ_CONFIG: dict[str, Any] = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}


def check_schema(attrs: dict[str, Any], url: str) -> None:
    """Refuse a store or manifest written by a newer schema than this reader knows."""
    version = attrs.get("vbzarr_schema_version")
    if version is None:
        raise StoreNotFoundError(
            f"{url}: expected a vbzarr store (root attribute 'vbzarr_schema_version'); "
            "found a Zarr group without it"
        )
    if int(version) > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{url}: written with vbzarr schema version {version}; this vbzarr reads versions "
            f"<= {SCHEMA_VERSION}. Upgrade vbzarr (pip install -U vbzarr)."
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
    if not fs.exists(join(path, "zarr.json")):
        raise StoreNotFoundError(f"{url}: expected a Zarr store (zarr.json); there is none")
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


def ragged(ds: xr.Dataset, column: str) -> list[np.ndarray]:
    """Per-row arrays of a ragged column (e.g. ``trials.lick_times``, ``units.spike_times``).

    Each row's values are one contiguous slice of the flat variable (NWB VectorIndex layout);
    ``ds`` must hold the whole table, as stored.

    Examples
    --------
    >>> licks = vbzarr.ragged(exp["trials"].to_dataset(), "lick_times")  # doctest: +SKIP
    """
    # Columns may share offsets (spike_amplitudes uses spike_times_index): the attr names them.
    index = ds[column].attrs.get("ragged_index", column + RAGGED_INDEX_SUFFIX)
    ends = np.asarray(ds[index].values, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    values = np.asarray(ds[column].values)
    return [values[a:b] for a, b in zip(starts, ends, strict=True)]


def to_dataframe(ds: xr.Dataset | xr.DataTree, *, ragged_columns: bool = True) -> pd.DataFrame:
    """A table group (``trials``, ``stimulus_presentations``, ``units``...) as the AllenSDK DataFrame.

    The index is the group's row dim (``trials_id``, ``stimulus_presentations_id``, ``unit_id``);
    ragged columns (``lick_times``, ``spike_times``...) come back as one array per row unless
    ``ragged_columns=False``; missing text comes back as NaN; nullable flags as ``boolean``.
    """
    if isinstance(ds, xr.DataTree):
        ds = ds.to_dataset()
    ragged_cols = [k for k, v in ds.data_vars.items() if "ragged_index" in v.attrs]
    index_vars = {ds[k].attrs["ragged_index"] for k in ragged_cols}
    flat_dims = {d for k in ragged_cols for d in ds[k].dims}
    if not ragged_columns:
        ds = ds.drop_dims(flat_dims)
    if any(v.chunks is not None for v in ds.variables.values()):
        ds = ds.load()  # one compute for the whole table, not one per column
    row_dims = [d for d in ds.dims if d in ds.indexes and d not in flat_dims]
    if len(row_dims) != 1:
        raise ValueError(f"Expected a table: one indexed row dim. Got dims {list(ds.dims)}.")
    dim = row_dims[0]
    columns = {}
    for name, var in ds.variables.items():
        if name == dim or var.dims != (dim,) or name in index_vars:
            continue
        values = np.asarray(var.values)
        if values.dtype.kind in "OUT":
            values = values.astype(object)
            if "missing_text" in var.attrs:
                values[values == var.attrs["missing_text"]] = np.nan
        column = pd.Series(values, index=ds[dim].values)
        if var.attrs.get("nullable_boolean"):
            column = column.astype("boolean")
        columns[str(name)] = column
    if ragged_columns:
        for name in ragged_cols:
            columns[str(name)] = pd.Series(ragged(ds, str(name)), index=ds[dim].values)
    frame = pd.DataFrame(columns, index=ds[dim].values)
    frame.index.name = dim
    return frame

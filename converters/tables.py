"""Tables (pandas) to Datasets (xarray) with dtypes the zarr v3 writer accepts, ragged columns flat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from vbzarr.schema import RAGGED_INDEX_SUFFIX, RAGGED_START_SUFFIX, ragged_dim

MISSING_TEXT = ""
"""How a missing value of a text column is stored (zarr strings cannot hold NaN/None)."""


def column_values(series: pd.Series) -> tuple[np.ndarray, dict]:
    """A column as a numpy array zarr can store, plus attrs that say how to read it back.

    pandas 3 gives text columns ``StringDtype``, which xarray's zarr writer rejects, and object
    columns may mix text with NaN: both become plain ``str`` object arrays, missing values stored
    as ``""`` and flagged in the attrs so the reader restores NaN.
    """
    if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
        missing = series.isna().to_numpy()
        values = np.array(
            [MISSING_TEXT if m else str(v) for v, m in zip(series.to_numpy(), missing, strict=True)],
            dtype=object,
        )
        return values, ({"missing_text": MISSING_TEXT} if missing.any() else {})
    if isinstance(series.dtype, pd.BooleanDtype | pd.Int64Dtype):
        # Nullable dtypes -> float with NaN when values are missing (how the NWB stores them;
        # the reader restores nullable booleans from the ``nullable_boolean`` attribute).
        if series.isna().any():
            return series.astype("float64").to_numpy(), {}
        return series.to_numpy(dtype=series.dtype.numpy_dtype), {}
    return series.to_numpy(), {}


def frame_to_dataset(
    frame: pd.DataFrame,
    ragged: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> xr.Dataset:
    """A table as a Dataset over its index (the index name is the dim).

    ``ragged`` maps a column name to ``(flat values, end offsets)`` (NWB VectorIndex semantics):
    stored without padding (see :func:`ragged_variables`).
    """
    dim = frame.index.name
    if dim is None:
        raise AssertionError("a table's index is named (it becomes the dim)")
    index_values, _ = column_values(frame.index.to_series())
    data_vars = {}
    for col in frame.columns:
        values, attrs = column_values(frame[col])
        data_vars[col] = xr.Variable((dim,), values, attrs=attrs)
    for col, (flat, ends) in (ragged or {}).items():
        data_vars.update(ragged_variables(col, xr.Variable((ragged_dim(col),), flat), ends, dim))
    # The table's column order (AllenSDK's): a repository lists a group's arrays in its own order.
    return xr.Dataset(
        data_vars, coords={dim: index_values}, attrs={"column_order": [str(c) for c in frame.columns]}
    )


def ragged_variables(
    column: str, flat: xr.Variable, ends: np.ndarray, dim: str, index: str | None = None
) -> dict[str, xr.Variable]:
    """A ragged column as stored: ``flat`` (over its own dim) tagged with the names of its
    offsets, and each row's start and end offsets over ``dim`` (``<index>_start_index``,
    ``<index>_index``). ``index`` defaults to the column; a column that shares another's offsets
    (spike amplitudes share spike times') names it and gets no offsets of its own.

    Each row carries both offsets, so a selection of rows still finds its own values.
    """
    index = index or column
    names = index + RAGGED_INDEX_SUFFIX, index + RAGGED_START_SUFFIX
    flat = flat.copy(deep=False)
    flat.attrs.update(ragged_index=names[0], ragged_start=names[1], row_dim=dim)
    out = {column: flat}
    if index == column:
        ends = np.asarray(ends, dtype=np.int64)
        out[names[0]] = xr.Variable(
            (dim,), ends, {"description": f"end offset of each row's values in {column} (NWB VectorIndex)"}
        )
        out[names[1]] = xr.Variable(
            (dim,),
            np.r_[0, ends[:-1]].astype(np.int64),
            {"description": f"start offset of each row's values in {column}"},
        )
    return out

"""Helpers shared by the stream modules: NWB TimeSeries as Dataset variables on a shared time axis."""

from __future__ import annotations

import numpy as np
import xarray as xr

from vbzarr.schema import SECONDS

from .nwb import NWBReader


def timestamps(nwb: NWBReader, series: str, needed_for: str) -> np.ndarray:
    """Timestamps of a TimeSeries (following links), float64 seconds."""
    return nwb.read(f"{series}/timestamps", needed_for).astype(np.float64)


def series_group(
    nwb: NWBReader,
    variables: dict[str, str],
    *,
    dim: str,
    chunk: int,
    needed_for: str,
    time_as_dim: bool = True,
) -> xr.Dataset:
    """Several NWB TimeSeries as one Dataset.

    The first series gives the axis: ``dim`` with its timestamps as the index (``time_as_dim``) or
    as a ``timestamps`` coordinate on ``dim`` (e.g. ``lick``, ``frame``). A later series whose
    timestamps differ gets its own axis ``<var>_<dim>``, never a silent resampling.
    """
    data_vars: dict[str, xr.Variable] = {}
    coords: dict[str, tuple] = {}
    reference = None
    for var, path in variables.items():
        ts = timestamps(nwb, path, needed_for)
        values = nwb.lazy(f"{path}/data", (chunk,), needed_for)
        nwb.check_length(f"{path}/data", values, len(ts), f"one per timestamp of {path}")
        if reference is None or np.array_equal(ts, reference):
            reference, d = ts, dim
        else:
            d = f"{var}_{dim}"
            coords[d] = (d, ts) if time_as_dim else (d, np.arange(len(ts)))
        data_vars[var] = xr.Variable((d,), values)
    assert reference is not None, "callers pass at least one series"
    if time_as_dim:
        coords[dim] = (dim, reference, SECONDS)
    else:
        coords[dim] = (dim, np.arange(len(reference)))
        coords["timestamps"] = (dim, reference, SECONDS)
    return xr.Dataset(data_vars, coords=coords)

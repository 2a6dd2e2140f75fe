"""Running wheel: filtered ``speed``, unfiltered ``raw_speed`` and the encoder signals."""

from __future__ import annotations

import dask.array as da
import xarray as xr

from .chunking import Chunking
from .nwb import NWBReader
from .timeseries import series_group


def running(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``running_speed`` (``speed``), ``raw_running_speed`` (``raw_speed``) and
    ``running_acquisition`` (``dx``, ``v_sig``, ``v_in``) over ``time`` (their timestamps)."""
    if "processing/running/speed" not in nwb:
        return None
    paths = {
        "speed": "processing/running/speed",
        "raw_speed": "processing/running/speed_unfiltered",
        "dx": "processing/running/dx",
        "v_sig": "acquisition/v_sig",
        "v_in": "acquisition/v_in",
    }
    present = {k: p for k, p in paths.items() if p in nwb}
    ds = series_group(nwb, present, dim="time", chunk=chunking.rows, needed_for="running speed")
    for var in ("speed", "raw_speed"):
        if var in ds:
            ds[var].attrs["units"] = "cm/s"
            # AllenSDK flips a wheel recorded backwards: mean speed below -1 cm/s.
            if _nanmean(ds[var]) < -1:
                ds[var] = -ds[var]
                ds[var].attrs.update(units="cm/s", polarity_flipped=True)
    return ds


def _nanmean(var: xr.DataArray) -> float:
    return float(da.nanmean(var.data).compute())

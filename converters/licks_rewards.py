"""Licks and rewards: event tables over ``lick`` and ``reward`` with their ``timestamps``."""

from __future__ import annotations

import xarray as xr

from .nwb import NWBReader
from .registry import Chunking, stream
from .timeseries import series_group


@stream("licks")
def licks(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``licks``: ``timestamps`` and the stimulus ``frame`` of each lick."""
    path = "processing/licking/licks"
    if path not in nwb:
        return None
    return series_group(
        nwb, {"frame": path}, dim="lick", chunk=chunking.rows, needed_for="licks", time_as_dim=False
    )


@stream("rewards")
def rewards(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``rewards``: ``volume`` (mL), ``timestamps`` and ``auto_rewarded``.

    AllenSDK names the NWB series ``autorewarded`` ``auto_rewarded`` and takes the timestamps from
    it.
    """
    if "processing/rewards/autorewarded" not in nwb:
        return None
    ds = series_group(
        nwb,
        {"auto_rewarded": "processing/rewards/autorewarded", "volume": "processing/rewards/volume"},
        dim="reward",
        chunk=chunking.rows,
        needed_for="rewards",
        time_as_dim=False,
    )
    ds["volume"].attrs["units"] = "mL"
    return ds

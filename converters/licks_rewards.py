"""Licks and rewards: event tables over ``lick`` and ``reward`` with their ``timestamps``.

A session without licks or rewards (passive sessions have no rewards) gets the empty table the
AllenSDK returns, with its columns: an empty group, not a missing stream.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from vbzarr.schema import SECONDS

from .chunking import Chunking
from .nwb import NWBReader
from .timeseries import series_group


def licks(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``licks``: ``timestamps`` and the stimulus ``frame`` of each lick."""
    path = "processing/licking/licks"
    if path not in nwb:
        return empty_events("lick", {"frame": np.int64})
    return series_group(
        nwb, {"frame": path}, dim="lick", chunk=chunking.rows, needed_for="licks", time_as_dim=False
    )


def rewards(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``rewards``: ``volume`` (mL), ``timestamps`` and ``auto_rewarded``.

    AllenSDK names the NWB series ``autorewarded`` ``auto_rewarded`` and takes the timestamps from
    it.
    """
    if "processing/rewards/autorewarded" not in nwb:
        ds = empty_events("reward", {"volume": np.float64, "auto_rewarded": np.bool_})
        ds["volume"].attrs["units"] = "mL"
        return ds
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


def empty_events(dim: str, columns: dict[str, type]) -> xr.Dataset:
    """An event table with no rows: its columns over ``dim`` and the ``timestamps`` coordinate."""
    return xr.Dataset(
        {name: (dim, np.zeros(0, dtype=dtype)) for name, dtype in columns.items()},
        coords={dim: np.zeros(0, dtype=np.int64), "timestamps": (dim, np.zeros(0), SECONDS)},
    )

"""LFP (and CSD) of one Neuropixels probe, from its ``probe_<name>_lfp.nwb`` file.

The group is ``lfp/<probe_id>`` of the session's store: ``lfp`` over (``time``, ``channel_id``), as
AllenSDK's ``get_lfp(probe_id)`` returns it (volts, float32), and the current source density
``csd`` over (``virtual_channel_index``, ``csd_time``) as ``get_current_source_density``.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr

from vbzarr.errors import InvalidNWBError
from vbzarr.schema import SECONDS

from .chunking import Chunking
from .nwb import NWBReader
from .timeseries import timestamps

ELECTRODES = "general/extracellular_ephys/electrodes"
CSD = "processing/current_source_density/ecephys_csd"


def lfp_group(nwb: NWBReader, chunking: Chunking) -> tuple[int, xr.Dataset]:
    """``(probe_id, Dataset)`` of an LFP file."""
    names = [k for k in nwb.children("acquisition") if re.fullmatch(r"probe_\d+_lfp", k)]
    if len(names) != 1:
        raise InvalidNWBError(
            nwb.path,
            "acquisition/probe_<probe_id>_lfp",
            f"expected one LFP group per probe file, found {names or 'none'}",
        )
    name = names[0]
    probe_id = int(name.split("_")[1])
    series = f"acquisition/{name}/{name}_data"
    data = nwb.lazy(f"{series}/data", (chunking.lfp_time, chunking.lfp_channels), "lfp")
    ts = timestamps(nwb, series, "lfp")
    region = nwb.read(f"{series}/electrodes", "lfp channels").astype(np.int64)
    channel_ids = nwb.read(f"{ELECTRODES}/id", "lfp channels")[region]
    if data.shape != (len(ts), len(channel_ids)):
        raise InvalidNWBError(
            nwb.path,
            f"{series}/data",
            f"expected (time={len(ts)}, channel={len(channel_ids)}), found {data.shape}",
        )
    ds = xr.Dataset(
        {"lfp": (("time", "channel_id"), data, {"units": "volts"})},
        coords={"time": ("time", ts, SECONDS), "channel_id": channel_ids},
    )
    if CSD in nwb:
        csd = nwb.read(f"{CSD}/current_source_density/data", "csd")
        csd_t = timestamps(nwb, f"{CSD}/current_source_density", "csd")
        ds["csd"] = (("virtual_channel_index", "csd_time"), csd.T)
        ds = ds.assign_coords(
            csd_time=("csd_time", csd_t, SECONDS),
            virtual_channel_index=np.arange(csd.shape[1]),
            vertical_position=(
                "virtual_channel_index",
                nwb.read(f"{CSD}/virtual_electrode_y_positions", "csd").astype(np.int64),
            ),
            horizontal_position=(
                "virtual_channel_index",
                nwb.read(f"{CSD}/virtual_electrode_x_positions", "csd").astype(np.int64),
            ),
        )
    return probe_id, ds

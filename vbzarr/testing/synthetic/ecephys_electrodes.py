"""The probes of a Visual Behavior Neuropixels NWB file: the rig and probe devices, one electrode
group per probe, and the electrodes table of the channels (``ELECTRODE_COLUMNS``, in the release's
order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hdmf.common import VectorData
from pynwb import NWBFile
from pynwb.ecephys import ElectrodesTable

from .ecephys_file import NS_ECEPHYS, EcephysSessionInfo
from .extensions import cls
from .session_file import SCIENTIFICA, create_device
from .sizes import EcephysSize

ELECTRODE_COLUMNS = {  # NWB column: (channels-table column, description) in the release's order
    "location": ("structure_acronym", "the location of channel within the subject e.g. brain region"),
    "group": (None, "a reference to the ElectrodeGroup this electrode is a part of"),
    "group_name": (None, "the name of the ElectrodeGroup this electrode is a part of"),
    "probe_vertical_position": (
        "probe_vertical_position",
        "Length-wise position of electrode/channel on device (microns)",
    ),
    "probe_horizontal_position": (
        "probe_horizontal_position",
        "Width-wise position of electrode/channel on device (microns)",
    ),
    "probe_id": ("ecephys_probe_id", "The unique id of this electrode's/channel's device"),
    "probe_channel_number": ("probe_channel_number", "The local index of electrode/channel on device"),
    "valid_data": ("valid_data", "Whether data from this electrode/channel is usable"),
    "x": ("anterior_posterior_ccf_coordinate", "the x coordinate of the position (+x is posterior)"),
    "y": ("dorsal_ventral_ccf_coordinate", "the y coordinate of the position (+y is inferior)"),
    "z": ("left_right_ccf_coordinate", "the z coordinate of the position (+z is right)"),
    "imp": (None, "the impedance of the electrode, in ohms"),
    "filtering": (None, "description of hardware filtering, including the filter name and frequency cutoffs"),
}


def add_probes(nwb: NWBFile, info: EcephysSessionInfo, size: EcephysSize, channels: pd.DataFrame) -> None:
    """Rig and probe devices, one electrode group per probe, and the electrodes table of
    ``channels`` (id = ``ecephys_channel_id``)."""
    create_device(nwb, name=info.equipment_name, **SCIENTIFICA)
    groups = {}
    for pid in channels.ecephys_probe_id.unique():
        probe = info.probes.loc[pid]
        device = create_device(
            nwb,
            cls(NS_ECEPHYS, "EcephysProbe"),
            name=probe["name"],
            description="Neuropixels 1.0 Probe",
            manufacturer="imec",
            probe_id=int(pid),
            sampling_rate=float(probe.sampling_rate),
        )
        groups[pid] = cls(NS_ECEPHYS, "EcephysElectrodeGroup")(
            name=probe["name"],
            description="Ecephys Electrode Group",
            location="See electrode locations",
            device=device,
            has_lfp_data=bool(probe.has_lfp_data),
            probe_id=int(pid),
            lfp_sampling_rate=size.lfp_rate if probe.has_lfp_data else np.nan,
        )
        nwb.add_electrode_group(groups[pid])
    n = len(channels)
    special = {
        "group": [groups[p] for p in channels.ecephys_probe_id],
        "group_name": info.probes["name"].loc[channels.ecephys_probe_id].to_numpy(object),
        "imp": np.full(n, np.nan),
        "filtering": np.full(n, "AP band: 500 Hz high-pass; LFP band: 1000 Hz low-pass", object),
    }
    columns = [
        VectorData(
            name=name,
            description=doc,
            data=special[name]
            if source is None
            else channels[source].to_numpy(object if name == "location" else None),
        )
        for name, (source, doc) in ELECTRODE_COLUMNS.items()
    ]
    nwb.electrodes = ElectrodesTable(id=channels.index.to_numpy(), columns=columns)

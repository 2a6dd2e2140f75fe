"""What every Visual Behavior Neuropixels ecephys NWB file (the session's, and each probe's LFP
file) shares: the session and its probe, channel and unit tables (``EcephysSessionInfo``), its
``BehaviorMetadata``, the stimulus schedule all its files see, and the write, which types the
electrodes table as the release does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from pynwb import NWBFile

from .change_detection import Schedule
from .ecephys_schedule import simulate_vbn_schedule
from .extensions import cls
from .session_file import NS_BEH, BehaviorSessionInfo, write_nwb
from .sizes import EcephysSize
from .timing import STIMULUS_FRAME_RATE

NS_ECEPHYS = "ndx-aibs-ecephys"


@dataclass
class EcephysSessionInfo(BehaviorSessionInfo):
    """One VBN ecephys session and what its probes recorded.

    ``probes`` (index ``ecephys_probe_id``), ``channels`` (``ecephys_channel_id``) and ``units``
    (``unit_id``) are the tables of :func:`~.probe_tables.simulate_probes`; ``novel_images`` are
    the images of the session's set the mouse has not seen in training (``is_image_novel``).
    """

    ecephys_session_id: int = 0
    novel_images: tuple[str, ...] = ()
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    release: str = "vbn"


def ecephys_metadata(info: EcephysSessionInfo):
    # Ecephys files carry no behavior session uuid nor project code (the tables have the code).
    return cls(NS_BEH, "BehaviorMetadata")(
        name="metadata",
        behavior_session_id=info.behavior_session_id,
        behavior_session_uuid="None",
        equipment_name=info.equipment_name,
        project_code="Not Available",
        session_type=info.session_type,
        stimulus_frame_rate=STIMULUS_FRAME_RATE,
    )


def session_schedule(info: EcephysSessionInfo, size: EcephysSize) -> tuple[np.random.Generator, Schedule]:
    # Drawn first from the session's seed, so a session's files all see the same stimulus.
    rng = np.random.default_rng(info.seed)
    return rng, simulate_vbn_schedule(rng, size, image_set=info.image_set, novel_images=info.novel_images)


def write_ecephys(nwb: NWBFile, path: str | Path) -> Path:
    path = write_nwb(nwb, path)
    # pynwb 4 (NWB 2.9) types the electrodes table ElectrodesTable; the released files (NWB 2.5-2.7)
    # have a plain DynamicTable there, which is what readers of the release meet.
    with h5py.File(path, "r+") as f:
        electrodes = f["general/extracellular_ephys/electrodes"]
        electrodes.attrs["neurodata_type"] = "DynamicTable"
        electrodes.attrs["namespace"] = "hdmf-common"
    return path

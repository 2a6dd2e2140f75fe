"""The frame of every session NWB file: the mouse and the session (``Subject``,
``BehaviorSessionInfo``), the ``NWBFile`` with its subject, the rig's device, the ``BehaviorMetadata``
and task parameters, and the write.

The layout - groups, neurodata types, dataset and column names, dtypes, links - is the one the
AllenSDK's writer produces (see ``../shared/reference-nwb/LAYOUT.md``). The behavior streams are
added by ``behavior_streams.py``, the 2-photon part by ``ophys.py``, the Neuropixels part by
``ecephys.py`` and the modules it builds on.
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hdmf.build.warnings import MissingRequiredBuildWarning
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.device import Device

from .change_detection import Schedule
from .extensions import cls
from .timing import STIMULUS_FRAME_RATE

NS_BEH = "ndx-aibs-behavior-ophys"

INSTITUTION = "Allen Institute for Brain Science"

# Scientifica 2P rigs, and (as the release describes them) the Neuropixels rigs NP.*.
SCIENTIFICA = {"description": "Allen Brain Observatory - Scientifica 2P Rig", "manufacturer": "Scientifica"}


@dataclass
class Subject:
    """A mouse, as the project tables and the NWB subject describe it."""

    mouse_id: int
    sex: str = "M"
    driver_line: tuple[str, ...] = ("Slc17a7-IRES2-Cre", "Camk2a-tTA")
    reporter_line: str = "Ai93(TITL-GCaMP6f)"
    indicator: str = "GCaMP6f"

    @property
    def cre_line(self) -> str:
        return next(d for d in self.driver_line if "Cre" in d)

    @property
    def full_genotype(self) -> str:
        if not self.driver_line:  # wild type (VBN has wt/wt mice, reporter_line "None")
            return "wt/wt"
        return ";".join(f"{g}/wt" for g in [*self.driver_line, self.reporter_line])


@dataclass
class BehaviorSessionInfo:
    """One behavior session (with or without imaging) and the stimulus it showed."""

    behavior_session_id: int
    subject: Subject
    session_type: str
    date_of_acquisition: dt.datetime
    age_in_days: int
    equipment_name: str
    project_code: str = "VisualBehavior"
    image_set: str = "A"
    passive: bool = False
    seed: int = 0
    release: str = "vbo"  # "vbn": the Visual Behavior Neuropixels variant of the layout


def make_series(name, data, timestamps, unit, description="no description", **kw) -> TimeSeries:
    return TimeSeries(name=name, data=data, timestamps=timestamps, unit=unit, description=description, **kw)


DESCRIPTION = "Synthetic Visual Behavior session written by vbzarr's factory."


def new_nwbfile(
    info: BehaviorSessionInfo,
    identifier: str,
    keywords: list[str] | None,
    experiment_description: str | None = DESCRIPTION,
    **kwargs,
) -> NWBFile:
    """The file with its subject; ``kwargs`` go to ``NWBFile`` (VBN files have no
    ``experiment_description``, LFP files no keywords and their own ``session_description``)."""
    subj = info.subject
    subject = cls(NS_BEH, "BehaviorSubject")(
        age=f"P{info.age_in_days}D",
        description="A visual behavior subject with a LabTracks ID",
        genotype=subj.full_genotype,
        sex=subj.sex,
        species="Mus musculus",
        subject_id=str(subj.mouse_id),
        driver_line=list(subj.driver_line) or None,
        reporter_line=subj.reporter_line,
    )
    return NWBFile(
        **{
            "session_description": info.session_type,
            "identifier": identifier,
            "session_start_time": info.date_of_acquisition,
            "file_create_date": info.date_of_acquisition,
            "institution": INSTITUTION,
            "keywords": keywords,
            "experiment_description": experiment_description,
            "subject": subject,
            **kwargs,
        }
    )


def create_device(nwb: NWBFile, device_cls: type[Device] = Device, /, **kwargs: object) -> Device:
    """Add a device; the released files set ``manufacturer``, deprecated in pynwb 4."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        device = device_cls(**kwargs)
    nwb.add_device(device)
    return device


def behavior_metadata(info: BehaviorSessionInfo, rng: np.random.Generator) -> dict:
    """The BehaviorMetadata attributes every session file has."""
    return {
        "name": "metadata",
        "behavior_session_id": info.behavior_session_id,
        "behavior_session_uuid": str(uuid.UUID(int=rng.integers(2**63).item())),
        "equipment_name": info.equipment_name,
        "project_code": info.project_code,
        "session_type": info.session_type,
        "stimulus_frame_rate": STIMULUS_FRAME_RATE,
    }


def task_parameters(info: BehaviorSessionInfo, schedule: Schedule):
    return cls(NS_BEH, "BehaviorTaskParameters")(
        name="task_parameters",
        stimulus_distribution="geometric",
        auto_reward_volume=0.005,
        stimulus_name=schedule.stimulus_name,
        blank_duration_sec=["0.5", "0.5"],
        omitted_flash_fraction=0.05,
        task="change detection",
        n_stimulus_frames=len(schedule.stimulus_timestamps),
        stimulus="images",
        session_type=info.session_type,
        reward_volume=schedule.reward_volume,
        response_window_sec=["0.15", "0.75"],
        stimulus_duration_sec=0.25,
    )


def write_nwb(nwb: NWBFile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io, warnings.catch_warnings():
        # EllipseEyeTracking keeps its series in named groups, not in the inherited (empty)
        # `spatial_series` of core EyeTracking; the released files are the same.
        warnings.filterwarnings("ignore", category=MissingRequiredBuildWarning)
        io.write(nwb, cache_spec=True)
    return path

"""Write the ecephys session NWB file of a Visual Behavior Neuropixels (VBN) session with pynwb.

The layout - groups, neurodata types, dataset and column names, dtypes, links - is the one the
AllenSDK's ``BehaviorEcephysSession`` writer produces (see ``../shared/reference-nwb/LAYOUT.md``):
the behavior streams of ``behavior_streams.py`` (stimulus, running, licks, rewards, eye tracking,
templates, presentations, trials), plus probes and channels (``ecephys_electrodes.py``), units
(``ecephys_units.py``) and optotagging (here); each probe's LFP and current source density go in a
file of their own (``ecephys_lfp.py``). The content is simulated by the modules ``content.py``
gathers (schedule, behavior, Neuropixels signals); the probe, channel and unit tables (ids,
positions, areas, quality metrics) by ``probe_tables.simulate_probes``, so that a project's metadata
tables and its NWB files agree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pynwb import NWBFile
from pynwb.epoch import TimeIntervals

from .behavior_streams import add_behavior, add_eye_tracking
from .ecephys_electrodes import add_probes
from .ecephys_file import EcephysSessionInfo, ecephys_metadata, session_schedule, write_ecephys
from .ecephys_schedule import optotagging
from .ecephys_units import add_units
from .session_file import make_series, new_nwbfile, task_parameters
from .sizes import EcephysSize
from .timing import recording_span


def _add_optotagging(nwb: NWBFile, trials: pd.DataFrame) -> None:
    module = nwb.create_processing_module("optotagging", "optogenetic stimulution data")
    series = make_series("optotagging", trials.duration.to_numpy(), trials.start_time.to_numpy(), "seconds")
    module.add(series)
    table = TimeIntervals(name="optogenetic_stimulation", description="")
    for col in ("condition", "level", "stimulus_name", "duration"):
        table.add_column(name=col, description="no description")
    module.add(table)
    for row in trials.to_dict("records"):
        table.add_interval(**row, tags="optical_stimulation", timeseries=[series])


def write_ecephys_session(path: str | Path, info: EcephysSessionInfo, size: EcephysSize) -> Path:
    """Write ``ecephys_session_<id>.nwb`` of a VBN session, as the AllenSDK lays it out.

    Parameters
    ----------
    path
        File to write (its folder is created).
    info
        The session, its mouse and its probe/channel/unit tables
        (:func:`~.probe_tables.simulate_probes`).
    size
        Durations of the stimulus blocks, number of probes, channels, units, waveform channels.

    Returns
    -------
    Path
        ``path``.
    """
    rng, schedule = session_schedule(info, size)
    nwb = new_nwbfile(
        info, str(info.ecephys_session_id), ["visual", "behavior", "task"], experiment_description=None
    )
    add_probes(nwb, info, size, info.channels)
    nwb.add_lab_meta_data(ecephys_metadata(info))
    nwb.add_lab_meta_data(task_parameters(info, schedule))
    add_behavior(nwb, schedule, rng, size, index_series=False)
    t0, t1 = recording_span(size)
    add_eye_tracking(nwb, rng, t0 - 2.5, t1, size.eye_rate, info.equipment_name)
    _add_optotagging(nwb, optotagging(rng, schedule.end_time + 3.0, size.opto_trials))
    add_units(nwb, rng, info, schedule, size)
    return write_ecephys(nwb, path)

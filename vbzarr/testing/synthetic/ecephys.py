"""Write Visual Behavior Neuropixels (VBN) NWB files with pynwb: ecephys sessions, probe LFP files.

The layout - groups, neurodata types, dataset and column names, dtypes, links - is the one the
AllenSDK's ``BehaviorEcephysSession`` writer produces (see ``../shared/reference-nwb/LAYOUT.md``):
the behavior streams of ``ophys.py`` (stimulus, running, licks, rewards, eye tracking, templates,
presentations, trials), plus probes, channels, units, optotagging and, in one file per probe, LFP
and current source density. The content is simulated by the modules ``content.py`` gathers
(schedule, behavior, Neuropixels signals); the probe, channel and unit tables (ids, positions,
areas, quality metrics) by :func:`simulate_probes`, so that a project's metadata tables and its NWB
files agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBFile
from pynwb.ecephys import LFP, ElectricalSeries, ElectrodesTable
from pynwb.epoch import TimeIntervals
from pynwb.misc import Units

from .change_detection import Schedule, image_onsets
from .ecephys_schedule import optotagging, simulate_vbn_schedule
from .extensions import cls
from .neuropixels import current_source_density, lfp_traces, mean_waveforms, spike_trains
from .ophys import (
    NS_BEH,
    SCIENTIFICA,
    BehaviorSessionInfo,
    _add_behavior,
    _add_eye_tracking,
    _create_device,
    _nwbfile,
    _series,
    _task_parameters,
    _write,
)
from .sizes import EcephysSize
from .timing import STIMULUS_FRAME_RATE, recording_span

NS_ECEPHYS = "ndx-aibs-ecephys"
# Probe letter -> visual area it targets; deeper, each probe crosses hippocampus and thalamus or
# midbrain. Allen CCF structure ids of the areas used (units.csv's structure_id).
VISUAL_AREAS = {"A": "VISam", "B": "VISpm", "C": "VISp", "D": "VISl", "E": "VISal", "F": "VISrl"}
THALAMUS = ["LP", "LGd", "LGv", "PoT", "POL", "TH", "MGv", "MGd", "PIL", "SGN"]
MIDBRAIN = ["MRN", "MB", "SCig", "APN"]
STRUCTURE_IDS = {
    "VISp": 385,
    "VISl": 409,
    "VISal": 402,
    "VISam": 394,
    "VISpm": 533,
    "VISrl": 417,
    "CA1": 382,
    "DG": 726,
    "LP": 218,
    "LGd": 170,
    "LGv": 178,
    "PoT": 1020,
    "POL": 1029,
    "TH": 549,
    "MGv": 1072,
    "MGd": 1063,
    "PIL": 560581559,
    "SGN": 325,
    "MRN": 128,
    "MB": 313,
    "SCig": 10,
    "APN": 215,
    "root": 997,
}
PROBE_LENGTH = 3840.0  # um, 384 channels in 192 rows 20 um apart
N_PROBE_CHANNELS = 384
HORIZONTAL = np.array([43, 11, 59, 27])  # checkerboard columns of Neuropixels 1.0
UNIT_METRICS = [
    "PT_ratio",
    "amplitude",
    "amplitude_cutoff",
    "cluster_id",
    "cumulative_drift",
    "d_prime",
    "firing_rate",
    "isi_violations",
    "isolation_distance",
    "l_ratio",
    "local_index",
    "max_drift",
    "nn_hit_rate",
    "nn_miss_rate",
    "peak_channel_id",
    "presence_ratio",
    "quality",
    "recovery_slope",
    "repolarization_slope",
    "silhouette_score",
    "snr",
    "spread",
    "velocity_above",
    "velocity_below",
    "waveform_duration",
]
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


@dataclass
class EcephysSessionInfo(BehaviorSessionInfo):
    """One VBN ecephys session and what its probes recorded.

    ``probes`` (index ``ecephys_probe_id``), ``channels`` (``ecephys_channel_id``) and ``units``
    (``unit_id``) are the tables of :func:`simulate_probes`; ``novel_images`` are the images of the
    session's set the mouse has not seen in training (``is_image_novel``).
    """

    ecephys_session_id: int = 0
    novel_images: tuple[str, ...] = ()
    probes: pd.DataFrame = field(default_factory=pd.DataFrame)
    channels: pd.DataFrame = field(default_factory=pd.DataFrame)
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    release: str = "vbn"


def simulate_probes(
    rng: np.random.Generator,
    size: EcephysSize,
    *,
    first_probe_id: int,
    first_channel_id: int,
    first_unit_id: int,
    with_lfp: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Probes, channels and units of a session, as the project tables describe them.

    Each probe runs from a midbrain or thalamic area at its tip through DG and CA1 to its visual
    area and out of the brain (``root``); channel positions follow a straight CCF trajectory. Units
    sit on valid channels, with log-uniform firing rates in 0.1-50 Hz (exact: the spike count is
    ``firing_rate`` times the recording duration), ~7% ``noise``, and ~20% (``preferred`` >= 0)
    locked to one image. ``wf_peak`` is the peak channel's row in the unit's mean waveform.

    Parameters
    ----------
    rng
        Random generator (probe letters, areas, positions, metrics).
    size
        Number of probes, channels and units per probe, LFP probes; the recording duration.
    first_probe_id, first_channel_id, first_unit_id
        Ids are allocated upwards from these (channel and unit ids with gaps, as released).
    with_lfp
        Whether the first ``size.lfp_probes`` probes have LFP (``has_lfp_data``).

    Returns
    -------
    probes, channels, units : pandas.DataFrame
        Indexed by ``ecephys_probe_id``, ``ecephys_channel_id`` and ``unit_id``; the columns are
        the project tables' (CCF coordinates as ``*_ccf_coordinate``) plus the NWB-only ones.
    """
    t0, t1 = recording_span(size)
    duration = t1 - t0
    letters = sorted(rng.choice(list(VISUAL_AREAS), size.n_probes, replace=False))
    probe_ids = first_probe_id + np.arange(size.n_probes)
    probes = pd.DataFrame(
        {
            "name": [f"probe{c}" for c in letters],
            "sampling_rate": 30000.0 + rng.uniform(0.0, 0.16, size.n_probes),
            "lfp_sampling_rate": 2500.0 + rng.uniform(0.0, 0.015, size.n_probes),
            "has_lfp_data": with_lfp & (np.arange(size.n_probes) < size.lfp_probes),
        },
        index=pd.Index(probe_ids, name="ecephys_probe_id"),
    )

    numbers = np.unique(np.round(np.linspace(0, N_PROBE_CHANNELS - 1, size.channels_per_probe)))
    numbers = numbers.astype(np.int64)
    vertical = 20 * (numbers // 2 + 1)
    channel_frames, unit_frames = [], []
    next_channel, next_unit = first_channel_id, first_unit_id
    for letter, pid in zip(letters, probe_ids, strict=True):
        n = len(numbers)
        areas = np.array(
            [rng.choice(MIDBRAIN), rng.choice(THALAMUS), "DG", "CA1", VISUAL_AREAS[letter], "root"],
            dtype=object,
        )
        bounds = np.cumsum(rng.uniform(0.7, 1.3, 5) * [0.2, 0.25, 0.1, 0.1, 0.2])
        tip = np.array([7600.0, 3600.0, 8800.0]) + rng.normal(0, [250, 100, 250])
        direction = np.array([470.0, -3050.0, -1000.0]) + rng.normal(0, [60, 60, 60])
        ccf = np.round(tip + (vertical / PROBE_LENGTH)[:, None] * direction)
        valid = numbers != 191  # the reference channel
        if valid.all():
            valid[rng.integers(n)] = False
        ids = next_channel + np.cumsum(rng.integers(1, 3, n))  # ids of dropped channels are skipped
        next_channel = int(ids[-1]) + 1
        channel_frames.append(
            pd.DataFrame(
                {
                    "ecephys_probe_id": pid,
                    "probe_channel_number": numbers,
                    "probe_vertical_position": vertical,
                    "probe_horizontal_position": HORIZONTAL[numbers % 4],
                    "anterior_posterior_ccf_coordinate": ccf[:, 0],
                    "dorsal_ventral_ccf_coordinate": ccf[:, 1],
                    "left_right_ccf_coordinate": ccf[:, 2],
                    "structure_acronym": areas[np.searchsorted(bounds, vertical / PROBE_LENGTH)],
                    "valid_data": valid,
                },
                index=pd.Index(ids, name="ecephys_channel_id"),
            )
        )

        u = size.units_per_probe
        peak = np.sort(rng.choice(np.flatnonzero(valid), u))
        half = size.waveform_channels // 2
        unit_frames.append(
            pd.DataFrame(
                {
                    "ecephys_probe_id": pid,
                    "peak_channel_id": ids[peak],
                    "local_index": np.arange(u),
                    "cluster_id": np.sort(rng.choice(3 * u, u, replace=False)),
                    "wf_peak": np.clip(half + rng.integers(-1, 2, u), 0, size.waveform_channels - 1),
                },
                index=pd.Index(next_unit + np.cumsum(rng.integers(1, 4, u)), name="unit_id"),
            )
        )
        next_unit = int(unit_frames[-1].index[-1]) + 1

    channels = pd.concat(channel_frames)
    units = pd.concat(unit_frames)
    n = len(units)
    rate = np.exp(rng.uniform(np.log(0.1), np.log(50.0), n))
    counts = np.clip(np.rint(rate * duration), np.ceil(0.1 * duration), np.floor(50 * duration))
    metrics = {
        "PT_ratio": rng.uniform(0.25, 0.8, n),
        "amplitude": np.clip(rng.lognormal(np.log(150), 0.6, n), 30, 600),
        "amplitude_cutoff": rng.beta(1, 8, n) * 0.5,
        "cumulative_drift": rng.uniform(30, 660, n).round(2),
        "d_prime": np.clip(rng.normal(4.9, 1.4, n), 0.9, None),
        "firing_rate": counts / duration,
        "isi_violations": rng.exponential(0.1, n) * (rng.random(n) < 0.7),
        "isolation_distance": rng.lognormal(np.log(65), 0.5, n),
        "l_ratio": rng.exponential(0.04, n),
        "max_drift": rng.uniform(3, 70, n).round(2),
        "nn_hit_rate": rng.uniform(0.5, 0.98, n),
        "nn_miss_rate": rng.exponential(0.014, n),
        "presence_ratio": np.where(rng.random(n) < 0.85, 1.0, rng.uniform(0.6, 0.99, n).round(2)),
        "quality": np.where(rng.random(n) < 0.93, "good", "noise").astype(object),
        "recovery_slope": rng.uniform(-0.4, -0.02, n),
        "repolarization_slope": rng.lognormal(np.log(0.35), 0.6, n),
        "silhouette_score": np.where(rng.random(n) < 0.97, rng.normal(0.11, 0.06, n), np.nan),
        "snr": rng.lognormal(np.log(2.6), 0.6, n),
        "spread": rng.integers(2, 15, n) * 10.0,
        "velocity_above": np.where(rng.random(n) < 0.8, rng.normal(0.17, 0.74, n), np.nan),
        "velocity_below": np.where(rng.random(n) < 0.85, rng.normal(0.14, 0.78, n), np.nan),
        "waveform_duration": rng.uniform(0.16, 0.85, n),
        "waveform_halfwidth": rng.uniform(0.1, 0.4, n),  # in units.csv, not in the NWB file
        "preferred": np.where(rng.random(n) < 0.2, rng.integers(0, 8, n), -1),
    }
    units = units.assign(**metrics)
    return probes, channels, units


def lfp_channels(channels: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` channels of one probe that have LFP: every k-th one, from the third (as released)."""
    stride = max(1, len(channels) // n)
    return channels.iloc[min(2, stride - 1) :: stride].iloc[:n]


def _metadata(info: EcephysSessionInfo):
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


def _add_probes(nwb: NWBFile, info: EcephysSessionInfo, size: EcephysSize, channels: pd.DataFrame) -> None:
    """Rig and probe devices, one electrode group per probe, and the electrodes table of
    ``channels`` (id = ``ecephys_channel_id``)."""
    _create_device(nwb, name=info.equipment_name, **SCIENTIFICA)
    groups = {}
    for pid in channels.ecephys_probe_id.unique():
        probe = info.probes.loc[pid]
        device = _create_device(
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


def _ragged(name: str, description: str, data: np.ndarray, ends: np.ndarray, **kw) -> list:
    column = VectorData(name=name, description=description, data=data, **kw)
    return [column, VectorIndex(name=f"{name}_index", data=ends, target=column)]


def _add_units(
    nwb: NWBFile,
    rng: np.random.Generator,
    info: EcephysSessionInfo,
    schedule: Schedule,
    size: EcephysSize,
) -> None:
    """The units table, built from whole arrays (a row at a time is far too slow for ~1e8 spikes)."""
    units = info.units
    t0, t1 = recording_span(size)
    counts = np.rint(units.firing_rate.to_numpy() * (t1 - t0)).astype(np.int64)
    shown = image_onsets(schedule)
    onsets = [
        None if p < 0 else shown.start_time[shown.image_name == schedule.image_names[p]].to_numpy()
        for p in units.preferred
    ]
    times = spike_trains(rng, counts, t0, t1, onsets)
    amplitudes = np.repeat(units.amplitude.to_numpy() * 1e-6, counts)
    amplitudes *= rng.lognormal(0.0, 0.25, len(times))
    waveforms = mean_waveforms(
        rng,
        units.amplitude.to_numpy(),
        units.wf_peak.to_numpy(),
        size.waveform_channels,
        size.waveform_samples,
    )
    ends = np.cumsum(counts)
    columns = [
        VectorData(
            name=c, description="no description", data=units[c].to_numpy(object if c == "quality" else None)
        )
        for c in UNIT_METRICS
    ]
    columns += _ragged("spike_times", "times (s) of detected spiking events", times, ends)
    columns += _ragged("spike_amplitudes", "amplitude (s) of detected spiking events", amplitudes, ends)
    columns += _ragged(
        "waveform_mean",
        "mean waveforms on peak channels (over samples)",
        waveforms,
        size.waveform_channels * np.arange(1, len(units) + 1),
    )
    nwb.units = Units(name="units", description="", id=units.index.to_numpy(), columns=columns)


def _add_optotagging(nwb: NWBFile, trials: pd.DataFrame) -> None:
    module = nwb.create_processing_module("optotagging", "optogenetic stimulution data")
    series = _series("optotagging", trials.duration.to_numpy(), trials.start_time.to_numpy(), "seconds")
    module.add(series)
    table = TimeIntervals(name="optogenetic_stimulation", description="")
    for col in ("condition", "level", "stimulus_name", "duration"):
        table.add_column(name=col, description="no description")
    module.add(table)
    for row in trials.to_dict("records"):
        table.add_interval(**row, tags="optical_stimulation", timeseries=[series])


def _write_ecephys(nwb: NWBFile, path: str | Path) -> Path:
    path = _write(nwb, path)
    # pynwb 4 (NWB 2.9) types the electrodes table ElectrodesTable; the released files (NWB 2.5-2.7)
    # have a plain DynamicTable there, which is what readers of the release meet.
    with h5py.File(path, "r+") as f:
        electrodes = f["general/extracellular_ephys/electrodes"]
        electrodes.attrs["neurodata_type"] = "DynamicTable"
        electrodes.attrs["namespace"] = "hdmf-common"
    return path


def _schedule(info: EcephysSessionInfo, size: EcephysSize) -> tuple[np.random.Generator, Schedule]:
    # Drawn first from the session's seed, so a session's files all see the same stimulus.
    rng = np.random.default_rng(info.seed)
    return rng, simulate_vbn_schedule(rng, size, image_set=info.image_set, novel_images=info.novel_images)


def write_ecephys_session(path: str | Path, info: EcephysSessionInfo, size: EcephysSize) -> Path:
    """Write ``ecephys_session_<id>.nwb`` of a VBN session, as the AllenSDK lays it out.

    Parameters
    ----------
    path
        File to write (its folder is created).
    info
        The session, its mouse and its probe/channel/unit tables (:func:`simulate_probes`).
    size
        Durations of the stimulus blocks, number of probes, channels, units, waveform channels.

    Returns
    -------
    Path
        ``path``.
    """
    rng, schedule = _schedule(info, size)
    nwb = _nwbfile(
        info, str(info.ecephys_session_id), ["visual", "behavior", "task"], experiment_description=None
    )
    _add_probes(nwb, info, size, info.channels)
    nwb.add_lab_meta_data(_metadata(info))
    nwb.add_lab_meta_data(_task_parameters(info, schedule))
    _add_behavior(nwb, schedule, rng, size, index_series=False)
    t0, t1 = recording_span(size)
    _add_eye_tracking(nwb, rng, t0 - 2.5, t1, size.eye_rate, info.equipment_name)
    _add_optotagging(nwb, optotagging(rng, schedule.end_time + 3.0, size.opto_trials))
    _add_units(nwb, rng, info, schedule, size)
    return _write_ecephys(nwb, path)


def write_probe_lfp(path: str | Path, info: EcephysSessionInfo, probe: str | int, size: EcephysSize) -> Path:
    """Write ``probe_<name>_lfp.nwb``: one probe's LFP (float32, time x channels, on every
    ``len(channels) // size.lfp_channels``-th channel) and its current source density.

    Parameters
    ----------
    path
        File to write.
    info
        The session (:func:`write_ecephys_session`'s ``info``).
    probe
        The probe's name (``"probeA"``) or ``ecephys_probe_id``.
    size
        ``lfp_rate`` and ``lfp_channels`` set the data's shape.

    Returns
    -------
    Path
        ``path``.
    """
    names = info.probes["name"]
    pid = probe if probe in info.probes.index else names.index[names == probe][0]
    _, schedule = _schedule(info, size)
    rng = np.random.default_rng([info.seed, int(pid)])
    channels = lfp_channels(info.channels[info.channels.ecephys_probe_id == pid], size.lfp_channels)
    nwb = _nwbfile(
        info,
        str(pid),
        None,
        experiment_description=None,
        session_id="None",
        session_description="LFP data and associated info for one probe",
    )
    _add_probes(nwb, info, size, channels)
    nwb.add_lab_meta_data(_metadata(info))

    t0, t1 = recording_span(size)
    timestamps = t0 + np.arange(int((t1 - t0) * size.lfp_rate)) / size.lfp_rate
    data = lfp_traces(
        rng,
        timestamps,
        channels.probe_vertical_position.to_numpy(float),
        image_onsets(schedule).start_time.to_numpy(),
    )
    lfp = LFP(name=f"probe_{pid}_lfp")
    nwb.add_acquisition(lfp)  # before its series, so the series' electrodes share its ancestor
    series = ElectricalSeries(
        name=f"probe_{pid}_lfp_data",
        data=data,
        timestamps=timestamps,
        electrodes=nwb.create_electrode_table_region(
            list(range(len(channels))), f"lfp channels on probe {pid}"
        ),
    )
    lfp.add_electrical_series(series)
    nwb.add_acquisition(series)  # the release also links it at acquisition/probe_<id>_lfp_data

    csd = current_source_density(rng)
    module = nwb.create_processing_module("current_source_density", "Precalculated current source density")
    module.add(
        cls(NS_ECEPHYS, "EcephysCSD")(
            name="ecephys_csd",
            time_series=[_series("current_source_density", csd["data"], csd["timestamps"], "V/cm^2")],
            virtual_electrode_x_positions=csd["x"],
            virtual_electrode_x_positions__unit="um",
            virtual_electrode_y_positions=csd["y"],
            virtual_electrode_y_positions__unit="um",
        )
    )
    return _write_ecephys(nwb, path)

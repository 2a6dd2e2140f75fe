"""The units table of a Visual Behavior Neuropixels session file: quality metrics (``UNIT_METRICS``)
and the ragged spike times, spike amplitudes and mean waveforms, built from whole arrays.
"""

from __future__ import annotations

import numpy as np
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBFile
from pynwb.misc import Units

from .change_detection import Schedule, image_onsets
from .ecephys_file import EcephysSessionInfo
from .neuropixels import mean_waveforms, spike_trains
from .sizes import EcephysSize
from .timing import recording_span

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


def _ragged(name: str, description: str, data: np.ndarray, ends: np.ndarray, **kw) -> list:
    column = VectorData(name=name, description=description, data=data, **kw)
    return [column, VectorIndex(name=f"{name}_index", data=ends, target=column)]


def add_units(
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

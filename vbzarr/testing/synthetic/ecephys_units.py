"""The units table of a Visual Behavior Neuropixels session file: quality metrics (``UNIT_METRICS``)
and the ragged spike times, spike amplitudes and mean waveforms, built from whole arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBFile
from pynwb.misc import Units

from .change_detection import Schedule, image_onsets
from .ecephys_file import EcephysSessionInfo
from .neuropixels import NOVEL_GAIN, locked_spikes, mean_waveforms, spike_trains
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


def stimulus_locked(
    rng: np.random.Generator, units: pd.DataFrame, schedule: Schedule
) -> list[np.ndarray | None]:
    """Each unit's stimulus-locked spike times (s), or None for a unit that responds to no image.

    A responsive unit fires after every image flash of both image blocks: ``flash_gain`` spikes
    on average after its preferred image, ``breadth`` times that after the others, times
    ``change_gain`` on a change and ``NOVEL_GAIN`` on a novel image (columns of
    :func:`~.neuropixels.unit_responses`).
    """
    shown = image_onsets(schedule)
    onsets = shown.start_time.to_numpy()
    image = pd.Index(schedule.image_names).get_indexer(shown.image_name)  # ints: fast per unit
    is_change = shown.is_change.to_numpy()
    drive = np.where(shown.is_image_novel, NOVEL_GAIN, 1.0)
    locked: list[np.ndarray | None] = []
    for u in units.itertuples():
        if u.preferred < 0:
            locked.append(None)
            continue
        tuning = np.where(image == u.preferred, 1.0, u.breadth)
        change = np.where(is_change, u.change_gain, 1.0)
        locked.append(locked_spikes(rng, onsets, u.flash_gain * tuning * change * drive, u.latency))
    return locked


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
    times = spike_trains(rng, counts, t0, t1, stimulus_locked(rng, units, schedule))
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

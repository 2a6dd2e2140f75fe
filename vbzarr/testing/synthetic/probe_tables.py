"""The probe, channel and unit tables of a Visual Behavior Neuropixels ecephys session
(:func:`simulate_probes`): ids, probe geometry, CCF positions and areas, unit quality metrics. A
project's metadata tables and its NWB files are both written from them, so they agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .neuropixels import unit_responses
from .sizes import EcephysSize
from .timing import recording_span

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
    ``firing_rate`` times the recording duration), ~7% ``noise``, and a share, by area, responsive
    to image flashes (``preferred`` >= 0; :func:`~.neuropixels.unit_responses`). ``wf_peak`` is
    the peak channel's row in the unit's mean waveform.

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
    }
    areas = channels.structure_acronym.loc[units.peak_channel_id].to_numpy()
    responses = unit_responses(rng, areas).set_index(units.index)
    return probes, channels, pd.concat([units.assign(**metrics), responses], axis=1)

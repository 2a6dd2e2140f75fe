"""Neuropixels content: what units respond to, spike trains, mean waveforms, LFP and current source
density."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _sorted_uniform(rng, counts, t0, t1, refractory):
    """Sorted uniform times in [t0, t1) for several units at once (concatenated), at least
    ``refractory`` apart: order statistics of exponential gaps, so no sort is needed."""
    counts = np.asarray(counts, np.int64)
    n_units = len(counts)
    gaps = rng.standard_exponential(int(counts.sum()) + n_units)
    csum = np.cumsum(gaps)
    last = np.cumsum(counts + 1) - 1  # each unit has counts + 1 gaps; its last gap closes [t0, t1)
    before = np.concatenate([[0.0], csum[last[:-1]]])
    keep = np.ones(len(gaps), bool)
    keep[last] = False
    unit = np.repeat(np.arange(n_units), counts)
    rank = np.arange(len(unit)) - np.repeat(np.cumsum(counts) - counts, counts)
    span = (t1 - t0) - counts * refractory
    frac = (csum[keep] - before[unit]) / (csum[last] - before)[unit]
    return t0 + frac * span[unit] + rank * refractory


# Per area: share of units that respond to image flashes, their expected extra spikes per flash of
# their preferred image, and their response latency (s). Visual responses are strongest in VISp
# and LGd and weaken, later, up the visual hierarchy; hippocampus and midbrain barely respond.
AREA_RESPONSES = {
    "LGd": (0.6, 2.0, 0.030),
    "VISp": (0.7, 2.5, 0.035),
    "VISl": (0.55, 1.8, 0.040),
    "VISal": (0.5, 1.5, 0.045),
    "VISrl": (0.45, 1.3, 0.045),
    "VISpm": (0.4, 1.2, 0.050),
    "VISam": (0.35, 1.0, 0.050),
    "LP": (0.35, 1.0, 0.045),
    "SCig": (0.3, 1.0, 0.040),
}
_OTHER_AREA = (0.05, 0.5, 0.050)
NOVEL_GAIN = 1.5  # responses to images the mouse has not seen before are larger


def unit_responses(rng: np.random.Generator, areas: np.ndarray) -> pd.DataFrame:
    """What units in ``areas`` (their peak channel's ``structure_acronym``) respond to.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``preferred`` (image index, -1 for no image response), ``flash_gain``
        (expected stimulus-locked spikes per flash of the preferred image), ``breadth`` (response
        to the other images, relative), ``change_gain`` (on the first flash of a new image) and
        ``latency`` (s).
    """
    share, gain, latency = np.array([AREA_RESPONSES.get(a, _OTHER_AREA) for a in areas]).reshape(-1, 3).T
    n = len(areas)
    responsive = rng.random(n) < share
    return pd.DataFrame(
        {
            "preferred": np.where(responsive, rng.integers(0, 8, n), -1),
            "flash_gain": np.where(responsive, gain * rng.gamma(4.0, 0.25, n), 0.0),
            "breadth": rng.uniform(0.1, 0.6, n),
            "change_gain": rng.uniform(1.5, 3.0, n),
            "latency": latency + rng.uniform(-0.005, 0.005, n),
        }
    )


def locked_spikes(
    rng: np.random.Generator, onsets: np.ndarray, expected: np.ndarray, latency: float
) -> np.ndarray:
    """Times of one unit's stimulus-locked spikes: a Poisson number (mean ``expected[i]``) after
    each onset ``i``, each ``latency`` plus a gamma jitter (mode 8 ms, mean 16 ms) later."""
    n = rng.poisson(expected)
    times = np.repeat(onsets, n)
    return times + latency + rng.gamma(2.0, 0.008, len(times))


def spike_trains(
    rng: np.random.Generator,
    counts: np.ndarray,
    t0: float,
    t1: float,
    locked: list[np.ndarray | None],
    *,
    refractory: float = 0.0015,
    batch: int = 1 << 24,
) -> np.ndarray:
    """Spike times of units with exactly ``counts`` spikes in ``[t0, t1)``, concatenated and sorted
    within each unit.

    A unit's ``locked`` spikes (:func:`locked_spikes`, at most half of its spikes: a random subset
    when there are more) are kept; the rest is a Poisson process with a refractory period.
    Vectorized over units, in batches of about ``batch`` spikes to bound memory.

    Parameters
    ----------
    rng
        Random generator.
    counts
        Number of spikes of each unit.
    t0, t1
        The recording's start and end (s).
    locked
        Per unit, the times (s) of its stimulus-locked spikes, or None.
    refractory
        Minimum interval between two spikes of the Poisson part (s).
    batch
        Spikes simulated at once.

    Returns
    -------
    numpy.ndarray
        ``counts.sum()`` float64 times; unit ``i``'s are ``[cumsum(counts)[i-1], cumsum(counts)[i])``.
    """
    counts = np.asarray(counts, np.int64)
    evoked = []
    for times, c in zip(locked, counts, strict=True):
        times = np.empty(0) if times is None else times[(times >= t0) & (times < t1)]
        if len(times) > c // 2:
            times = times[rng.choice(len(times), int(c) // 2, replace=False)]
        evoked.append(times)
    base = counts - np.array([len(e) for e in evoked], np.int64)
    out = np.empty(int(counts.sum()))
    first = np.cumsum(counts) - counts
    lo = 0
    while lo < len(counts):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(base[lo:]), batch)))
        times = _sorted_uniform(rng, base[lo:hi], t0, t1, refractory)
        within = np.cumsum(base[lo:hi]) - base[lo:hi]  # each unit's offset within the batch
        out[np.arange(len(times)) + np.repeat(first[lo:hi] - within, base[lo:hi])] = times
        lo = hi
    for i in np.flatnonzero([len(e) for e in evoked]):
        s, b = first[i], base[i]
        out[s : s + counts[i]] = np.sort(np.concatenate([out[s : s + b], evoked[i]]))
    return out


def mean_waveforms(
    rng: np.random.Generator, amplitude: np.ndarray, peak: np.ndarray, n_channels: int, n_samples: int
) -> np.ndarray:
    """Mean spike waveforms (uV), ``(units * n_channels, n_samples)`` float32: a trough and a slower
    peak on channel ``peak[u]`` of the unit's ``n_channels``, decaying with distance."""
    t = np.arange(n_samples)[None, None, :]
    trough = rng.uniform(18, 24, (len(amplitude), 1, 1))
    width = rng.uniform(2.0, 4.0, (len(amplitude), 1, 1))
    shape = -np.exp(-(((t - trough) / width) ** 2)) + 0.35 * np.exp(-(((t - trough - 12) / (3 * width)) ** 2))
    distance = np.abs(np.arange(n_channels)[None, :, None] - peak[:, None, None])
    scale = amplitude[:, None, None] * np.exp(-distance / rng.uniform(2, 6, (len(amplitude), 1, 1)))
    wf = scale * shape + rng.normal(0, 2.0, (len(amplitude), n_channels, n_samples))
    return wf.reshape(-1, n_samples).astype(np.float32)


def lfp_traces(
    rng: np.random.Generator,
    timestamps: np.ndarray,
    depth: np.ndarray,
    onsets: np.ndarray,
    chunk: int = 1 << 18,
) -> np.ndarray:
    """LFP (V), ``(time, channel)`` float32: a few smooth sources mixed with depth-dependent weights
    (neighbouring channels correlate), a flash-evoked deflection and channel noise.

    ``depth`` is the channels' position along the probe (um). Written in time chunks so that a
    multi-hour recording needs little more memory than its float32 output.
    """
    n, rate = len(timestamps), 1.0 / np.median(np.diff(timestamps))

    def smooth(x, width):  # box filter along time, via a cumulative sum (cheap for long series)
        c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
        w = max(1, int(width))
        return (c[w:] - c[:-w])[np.clip(np.arange(len(x)) - w // 2, 0, len(x) - w)] / np.sqrt(w)

    sources = np.hstack([smooth(rng.standard_normal((n, 2)), rate / f) for f in (2.0, 12.0)])
    evoked = np.zeros(n)
    np.add.at(evoked, np.clip(np.searchsorted(timestamps, onsets), 0, n - 1), 1.0)
    kernel = -np.sin(np.pi * np.arange(int(0.15 * rate)) / (0.15 * rate))  # ~150 ms deflection
    sources = np.column_stack([sources, np.convolve(evoked, kernel)[:n] * 4.0])
    rel = (depth - depth.min()) / max(np.ptp(depth), 1.0)
    mix = np.vstack([np.cos(np.pi * k * rel) for k in range(sources.shape[1])]) * 8e-6
    out = np.empty((n, len(depth)), np.float32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        out[a:b] = sources[a:b] @ mix + rng.standard_normal((b - a, len(depth)), np.float32) * 3e-6
    return out


def current_source_density(
    rng: np.random.Generator, n_sites: int = 384, rate: float = 500.0
) -> dict[str, np.ndarray]:
    """Flash-triggered CSD, ``(time, virtual site)`` from -100 to +250 ms: a sink flanked by sources
    ~50 ms after the flash, plus noise; with the virtual sites' positions (um)."""
    t = np.round(np.arange(-0.1, 0.25 + 0.5 / rate, 1 / rate), 6)
    y = np.arange(n_sites) * 10.0
    center = rng.uniform(0.3, 0.7) * y[-1]
    z = (y - center) / 150.0
    profile = -(1 - z**2) * np.exp(-(z**2) / 2)  # Mexican hat: sink at `center`, sources around
    response = np.exp(-(((t - 0.05) / 0.02) ** 2))
    data = 2e4 * response[:, None] * profile[None, :] + rng.normal(0, 2e3, (len(t), n_sites))
    return {"timestamps": t, "data": data, "x": np.full(n_sites, 24.0), "y": y}

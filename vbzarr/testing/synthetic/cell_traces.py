"""Two-photon content: imaging frame times and the traces of cells tuned to particular images."""

from __future__ import annotations

import numpy as np

from .change_detection import OMITTED_INDEX, Schedule


def ophys_timestamps(rng: np.random.Generator, t0: float, t1: float, rate: float) -> np.ndarray:
    """Two-photon frame times: nominal rate with small jitter."""
    n = int((t1 - t0) * rate)
    return t0 + (np.arange(n) + rng.normal(0, 0.01, n)) / rate


def calcium_traces(
    rng: np.random.Generator,
    timestamps: np.ndarray,
    schedule: Schedule,
    preferred: np.ndarray,
    omission_cells: np.ndarray,
) -> dict[str, np.ndarray]:
    """dF/F, events and fluorescence traces, (time, cell), for cells tuned to particular images.

    ``preferred[c]`` is the image index cell ``c`` responds to (~100 ms after the flash onset);
    ``omission_cells[c]`` marks cells that respond to omitted flashes instead.
    """
    n_t, n_c = len(timestamps), len(preferred)
    task = next(b for k, b in schedule.blocks.items() if "image_index" in b and (b.image_index >= 0).any())
    onset = task.start_time.to_numpy() + 0.1
    img = task.image_index.to_numpy()
    frame = np.clip(np.searchsorted(timestamps, onset), 0, n_t - 1)
    events = np.zeros((n_t, n_c))
    for c in range(n_c):
        hit = (img == OMITTED_INDEX) if omission_cells[c] else (img == preferred[c])
        amp = rng.gamma(2.0, 0.15, hit.sum()) * (1.5 if schedule.passive else 1.0)
        np.add.at(events[:, c], frame[hit], amp)
        spont = rng.random(n_t) < 0.002
        events[spont, c] += rng.gamma(2.0, 0.1, spont.sum())
    rate = 1.0 / np.median(np.diff(timestamps))
    kernel = np.exp(-np.arange(int(2 * rate)) / (0.4 * rate))
    calcium = np.apply_along_axis(lambda e: np.convolve(e, kernel)[:n_t], 0, events)
    noise_std = rng.uniform(0.03, 0.08, n_c)
    # The pipeline computes dF/F in float32: the released (and AllenSDK-written reference) dff
    # values are float32-exact, stored as float64. The other traces are full float64.
    dff = (calcium + rng.normal(0, 1, (n_t, n_c)) * noise_std).astype(np.float32).astype(np.float64)
    f0 = rng.uniform(200, 800, n_c)
    corrected = f0 * (1 + dff)
    neuropil = f0 * 0.6 + np.convolve(rng.normal(0, 5, n_t), np.ones(50) / 50, mode="same")[:, None]
    return {
        "dff": dff,
        "events": events,
        "corrected_fluorescence": corrected,
        "neuropil_trace": neuropil + rng.normal(0, 2, (n_t, n_c)),
        "demixed_trace": corrected + 0.7 * neuropil,
        "lambdas": np.round(rng.uniform(0.05, 0.15, n_c), 4),
        "noise_stds": noise_std,
        "RMSE": rng.uniform(0.5, 2.0, n_c),
        "r": rng.uniform(0.5, 0.9, n_c),
    }

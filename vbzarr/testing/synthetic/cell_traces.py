"""Two-photon content: imaging frame times, what each cell responds to (by cre line), and its traces.

The responses follow the Visual Behavior Ophys papers (Garrett et al. 2023): excitatory
(``Slc17a7``) cells are tuned to one image and respond much more to its first flash after an image
change than to its repeats; ``Sst`` cells respond to most images, some with a change response;
``Vip`` cells respond little to images but ramp up when an expected flash is omitted. Image
responses are larger in a session of novel images (``Novel 1``) than with familiar ones, and in
between once the novel images have been seen (``Novel >1``); Vip omission responses shrink then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .change_detection import OMITTED_INDEX, Schedule


@dataclass(frozen=True)
class CellType:
    """The shares of a cre line's cells that respond to images, changes and omissions.

    ``breadth`` is the probability of a response to a non-preferred image;
    ``change_gain`` the range of the extra gain of a change cell on the first flash of a new image;
    ``amplitude`` the mean size (dF/F) of a response to the preferred image.
    """

    image: float
    breadth: float
    change: float
    change_gain: tuple[float, float]
    omission: float
    amplitude: float


CELL_TYPES = {
    "Slc17a7-IRES2-Cre": CellType(0.75, 0.05, 0.8, (3.0, 6.0), 0.03, 0.3),
    "Sst-IRES-Cre": CellType(0.8, 0.4, 0.3, (1.5, 2.5), 0.05, 0.25),
    "Vip-IRES-Cre": CellType(0.3, 0.3, 0.1, (1.5, 2.0), 0.6, 0.15),
}

#: Per experience level, the gain of image responses and of omission responses.
EXPERIENCE_GAIN = {"Familiar": (1.0, 1.0), "Novel 1": (1.8, 0.5), "Novel >1": (1.35, 0.8)}

_IMAGE_LATENCY = 0.05  # s from flash onset to the response's calcium event (it peaks ~0.1 s later)
_RAMP = np.linspace(0.05, 0.7, 8)  # s after an omitted flash's onset: the steps of the ramp


def cell_tuning(rng: np.random.Generator, n: int, cre_line: str) -> pd.DataFrame:
    """What ``n`` cells of ``cre_line`` respond to, drawn once per container (cells are matched).

    Parameters
    ----------
    rng
        Random generator.
    n
        Number of cells.
    cre_line
        A key of ``CELL_TYPES`` (the subject's ``cre_line``).

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``preferred`` (image index, -1 for no image response), ``breadth``,
        ``change_gain`` (1 for cells without a change response), ``omission`` (bool) and
        ``amplitude`` (dF/F).
    """
    kind = CELL_TYPES[cre_line]
    image = rng.random(n) < kind.image
    change = image & (rng.random(n) < kind.change)
    return pd.DataFrame(
        {
            "preferred": np.where(image, rng.integers(0, 8, n), -1),
            "breadth": np.full(n, kind.breadth),
            "change_gain": np.where(change, rng.uniform(*kind.change_gain, n), 1.0),
            "omission": rng.random(n) < kind.omission,
            "amplitude": kind.amplitude * rng.gamma(4.0, 0.25, n),
        }
    )


def ophys_timestamps(rng: np.random.Generator, t0: float, t1: float, rate: float) -> np.ndarray:
    """Two-photon frame times: nominal rate with small jitter."""
    n = int((t1 - t0) * rate)
    return t0 + (np.arange(n) + rng.normal(0, 0.01, n)) / rate


def _flash_events(
    rng: np.random.Generator, task: pd.DataFrame, cells: pd.DataFrame, gain: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and sizes ``(time, cell)`` of the calcium events the image block evokes."""
    onset = task.start_time.to_numpy()
    img = task.image_index.to_numpy()
    shown = img != OMITTED_INDEX
    preferred = cells.preferred.to_numpy()
    # A cell answers a flash of another image with probability `breadth`: events stay sparse.
    tuning = np.where(img[:, None] == preferred, 1.0, cells.breadth.to_numpy())
    tuning = (rng.random(tuning.shape) < tuning) & shown[:, None] & (preferred >= 0)
    # Adaptation: most of the change gain is lost by the first repeat of the new image.
    since = np.maximum(task.flashes_since_change.to_numpy(), 0)[:, None]
    adapt = 1.0 + (cells.change_gain.to_numpy() - 1.0) * 0.2**since
    image = cells.amplitude.to_numpy() * gain[0] * tuning * adapt
    # Omission cells ramp up through the omitted flash's interval (the next flash cuts the ramp).
    omitted = np.flatnonzero(~shown)
    ramp = np.linspace(0.2, 1.0, len(_RAMP))
    size = np.tile(ramp * 3.0 / ramp.sum(), len(omitted))[:, None]  # 3x an image response in all
    omission = size * cells.omission.to_numpy() * cells.amplitude.to_numpy() * gain[1]
    times = np.concatenate([onset + _IMAGE_LATENCY, (onset[omitted, None] + _RAMP).ravel()])
    sizes = np.vstack([image, omission])
    return times, sizes * rng.gamma(4.0, 0.25, sizes.shape)  # trial-to-trial variability


def calcium_traces(
    rng: np.random.Generator,
    timestamps: np.ndarray,
    schedule: Schedule,
    cells: pd.DataFrame,
    experience_level: str = "Familiar",
) -> dict[str, np.ndarray]:
    """dF/F, events and fluorescence traces, ``(time, cell)``, of cells tuned as ``cells`` says.

    Parameters
    ----------
    rng
        Random generator.
    timestamps
        Imaging frame times (s).
    schedule
        The session's stimulus; its image block drives the responses.
    cells
        Per cell, the columns of :func:`cell_tuning`.
    experience_level
        A key of ``EXPERIENCE_GAIN``: scales image and omission responses.

    Returns
    -------
    dict
        ``dff`` (float32-exact, as the pipeline computes it), ``events``, ``corrected_fluorescence``,
        ``neuropil_trace``, ``demixed_trace`` over (time, cell), and per-cell ``lambdas``,
        ``noise_stds``, ``RMSE``, ``r``.
    """
    n_t, n_c = len(timestamps), len(cells)
    task = next(b for k, b in schedule.blocks.items() if "image_index" in b and (b.image_index >= 0).any())
    times, sizes = _flash_events(rng, task, cells, EXPERIENCE_GAIN[experience_level])
    inside = (times >= timestamps[0]) & (times <= timestamps[-1])
    events = np.zeros((n_t, n_c))
    frames = np.searchsorted(timestamps, times[inside]).clip(0, n_t - 1)
    np.add.at(events, frames, sizes[inside])
    spont = rng.random((n_t, n_c)) < 0.002
    events[spont] += rng.gamma(2.0, 0.1, spont.sum())
    rate = 1.0 / np.median(np.diff(timestamps))
    # GCaMP6f: ~50 ms rise, ~400 ms decay; the kernel peaks at 1, so an event's size is its peak.
    t = np.arange(int(2 * rate)) / rate
    kernel = (1 - np.exp(-t / 0.05)) * np.exp(-t / 0.4)
    kernel /= kernel.max()
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

"""Shared timing: the stimulus monitor's frame clock, the frame layout of the VBN blocks and the span
of a VBN recording.

The change-detection block flashes an image for 250 ms (15 frames at 60 Hz) every 750 ms.
"""

from __future__ import annotations

import numpy as np

from .sizes import EcephysSize

STIMULUS_FRAME_RATE = 60.0
FLASH_FRAMES = 15  # 250 ms at 60 Hz
FLASH_PERIOD_FRAMES = 45  # 750 ms

# VBN ecephys sessions: when the recording and the stimulus start, and the frames of the gabor and
# full-field flash blocks.
RECORDING_START = 4.5  # first spike / LFP sample, s (the eye camera starts ~2.5 s earlier)
STIMULUS_START = 25.0  # first stimulus frame, s
GABOR_FRAMES = 15
FLASH_250MS_PERIOD = 120  # full-field flashes every 2 s
GABOR_GRID = [
    (o, x, y)
    for o in (0.0, 45.0, 90.0)  # orientation, position_x, position_y
    for x in range(-40, 41, 10)
    for y in range(-40, 41, 10)
]


def stimulus_timestamps(rng: np.random.Generator, n_frames: int, t0: float = 8.0) -> np.ndarray:
    """Monitor vsync times: 60 Hz with sub-millisecond jitter, strictly increasing."""
    dt = 1.0 / STIMULUS_FRAME_RATE + rng.normal(0, 2e-4, n_frames)
    return t0 + np.concatenate([[0.0], np.cumsum(dt[1:])])


def vbn_frames(size: EcephysSize) -> tuple[np.ndarray, int, int]:
    """First frame of the six VBN blocks, the number of frames and of flashes per image block."""
    n_flash = int(size.task_minutes * 60 * STIMULUS_FRAME_RATE) // FLASH_PERIOD_FRAMES
    s1, s2 = (round(s * STIMULUS_FRAME_RATE) for s in size.spontaneous_seconds)
    # Block 1 starts at the end of the last flash; 1.5 s of gray before the replay, 1 s around.
    lengths = [
        60,
        n_flash * FLASH_PERIOD_FRAMES - (FLASH_PERIOD_FRAMES - FLASH_FRAMES),
        s1,
        len(GABOR_GRID) * size.gabor_repeats * GABOR_FRAMES,
        s2,
        size.n_flashes * FLASH_250MS_PERIOD + 90,
    ]
    starts = np.cumsum(lengths)
    return starts, int(starts[-1] + n_flash * FLASH_PERIOD_FRAMES + 60), n_flash


def recording_span(size: EcephysSize) -> tuple[float, float]:
    """Start and end of the recording (spikes, LFP), s; from the size alone, so that the project
    tables (firing rates) and the NWB files agree."""
    _, n_frames, _ = vbn_frames(size)
    opto_start = STIMULUS_START + n_frames / STIMULUS_FRAME_RATE + 3.0
    return RECORDING_START, opto_start + 2.5 * size.opto_trials + 5.0

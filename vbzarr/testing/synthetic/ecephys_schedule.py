"""Stimulus schedule of Visual Behavior Neuropixels (VBN) ecephys sessions: the six stimulus blocks
(active change detection, spontaneous, gabors, spontaneous, full-field flashes, passive replay),
trials, licks, rewards, and the optotagging trials after them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .behavior import licks_and_rewards
from .change_detection import IMAGE_SETS, REWARD_VOLUME, Schedule, task_block
from .sizes import EcephysSize
from .timing import (
    FLASH_250MS_PERIOD,
    FLASH_FRAMES,
    GABOR_FRAMES,
    GABOR_GRID,
    STIMULUS_START,
    stimulus_timestamps,
    vbn_frames,
)

# Columns of the VBN presentation tables and trials, in the order the AllenSDK writes them.
_VBN_COMMON = [
    "start_time",
    "stop_time",
    "stimulus_block",
    "duration",
    "start_frame",
    "end_frame",
    "flashes_since_change",
    "trials_id",
    "active",
]
VBN_COLUMNS = {
    "images": [
        "start_time",
        "stop_time",
        "stimulus_block",
        "image_name",
        "duration",
        "start_frame",
        "end_frame",
        "is_change",
        "is_image_novel",
        "omitted",
        "flashes_since_change",
        "trials_id",
        "active",
        "stimulus_name",
        "rewarded",
        "stimulus_index",
        "is_sham_change",
    ],
    "spontaneous": [*_VBN_COMMON, "stimulus_name", "stimulus_index", "is_sham_change"],
    "gabor_20_deg_250ms": [
        *_VBN_COMMON,
        "position_y",
        "stimulus_name",
        "temporal_frequency",
        "stimulus_index",
        "spatial_frequency",
        "contrast",
        "position_x",
        "is_sham_change",
        "orientation",
    ],
    "flash_250ms": [*_VBN_COMMON, "stimulus_name", "color", "stimulus_index", "contrast", "is_sham_change"],
    "trials": [
        "start_time",
        "stop_time",
        "initial_image_name",
        "change_image_name",
        "is_change",
        "change_time_no_display_delay",
        "go",
        "catch",
        "lick_times",
        "response_time",
        "reward_time",
        "reward_volume",
        "hit",
        "false_alarm",
        "miss",
        "correct_reject",
        "aborted",
        "auto_rewarded",
        "change_frame",
        "trial_length",
    ],
}


def simulate_vbn_schedule(
    rng: np.random.Generator,
    size: EcephysSize,
    *,
    image_set: str = "G",
    novel_images: tuple[str, ...] = (),
    display_delay: float = 0.02,
) -> Schedule:
    """Stimulus schedule of a VBN ecephys session: the six blocks, trials, licks, rewards.

    Blocks (``stimulus_block``): 0 active change detection, 1 spontaneous, 2 gabors, 3 spontaneous,
    4 full-field flashes, 5 passive replay of block 0 (same images, changes and trial ids). As in
    the release, the image block's flags are float64, it has ``rewarded`` and ``stimulus_index`` but no
    ``image_index``, and trials carry ``change_time_no_display_delay`` (sync time of the change,
    ``display_delay`` before the frame shows) instead of ``change_time`` and ``response_latency``.

    Parameters
    ----------
    rng
        Random generator (frame jitter, flash sequence, trials, gabor order, licks).
    size
        Durations of the blocks.
    image_set
        ``"G"`` or ``"H"``.
    novel_images
        Images of the set the mouse has not seen before (``is_image_novel`` 1).
    display_delay
        Monitor lag (s): running and licks are on the sync clock, this much before the frames.

    Returns
    -------
    Schedule
        Blocks keyed by their NWB interval-table name, trials, licks and rewards.
    """
    stim_name, _, names = IMAGE_SETS[image_set]
    starts, n_frames, n_flash = vbn_frames(size)
    ts = stimulus_timestamps(rng, n_frames, t0=STIMULUS_START)
    flashes, trials = task_block(
        rng,
        ts,
        int(starts[0]),
        n_flash,
        names,
        False,
        True,
        novel=novel_images,
        reward_volume=REWARD_VOLUME["vbn"],
    )

    def timing(start_frame, end_frame) -> dict:
        return {
            "start_time": ts[start_frame],
            "stop_time": ts[end_frame],
            "duration": ts[end_frame] - ts[start_frame],
            "start_frame": start_frame,
            "end_frame": end_frame,
        }

    def block(name: str, number, start_frame, end_frame, index: int = -99, **cols):
        frame = pd.DataFrame(
            {
                **timing(start_frame, end_frame),
                "stimulus_block": number,
                "flashes_since_change": -99,
                "trials_id": -99,
                "active": False,
                "stimulus_name": name,
                "stimulus_index": index,
                "is_sham_change": False,
                **cols,
            }
        )
        return frame[VBN_COLUMNS[name]]

    # A change flash is `rewarded` when its trial was (hit or auto-reward).
    in_trial = flashes.trials_id.to_numpy() >= 0
    trial_rewarded = trials.reward_time.notna().to_numpy()[np.where(in_trial, flashes.trials_id, 0)]
    active = flashes.assign(
        stimulus_block=0,
        active=True,
        stimulus_name=stim_name,
        rewarded=((flashes.is_change == 1) & in_trial & trial_rewarded) * 1.0,
        stimulus_index=-99,
    )
    shift = int(starts[5] - starts[0])
    replay = active.assign(
        **timing(active.start_frame.to_numpy() + shift, active.end_frame.to_numpy() + shift),
        stimulus_block=5,
        active=False,
    )
    images = pd.concat([active, replay], ignore_index=True)[VBN_COLUMNS["images"]]

    spont = block("spontaneous", [1, 3], starts[[1, 3]], starts[[2, 4]])
    grid = np.array(
        [GABOR_GRID[i] for _ in range(size.gabor_repeats) for i in rng.permutation(len(GABOR_GRID))]
    ).reshape(-1, 3)
    gabor_frames = starts[2] + GABOR_FRAMES * np.arange(len(grid))
    gabor = block(
        "gabor_20_deg_250ms",
        2,
        gabor_frames,
        gabor_frames + FLASH_FRAMES,
        0,
        orientation=grid[:, 0],
        position_x=grid[:, 1],
        position_y=grid[:, 2],
        spatial_frequency=0.08,
        temporal_frequency=4.0,
        contrast=0.8,
    )
    flash_frames = starts[4] + FLASH_250MS_PERIOD * np.arange(size.n_flashes)
    flash = block(
        "flash_250ms",
        4,
        flash_frames,
        flash_frames + FLASH_FRAMES,
        1,
        color=rng.choice([-1.0, 1.0], size.n_flashes),
        contrast=0.8,
    )

    trials["change_time_no_display_delay"] = trials.change_time - display_delay
    licks, rewards = licks_and_rewards(rng, ts, trials)
    return Schedule(
        stimulus_timestamps=ts,
        blocks={
            f"{stim_name}_presentations": images,
            "spontaneous_presentations": spont,
            "gabor_20_deg_250ms_presentations": gabor,
            "flash_250ms_presentations": flash,
        },
        trials=trials[VBN_COLUMNS["trials"]],
        lick_times=licks,
        # Licks and running are sampled on the sync clock, i.e. before the display lag.
        lick_frames=np.searchsorted(ts - display_delay, licks).astype(np.int64),
        rewards=rewards,
        image_names=names,
        image_set=stim_name,
        stimulus_name=stim_name,
        passive=False,
        display_delay=display_delay,
        reward_volume=REWARD_VOLUME["vbn"],
    )


def optotagging(rng: np.random.Generator, t0: float, n: int) -> pd.DataFrame:
    """Optotagging trials from ``t0``: 10 ms pulses and 1 s raised cosines at three light levels,
    one every 1.5-2.5 s (each ends before the next starts)."""
    start = t0 + np.cumsum(rng.uniform(1.5, 2.5, n))
    pulse = rng.random(n) < 0.5
    duration = np.where(pulse, 0.01, 1.0)
    return pd.DataFrame(
        {
            "start_time": start,
            "condition": np.where(pulse, "a single square pulse", "half-period of a cosine wave"),
            "level": rng.choice([0.5, 1.085, 1.265], n),
            "stop_time": start + duration,
            "stimulus_name": np.where(pulse, "pulse", "raised_cosine"),
            "duration": duration,
        }
    )

"""Stimulus schedule of Visual Behavior Ophys sessions and of the behavior-only sessions of both
releases: gray screen, change-detection block, gray screen and natural movie repeats."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .behavior import licks_and_rewards
from .change_detection import IMAGE_SETS, REWARD_VOLUME, Schedule, task_block
from .sizes import Size
from .timing import FLASH_PERIOD_FRAMES, STIMULUS_FRAME_RATE, stimulus_timestamps

# Column order of the image block as the AllenSDK writes it, per release. The VBN release drops the
# block names, `image_set` and the movie columns (and, in ecephys files, `image_index`).
_VBO_TASK_COLUMNS = [
    "start_time",
    "stop_time",
    "stimulus_block",
    "stimulus_block_name",
    "image_index",
    "image_name",
    "movie_frame_index",
    "duration",
    "start_frame",
    "end_frame",
    "is_change",
    "is_image_novel",
    "omitted",
    "movie_repeat",
    "flashes_since_change",
    "trials_id",
    "image_set",
    "active",
    "is_sham_change",
    "stimulus_name",
]


def simulate_schedule(
    rng: np.random.Generator,
    size: Size,
    *,
    image_set: str = "A",
    passive: bool = False,
    with_gray_and_movie: bool = True,
    float_flags: bool = True,
    release: str = "vbo",
) -> Schedule:
    """Stimulus schedule of a session (blocks, trials, licks, rewards).

    ``float_flags`` reproduces the released ophys files, where ``is_change``, ``omitted`` and
    ``is_image_novel`` of the image block are float64 (0/1, NaN for ``is_image_novel`` of an
    omission); behavior-only training files store them as bool. ``release="vbn"`` gives the
    columns and reward volume (3 uL) of the Visual Behavior Neuropixels behavior-only files.
    """
    stim_name, version, names = IMAGE_SETS[image_set]
    image_set_full = f"{stim_name}.{version}" if version else stim_name
    fps = STIMULUS_FRAME_RATE
    gray = int(size.gray_minutes * 60 * fps) if with_gray_and_movie else 0
    n_flash = int(size.task_minutes * 60 * fps) // FLASH_PERIOD_FRAMES
    task_frames = n_flash * FLASH_PERIOD_FRAMES
    movie_frames = 2 * size.movie_frames * size.movie_repeats if with_gray_and_movie else 0
    n_frames = gray + task_frames + gray + movie_frames + 1
    ts = stimulus_timestamps(rng, n_frames)

    flashes, trials = task_block(
        rng, ts, gray, n_flash, names, passive, float_flags, reward_volume=REWARD_VOLUME[release]
    )
    task = flashes.assign(
        stimulus_block=1 if with_gray_and_movie else 0,
        stimulus_block_name="change_detection_behavior" if not passive else "change_detection_passive",
        movie_frame_index=-99,
        movie_repeat=-99,
        image_set=np.where(flashes.image_name == "omitted", "omitted", image_set_full).astype(object),
        active=not passive,
        stimulus_name=stim_name,
    )
    drop = set() if with_gray_and_movie else {"movie_frame_index", "movie_repeat"}
    if release == "vbn":
        drop |= {"stimulus_block_name", "image_set"}
    task = task[[c for c in _VBO_TASK_COLUMNS if c not in drop]]
    blocks = {f"{stim_name}_presentations": task}
    if with_gray_and_movie:
        blocks = _gray_and_movie(ts, gray, task_frames, size) | blocks

    licks, rewards = licks_and_rewards(rng, ts, trials)
    return Schedule(
        stimulus_timestamps=ts,
        blocks=blocks,
        trials=trials,
        lick_times=licks,
        lick_frames=np.searchsorted(ts, licks).astype(np.int64),
        rewards=rewards,
        image_names=names,
        image_set=image_set_full,
        stimulus_name=stim_name,
        passive=passive,
        reward_volume=REWARD_VOLUME[release],
    )


def _gray_and_movie(ts, gray, task_frames, size) -> dict[str, pd.DataFrame]:
    n = len(ts) - 1
    post = gray + task_frames
    spont_start = np.array([0, post])
    spont_end = np.array([gray, post + gray])
    common = {
        "movie_frame_index": -99,
        "flashes_since_change": -99,
        "trials_id": -99,
        "active": False,
        "is_sham_change": False,
        "image_index": -99,
        "movie_repeat": -99,
    }
    spont = pd.DataFrame(
        {
            "start_time": [0.0, ts[post]],
            "stop_time": ts[spont_end],
            "stimulus_block": [0, 2],
            "stimulus_block_name": ["initial_gray_screen_5min", "post_behavior_gray_screen_5min"],
            "duration": ts[spont_end] - np.array([0.0, ts[post]]),
            "start_frame": spont_start,
            "end_frame": spont_end,
            "stimulus_name": "spontaneous",
            **common,
        }
    )
    m0 = post + gray
    k = np.arange(size.movie_frames * size.movie_repeats)
    sf = m0 + 2 * k
    ef = np.minimum(sf + 2, n)
    movie = pd.DataFrame(
        {
            "start_time": ts[sf],
            "stop_time": ts[ef],
            "stimulus_block": 3,
            "stimulus_block_name": "natural_movie_one",
            "duration": ts[ef] - ts[sf],
            "start_frame": sf,
            "end_frame": ef,
            "stimulus_name": "natural_movie_one",
            **common,
        }
    )
    movie["movie_frame_index"] = k % size.movie_frames
    movie["movie_repeat"] = k // size.movie_frames
    return {"spontaneous_presentations": spont, "natural_movie_one_presentations": movie}

"""The change-detection task of both releases: image sets, the flash sequence, its trials, and the
``Schedule`` that holds a session's stimulus.

The task block follows the task: 250 ms image flashes every 750 ms from a set of 8 images, the image
changing after a geometric-like draw of 4-11 flashes, ~5% of non-change flashes omitted, trials
that end after the change (or early, when the mouse licks too soon: aborted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .timing import FLASH_FRAMES, FLASH_PERIOD_FRAMES

OMITTED_INDEX = 8
IMAGE_SETS = {
    "A": (
        "Natural_Images_Lum_Matched_set_training_2017",
        "2017.07.14",
        ["im065", "im061", "im062", "im063", "im066", "im069", "im077", "im085"],
    ),
    "B": (
        "Natural_Images_Lum_Matched_set_ophys_6_2017",
        "2017.07.14",
        ["im012", "im024", "im034", "im044", "im047", "im078", "im083", "im111"],
    ),
    "G": (
        "Natural_Images_Lum_Matched_set_ophys_G_2019",
        "",
        ["im012_r", "im036_r", "im044_r", "im047_r", "im078_r", "im083_r", "im111_r", "im115_r"],
    ),
    "H": (
        "Natural_Images_Lum_Matched_set_ophys_H_2019",
        "",
        ["im005_r", "im024_r", "im034_r", "im087_r", "im104_r", "im114_r", "im083_r", "im111_r"],
    ),
}
# Volume of an earned reward (mL), per release.
REWARD_VOLUME = {"vbo": 0.007, "vbn": 0.003}


@dataclass
class Schedule:
    """Stimulus frames, presentations of every block, trials, licks and rewards of one session."""

    stimulus_timestamps: np.ndarray
    blocks: dict[str, pd.DataFrame]  # NWB interval-table name -> its rows
    trials: pd.DataFrame
    lick_times: np.ndarray
    lick_frames: np.ndarray
    rewards: pd.DataFrame
    image_names: list[str]
    image_set: str
    stimulus_name: str
    passive: bool
    extra: dict = field(default_factory=dict)
    display_delay: float = 0.0  # monitor lag: stimulus times are this much later than the sync times
    reward_volume: float = 0.007

    @property
    def end_time(self) -> float:
        return float(self.stimulus_timestamps[-1])


def _change_detection(rng, n_flash, start_frame, image_names, passive, omit_fraction=0.05):
    """Flash sequence of the task block: image index per flash, change and omission flags."""
    idx = np.empty(n_flash, dtype=np.int64)
    is_change = np.zeros(n_flash, bool)
    omitted = np.zeros(n_flash, bool)
    current = int(rng.integers(8))
    next_change = int(rng.integers(4, 12))
    since = 0
    for i in range(n_flash):
        if i == next_change:
            current = int(rng.choice([k for k in range(8) if k != current]))
            is_change[i] = True
            next_change = i + int(rng.integers(4, 12))
            since = 0
        # Omissions never fall on a change flash or on the flash just before one.
        elif i + 1 != next_change and rng.random() < omit_fraction and i > 0:
            omitted[i] = True
        idx[i] = OMITTED_INDEX if omitted[i] else current
        since += 1
    return idx, is_change, omitted


def task_block(rng, ts, first_frame, n_flash, names, passive, float_flags, *, novel=(), reward_volume=0.007):
    """Flashes of a change-detection block starting at ``first_frame``, and the block's trials.

    ``novel`` names the images the mouse has not seen before (``is_image_novel``).
    """
    idx, is_change, omitted = _change_detection(rng, n_flash, first_frame, names, passive)
    start_frame = first_frame + np.arange(n_flash) * FLASH_PERIOD_FRAMES
    end_frame = start_frame + FLASH_FRAMES
    start_time = ts[start_frame]
    stop_time = ts[end_frame]
    since = np.zeros(n_flash, np.int64)
    for i in range(1, n_flash):
        since[i] = 0 if is_change[i] else since[i - 1] + 1

    trials, trial_of_flash, sham = _trials(
        rng, ts, start_frame, is_change, omitted, idx, names, passive, reward_volume
    )
    image_name = np.array(
        [("omitted" if o else names[k]) for k, o in zip(idx, omitted, strict=True)], dtype=object
    )
    is_image_novel = np.isin(image_name, list(novel)).astype(float)
    if float_flags:
        is_image_novel[omitted] = np.nan
    flashes = pd.DataFrame(
        {
            "start_time": start_time,
            "stop_time": stop_time,
            "image_index": idx,
            "image_name": image_name,
            "duration": stop_time - start_time,
            "start_frame": start_frame,
            "end_frame": end_frame,
            "is_change": is_change.astype(float) if float_flags else is_change,
            "is_image_novel": is_image_novel if float_flags else is_image_novel.astype(bool),
            "omitted": omitted.astype(float) if float_flags else omitted,
            "flashes_since_change": since,
            "trials_id": trial_of_flash,
            "is_sham_change": sham,
        }
    )
    return flashes, trials


def _trials(rng, ts, start_frame, is_change, omitted, idx, names, passive, reward_volume=0.007):
    """Trials consistent with the flash sequence: one per change (go) plus catch and aborted ones."""
    n_flash = len(start_frame)
    change_flashes = np.flatnonzero(is_change)
    bounds = np.concatenate([[0], change_flashes + 3])  # a trial ends 3 flashes after its change
    bounds = bounds[bounds < n_flash]
    rows, trial_of_flash = [], np.full(n_flash, -99, np.int64)
    sham = np.zeros(n_flash, bool)
    n_auto = 5
    for t, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        trial_of_flash[a:b] = t
        change = int(change_flashes[t])
        kind = rng.choice(["go", "catch", "aborted"], p=[0.75, 0.12, 0.13]) if t >= n_auto else "go"
        prev = idx[change - 1] if idx[change - 1] != OMITTED_INDEX else idx[change - 2]
        row = {
            "start_time": ts[start_frame[a]] - 0.02,
            "stop_time": ts[start_frame[b - 1] + FLASH_PERIOD_FRAMES - 1],
            "initial_image_name": names[prev],
            "change_image_name": names[idx[change]] if kind == "go" else names[prev],
            "is_change": kind == "go",
            "change_time": ts[start_frame[change]] if kind != "aborted" else np.nan,
            "go": kind == "go" and t >= n_auto,
            "catch": kind == "catch",
            "aborted": kind == "aborted",
            "auto_rewarded": t < n_auto,
            "change_frame": int(start_frame[change]) if kind != "aborted" else -99,
        }
        if kind == "catch":
            sham[change] = True
        respond = not passive and kind != "aborted" and rng.random() < (0.75 if kind == "go" else 0.2)
        latency = rng.uniform(0.3, 0.65) if respond else np.inf
        hit = kind == "go" and respond and t >= n_auto
        row.update(
            response_time=row["change_time"] + latency if respond else np.nan,
            response_latency=latency if kind != "aborted" else np.nan,
            hit=hit,
            miss=kind == "go" and not respond and t >= n_auto,
            false_alarm=kind == "catch" and respond,
            correct_reject=kind == "catch" and not respond,
        )
        if passive:
            reward = np.nan
        elif t < n_auto:
            reward = row["change_time"] + 0.13
        else:
            reward = row["response_time"] + 0.01 if hit else np.nan
        row["reward_time"] = reward
        row["reward_volume"] = 0.0 if np.isnan(reward) else (0.005 if t < n_auto else reward_volume)
        row["trial_length"] = row["stop_time"] - row["start_time"]
        rows.append(row)
    trials = pd.DataFrame(rows)
    return trials, trial_of_flash, sham


def image_onsets(schedule: Schedule) -> pd.DataFrame:
    """Start times, names and change and novelty flags (bool) of the shown (not omitted) image
    flashes, active and passive blocks."""
    images = schedule.blocks[f"{schedule.stimulus_name}_presentations"]
    shown = images.loc[
        images.image_name != "omitted", ["start_time", "image_name", "is_change", "is_image_novel"]
    ]
    return shown.astype({"is_change": bool, "is_image_novel": bool})

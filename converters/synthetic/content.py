"""Simulated content of a Visual Behavior session: stimulus schedule, trials, behavior, neural traces.

Everything here is plain numpy/pandas and deterministic for a given seed; the NWB writers in
``ophys.py`` and ``ecephys.py`` lay it out as the AllenSDK's writer does.

The change-detection block follows the task: 250 ms image flashes every 750 ms from a set of 8
images, the image changing after a geometric-like draw of 4-11 flashes, ~5% of non-change flashes
omitted, trials that end after the change (or early, when the mouse licks too soon: aborted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

STIMULUS_FRAME_RATE = 60.0
FLASH_FRAMES = 15  # 250 ms at 60 Hz
FLASH_PERIOD_FRAMES = 45  # 750 ms
OMITTED_INDEX = 8
IMAGE_SETS = {
    "A": ("Natural_Images_Lum_Matched_set_training_2017", "2017.07.14",
          ["im065", "im061", "im062", "im063", "im066", "im069", "im077", "im085"]),
    "B": ("Natural_Images_Lum_Matched_set_ophys_6_2017", "2017.07.14",
          ["im012", "im024", "im034", "im044", "im047", "im078", "im083", "im111"]),
    "G": ("Natural_Images_Lum_Matched_set_ophys_G_2019", "",
          ["im012_r", "im036_r", "im044_r", "im047_r", "im078_r", "im083_r", "im104_r", "im111_r"]),
    "H": ("Natural_Images_Lum_Matched_set_ophys_H_2019", "",
          ["im005_r", "im024_r", "im034_r", "im087_r", "im104_r", "im114_r", "im083_r", "im111_r"]),
}


@dataclass(frozen=True)
class Size:
    """How big a synthetic session is.

    ``task_minutes`` is the change-detection block; the gray screens before and after it and the
    natural movie repeats scale with it. ``fov`` is the imaging field of view in pixels and
    ``template_shape`` the (rows, columns) of a warped stimulus image.
    """

    task_minutes: float = 1.5
    gray_minutes: float = 0.25
    movie_repeats: int = 1
    movie_frames: int = 90
    n_cells: int = 8
    fov: int = 64
    template_shape: tuple[int, int] = (24, 38)
    eye_rate: float = 30.0

    @classmethod
    def preset(cls, name: str) -> Size:
        """``"tiny"`` for unit tests, ``"small"`` for demos, ``"realistic"`` for benchmarks."""
        presets = {
            "tiny": cls(),
            "small": cls(task_minutes=4, gray_minutes=0.5, n_cells=24, fov=128,
                         template_shape=(60, 96), movie_frames=300),
            "realistic": cls(task_minutes=60, gray_minutes=5, movie_repeats=10, movie_frames=900,
                             n_cells=80, fov=512, template_shape=(1200, 1920), eye_rate=60.0),
        }
        if name not in presets:
            raise ValueError(f"Expected a size preset in {sorted(presets)}. Got {name!r} instead.")
        return presets[name]


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

    @property
    def end_time(self) -> float:
        return float(self.stimulus_timestamps[-1])


def stimulus_timestamps(rng: np.random.Generator, n_frames: int, t0: float = 8.0) -> np.ndarray:
    """Monitor vsync times: 60 Hz with sub-millisecond jitter, strictly increasing."""
    dt = 1.0 / STIMULUS_FRAME_RATE + rng.normal(0, 2e-4, n_frames)
    return t0 + np.concatenate([[0.0], np.cumsum(dt[1:])])


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


def simulate_schedule(
    rng: np.random.Generator,
    size: Size,
    *,
    image_set: str = "A",
    passive: bool = False,
    with_gray_and_movie: bool = True,
    float_flags: bool = True,
) -> Schedule:
    """Stimulus schedule of a session (blocks, trials, licks, rewards).

    ``float_flags`` reproduces the released ophys files, where ``is_change``, ``omitted`` and
    ``is_image_novel`` of the image block are float64 (0/1, NaN for ``is_image_novel`` of an
    omission); behavior-only training files store them as bool.
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

    idx, is_change, omitted = _change_detection(rng, n_flash, gray, names, passive)
    start_frame = gray + np.arange(n_flash) * FLASH_PERIOD_FRAMES
    end_frame = start_frame + FLASH_FRAMES
    start_time = ts[start_frame]
    stop_time = ts[end_frame]
    since = np.zeros(n_flash, np.int64)
    for i in range(1, n_flash):
        since[i] = 0 if is_change[i] else since[i - 1] + 1

    trials, trial_of_flash, sham = _trials(rng, ts, start_frame, is_change, omitted, idx, names, passive)
    is_image_novel = np.zeros(n_flash)
    if float_flags:
        is_image_novel[omitted] = np.nan
    image_name = np.array([("omitted" if o else names[k]) for k, o in zip(idx, omitted, strict=True)],
                          dtype=object)
    task = pd.DataFrame(
        {
            "start_time": start_time,
            "stop_time": stop_time,
            "stimulus_block": np.full(n_flash, 1 if with_gray_and_movie else 0),
            "stimulus_block_name": "change_detection_behavior" if not passive
            else "change_detection_passive",
            "image_index": idx,
            "image_name": image_name,
            "movie_frame_index": -99,
            "duration": stop_time - start_time,
            "start_frame": start_frame,
            "end_frame": end_frame,
            "is_change": is_change.astype(float) if float_flags else is_change,
            "is_image_novel": is_image_novel if float_flags else is_image_novel.astype(bool),
            "omitted": omitted.astype(float) if float_flags else omitted,
            "movie_repeat": -99,
            "flashes_since_change": since,
            "trials_id": trial_of_flash,
            "image_set": np.where(omitted, "omitted", image_set_full).astype(object),
            "active": not passive,
            "is_sham_change": sham,
            "stimulus_name": stim_name,
        }
    )
    if not with_gray_and_movie:
        task = task.drop(columns=["movie_frame_index", "movie_repeat"])
    blocks = {f"{stim_name}_presentations": task}
    if with_gray_and_movie:
        blocks = _gray_and_movie(ts, gray, task_frames, size) | blocks

    licks = _licks(rng, ts, trials)
    trials["lick_times"] = [
        licks[(licks >= a) & (licks <= b)] for a, b in zip(trials.start_time, trials.stop_time, strict=True)
    ]
    rewarded = trials[trials.reward_time.notna()]
    rewards = pd.DataFrame(
        {
            "timestamps": rewarded.reward_time.to_numpy(),
            "volume": rewarded.reward_volume.to_numpy(),
            "autorewarded": rewarded.auto_rewarded.to_numpy(),
        }
    )
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
    )


def _gray_and_movie(ts, gray, task_frames, size) -> dict[str, pd.DataFrame]:
    n = len(ts) - 1
    post = gray + task_frames
    spont_start = np.array([0, post])
    spont_end = np.array([gray, post + gray])
    common = {"movie_frame_index": -99, "flashes_since_change": -99, "trials_id": -99,
              "active": False, "is_sham_change": False, "image_index": -99, "movie_repeat": -99}
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


def _trials(rng, ts, start_frame, is_change, omitted, idx, names, passive):
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
        row["reward_volume"] = 0.0 if np.isnan(reward) else (0.005 if t < n_auto else 0.007)
        row["trial_length"] = row["stop_time"] - row["start_time"]
        rows.append(row)
    trials = pd.DataFrame(rows)
    return trials, trial_of_flash, sham


def _licks(rng, ts, trials) -> np.ndarray:
    """Lick bursts after responses and rewards, plus sparse spontaneous licks."""
    t = []
    for r in trials.itertuples():
        if np.isfinite(r.response_time):
            t.append(r.response_time + np.cumsum(rng.uniform(0.12, 0.18, rng.integers(3, 9))) - 0.12)
        elif r.aborted:
            t.append([r.stop_time - rng.uniform(0.05, 0.3)])
    n_spont = max(1, int((ts[-1] - ts[0]) / 60))
    t.append(rng.uniform(ts[0], ts[-1], n_spont))
    out = np.sort(np.concatenate([np.atleast_1d(np.asarray(x, float)) for x in t]))
    return out[(out > ts[0]) & (out < ts[-1])]


def running(rng: np.random.Generator, ts: np.ndarray) -> dict[str, np.ndarray]:
    """Running wheel at the stimulus frame rate: speed, unfiltered speed, dx and the encoder voltages."""
    n = len(ts)
    # An Ornstein-Uhlenbeck process around a bout-dependent mean, clipped at 0 cm/s.
    mean = np.repeat(rng.choice([0.0, 5.0, 25.0], size=n // 600 + 1), 600)[:n]
    x = np.empty(n)
    x[0] = mean[0]
    noise = rng.normal(0, 1.2, n)
    for i in range(1, n):
        x[i] = x[i - 1] + 0.02 * (mean[i] - x[i - 1]) + noise[i]
    unfiltered = x + rng.normal(0, 3.0, n)
    speed = np.convolve(unfiltered, np.ones(5) / 5, mode="same")
    dx = unfiltered / STIMULUS_FRAME_RATE * (360 / (2 * np.pi * 8.0))
    v_sig = np.mod(np.cumsum(dx) / 360 * 5.0, 5.0)
    return {
        "speed": speed,
        "speed_unfiltered": unfiltered,
        "dx": dx,
        "v_sig": v_sig,
        "v_in": 5.0 + rng.normal(0, 0.01, n),
    }


def eye_tracking(rng: np.random.Generator, t0: float, t1: float, rate: float) -> dict[str, np.ndarray]:
    """Ellipse fits of eye, pupil and corneal reflection at the eye camera rate, with blinks."""
    n = int((t1 - t0) * rate)
    ts = t0 + np.arange(n) / rate + rng.normal(0, 1e-4, n)
    blink = np.zeros(n, bool)
    for s in rng.integers(0, n, max(1, n // 500)):
        blink[s : s + int(rng.integers(2, 8))] = True
    out: dict[str, np.ndarray] = {"timestamps": ts, "likely_blink": blink}
    for name, (radius, cx, cy) in {
        "eye_tracking": (110.0, 320.0, 240.0),
        "pupil_tracking": (55.0, 318.0, 238.0),
        "corneal_reflection_tracking": (6.0, 300.0, 220.0),
    }.items():
        slow = np.convolve(rng.normal(0, 1, n), np.ones(31) / 31, mode="same")
        w = radius * (1 + 0.1 * slow) + rng.normal(0, 0.5, n)
        h = w * rng.uniform(0.85, 0.95) + rng.normal(0, 0.5, n)
        area_raw = np.pi * w * h
        area = np.where(blink, np.nan, area_raw)
        out[name] = {
            "data": np.stack([cx + rng.normal(0, 2, n), cy + rng.normal(0, 2, n)], axis=1),
            "area": area,
            "area_raw": area_raw,
            "width": w,
            "height": h,
            "angle": rng.normal(0, 0.1, n),
        }
    return out


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
    dff = calcium + rng.normal(0, 1, (n_t, n_c)) * noise_std
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

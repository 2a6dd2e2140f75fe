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
            "small": cls(
                task_minutes=4,
                gray_minutes=0.5,
                n_cells=24,
                fov=128,
                template_shape=(60, 96),
                movie_frames=300,
            ),
            "realistic": cls(
                task_minutes=60,
                gray_minutes=5,
                movie_repeats=10,
                movie_frames=900,
                n_cells=80,
                fov=512,
                template_shape=(1200, 1920),
                eye_rate=60.0,
            ),
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
    display_delay: float = 0.0  # monitor lag: stimulus times are this much later than the sync times
    reward_volume: float = 0.007

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


def _task_block(rng, ts, first_frame, n_flash, names, passive, float_flags, *, novel=(), reward_volume=0.007):
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


def _licks_and_rewards(rng, ts, trials) -> tuple[np.ndarray, pd.DataFrame]:
    """Licks of the session (also stored per trial in ``trials.lick_times``) and the rewards."""
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
    return licks, rewards


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
REWARD_VOLUME = {"vbo": 0.007, "vbn": 0.003}


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

    flashes, trials = _task_block(
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

    licks, rewards = _licks_and_rewards(rng, ts, trials)
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


# --- Visual Behavior Neuropixels (VBN) ecephys sessions ----------------------------------------


@dataclass(frozen=True)
class EcephysSize:
    """How big a synthetic VBN ecephys session is.

    The stimulus runs the six VBN blocks: active change detection (``task_minutes``), spontaneous,
    ``gabor_repeats`` passes over the 243 gabor positions x orientations (61 s each), spontaneous,
    ``n_flashes`` full-field flashes (one every 2 s), and the passive replay of the image block;
    then ``opto_trials`` optotagging pulses. ``lfp_probes`` probes get an LFP file of ``lfp_channels``
    channels at ``lfp_rate``; units keep a mean waveform on ``waveform_channels`` channels.
    """

    task_minutes: float = 1.5
    spontaneous_seconds: tuple[float, float] = (2.3, 7.3)
    gabor_repeats: int = 1
    n_flashes: int = 10
    opto_trials: int = 30
    n_probes: int = 2
    channels_per_probe: int = 32
    units_per_probe: int = 10
    waveform_channels: int = 12
    waveform_samples: int = 82
    lfp_probes: int = 1
    lfp_rate: float = 250.0
    lfp_channels: int = 8
    template_shape: tuple[int, int] = (24, 38)
    eye_rate: float = 60.0

    @classmethod
    def preset(cls, name: str) -> EcephysSize:
        """``"tiny"`` for unit tests, ``"small"`` for demos, ``"realistic"`` for benchmarks.

        ``"realistic"`` is a released session's size (~2.1 h recording: two 45 min image blocks,
        15 min of gabors, 5 min of flashes and of spontaneous activity, 10 min of optotagging;
        6 probes x 384 channels, ~2,000 units, ~1e8 spikes, waveforms on all 384 channels) except
        for the LFP: the release stores 2500 Hz on every probe (~7 GB per probe); we write
        96 channels (every 4th) at 250 Hz, ~0.75 GB per probe.
        """
        presets = {
            "tiny": cls(),
            "small": cls(
                task_minutes=5,
                spontaneous_seconds=(10.0, 30.0),
                n_flashes=30,
                opto_trials=60,
                n_probes=3,
                channels_per_probe=96,
                units_per_probe=40,
                waveform_channels=24,
                lfp_probes=2,
                lfp_channels=24,
                template_shape=(60, 96),
            ),
            "realistic": cls(
                task_minutes=45,
                spontaneous_seconds=(10.0, 300.0),
                gabor_repeats=15,
                n_flashes=150,
                opto_trials=300,
                n_probes=6,
                channels_per_probe=384,
                units_per_probe=330,
                waveform_channels=384,
                lfp_probes=6,
                lfp_channels=96,
                template_shape=(1200, 1920),
            ),
        }
        if name not in presets:
            raise ValueError(f"Expected a size preset in {sorted(presets)}. Got {name!r} instead.")
        return presets[name]


RECORDING_START = 4.5  # first spike / LFP sample, s (the eye camera starts ~2.5 s earlier)
STIMULUS_START = 25.0  # first stimulus frame, s
GABOR_FRAMES = 15
FLASH_250MS_PERIOD = 120  # full-field flashes every 2 s
_GABOR_GRID = [
    (o, x, y)
    for o in (0.0, 45.0, 90.0)  # orientation, position_x, position_y
    for x in range(-40, 41, 10)
    for y in range(-40, 41, 10)
]


def _vbn_frames(size: EcephysSize) -> tuple[np.ndarray, int, int]:
    """First frame of the six VBN blocks, the number of frames and of flashes per image block."""
    n_flash = int(size.task_minutes * 60 * STIMULUS_FRAME_RATE) // FLASH_PERIOD_FRAMES
    s1, s2 = (round(s * STIMULUS_FRAME_RATE) for s in size.spontaneous_seconds)
    # Block 1 starts at the end of the last flash; 1.5 s of gray before the replay, 1 s around.
    lengths = [
        60,
        n_flash * FLASH_PERIOD_FRAMES - (FLASH_PERIOD_FRAMES - FLASH_FRAMES),
        s1,
        len(_GABOR_GRID) * size.gabor_repeats * GABOR_FRAMES,
        s2,
        size.n_flashes * FLASH_250MS_PERIOD + 90,
    ]
    starts = np.cumsum(lengths)
    return starts, int(starts[-1] + n_flash * FLASH_PERIOD_FRAMES + 60), n_flash


def recording_span(size: EcephysSize) -> tuple[float, float]:
    """Start and end of the recording (spikes, LFP), s; from the size alone, so that the project
    tables (firing rates) and the NWB files agree."""
    _, n_frames, _ = _vbn_frames(size)
    opto_start = STIMULUS_START + n_frames / STIMULUS_FRAME_RATE + 3.0
    return RECORDING_START, opto_start + 2.5 * size.opto_trials + 5.0


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
    starts, n_frames, n_flash = _vbn_frames(size)
    ts = stimulus_timestamps(rng, n_frames, t0=STIMULUS_START)
    flashes, trials = _task_block(
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
        [_GABOR_GRID[i] for _ in range(size.gabor_repeats) for i in rng.permutation(len(_GABOR_GRID))]
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
    licks, rewards = _licks_and_rewards(rng, ts, trials)
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


def image_onsets(schedule: Schedule) -> pd.DataFrame:
    """Start times and names of the shown (not omitted) image flashes, active and passive blocks."""
    images = schedule.blocks[f"{schedule.stimulus_name}_presentations"]
    return images.loc[images.image_name != "omitted", ["start_time", "image_name"]]


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


def spike_trains(
    rng: np.random.Generator,
    counts: np.ndarray,
    t0: float,
    t1: float,
    onsets: list[np.ndarray | None],
    *,
    latency: tuple[float, float] = (0.03, 0.08),
    refractory: float = 0.0015,
    batch: int = 1 << 24,
) -> np.ndarray:
    """Spike times of units with exactly ``counts`` spikes in ``[t0, t1)``, concatenated and sorted
    within each unit.

    Units with ``onsets`` (their preferred image's flash onsets) fire a share of their spikes
    ``latency`` after those onsets (about 1.5 extra spikes per flash, at most half of the spikes);
    the rest is a Poisson process with a refractory period. Vectorized over units, in batches of
    about ``batch`` spikes to bound memory.

    Parameters
    ----------
    rng
        Random generator.
    counts
        Number of spikes of each unit.
    t0, t1
        The recording's start and end (s).
    onsets
        Per unit, the onsets (s) its spikes lock to, or None.
    latency
        Window of the locked spikes after an onset (s).
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
    for on, c in zip(onsets, counts, strict=True):
        k = 0 if on is None or not len(on) else min(int(rng.poisson(1.5 * len(on))), int(c) // 2)
        evoked.append(on[rng.integers(0, len(on), k)] + rng.uniform(*latency, k) if k else np.empty(0))
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
        merged = np.concatenate([out[s : s + b], np.clip(evoked[i], t0, t1)])
        out[s : s + counts[i]] = np.sort(merged)
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

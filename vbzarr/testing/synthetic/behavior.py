"""Behavior signals: licks and rewards, the running wheel and eye tracking."""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np
import pandas as pd

from .timing import STIMULUS_FRAME_RATE


def licks_and_rewards(rng, ts, trials) -> tuple[np.ndarray, pd.DataFrame]:
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


#: The three features the eye camera's ellipses fit.
EllipseName = Literal["eye_tracking", "pupil_tracking", "corneal_reflection_tracking"]


class EllipseFits(TypedDict):
    """Ellipse fits of one feature, one per camera frame."""

    data: np.ndarray  # (frames, 2): the centre's x, y (pixels)
    area: np.ndarray  # NaN during blinks
    area_raw: np.ndarray
    width: np.ndarray
    height: np.ndarray
    angle: np.ndarray


class EyeTracking(TypedDict):
    """What :func:`eye_tracking` returns."""

    timestamps: np.ndarray
    likely_blink: np.ndarray
    eye_tracking: EllipseFits
    pupil_tracking: EllipseFits
    corneal_reflection_tracking: EllipseFits


def eye_tracking(rng: np.random.Generator, t0: float, t1: float, rate: float) -> EyeTracking:
    """Ellipse fits of eye, pupil and corneal reflection at the eye camera rate, with blinks."""
    n = int((t1 - t0) * rate)
    ts = t0 + np.arange(n) / rate + rng.normal(0, 1e-4, n)
    blink = np.zeros(n, bool)
    for s in rng.integers(0, n, max(1, n // 500)):
        blink[s : s + int(rng.integers(2, 8))] = True
    geometry: dict[EllipseName, tuple[float, float, float]] = {  # radius, centre x, centre y
        "eye_tracking": (110.0, 320.0, 240.0),
        "pupil_tracking": (55.0, 318.0, 238.0),
        "corneal_reflection_tracking": (6.0, 300.0, 220.0),
    }
    fits: dict[EllipseName, EllipseFits] = {}
    for name, (radius, cx, cy) in geometry.items():
        slow = np.convolve(rng.normal(0, 1, n), np.ones(31) / 31, mode="same")
        w = radius * (1 + 0.1 * slow) + rng.normal(0, 0.5, n)
        h = w * rng.uniform(0.85, 0.95) + rng.normal(0, 0.5, n)
        area_raw = np.pi * w * h
        area = np.where(blink, np.nan, area_raw)
        fits[name] = {
            "data": np.stack([cx + rng.normal(0, 2, n), cy + rng.normal(0, 2, n)], axis=1),
            "area": area,
            "area_raw": area_raw,
            "width": w,
            "height": h,
            "angle": rng.normal(0, 0.1, n),
        }
    return {
        "timestamps": ts,
        "likely_blink": blink,
        "eye_tracking": fits["eye_tracking"],
        "pupil_tracking": fits["pupil_tracking"],
        "corneal_reflection_tracking": fits["corneal_reflection_tracking"],
    }

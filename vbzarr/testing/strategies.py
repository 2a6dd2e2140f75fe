"""Hypothesis strategies for aligned-response tests (reusable by downstream projects)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def sample_times(draw, min_size: int = 2, max_size: int = 120) -> np.ndarray:
    """Strictly increasing sample times (s): irregular, or a dyadic grid (exact midpoints, so the
    nearest-sample tie rule is exercised)."""
    n = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        return draw(st.integers(-5, 50)) + np.arange(n) / draw(st.sampled_from([8.0, 16.0, 32.0]))
    start = draw(st.floats(-5, 50, allow_nan=False))
    rate = draw(st.sampled_from([11.0, 30.0, 31.0, 60.0]))
    jitter = draw(hnp.arrays(np.float64, n - 1, elements=st.floats(0.2, 1.8)))
    return start + np.concatenate([[0.0], np.cumsum(jitter / rate)])


@st.composite
def signals(draw, n_channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(times, values)`` with values (channel, time), some NaN."""
    t = draw(sample_times())
    values = draw(
        hnp.arrays(
            np.float64, (n_channels, len(t)), elements=st.floats(-1e3, 1e3, allow_nan=False) | st.just(np.nan)
        )
    )
    return t, values


@st.composite
def events_around(draw, t: np.ndarray, max_size: int = 25) -> np.ndarray:
    """Event times: unsorted, duplicated, near and past both edges of ``t``, NaN now and then."""
    lo, hi = float(t[0]), float(t[-1])
    inside = st.floats(lo, hi, allow_nan=False)
    edge = st.sampled_from([lo, hi]).flatmap(lambda e: st.floats(e - 2, e + 2, allow_nan=False))
    exact = st.sampled_from(list(t))
    midpoint = st.sampled_from(list((t[:-1] + t[1:]) / 2))
    times = draw(
        st.lists(st.one_of(inside, edge, exact, midpoint, st.just(np.nan)), min_size=0, max_size=max_size)
    )
    if times and draw(st.booleans()):
        times.append(times[0])  # a duplicate
    return np.array(times, dtype=np.float64)


@st.composite
def windows(draw) -> tuple[float, float]:
    start = draw(st.sampled_from([0.0, -0.5, -1.0]) | st.floats(-3, 1, allow_nan=False))
    return start, start + draw(st.sampled_from([1.0, 2.0]) | st.floats(0.05, 3, allow_nan=False))


@st.composite
def spike_trains(draw, max_units: int = 6, max_spikes: int = 60) -> list[np.ndarray]:
    """Sorted spike times per unit (some units empty, some spikes duplicated)."""
    n = draw(st.integers(1, max_units))
    trains = []
    for _ in range(n):
        s = draw(
            st.lists(
                st.floats(0, 20, allow_nan=False) | st.sampled_from([1.0, 5.0, 5.0]), max_size=max_spikes
            )
        )
        trains.append(np.sort(np.array(s, dtype=np.float64)))
    return trains

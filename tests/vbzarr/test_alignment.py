"""Alignment equals slow, obviously-correct numpy loops (hypothesis for the edge cases)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import vbzarr
from vbzarr.alignment import event_times, grid, kernels, planning
from vbzarr.errors import AlignmentError
from vbzarr.testing.strategies import events_around, signals, windows

SETTINGS = settings(max_examples=60, deadline=None)


def slow_align(t, x, events, offsets, method):
    """Reference: for every event and grid time, scan the samples in a plain loop."""
    out = np.full((x.shape[0], len(events), len(offsets)), np.nan)
    for e, te in enumerate(events):
        for k, off in enumerate(offsets):
            q = te + off
            if not np.isfinite(q) or q < t[0] or q > t[-1]:
                continue
            j = 0
            while j + 1 < len(t) and t[j + 1] <= q:
                j += 1
            if t[j] == q or j + 1 == len(t):
                out[:, e, k] = x[:, j]
            elif method == "nearest":
                out[:, e, k] = x[:, j + 1] if (t[j + 1] - q) < (q - t[j]) else x[:, j]
            else:
                w = (q - t[j]) / (t[j + 1] - t[j])
                out[:, e, k] = x[:, j] + (x[:, j + 1] - x[:, j]) * w
    return out


def as_signal(t, x, chunks):
    return xr.DataArray(
        da.from_array(x, chunks=(x.shape[0], chunks)),
        dims=("cell_specimen_id", "time"),
        coords={"time": t, "cell_specimen_id": np.arange(x.shape[0])},
    )


@SETTINGS
@given(
    data=st.data(), method=st.sampled_from(["linear", "nearest"]), block_bytes=st.sampled_from([64, 10**9])
)
def test_align_equals_slow_reference(data, method, block_bytes):
    t, x = data.draw(signals())
    events = data.draw(events_around(t))
    window = data.draw(windows())
    rate = data.draw(st.sampled_from([None, 4.0, 8.0, 31.0, 60.0]))
    chunks = data.draw(st.integers(1, len(t)))
    names = [
        (planning, "OUTPUT_CHUNK_BYTES"),
        (planning, "INPUT_CHUNK_BYTES"),
        (kernels, "GATHER_SLAB_BYTES"),
    ]
    old = [getattr(module, name) for module, name in names]
    # Tiny blocks exercise block boundaries (events per block, samples read per block, a row
    # per slab); large ones gather across the signal's time chunks, all rows in one slab.
    for module, name in names:
        setattr(module, name, block_bytes)
    try:
        resp = vbzarr.align(as_signal(t, x, chunks), events, window, rate=rate, method=method)
    finally:
        for (module, name), value in zip(names, old, strict=True):
            setattr(module, name, value)
    offsets = resp.time_from_event.values
    expected = slow_align(t, x, events, offsets, method)
    assert resp.dims == ("cell_specimen_id", "event", "time_from_event")
    if method == "nearest":
        np.testing.assert_array_equal(resp.values, expected)  # tolerance-free
    else:
        # x0 * (1 - w) + x1 * w vs x0 + (x1 - x0) * w: equal up to rounding.
        np.testing.assert_allclose(
            resp.values, expected, rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(x), initial=1)
        )


@given(window=windows(), rate=st.floats(1, 100))
def test_grid_spacing_and_ends(window, rate):
    g = grid(window, rate)
    assert g[0] == window[0]
    np.testing.assert_allclose(np.diff(g), 1 / rate)
    assert g[-1] <= window[1] + 1e-9 and g[-1] + 1 / rate > window[1] - 1e-9


def test_nearest_tie_takes_the_earlier_sample_and_edges_are_inclusive():
    t = np.arange(8) / 4  # dyadic: midpoints are exact
    x = np.arange(8.0)[None, :] * 10
    events = np.array([0.125, 0.0, 1.75])  # a midpoint, the first and the last sample
    resp = vbzarr.align(as_signal(t, x, 3), events, (0.0, 0.25), rate=4, method="nearest")
    np.testing.assert_array_equal(resp.values[0], [[0.0, 10.0], [0.0, 10.0], [70.0, np.nan]])
    lin = vbzarr.align(as_signal(t, x, 3), events, (0.0, 0.25), rate=4)
    np.testing.assert_array_equal(lin.values[0], [[5.0, 15.0], [0.0, 10.0], [70.0, np.nan]])


def test_windows_past_edges_are_nan_not_shortened():
    t = np.arange(0, 10, 0.1)
    x = t[None, :] * 2
    resp = vbzarr.align(as_signal(t, x, 17), np.array([0.05, 9.95]), (-1, 1), rate=10)
    assert resp.sizes["time_from_event"] == 21
    first, last = resp.values[0]
    assert np.isnan(first[:10]).all() and np.isfinite(first[10:]).all()
    assert np.isfinite(last[:10]).all() and np.isnan(last[11:]).all()


def test_events_table_columns_become_coords_and_groupby():
    t = np.arange(0, 100, 1 / 31)
    x = np.sin(t)[None, :]
    events = pd.DataFrame(
        {
            "start_time": [10.0, 20.0, 30.0, 40.0],
            "image_name": ["a", "b", "a", "b"],
            "is_change": pd.array([True, False, None, True], dtype="boolean"),
        },
        index=pd.Index([5, 6, 7, 8], name="stimulus_presentations_id"),
    )
    resp = vbzarr.align(as_signal(t, x, 500), events, (-0.5, 0.5))
    assert list(resp.stimulus_presentations_id.values) == [5, 6, 7, 8]
    means = resp.groupby("image_name").mean("event")
    np.testing.assert_allclose(means.sel(image_name="a").values, resp.isel(event=[0, 2]).mean("event").values)
    trials = pd.DataFrame(
        {"start_time": [1.0, 2.0], "change_time": [5.0, np.nan]}, index=pd.Index([0, 1], name="trials_id")
    )
    r = vbzarr.align(as_signal(t, x, 500), trials, (0, 0.1), method="nearest")
    assert np.isnan(r.values[0, 1]).all()  # aborted trial: NaN, not dropped
    np.testing.assert_array_equal(r.values[0, 0, 0], x[0, np.argmin(np.abs(t - 5.0))])


def test_cross_session_signal_with_different_rates():
    """11 Hz and 31 Hz sessions land on one grid; each event uses its own session's samples."""
    rows = []
    for eid, rate, n in [(1, 31.0, 900), (2, 11.0, 300)]:
        t = 5 + np.arange(n) / rate
        rows.append(
            xr.DataArray(
                np.vstack([t * eid, -t])[:, :, None].transpose(2, 0, 1)[0],
                dims=("cell_specimen_id", "frame"),
                coords={"cell_specimen_id": [10, 20], "time": ("frame", t), "frame": np.arange(n)},
            )
        )
    signal = xr.concat(
        rows, dim=pd.Index([1, 2], name="ophys_experiment_id"), join="outer", fill_value=np.nan
    )
    events = pd.DataFrame({"start_time": [10.0, 12.0, 10.0], "ophys_experiment_id": [2, 1, 1]})
    resp = vbzarr.align(signal, events, (-0.5, 0.5), rate=20)
    assert resp.dims == ("cell_specimen_id", "event", "time_from_event")
    np.testing.assert_allclose(
        resp.sel(cell_specimen_id=10).isel(event=0).values, 2 * (10 + resp.time_from_event.values), rtol=1e-12
    )
    np.testing.assert_allclose(
        resp.sel(cell_specimen_id=10).isel(event=1).values, 12 + resp.time_from_event.values, rtol=1e-12
    )
    with pytest.raises(AlignmentError, match="ophys_experiment_id"):
        vbzarr.align(signal, events.drop(columns="ophys_experiment_id"), (-0.5, 0.5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": (1, 0)}, "start < stop"),
        ({"window": (0, 1), "rate": -1}, "positive rate"),
        ({"window": (0, 1), "method": "cubic"}, "'linear' or 'nearest'"),
    ],
)
def test_bad_arguments(kwargs, match):
    t = np.arange(10.0)
    with pytest.raises(AlignmentError, match=match):
        vbzarr.align(as_signal(t, t[None], 5), [1.0], **kwargs)


def test_event_time_column_defaults_and_choice():
    """Trials align on the change (VBN: the commanded change, no display delay), presentations on
    start_time; ``time_column`` picks another column, and a missing one is an error."""
    vbn_trials = pd.DataFrame({"start_time": [1.0, 5.0], "change_time_no_display_delay": [2.0, 6.0]})
    presentations = pd.DataFrame({"start_time": [2.02, 6.02]})
    np.testing.assert_array_equal(event_times(vbn_trials)[0], [2.0, 6.0])
    np.testing.assert_array_equal(event_times(presentations)[0], [2.02, 6.02])
    np.testing.assert_array_equal(event_times(vbn_trials, "start_time")[0], [1.0, 5.0])
    with pytest.raises(AlignmentError, match="the column 'change_time'"):
        event_times(vbn_trials, "change_time")
    with pytest.raises(AlignmentError, match="table of events"):
        event_times([1.0], "start_time")
    t = np.arange(0.0, 10.0, 0.5)
    signal = as_signal(t, t[None], 8)
    by_column = vbzarr.align(signal, vbn_trials, (0.0, 1.0), rate=2.0, time_column="start_time")
    np.testing.assert_array_equal(
        by_column.values, vbzarr.align(signal, [1.0, 5.0], (0.0, 1.0), rate=2.0).values
    )

"""Response statistics against plain loops; across sessions equal to session by session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vbzarr
from vbzarr import responsiveness as rs


def _signal(seed: int = 0, rate: float = 30.0, seconds: float = 800.0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = rng.normal(size=(3, len(t)))
    x[1, (t > 300) & ((t - 300) % 10 < 0.5)] += 3.0  # cell 1 responds to the events
    return xr.DataArray(
        x, dims=("cell_specimen_id", "time"), coords={"cell_specimen_id": [7, 8, 9], "time": t}
    )


def slow_p_values(x, t, window, response, length, shuffles, seed):
    """Null means by a loop over draws, then the share at least as large as each response."""
    first = min(range(len(t)), key=lambda i: (abs(t[i] - window[0]), -i))
    last = min(range(len(t)), key=lambda i: (abs(t[i] - window[1]), -i))
    starts = np.random.default_rng(seed).choice(np.arange(first, last), shuffles)
    out = np.full(response.shape, np.nan)
    for c in range(x.shape[0]):
        null = [x[c, u : u + length].mean() for u in starts]
        for e in range(response.shape[1]):
            if not np.isnan(response[c, e]):
                out[c, e] = sum(1 for m in null if m >= response[c, e]) / shuffles
    return out


def test_statistics_equal_plain_loops():
    signal = _signal()
    events = pd.DataFrame({"start_time": 300.0 + 10 * np.arange(49), "image_name": "im1"})
    events.loc[len(events)] = (799.9, "im1")  # a window past the recording's end: its samples
    window = (0.0, 240.0)
    stats = vbzarr.response_statistics(signal, events, window, shuffles=2000, seed=3)
    t, x = signal.time.values, signal.values
    expected_response = np.array(
        [[x[c, (t >= s) & (t <= s + 0.5)].mean() for s in events.start_time] for c in range(3)]
    )
    expected_baseline = np.array(
        [[x[c, (t >= s - 0.5) & (t <= s)].mean() for s in events.start_time] for c in range(3)]
    )
    # The grid of the inferred rate is 3e-14 s off the samples: interpolation, within 1e-9.
    np.testing.assert_allclose(stats.mean_response.values, expected_response, rtol=0, atol=1e-9)
    np.testing.assert_allclose(stats.mean_baseline.values, expected_baseline, rtol=0, atol=1e-9)
    expected_p = slow_p_values(x, t, window, stats.mean_response.values, 15, 2000, 3)
    np.testing.assert_allclose(stats.p_value_gray_screen.values, expected_p, rtol=1e-12, atol=1e-12)
    # Cell 1 responds, the others are noise.
    assert stats.responsive.values.tolist() == [False, True, False]
    assert stats.fraction_significant_p_value_gray_screen.sel(cell_specimen_id=8) == 1.0
    events.loc[len(events)] = (np.nan, "im1")  # no time: no response, no p-value
    stats = vbzarr.response_statistics(signal, events, window, shuffles=200, seed=3)
    assert np.isnan(stats.p_value_gray_screen.values[:, -1]).all()


def test_gray_screen_window_skips_a_first_omission():
    table = pd.DataFrame({"start_time": [300.0, 300.75], "image_name": ["omitted", "im1"]})
    assert vbzarr.gray_screen_window(table) == (300.75 - 240.0, 300.75)
    assert vbzarr.gray_screen_window(table.iloc[1:]) == (300.75 - 240.0, 300.75)
    with pytest.raises(vbzarr.AlignmentError, match="expected image presentations"):
        vbzarr.gray_screen_window(table.iloc[:1])


def test_gray_screen_window_of_a_whole_store_table(vbo_converted):
    """A store's whole presentations table starts with the initial gray screen: the window ends
    at the task's first image, and response statistics run with it."""
    project = vbzarr.open_project(vbo_converted)
    eid = int(project.ophys_experiment_table.index[0])
    tree = project.ophys_experiment(eid)
    table = vbzarr.to_dataframe(tree["stimulus_presentations"])
    first_image = table[table.image_name.notna() & (table.image_name != "omitted")].iloc[0]
    assert table.iloc[0].start_time < first_image.start_time  # gray screen rows first
    assert vbzarr.gray_screen_window(table) == (first_image.start_time - 240.0, first_image.start_time)
    changes = table[table.is_change.astype(bool)]
    stats = vbzarr.response_statistics(tree["ophys"]["dff"], changes, vbzarr.gray_screen_window(table))
    assert np.isfinite(stats.p_value_gray_screen.values).all()


def test_nearest_index_takes_the_later_sample_on_a_tie():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert [rs.nearest_index(t, v) for v in (1.5, 1.49, 1.51, -5.0, 9.0)] == [2, 1, 2, 0, 3]


def test_across_sessions_equals_session_by_session(vbo_converted):
    project = vbzarr.open_project(vbo_converted)
    sel = project.ophys_experiment_table
    sel = sel[sel.ophys_container_id == sel.ophys_container_id.iloc[0]]
    changes = project.events_table(sel, query="is_change")
    windows = {}
    for eid in sel.index:  # the synthetic sessions have little gray screen: their first 20 s
        time = project.ophys_experiment(int(eid))["ophys"]["time"].values
        windows[int(eid)] = (time[0], time[0] + 20.0)
    stats = vbzarr.response_statistics(project.dff(sel), changes, windows, rate=30.0, shuffles=500, seed=1)
    assert stats.mean_response.dims == ("cell_specimen_id", "event")
    for eid in sel.index:
        one = project.ophys_experiment(int(eid))["ophys"]["dff"]
        own = changes[changes.ophys_experiment_id == eid]
        alone = vbzarr.response_statistics(one, own, windows[int(eid)], rate=30.0, shuffles=500, seed=1)
        cross = stats.sel(event=own.index, cell_specimen_id=alone.cell_specimen_id)
        for name in ("mean_response", "mean_baseline", "p_value_gray_screen"):
            np.testing.assert_allclose(cross[name].values, alone[name].values, rtol=1e-12, err_msg=name)
    with pytest.raises(vbzarr.AlignmentError, match="expected gray-screen samples"):
        vbzarr.response_statistics(project.dff(sel), changes, (-100.0, -50.0))

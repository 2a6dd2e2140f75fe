"""Behavior signals across sessions equal each session's stored values; they align like dF/F."""

from __future__ import annotations

import numpy as np
import pytest

import vbzarr
from vbzarr.behavior_signals import LICK_RATE_HZ


def _stored(project, kind, sid, group, variable, time):
    ds = project.group(kind, sid, group, dask=False)
    return np.asarray(ds[variable].values, float), np.asarray(ds[time].values, float)


@pytest.mark.parametrize("kind", ["ophys_experiment", "behavior_session"])
def test_running_and_pupil_equal_each_sessions_values(vbo_converted, kind):
    project = vbzarr.open_project(vbo_converted)
    ids = [int(i) for i in project.stores.query("kind == @kind")["id"]][::-1]  # reordered
    running = project.behavior_signal("running_speed", ids, kind=kind)
    assert running.dims == (f"{kind}_id", "frame") and list(running[f"{kind}_id"].values) == ids
    assert running.attrs["units"] == "cm/s" and running.time.attrs["units"] == "s"
    diameter = project.behavior_signal("pupil_diameter", ids, kind=kind)
    for k, sid in enumerate(ids):
        speed, time = _stored(project, kind, sid, "running", "speed", "time")
        n = len(speed)
        np.testing.assert_array_equal(running.values[k, :n], speed)
        np.testing.assert_array_equal(running.time.values[k, :n], time)
        assert np.isnan(running.values[k, n:]).all() and np.isnan(running.time.values[k, n:]).all()
        area, _ = _stored(project, kind, sid, "eye_tracking", "pupil_area", "timestamps")
        np.testing.assert_array_equal(diameter.values[k, : len(area)], 2 * np.sqrt(area / np.pi))


def test_lick_rate_equals_a_loop_over_licks(vbo_converted):
    project = vbzarr.open_project(vbo_converted)
    eid = int(project.ophys_experiment_table.index[0])
    rate = project.behavior_signal("lick_rate", [eid])
    licks, _ = _stored(project, "ophys_experiment", eid, "licks", "timestamps", "timestamps")
    frames, _ = _stored(project, "ophys_experiment", eid, "stimulus_timestamps", "timestamps", "timestamps")
    starts = rate.time.values[0]
    assert starts[0] == frames[0] and starts[-1] <= frames[-1] < starts[-1] + 1 / LICK_RATE_HZ
    step = 1 / LICK_RATE_HZ
    expected = [sum(1 for t in licks if a <= t < a + step) / step for a in starts[:-1]]
    np.testing.assert_allclose(rate.values[0, :-1], expected, rtol=1e-12)
    assert rate.values.sum() * step == pytest.approx(((licks >= starts[0]) & (licks <= frames[-1])).sum())


def test_behavior_signals_align_session_by_session(vbn_converted):
    project = vbzarr.open_project(vbn_converted)
    ids = [int(i) for i in project.ecephys_session_table.index]
    running = project.behavior_signal("running_speed", ids)
    changes = project.events_table(ids, query="is_change and stimulus_block == 0")
    aligned = vbzarr.align(running, changes, (-0.5, 1.0), rate=30.0)
    for sid in ids:
        own = changes[changes.ecephys_session_id == sid]
        one = running.sel(ecephys_session_id=sid)
        alone = vbzarr.align(
            one.swap_dims(frame="time").drop_vars("frame"), own.start_time.to_numpy(), (-0.5, 1.0), 30.0
        )
        got = aligned.where(aligned.ecephys_session_id == sid, drop=True)
        np.testing.assert_array_equal(got.values, alone.values)
    with pytest.raises(vbzarr.QueryError, match="expected a signal in"):
        project.behavior_signal("heart_rate", ids)

"""Behavior signals across sessions: running speed, pupil area and diameter, and lick rate of many
sessions (imaging, Neuropixels or behavior-only training sessions) in one lazy array
``(<kind>_id, frame)`` with a ``time`` coordinate over both, each session's samples padded with
NaN to the longest: :func:`vbzarr.align` aligns it session by session on one grid.

* ``running_speed``: the ``running`` group's ``speed`` (cm/s, AllenSDK's ``running_speed``);
* ``pupil_area``: the ``eye_tracking`` group's ``pupil_area`` (pixels², NaN at likely blinks, as
  the AllenSDK masks it);
* ``pupil_diameter``: ``2 * sqrt(pupil_area / pi)`` (pixels), the diameter of the circle of that
  area (NaN at blinks);
* ``lick_rate``: licks per second in bins of ``1 / LICK_RATE_HZ`` s from the session's first to its
  last stimulus frame (``stimulus_timestamps``), timed at the bins' starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import xarray as xr

from .errors import QueryError
from .schema import SECONDS
from .sessions import sessions_of, store_ids

if TYPE_CHECKING:
    from .project import Project
    from .sessions import SessionIds

#: signal -> (group, variable, its time coordinate, units)
SIGNALS = {
    "running_speed": ("running", "speed", "time", "cm/s"),
    "pupil_area": ("eye_tracking", "pupil_area", "timestamps", "pixels^2"),
    "pupil_diameter": ("eye_tracking", "pupil_area", "timestamps", "pixels"),
    "lick_rate": ("licks", "timestamps", "timestamps", "1/s"),
}
#: Bins per second of ``lick_rate``.
LICK_RATE_HZ = 10.0


def behavior_signal(project: Project, signal: str, ids: SessionIds, kind: str | None) -> xr.DataArray:
    """``signal`` of the sessions ``ids`` of ``project`` (see :meth:`Project.behavior_signal`)."""
    if signal not in SIGNALS:
        raise QueryError(f"{project.url}: expected a signal in {list(SIGNALS)}; got {signal!r}")
    group, variable, time_name, units = SIGNALS[signal]
    sessions = sessions_of(project.dataset)
    kind = kind or sessions.kind
    ids = store_ids(project, kind, ids)
    values, times = [], []
    for sid, ds in project._each_group(kind, ids, group, indexes=False):
        if signal == "lick_rate":
            frames = project.group(kind, sid, "stimulus_timestamps", dask=False)
            value, time = _lick_rate(np.asarray(ds[variable].values), np.asarray(frames["timestamps"].values))
        else:
            value = ds[variable].variable.chunk().data
            time = ds.variables[time_name].chunk().data
            if signal == "pupil_diameter":
                value = 2 * da.sqrt(value / np.pi)
        values.append(value)
        times.append(time)
    n = max((len(t) for t in times), default=0)
    data = da.stack([_padded(v, n) for v in values]) if values else da.zeros((0, 0))
    time = da.stack([_padded(t, n) for t in times]) if times else da.zeros((0, 0))
    key = f"{kind}_id"
    return xr.DataArray(
        data,
        dims=(key, "frame"),
        coords={key: ids, "frame": np.arange(n), "time": ((key, "frame"), time, SECONDS)},
        name=signal,
        attrs={"units": units, "long_name": signal.replace("_", " ")},
    )


def _padded(values: da.Array | np.ndarray, n: int) -> da.Array:
    array: da.Array = da.asarray(values, dtype=np.float64)
    missing = n - array.shape[0]
    return da.concatenate([array, da.full(missing, np.nan)]) if missing else array


def _lick_rate(licks: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Licks per second in bins of ``1 / LICK_RATE_HZ`` s over the stimulus frames' span."""
    if not len(frames):
        return np.zeros(0), np.zeros(0)
    edges = frames[0] + np.arange(int(np.floor((frames[-1] - frames[0]) * LICK_RATE_HZ)) + 2) / LICK_RATE_HZ
    counts, _ = np.histogram(licks, bins=edges)
    return counts * LICK_RATE_HZ, edges[:-1]

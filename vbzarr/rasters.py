"""Spike rasters: every spike in a window around each event, relative to it (Visual Coding's
``presentationwise_spike_times``), read a block of units at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .alignment import event_times
from .alignment.kernels import parse_window
from .spikes import _Plan, _units_dataset, _window_spikes


def spike_rasters(
    units: xr.Dataset | xr.DataTree,
    events: pd.DataFrame | Sequence[float] | np.ndarray,
    window: tuple[float, float],
    time_column: str | None = None,
) -> pd.DataFrame:
    """Every spike in a window around each event, as the AllenSDK's Visual Coding
    ``presentationwise_spike_times`` gives them: one row per (spike, event) pair.

    Units are read a block at a time (each block its units' slices of ``spike_times`` and only the
    part the events' windows cover), blocks computed in parallel by dask; across sessions, each
    unit's spikes meet its own session's events. Windows are half-open, ``[t + start, t + stop)``;
    a spike in two overlapping windows appears once for each.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``spike_time`` (s), sorted; columns the events' index (e.g.
        ``stimulus_presentations_id``), ``unit_id`` and ``time_from_event`` (s).

    Examples
    --------
    >>> raster = vbzarr.spike_rasters(session["units"], flashes, (-0.1, 0.25))  # doctest: +SKIP
    >>> raster[raster.unit_id == 1150969847].time_from_event.hist(bins=35)  # doctest: +SKIP
    """
    units = _units_dataset(units)
    start, stop = parse_window(window)
    edges = np.array([start, stop])
    times, table = event_times(events, time_column)
    plan = _Plan(units, table, len(times))
    own = dict(plan.events)
    ids = units["unit_id"].values
    blocks = []
    for u0, u1, session in plan.blocks:
        spikes, a, b = plan.spikes(u0, u1)
        positions = own.get(session, np.zeros(0, int))
        blocks.append(dask.delayed(_raster)(spikes, a, b, times[positions], positions, ids[u0:u1], edges))
    name = table.index.name or "event"
    parts = dask.compute(*blocks)
    event = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, int)
    unit = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, int)
    spike = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    out = pd.DataFrame(
        {
            name: table.index.to_numpy()[event],
            "unit_id": unit,
            "time_from_event": spike - times[event],
        },
        index=pd.Index(spike, name="spike_time"),
    )
    return out.sort_index(kind="stable")


def _raster(
    spikes: Any,
    a: np.ndarray,
    b: np.ndarray,
    times: np.ndarray,
    positions: np.ndarray,
    ids: np.ndarray,
    edges: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(event position in the whole table, unit_id, spike time) of a block's spikes in windows."""
    unit, event, _, spike = _window_spikes(np.asarray(spikes), a, b, times, edges)
    return positions[event], ids[unit], spike

"""Spike rasters: every spike in a window around each event, relative to it (Visual Coding's
``presentationwise_spike_times``), read a block of units at a time, eagerly or as a lazy dask
DataFrame with one partition per block of units."""

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
    *,
    lazy: bool = False,
) -> pd.DataFrame | Any:
    """Every spike in a window around each event, as the AllenSDK's Visual Coding
    ``presentationwise_spike_times`` gives them: one row per (spike, event) pair.

    Units are read a block at a time (each block its units' slices of ``spike_times`` and only the
    part the events' windows cover), blocks computed in parallel by dask; across sessions, each
    unit's spikes meet its own session's events. Windows are half-open, ``[t + start, t + stop)``;
    a spike in two overlapping windows appears once for each.

    Parameters
    ----------
    units
        A ``units`` Dataset (any selection of units, of one or many sessions) or a session tree.
    events
        Event times: a table (``start_time``, or ``time_column``; with ``ecephys_session_id`` for
        several sessions) or an array of seconds.
    window
        ``(start, stop)`` in seconds relative to each event.
    lazy
        Return a ``dask.dataframe.DataFrame`` with one partition per block of units (in the units'
        order, each sorted by ``spike_time``): nothing is read until it is computed, and a
        filter such as ``raster[raster.unit_id == u]`` computes partition by partition.

    Returns
    -------
    pandas.DataFrame or dask.dataframe.DataFrame
        Indexed by ``spike_time`` (s), sorted (lazily: sorted within each partition); columns the
        events' index (e.g. ``stimulus_presentations_id``), ``unit_id`` and ``time_from_event`` (s).

    Examples
    --------
    >>> raster = vbzarr.spike_rasters(session["units"], flashes, (-0.1, 0.25))  # doctest: +SKIP
    >>> raster[raster.unit_id == 1150969847].time_from_event.hist(bins=35)  # doctest: +SKIP
    >>> lazy = vbzarr.spike_rasters(units, flashes, (-0.1, 0.25), lazy=True)  # doctest: +SKIP
    >>> lazy.groupby("unit_id").size().compute()  # spikes per unit, block by block  # doctest: +SKIP
    """
    units = _units_dataset(units)
    start, stop = parse_window(window)
    edges = np.array([start, stop])
    times, table = event_times(events, time_column)
    plan = _Plan(units, table, len(times))
    own = dict(plan.events)
    ids = units["unit_id"].values
    name = table.index.name or "event"
    index = table.index.to_numpy()
    blocks = []
    for u0, u1, session in plan.blocks:
        spikes, a, b = plan.spikes(u0, u1)
        positions = own.get(session, np.zeros(0, int))  # the events of the block's session
        blocks.append(
            dask.delayed(_raster)(spikes, a, b, times[positions], index[positions], ids[u0:u1], edges, name)
        )
    meta = _frame(index[:0], ids[:0], np.zeros(0), np.zeros(0), name)
    if lazy:
        import dask.dataframe as dd

        if not blocks:  # no units selected
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_delayed(blocks, meta=meta, verify_meta=False)
    return pd.concat([meta, *dask.compute(*blocks)]).sort_index(kind="stable")


def _frame(
    event: np.ndarray, unit: np.ndarray, spike: np.ndarray, relative: np.ndarray, name: str
) -> pd.DataFrame:
    """Raster rows sorted by spike time."""
    out = pd.DataFrame(
        {name: event, "unit_id": unit, "time_from_event": relative},
        index=pd.Index(spike, name="spike_time"),
    )
    return out.sort_index(kind="stable")


def _raster(
    spikes: Any,
    a: np.ndarray,
    b: np.ndarray,
    times: np.ndarray,
    index: np.ndarray,
    ids: np.ndarray,
    edges: np.ndarray,
    name: str,
) -> pd.DataFrame:
    """The raster rows of a block's units: their spikes in the windows of their session's events
    (``times``, labelled ``index``)."""
    unit, event, _, spike = _window_spikes(np.asarray(spikes), a, b, times, edges)
    return _frame(index[event], ids[unit], spike, spike - times[event], name)

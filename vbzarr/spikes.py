"""Spikes aligned to events: counts per (``unit_id``, event, time bin), and PSTHs.

A unit's spike times are one contiguous, sorted slice of the flat ``spike_times`` (end offsets in
``spike_times_index``), so a block of units reads one contiguous range of spikes. Counts use
half-open bins ``[edge_k, edge_k+1)`` relative to each event, found with binary search: exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .align import event_coords, event_times
from .errors import AlignmentError

UNITS_PER_BLOCK = 64
EVENTS_PER_BLOCK = 4096


def _counts(
    spikes: np.ndarray, starts: np.ndarray, ends: np.ndarray, times: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """(unit, event, bin) counts for units whose spikes are spikes[starts[u]:ends[u]]."""
    out = np.zeros((len(starts), len(times), len(edges) - 1), dtype=np.int32)
    bounds = times[:, None] + edges[None, :]
    ok = np.isfinite(times)
    for u, (a, b) in enumerate(zip(starts, ends, strict=True)):
        idx = np.searchsorted(spikes[a:b], bounds[ok], side="left")
        out[u, ok] = np.diff(idx, axis=1)
    return out


def _read(flat: xr.Variable, lo: int, hi: int) -> np.ndarray:
    return np.asarray(flat[lo:hi].values, dtype=np.float64)


def parse_bin_edges(bin_edges: Sequence[float] | np.ndarray) -> np.ndarray:
    edges = np.asarray(bin_edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0) or not np.isfinite(edges).all():
        raise AlignmentError(f"Expected increasing, finite bin edges (at least two). Got {bin_edges!r}.")
    return edges


def spike_counts(
    units: xr.Dataset | xr.DataTree,
    events: pd.DataFrame | Sequence[float] | np.ndarray,
    bin_edges: Sequence[float] | np.ndarray,
) -> xr.DataArray:
    """Spike counts per (``unit_id``, ``event``, ``time_from_event``), lazily.

    Parameters
    ----------
    units
        A store's ``units`` group (``spike_times`` over ``spike``, ``spike_times_index`` over
        ``unit_id``), whole or a selection of units.
    events
        Rows of ``stimulus_presentations`` / ``trials`` (aligned on ``start_time`` /
        ``change_time``) or an array of times (s).
    bin_edges
        Increasing edges (s) relative to each event; bins are ``[edge_k, edge_k+1)``.

    Returns
    -------
    xr.DataArray
        int32 counts (float32 with NaN for pairs of a unit and another session's event, when
        ``units`` and ``events`` both carry ``ecephys_session_id``); ``time_from_event`` is each
        bin's start, with ``bin_end`` beside it; the
        units' columns are coordinates on ``unit_id``, the events' columns on ``event``. An event
        with a NaN time counts nothing.

    Examples
    --------
    >>> counts = vbzarr.spike_counts(session["units"], flashes, np.arange(-0.1, 0.25, 0.01))  # doctest: +SKIP
    >>> vbzarr.psth(counts).groupby("structure_acronym").mean("unit_id")  # doctest: +SKIP
    """
    if isinstance(units, xr.DataTree):
        units = units.to_dataset()
    for name in ("spike_times", "spike_times_index"):
        if name not in units:
            raise AlignmentError(f"Expected a units Dataset with {name!r}. Got {list(units.data_vars)}.")
    edges = parse_bin_edges(bin_edges)
    times, table = event_times(events)
    ends = np.asarray(units["spike_times_index"].values, dtype=np.int64)
    starts = (
        np.asarray(units["spike_starts"].values, dtype=np.int64)
        if "spike_starts" in units
        else np.concatenate([[0], ends[:-1]])
    )
    flat = units["spike_times"].variable  # dask- or lazily-indexed: a slice reads only its chunks
    rows = []
    for u in range(0, len(ends), UNITS_PER_BLOCK):
        a, b = starts[u : u + UNITS_PER_BLOCK], ends[u : u + UNITS_PER_BLOCK]
        lo, hi = (int(a.min()), int(b.max())) if len(a) else (0, 0)
        # One contiguous read per block of units. A dask-backed variable is sliced as a dask
        # array (dask.delayed would otherwise materialise the whole variable for every task).
        spikes = flat.data[lo:hi] if isinstance(flat.data, da.Array) else dask.delayed(_read)(flat, lo, hi)
        cols = []
        for e in range(0, len(times), EVENTS_PER_BLOCK):
            t = times[e : e + EVENTS_PER_BLOCK]
            block = dask.delayed(_counts)(spikes, a - lo, b - lo, t, edges)
            cols.append(da.from_delayed(block, shape=(len(a), len(t), len(edges) - 1), dtype=np.int32))
        rows.append(
            da.concatenate(cols, axis=1) if cols else da.zeros((len(a), 0, len(edges) - 1), dtype=np.int32)
        )
    data = da.concatenate(rows, axis=0) if rows else da.zeros((0, len(times), len(edges) - 1), np.int32)
    session = "ecephys_session_id"
    if session in units.coords and session in table:
        # Units of many sessions: a unit counts only the events of its own session (NaN elsewhere).
        same = units[session].values[:, None] == table[session].to_numpy()[None, :]
        data = da.where(
            da.from_array(same[:, :, None], chunks=(UNITS_PER_BLOCK, EVENTS_PER_BLOCK, -1)),
            data.astype(np.float32),
            np.float32(np.nan),
        )
    # Per-unit labels are small: load them, so that groupby (area, probe, quality...) just works.
    unit_coords = {k: v.variable.load() for k, v in units.coords.items() if v.dims == ("unit_id",)}
    for name, var in units.data_vars.items():
        if var.dims == ("unit_id",) and name not in (
            "spike_times_index",
            "spike_amplitudes_index",
            "spike_starts",
        ):
            unit_coords[name] = var.variable.load()
    return xr.DataArray(
        data,
        dims=("unit_id", "event", "time_from_event"),
        coords={
            **unit_coords,
            **event_coords(table),
            "time_from_event": ("time_from_event", edges[:-1], {"units": "seconds"}),
            "bin_end": ("time_from_event", edges[1:]),
        },
        name="spike_counts",
        attrs={"bins": "[start, end) relative to each event"},
    )


def psth(counts: xr.DataArray, dim: str = "event") -> xr.DataArray:
    """Firing rate (Hz) per bin: counts averaged over ``dim`` and divided by the bin width."""
    width = counts["bin_end"] - counts["time_from_event"]
    out = counts.mean(dim) / width
    out.name = "firing_rate"
    out.attrs = {"units": "Hz"}
    return out


def spike_train(units: xr.Dataset | xr.DataTree, unit_id: int) -> np.ndarray:
    """One unit's spike times: one contiguous read of its slice of ``spike_times``."""
    if isinstance(units, xr.DataTree):
        units = units.to_dataset()
    position = (
        int(np.flatnonzero(units["unit_id"].values == unit_id)[0])
        if unit_id in units["unit_id"].values
        else None
    )
    if position is None:
        raise AlignmentError(f"Expected a unit_id of this units table. Got {unit_id}.")
    end = int(units["spike_times_index"][position])
    start = int(units["spike_times_index"][position - 1]) if position else 0
    return np.asarray(units["spike_times"][start:end].values)


def spikes_in_window(units: xr.Dataset | xr.DataTree, start: float, stop: float) -> xr.Dataset:
    """Every unit's spikes in ``[start, stop)``, reading only the parts of ``spike_times`` that
    the time checkpoints say can hold them (not every unit's whole train).

    Returns a Dataset over ``spike`` with ``spike_times`` and the ``unit_id`` of each spike.
    """
    if isinstance(units, xr.DataTree):
        units = units.to_dataset()
    ids = units["unit_id"].values
    if "spike_time_checkpoints" in units:
        times = units["checkpoint_time"].values
        k0 = int(np.clip(np.searchsorted(times, start, side="right") - 1, 0, len(times) - 1))
        k1 = int(np.clip(np.searchsorted(times, stop, side="left"), 0, len(times) - 1))
        bounds = units["spike_time_checkpoints"].isel(checkpoint=[k0, k1]).values
        if stop > times[-1]:
            bounds[:, 1] = units["spike_times_index"].values
    else:
        ends = units["spike_times_index"].values
        bounds = np.stack([np.concatenate([[0], ends[:-1]]), ends], axis=1)
    counts = bounds[:, 1] - bounds[:, 0]
    index = np.concatenate([np.arange(a, b) for a, b in bounds]) if len(bounds) else np.zeros(0, int)
    values = units["spike_times"].isel(spike=index).values if len(index) else np.zeros(0)
    owner = np.repeat(ids, counts)
    keep = (values >= start) & (values < stop)
    return xr.Dataset({"spike_times": ("spike", values[keep])}, coords={"unit_id": ("spike", owner[keep])})

"""Spikes aligned to events: counts per (``unit_id``, event, time bin), and PSTHs.

A unit's spike times are one contiguous, sorted slice of the flat ``spike_times``, from its start
offset (``spike_times_start_index``) to its end offset (``spike_times_index``), both over
``unit_id``: any selection of units (positions, labels, masks, reorderings, several sessions) still
finds each unit's own spikes, and a block of units reads the range of spikes its units cover. Counts use
half-open bins ``[edge_k, edge_k+1)`` relative to each event, found with binary search: exact.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .alignment import event_coords, event_times
from .errors import AlignmentError
from .schema import SECONDS
from .store import read_rows, row_offsets

UNITS_PER_BLOCK = 64
EVENTS_PER_BLOCK = 4096
SESSION = "ecephys_session_id"


def _window_spikes(
    spikes: np.ndarray, starts: np.ndarray, ends: np.ndarray, times: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(unit, event, bin, spike time)`` of every spike in an event's window, for units whose
    (sorted) spikes are ``spikes[starts[u]:ends[u]]``; a spike in two overlapping windows appears
    twice.

    Spike by spike: the events whose window holds a spike are found by binary search on the
    window bounds ``t + edges`` (computed as the bins define them, so the bins are exact); the
    work grows with the spikes in windows, not with units x events x bins.
    """
    none = np.zeros(0, dtype=np.intp)
    ok = np.flatnonzero(np.isfinite(times))  # an event at NaN holds nothing
    if not len(ok) or not len(starts):
        return none, none, none, np.zeros(0)
    order = ok[np.argsort(times[ok], kind="stable")]
    bounds = times[order][:, None] + edges[None, :]  # rounding is monotone: columns stay sorted
    first, last = bounds[0, 0], bounds[-1, -1]
    pieces, owners = [], []
    for u, (a, b) in enumerate(zip(starts, ends, strict=True)):
        train = spikes[a:b]
        train = train[np.searchsorted(train, first, "left") : np.searchsorted(train, last, "left")]
        pieces.append(train)
        owners.append(np.full(len(train), u, dtype=np.intp))
    s = np.concatenate(pieces)
    # The last event starting at or before each spike, then earlier ones while their window
    # still holds it (as many rounds as windows overlap).
    spike, event = [none], [none]
    idx = np.arange(len(s))
    e = np.searchsorted(bounds[:, 0], s, "right") - 1
    while len(idx):
        holds = e >= 0
        holds[holds] = bounds[e[holds], -1] > s[idx[holds]]
        idx, e = idx[holds], e[holds]
        spike.append(idx)
        event.append(e)
        e = e - 1
    pair, e = np.concatenate(spike), np.concatenate(event)
    s = s[pair]
    # The bin from the shared edges (arithmetic when they are evenly spaced), then corrected
    # against the exact bounds (rounding).
    rel = s - times[order][e]
    step = np.diff(edges)
    if np.allclose(step, step[0], rtol=1e-9, atol=0):
        rel -= edges[0]
        rel /= step[0]
        k = rel.astype(np.intp)
    else:
        k = np.searchsorted(edges, rel, "right") - 1
    np.clip(k, 0, len(edges) - 2, out=k)
    while (down := bounds[e, k] > s).any():
        k[down] -= 1
    while (up := bounds[e, k + 1] <= s).any():
        k[up] += 1
    return np.concatenate(owners)[pair], order[e], k, s


def _counts(
    spikes: np.ndarray, starts: np.ndarray, ends: np.ndarray, times: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """(unit, event, bin) spike counts."""
    unit, event, k, _ = _window_spikes(spikes, starts, ends, times, edges)
    out = np.zeros((len(starts), len(times), len(edges) - 1), dtype=np.int32)
    # Sorting the flat indices counts them faster than np.add.at or a bincount over the block.
    cells, n = np.unique((unit * len(times) + event) * (len(edges) - 1) + k, return_counts=True)
    out.reshape(-1)[cells] = n
    return out


def _totals(
    spikes: np.ndarray, starts: np.ndarray, ends: np.ndarray, times: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """(unit, bin) spike counts summed over the events."""
    unit, _, k, _ = _window_spikes(spikes, starts, ends, times, edges)
    nb = len(edges) - 1
    return np.bincount(unit * nb + k, minlength=len(starts) * nb).reshape(len(starts), nb)


def _units_dataset(units: xr.Dataset | xr.DataTree) -> xr.Dataset:
    if isinstance(units, xr.DataTree):
        units = units.to_dataset()
    if "spike_times" not in units:
        raise AlignmentError(
            "Expected a units Dataset with 'spike_times' (a store's units group). "
            f"Got {list(units.data_vars)}."
        )
    return units


def parse_bin_edges(bin_edges: Sequence[float] | np.ndarray) -> np.ndarray:
    edges = np.asarray(bin_edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0) or not np.isfinite(edges).all():
        raise AlignmentError(f"Expected increasing, finite bin edges (at least two). Got {bin_edges!r}.")
    return edges


class _Plan:
    """Units in blocks (each one contiguous read of ``spike_times``) and, when units and events
    both carry ``ecephys_session_id``, which events belong to each block's session."""

    def __init__(self, units: xr.Dataset, table: pd.DataFrame, n_events: int) -> None:
        self.starts, self.ends = row_offsets(units, "spike_times")
        self.flat = units["spike_times"].variable  # dask or lazily indexed: slices read their chunks
        self.cross = SESSION in units.coords and SESSION in table
        unit_session = units[SESSION].values if self.cross else np.zeros(len(self.ends), dtype=np.int64)
        event_session = table[SESSION].to_numpy() if self.cross else np.zeros(n_events, dtype=np.int64)
        #: (session, positions of its events), sessions in order of first event.
        self.events = [(s, np.flatnonzero(event_session == s)) for s in pd.unique(event_session)]
        #: (first unit, end unit, session): runs of one session's units, at most UNITS_PER_BLOCK.
        change = np.flatnonzero(unit_session[1:] != unit_session[:-1]) + 1
        runs = zip(np.r_[0, change], np.r_[change, len(self.ends)], strict=True)
        self.blocks = [
            (u, min(u + UNITS_PER_BLOCK, b), unit_session[a])
            for a, b in runs
            for u in range(a, b, UNITS_PER_BLOCK)
        ]

    def spikes(self, u0: int, u1: int) -> tuple[Any, np.ndarray, np.ndarray]:
        """The block's spikes (lazy: exactly its units' slices, in order) and each unit's range
        in them. Units next to each other in the store read as one slice."""
        a, b = self.starts[u0:u1], self.ends[u0:u1]
        n = b - a
        stop = np.cumsum(n)
        start = stop - n
        if isinstance(self.flat.data, da.Array):
            # Runs of units stored back to back: one slice each (dask.delayed would otherwise
            # materialise the whole variable for every task).
            cut = np.flatnonzero(a[1:] != b[:-1]) + 1
            runs = zip(np.r_[0, cut], np.r_[cut, len(a)], strict=True)
            pieces = [self.flat.data[int(a[i]) : int(b[j - 1])] for i, j in runs]
            data = da.concatenate(pieces) if len(pieces) != 1 else pieces[0]
            return data, start, stop
        return dask.delayed(read_rows)(self.flat, a, b), start, stop


def _unit_coords(units: xr.Dataset) -> dict[Hashable, xr.Variable]:
    """Per-unit labels, loaded (small), so that groupby (area, probe, quality...) just works."""
    coords = {k: v.variable.load() for k, v in units.coords.items() if v.dims == ("unit_id",)}
    for name, var in units.data_vars.items():
        if var.dims == ("unit_id",) and name not in (
            "spike_times_index",
            "spike_times_start_index",
            "mean_waveforms_index",
            "mean_waveforms_start_index",
        ):
            coords[name] = var.variable.load()
    return coords


def _bin_coords(edges: np.ndarray) -> dict[str, tuple]:
    return {
        "time_from_event": ("time_from_event", edges[:-1], SECONDS),
        "bin_end": ("time_from_event", edges[1:]),
    }


def spike_counts(
    units: xr.Dataset | xr.DataTree,
    events: pd.DataFrame | Sequence[float] | np.ndarray,
    bin_edges: Sequence[float] | np.ndarray,
    time_column: str | None = None,
) -> xr.DataArray:
    """Spike counts per (``unit_id``, ``event``, ``time_from_event``), lazily.

    Parameters
    ----------
    units
        A store's ``units`` group (``spike_times`` over ``spike``, ``spike_times_index`` over
        ``unit_id``), whole or a selection of units, or :meth:`Project.units` of many sessions.
    events
        Rows of ``stimulus_presentations`` (aligned on ``start_time``, as displayed) or
        ``trials`` (on ``change_time_no_display_delay`` in VBN: the commanded change, one display
        lag, about 20 ms, before the change presentation's ``start_time``), or an array of times (s).
    bin_edges
        Increasing edges (s) relative to each event; bins are ``[edge_k, edge_k+1)``.
    time_column
        The column of ``events`` holding the event times, instead of the default above.

    Returns
    -------
    xr.DataArray
        int32 counts (float32 with NaN for pairs of a unit and another session's event, when
        ``units`` and ``events`` both carry ``ecephys_session_id``; those blocks are never
        computed); ``time_from_event`` is each bin's start, with ``bin_end`` beside it; the
        units' columns are coordinates on ``unit_id``, the events' columns on ``event``. An event
        with a NaN time counts nothing.

    Examples
    --------
    >>> counts = vbzarr.spike_counts(session["units"], flashes, np.arange(-0.1, 0.25, 0.01))  # doctest: +SKIP
    >>> vbzarr.psth(counts).groupby("structure_acronym").mean("unit_id")  # doctest: +SKIP
    """
    units = _units_dataset(units)
    edges = parse_bin_edges(bin_edges)
    times, table = event_times(events, time_column)
    plan = _Plan(units, table, len(times))
    nb = len(edges) - 1
    dtype = np.float32 if plan.cross else np.int32
    rows = []
    for u0, u1, session in plan.blocks:
        spikes, a, b = plan.spikes(u0, u1)
        cols = []
        for event_session, positions in plan.events:
            for e in range(0, len(positions), EVENTS_PER_BLOCK):
                t = times[positions[e : e + EVENTS_PER_BLOCK]]
                shape = (u1 - u0, len(t), nb)
                if event_session != session:  # another session's events: NaN, never computed
                    cols.append(da.full(shape, np.nan, dtype=dtype, chunks=shape))
                    continue
                block = da.from_delayed(dask.delayed(_counts)(spikes, a, b, t, edges), shape, np.int32)
                cols.append(block.astype(dtype))
        rows.append(da.concatenate(cols, axis=1) if cols else da.zeros((u1 - u0, 0, nb), dtype=dtype))
    data = da.concatenate(rows, axis=0) if rows else da.zeros((0, len(times), nb), dtype=dtype)
    positions = np.concatenate([p for _, p in plan.events]) if plan.events else np.zeros(0, int)
    if not np.array_equal(positions, np.arange(len(positions))):
        data = da.take(data, np.argsort(positions, kind="stable"), axis=1)
    return xr.DataArray(
        data,
        dims=("unit_id", "event", "time_from_event"),
        coords={**_unit_coords(units), **event_coords(table), **_bin_coords(edges)},
        name="spike_counts",
        attrs={"bins": "[start, end) relative to each event"},
    )


def psth(
    counts: xr.DataArray | xr.Dataset | xr.DataTree,
    events: pd.DataFrame | Sequence[float] | np.ndarray | None = None,
    bin_edges: Sequence[float] | np.ndarray | None = None,
    dim: str = "event",
    time_column: str | None = None,
) -> xr.DataArray:
    """Firing rate (Hz) per unit and bin, averaged over events.

    ``psth(counts)`` averages a :func:`spike_counts` result over ``dim`` and divides by the bin
    width. ``psth(units, events, bin_edges)`` gives the same numbers straight from the spikes,
    without per-event counts (faster when only the average is wanted); across sessions, each
    unit averages over its own session's events. ``time_column`` as in :func:`spike_counts`.

    Examples
    --------
    >>> rate = vbzarr.psth(session["units"], flashes, np.arange(-0.25, 0.5, 0.01))  # doctest: +SKIP
    >>> rate.groupby("structure_acronym").mean("unit_id")  # doctest: +SKIP
    """
    if isinstance(counts, xr.DataArray):
        if events is not None or bin_edges is not None:
            raise AlignmentError("Expected psth(counts) or psth(units, events, bin_edges); got both.")
        # float64: a float32 mean (cross-session counts) would be off in the 8th digit.
        out = counts.astype(np.float64).mean(dim) / (counts["bin_end"] - counts["time_from_event"])
    else:
        if events is None or bin_edges is None:
            raise AlignmentError(
                "Expected events and bin_edges with a units Dataset: psth(units, events, bin_edges)."
            )
        units = _units_dataset(counts)
        edges = parse_bin_edges(bin_edges)
        times, table = event_times(events, time_column)
        plan = _Plan(units, table, len(times))
        own = dict(plan.events)
        rows = []
        for u0, u1, session in plan.blocks:
            spikes, a, b = plan.spikes(u0, u1)
            t = times[own.get(session, np.zeros(0, int))]
            total = da.from_delayed(
                dask.delayed(_totals)(spikes, a, b, t, edges), (u1 - u0, len(edges) - 1), np.int64
            )
            rows.append(total / len(t) / np.diff(edges))
        data = da.concatenate(rows, axis=0) if rows else da.zeros((0, len(edges) - 1))
        out = xr.DataArray(
            data, dims=("unit_id", "time_from_event"), coords={**_unit_coords(units), **_bin_coords(edges)}
        )
    out.name = "firing_rate"
    out.attrs = {"units": "Hz"}
    return out


def spike_train(units: xr.Dataset | xr.DataTree, unit_id: int) -> np.ndarray:
    """One unit's spike times: one contiguous read of its slice of ``spike_times``."""
    units = _units_dataset(units)
    position = np.flatnonzero(units["unit_id"].values == unit_id)
    if not len(position):
        raise AlignmentError(f"Expected a unit_id of this units table. Got {unit_id}.")
    one = units.isel(unit_id=position[:1])
    starts, ends = row_offsets(one, "spike_times")
    return read_rows(units["spike_times"].variable, starts, ends)


def spikes_in_window(units: xr.Dataset | xr.DataTree, start: float, stop: float) -> xr.Dataset:
    """Every unit's spikes in ``[start, stop)``, reading only the parts of ``spike_times`` that
    the time checkpoints say can hold them (not every unit's whole train).

    Returns a Dataset over ``spike`` with ``spike_times`` and the ``unit_id`` of each spike.
    """
    units = _units_dataset(units)
    ids = units["unit_id"].values
    starts, ends = row_offsets(units, "spike_times")
    if "spike_time_checkpoints" in units and units.sizes.get("checkpoint", 0):
        times = units["checkpoint_time"].values
        k0 = int(np.clip(np.searchsorted(times, start, side="right") - 1, 0, len(times) - 1))
        k1 = int(np.clip(np.searchsorted(times, stop, side="left"), 0, len(times) - 1))
        bounds = np.asarray(units["spike_time_checkpoints"].isel(checkpoint=[k0, k1]).values)
        if stop > times[-1]:
            bounds[:, 1] = ends
    else:
        bounds = np.stack([starts, ends], axis=1)
    values = read_rows(units["spike_times"].variable, bounds[:, 0], bounds[:, 1])
    owner = np.repeat(ids, bounds[:, 1] - bounds[:, 0])
    keep = (values >= start) & (values < stop)
    return xr.Dataset({"spike_times": ("spike", values[keep])}, coords={"unit_id": ("spike", owner[keep])})

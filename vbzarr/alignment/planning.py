"""Planning an alignment lazily: events in time order, in blocks bounded by output and input
bytes, each block a dask task over the signal's own chunks; cross-session signals recording by
recording on their own rows (see :mod:`vbzarr.alignment`)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import cast

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import AlignmentError
from ..schema import SECONDS
from .events import SESSION_IDS, event_coords, event_times
from .kernels import event_blocks, event_spans, gather, grid, native_rate, parse_window

#: Upper bounds of one task's output block and of the samples it reads (with all its rows).
OUTPUT_CHUNK_BYTES = 32 * 2**20
INPUT_CHUNK_BYTES = 64 * 2**20

#: Coordinates over (recording, first kept dim) that are missing (None or NaN) where a recording lacks
#: that row.
PRESENCE_COORDS = ("cell_roi_id",)


def _time_coord(signal: xr.DataArray) -> str:
    """The name of the signal's sample times: ``time`` (a dim or coordinate) or ``timestamps``."""
    if "time" in signal.dims:
        return "time"
    for name in ("time", "timestamps"):
        if name in signal.coords and signal[name].ndim == 1:
            return name
    raise AlignmentError(
        f"Expected a signal with a 'time' dim or a 1-D 'timestamps' coordinate (e.g. eye_tracking). "
        f"Got dims {signal.dims} and coords {list(signal.coords)}."
    )


def _time_axis(signal: xr.DataArray) -> tuple[str, np.ndarray]:
    """The signal's time dim and its sample times, read here (lazy times too: as the graph is
    built, not as tasks on whatever cluster a dask Client made the default)."""
    times = signal[_time_coord(signal)].variable
    if times.chunks is not None:
        times = times.compute(scheduler="sync")
    return str(times.dims[0]), np.asarray(times.values, dtype=np.float64)


def _gathered(piece: da.Array, n_events: int, n_offsets: int, idx: dict) -> da.Array:
    """``gather`` on each block of rows of ``piece``, from its time chunks as they are."""
    starts = np.cumsum((0, *piece.chunks[-1]))[:-1]
    tasks = piece.to_delayed(optimize_graph=False)  # optimised, each block would reread its chunks
    grid = np.empty(tasks.shape[:-1], dtype=object)
    for pos in np.ndindex(*grid.shape):
        shape = tuple(c[k] for c, k in zip(piece.chunks[:-1], pos, strict=True))
        block = dask.delayed(gather)(*tasks[pos], starts=starts, **idx)
        grid[pos] = da.from_delayed(block, (*shape, n_events, n_offsets), dtype=np.float64)
    if grid.ndim:
        return da.block(grid.tolist())
    return cast(da.Array, grid[()])  # no rows: the one block


def _align_one(
    signal: xr.DataArray,
    times: np.ndarray,
    offsets: np.ndarray,
    method: str,
    present: np.ndarray | None = None,
) -> tuple[da.Array, list[Hashable]]:
    """Dask array (..., event, time_from_event) for one recording's signal, events in given order.

    ``present`` (over the first kept dim, e.g. cells) marks the rows the recording has: chunks of
    rows it lacks are NaN without reading anything.
    """
    dim, t = _time_axis(signal)
    keep = np.flatnonzero(np.isfinite(t))  # cross-session signals are NaN-padded past their end
    if len(keep) < len(t):
        contiguous = len(keep) and keep[-1] - keep[0] + 1 == len(keep)
        kept = slice(int(keep[0]), int(keep[-1]) + 1) if contiguous else keep
        signal = signal.isel({dim: kept})
        t = t[kept]  # a slice is a view: the task graph then holds no copy of the times
    if len(t) == 0 or np.any(np.diff(t) < 0):
        raise AlignmentError(f"Expected increasing sample times along {dim!r}.")
    # Lazy times (a cross-session view's) are read again by the tasks that need them, so the
    # graph holds none of them: memory then does not grow with the recordings aligned.
    stored = signal[_time_coord(signal)]
    source = stored.data if stored.chunks is not None else t
    other = [d for d in signal.dims if d != dim]
    data = signal.transpose(*other, dim).data
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=-1)
    axis = data.ndim - 1  # time in, event out
    order = np.argsort(times, kind="stable")
    times = times[order]
    lo, hi = event_spans(t, times, offsets, method)
    rows = max(1, int(np.prod([max(c) if c else 1 for c in data.chunks[:-1]])))
    blocks = event_blocks(
        lo,
        hi,
        max(1, OUTPUT_CHUNK_BYTES // (8 * len(offsets) * rows)),
        max(max(data.chunks[-1], default=1), INPUT_CHUNK_BYTES // (8 * rows)),
    )
    # Rows (e.g. cells) go chunk by chunk, so a recording's chunks of rows it lacks are never read.
    bounds = np.cumsum((0, *data.chunks[0])) if other else np.array([0, 0])
    row_slices = [slice(int(x), int(y)) for x, y in zip(bounds[:-1], bounds[1:], strict=True)]
    columns = []
    for a, b, b_lo, b_hi in blocks:
        # The task finds its grid times' samples itself: the graph holds times, not indices.
        idx = {"t": source[b_lo:b_hi], "times": times[a:b], "offsets": offsets, "method": method}
        parts = []
        for rows_sl in row_slices if other else [None]:
            piece = data[rows_sl, ..., b_lo:b_hi] if other else data[..., b_lo:b_hi]
            if b_hi <= b_lo or (present is not None and not present[rows_sl].any()):
                # No window reaches the recording, or the recording lacks these rows: NaN, unread.
                chunks = (*piece.chunks[:-1], (b - a,), (len(offsets),))
                # Named by its chunks (all there is to it): tokenizing hundreds of them is slow.
                name = "nan-" + "-".join("_".join(map(str, c)) for c in chunks)
                parts.append(da.full(tuple(map(sum, chunks)), np.nan, chunks=chunks, name=name))
                continue
            parts.append(_gathered(piece, b - a, len(offsets), idx))
        columns.append(da.concatenate(parts, axis=0))
    if not columns:
        out = da.zeros((*data.shape[:-1], 0, len(offsets)), chunks=(*data.chunks[:-1], -1, -1))
    else:
        out = da.concatenate(columns, axis=axis)
    if not np.array_equal(order, np.arange(len(order))):
        out = da.take(out, np.argsort(order, kind="stable"), axis=axis)
    return out, other


def _present(one: xr.DataArray) -> np.ndarray | None:
    """Which rows (e.g. cells) one recording of a cross-session signal has, if a coordinate says."""
    kept = [d for d in one.dims if d not in ("time", "frame")]
    for name in PRESENCE_COORDS:
        if kept and name in one.coords and one[name].dims == (kept[0],):
            return pd.notna(np.asarray(one[name].values))  # None (nullable ids) or NaN: absent
    return None


def _labels(signal: xr.DataArray, dims: list[Hashable]) -> dict[Hashable, xr.Variable]:
    """The signal's coordinates along the kept dims, loaded (small; groupby needs them in memory):
    the lazy ones in one compute, in this process (a cell's 15 coordinates read at once)."""
    labels = {
        k: v.variable
        for k, v in signal.coords.items()
        if set(v.dims) <= set(dims) and k not in ("time", "timestamps")
    }
    lazy = [k for k, v in labels.items() if v.chunks is not None]
    values = dask.compute(*(labels[k].data for k in lazy), scheduler="threads")
    for k, value in zip(lazy, values, strict=True):
        labels[k] = labels[k].copy(data=value)
    return labels


def align(
    signal: xr.DataArray,
    events: pd.DataFrame | Sequence[float] | np.ndarray,
    window: tuple[float, float],
    rate: float | None = None,
    method: str = "linear",
    time_column: str | None = None,
) -> xr.DataArray:
    """Sample a continuous signal around events on a common grid.

    Parameters
    ----------
    signal
        A DataArray with a ``time`` dim (``dff``, ``running.speed``...) or a 1-D ``timestamps``
        coordinate (``eye_tracking.pupil_area``); extra dims (``cell_specimen_id``) are kept. A
        cross-session view from :meth:`Project.cell_traces` (``time`` over
        ``(ophys_experiment_id, frame)``) is aligned recording by recording: ``events`` must then
        have an ``ophys_experiment_id`` column. Its cost grows with the recordings' own cells and
        events, plus NaN blocks for (other container's cells, recording) pairs, which a reduction
        over events still has to go through: for averages over many containers, align container
        by container and concatenate the reduced results (last example; same values, and
        ``benchmarks/results/bench_alignment.md`` (iii) has the costs of both).
    events
        Rows of ``stimulus_presentations`` or ``trials`` (any filter), or an array of times (s).
        Trials align on ``change_time`` (VBN: ``change_time_no_display_delay``, the commanded
        change, one display lag, about 20 ms, before it is on screen), presentations on
        ``start_time`` (as displayed).
    window
        ``(start, stop)`` in seconds relative to each event.
    rate
        Grid rate in Hz; default the signal's native rate (highest over its recordings).
    method
        ``"linear"`` or ``"nearest"`` (see the module docstring).
    time_column
        The column of ``events`` holding the event times, instead of the default above (e.g.
        ``"response_time"``, or ``"start_time"`` of change presentations to align VBN changes as
        displayed).

    Returns
    -------
    xr.DataArray
        Dims ``(..., event, time_from_event)``, lazy. The events' columns are coordinates on
        ``event``, so ``resp.groupby("image_name").mean("event")`` averages by image.

    Examples
    --------
    >>> changes = trials[trials.go]  # doctest: +SKIP
    >>> resp = vbzarr.align(exp["ophys"]["dff"], changes, window=(-1.0, 2.0))  # doctest: +SKIP
    >>> resp.mean("event")  # doctest: +SKIP

    Over many containers, one lazy result without the other containers' NaN blocks:

    >>> means = [  # doctest: +SKIP
    ...     vbzarr.align(project.dff(g), project.events_table(g, query="is_change"), (-1.0, 2.0))
    ...     .groupby("image_name").mean("event")
    ...     for _, g in sel.groupby("ophys_container_id")
    ... ]
    >>> mean = xr.concat(means, "cell_specimen_id", join="outer").compute()  # doctest: +SKIP
    """
    times, table = event_times(events, time_column)
    start, stop = parse_window(window)
    session = next((s for s in SESSION_IDS if s in signal.dims), None)
    if session is None:
        _, t = _time_axis(signal)
        rate = native_rate(t) if rate is None else rate
        offsets = grid((start, stop), rate)
        data, other = _align_one(signal, times, offsets, method)
        coords = _labels(signal, other)
    else:
        if session not in table:
            raise AlignmentError(
                f"Expected events with a {session!r} column to align a "
                f"cross-session signal. Got columns {list(table.columns)}."
            )
        sessions = table[session].to_numpy()
        unknown = set(sessions) - set(signal[session].values.tolist())
        if unknown:
            raise AlignmentError(
                f"Expected events of the signal's sessions; {session} "
                f"{sorted(unknown)[:5]} not in the signal."
            )
        if rate is None:
            # Each recording's times are read here and again as it is aligned: holding every
            # recording's times at once is what the view's lazy ``time`` avoids.
            rate = max(native_rate(_time_axis(signal.sel({session: s}))[1]) for s in np.unique(sessions))
        offsets = grid((start, stop), rate)
        parts, positions = [], []
        for s in pd.unique(sessions):
            idx = np.flatnonzero(sessions == s)
            one = signal.sel({session: s})
            part, other = _align_one(
                one.drop_vars(session, errors="ignore"), times[idx], offsets, method, _present(one)
            )
            parts.append(part)
            positions.append(idx)
        axis = len(other)
        data = da.concatenate(parts, axis=axis)
        order = np.argsort(np.concatenate(positions), kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            data = da.take(data, order, axis=axis)
        coords = _labels(signal, other)
    out = xr.DataArray(
        data,
        dims=(*other, "event", "time_from_event"),
        coords={
            **coords,
            **event_coords(table),
            "time_from_event": ("time_from_event", offsets, SECONDS),
        },
        name=signal.name,
        attrs={
            **signal.attrs,
            "aligned_method": method,
            "aligned_rate_hz": float(rate),
            "aligned_window_s": [start, stop],
            "edges": "NaN where a window runs past the first or last sample",
        },
    )
    return out

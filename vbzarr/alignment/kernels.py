"""The numpy kernels of alignment: the grid, the samples around each grid time, and gathering a
block of events' windows from the samples (see :mod:`vbzarr.alignment` for the sampling rule)."""

from __future__ import annotations

import numpy as np

from ..errors import AlignmentError

#: Rows of a block are gathered a slab of about this many bytes at a time (see ``gather``).
GATHER_SLAB_BYTES = 2**20


def parse_window(window: tuple[float, float]) -> tuple[float, float]:
    try:
        start, stop = (float(w) for w in window)
    except (TypeError, ValueError):
        raise AlignmentError(f"Expected window=(start, stop) in seconds. Got {window!r}.") from None
    if not (np.isfinite(start) and np.isfinite(stop) and stop > start):
        raise AlignmentError(f"Expected a finite window with start < stop. Got {window!r}.")
    return start, stop


def grid(window: tuple[float, float], rate: float) -> np.ndarray:
    """Sample times relative to the event: ``window[0] + k / rate``, both ends included when they
    fall on the grid (the sampling rule of :mod:`vbzarr.alignment`).

    Examples
    --------
    >>> grid((-0.1, 0.1), rate=20.0)
    array([-0.1 , -0.05,  0.  ,  0.05,  0.1 ])
    >>> grid((0.0, 1.0), rate=2.5)  # 1.0 is not on the grid
    array([0. , 0.4, 0.8])
    """
    start, stop = parse_window(window)
    if not (np.isfinite(rate) and rate > 0):
        raise AlignmentError(f"Expected a positive rate in Hz. Got {rate!r}.")
    n = int(np.floor((stop - start) * rate + 1e-9)) + 1
    return start + np.arange(n) / rate


def sample_indices(
    t: np.ndarray, query: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, w, valid)``: value = x[i0] * (1 - w) + x[i1] * w where ``valid``."""
    n = len(t)
    valid = np.isfinite(query) & (query >= t[0]) & (query <= t[-1])
    q = np.where(valid, query, t[0])
    i1 = np.clip(np.searchsorted(t, q, side="right"), 1, max(n - 1, 1))
    i0 = i1 - 1
    if n == 1:
        return np.zeros_like(i0), np.zeros_like(i0), np.zeros(q.shape), valid
    if method == "nearest":
        # The later sample only when strictly closer: a tie takes the earlier one.
        w = ((t[i1] - q) < (q - t[i0])).astype(np.float64)
    elif method == "linear":
        w = np.clip((q - t[i0]) / (t[i1] - t[i0]), 0.0, 1.0)
    else:
        raise AlignmentError(f"Expected method 'linear' or 'nearest'. Got {method!r}.")
    return i0, i1, w, valid


def native_rate(t: np.ndarray) -> float:
    """A signal's rate (Hz): 1 / the median interval between its (finite) sample times.

    Examples
    --------
    >>> native_rate(np.array([0.0, 0.1, 0.2, np.nan, 0.4]))
    10.0
    """
    finite = t[np.isfinite(t)]
    if len(finite) < 2:
        raise AlignmentError("Expected at least two samples to infer the signal's rate.")
    return float(1.0 / np.median(np.diff(finite)))


def event_spans(
    t: np.ndarray, times: np.ndarray, offsets: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``[lo, hi)`` each event's valid grid times need (``hi <= lo``: none), found a
    batch of events at a time so that no (event, offset) array outlives the call."""
    lo = np.full(len(times), len(t), dtype=np.int64)
    hi = np.zeros(len(times), dtype=np.int64)
    batch = max(1, 2**18 // len(offsets))
    for a in range(0, len(times), batch):
        i0, i1, _, valid = sample_indices(t, times[a : a + batch, None] + offsets[None, :], method)
        lo[a : a + batch] = np.where(valid, i0, len(t)).min(axis=1)
        hi[a : a + batch] = np.where(valid, i1 + 1, 0).max(axis=1)
    return lo, hi


def event_blocks(
    lo: np.ndarray, hi: np.ndarray, max_events: int, max_samples: int
) -> list[tuple[int, int, int, int]]:
    """Runs ``(a, b, lo, hi)`` of consecutive time-sorted events, reading samples ``[lo, hi)``:
    at most ``max_events`` events and ``max_samples`` samples (unless one window is longer).
    Events whose windows miss the recording (``hi <= lo``) read nothing and join any run."""
    blocks: list[list[int]] = []  # [a, b, lo, hi]; hi <= lo while nothing is read
    for e in range(len(lo)):
        reads = hi[e] > lo[e]
        block = blocks[-1] if blocks and blocks[-1][1] - blocks[-1][0] < max_events else None
        if block is not None and reads:
            start, stop = (
                (min(block[2], lo[e]), max(block[3], hi[e])) if block[3] > block[2] else (lo[e], hi[e])
            )
            if stop - start > max_samples:
                block = None
            else:
                block[2:4] = start, stop
        if block is None:
            block = [e, e, *((lo[e], hi[e]) if reads else (0, 0))]
            blocks.append(block)
        block[1] = e + 1
    return [(a, b, int(x), int(y)) for a, b, x, y in blocks]


def gather(
    *pieces: np.ndarray,
    starts: np.ndarray,
    t: np.ndarray,
    times: np.ndarray,
    offsets: np.ndarray,
    method: str,
) -> np.ndarray:
    """The block's events sampled on the grid, ``x0 + (x1 - x0) * w``; a grid time on a sample
    (``w`` 0 or 1, always so for nearest) is exactly that sample even when the other neighbour is
    NaN.

    ``t`` are the times of the block's samples, which come as consecutive ``pieces`` along the
    last axis (starting at ``starts``); the block holds every sample its events' windows need, so
    indices found within it are those found in the whole recording. Rows go a slab at a time
    through two small buffers (a slab of samples joined across pieces, the interpolation step),
    so the only large array made is the result: fresh memory is costly, reused memory is not.
    The result is ``(..., event, time_from_event)`` laid out with ``event`` fastest in memory: a
    reduction over events (a groupby mean) reads it without a copy.
    """
    i0, i1, w, valid = (a.T.ravel() for a in sample_indices(t, times[:, None] + offsets[None, :], method))
    m, stop = int(i0.min()), int(i1.max()) + 1
    at = np.where(w == 1, i1, i0) - m  # exact samples at w 0 or 1
    between = (w > 0) & (w < 1)
    after = i1 - m if between.any() else None
    rows = pieces[0].shape[:-1]
    n_rows = int(np.prod(rows))
    parts = [
        piece.reshape(n_rows, piece.shape[-1])[:, max(m - st, 0) : stop - st]
        for piece, st in zip(pieces, starts, strict=True)
        if st < stop and st + piece.shape[-1] > m
    ]
    span = stop - m
    out = np.empty((n_rows, len(at)))
    slab = max(1, GATHER_SLAB_BYTES // (8 * max(span, len(at))))
    joined = np.empty((min(slab, n_rows), span)) if len(parts) > 1 else None
    step = np.empty((min(slab, n_rows), len(at))) if after is not None else None
    for r0 in range(0, n_rows, slab):
        r1 = min(r0 + slab, n_rows)
        if joined is None:
            x = parts[0][r0:r1]
        else:
            x = np.concatenate([part[r0:r1] for part in parts], axis=1, out=joined[: r1 - r0])
        o = out[r0:r1]
        np.take(x, at, axis=1, out=o, mode="clip")  # indices are in range; "raise" would buffer
        if step is not None and after is not None:
            s = np.take(x, after, axis=1, out=step[: r1 - r0], mode="clip")
            s -= o
            s *= w
            np.add(o, s, out=o, where=between)
    if not valid.all():
        np.copyto(out, np.nan, where=~valid)
    return np.swapaxes(out.reshape(*rows, len(offsets), len(times)), -1, -2)

"""Response statistics of aligned signals, as the Allen Institute's stimulus-response utilities
compute them (``get_stimulus_response_xr`` and the per-cell summaries of its analyses):

* ``mean_response``: the mean over the grid times ``0 <= t <= response_window`` after each event,
  ``mean_baseline`` over ``-baseline_window <= t <= 0`` (both ends included, NaN skipped);
* ``p_value_gray_screen``: the fraction of ``shuffles`` null means at least as large as the
  response, each null mean taken over ``round(response_window * rate)`` native samples starting at
  a random frame (drawn with replacement) of the gray screen before the task: the 240 s before the
  first stimulus (the second when the first is an omission), frames ``[nearest(start),
  nearest(stop))``. One-sided, as there. The null window is ``response_window`` long, as in
  ``visual_behavior_analysis``: ``brain_observatory_utilities`` and ``mindscope_utilities`` pass a
  frame count where seconds are expected and draw null windows about 30 times longer;
* ``significant``: ``p_value_gray_screen < 0.05``; per row (e.g. cell),
  ``fraction_significant_p_value_gray_screen`` over the events, and ``responsive`` when it is above
  0.1 (the Visual Behavior platform paper's criterion).

The draws come from ``numpy.random.default_rng(seed)``: results repeat exactly. A response that is
NaN (a window off the recording) has a NaN p-value.
"""

from __future__ import annotations

from collections.abc import Mapping

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .alignment import align, event_times
from .alignment.events import SESSION_IDS
from .alignment.kernels import native_rate
from .errors import AlignmentError

#: Seconds of gray screen before the first stimulus whose frames start the null windows.
SPONTANEOUS_SECONDS = 240.0
SIGNIFICANT_P = 0.05
RESPONSIVE_FRACTION = 0.1
#: Null means computed at once (bounds the memory of the draws: rows x this x window samples).
SHUFFLES_PER_BATCH = 500


def gray_screen_window(presentations: pd.DataFrame) -> tuple[float, float]:
    """``(start, stop)`` seconds of the gray screen the null windows start in: the
    ``SPONTANEOUS_SECONDS`` before the first image presentation of ``presentations``.

    A store's whole ``stimulus_presentations`` table works as it is: its gray-screen rows
    (``stimulus_name == "spontaneous"``, or rows without an image) and omissions are skipped, so
    the window ends where the change-detection task's first image starts.

    Examples
    --------
    >>> table = pd.DataFrame({"start_time": [0.0, 300.0, 300.75],
    ...                       "stimulus_name": ["spontaneous", "images", "images"],
    ...                       "image_name": [None, "omitted", "im065"]})
    >>> gray_screen_window(table)
    (60.75, 300.75)
    """
    names = presentations["image_name"]
    images = names.notna() & (names != "omitted")
    if "stimulus_name" in presentations:
        images &= presentations["stimulus_name"] != "spontaneous"
    first = np.flatnonzero(images.to_numpy(dtype=bool))
    if not len(first):
        raise AlignmentError(
            f"expected image presentations to find the gray screen before them; found none in "
            f"{len(presentations)} presentation(s)"
        )
    start = float(presentations["start_time"].iloc[first[0]])
    return start - SPONTANEOUS_SECONDS, start


def nearest_index(times: np.ndarray, t: float) -> int:
    """The sample nearest ``t`` (the later one on a tie), as the utilities' ``index_of_nearest_value``."""
    i = int(np.searchsorted(times, t))
    if i >= len(times):
        return len(times) - 1
    if i > 0 and times[i] - t > abs(times[i - 1] - t):
        return i - 1
    return i


def null_means(
    samples: np.ndarray, times: np.ndarray, window: tuple[float, float], length: int, shuffles: int, seed: int
) -> np.ndarray:
    """Sorted null means ``(rows, shuffles)``: means of ``length`` samples from random frames of
    ``window``; ``samples`` is ``(rows, time)``."""
    frames = np.arange(nearest_index(times, window[0]), nearest_index(times, window[1]))
    if not len(frames):
        raise AlignmentError(
            f"expected gray-screen samples in {window[0]:.3f}-{window[1]:.3f} s; the signal has none there"
        )
    starts = np.random.default_rng(seed).choice(frames, shuffles)
    out = np.empty((samples.shape[0], shuffles))
    offsets = np.arange(length)
    for a in range(0, shuffles, SHUFFLES_PER_BATCH):
        idx = starts[a : a + SHUFFLES_PER_BATCH, None] + offsets[None, :]
        out[:, a : a + SHUFFLES_PER_BATCH] = samples[:, idx].mean(axis=-1)
    out.sort(axis=1)
    return out


def _p_values(response: np.ndarray, null: np.ndarray, session: np.ndarray) -> np.ndarray:
    """``1 - (null means below the response) / shuffles`` per (row, event); ``null`` is
    ``(session, row, shuffles)`` sorted, ``session`` the null of each event."""
    out = np.full(response.shape, np.nan)
    shuffles = null.shape[-1]
    groups = [(k, np.flatnonzero(session == k)) for k in np.unique(session)]  # events per session
    for row in range(response.shape[0]):
        for k, events in groups:
            r = response[row, events]
            below = np.searchsorted(null[k, row], r, side="left")
            out[row, events] = np.where(np.isnan(r), np.nan, 1 - below / shuffles)
    return out


def response_statistics(
    signal: xr.DataArray,
    events: pd.DataFrame,
    spontaneous: tuple[float, float] | Mapping[int, tuple[float, float]],
    *,
    response_window: float = 0.5,
    baseline_window: float = 0.5,
    rate: float | None = None,
    shuffles: int = 10_000,
    seed: int = 0,
    time_column: str | None = None,
) -> xr.Dataset:
    """Mean response, mean baseline and the p-value against gray-screen shuffles of each
    (row, event), and the per-row fraction of significant events (see the module docstring).

    Parameters
    ----------
    signal
        What :func:`vbzarr.align` takes: one session's ``(cell_specimen_id, time)`` trace, or a
        cross-session view (``Project.dff``, ``Project.behavior_signal``).
    events
        The events (e.g. ``project.events_table(sel, query="is_change")``).
    spontaneous
        The gray-screen window (:func:`gray_screen_window` of the session's presentations), or one
        per session id for a cross-session signal.
    response_window, baseline_window
        Seconds after and before each event.
    rate
        The grid of the aligned means (default the signal's native rate).
    shuffles, seed
        Null means per row and session, and the seed of their draws.

    Returns
    -------
    xarray.Dataset
        ``mean_response``, ``mean_baseline``, ``p_value_gray_screen``, ``significant`` over the
        signal's rows and ``event`` (lazy where the signal is), and
        ``fraction_significant_p_value_gray_screen``, ``responsive`` over the rows.

    Examples
    --------
    >>> presentations = vbzarr.to_dataframe(exp["stimulus_presentations"])  # doctest: +SKIP
    >>> window = vbzarr.gray_screen_window(presentations)  # doctest: +SKIP
    >>> stats = vbzarr.response_statistics(exp["ophys"]["dff"], changes, window)  # doctest: +SKIP
    >>> stats.responsive.sum().item()  # doctest: +SKIP
    """
    aligned = align(signal, events, (-baseline_window, response_window), rate=rate, time_column=time_column)
    t = aligned["time_from_event"]
    # Grid times within a nanosecond of a window's end are in it (a grid of an inferred rate puts
    # the event's own sample at -3e-14 s, say).
    eps = 1e-9
    mean_response = aligned.where((t >= -eps) & (t <= response_window + eps)).mean("time_from_event")
    mean_baseline = aligned.where((t >= -baseline_window - eps) & (t <= eps)).mean("time_from_event")
    key = next((s for s in SESSION_IDS if s in signal.dims), None)
    # One piece per session (a single-session signal is the piece of session -1).
    pieces: list[tuple[int, xr.DataArray]] = (
        [(-1, signal)] if key is None else [(int(s), signal.sel({key: s})) for s in signal[key].values]
    )
    windows: Mapping[int, tuple[float, float]] = (
        spontaneous if isinstance(spontaneous, Mapping) else {sid: spontaneous for sid, _ in pieces}
    )
    nulls = []
    for sid, one in pieces:
        time_name = "time" if "time" in one.coords else "timestamps"
        times = np.asarray(one[time_name].values, dtype=float)
        time_dim = one[time_name].dims[-1]
        rows = one.transpose(..., time_dim)
        values = np.asarray(rows.values, dtype=float).reshape(-1, rows.shape[-1])
        length = int(np.round(response_window * native_rate(times)))
        nulls.append(null_means(values, times, windows[sid], length, shuffles, seed))
    null = np.stack(nulls)
    _, table = event_times(events, time_column)
    if key is None:
        session = np.zeros(len(table), dtype=np.intp)
    else:
        order = {sid: k for k, (sid, _) in enumerate(pieces)}
        session = np.array([order[int(s)] for s in table[key]], dtype=np.intp)
    rows_dims = [d for d in mean_response.dims if d != "event"]
    stacked = mean_response.transpose(*rows_dims, "event")
    flat = stacked.data.reshape(-1, stacked.shape[-1]) if rows_dims else stacked.data[None, :]
    if isinstance(flat, da.Array):
        p = flat.rechunk({0: -1}).map_blocks(_block_p, null, session, dtype=float)
    else:
        p = _p_values(np.asarray(flat), null, session)
    p_value = stacked.copy(data=p.reshape(stacked.shape))
    significant = p_value < SIGNIFICANT_P
    fraction = significant.where(p_value.notnull()).mean("event")
    return xr.Dataset(
        {
            "mean_response": mean_response,
            "mean_baseline": mean_baseline,
            "p_value_gray_screen": p_value,
            "significant": significant,
            "fraction_significant_p_value_gray_screen": fraction,
            "responsive": fraction > RESPONSIVE_FRACTION,
        },
        attrs={
            "response_window": response_window,
            "baseline_window": baseline_window,
            "shuffles": shuffles,
            "seed": seed,
        },
    )


def _block_p(
    block: np.ndarray, null: np.ndarray, session: np.ndarray, block_info: dict | None = None
) -> np.ndarray:
    """:func:`_p_values` of one block of events (``block_info`` gives its columns)."""
    assert block_info is not None
    (_, _), (e0, e1) = block_info[0]["array-location"]
    return _p_values(block, null, session[e0:e1])

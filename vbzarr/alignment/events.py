"""The events an analysis aligns to: their times (a table's time column, or plain times) and
their columns as coordinates on the ``event`` dim."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import AlignmentError

#: Columns that give the event time, by preference, when events are a table.
TIME_COLUMNS = ("change_time", "change_time_no_display_delay", "start_time")
SESSION_IDS = ("ophys_experiment_id", "ecephys_session_id", "behavior_session_id")


def event_times(
    events: pd.DataFrame | Sequence[float] | np.ndarray, time_column: str | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Event times (s) and the events as a table.

    ``time_column`` names the column of event times. By default a ``trials`` table is aligned on
    the change (``change_time``; in VBN trials ``change_time_no_display_delay``, the change the
    task commanded, which comes on screen one display lag later — about 20 ms; the displayed
    change is the ``start_time`` of the ``is_change`` presentation), any other table
    (``stimulus_presentations``, optotagging...) on ``start_time``; a plain array is taken as the
    times themselves.
    """
    if isinstance(events, pd.DataFrame):
        columns = TIME_COLUMNS if time_column is None else (time_column,)
        column = next((c for c in columns if c in events), None)
        if column is None:
            raise AlignmentError(
                f"Expected events with {'one of the columns ' if time_column is None else 'the column '}"
                f"{columns if time_column is None else repr(time_column)}. "
                f"Got columns {list(events.columns)}."
            )
        return events[column].to_numpy(dtype=np.float64), events
    if time_column is not None:
        raise AlignmentError(f"Expected a table of events with time_column={time_column!r}; got an array.")
    times = np.asarray(events, dtype=np.float64)
    if times.ndim != 1:
        raise AlignmentError(f"Expected a 1-D array of event times. Got shape {times.shape}.")
    return times, pd.DataFrame(index=pd.RangeIndex(len(times), name="event"))


def event_coords(table: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """The events' columns as coordinates on ``event`` (list columns left out)."""
    coords: dict[str, tuple[str, np.ndarray]] = {}
    for col in table.columns:
        values = table[col]
        if values.dtype == object and values.map(lambda v: isinstance(v, list | np.ndarray)).any():
            continue
        if isinstance(values.dtype, pd.BooleanDtype | pd.Int64Dtype):
            values = (
                values.astype("float64")
                if values.isna().any()
                else values.astype("bool" if isinstance(values.dtype, pd.BooleanDtype) else "int64")
            )
        elif isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
            values = values.astype(object)
        coords[str(col)] = ("event", values.to_numpy())
    index = table.index
    coords[index.name or "event_index"] = ("event", index.to_numpy())
    return coords

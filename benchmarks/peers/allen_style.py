"""Change-aligned responses the way Allen's analysis utilities compute them, per experiment.

This module is the "Allen-utilities style" peer of benchmarks/bench_alignment.py part (i): the
algorithm of brain_observatory_utilities' ``get_stimulus_response_xr`` (and of
``get_stimulus_response_df``, which reshapes its result), written here from its description,
on tables read with pynwb (the bench's reading helper) instead of an AllenSDK experiment object:

1. a *tidy* cell table (``build_tidy_cell_df``): one row per (cell, frame), columns
   ``timestamps``, ``dff`` and ``cell_specimen_id`` (a categorical, as there), concatenated over
   the cells;
2. the events: the ``start_time`` of the change-detection block's changes (``is_change``), with
   their ``stimulus_presentations_id``;
3. for each cell (sorted ids): a boolean filter of the whole tidy table on that cell, then the
   event-triggered response in "wide" form (``event_triggered_response_wide``): the cell's
   times and values as numpy arrays, the window bounds of every event by ``searchsorted``
   (``event + start`` on the left, ``event + stop`` on the right, both ends included), then a
   Python loop over the events: slice, times relative to the event, NaN if the slice has no
   sample before or none after the event, else ``np.interp`` onto the output grid with
   ``left=right=NaN``; the columns (``event_{i}_t={time}``) go into one DataFrame indexed by
   the grid, and ``.transpose().values`` gives (events, time);
4. the cells stacked into a DataArray (``cell_specimen_id``, ``stimulus_presentations_id``,
   ``eventlocked_timestamps``).

Left out, as they only add time to this peer: the optional p-value shuffles, the mean
response / baseline extras (``compute_means``), the progress bar, and the ``cell_roi_id``,
``events`` and ``filtered_events`` columns of the tidy table. The output grid is the caller's
(the benchmark passes the same grid as vbzarr's, instead of the utilities' default of the
native rate, ``1 / mean(diff(timestamps))``), so that the results can be compared value by
value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

CHANGE_DETECTION = "change_detection"


def build_tidy_cell_df(timestamps: np.ndarray, dff_traces: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, frame): ``timestamps``, ``dff``, ``cell_specimen_id`` (categorical).

    ``dff_traces`` is AllenSDK's table: index ``cell_specimen_id``, column ``dff`` (one array
    per cell).
    """
    categories = pd.unique(dff_traces.index.to_numpy())
    per_cell = []
    for csid, trace in zip(dff_traces.index, dff_traces["dff"], strict=True):
        cell = pd.DataFrame({"timestamps": timestamps, "dff": trace})
        cell["cell_specimen_id"] = pd.Categorical(np.full(len(cell), csid), categories=categories)
        per_cell.append(cell)
    return pd.concat(per_cell)


def change_events(stimulus_presentations: pd.DataFrame) -> pd.Series:
    """Start times of the change-detection block's changes, indexed by stimulus_presentations_id."""
    block = stimulus_presentations[
        stimulus_presentations["stimulus_block_name"].astype(str).str.contains(CHANGE_DETECTION)
    ]
    changes = block[block["is_change"].eq(1)]
    return changes["start_time"]


def event_triggered_response_wide(
    data: pd.DataFrame, t: str, y: str, event_times: np.ndarray, offsets: np.ndarray
) -> pd.DataFrame:
    """Column ``y`` of ``data`` around each event, on ``offsets`` (s from the event).

    A DataFrame indexed by ``time`` (the offsets), one column per event. An event gets NaN when
    the samples in ``[event + offsets[0], event + offsets[-1]]`` include none before or none
    after it; otherwise linear interpolation, NaN outside those samples.
    """
    times = data[t].to_numpy()
    values = data[y].to_numpy()
    event_times = np.asarray(event_times, dtype=np.float64)
    first = np.searchsorted(times, event_times + offsets[0], side="left")
    last = np.searchsorted(times, event_times + offsets[-1], side="right")
    out = np.empty((len(offsets), len(event_times)))
    for i, (when, a, b) in enumerate(zip(event_times, first, last, strict=True)):
        rel = times[a:b] - when
        if np.count_nonzero(rel < 0) < 1 or np.count_nonzero(rel > 0) < 1:
            out[:, i] = np.nan
            continue
        out[:, i] = np.interp(offsets, rel, values[a:b], left=np.nan, right=np.nan)
    columns = {"time": offsets}
    columns.update({f"event_{i}_t={when}": out[:, i] for i, when in enumerate(event_times)})
    return pd.DataFrame(columns).set_index("time")


def stimulus_response_xr(
    timestamps: np.ndarray,
    dff_traces: pd.DataFrame,
    stimulus_presentations: pd.DataFrame,
    offsets: np.ndarray,
) -> xr.DataArray:
    """(cell_specimen_id, stimulus_presentations_id, eventlocked_timestamps) dF/F around changes."""
    tidy = build_tidy_cell_df(timestamps, dff_traces)
    events = change_events(stimulus_presentations)
    cell_ids = np.unique(tidy["cell_specimen_id"].to_numpy())
    per_cell, timebase = [], offsets
    for csid in cell_ids:
        wide = event_triggered_response_wide(
            tidy[tidy["cell_specimen_id"] == csid], "timestamps", "dff", events.to_numpy(), offsets
        )
        timebase = wide.index.to_numpy()
        per_cell.append(wide.transpose().values)
    return xr.DataArray(
        np.array(per_cell),
        dims=("cell_specimen_id", "stimulus_presentations_id", "eventlocked_timestamps"),
        coords={
            "cell_specimen_id": cell_ids,
            "stimulus_presentations_id": events.index.to_numpy(),
            "eventlocked_timestamps": timebase,
        },
    )

"""``stimulus_presentations``: every ``intervals/*_presentations`` block merged, as the AllenSDK does.

The AllenSDK (``Presentations.from_nwb`` + ``BehaviorSession.stimulus_presentations``) concatenates
the per-block tables, turns float 0/1/NaN flag columns into nullable booleans, sorts by
``start_time``, renumbers rows as ``stimulus_presentations_id``, fills missing integers with -99,
recomputes ``is_change`` and ``flashes_since_change`` (behavior and ophys files, not VBN ecephys
files), drops ``image_set`` and renames ``stop_time`` to ``end_time``. The store holds that table;
NWB columns it drops or rewrites are kept too (``stop_time``, ``image_set``, and
``<column>_nwb`` where a recomputed value differs from the stored one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .chunking import Chunking
from .nwb import NWBReader
from .tables import frame_to_dataset

INT_NULL = -99
INT_COLUMNS = [
    "flashes_since_change",
    "image_index",
    "movie_repeat",
    "movie_frame_index",
    "repeat",
    "stimulus_index",
]
ORDER = [
    "stimulus_block",
    "stimulus_block_name",
    "image_index",
    "image_name",
    "movie_frame_index",
    "duration",
    "start_time",
    "end_time",
    "stop_time",
    "start_frame",
    "end_frame",
    "is_change",
    "is_image_novel",
    "omitted",
    "movie_repeat",
    "flashes_since_change",
    "trials_id",
]
NULLABLE_BOOLEAN = "nullable_boolean"


def _is_flag(values: pd.Series) -> bool:
    """A float column whose non-NaN values are all 0 or 1 (stored nullable boolean)."""
    if values.dtype.kind != "f" or values.name.endswith("_index"):
        return False
    seen = values.dropna().unique()
    return len(seen) > 0 and set(seen.tolist()) <= {0.0, 1.0}


def recompute_is_change(frame: pd.DataFrame) -> np.ndarray:
    """True where the image differs from the previous non-omitted image (AllenSDK is_change_event)."""
    shown = (
        frame["omitted"].astype("boolean").fillna(True).to_numpy()
        if "omitted" in frame
        else np.zeros(len(frame), bool)
    )
    names = frame["image_name"].to_numpy(dtype=object)[~shown]
    change = np.zeros(len(names), bool)
    change[1:] = names[1:] != names[:-1]
    out = np.zeros(len(frame), bool)
    out[np.flatnonzero(~shown)] = change
    return out


def recompute_flashes_since_change(frame: pd.DataFrame) -> np.ndarray:
    """AllenSDK's count of flashes since the last change, over all rows in table order.

    Omitted flashes repeat the previous count; a change (or the first row) resets it to 0; every
    other row, including gray-screen and movie rows, adds one.
    """
    name = frame["image_name"].to_numpy(dtype=object)
    omitted = (
        frame["omitted"].astype("boolean").fillna(False).to_numpy()
        if "omitted" in frame
        else np.zeros(len(frame), bool)
    )
    is_change = frame["is_change"].to_numpy(bool)
    out = np.zeros(len(frame), np.int64)
    for i in range(len(frame)):
        if name[i] == "omitted" or omitted[i]:
            out[i] = out[i - 1] if i else 0
        elif is_change[i] or i == 0:
            out[i] = 0
        else:
            out[i] = out[i - 1] + 1
    return out


def merged_presentations(nwb: NWBReader, recompute: bool) -> pd.DataFrame:
    """The AllenSDK ``stimulus_presentations`` DataFrame (plus the NWB columns it drops)."""
    blocks = []
    for name in nwb.children("intervals"):
        if not name.endswith("_presentations"):
            continue
        frame, _ = nwb.table(f"intervals/{name}", "stimulus_presentations", ragged=False)
        frame = frame.replace({"N/A": ""})
        if "stimulus_block_name" not in frame:  # VBN files: the block is named by its table
            frame["stimulus_block_name"] = name.removesuffix("_presentations")
        blocks.append(frame.reset_index(drop=True))
    if not blocks:
        return pd.DataFrame()
    table = pd.concat(blocks, sort=False, ignore_index=True)
    flags = [c for c in table.columns if _is_flag(table[c])]
    # A stable sort: AllenSDK's default quicksort leaves ties in arbitrary order.
    table = table.sort_values("start_time", kind="mergesort").reset_index(drop=True)
    for col in flags:
        table[col] = table[col].astype("boolean")
    if recompute and "image_name" in table:
        # In this order: flashes since change counts from the recomputed changes.
        for col, recompute_column in (
            ("is_change", recompute_is_change),
            ("flashes_since_change", recompute_flashes_since_change),
        ):
            values = recompute_column(table)
            if col in table:
                stored = table[col]
                same = (
                    np.array_equal(stored.astype("boolean").fillna(False).to_numpy(bool), values)
                    if col == "is_change"
                    else np.array_equal(stored.fillna(INT_NULL).to_numpy(), values)
                )
                if not same:
                    table[f"{col}_nwb"] = stored
            table[col] = values
    for col in INT_COLUMNS:
        if col in table:
            table[col] = table[col].fillna(INT_NULL).astype(np.int64)
    table["end_time"] = table["stop_time"]
    first = [c for c in ORDER if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    table.index = pd.RangeIndex(len(table), name="stimulus_presentations_id")
    return table


def stimulus_presentations(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``stimulus_presentations`` over ``stimulus_presentations_id``, every block."""
    recompute = "units" not in nwb and "general/extracellular_ephys" not in nwb
    table = merged_presentations(nwb, recompute=recompute)
    if table.empty:
        return None
    flags = [c for c in table.columns if isinstance(table[c].dtype, pd.BooleanDtype)]
    ds = frame_to_dataset(table)
    for col in flags:
        ds[col].attrs[NULLABLE_BOOLEAN] = True
    ds.attrs["recomputed"] = ["is_change", "flashes_since_change"] if recompute else []
    return ds

"""Trials: every column of ``intervals/trials`` over ``trials_id``; ``lick_times`` ragged, unpadded."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .chunking import Chunking
from .nwb import NWBReader
from .presentations import INT_NULL
from .tables import frame_to_dataset

TRIALS = "intervals/trials"


def trials(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``trials`` indexed by ``trials_id``.

    Ragged columns (``lick_times``) are stored flat with NWB end offsets; ``vbzarr.ragged``
    gives them back as one array per trial.
    """
    if TRIALS not in nwb:
        return None
    frame, ragged = nwb.table(TRIALS, "trials")
    frame.index.name = "trials_id"
    frame = frame.drop(columns=["lick_events"], errors="ignore")
    ragged.pop("lick_events", None)
    if "change_frame" in frame and frame["change_frame"].dtype.kind == "f":
        frame["change_frame"] = frame["change_frame"].fillna(INT_NULL).astype(np.int64)
    if "lick_times" in ragged:  # passive sessions store a [b''] placeholder with empty rows
        flat, ends = ragged["lick_times"]
        if flat.dtype == object:
            ragged["lick_times"] = (np.zeros(0, np.float64), ends)
    return frame_to_dataset(frame, ragged)

"""Trials: every column of ``intervals/trials`` over ``trials_id``; ``lick_times`` ragged, unpadded."""

from __future__ import annotations

import xarray as xr

from .nwb import NWBReader
from .registry import Chunking, stream
from .tables import frame_to_dataset

TRIALS = "intervals/trials"


@stream("trials")
def trials(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``trials`` indexed by ``trials_id``.

    Ragged columns (``lick_times``) are stored flat with NWB end offsets; ``vbzarr.ragged``
    gives them back as one array per trial.
    """
    if TRIALS not in nwb:
        return None
    frame, ragged = nwb.table(TRIALS, "trials")
    frame.index.name = "trials_id"
    return frame_to_dataset(frame, ragged)

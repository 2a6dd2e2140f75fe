"""NWB -> Zarr converters for the Allen Visual Behavior datasets (the writing side of vbzarr).

Importing this package registers every stream module in :data:`converters.registry.STREAMS`, in the
order the driver writes them. Needs the ``convert`` extra (pynwb, h5py).
"""

from __future__ import annotations

# One module per family of NWB content; each registers its groups on import.
from . import (  # noqa: F401
    cells,
    ecephys,
    eye_tracking,
    licks_rewards,
    ophys,
    presentations,
    running,
    stimulus,
    trials,
)
from .convert import StoreSummary, convert_nwb
from .registry import STREAMS, Chunking

__all__ = ["STREAMS", "Chunking", "StoreSummary", "convert_nwb"]

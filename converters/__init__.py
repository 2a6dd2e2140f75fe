"""NWB -> Zarr conversion for the Allen Visual Behavior datasets: the writing side of vbzarr,
installed as ``vbzarr.convert`` from the top-level folder ``converters/``.

Needs the ``convert`` extra (pynwb, h5py, scipy). The read side (``vbzarr``) never imports it.
The groups a store holds are declared, in write order, in :data:`vbzarr.convert.streams.STREAMS`.
"""

from __future__ import annotations

from .chunking import Chunking
from .convert import StoreSummary, convert_nwb
from .project import ProjectReport, convert_project
from .streams import STREAMS, Stream
from .validate import validate_store

__all__ = [
    "STREAMS",
    "Chunking",
    "ProjectReport",
    "StoreSummary",
    "Stream",
    "convert_nwb",
    "convert_project",
    "validate_store",
]

"""vbzarr: the Allen Visual Behavior datasets as analysis-ready Xarray/Zarr."""

from __future__ import annotations

__version__ = "0.1.0"

"""The cell specimen table and the imaging-plane images (projections, segmentation, ROI masks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from vbzarr.errors import InvalidNWBError

from .nwb import NWBReader
from .registry import Chunking, stream

CELL_TABLE = "processing/ophys/image_segmentation/cell_specimen_table"
IMAGES = "processing/ophys/images"


def cell_specimen_table(nwb: NWBReader) -> pd.DataFrame:
    """The NWB cell table as AllenSDK's ``cell_specimen_table`` (all rows, ``cell_roi_id`` = NWB id).

    Indexed by table row (position), so trace ``rois`` regions can index it directly.
    """
    frame, _ = nwb.table(CELL_TABLE, "cell_specimen_table", ragged=False)
    frame = frame.reset_index().rename(columns={"id": "cell_roi_id"})
    if "cell_specimen_id" not in frame:
        raise InvalidNWBError(nwb.path, f"{CELL_TABLE}/cell_specimen_id",
                              "expected a cell_specimen_id column in the cell specimen table")
    return frame


def roi_rows(nwb: NWBReader, series: str, n_cells: int, needed_for: str) -> np.ndarray:
    """Rows of the cell table that the columns of ``series`` (a RoiResponseSeries) refer to."""
    rows = nwb.read(f"{series}/rois", needed_for).astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_cells):
        raise InvalidNWBError(nwb.path, f"{series}/rois",
                              f"expected row numbers of the cell table in [0, {n_cells}), "
                              f"found {rows.min()}..{rows.max()}")
    return rows


@stream("images")
def images(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """``max_projection``, ``average_projection``, ``segmentation_mask_image`` (row x column) and
    ``roi_masks`` (cell_specimen_id x row x column, bool) of the valid ROIs."""
    if IMAGES not in nwb and CELL_TABLE not in nwb:
        return None
    data_vars = {}
    for var, name in [("max_projection", "max_projection"), ("average_projection", "average_image"),
                      ("segmentation_mask_image", "segmentation_mask_image")]:
        path = f"{IMAGES}/{name}"
        if path in nwb:
            data_vars[var] = xr.Variable(("row", "column"), nwb.read(path, var),
                                         attrs=nwb.attrs(path))
    if CELL_TABLE in nwb:
        cells = cell_specimen_table(nwb)
        valid = np.flatnonzero(cells.valid_roi.to_numpy(bool)) if "valid_roi" in cells \
            else np.arange(len(cells))
        masks = nwb.lazy(f"{CELL_TABLE}/image_mask", (1, 4096, 4096), "roi_masks")
        if masks.ndim != 3:
            raise InvalidNWBError(nwb.path, f"{CELL_TABLE}/image_mask",
                                  f"expected (roi, row, column) masks, found shape {masks.shape}")
        data_vars["roi_masks"] = xr.Variable(("cell_specimen_id", "row", "column"),
                                             masks[valid].astype(bool))
        coords = {"cell_specimen_id": cells.cell_specimen_id.to_numpy()[valid],
                  "cell_roi_id": ("cell_specimen_id", cells.cell_roi_id.to_numpy()[valid])}
    else:
        coords = {}
    return xr.Dataset(data_vars, coords=coords)

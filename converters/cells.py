"""The cell specimen table and the imaging-plane images (projections, segmentation, ROI masks).

As in the AllenSDK, only valid ROIs are cells (``valid_roi``), ``cell_roi_id`` is the NWB row id,
and a ``cell_specimen_id`` of -1 (an ROI not matched across sessions) becomes NaN.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from vbzarr.errors import InvalidNWBError

from .chunking import Chunking
from .nwb import NWBReader

CELL_TABLE = "processing/ophys/image_segmentation/cell_specimen_table"
IMAGES = "processing/ophys/images"
#: ROI masks read from HDF5 at a time (8 MB of 512 x 512 booleans); each is stored as one chunk.
MASKS_PER_READ = 32


def cell_specimen_table(nwb: NWBReader) -> pd.DataFrame:
    """AllenSDK's ``cell_specimen_table`` without ``roi_mask``, plus ``row`` (position in the NWB).

    Valid ROIs only, in NWB order; columns ``cell_specimen_id``, ``cell_roi_id`` and the rest.
    """
    frame, _ = nwb.table(CELL_TABLE, "cell_specimen_table", ragged=False)
    frame = frame.reset_index().rename(columns={"id": "cell_roi_id"})
    if "cell_specimen_id" not in frame:
        raise InvalidNWBError(
            nwb.path,
            f"{CELL_TABLE}/cell_specimen_id",
            "expected a cell_specimen_id column in the cell specimen table",
        )
    frame["row"] = np.arange(len(frame))
    if (frame.cell_specimen_id == -1).any():
        frame["cell_specimen_id"] = frame.cell_specimen_id.where(frame.cell_specimen_id != -1)
    if "valid_roi" in frame:
        frame = frame[frame.valid_roi.astype(bool)]
    first = ["cell_specimen_id", "cell_roi_id"]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def roi_rows(nwb: NWBReader, series: str, n_rows: int, needed_for: str) -> np.ndarray:
    """Rows of the NWB cell table that the columns of ``series`` (a RoiResponseSeries) refer to."""
    rows = nwb.read(f"{series}/rois", needed_for).astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        raise InvalidNWBError(
            nwb.path,
            f"{series}/rois",
            f"expected row numbers of the cell table in [0, {n_rows}), found {rows.min()}..{rows.max()}",
        )
    return rows


def n_table_rows(nwb: NWBReader) -> int:
    return len(nwb.read(f"{CELL_TABLE}/id", "cell_specimen_table"))


def _spacing(nwb: NWBReader, path: str) -> dict:
    """AllenSDK ``Image.spacing``: the GrayscaleImage resolution x 10, in mm."""
    attrs = nwb.attrs(path)
    if "resolution" in attrs:
        attrs["spacing"] = [attrs["resolution"] * 10] * 2
        attrs["unit"] = "mm"
    return attrs


def images(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """``max_projection``, ``average_projection``, ``segmentation_mask_image`` (row x column) and
    ``roi_masks`` (cell_specimen_id x row x column, bool) of the valid ROIs.

    ``segmentation_mask_image`` is, as in the AllenSDK, the sum of the valid ROI masks; the NWB's
    stored image is kept as ``segmentation_mask_image_nwb`` only where it differs.
    """
    if IMAGES not in nwb and CELL_TABLE not in nwb:
        return None
    data_vars, coords = {}, {}
    for var, name in [("max_projection", "max_projection"), ("average_projection", "average_image")]:
        path = f"{IMAGES}/{name}"
        if path in nwb:
            data_vars[var] = xr.Variable(("row", "column"), nwb.read(path, var), attrs=_spacing(nwb, path))
    if CELL_TABLE in nwb:
        cells = cell_specimen_table(nwb)
        masks = nwb.lazy(f"{CELL_TABLE}/image_mask", (MASKS_PER_READ, 8192, 8192), "roi_masks")
        if masks.ndim != 3 or masks.shape[0] != n_table_rows(nwb):
            raise InvalidNWBError(
                nwb.path,
                f"{CELL_TABLE}/image_mask",
                f"expected one (row, column) mask per ROI, found shape {masks.shape}",
            )
        valid = masks[cells.row.to_numpy()].astype(bool)
        data_vars["roi_masks"] = xr.Variable(
            ("cell_specimen_id", "row", "column"), valid, encoding={"chunks": (1, *masks.shape[1:])}
        )
        mask_image = (
            valid.sum(axis=0, dtype=np.int64) if len(cells) else da.zeros(masks.shape[1:], dtype=np.int64)
        )
        data_vars["segmentation_mask_image"] = xr.Variable(("row", "column"), mask_image.compute())
        coords = {
            "cell_specimen_id": cells.cell_specimen_id.to_numpy(),
            "cell_roi_id": ("cell_specimen_id", cells.cell_roi_id.to_numpy()),
        }
    stored = f"{IMAGES}/segmentation_mask_image"
    if stored in nwb:
        raw = nwb.read(stored, "segmentation_mask_image")
        if "segmentation_mask_image" not in data_vars:
            data_vars["segmentation_mask_image"] = xr.Variable(("row", "column"), raw)
        elif not np.array_equal(raw, data_vars["segmentation_mask_image"].values):
            data_vars["segmentation_mask_image_nwb"] = xr.Variable(("row", "column"), raw)
        data_vars["segmentation_mask_image"].attrs.update(_spacing(nwb, stored))
    return xr.Dataset(data_vars, coords=coords)

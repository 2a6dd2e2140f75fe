"""``eye_tracking``: ellipse fits of eye, pupil and corneal reflection, as the AllenSDK returns them.

AllenSDK (``EyeTrackingTable.from_nwb``) reads ``area_raw`` of each ellipse series (not the stored
masked ``area``), recomputes ``likely_blink`` (|z-score| of eye or pupil raw area above 3, or either
area missing, dilated by 2 frames each side) and sets the eye and pupil areas, widths, heights and
angles to NaN at likely blinks. Centers (``data[:, 0/1]``) become ``*_center_x/_y`` and ``angle``
becomes ``*_phi``.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from vbzarr.schema import SECONDS

from .chunking import Chunking
from .licks_rewards import empty_events
from .nwb import NWBReader

EYE = "acquisition/EyeTracking"
PREFIXES = {"cr": "corneal_reflection_tracking", "eye": "eye_tracking", "pupil": "pupil_tracking"}
Z_THRESHOLD = 3.0
DILATION_FRAMES = 2
MASKED = [
    "eye_area",
    "pupil_area",
    "cr_area",
    "eye_width",
    "eye_height",
    "eye_phi",
    "pupil_width",
    "pupil_height",
    "pupil_phi",
]

#: AllenSDK's column order (after ``timestamps``).
ORDER = [
    "cr_area",
    "eye_area",
    "pupil_area",
    "likely_blink",
    "pupil_area_raw",
    "cr_area_raw",
    "eye_area_raw",
] + [f"{p}_{c}" for p in PREFIXES for c in ("center_x", "center_y", "width", "height", "phi")]


def dilate(mask: np.ndarray, frames: int = DILATION_FRAMES) -> np.ndarray:
    """Binary dilation by ``frames`` on each side (outside the array counts as False)."""
    if frames <= 0:
        return mask.copy()
    padded = np.concatenate([np.zeros(frames, bool), mask, np.zeros(frames, bool)])
    out = np.zeros_like(mask)
    for shift in range(2 * frames + 1):
        out |= padded[shift : shift + len(mask)]
    return out


def likely_blinks(
    eye_area_raw: np.ndarray,
    pupil_area_raw: np.ndarray,
    z_threshold: float = Z_THRESHOLD,
    dilation_frames: int = DILATION_FRAMES,
) -> np.ndarray:
    """AllenSDK's blink detection: missing area or |z| > threshold (population std over the
    non-missing frames), then dilated."""
    blink = np.isnan(eye_area_raw) | np.isnan(pupil_area_raw)
    for area in (eye_area_raw, pupil_area_raw):
        std = np.nanstd(area)
        if std > 0:
            z = np.abs((area - np.nanmean(area)) / std)
            blink |= np.nan_to_num(z, nan=0.0) > z_threshold
    return dilate(blink, dilation_frames)


def eye_tracking(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``eye_tracking`` over ``frame``, with ``timestamps`` as a coordinate."""
    if EYE not in nwb:  # AllenSDK: an empty table with every column
        return empty_events("frame", {k: np.bool_ if k == "likely_blink" else np.float64 for k in ORDER})
    need = "eye_tracking"
    ts = nwb.read(f"{EYE}/eye_tracking/timestamps", need).astype(np.float64)
    n, chunk = len(ts), (chunking.rows,)
    columns: dict[str, da.Array] = {}
    for prefix, series in PREFIXES.items():
        base = f"{EYE}/{series}"
        center = nwb.lazy(f"{base}/data", (chunking.rows, 2), need)
        nwb.check_length(f"{base}/data", center, n, "one center per eye tracking frame")
        columns[f"{prefix}_center_x"] = center[:, 0]
        columns[f"{prefix}_center_y"] = center[:, 1]
        for column, dataset in [
            ("area_raw", "area_raw"),
            ("width", "width"),
            ("height", "height"),
            ("phi", "angle"),
        ]:
            values = nwb.lazy(f"{base}/{dataset}", chunk, need)
            nwb.check_length(f"{base}/{dataset}", values, n, "one value per eye tracking frame")
            columns[f"{prefix}_{column}"] = values
        columns[f"{prefix}_area"] = columns[f"{prefix}_area_raw"]
    # Two 1-D columns (a few MB for a 2.5 h session at 60 Hz): read once, whole.
    blink = likely_blinks(*da.compute(columns["eye_area_raw"], columns["pupil_area_raw"]))
    mask = da.from_array(blink, chunks=chunk)
    for col in MASKED:
        columns[col] = da.where(mask, np.nan, columns[col])
    columns["likely_blink"] = mask
    ds = xr.Dataset(
        {k: (("frame",), columns[k]) for k in ORDER},
        coords={"frame": np.arange(n), "timestamps": ("frame", ts, SECONDS)},
    )
    stored = f"{EYE}/likely_blink/data"
    if stored in nwb:
        raw = nwb.read(stored, need).astype(bool)
        if not np.array_equal(raw, blink):
            ds["likely_blink_nwb"] = ("frame", raw)
    ds.attrs.update(
        z_threshold=Z_THRESHOLD, dilation_frames=DILATION_FRAMES, column_order=["timestamps", *ORDER]
    )
    return ds

"""Two-photon traces on ``cell_specimen_id x time``, per-cell metadata, and motion correction."""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from vbzarr.errors import InvalidNWBError

from .cells import CELL_TABLE, cell_specimen_table, roi_rows
from .nwb import NWBReader
from .registry import Chunking, stream
from .timeseries import series_group, timestamps

OPHYS = "processing/ophys"
#: store variable -> NWB RoiResponseSeries (AllenSDK names: dff_traces.dff, events.events, ...)
TRACES = {
    "dff": f"{OPHYS}/dff/traces",
    "corrected_fluorescence": f"{OPHYS}/corrected_fluorescence/traces",
    "events": f"{OPHYS}/event_detection",
    "demixed_trace": f"{OPHYS}/demixed_trace/traces",
    "neuropil_trace": f"{OPHYS}/neuropil_trace/traces",
}
#: per-cell values stored beside a trace: store coord -> NWB dataset
PER_CELL = {
    "lambda": f"{OPHYS}/event_detection/lambdas",
    "noise_std": f"{OPHYS}/event_detection/noise_stds",
    "RMSE": f"{OPHYS}/corrected_fluorescence/RMSE/data",
    "r": f"{OPHYS}/corrected_fluorescence/r/data",
}
#: AllenSDK's ``filtered_events``: events convolved with a causal half-normal kernel
#: (scale 2 frames, 20 frames long, normalised to sum 1).
FILTER_SCALE = 2.0
FILTER_STEPS = 20


def half_normal_kernel(scale: float = FILTER_SCALE, n: int = FILTER_STEPS) -> np.ndarray:
    """Half-normal pdf at 0..n-1 frames, normalised to sum 1."""
    x = np.arange(n, dtype=np.float64)
    k = np.exp(-0.5 * (x / scale) ** 2)
    return k / k.sum()


def filter_events(events: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal filter along the last axis: out[t] = sum_k kernel[k] * events[t - k]."""
    out = np.zeros_like(events, dtype=np.float64)
    n = events.shape[-1]
    for k, w in enumerate(kernel):
        out[..., k:] += w * events[..., : n - k]
    return out


def _filtered(events: da.Array) -> da.Array:
    """Lazy causal filter over time (last axis); each chunk sees the previous ones' tail."""
    kernel = half_normal_kernel()
    depth = {0: 0, 1: len(kernel) - 1}

    def block(x: np.ndarray) -> np.ndarray:
        return filter_events(x, kernel)

    return events.map_overlap(block, depth=depth, boundary=0.0, dtype=np.float64, trim=True)


@stream("ophys")
def ophys(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """Every cell trace on ``(cell_specimen_id, time)`` with ``time`` = ophys timestamps (s)."""
    if TRACES["dff"] not in nwb:
        return None
    cells = cell_specimen_table(nwb)
    order = roi_rows(nwb, TRACES["dff"], len(cells), "dff")
    ts = timestamps(nwb, TRACES["dff"], "ophys timestamps")
    n_t, n_c = len(ts), len(order)
    data_vars, coords = {}, {}
    for var, series in TRACES.items():
        if series not in nwb:
            continue
        rows = roi_rows(nwb, series, len(cells), var)
        if sorted(rows) != sorted(order):
            raise InvalidNWBError(nwb.path, f"{series}/rois",
                                  f"expected the same cells as {TRACES['dff']}/rois")
        # Read whole time blocks (rows of the HDF5 (time, roi) layout are contiguous), then put
        # columns in the dff cell order and transpose to cell x time.
        raw = nwb.lazy(f"{series}/data", (chunking.time, max(n_c, 1)), var)
        if raw.shape != (n_t, n_c):
            raise InvalidNWBError(nwb.path, f"{series}/data",
                                  f"expected shape (time={n_t}, roi={n_c}) like dff, found {raw.shape}")
        position = {r: i for i, r in enumerate(rows)}
        perm = np.array([position[r] for r in order], dtype=np.int64)
        if not np.array_equal(perm, np.arange(n_c)):
            raw = raw[:, perm]
        data_vars[var] = xr.Variable(("cell_specimen_id", "time"),
                                     raw.T.rechunk((chunking.cells, chunking.time)))
        if var == "events":
            data_vars["filtered_events"] = xr.Variable(
                ("cell_specimen_id", "time"), _filtered(data_vars["events"].data),
                attrs={"description": "events filtered with a causal half-normal kernel "
                       f"(scale {FILTER_SCALE} frames, {FILTER_STEPS} frames long)"})
            coords.update(_per_cell(nwb, ["lambda", "noise_std"], rows, order))
        if var == "corrected_fluorescence":
            coords.update(_per_cell(nwb, ["RMSE", "r"], rows, order))
    table = cells.iloc[order]
    for col in table.columns:
        if col != "cell_specimen_id":
            coords[col] = ("cell_specimen_id", table[col].to_numpy())
    coords["cell_specimen_id"] = table.cell_specimen_id.to_numpy()
    coords["time"] = ("time", ts, {"units": "seconds"})
    return xr.Dataset(data_vars, coords=coords)


def _per_cell(nwb: NWBReader, names: list[str], rows: np.ndarray, order: np.ndarray) -> dict:
    """Per-ROI values in the dff cell order."""
    out = {}
    position = {r: i for i, r in enumerate(rows)}
    for name in names:
        path = PER_CELL[name]
        if path in nwb:
            values = nwb.read(path, name)
            nwb.check_length(path, values, len(rows), "one per ROI")
            out[name] = ("cell_specimen_id", values[[position[r] for r in order]])
    return out


@stream("motion_correction")
def motion_correction(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``motion_correction``: ``x`` and ``y`` frame shifts (pixels) over ``time``."""
    paths = {a: f"{OPHYS}/ophys_motion_correction_{a}" for a in "xy"}
    if not all(p in nwb for p in paths.values()):
        return None
    return series_group(nwb, paths, dim="time", chunk=chunking.time * 8,
                        needed_for="motion correction")


__all__ = ["CELL_TABLE", "filter_events", "half_normal_kernel"]

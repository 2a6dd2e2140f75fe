"""Two-photon traces on ``cell_specimen_id x time``, per-cell metadata, and motion correction."""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from vbzarr.errors import InvalidNWBError, MissingFieldError
from vbzarr.schema import SECONDS

from .cells import cell_specimen_table, n_table_rows, roi_rows
from .chunking import Chunking
from .metadata import kind_and_id
from .nwb import NWBReader
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
#: Traces every ophys experiment has (a file without one converts, and says so).
REQUIRED_TRACES = ("dff", "corrected_fluorescence", "events")
#: What each trace holds, for labels and plots (``long_name``, ``units``).
TRACE_ATTRS = {
    "dff": {"long_name": "dF/F", "units": "1", "description": "(F - F0) / F0: dimensionless"},
    "corrected_fluorescence": {"long_name": "neuropil-corrected fluorescence", "units": "a.u."},
    "events": {"long_name": "detected events (L0 magnitude)", "units": "a.u."},
    "filtered_events": {"long_name": "filtered events", "units": "a.u."},
    "demixed_trace": {"long_name": "demixed fluorescence", "units": "a.u."},
    "neuropil_trace": {"long_name": "neuropil fluorescence", "units": "a.u."},
}
#: per-cell values stored beside a trace: store coord -> NWB dataset
PER_CELL = {
    "lambda": f"{OPHYS}/event_detection/lambdas",
    "noise_std": f"{OPHYS}/event_detection/noise_stds",
    "RMSE": f"{OPHYS}/corrected_fluorescence/RMSE/data",
    "r": f"{OPHYS}/corrected_fluorescence/r/data",
}
#: AllenSDK's ``filtered_events``: each cell's events convolved with a causal half-normal kernel
#: (scipy's ``halfnorm`` pdf at 0..19 frames, scale 2/31 s x the frame rate, normalised to sum 1),
#: the full convolution cut to the trace's length.
FILTER_SCALE_SECONDS = 2 / 31
FILTER_STEPS = 20
IMAGING_PLANE = "general/optophysiology/imaging_plane_1"


def half_normal_kernel(scale: float, n: int = FILTER_STEPS) -> np.ndarray:
    """Half-normal pdf at 0..n-1 frames (``scale`` in frames), normalised to sum 1."""
    from scipy.stats import halfnorm

    kernel = halfnorm(loc=0, scale=scale).pdf(np.arange(n))
    return kernel / np.sum(kernel)


def filter_events(events: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal filter of each row (a cell's events over time), as the AllenSDK computes it:
    ``np.convolve(row, kernel)[:len(row)]``, so the values are bit-equal to its."""
    rows = np.ascontiguousarray(events, dtype=np.float64)
    out = np.zeros(rows.shape, dtype=np.float64)
    for i, row in enumerate(rows):
        out[i] = np.convolve(row, kernel)[: len(row)]
    return out


def _filtered(raw: da.Array, kernel: np.ndarray) -> da.Array:
    """Lazy causal filter over time, axis 0 of ``raw`` (time, roi) as read from the NWB.

    Each time chunk is filtered with the ``len(kernel) - 1`` frames before it prepended (a slice
    of the previous chunk that dask reads alone; ``map_overlap`` would read that whole chunk), and
    the prepended frames' outputs dropped: every kept output is the same sum, in the same order,
    as the convolution of the whole trace gives.
    """
    depth, pieces, start = len(kernel) - 1, [], 0
    for size in raw.chunks[0]:
        first = max(start - depth, 0)
        # One block: this chunk and the previous frames ("tasks": dask would otherwise import
        # distributed to choose the method).
        window = raw[first : start + size].rechunk({0: -1}, method="tasks")
        pieces.append(
            window.map_blocks(
                lambda block, skip=start - first: filter_events(block.T, kernel).T[skip:],
                chunks=((size,), *window.chunks[1:]),
                dtype=np.float64,
            )
        )
        start += size
    return da.concatenate(pieces, axis=0)


def _in_cell_order(raw: da.Array, rows: np.ndarray, cell_rows: np.ndarray) -> da.Array:
    """(time, roi) columns of ``raw`` (ROIs = NWB table ``rows``) in the cells' order, as
    (cell, time); a cell the series lacks is NaN (AllenSDK joins traces onto the cell table)."""
    position = {r: i for i, r in enumerate(rows)}
    missing = len(rows)
    take = np.array([position.get(r, missing) for r in cell_rows], dtype=np.int64)
    if (take == missing).any():
        raw = da.concatenate(
            [raw.astype(np.float64), da.full((raw.shape[0], 1), np.nan, chunks=(raw.chunks[0], 1))], axis=1
        )
    if not np.array_equal(take, np.arange(raw.shape[1])):
        raw = raw[:, take]
    return raw.T


def ophys(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """Every cell trace on ``(cell_specimen_id, time)``, ``time`` = ophys timestamps (s).

    Cells are the valid ROIs of the cell specimen table, in its order, with its columns as
    coordinates; ``lambda``/``noise_std`` (event detection) and ``RMSE``/``r`` (corrected
    fluorescence) are per-cell coordinates too.
    """
    present = [var for var, series in TRACES.items() if series in nwb]
    if not present:
        if kind_and_id(nwb)[0] == "ophys_experiment":  # an imaging plane without its traces
            raise MissingFieldError(nwb.path, OPHYS if OPHYS not in nwb else TRACES["dff"], "ophys traces")
        return None
    cells = cell_specimen_table(nwb)
    n_rows = n_table_rows(nwb)
    # The time axis of dF/F, or of the first trace there is (AllenSDK: ophys_timestamps).
    ts = timestamps(nwb, TRACES[present[0]], "ophys timestamps")
    rate = (
        float(nwb.scalar(f"{IMAGING_PLANE}/imaging_rate", "ophys_frame_rate"))
        if f"{IMAGING_PLANE}/imaging_rate" in nwb
        else 1 / float(np.median(np.diff(ts)))
    )
    data_vars, coords = {}, {}
    for var, series in TRACES.items():
        if series not in nwb:
            continue
        rows = roi_rows(nwb, series, n_rows, var)
        raw = nwb.lazy(f"{series}/data", (chunking.time, max(len(rows), 1)), var)
        if raw.ndim != 2 or raw.shape[1] != len(rows):
            raise InvalidNWBError(
                nwb.path,
                f"{series}/data",
                f"expected (time, roi={len(rows)}) values, found shape {raw.shape}",
            )
        if raw.shape[0] != len(ts):
            # AllenSDK truncates extra ophys timestamps to the dff length; anything else is broken.
            raise InvalidNWBError(
                nwb.path,
                f"{series}/data",
                f"expected {len(ts)} frames like the dff timestamps, found {raw.shape[0]}",
            )
        # Stored in (cells x time) chunks; the dask chunks stay those of the NWB reads (all ROIs).
        stored = {"chunks": (chunking.cells, chunking.time)}
        traces = _in_cell_order(raw, rows, cells.row.to_numpy())
        data_vars[var] = xr.Variable(("cell_specimen_id", "time"), traces, TRACE_ATTRS[var], encoding=stored)
        if var == "events":
            scale = FILTER_SCALE_SECONDS * rate
            filtered = _filtered(raw, half_normal_kernel(scale))
            data_vars["filtered_events"] = xr.Variable(
                ("cell_specimen_id", "time"),
                _in_cell_order(filtered, rows, cells.row.to_numpy()),
                attrs={
                    **TRACE_ATTRS["filtered_events"],
                    "description": "events filtered with a causal half-normal kernel of scale "
                    f"{scale:.4g} frames, {FILTER_STEPS} frames long (AllenSDK defaults)",
                },
                encoding=stored,
            )
            coords.update(_per_cell(nwb, ["lambda", "noise_std"], rows, cells.row.to_numpy()))
        if var == "corrected_fluorescence":
            coords.update(_per_cell(nwb, ["RMSE", "r"], rows, cells.row.to_numpy()))
    for col in cells.columns:
        if col not in ("cell_specimen_id", "row"):
            coords[col] = ("cell_specimen_id", cells[col].to_numpy())
    coords["cell_specimen_id"] = cells.cell_specimen_id.to_numpy()
    coords["time"] = ("time", ts, {**SECONDS, "long_name": "time"})
    missing = [v for v in REQUIRED_TRACES if v not in present]
    return xr.Dataset(
        data_vars, coords=coords, attrs={"ophys_frame_rate": rate, "missing_variables": missing}
    )


def _per_cell(nwb: NWBReader, names: list[str], rows: np.ndarray, cell_rows: np.ndarray) -> dict:
    """Per-ROI values in the cells' order (NaN for a cell the series lacks)."""
    out = {}
    position = {r: i for i, r in enumerate(rows)}
    for name in names:
        path = PER_CELL[name]
        if path in nwb:
            values = np.append(nwb.read(path, name).astype(np.float64), np.nan)
            nwb.check_length(path, values[:-1], len(rows), "one per ROI")
            out[name] = ("cell_specimen_id", values[[position.get(r, -1) for r in cell_rows]])
    return out


def motion_correction(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``motion_correction``: ``x`` and ``y`` frame shifts (pixels) over ``time``."""
    paths = {a: f"{OPHYS}/ophys_motion_correction_{a}" for a in "xy"}
    if not all(p in nwb for p in paths.values()):
        return None
    return series_group(nwb, paths, dim="time", chunk=chunking.time * 8, needed_for="motion correction")

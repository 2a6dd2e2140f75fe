"""Cross-session trace views: one lazy array of a cell trace (dF/F, events...) over many ophys
experiments, cells matched by ``cell_specimen_id``, frames padded to the longest experiment.

A plan (:class:`_TracePlan`) says where each chunk of the view comes from, so that a chunk is one
read of the stored chunks holding its cells; the experiments' table columns become coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize

from .errors import ManifestError
from .sessions import OPHYS

if TYPE_CHECKING:
    from .project import Project

#: Largest number of cells in one chunk of a cross-session trace view.
CELLS_PER_CHUNK = 256


@dataclass(frozen=True)
class _TraceSource:
    """One experiment's stored trace (lazily indexed: reads only what a slice needs)."""

    trace: xr.Variable
    time: xr.Variable  # read chunk by chunk as the view's ``time`` is (never held whole)
    cells: np.ndarray  # cell_specimen_id of the valid ROIs, in stored order
    rows: np.ndarray  # their stored rows
    roi_ids: np.ndarray
    frame_chunk: int
    time_chunk: int

    @property
    def n_time(self) -> int:
        return self.time.shape[0]

    @classmethod
    def of(cls, ophys: xr.Dataset, variable: str) -> _TraceSource:
        csid = np.asarray(ophys.cell_specimen_id.values, dtype=np.float64)
        rows = np.flatnonzero(~np.isnan(csid))  # ROIs without a cell_specimen_id are not cells
        trace = ophys[variable]
        time = ophys.variables["time"]
        n_time = time.shape[0]
        return cls(
            trace=trace.transpose("cell_specimen_id", "time").variable,
            time=time,
            cells=csid[rows].astype(np.int64),
            rows=rows,
            roi_ids=np.asarray(ophys.cell_roi_id.values)[rows],
            frame_chunk=int(trace.encoding.get("chunks", (0, n_time))[-1] or n_time),
            time_chunk=int(time.encoding.get("chunks", (n_time,))[0] or n_time),
        )


@dataclass(frozen=True)
class _TracePlan:
    """Where each chunk of a cross-session trace view comes from.

    Cells are in order of first appearance, so the first experiment's chunk is its stored rows
    in order; chunks of cells an experiment lacks are never read for it. Frames are chunked like
    the stored arrays, so each stored chunk is decompressed once per view chunk.
    """

    sources: list[_TraceSource]
    cells: np.ndarray
    rows: np.ndarray  # (experiment, cell) -> stored row, -1 where the experiment lacks the cell
    cell_chunks: tuple[int, ...]
    frame_chunks: tuple[int, ...]
    time_chunks: tuple[int, ...]  # the view's ``time`` as stored: each stored chunk read once

    @classmethod
    def of(cls, sources: list[_TraceSource]) -> _TracePlan:
        first_seen = pd.unique(np.concatenate([s.cells for s in sources]))
        position = pd.Index(first_seen)
        rows = np.full((len(sources), len(first_seen)), -1, dtype=np.int64)
        # A chunk holds the cells first seen in one experiment, plus those first seen in later
        # experiments that share cells with it (the same container), up to the cap; an
        # experiment then falls in few chunks (each read once) and chunks stay container-sized.
        cell_chunks: list[int] = []
        end = 0  # cells placed in chunks so far
        for k, src in enumerate(sources):
            where = position.get_indexer(src.cells)
            rows[k, where] = src.rows
            n_new = int((where >= end).sum())
            if not n_new:
                continue
            last = end - cell_chunks[-1] if cell_chunks else 0
            shares = bool(cell_chunks) and bool(((where >= last) & (where < end)).any())
            if shares and cell_chunks[-1] + n_new <= CELLS_PER_CHUNK:
                cell_chunks[-1] += n_new
            else:
                cell_chunks += [min(CELLS_PER_CHUNK, n_new - c) for c in range(0, n_new, CELLS_PER_CHUNK)]
            end += n_new
        n_frames = max(s.n_time for s in sources)

        def chunks(step: int) -> tuple[int, ...]:
            return tuple(min(step, n_frames - f) for f in range(0, n_frames, step)) or (0,)

        return cls(
            sources,
            first_seen.astype(np.int64),
            rows,
            tuple(cell_chunks) or (0,),
            chunks(max(s.frame_chunk for s in sources)),
            chunks(max(s.time_chunk for s in sources)),
        )

    @property
    def n_frames(self) -> int:
        return sum(self.frame_chunks)

    def roi_ids(self) -> np.ndarray:
        """``cell_roi_id`` per (experiment, cell): int64, or where an experiment lacks a cell,
        Python ints with ``None`` there (xarray has no nullable integer arrays; float would
        round ids above 2**53 and hide that they are ids)."""
        out = np.zeros(self.rows.shape, dtype=np.int64)
        for k, src in enumerate(self.sources):
            have = self.rows[k] >= 0
            out[k, have] = src.roi_ids[np.searchsorted(src.rows, self.rows[k, have])]
        lacking = self.rows < 0
        if not lacking.any():
            return out
        nullable = out.astype(object)
        nullable[lacking] = None
        return nullable

    def read_times(self, block_info: Any = None) -> np.ndarray:
        """One chunk of the view's ``time``: an experiment's sample times, NaN past its end."""
        (k, _), (f0, f1) = block_info[None]["array-location"]
        src = self.sources[k]
        stop = min(f1, src.n_time)
        out = np.full((1, f1 - f0), np.nan)
        if f0 < stop:
            out[0, : stop - f0] = src.time[f0:stop].values
        return out

    def read_block(self, block_info: Any = None) -> np.ndarray:
        """One chunk: the stored rows of the chunk's cells that the experiment has, NaN elsewhere."""
        (k, _), (c0, c1), (f0, f1) = block_info[None]["array-location"]
        src = self.sources[k]
        rows = self.rows[k, c0:c1]
        have = np.flatnonzero(rows >= 0)
        stop = min(f1, src.n_time)
        out = np.empty((1, c1 - c0, f1 - f0))
        # NaN only where nothing is read: filling the whole block first would write it twice.
        lacking = np.ones(c1 - c0, dtype=bool)
        lacking[have] = False
        out[0, lacking] = np.nan
        out[0, :, max(stop - f0, 0) :] = np.nan
        if len(have) and f0 < stop:
            order = np.argsort(rows[have], kind="stable")
            wanted = rows[have][order]
            first, span = int(wanted[0]), int(wanted[-1] - wanted[0]) + 1
            if span <= 2 * len(wanted):
                # Rows close together: one slice (basic indexing, twice as fast as an orthogonal
                # read of scattered rows), then the rows picked in memory.
                values = src.trace[first : first + span, f0:stop].values
                if span > len(wanted):
                    values = values[wanted - first]
            else:
                values = src.trace[wanted, f0:stop].values
            out[0, have[order], : stop - f0] = values
        return out


def cell_traces(project: Project, ids: Iterable[int] | pd.DataFrame | None, variable: str) -> xr.DataArray:
    """``variable`` of the experiments ``ids`` of ``project`` as one lazy array (see
    :meth:`Project.cell_traces`)."""
    ids = OPHYS.ids(project, ids)
    if not ids:
        raise ManifestError(f"{project.url}: expected at least one ophys experiment id")
    sources = []
    for eid, ophys in project._each_group(OPHYS.kind, ids, "ophys", indexes=False):
        if variable not in ophys:
            raise ManifestError(
                f"{project.url}: experiment {eid} has no {variable!r}; "
                f"it has {sorted(map(str, ophys.data_vars))}"
            )
        sources.append(_TraceSource.of(ophys, variable))
    plan = _TracePlan.of(sources)
    data = da.map_blocks(
        plan.read_block,
        chunks=((1,) * len(ids), plan.cell_chunks, plan.frame_chunks),
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
        name=f"{variable}-{tokenize(project.url, variable, ids)}",
    )
    out = xr.DataArray(
        data,
        dims=("ophys_experiment_id", "cell_specimen_id", "frame"),
        coords={
            "ophys_experiment_id": np.asarray(ids, dtype=np.int64),
            "cell_specimen_id": plan.cells,
            "frame": np.arange(plan.n_frames),
            "cell_roi_id": (("ophys_experiment_id", "cell_specimen_id"), plan.roi_ids()),
        },
        name=variable,
        attrs=sources[0].trace.attrs,
    )
    time = da.map_blocks(
        plan.read_times,
        chunks=((1,) * len(ids), plan.time_chunks),
        dtype=np.float64,
        meta=np.empty((0, 0)),
        name=f"time-{tokenize(project.url, ids)}",
    )
    return out.assign_coords(time=(("ophys_experiment_id", "frame"), time), **_session_coords(project, ids))


def _session_coords(project: Project, ids: list[int]) -> dict[str, Any]:
    """The experiment table's columns as coordinates over ``ophys_experiment_id``."""
    coords = {}
    for col, values in OPHYS.labels(project, ids).items():
        if isinstance(values.dtype, pd.Int64Dtype):  # nullable ints: int64 unless missing
            values = values.astype("float64" if values.isna().any() else "int64")
        coords[col] = ("ophys_experiment_id", values.to_numpy())
    return coords

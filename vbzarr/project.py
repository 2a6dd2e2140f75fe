"""A converted project: its AllenSDK tables, its stores by id, and lazy views across sessions."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dask.array as da
import icechunk
import numpy as np
import pandas as pd
import xarray as xr
import zarr
import zarr.api.asynchronous
from dask.base import tokenize
from zarr.core.sync import sync

from . import filters
from .errors import ManifestError, QueryError, StoreNotFoundError
from .manifest import Manifest, open_manifest, store_records, stores_table
from .repository import open_repository, readonly_session
from .schema import STORE_FOLDERS
from .store import READ_CONFIG, check_schema, row_offsets, to_dataframe

#: Experiment-table columns carried as coordinates on ``ophys_experiment_id`` in cross-session
#: views, so that grouping by cre line, experience level, session... is one ``groupby``.
SESSION_COORDS = [
    "ophys_session_id",
    "behavior_session_id",
    "ophys_container_id",
    "mouse_id",
    "cre_line",
    "session_type",
    "session_number",
    "experience_level",
    "passive",
    "image_set",
    "imaging_depth",
    "targeted_structure",
    "equipment_name",
    "project_code",
]


#: Name of the store index among the project's tables.
STORES = "stores"

#: Largest number of cells in one chunk of a cross-session trace view.
CELLS_PER_CHUNK = 256

#: Stores whose opened root group a project keeps, so that a session's groups open without opening
#: it again (its metadata comes from the snapshot). Least recently used go first.
OPEN_STORES = 32

#: Sessions whose tables ``events_table`` reads at once, concurrently (on object storage, a
#: round trip for them all rather than one per column); memory holds their whole tables.
SESSIONS_PER_READ = 8


def _concurrently(coroutines: Iterable[Any], return_exceptions: bool = False) -> list[Any]:
    """Run ``coroutines`` at once on zarr's event loop (which also works inside Jupyter's) and
    return their results in order."""
    pending = list(coroutines)

    async def gather() -> list[Any]:
        return await asyncio.gather(*pending, return_exceptions=return_exceptions)

    return sync(gather())


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

    def read_times(self, block_info: dict | None = None) -> np.ndarray:
        """One chunk of the view's ``time``: an experiment's sample times, NaN past its end."""
        (k, _), (f0, f1) = block_info[None]["array-location"]
        src = self.sources[k]
        stop = min(f1, src.n_time)
        out = np.full((1, f1 - f0), np.nan)
        if f0 < stop:
            out[0, : stop - f0] = src.time[f0:stop].values
        return out

    def read_block(self, block_info: dict | None = None) -> np.ndarray:
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


class Project:
    """A vbzarr project opened from a folder or bucket prefix (see :func:`open_project`).

    The manifest's tables are attributes (``ophys_experiment_table``, ``unit_table``, ...),
    read on first use; stores open lazily by id.
    """

    def __init__(
        self,
        url: str,
        repository: icechunk.Repository,
        session: icechunk.Session,
        manifest: Manifest,
        storage_options: dict | None = None,
        version: str | None = None,
    ) -> None:
        self.url = url
        self.repository = repository
        self.session = session
        self.manifest = manifest
        self.storage_options = storage_options
        self.version = version
        self._tables: dict[str, pd.DataFrame] = {}
        self._known_stores: set[str] = set()  # store paths seen in the snapshot
        self._open_stores: OrderedDict[str, zarr.Group] = OrderedDict()
        self._open_stores_lock = threading.Lock()  # callers may share a project across threads

    @property
    def snapshot_id(self) -> str:
        """The snapshot this project reads: later commits to the project do not change it."""
        return self.session.snapshot_id

    def __getstate__(self) -> dict[str, Any]:
        # A copy (e.g. sent to a dask worker) opens its own store roots: the kept ones and their
        # lock stay behind. The read-only session pickles with its snapshot.
        state = {k: v for k, v in self.__dict__.items() if k != "_open_stores_lock"}
        state["_open_stores"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open_stores_lock = threading.Lock()

    # -- tables --------------------------------------------------------------------------------
    @property
    def dataset(self) -> str:
        """``visual-behavior-ophys`` or ``visual-behavior-neuropixels``."""
        return self.manifest.attrs["dataset"]

    @property
    def table_names(self) -> list[str]:
        return self.manifest.table_names

    def table(self, name: str) -> pd.DataFrame:
        """A project table by name (a copy; the cached one stays intact)."""
        if name == STORES:
            return self.stores
        if name not in self._tables:
            if name not in self.table_names:
                raise ManifestError(f"{self.url}: expected a table in {self.table_names}; got {name!r}")
            self._tables[name] = self.manifest.table(name)
        return self._tables[name].copy()

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in self.__dict__.get("manifest").table_names:
            raise AttributeError(name)
        return self.table(name)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.table_names]

    @property
    def stores(self) -> pd.DataFrame:
        """The store index: one row per store (kind, id, source, sha256, group sizes, missing
        streams...), from the stores' own root attributes (group metadata only: no chunk read)."""
        if STORES not in self._tables:
            self._tables[STORES] = stores_table(store_records(self.session.store))
        return self._tables[STORES].copy()

    def history(self) -> list[icechunk.SnapshotInfo]:
        """The commits up to this project's snapshot, newest first (``id``, ``written_at``,
        ``message``): ``open_project(url, version=id)`` opens any of them."""
        return list(self.repository.ancestry(snapshot_id=self.snapshot_id))

    @property
    def tags(self) -> dict[str, str]:
        """The project's tags (releases) and the snapshot each names."""
        return {t: self.repository.lookup_tag(t) for t in sorted(self.repository.list_tags())}

    # -- stores --------------------------------------------------------------------------------
    def store(self, kind: str, store_id: int) -> xr.DataTree:
        """The store of ``kind`` (``ophys_experiment``, ``behavior_session``, ``ecephys_session``)."""
        path = self._store_path(kind, store_id)
        with zarr.config.set(READ_CONFIG):
            tree = xr.open_datatree(
                self.session.store, group=path, engine="zarr", chunks={}, consolidated=False, zarr_format=3
            )
        check_schema(tree.attrs, f"{self.url}/{path}")
        return tree

    def group(self, kind: str, store_id: int, group: str, dask: bool = True) -> xr.Dataset:
        """One group of one store as a lazy Dataset (cheaper than the whole tree: it opens the
        store's root, once per store while the project keeps it, and reads the group's index
        coordinates; group metadata comes from the project's snapshot).

        ``dask=False`` gives lazily indexed numpy-backed variables: for small tables and
        coordinates, reading them then costs no task-graph overhead.
        """
        return self._groups(kind, [store_id], group, dask)[0]

    def _groups(
        self, kind: str, store_ids: list[int], group: str, dask: bool, indexes: bool = True
    ) -> list[xr.Dataset]:
        """``group`` of each store, their roots opened concurrently (see :meth:`_roots`); without
        ``indexes`` no coordinate is read (not even the dims' own)."""
        paths = [self._store_path(kind, i) for i in store_ids]
        out = []
        for path, root in zip(paths, self._roots(paths), strict=True):
            try:
                node = root[group]
            except KeyError as err:
                raise ManifestError(
                    f"{self.url}: expected group {group!r} in {path}; it has "
                    f"{sorted(name for name, _ in root.groups())}"
                ) from err
            # What xr.open_zarr does after opening the root, minus the root's metadata. The
            # store makes the group's arrays, which pick their codec pipeline as they are made.
            with zarr.config.set(READ_CONFIG):
                store = xr.backends.ZarrStore(node, mode="r", use_zarr_fill_value_as_mask=False)
                out.append(
                    xr.open_dataset(store, chunks={} if dask else None, create_default_indexes=indexes)
                )
        return out

    def _each_group(
        self, kind: str, store_ids: list[int], group: str, load: bool = False, indexes: bool = True
    ) -> Iterator[tuple[int, xr.Dataset]]:
        """``(id, group)`` of each store, lazily indexed, ``SESSIONS_PER_READ`` stores at a time:
        their roots opened, and with ``load`` their variables read, concurrently."""
        for a in range(0, len(store_ids), SESSIONS_PER_READ):
            batch = store_ids[a : a + SESSIONS_PER_READ]
            datasets = self._groups(kind, batch, group, dask=False, indexes=indexes)
            if load:  # every variable read in place
                try:
                    _concurrently(ds.load_async() for ds in datasets)
                except NotImplementedError:  # xarray 2025.8 cannot load some decoded variables so
                    for ds in datasets:
                        ds.load()
            yield from zip(batch, datasets, strict=True)

    def _roots(self, paths: list[str]) -> list[zarr.Group]:
        """The root groups of the stores at ``paths``: kept ones reused, the others opened
        concurrently (one round trip on object storage, not one per store)."""
        with self._open_stores_lock:
            missing = list(dict.fromkeys(p for p in paths if p not in self._open_stores))
            roots = _concurrently(
                (
                    zarr.api.asynchronous.open_group(
                        self.session.store, path=p, mode="r", zarr_format=3, use_consolidated=False
                    )
                    for p in missing
                ),
                return_exceptions=True,
            )
            for path, root in zip(missing, roots, strict=True):
                if isinstance(root, Exception):
                    raise ManifestError(
                        f"{self.url}: the manifest lists {path}, but the store is missing or "
                        f"unreadable ({type(root).__name__}: {root}). Re-run `vbzarr convert` to "
                        "repair the project."
                    ) from root
                check_schema(dict(root.attrs), f"{self.url}/{path}")
                self._open_stores[path] = zarr.Group(root)
            out = []
            for path in paths:
                self._open_stores.move_to_end(path)
                out.append(self._open_stores[path])
            while len(self._open_stores) > OPEN_STORES:
                self._open_stores.popitem(last=False)
        return out

    def _store_path(self, kind: str, store_id: int) -> str:
        """``<folder>/<id>`` of a store the project holds (else StoreNotFoundError)."""
        path = f"{STORE_FOLDERS[kind + '_id']}/{int(store_id)}"
        if path not in self._known_stores:
            if not sync(self.session.store.exists(f"{path}/zarr.json")):
                raise StoreNotFoundError(
                    f"{self.url}: no {kind} {store_id} in this project (snapshot {self.snapshot_id})"
                )
            self._known_stores.add(path)
        return path

    def ophys_experiment(self, ophys_experiment_id: int) -> xr.DataTree:
        """One ophys experiment, lazily (every array a dask array)."""
        return self.store("ophys_experiment", ophys_experiment_id)

    def behavior_session(self, behavior_session_id: int) -> xr.DataTree:
        """One behavior-only session, lazily."""
        return self.store("behavior_session", behavior_session_id)

    def ecephys_session(self, ecephys_session_id: int) -> xr.DataTree:
        """One Neuropixels session (units, channels, probes, LFP, behavior), lazily."""
        return self.store("ecephys_session", ecephys_session_id)

    # -- across sessions -----------------------------------------------------------------------
    def _experiment_ids(self, ids: Iterable[int] | pd.DataFrame | pd.Index | None) -> list[int]:
        if ids is None:
            return [int(i) for i in self.ophys_experiment_table.index]
        if isinstance(ids, pd.DataFrame):
            ids = ids.index
        return [int(i) for i in ids]

    def _session_coords(self, ids: list[int]) -> dict[str, Any]:
        table = self.ophys_experiment_table.reindex(ids)
        coords = {}
        for col in SESSION_COORDS:
            if col in table:
                values = table[col]
                if isinstance(values.dtype, pd.Int64Dtype):  # nullable ints: int64 unless missing
                    values = values.astype("float64" if values.isna().any() else "int64")
                coords[col] = ("ophys_experiment_id", values.to_numpy())
        return coords

    def cell_traces(
        self, ids: Iterable[int] | pd.DataFrame | None = None, variable: str = "dff"
    ) -> xr.DataArray:
        """One lazy array of a cell trace over many experiments, cells matched by id.

        Dims ``(ophys_experiment_id, cell_specimen_id, frame)``: the union of the experiments'
        cells, in order of first appearance (a cell missing from an experiment is NaN there, and
        its ``cell_roi_id`` over ``(ophys_experiment_id, cell_specimen_id)`` is ``None``: the
        ids are int64 when every experiment has every cell, else Python ints), and frames
        padded with NaN to the longest experiment. ``time`` is a lazy coordinate over
        ``(ophys_experiment_id, frame)``, since sessions have their own clocks and rates (read
        where it is used, so a view of many sessions does not hold all their times); the
        experiment table's columns (cre line, session type, experience level, ...) are
        coordinates over ``ophys_experiment_id``. Nothing but the cells' coordinates is read:
        each chunk is one read of the stored chunks holding its cells (never padding).

        Parameters
        ----------
        ids
            Experiment ids, or a selection of ``ophys_experiment_table`` (its index is used);
            default: every experiment.
        variable
            ``dff``, ``events``, ``filtered_events``, ``corrected_fluorescence``, ...

        Examples
        --------
        >>> sel = project.ophys_experiment_table.query("ophys_container_id == 1018027885")  # doctest: +SKIP
        >>> dff = project.dff(sel)  # doctest: +SKIP
        """
        ids = self._experiment_ids(ids)
        if not ids:
            raise ManifestError(f"{self.url}: expected at least one ophys experiment id")
        sources = []
        for eid, ophys in self._each_group("ophys_experiment", ids, "ophys", indexes=False):
            if variable not in ophys:
                raise ManifestError(
                    f"{self.url}: experiment {eid} has no {variable!r}; it has {sorted(ophys.data_vars)}"
                )
            sources.append(_TraceSource.of(ophys, variable))
        plan = _TracePlan.of(sources)
        data = da.map_blocks(
            plan.read_block,
            chunks=((1,) * len(ids), plan.cell_chunks, plan.frame_chunks),
            dtype=np.float64,
            meta=np.empty((0, 0, 0)),
            name=f"{variable}-{tokenize(self.url, variable, ids)}",
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
            name=f"time-{tokenize(self.url, ids)}",
        )
        return out.assign_coords(time=(("ophys_experiment_id", "frame"), time), **self._session_coords(ids))

    def dff(self, ids: Iterable[int] | pd.DataFrame | None = None) -> xr.DataArray:
        """``cell_traces(ids, "dff")``: dF/F of every cell of the experiments, cells matched."""
        return self.cell_traces(ids, "dff")

    def events_table(
        self,
        ids: Iterable[int] | pd.DataFrame | None = None,
        table: str = "stimulus_presentations",
        query: str | None = None,
    ) -> pd.DataFrame:
        """``stimulus_presentations`` or ``trials`` of many sessions in one DataFrame.

        Rows keep their table index as a column and gain the session id (``ophys_experiment_id``
        in VBO, ``ecephys_session_id`` in VBN) plus the session table's columns, ready for
        :func:`vbzarr.align` / :func:`vbzarr.spike_counts` and ``groupby``.

        Parameters
        ----------
        ids
            Session ids, or a selection of the session table (its index is used); default: all.
        table
            ``stimulus_presentations`` or ``trials`` (any table group of the stores).
        query
            A :meth:`pandas.DataFrame.query` expression over those columns (``"is_change"``,
            ``"omitted"``, ``"go and hit"``, ``"image_name == 'im065' and experience_level ==
            'Novel 1'"``), applied to each session's table as it is read: memory holds the
            kept rows, not every session's whole table. Missing flags (``<NA>``) count as False.

        Raises
        ------
        QueryError
            ``query`` does not evaluate on a session's table (the message names the session).

        Examples
        --------
        >>> changes = project.events_table(sel, "stimulus_presentations", query="is_change")  # doctest: +SKIP
        """
        vbn = self.dataset == "visual-behavior-neuropixels"
        key, kind = (
            ("ecephys_session_id", "ecephys_session") if vbn else ("ophys_experiment_id", "ophys_experiment")
        )
        sessions_table = self.ecephys_session_table if vbn else self.ophys_experiment_table
        if ids is None:
            ids = sessions_table.index
        elif isinstance(ids, pd.DataFrame):
            ids = ids.index
        ids = [int(i) for i in ids]
        columns = (
            SESSION_COORDS
            if not vbn
            else [
                "behavior_session_id",
                "mouse_id",
                "genotype",
                "session_type",
                "experience_level",
                "image_set",
            ]
        )
        sessions = sessions_table.reindex(ids)[[c for c in columns if c in sessions_table]]
        frames = []
        for sid, group in self._each_group(kind, ids, table, load=True):
            frame = to_dataframe(group)
            frame.insert(0, key, sid)
            frame = frame.reset_index()
            extra = sessions.loc[[sid], [c for c in sessions if c not in frame]]
            frame = frame.join(extra, on=key)
            if query is not None:
                frame = frame[self._query_mask(frame, query, f"{table} of {key} {sid}")]
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out.index.name = "event"
        return out

    def _query_mask(self, frame: pd.DataFrame, query: str, where: str) -> np.ndarray:
        """Rows of ``frame`` where ``query`` holds (``<NA>`` as False)."""
        try:
            mask = frame.eval(query)
        except Exception as err:  # pandas raises many kinds (UndefinedVariableError, SyntaxError...)
            raise QueryError(
                f"{self.url}: expected a query over the columns {list(frame.columns)} of the "
                f"{where}; {query!r} failed: {err}"
            ) from err
        if not (isinstance(mask, pd.Series) and mask.index.equals(frame.index)):
            raise QueryError(
                f"{self.url}: expected {query!r} to give one True/False per row of the {where}; "
                f"it gave {type(mask).__name__}"
            )
        return mask.fillna(False).to_numpy(dtype=bool)

    def units(self, ids: Iterable[int] | pd.DataFrame | None = None) -> xr.Dataset:
        """The ``units`` of many Neuropixels sessions in one lazy Dataset.

        Units are concatenated along ``unit_id`` with ``ecephys_session_id`` (and their probe,
        area and CCF columns) as labels; ``spike_times`` stay flat over ``spike`` with
        each unit's start and end offsets (``spike_times_start_index``, ``spike_times_index``)
        shifted, so each unit is still one contiguous slice and any selection of the result
        finds its own spikes. Only the small per-unit columns are read.
        """
        if ids is None:
            ids = self.ecephys_session_table.index
        elif isinstance(ids, pd.DataFrame):
            ids = ids.index
        per_unit, per_spike, offset = [], [], 0
        for sid, units in self._each_group("ecephys_session", [int(i) for i in ids], "units"):
            starts, ends = row_offsets(units, "spike_times")
            one = units[[v for v in units.data_vars if units[v].dims == ("unit_id",)]]
            for name, values in (("spike_times_start_index", starts), ("spike_times_index", ends)):
                one[name] = ("unit_id", values + offset, units[name].attrs)
            per_unit.append(one.assign_coords(ecephys_session_id=("unit_id", np.full(len(ends), sid))))
            per_spike.append(units[[v for v in units.data_vars if units[v].dims == ("spike",)]])
            offset += units.sizes["spike"]
        if not per_unit:
            raise ManifestError(f"{self.url}: expected at least one ecephys session id")
        return xr.merge(
            [
                xr.concat(per_unit, dim="unit_id", join="outer"),
                xr.concat(per_spike, dim="spike", join="outer"),
            ]
        )

    def get_ecephys_session_table(self, filter_abnormalities: bool = True) -> pd.DataFrame:
        """The Neuropixels session table as the AllenSDK's project cache returns it: by default
        without the sessions whose histology or activity was flagged abnormal
        (``abnormal_histology`` or ``abnormal_activity`` not empty); ``ecephys_session_table``
        holds every session."""
        table = self.ecephys_session_table
        return filters.filter_abnormalities(table) if filter_abnormalities else table

    def describe(self) -> str:
        """A short text summary: dataset, tables and their sizes, stores by kind."""
        stores = self.stores
        lines = [
            f"vbzarr project {self.url} ({self.dataset}, schema "
            f"{self.manifest.attrs['vbzarr_schema_version']}, snapshot {self.snapshot_id}"
            + (f", version {self.version}" if self.version else "")
            + ")"
        ]
        lines += [f"  {name}: {self.manifest.group[name].attrs['rows']} rows" for name in self.table_names]
        lines += [f"  {kind} stores: {n}" for kind, n in stores["kind"].value_counts().items()]
        return "\n".join(lines)

    def describe_history(self, limit: int = 20) -> str:
        """The latest commits (snapshot id, time, message) and the tags."""
        tags: dict[str, list[str]] = {}
        for tag, snapshot in self.tags.items():
            tags.setdefault(snapshot, []).append(tag)
        lines = []
        for info in self.history()[:limit]:
            named = f" [{', '.join(tags[info.id])}]" if info.id in tags else ""
            lines.append(f"  {info.id}  {info.written_at:%Y-%m-%d %H:%M:%S}  {info.message}{named}")
        return "history (newest first):\n" + "\n".join(lines)

    def __repr__(self) -> str:
        return self.describe()


def open_project(
    url: str | os.PathLike, *, version: str | None = None, storage_options: dict[str, Any] | None = None
) -> Project:
    """Open a vbzarr project (folder or bucket prefix) written by ``vbzarr convert``.

    The project is read at one snapshot: the branch tip when opened (default), a tag (a release,
    e.g. ``"v1.0.1"``) or a snapshot id; conversions committing meanwhile do not change what it
    reads. Opening reads the repository's configuration, branch and snapshot (every group's
    metadata), whatever the number of sessions; tables are read on first use and stores when
    asked for.

    Parameters
    ----------
    url
        Local path or ``s3://bucket/prefix``.
    version
        A tag or snapshot id (see ``vbzarr info URL``); default the latest commit.
    storage_options
        fsspec-style options, e.g. ``{"anon": True}`` or ``{"client_kwargs": {"endpoint_url": ...}}``.

    Raises
    ------
    ProjectNotFoundError
        No vbzarr project at ``url``, or no such version.
    SchemaVersionError
        The project was written by another vbzarr schema.

    Examples
    --------
    >>> project = vbzarr.open_project("s3://bucket/vbo", storage_options={"anon": True})  # doctest: +SKIP
    >>> project.ophys_experiment_table.query("cre_line == 'Vip-IRES-Cre'")  # doctest: +SKIP
    >>> release = vbzarr.open_project("s3://bucket/vbo", version="v1.0.1")  # doctest: +SKIP
    """
    url = str(url)
    repo = open_repository(url, storage_options)
    session = readonly_session(repo, version, url)
    return Project(url, repo, session, open_manifest(session.store, url), storage_options, version)

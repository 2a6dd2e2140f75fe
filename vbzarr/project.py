"""A converted project: its versions, tables and stores by id, and lazy views across sessions.

:class:`Project` is the one class users see; this module is its core (snapshot, history, tags,
tables, store index, stores kept open and read concurrently); its views across sessions come from
:mod:`vbzarr.traces`, :mod:`vbzarr.events`, :mod:`vbzarr.units`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import icechunk
import pandas as pd
import xarray as xr
import zarr
import zarr.api.asynchronous
from zarr.core.sync import sync

from . import behavior_signals, filters, performance, summary
from . import events as _events
from . import traces as _traces
from . import units as _units
from .errors import ManifestError, StoreNotFoundError
from .manifest import Manifest, open_manifest, store_records, stores_table
from .repository import open_repository, readonly_session
from .schema import store_folder
from .sessions import SessionIds
from .store import READ_CONFIG, check_schema, concurrently
from .store_tree import open_store_tree

#: Name of the store index among the project's tables.
STORES = "stores"

#: Stores whose opened root group a project keeps, so that a session's groups open without opening
#: it again (its metadata comes from the snapshot). Least recently used go first.
OPEN_STORES = 32

#: Sessions whose tables ``events_table`` reads at once, concurrently (on object storage, a
#: round trip for them all rather than one per column); memory holds their whole tables.
SESSIONS_PER_READ = 8


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
        self.url, self.repository, self.session, self.manifest = url, repository, session, manifest
        self.storage_options, self.version = storage_options, version
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
        manifest = self.__dict__.get("manifest")
        if name.startswith("_") or manifest is None or name not in manifest.table_names:
            raise AttributeError(name)
        return self.table(name)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.table_names]

    @property
    def stores(self) -> pd.DataFrame:
        """The store index, one row per store, from the stores' root attributes (no chunk read)."""
        if STORES not in self._tables:
            self._tables[STORES] = stores_table(store_records(self.session.store))
        return self._tables[STORES].copy()

    def history(self) -> list[icechunk.SnapshotInfo]:
        """Commits up to this snapshot, newest first; ``open_project(url, version=id)`` opens any."""
        return list(self.repository.ancestry(snapshot_id=self.snapshot_id))

    @property
    def tags(self) -> dict[str, str]:
        """The project's tags (releases) and the snapshot each names."""
        return {t: self.repository.lookup_tag(t) for t in sorted(self.repository.list_tags())}

    def store(self, kind: str, store_id: int) -> xr.DataTree:
        """The store of ``kind`` (``ophys_experiment``, ``behavior_session``, ``ecephys_session``)."""
        path = self._store_path(kind, store_id)
        tree = open_store_tree(self.session.store, path)
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
        their roots opened, and with ``load`` their variables read, concurrently. The views across
        sessions read their stores through it."""
        for a in range(0, len(store_ids), SESSIONS_PER_READ):
            batch = store_ids[a : a + SESSIONS_PER_READ]
            datasets = self._groups(kind, batch, group, dask=False, indexes=indexes)
            if load:  # every variable read in place
                try:
                    concurrently(ds.load_async() for ds in datasets)
                except NotImplementedError:  # xarray 2025.8 cannot load some decoded variables so
                    for ds in datasets:
                        ds.load()
            yield from zip(batch, datasets, strict=True)

    def _roots(self, paths: list[str]) -> list[zarr.Group]:
        """The root groups of the stores at ``paths``: kept ones reused, the others opened
        concurrently (one round trip on object storage, not one per store)."""
        with self._open_stores_lock:
            missing = list(dict.fromkeys(p for p in paths if p not in self._open_stores))
            roots = concurrently(
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
        path = f"{store_folder(kind)}/{int(store_id)}"
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

    def cell_traces(self, ids: SessionIds = None, variable: str = "dff") -> xr.DataArray:
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
        return _traces.cell_traces(self, ids, variable)

    def dff(self, ids: SessionIds = None) -> xr.DataArray:
        """``cell_traces(ids, "dff")``: dF/F of every cell of the experiments, cells matched."""
        return self.cell_traces(ids, "dff")

    def events_table(
        self,
        ids: SessionIds = None,
        table: str = "stimulus_presentations",
        query: str | None = None,
        engagement: bool = False,
        kind: str | None = None,
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
        engagement
            Add the column ``engaged`` (:func:`vbzarr.engaged_trials`, :func:`vbzarr.engaged_presentations`)
            before the query, which may use it (``"is_change and engaged"``).
        kind
            ``"behavior_session"``: training sessions (ids of ``behavior_session_table``; default
            every training session's store), labelled by ``behavior_session_id``.

        Raises
        ------
        QueryError
            ``query`` does not evaluate on a session's table (the message names the session).

        Examples
        --------
        >>> changes = project.events_table(sel, "stimulus_presentations", query="is_change")  # doctest: +SKIP
        """
        return _events.events_table(self, ids, table, query, engagement, kind)

    def units(self, ids: SessionIds = None) -> xr.Dataset:
        """The ``units`` of many Neuropixels sessions in one lazy Dataset.

        Units are concatenated along ``unit_id`` with ``ecephys_session_id`` (and their probe,
        area and CCF columns) as labels; ``spike_times`` stay flat over ``spike`` with
        each unit's start and end offsets (``spike_times_start_index``, ``spike_times_index``)
        shifted, so each unit is still one contiguous slice and any selection of the result
        finds its own spikes. Only the small per-unit columns are read.
        """
        return _units.concat_units(self, ids)

    def get_ecephys_session_table(self, filter_abnormalities: bool = True) -> pd.DataFrame:
        """The Neuropixels sessions as the AllenSDK's cache returns them: by default without those
        flagged ``abnormal_histology`` or ``abnormal_activity`` (``ecephys_session_table``: all)."""
        table = self.ecephys_session_table
        return filters.filter_abnormalities(table) if filter_abnormalities else table

    def describe(self) -> str:
        """A short text summary: dataset, tables and their sizes, stores by kind."""
        return summary.describe_project(self)

    def describe_history(self, limit: int = 20) -> str:
        """The latest commits (snapshot id, time, message) and the tags."""
        return summary.describe_history(self.history()[:limit], self.tags)

    def behavior_signal(self, signal: str, ids: SessionIds = None, kind: str | None = None) -> xr.DataArray:
        """``running_speed``, ``pupil_area``, ``pupil_diameter`` or ``lick_rate`` of many sessions in
        one lazy array, for :func:`vbzarr.align` (:mod:`vbzarr.behavior_signals`); ``kind``:
        ``behavior_session`` for the training sessions (learning curves); default the project's."""
        return behavior_signals.behavior_signal(self, signal, ids, kind)

    def performance_metrics(self, ids: SessionIds = None, kind: str | None = None) -> pd.DataFrame:
        """:func:`vbzarr.performance_metrics` of each session, one row each (``kind``:
        ``behavior_session`` for the training sessions; default the project's sessions)."""
        return performance.performance_table(self, ids, kind)

    __repr__ = describe


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

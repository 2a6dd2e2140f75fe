"""A converted project: its AllenSDK tables, its stores by id, and lazy views across sessions."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ManifestError, StoreNotFoundError
from .manifest import STORES, Manifest, open_manifest
from .schema import STORE_FOLDERS
from .store import open_store, to_dataframe
from .urls import join, object_storage_options

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


class Project:
    """A vbzarr project opened from a folder or bucket prefix (see :func:`open_project`).

    The manifest's tables are attributes (``ophys_experiment_table``, ``unit_table``, ...),
    read on first use; stores open lazily by id.
    """

    def __init__(self, url: str, manifest: Manifest, storage_options: dict | None = None) -> None:
        self.url = url
        self.manifest = manifest
        self.storage_options = storage_options
        self._tables: dict[str, pd.DataFrame] = {}

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
        if name not in self._tables:
            if name not in (*self.table_names, STORES):
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
        """The store index: one row per store (kind, id, source, checksum, group shapes...)."""
        return self.table(STORES)

    # -- stores --------------------------------------------------------------------------------
    def store(self, kind: str, store_id: int) -> xr.DataTree:
        """The store of ``kind`` (``ophys_experiment``, ``behavior_session``, ``ecephys_session``)."""
        path = f"{STORE_FOLDERS[kind + '_id']}/{int(store_id)}.zarr"
        if path not in self._store_paths:
            raise StoreNotFoundError(
                f"{self.url}: no {kind} {store_id} in the manifest ({len(self._store_paths)} stores)"
            )
        try:
            return open_store(join(self.url, path), storage_options=self.storage_options)
        except StoreNotFoundError as err:
            raise ManifestError(
                f"{self.url}: the manifest lists {path}, but the store is missing ({err}). "
                "Re-run `vbzarr convert` to repair the project."
            ) from err

    def group(self, kind: str, store_id: int, group: str, dask: bool = True) -> xr.Dataset:
        """One group of one store as a lazy Dataset (cheaper than the whole tree: on object
        storage it reads the group's metadata and index coordinates only).

        ``dask=False`` gives lazily indexed numpy-backed variables: for small tables and
        coordinates, reading them then costs no task-graph overhead.
        """
        path = f"{STORE_FOLDERS[kind + '_id']}/{int(store_id)}.zarr"
        if path not in self._store_paths:
            raise StoreNotFoundError(
                f"{self.url}: no {kind} {store_id} in the manifest ({len(self._store_paths)} stores)"
            )
        url = join(self.url, path)
        try:
            return xr.open_zarr(
                url,
                group=group,
                consolidated=True,
                zarr_format=3,
                chunks={} if dask else None,
                storage_options=object_storage_options(url, self.storage_options) if "://" in url else None,
            )
        except FileNotFoundError as err:
            raise ManifestError(
                f"{self.url}: expected group {group!r} in {path} (listed by the manifest); it is "
                f"missing ({err}). Re-run `vbzarr convert` to repair the project."
            ) from err

    @functools.cached_property
    def _store_paths(self) -> set[str]:
        return set(self.stores.index)

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
        cells (a cell missing from an experiment is NaN there) and frames padded with NaN to the
        longest experiment. ``time`` is a coordinate over ``(ophys_experiment_id, frame)``, since
        sessions have their own clocks and rates; the experiment table's columns (cre line,
        session type, experience level, ...) are coordinates over ``ophys_experiment_id``.
        Nothing but coordinates is read.

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
        parts = []
        for eid in ids:
            ophys = self.group("ophys_experiment", eid, "ophys", dask=False)
            if variable not in ophys:
                raise ManifestError(
                    f"{self.url}: experiment {eid} has no {variable!r}; it has {sorted(ophys.data_vars)}"
                )
            keep = ~np.isnan(np.asarray(ophys.cell_specimen_id.values, dtype=float))
            # Only the trace becomes a dask array (on its stored chunks); coordinates are read
            # directly, without a task graph.
            trace = ophys[variable].chunk(
                dict(zip(ophys[variable].dims, ophys[variable].encoding["chunks"], strict=True))
            )
            var = trace.isel(cell_specimen_id=np.flatnonzero(keep))
            parts.append(
                xr.DataArray(
                    var.data,
                    dims=("cell_specimen_id", "frame"),
                    coords={
                        "cell_specimen_id": var.cell_specimen_id.values.astype(np.int64),
                        "cell_roi_id": ("cell_specimen_id", var.cell_roi_id.values.astype(np.float64)),
                        "time": ("frame", ophys.time.values),
                        "frame": np.arange(ophys.sizes["time"]),
                    },
                    name=variable,
                    attrs=ophys[variable].attrs,
                )
            )
        out = xr.concat(
            parts,
            dim=pd.Index(ids, name="ophys_experiment_id"),
            join="outer",
            fill_value=np.nan,
            coords="different",
            compat="equals",
        )
        return out.assign_coords(self._session_coords(ids))

    def dff(self, ids: Iterable[int] | pd.DataFrame | None = None) -> xr.DataArray:
        """``cell_traces(ids, "dff")``: dF/F of every cell of the experiments, cells matched."""
        return self.cell_traces(ids, "dff")

    def events_table(
        self, ids: Iterable[int] | pd.DataFrame | None = None, table: str = "stimulus_presentations"
    ) -> pd.DataFrame:
        """``stimulus_presentations`` or ``trials`` of many sessions in one DataFrame.

        Rows keep their table index as a column and gain the session id (``ophys_experiment_id``
        in VBO, ``ecephys_session_id`` in VBN) plus the session table's columns, ready for
        :func:`vbzarr.align` / :func:`vbzarr.spike_counts` and ``groupby``.
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
        frames = []
        for sid in ids:
            frame = to_dataframe(self.group(kind, sid, table, dask=False))
            frame.insert(0, key, sid)
            frames.append(frame.reset_index())
        out = pd.concat(frames, ignore_index=True)
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
        extra = sessions_table.reindex(ids)[[c for c in columns if c in sessions_table and c not in out]]
        out = out.join(extra, on=key)
        out.index.name = "event"
        return out

    def units(self, ids: Iterable[int] | pd.DataFrame | None = None) -> xr.Dataset:
        """The ``units`` of many Neuropixels sessions in one lazy Dataset.

        Units are concatenated along ``unit_id`` with ``ecephys_session_id`` (and their probe,
        area and CCF columns) as labels; ``spike_times`` stay flat over ``spike`` with
        ``spike_times_index`` shifted, so each unit is still one contiguous slice. Only the
        small per-unit columns are read.
        """
        if ids is None:
            ids = self.ecephys_session_table.index
        elif isinstance(ids, pd.DataFrame):
            ids = ids.index
        per_unit, per_spike, offset = [], [], 0
        for sid in (int(i) for i in ids):
            units = self.group("ecephys_session", sid, "units", dask=False)
            ends = units["spike_times_index"].values.astype(np.int64)
            one = units[[v for v in units.data_vars if units[v].dims == ("unit_id",)]]
            one["spike_times_index"] = ("unit_id", ends + offset, units["spike_times_index"].attrs)
            per_unit.append(one.assign_coords(ecephys_session_id=("unit_id", np.full(len(ends), sid))))
            per_spike.append(units[[v for v in units.data_vars if units[v].dims == ("spike",)]])
            offset += int(ends[-1]) if len(ends) else 0
        if not per_unit:
            raise ManifestError(f"{self.url}: expected at least one ecephys session id")
        return xr.merge(
            [
                xr.concat(per_unit, dim="unit_id", join="outer"),
                xr.concat(per_spike, dim="spike", join="outer"),
            ]
        )

    def describe(self) -> str:
        """A short text summary: dataset, tables and their sizes, stores by kind."""
        stores = self.stores
        lines = [
            f"vbzarr project {self.url} ({self.dataset}, schema "
            f"{self.manifest.attrs['vbzarr_schema_version']})"
        ]
        lines += [f"  {name}: {self.manifest.group[name].attrs['rows']} rows" for name in self.table_names]
        lines += [f"  {kind} stores: {n}" for kind, n in stores["kind"].value_counts().items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.describe()


def open_project(url: str | os.PathLike, *, storage_options: dict[str, Any] | None = None) -> Project:
    """Open a vbzarr project (folder or bucket prefix) written by ``vbzarr convert``.

    Reads one object (the manifest's consolidated ``zarr.json``); tables are read on first use
    and stores when asked for.

    Parameters
    ----------
    url
        Local path or fsspec URL (``s3://bucket/vbo``).
    storage_options
        fsspec options, e.g. ``{"anon": True}`` or ``{"client_kwargs": {"endpoint_url": ...}}``.

    Raises
    ------
    ProjectNotFoundError
        No ``manifest.zarr`` at ``url``.
    SchemaVersionError
        The project was written by a newer vbzarr.

    Examples
    --------
    >>> project = vbzarr.open_project("s3://bucket/vbo", storage_options={"anon": True})  # doctest: +SKIP
    >>> project.ophys_experiment_table.query("cre_line == 'Vip-IRES-Cre'")  # doctest: +SKIP
    """
    url = str(url)
    return Project(url, open_manifest(url, storage_options), storage_options)

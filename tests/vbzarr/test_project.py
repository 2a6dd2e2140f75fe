"""Projects: tables equal the CSVs (AllenSDK conventions), stores by id, cross-session views,
incremental re-runs, errors; and the same on a real S3 API (moto's server on 127.0.0.1)."""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from dask.callbacks import Callback
from dask.sizeof import sizeof

import vbzarr
from tests.conftest import REFERENCE, _converted, reference_files
from vbzarr.convert.project import convert_project
from vbzarr.convert.release import TABLES, read_table
from vbzarr.errors import ManifestError, ProjectNotFoundError, SchemaVersionError


@pytest.fixture(scope="module")
def project_url(vbo_converted):
    return vbo_converted


def test_tables_equal_source_csvs(project_url, vbo_project):
    project = vbzarr.open_project(project_url)
    assert project.dataset == "visual-behavior-ophys"
    meta = vbo_project.root / "project_metadata"
    for name, (csv, index) in TABLES["visual-behavior-ophys"].items():
        table = getattr(project, name)
        raw = pd.read_csv(meta / csv, dtype={"mouse_id": str})
        assert table.index.name == index
        np.testing.assert_array_equal(table.index.to_numpy(dtype=np.int64), raw[index].to_numpy())
        assert set(table.columns) == set(raw.columns) - {index}
        for col in table.columns:
            values = raw[col]
            if values.map(lambda v: isinstance(v, str) and v.startswith("[")).any():
                expected = [ast.literal_eval(v) if isinstance(v, str) else None for v in values]
                assert [v if isinstance(v, list) else None for v in table[col]] == expected
            elif col == "date_of_acquisition":
                assert (table[col].to_numpy() == pd.to_datetime(values, utc=True).to_numpy()).all()
            else:
                np.testing.assert_array_equal(
                    table[col].astype(object).where(table[col].notna(), None).to_numpy(),
                    values.astype(object).where(values.notna(), None).to_numpy(),
                    err_msg=col,
                )
    # AllenSDK dtypes: nullable ints, UTC datetimes, str mouse ids, lists.
    exp = project.ophys_experiment_table
    assert str(exp["date_of_acquisition"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(exp["session_number"].dtype, pd.Int64Dtype)
    assert isinstance(exp["driver_line"].iloc[0], list)
    assert isinstance(exp["mouse_id"].iloc[0], str)


@pytest.mark.skipif(not reference_files(), reason="../shared/reference-nwb is absent")
@pytest.mark.parametrize("dataset", list(TABLES))
def test_reference_csvs_roundtrip_through_manifest(tmp_path, dataset):
    folder = {
        "visual-behavior-ophys": "visual-behavior-ophys",
        "visual-behavior-neuropixels": "visual-behavior-neuropixels-0.5.0",
    }[dataset]
    meta = REFERENCE / folder / "project_metadata"
    tables = {
        name: read_table(str(meta / csv), name, index, dataset)
        for name, (csv, index) in TABLES[dataset].items()
    }
    from vbzarr.convert.commits import commit_manifest, open_or_create

    commit_manifest(
        open_or_create(str(tmp_path)), str(tmp_path), tables, {"dataset": dataset, "source": str(meta)}
    )
    project = vbzarr.open_project(tmp_path)
    for name, expected in tables.items():
        got = project.table(name)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        # Every float of the release CSV, bit for bit (JSON kept 10 significant digits).
        raw = pd.read_csv(meta / TABLES[dataset][name][0])
        for col in raw.columns[(raw.dtypes == np.float64).to_numpy()]:
            values = got[col] if col in got else got.index.to_series()
            np.testing.assert_array_equal(
                values.to_numpy(dtype=np.float64, na_value=np.nan).view(np.uint64),
                raw[col].to_numpy().view(np.uint64),
                col,
            )
    if dataset == "visual-behavior-neuropixels":
        assert isinstance(project.ecephys_session_table["structure_acronyms"].iloc[0], list)


def test_stores_by_id_equal_single_store_reads(project_url, vbo_project, tmp_path):
    from vbzarr.convert import convert_nwb

    project = vbzarr.open_project(project_url)
    eid = int(vbo_project.ophys_experiment_table.index[0])
    tree = project.ophys_experiment(eid)
    convert_nwb(vbo_project.experiment_path(eid), tmp_path / "one.zarr")
    direct = vbzarr.open_store(tmp_path / "one.zarr")
    np.testing.assert_array_equal(tree["ophys"]["dff"].values, direct["ophys"]["dff"].values)
    bid = int(vbo_project.behavior_session_table.query("ophys_session_id.isna()").index[0])
    assert project.behavior_session(bid).attrs["kind"] == "behavior_session"
    with pytest.raises(vbzarr.StoreNotFoundError, match="no ophys_experiment 1 in this project"):
        project.ophys_experiment(1)


def test_plain_zarr_and_xarray_read_the_project(project_url, vbo_project):
    """The project is plain Zarr in an Icechunk repository: xarray opens it without vbzarr."""
    import icechunk

    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(project_url))
    store = repo.readonly_session("main").store
    eid = int(vbo_project.ophys_experiment_table.index[0])
    ophys = xr.open_zarr(store, group=f"ophys_experiments/{eid}/ophys", consolidated=False)
    tree = xr.open_datatree(store, group=f"ophys_experiments/{eid}", engine="zarr", consolidated=False)
    mine = vbzarr.open_project(project_url).ophys_experiment(eid)
    np.testing.assert_array_equal(ophys["dff"].values, mine["ophys"]["dff"].values)
    assert ophys["time"].dtype == np.float64
    assert set(tree.children) == set(mine.children)
    assert tree.attrs["kind"] == "ophys_experiment"


def test_project_pickles_after_use(project_url):
    """A project that has opened stores still pickles (dask sends it to workers); the copy
    opens its own."""
    project = vbzarr.open_project(project_url)
    ids = project.ophys_experiment_table.index
    dff = project.dff(ids).values
    copy = pickle.loads(pickle.dumps(project))
    assert not copy._open_stores
    np.testing.assert_array_equal(copy.dff(ids).values, dff)
    assert len(copy._open_stores) == len(ids)


def test_few_kept_stores_and_small_batches_read_the_same(project_url, monkeypatch):
    """Stores' roots beyond ``OPEN_STORES`` are let go, tables read ``SESSIONS_PER_READ`` at a
    time: same views and tables as with the defaults."""
    default = vbzarr.open_project(project_url)
    ids = default.ophys_experiment_table.index
    dff, trials = default.dff(ids).values, default.events_table(ids, "trials")
    assert len(default._open_stores) == len(ids)
    module = sys.modules["vbzarr.project"]
    monkeypatch.setattr(module, "OPEN_STORES", 1)
    monkeypatch.setattr(module, "SESSIONS_PER_READ", 1)
    small = vbzarr.open_project(project_url)
    np.testing.assert_array_equal(small.dff(ids).values, dff)
    assert len(small._open_stores) == 1
    pd.testing.assert_frame_equal(small.events_table(ids, "trials"), trials)


def test_cross_session_view_matches_cells(project_url, vbo_project):
    project = vbzarr.open_project(project_url)
    table = project.ophys_experiment_table
    container = table.ophys_container_id.iloc[0]
    sel = table[table.ophys_container_id == container]
    dff = project.dff(sel)
    assert dff.dims == ("ophys_experiment_id", "cell_specimen_id", "frame")
    assert dff.chunks is not None  # lazy
    cells = vbo_project.ophys_cells_table
    for eid in sel.index:
        store = project.ophys_experiment(eid)["ophys"]
        own = set(cells[cells.ophys_experiment_id == eid].cell_specimen_id)
        assert set(store.cell_specimen_id.values) == own
        for csid in dff.cell_specimen_id.values:
            row = dff.sel(ophys_experiment_id=eid, cell_specimen_id=csid).values
            roi = dff.cell_roi_id.sel(ophys_experiment_id=eid, cell_specimen_id=csid).item()
            if csid in own:
                n = store.sizes["time"]
                np.testing.assert_array_equal(row[:n], store["dff"].sel(cell_specimen_id=csid).values)
                assert np.isnan(row[n:]).all()
                # The integer id itself (float64 would round ids above 2**53).
                assert type(roi) is int and roi == store.cell_roi_id.sel(cell_specimen_id=csid).values.item()
            else:
                assert np.isnan(row).all()  # missing from this session: NaN
                assert roi is None
    assert (dff.cre_line.values == sel.cre_line.to_numpy()).all()
    events = project.events_table(sel, "trials")
    assert set(events.ophys_experiment_id) == set(sel.index)
    assert "experience_level" in events


@pytest.mark.parametrize(
    ("table", "query", "mask"),
    [
        ("stimulus_presentations", "is_change", lambda f: f.is_change.fillna(False).astype(bool)),
        (
            "stimulus_presentations",
            "omitted and experience_level == 'Familiar'",
            lambda f: f.omitted.fillna(False).astype(bool) & (f.experience_level == "Familiar"),
        ),
        ("trials", "go and hit", lambda f: f.go & f.hit),
    ],
)
def test_events_table_query_equals_filtering_the_whole_table(project_url, table, query, mask):
    """A query applied per session as it is read keeps the same rows, columns and dtypes as
    filtering the concatenated table (session-table columns and <NA> flags included)."""
    project = vbzarr.open_project(project_url)
    ids = project.ophys_experiment_table.index
    whole = project.events_table(ids, table)
    expected = whole[mask(whole).to_numpy()].reset_index(drop=True).rename_axis("event")
    got = project.events_table(ids, table, query=query)
    assert 0 < len(got) < len(whole)
    pd.testing.assert_frame_equal(got, expected)


def test_events_table_bad_query_names_the_session(project_url):
    project = vbzarr.open_project(project_url)
    eid = int(project.ophys_experiment_table.index[0])
    with pytest.raises(vbzarr.QueryError, match=rf"trials of ophys_experiment_id {eid}.*no_such_column"):
        project.events_table([eid], "trials", query="no_such_column > 1")
    with pytest.raises(vbzarr.QueryError, match="one True/False per row"):
        project.events_table([eid], "trials", query="1 + 1")


def test_cross_session_times_are_lazy_and_not_held_by_an_aligned_graph(project_url):
    """A view's ``time`` is read where it is used: it equals each store's times (NaN past their
    end), and an aligned graph over the sessions holds no copy of them, so memory does not grow
    with the times of every session aligned."""
    project = vbzarr.open_project(project_url)
    table = project.ophys_experiment_table
    sel = table[table.ophys_container_id == table.ophys_container_id.iloc[0]]
    dff = project.dff(sel)
    assert dff["time"].chunks is not None  # lazy
    own = {eid: project.ophys_experiment(eid)["ophys"]["time"].values for eid in sel.index}
    for eid, t in own.items():
        row = dff["time"].sel(ophys_experiment_id=eid).values
        np.testing.assert_array_equal(row[: len(t)], t)
        assert np.isnan(row[len(t) :]).all()
    changes = project.events_table(sel, query="is_change")
    resp = vbzarr.align(dff, changes, window=(-0.5, 1.0), rate=20.0)
    graph = pickle.dumps(dict(resp.data.__dask_graph__()))
    for t in own.values():
        assert t[len(t) // 2 : len(t) // 2 + 64].tobytes() not in graph
    expected = vbzarr.align(dff.assign_coords(time=dff["time"].compute()), changes, (-0.5, 1.0), rate=20.0)
    np.testing.assert_array_equal(resp.values, expected.values)


def test_aligned_cells_keep_their_own_stored_coordinates_under_a_selection(project_url):
    """A reordered subset of a store's cells, aligned: every cell coordinate (read lazily from the
    store, all at once) is the selected cells' own, and the values equal aligning the same cells
    loaded into memory first."""
    project = vbzarr.open_project(project_url)
    eid = project.ophys_experiment_table.index[1]
    dff = project.ophys_experiment(eid)["ophys"]["dff"]
    cells = dff.cell_specimen_id.values[::-2]  # every other cell, last first
    picked = dff.sel(cell_specimen_id=cells)
    lazy = [k for k, v in picked.coords.items() if v.dims == ("cell_specimen_id",) and v.chunks is not None]
    assert lazy  # the stored cell-table columns
    changes = project.events_table([eid], query="is_change")
    resp = vbzarr.align(picked, changes, window=(-0.5, 1.0), rate=20.0)
    loaded = picked.compute()
    for k in lazy:
        np.testing.assert_array_equal(resp[k].values, loaded[k].values)
        one = dff.sel(cell_specimen_id=cells[-1])[k].values  # a cell's value, read alone
        np.testing.assert_array_equal(resp[k].sel(cell_specimen_id=cells[-1]).values, one)
    expected = vbzarr.align(loaded, changes, window=(-0.5, 1.0), rate=20.0)
    np.testing.assert_array_equal(resp.values, expected.values)


def test_cross_session_alignment_equals_each_session_alone(project_url):
    """Aligning the container view equals aligning each store alone, cell by cell; a cell an
    experiment lacks is NaN for that experiment's events."""
    project = vbzarr.open_project(project_url)
    table = project.ophys_experiment_table
    sel = table[table.ophys_container_id == table.ophys_container_id.iloc[0]]
    events = project.events_table(sel)
    changes = events[events.is_change.fillna(False).astype(bool)]
    resp = vbzarr.align(project.dff(sel), changes, window=(-0.5, 1.0), rate=20.0).compute()
    assert resp.sizes["event"] == len(changes)
    assert (resp.ophys_experiment_id.values == changes.ophys_experiment_id.to_numpy()).all()
    for eid in sel.index:
        mine = np.flatnonzero(changes.ophys_experiment_id.to_numpy() == eid)
        alone = vbzarr.align(
            project.ophys_experiment(eid)["ophys"]["dff"], changes.iloc[mine], window=(-0.5, 1.0), rate=20.0
        )
        got = resp.isel(event=mine)
        np.testing.assert_array_equal(
            got.sel(cell_specimen_id=alone.cell_specimen_id.values).values, alone.values
        )
        others = np.setdiff1d(resp.cell_specimen_id.values, alone.cell_specimen_id.values)
        assert np.isnan(got.sel(cell_specimen_id=others).values).all()


@pytest.fixture(scope="module")
def multiscope_url(tmp_path_factory, vbo_multiscope):
    return _converted(tmp_path_factory, vbo_multiscope, "meso")


def _mean_by_image(project, sel) -> xr.DataArray:
    """Changes aligned and averaged per image over the experiments ``sel`` (one container: a
    step of align's docstring recipe)."""
    changes = project.events_table(sel, query="is_change")
    resp = vbzarr.align(project.dff(sel), changes, (-0.5, 1.0), rate=20.0)
    return resp.groupby("image_name").mean("event")


def test_per_mean_by_images_equal_one_align_over_containers(multiscope_url):
    """The recipe in align's docstring (each container aligned and reduced on its own, means
    concatenated) gives one align's means over the union of cells of every container."""
    project = vbzarr.open_project(multiscope_url)
    table = project.ophys_experiment_table
    assert table.ophys_container_id.nunique() == 2
    union = _mean_by_image(project, table).compute()
    means = [_mean_by_image(project, group) for _, group in table.groupby("ophys_container_id")]
    per = xr.concat(means, "cell_specimen_id", join="outer")
    per = per.compute().sel(cell_specimen_id=union.cell_specimen_id, image_name=union.image_name)
    assert np.isfinite(union.values).mean() > 0.9
    np.testing.assert_allclose(per.values, union.values, rtol=1e-12, atol=0)


class _HeldBytes(Callback):
    """The most bytes of task results dask holds at once while computing."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _posttask(self, key, result, dsk, state, id) -> None:
        self.peak = max(self.peak, sum(sizeof(v) for v in state["cache"].values()))


def test_average_over_containers_holds_one_containers_chunks(multiscope_url):
    """Memory is bounded by chunks, not sessions: computing the recipe's means over every
    container holds at most what one container alone holds, plus the means already made (in
    dask's own order, which the synchronous scheduler follows)."""
    project = vbzarr.open_project(multiscope_url)
    groups = [g for _, g in project.ophys_experiment_table.groupby("ophys_container_id")]
    alone = []
    for group in groups:
        with _HeldBytes() as held:
            _mean_by_image(project, group).compute(scheduler="sync")
        alone.append(held.peak)
    means = xr.concat([_mean_by_image(project, g) for g in groups], "cell_specimen_id", join="outer")
    with _HeldBytes() as held:
        result = means.compute(scheduler="sync")
    assert min(alone) > 4 * result.nbytes / len(groups)  # chunks, not the means, fill memory
    assert held.peak <= max(alone) + result.nbytes


def test_rerun_converts_only_new_or_changed(tmp_path, vbo_project):
    src = tmp_path / "src"
    shutil.copytree(vbo_project.root, src)
    dst = tmp_path / "dst"
    first = convert_project(str(src), str(dst))
    assert len(first.converted) == len(vbo_project.ophys_experiment_table) + 1
    again = convert_project(str(src), str(dst))
    assert again.converted == [] and len(again.skipped) == len(first.converted)
    eid = vbo_project.ophys_experiment_table.index[0]
    changed = src / "behavior_ophys_experiments" / f"behavior_ophys_experiment_{eid}.nwb"
    # Touched (same content, new time): nothing to do. New content: only it converts again,
    # as a new commit; the previous snapshot still reads the old version.
    os.utime(changed)
    assert convert_project(str(src), str(dst)).converted == []
    before = vbzarr.open_project(dst)
    changed.write_bytes(changed.read_bytes() + b"\0" * 64)  # HDF5 ignores bytes past its end
    third = convert_project(str(src), str(dst))
    assert third.converted == [str(changed)]
    after = vbzarr.open_project(dst)
    assert after.snapshot_id != before.snapshot_id
    old = vbzarr.open_project(dst, version=before.snapshot_id)
    assert (
        old.stores.loc[f"ophys_experiments/{eid}", "sha256"]
        != after.stores.loc[f"ophys_experiments/{eid}", "sha256"]
    )
    assert (
        before.ophys_experiment(eid)["ophys"]["dff"].shape
        == after.ophys_experiment(eid)["ophys"]["dff"].shape
    )


def test_bad_file_does_not_stop_the_batch(tmp_path, vbo_project):
    src = tmp_path / "src"
    shutil.copytree(vbo_project.root, src)
    bad = next((src / "behavior_ophys_experiments").glob("*.nwb"))
    bad.write_bytes(bad.read_bytes()[:1000])
    report = convert_project(str(src), str(tmp_path / "dst"))
    assert list(report.failed) == [str(bad)]
    assert "truncated" in report.failed[str(bad)]
    assert len(report.converted) == len(vbo_project.ophys_experiment_table)  # the others
    project = vbzarr.open_project(tmp_path / "dst")
    assert len(project.stores) == len(report.converted)


def test_cache_dir_above_release_is_found(tmp_path, vbo_project):
    cache = tmp_path / "cache"
    shutil.copytree(vbo_project.root, cache / "visual-behavior-ophys-1.1.0")
    report = convert_project(str(cache), str(tmp_path / "dst"))
    assert not report.failed and report.converted


def _commit_attrs(url, path, **attrs):
    """Change a group's attributes in a new commit of the project at ``url``."""
    import icechunk

    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(url)))
    session = repo.writable_session("main")
    zarr.open_group(session.store, path=path, mode="r+").attrs.update(attrs)
    session.commit(f"test: {path} attrs")


def test_errors_for_missing_project_store_and_versions(tmp_path, project_url):
    with pytest.raises(ProjectNotFoundError, match="expected a vbzarr project"):
        vbzarr.open_project(tmp_path / "nothing-here")
    (tmp_path / "a-file").write_text("not a project")
    with pytest.raises(ProjectNotFoundError, match="a-file: expected a vbzarr project .*; found a file"):
        vbzarr.open_project(tmp_path / "a-file")  # not Icechunk's panic
    project = vbzarr.open_project(project_url)
    eid = int(project.ophys_experiment_table.index[0])
    with pytest.raises(vbzarr.StoreNotFoundError, match="no ophys_experiment 1 in this project"):
        project.dff([eid, 1])
    with pytest.raises(ManifestError, match=r"expected group 'no_such_table' in .* it has \[.*'trials'"):
        project.events_table([eid], "no_such_table")
    with pytest.raises(ProjectNotFoundError, match="expected a tag"):
        vbzarr.open_project(project_url, version="v9.9")
    newer = tmp_path / "newer"
    shutil.copytree(project_url, newer)
    _commit_attrs(newer, "manifest", vbzarr_schema_version=vbzarr.SCHEMA_VERSION + 1)
    with pytest.raises(SchemaVersionError, match="Upgrade vbzarr"):
        vbzarr.open_project(newer)
    older = tmp_path / "older"
    shutil.copytree(project_url, older)
    # An older store (schema 1: units without start offsets, seconds tagged as a CF time unit):
    # refused with how to upgrade it, not read wrongly.
    _commit_attrs(older, f"ophys_experiments/{eid}", vbzarr_schema_version=1)
    with pytest.raises(SchemaVersionError, match=r"schema version 1; .* Re-convert it .*vbzarr convert"):
        vbzarr.open_project(older).ophys_experiment(eid)
    with pytest.raises(SchemaVersionError, match="schema version 1"):
        vbzarr.open_project(older).dff([eid])


@pytest.mark.s3
def test_s3_round_trip_and_get_counts(vbo_project, project_url):
    from vbzarr.testing.s3 import CountingS3Server

    with CountingS3Server() as s3:
        s3.make_bucket("public", public=True)
        s3.make_bucket("private")
        report = convert_project(
            str(vbo_project.root), "s3://public/vbo", storage_options=s3.storage_options(), tag="v1"
        )
        assert not report.failed
        s3.reset()
        project = vbzarr.open_project("s3://public/vbo", storage_options=s3.storage_options(anon=True))
        # The repository's config, branch and snapshot (every group's metadata), whatever its size.
        assert s3.count("GET") <= 5, s3.requests
        local = vbzarr.open_project(project_url)
        s3.reset()
        pd.testing.assert_frame_equal(project.ophys_experiment_table, local.ophys_experiment_table)
        assert s3.count("GET") <= 2  # the table's chunk manifest and its one chunk
        eid = int(project.ophys_experiment_table.index[0])
        np.testing.assert_array_equal(
            project.ophys_experiment(eid)["ophys"]["dff"].values,
            local.ophys_experiment(eid)["ophys"]["dff"].values,
        )
        # Cross-session reads: group metadata is in the snapshot; only chunks (and their
        # manifests) are fetched.
        ids = project.ophys_experiment_table.index
        s3.reset()
        dff, trials = project.dff(ids), project.events_table(ids, "trials")
        assert not any(path.endswith("zarr.json") for _, path in s3.requests)
        np.testing.assert_array_equal(dff.values, local.dff(ids).values)
        pd.testing.assert_frame_equal(trials, local.events_table(ids, "trials"))
        tagged = vbzarr.open_project(
            "s3://public/vbo", version="v1", storage_options=s3.storage_options(anon=True)
        )
        assert tagged.snapshot_id == project.snapshot_id
        import s3fs

        s3fs.S3FileSystem(**s3.storage_options()).copy("public/vbo", "private/vbo", recursive=True)
        credentialed = vbzarr.open_project("s3://private/vbo", storage_options=s3.storage_options())
        assert len(credentialed.stores) == len(project.stores)
        with pytest.raises(vbzarr.ProjectNotFoundError, match="there is none"):
            vbzarr.open_project("s3://private/nothing", storage_options=s3.storage_options())
        with pytest.raises(
            vbzarr.ProjectAccessError, match="check the bucket, the prefix and the credentials"
        ):
            vbzarr.open_project("s3://private/vbo", storage_options=s3.storage_options(anon=True))


def test_stores_table_records_provenance(project_url):
    stores = vbzarr.open_project(project_url).stores
    assert set(stores.kind) == {"ophys_experiment", "behavior_session"}
    assert stores.sha256.str.len().eq(64).all()
    assert all(isinstance(g, dict) and g for g in stores.groups)
    json.dumps(stores.groups.iloc[0])


def test_parallel_conversion_on_a_local_cluster(tmp_path, vbo_project):
    """workers=2 converts on a dask.distributed LocalCluster; same stores as sequentially."""
    parallel = convert_project(str(vbo_project.root), str(tmp_path / "par"), workers=2)
    assert not parallel.failed
    assert len(parallel.converted) == len(vbo_project.ophys_experiment_table) + 1
    a = vbzarr.open_project(tmp_path / "par")
    eid = int(a.ophys_experiment_table.index[0])
    convert_project(str(vbo_project.root), str(tmp_path / "seq"))
    b = vbzarr.open_project(tmp_path / "seq")
    np.testing.assert_array_equal(
        a.ophys_experiment(eid)["ophys"]["dff"].values, b.ophys_experiment(eid)["ophys"]["dff"].values
    )


def test_alignment_on_a_local_cluster_equals_threads(project_url):
    """The cross-session graph (stores read through zarrs' codec pipeline) runs on worker
    processes and gives the threaded scheduler's means."""
    from dask.distributed import Client, LocalCluster

    project = vbzarr.open_project(project_url)
    sel = project.ophys_experiment_table
    changes = project.events_table(sel, query="is_change")
    resp = vbzarr.align(project.dff(sel), changes, (-0.5, 1.0), rate=20.0)
    mean = resp.groupby("image_name").mean("event")
    local = mean.compute(scheduler="threads")
    assert np.isfinite(local.values).any()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        remote = mean.compute()
    np.testing.assert_array_equal(remote.values, local.values)


def test_events_of_training_sessions(project_url):
    """``kind="behavior_session"``: the trials of every training session's own store, labelled by
    ``behavior_session_id`` and the session table; a query per session; other kinds refused."""
    project = vbzarr.open_project(project_url)
    training = sorted(project.stores.query("kind == 'behavior_session'")["id"].astype(int))
    assert training
    trials = project.events_table(table="trials", kind="behavior_session")
    assert sorted(trials.behavior_session_id.unique()) == training
    for sid in training:
        own = vbzarr.to_dataframe(project.behavior_session(sid)["trials"])
        rows = trials[trials.behavior_session_id == sid].set_index("trials_id")
        pd.testing.assert_series_equal(rows.start_time, own.start_time)
    table = project.behavior_session_table
    assert (trials.session_type == table.loc[trials.behavior_session_id, "session_type"].to_numpy()).all()
    hits = project.events_table(training[:1], "trials", "hit", kind="behavior_session")
    assert len(hits) == int(trials[trials.behavior_session_id == training[0]].hit.sum()) > 0
    with pytest.raises(vbzarr.UsageError, match="expected kind 'ophys_experiment' or 'behavior_session'"):
        project.events_table(kind="ecephys_session")

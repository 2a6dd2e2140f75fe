"""A store's tree opened from its metadata read at once equals the tree xarray opens by listing
the store group by group: same groups, variables, attributes, chunks and values; its dask tasks
read whole stored chunks, a trace's whole recording where that stays small, and a slice still
reads only the stored chunks it covers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.core.sync import sync
from zarr.storage import WrapperStore

import vbzarr
from vbzarr.store_tree import TASK_BYTES, open_store_tree, read_metadata, task_chunks


@pytest.mark.parametrize("project_url", ["vbo_converted", "vbn_converted"])
def test_the_tree_equals_xarrays_own_open(project_url, request):
    project = vbzarr.open_project(request.getfixturevalue(project_url))
    for path in project.stores.index:
        ours = open_store_tree(project.session.store, path)
        metadata = sync(read_metadata(project.session.store, path))["consolidated_metadata"]["metadata"]
        chunks = task_chunks(metadata)
        plain = xr.open_datatree(
            project.session.store, group=path, engine="zarr", chunks=chunks, consolidated=False, zarr_format=3
        )
        xr.testing.assert_identical(ours, plain)  # groups, variables, coordinates, attributes
        for node in plain.subtree:
            for name, variable in node.dataset.variables.items():
                mine = ours[node.path].dataset.variables[name]
                assert mine.chunks == variable.chunks, (path, node.path, name)
                assert mine.encoding.get("chunks") == variable.encoding.get("chunks")
                stored = mine.encoding.get("chunks")
                if mine.chunks is None or stored is None:  # xarray 2025.8 drops it for text arrays
                    continue
                task = tuple(c[0] for c in mine.chunks)
                assert all(t % s == 0 or t == n for t, s, n in zip(task, stored, mine.shape, strict=True))
                if task != tuple(min(s, n) for s, n in zip(stored, mine.shape, strict=True)):
                    assert mine.dtype.itemsize * np.prod(task) <= TASK_BYTES


def test_task_chunks_read_a_dim_whole_only_where_every_array_along_it_stays_small():
    def array(dims, shape, chunks, dtype="float64"):
        grid = {"name": "regular", "configuration": {"chunk_shape": chunks}}
        return {"node_type": "array", "dimension_names": dims, "shape": shape, "chunk_grid": grid} | {
            "data_type": dtype
        }

    dff = array(["cell_specimen_id", "time"], [80, 139_492], [8, 16_384])
    time = array(["time"], [139_492], [65_536])
    assert task_chunks({"ophys/dff": dff, "ophys/time": time}) == {"time": -1}
    # A second array along time too large whole (an LFP's 64 channels for 3 hours at 2.5 kHz).
    lfp = array(["channel", "time"], [384, 27_000_000], [64, 65_536], "int16")
    assert task_chunks({"ophys/dff": dff, "lfp/data": lfp}) == {}
    # A dim that is not the last of a chunked array, or along a text array, keeps stored chunks.
    masks = array(["cell_specimen_id", "row", "column"], [80, 512, 512], [1, 512, 512], "bool")
    assert task_chunks({"images/roi_masks": masks}) == {}
    names = array(["stimulus_presentations_id"], [20_000], [4_096], "string")
    starts = array(["stimulus_presentations_id"], [20_000], [4_096])
    assert task_chunks({"p/stimulus_name": names, "p/start_time": starts}) == {}
    assert task_chunks({"p/start_time": starts}) == {"stimulus_presentations_id": -1}
    assert task_chunks({"g": {"node_type": "group"}}) == {}


class _Counting(WrapperStore):
    """The keys read through a store."""

    def __init__(self, store, keys=None):
        super().__init__(store)
        self.keys = [] if keys is None else keys

    def _with_store(self, store):
        return type(self)(store, self.keys)

    async def get(self, key, prototype, byte_range=None):
        self.keys.append(key)
        return await self._store.get(key, prototype, byte_range)


def test_a_task_reads_a_whole_trace_and_a_slice_only_the_stored_chunks_it_covers():
    rng = np.random.default_rng(0)
    dff = xr.DataArray(rng.normal(size=(4, 640)), dims=("cell_specimen_id", "time"), name="dff")
    ophys = dff.to_dataset().assign_coords(time=np.arange(640) / 30.0, cell_specimen_id=[5, 6, 7, 8])
    memory = zarr.storage.MemoryStore()
    xr.Dataset().to_zarr(memory, group="s", zarr_format=3, consolidated=False)
    encoding = {"dff": {"chunks": (2, 64)}}
    ophys.to_zarr(memory, group="s/ophys", encoding=encoding, zarr_format=3, consolidated=False)
    store = _Counting(memory)
    opened = open_store_tree(store, "s")["ophys"]["dff"]
    assert opened.chunks == ((2, 2), (640,))  # a task reads its cells' whole trace: 10 stored chunks
    xr.testing.assert_identical(opened.compute(), dff.assign_coords(ophys.coords))
    store.keys.clear()
    np.testing.assert_array_equal(opened[1:3, 69:73].values, dff.values[1:3, 69:73])
    assert sorted(k.rsplit("/dff/", 1)[-1] for k in store.keys) == ["c/0/1", "c/1/1"]


def test_the_tree_reads_values_and_pickles(vbo_converted):
    """Its arrays read the session's chunks through the view, in this process or after pickling
    (as a dask worker receives them)."""
    project = vbzarr.open_project(vbo_converted)
    eid = int(project.ophys_experiment_table.index[0])
    tree = project.ophys_experiment(eid)
    plain = xr.open_datatree(
        project.session.store, group=f"ophys_experiments/{eid}", engine="zarr", zarr_format=3
    )
    expected = plain["ophys"]["dff"].values
    np.testing.assert_array_equal(tree["ophys"]["dff"].values, expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tree["ophys"]["dff"])).values, expected)
    assert vbzarr.to_dataframe(tree["stimulus_presentations"]).equals(
        vbzarr.to_dataframe(plain["stimulus_presentations"])
    )


def test_a_missing_group_is_an_error(vbo_converted):
    project = vbzarr.open_project(vbo_converted)
    with pytest.raises(FileNotFoundError, match="ophys_experiments/1/zarr.json"):
        open_store_tree(project.session.store, "ophys_experiments/1")

"""A store's tree opened from its metadata read at once equals the tree xarray opens by listing
the store group by group: same groups, variables, attributes, chunks and values."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr

import vbzarr
from vbzarr.store_tree import open_store_tree


@pytest.mark.parametrize("project_url", ["vbo_converted", "vbn_converted"])
def test_the_tree_equals_xarrays_own_open(project_url, request):
    project = vbzarr.open_project(request.getfixturevalue(project_url))
    for path in project.stores.index:
        ours = open_store_tree(project.session.store, path)
        plain = xr.open_datatree(
            project.session.store, group=path, engine="zarr", chunks={}, consolidated=False, zarr_format=3
        )
        xr.testing.assert_identical(ours, plain)  # groups, variables, coordinates, attributes
        for node in plain.subtree:
            for name, variable in node.dataset.variables.items():
                mine = ours[node.path].dataset.variables[name]
                assert mine.chunks == variable.chunks, (path, node.path, name)
                assert mine.encoding.get("chunks") == variable.encoding.get("chunks")


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

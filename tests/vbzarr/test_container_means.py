"""Means over many containers, container by container, equal one align over the union of cells."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import vbzarr
from vbzarr.testing.synthetic import content
from vbzarr.testing.synthetic.project import make_vbo_project


@pytest.fixture(scope="module")
def three_containers(tmp_path_factory) -> vbzarr.Project:
    from vbzarr.convert.project import convert_project

    root = tmp_path_factory.mktemp("three")
    release = make_vbo_project(
        root / "release",
        n_containers=3,
        sessions_per_container=2,
        behavior_only_sessions=0,
        size=content.Size.preset("tiny"),
        seed=9,
    )
    assert not convert_project(str(release.root), str(root / "project")).failed
    return vbzarr.open_project(root / "project")


@pytest.mark.parametrize("by", ["image_name", "experience_level"])
def test_container_by_container_equals_the_union(three_containers, by):
    project = three_containers
    experiments = project.ophys_experiment_table
    chosen = experiments.iloc[::-1]  # a reordered selection
    mean = vbzarr.mean_by_container(project, chosen, window=(-0.5, 1.0), by=by, rate=30.0)
    union = vbzarr.align(
        project.dff(chosen), project.events_table(chosen, query="is_change"), (-0.5, 1.0), rate=30.0
    )
    with np.errstate(invalid="ignore"):
        expected = union.groupby(by).mean("event")
    expected, got = xr.align(expected.compute(), mean.compute(), join="outer")
    assert got.dims == ("cell_specimen_id", by, "time_from_event")
    np.testing.assert_allclose(got.transpose(*expected.dims).values, expected.values, rtol=1e-12)
    assert set(got.cell_specimen_id.values) == set(project.dff(chosen).cell_specimen_id.values)

"""The factory writes files in the layout of the AllenSDK-written reference files, with sane content."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from tests.conftest import REFERENCE, reference_files
from tests.layout import differences

pytestmark = pytest.mark.reference


@pytest.mark.skipif(not reference_files(), reason="../shared/reference-nwb is absent")
@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("ophys", "visual-behavior-ophys/behavior_ophys_experiments/behavior_ophys_experiment_850732903.nwb"),
        ("behavior", "visual-behavior-ophys/behavior_sessions/behavior_session_847899541.nwb"),
    ],
)
def test_layout_matches_reference(kind, reference, ophys_nwb, behavior_nwb):
    ours = ophys_nwb if kind == "ophys" else behavior_nwb
    assert differences(REFERENCE / reference, ours) == []


def test_multiscope_layout_and_rate(vbo_multiscope):
    table = vbo_multiscope.ophys_experiment_table
    assert set(table.equipment_name) == {"MESO.1"}
    assert table.groupby("ophys_session_id").size().eq(2).all()
    path = vbo_multiscope.experiment_path(table.index[0])
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.lab_meta_data["metadata"].imaging_plane_group_count == 2
        ts = nwb.processing["ophys"]["dff"]["traces"].timestamps[:]
    assert 10 < 1 / np.median(np.diff(ts)) < 12


def test_content_is_consistent(vbo_project):
    """Flashes every 750 ms, changes every 4-11 flashes, ~5% omissions, trials match presentations,
    cells matched across sessions and responsive to images."""
    table = vbo_project.ophys_experiment_table
    path = vbo_project.experiment_path(table.index[0])
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        pres = next(v for k, v in nwb.intervals.items() if k.startswith("Natural")).to_dataframe()
        trials = nwb.trials.to_dataframe()
        dff = nwb.processing["ophys"]["dff"]["traces"]
        data, ts = dff.data[:], dff.timestamps[:]
        csids = nwb.processing["ophys"]["image_segmentation"]["cell_specimen_table"]["cell_specimen_id"][:]
    np.testing.assert_allclose(np.diff(pres.start_time), 0.75, atol=0.01)
    np.testing.assert_allclose(pres.duration, 0.25, atol=0.01)
    changes = np.flatnonzero(pres.is_change.to_numpy() == 1)
    assert np.diff(changes).min() >= 4 and np.diff(changes).max() <= 11
    assert 0.0 < (pres.omitted == 1).mean() < 0.15
    go = trials[trials.go | trials.auto_rewarded]
    assert np.isin(go.change_time.round(6), pres.start_time.round(6)).all()
    # The same cells (by cell_specimen_id) appear in the container's other sessions.
    other = vbo_project.experiment_path(table.index[1])
    with NWBHDF5IO(str(other), "r") as io:
        other_ids = io.read().processing["ophys"]["image_segmentation"]["cell_specimen_table"][
            "cell_specimen_id"
        ][:]
    assert len(set(csids) & set(other_ids)) >= len(csids) // 2
    # Some cell responds ~100 ms after its image: mean dF/F 0-500 ms after flashes is above baseline.
    onset = pres.start_time[pres.omitted == 0].to_numpy()
    idx = np.searchsorted(ts, onset + 0.15)
    idx = idx[idx < len(ts)]
    assert (data[idx].mean(0) > data.mean(0) + 0.02).any()


def test_ids_are_unique_at_any_number_of_cells(tmp_path):
    """Many cells per container (realistic sizes have 100): ROI ids unique across the project, and
    no cell id of one container reused by another (ids once overlapped past 17 cells)."""
    import dataclasses

    from vbzarr.testing.synthetic import content
    from vbzarr.testing.synthetic.project import make_vbo_project

    size = dataclasses.replace(content.Size.preset("tiny"), n_cells=160, task_minutes=0.5)
    project = make_vbo_project(tmp_path, n_containers=2, sessions_per_container=2, size=size, seed=3)
    cells = project.ophys_cells_table
    assert cells.index.is_unique and len(cells) == 4 * 160
    experiments = project.ophys_experiment_table
    container = cells.ophys_experiment_id.map(experiments.ophys_container_id)
    assert cells.groupby("cell_specimen_id").apply(lambda g: container[g.index].nunique()).eq(1).all()
    assert (
        cells.groupby(container.values).cell_specimen_id.nunique() > 160
    ).all()  # 200 per container, sampled

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

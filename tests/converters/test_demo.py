"""``vbzarr demo``: it saves a figure, and its numbers show the synthetic cells' change and novelty
effects and equal a plain computation from the NWB files."""

from __future__ import annotations

import contextlib
import io

import h5py
import numpy as np
import pandas as pd
import pytest

from vbzarr.cli import main
from vbzarr.convert.demo import FIGURE, run_demo
from vbzarr.convert.demo_figure import BASELINE_WINDOW, RESPONSE_WINDOW


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``vbzarr demo`` end to end from the command line; then its result, from the release and
    project it left (run_demo regenerates and converts nothing the second time)."""
    workdir = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["demo", str(workdir), "--size", "tiny"]) == 0
    assert "Novel 1" in out.getvalue() and str(workdir / FIGURE) in out.getvalue()
    return workdir, run_demo(workdir, size="tiny", show=False)


def test_the_figure_is_a_png_in_the_workdir(demo):
    from matplotlib.image import imread

    workdir, result = demo
    assert result.figure == workdir / FIGURE
    assert result.figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(result.figure)
    assert pixels.shape[1] > 2 * pixels.shape[0] > 600  # a row of panels
    assert pixels[..., :3].std() > 0.1  # drawn on, not blank


def test_the_numbers_show_the_change_and_novelty_effects(demo):
    _, result = demo
    table = result.table
    assert list(table.index) == ["Familiar", "Novel 1", "Novel >1"]
    assert table.sessions.tolist() == [3, 1, 1]
    assert (table.changes > 10).all() and (table.cells >= 8).all()
    # A change response: well above the interval of the last flash before the change.
    assert (table.response > 1.5 * table.baseline).all()
    # Novel images evoke larger responses than familiar ones (by more than the noise).
    novel, familiar = table.loc["Novel 1"], table.loc["Familiar"]
    assert novel.response > 1.4 * familiar.response
    assert novel.response - familiar.response > novel.response_sem + familiar.response_sem
    assert table.response["Novel >1"] > familiar.response


def test_the_numbers_equal_a_plain_computation_from_the_nwb(demo):
    """Each cell's trace interpolated (linearly) at every change + the demo's grid, averaged over the
    changes of each experience level, read from the NWB files with h5py."""
    workdir, result = demo
    release = workdir / "release"
    experiments = pd.read_csv(release / "project_metadata" / "ophys_experiment_table.csv")
    grid = result.mean.time_from_event.values
    sums: dict[tuple[str, int], np.ndarray] = {}
    counts: dict[tuple[str, int], int] = {}
    for row in experiments.itertuples():
        path = (
            release
            / "behavior_ophys_experiments"
            / f"behavior_ophys_experiment_{row.ophys_experiment_id}.nwb"
        )
        with h5py.File(path, "r") as f:
            dff = f["processing/ophys/dff/traces/data"][:]
            t = f["processing/ophys/dff/traces/timestamps"][:]
            cells = f["processing/ophys/image_segmentation/cell_specimen_table/cell_specimen_id"][:]
            images = f["intervals"][next(k for k in f["intervals"] if k.startswith("Natural_Images"))]
            changes = images["start_time"][:][images["is_change"][:] == 1]
        for c, cell in enumerate(cells):
            key = (row.experience_level, int(cell))
            for change in changes:
                trace = np.interp(change + grid, t, dff[:, c])
                sums[key] = sums.get(key, 0.0) + trace
                counts[key] = counts.get(key, 0) + 1
    for (level, cell), total in sums.items():
        expected = total / counts[(level, cell)]
        got = result.mean.sel(experience_level=level, cell_specimen_id=cell).values
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    # The table's windows, recomputed from the reference means.
    for level in result.table.index:
        per_cell = np.array([sums[k] / counts[k] for k in sums if k[0] == level])
        for column, (a, b) in (("baseline", BASELINE_WINDOW), ("response", RESPONSE_WINDOW)):
            inside = (grid >= a) & (grid < b)
            assert result.table.loc[level, column] == pytest.approx(per_cell[:, inside].mean(), rel=1e-9)
        assert result.table.loc[level, "cells"] == len(per_cell)

"""The notebooks run as Jupyter notebooks, so they never rot: each ``notebooks/NN_*.py`` is converted
by jupytext and executed by nbclient in a ``python3`` kernel (working directory ``notebooks/``),
on small synthetic projects built once per test run, with the runner of ``python -m notebooks``.
Executed copies and figures go to a temporary folder: the committed ones stay as they are."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from notebooks.__main__ import execute, notebook_paths
from vbzarr.testing.demo_projects import AXES_KEY

#: Notebooks that start servers and worker processes for over 10 s (the `slow` marker's meaning).
SLOW = {"06_at_scale"}


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """One cache of synthetic projects per test run, shared by the pytest-xdist workers (whose base
    temporary folders are siblings under the run's); builds are locked, so one worker builds."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "vbzarr-demo-projects"


NOTEBOOKS = [
    pytest.param(p, marks=[pytest.mark.slow] if p.stem in SLOW else [], id=p.stem) for p in notebook_paths()
]


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_runs_and_saves_labelled_figures(path, tmp_path, demo_cache, monkeypatch):
    for name in ("VBZARR_PROJECT", "VBZARR_VBN_PROJECT"):  # the synthetic projects, not a user's
        monkeypatch.delenv(name, raising=False)
    env = {
        "VBZARR_SIZE": "tiny",
        "VBZARR_DEMO_CACHE": str(demo_cache),
        # Figures are checked as saved (PNG); not drawing them again inline saves ~1 s a notebook.
        "MPLBACKEND": "agg",
    }
    executed, _ = execute(path, tmp_path, env=env)
    notebook = nbformat.read(executed, as_version=4)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    figures = sorted(tmp_path.glob(f"{path.stem[:2]}_*.png"))  # figures are named NN_..., as their notebook
    assert figures, f"{path.name} saved no figure"
    for png in figures:
        # save_figure records the labels of every axes; an axes without x or y label (or a colorbar
        # without label) fails the notebook before, and a figure saved otherwise fails here.
        with Image.open(png) as image:
            axes = json.loads(image.text[AXES_KEY])
        assert axes, png.name
        for labels in axes:
            assert all(value.strip() for key, value in labels.items() if key != "title"), (png.name, labels)

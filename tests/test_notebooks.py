"""The notebooks run (on a tiny synthetic project), so they never rot."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.delenv("VBZARR_PROJECT", raising=False)
    monkeypatch.setenv("VBZARR_SIZE", "tiny")
    runpy.run_path(str(path), run_name="__main__")

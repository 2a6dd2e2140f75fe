"""Shared fixtures: synthetic Allen-layout NWB files and projects, the reference files, S3.

``VBZARR_TEST_SIZE`` picks the factory size preset (``tiny`` by default; ``small`` or
``realistic`` for slower, more realistic runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vbzarr.testing.synthetic import content
from vbzarr.testing.synthetic.project import make_vbo_project

SIZE = os.environ.get("VBZARR_TEST_SIZE", "tiny")
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-nwb"


def reference_files(pattern: str = "**/*.nwb") -> list[Path]:
    """NWB files of ../shared/reference-nwb (empty when it is absent)."""
    return sorted(REFERENCE.glob(pattern)) if REFERENCE.is_dir() else []


@pytest.fixture(scope="session")
def size() -> content.Size:
    return content.Size.preset(SIZE)


@pytest.fixture(scope="session")
def vbo_project(tmp_path_factory, size):
    """A synthetic VBO project: 1 Scientifica container with 3 sessions, 1 training session."""
    return make_vbo_project(
        tmp_path_factory.mktemp("vbo"),
        n_containers=1,
        sessions_per_container=3,
        behavior_only_sessions=1,
        size=size,
        seed=1,
    )


@pytest.fixture(scope="session")
def vbo_multiscope(tmp_path_factory, size):
    """A synthetic Multiscope (11 Hz) project: 2 planes imaged in 2 sessions."""
    return make_vbo_project(
        tmp_path_factory.mktemp("vbo-meso"),
        n_containers=2,
        sessions_per_container=2,
        planes_per_session=2,
        behavior_only_sessions=0,
        size=size,
        seed=2,
    )


@pytest.fixture(scope="session")
def ophys_nwb(vbo_project) -> Path:
    return vbo_project.experiment_path(vbo_project.ophys_experiment_table.index[0])


@pytest.fixture(scope="session")
def behavior_nwb(vbo_project) -> Path:
    only = vbo_project.behavior_session_table
    return vbo_project.behavior_session_path(only[only.ophys_session_id.isna()].index[0])


@pytest.fixture(scope="session")
def vbn_project(tmp_path_factory):
    """A synthetic VBN project: 2 ecephys sessions (with LFP files) and 1 behavior-only session."""
    from vbzarr.testing.synthetic.vbn_project import make_vbn_project

    return make_vbn_project(
        tmp_path_factory.mktemp("vbn"), n_sessions=2, behavior_only_sessions=1, size=SIZE, seed=3
    )


def _converted(tmp_path_factory, source, name: str) -> str:
    """The synthetic project ``source`` converted into a fresh folder (every file converted)."""
    from vbzarr.convert.project import convert_project

    dst = tmp_path_factory.mktemp(name) / "project"
    report = convert_project(str(source.root), str(dst))
    assert not report.failed
    return str(dst)


@pytest.fixture(scope="session")
def vbo_converted(tmp_path_factory, vbo_project) -> str:
    """The synthetic VBO project converted (every file). Tests must not change it."""
    return _converted(tmp_path_factory, vbo_project, "vboproj")


@pytest.fixture(scope="session")
def vbn_converted(tmp_path_factory, vbn_project) -> str:
    """The synthetic VBN project converted (every file). Tests must not change it."""
    return _converted(tmp_path_factory, vbn_project, "vbnproj")

"""Publishing a single-file store: staging folders of killed runs are removed by the next run;
a live run's, and anything without vbzarr's marker, are never touched."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vbzarr.convert.convert import convert_nwb
from vbzarr.convert.publish import STAGING_MARK
from vbzarr.convert.validate import validate_store


def _staging(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.vbzarr-staging-*"))


def test_abandoned_staging_folders_are_removed_and_others_kept(tmp_path, vbo_project):
    nwb = vbo_project.experiment_path(int(vbo_project.ophys_experiment_table.index[0]))
    abandoned, live, foreign = (tmp_path / f".exp.zarr.vbzarr-staging-{n}" for n in ("a", "b", "c"))
    for folder in (abandoned, live, foreign):
        (folder / "store.zarr").mkdir(parents=True)
    (abandoned / STAGING_MARK).touch()
    (live / STAGING_MARK).touch()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run converting right now
    try:
        convert_nwb(nwb, tmp_path / "exp.zarr")
    finally:
        os.close(fd)
    assert _staging(tmp_path, "exp.zarr") == [live, foreign]
    assert validate_store(str(tmp_path / "exp.zarr")) == []


@pytest.mark.slow
def test_a_killed_single_file_conversion_leaves_no_litter(tmp_path, vbo_project):
    nwb = vbo_project.experiment_path(int(vbo_project.ophys_experiment_table.index[0]))
    dst = tmp_path / "exp.zarr"
    command = [sys.executable, "-m", "vbzarr.cli", "convert", str(nwb), str(dst), "-q"]
    for delay in (0.0, 0.3):
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _staging(tmp_path, "exp.zarr") and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.wait()
    litter = _staging(tmp_path, "exp.zarr")
    assert litter  # the kills happened while a store was being assembled
    assert subprocess.run(command, check=False).returncode == 0
    assert _staging(tmp_path, "exp.zarr") == []
    assert validate_store(str(dst)) == []

"""The ``vbzarr`` command: convert one file, a project; info; validate; demo; errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import vbzarr
from vbzarr.cli import main


def test_convert_one_file_then_info_and_validate(tmp_path, ophys_nwb, capsys):
    dst = tmp_path / "exp.zarr"
    assert main(["convert", str(ophys_nwb), str(dst), "--quiet"]) == 0
    assert "ophys_experiment" in capsys.readouterr().out
    assert vbzarr.open_store(dst).attrs["kind"] == "ophys_experiment"
    assert main(["info", str(dst)]) == 0
    assert "ophys" in capsys.readouterr().out
    assert main(["validate", str(dst)]) == 0
    assert "OK" in capsys.readouterr().out


def test_convert_project_reports_failures_and_exit_code(tmp_path, vbo_project, capsys):
    src = tmp_path / "src"
    shutil.copytree(vbo_project.root, src)
    bad = next((src / "behavior_sessions").glob("*.nwb"))
    bad.write_bytes(b"not hdf5")
    assert main(["convert", str(src), str(tmp_path / "dst"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "1 failed" in out and bad.name in out
    assert main(["info", str(tmp_path / "dst")]) == 0
    assert "ophys_experiment_table" in capsys.readouterr().out


def test_bad_input_is_an_error_message_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "x.nwb"
    bad.write_text("nope")
    assert main(["convert", str(bad), str(tmp_path / "x.zarr"), "--quiet"]) == 1  # the file failed
    err = capsys.readouterr().err
    assert "vbzarr: FAILED" in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "x.zarr").exists()


def test_validate_finds_a_changed_value(tmp_path, ophys_nwb, capsys):
    import zarr

    dst = tmp_path / "exp.zarr"
    main(["convert", str(ophys_nwb), str(dst), "--quiet"])
    arr = zarr.open_array(str(dst / "ophys" / "dff"), mode="r+")
    arr[0, 5] = arr[0, 5] + 1.0
    assert main(["validate", str(dst)]) == 1
    out = capsys.readouterr().out
    assert "ophys/dff/c/0/0: differs from the NWB's values" in out and "1 problem(s)" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"vbzarr {vbzarr.__version__}"


def test_writing_commands_without_the_convert_extra_say_what_to_install(tmp_path):
    # h5py absent (None in sys.modules makes its import fail, as when it is not installed).
    code = (
        "import sys; sys.modules['h5py'] = None\n"
        "from vbzarr.cli import main\n"
        f"sys.exit(main(['convert', 'x.nwb', {str(tmp_path / 'x.zarr')!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 2, out.stderr
    assert "vbzarr convert: expected the writing side (pynwb, h5py); h5py is not installed: " in out.stderr
    assert "pip install 'vbzarr[convert]'" in out.stderr and "Traceback" not in out.stderr

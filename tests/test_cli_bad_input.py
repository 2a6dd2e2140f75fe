"""``vbzarr convert`` / ``validate`` on bad input: a pinned message naming the file and the field,
a pinned exit code (0 done, 1 some files failed, 2 could not proceed), nothing of the user's
touched, and the rest of the batch done."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import pandas as pd
import pytest

import vbzarr
from vbzarr.cli import main


@dataclass
class Case:
    name: str
    #: (tmp, release copy, one NWB) -> the command's arguments (after "vbzarr")
    setup: Callable[[Path, Path, Path], list[str]]
    code: int
    match: str  # a regex the output (stdout + stderr) must contain
    untouched: str | None = None  # a file of the user's that must survive, relative to tmp


def _precious(tmp: Path) -> Path:
    folder = tmp / "precious"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work")
    return folder


def _edit_csv(name: str, edit: Callable[[str], str]):
    def setup(tmp: Path, release: Path, nwb: Path) -> list[str]:
        path = release / "project_metadata" / name
        path.write_text(edit(path.read_text()))
        return ["convert", str(release), str(tmp / "dst")]

    return setup


def _duplicate_row(text: str) -> str:
    lines = text.splitlines()
    return "\n".join([*lines, lines[1]]) + "\n"


def _garbage_row(text: str) -> str:
    return text + "garbage,,,\n"


def _unterminated_quote(text: str) -> str:
    return text + '"123,abc\n'


def _bad_list(text: str) -> str:
    frame = pd.read_csv(io.StringIO(text))
    frame.loc[0, "driver_line"] = "['Slc17a7-IRES2-Cre'"
    return frame.to_csv(index=False)


def _drop_column(column: str):
    def edit(text: str) -> str:
        return pd.read_csv(io.StringIO(text)).drop(columns=column).to_csv(index=False)

    return edit


def _first(release: Path, folder: str) -> Path:
    return sorted((release / folder).glob("*.nwb"))[0]


def _newer_project(tmp: Path, release: Path, nwb: Path) -> list[str]:
    import icechunk
    import zarr

    assert main(["convert", str(release), str(tmp / "dst"), "-q"]) == 0
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp / "dst")))
    session = repo.writable_session("main")
    zarr.open_group(session.store, path="manifest", mode="r+").attrs["vbzarr_schema_version"] = 99
    session.commit("a newer vbzarr")
    return ["convert", str(release), str(tmp / "dst")]


def _cwd_holding_the_source(tmp: Path, release: Path, nwb: Path) -> list[str]:
    sandbox = tmp / "sandbox"
    sandbox.mkdir()
    shutil.copy(nwb, sandbox / "exp.nwb")
    os.chdir(sandbox)
    return ["convert", "exp.nwb", "."]


def _chunk_deleted(tmp: Path, release: Path, nwb: Path) -> list[str]:
    assert main(["convert", str(nwb), str(tmp / "exp.zarr"), "-q"]) == 0
    chunk = next(
        p
        for p in sorted((tmp / "exp.zarr" / "eye_tracking" / "pupil_area").rglob("*"))
        if p.is_file() and p.name != "zarr.json"
    )
    chunk.unlink()
    return ["validate", str(tmp / "exp.zarr")]


def _from_another_folder(tmp: Path, release: Path, nwb: Path) -> list[str]:
    os.chdir(tmp)
    shutil.copy(nwb, tmp / "exp.nwb")
    assert main(["convert", "exp.nwb", "exp.zarr", "-q"]) == 0  # a relative source path
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    return ["validate", str(tmp / "exp.zarr")]


def _without_dff(tmp: Path, release: Path, nwb: Path) -> list[str]:
    path = tmp / "no-dff.nwb"
    shutil.copy(nwb, path)
    with h5py.File(path, "r+") as f:
        # The other traces link dF/F's timestamps and rois: give them their own, then drop dF/F.
        def materialise(group: h5py.Group) -> None:
            for name in list(group):
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink) and isinstance(group.get(name), h5py.Dataset):
                    values = group[name][()]
                    del group[name]
                    group[name] = values
                elif isinstance(link, h5py.HardLink) and isinstance(group.get(name), h5py.Group):
                    materialise(group[name])

        materialise(f["processing/ophys"])
        del f["processing/ophys/dff"]
    return ["convert", str(path), str(tmp / "no-dff.zarr")]


def _without_processing_ophys(tmp: Path, release: Path, nwb: Path) -> list[str]:
    path = tmp / "no-ophys.nwb"
    shutil.copy(nwb, path)
    with h5py.File(path, "r+") as f:
        del f["processing/ophys"]
    return ["convert", str(path), str(tmp / "no-ophys.zarr")]


def _unwritable(tmp: Path) -> Path:
    """A folder nobody can write into: read-only bits, or for root (whom bits do not stop) a
    kernel filesystem that refuses new entries."""
    if os.geteuid() != 0:
        folder = tmp / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        os.mkdir("/sys/vbzarr-probe")
    except OSError:
        return Path("/sys")
    os.rmdir("/sys/vbzarr-probe")
    pytest.skip("no unwritable folder on this machine")


def _existing_tag(tmp: Path, release: Path, nwb: Path) -> list[str]:
    assert main(["convert", str(release), str(tmp / "dst"), "--tag", "v1", "-q"]) == 0
    nwb.write_bytes(nwb.read_bytes())  # the same content: nothing to convert, still refused first
    return ["convert", str(release), str(tmp / "dst"), "--tag", "v1"]


CASES = [
    # Destinations that are not vbzarr's: refused, untouched.
    Case(
        "single-into-precious-folder",
        lambda t, r, n: (_precious(t), ["convert", str(n), str(t / "precious")])[1],
        2,
        r"precious: expected a new store path, an empty folder or a vbzarr store; found other content",
        "precious/thesis.txt",
    ),
    Case(
        "single-into-cwd-with-source",
        _cwd_holding_the_source,
        2,
        r"\.: expected a new store path.*found other content",
        "sandbox/exp.nwb",
    ),
    Case(
        "single-onto-a-file",
        lambda t, r, n: ((t / "f.txt").write_text("x"), ["convert", str(n), str(t / "f.txt")])[1],
        2,
        r"f\.txt: expected a new store path or a vbzarr store; found a file",
        "f.txt",
    ),
    Case(
        "project-into-precious-folder",
        lambda t, r, n: (_precious(t), ["convert", str(r), str(t / "precious")])[1],
        2,
        r"precious: expected a new or empty folder, or a vbzarr project; "
        r"found other content \(sub, thesis\.txt\)",
        "precious/thesis.txt",
    ),
    Case(
        "project-onto-a-file",
        lambda t, r, n: ((t / "f.txt").write_text("x"), ["convert", str(r), str(t / "f.txt")])[1],
        2,
        r"f\.txt: expected a project folder .*found a file",
        "f.txt",
    ),
    Case(
        "project-into-unwritable-folder",
        lambda t, r, n: ["convert", str(r), str(_unwritable(t) / "project")],
        2,
        r"project: expected a folder vbzarr can write to; could not write there",
    ),
    Case(
        "single-into-unwritable-folder",
        lambda t, r, n: ["convert", str(n), str(_unwritable(t) / "exp.zarr")],
        2,
        r"expected a folder vbzarr can write to; could not write there",
    ),
    Case(
        "project-tag-exists",
        _existing_tag,
        2,
        r"dst: expected a new tag name; the tag 'v1' exists already \(snapshot \w+\) and tags never move",
    ),
    Case("project-of-a-newer-schema", _newer_project, 2, r"schema version 99; .*Upgrade vbzarr"),
    # Release tables.
    Case(
        "csv-duplicate-ids",
        _edit_csv("ophys_experiment_table.csv", _duplicate_row),
        2,
        r"ophys_experiment_table\.csv \[ophys_experiment_id\]: expected unique ids; \[\d+\] repeat",
    ),
    Case(
        "csv-garbage-row",
        _edit_csv("ophys_session_table.csv", _garbage_row),
        2,
        r"ophys_session_table\.csv \[ophys_session_id\]: expected integer ids; row \d+ holds 'garbage'",
    ),
    Case(
        "csv-unterminated-quote",
        _edit_csv("behavior_session_table.csv", _unterminated_quote),
        2,
        r"behavior_session_table\.csv: expected a CSV table; it does not parse",
    ),
    Case(
        "csv-malformed-list",
        _edit_csv("ophys_experiment_table.csv", _bad_list),
        2,
        r"ophys_experiment_table\.csv \[driver_line\]: expected a list like \"\[1, 2\]\"; row 2 holds",
    ),
    Case(
        "csv-missing-index-column",
        _edit_csv("ophys_cells_table.csv", _drop_column("cell_roi_id")),
        2,
        r"ophys_cells_table\.csv \[cell_roi_id\]: expected the index column 'cell_roi_id'",
    ),
    Case(
        "not-a-release",
        lambda t, r, n: ((t / "empty").mkdir(), ["convert", str(t / "empty"), str(t / "dst")])[1],
        2,
        r"expected a released project \(a folder with project_metadata/\*\.csv",
    ),
    Case(
        "storage-options-not-json",
        lambda t, r, n: ["convert", str(r), str(t / "dst"), "--storage-options", "{nope"],
        2,
        r"--storage-options: expected a JSON object",
    ),
    # Files of the release: reported, the rest converted.
    Case(
        "csv-row-without-its-nwb",
        lambda t, r, n: (_first(r, "behavior_sessions").unlink(), ["convert", str(r), str(t / "dst")])[1],
        0,
        r"NOTE .*1 behavior_session\(s\) listed in the tables have no NWB file here",
    ),
    Case(
        "nwb-no-csv-lists",
        lambda t, r, n: (
            shutil.copy(n, r / "behavior_ophys_experiments" / "behavior_ophys_experiment_123.nwb"),
            ["convert", str(r), str(t / "dst")],
        )[1],
        0,
        r"NOTE .*behavior_ophys_experiment_123\.nwb: "
        r"no row of the release's tables lists ophys_experiment 123",
    ),
    Case(
        "nwb-wrong-extension",
        lambda t, r, n: (n.rename(n.with_suffix(".h5")), ["convert", str(r), str(t / "dst")])[1],
        0,
        r"NOTE .*\.h5: expected a file named like "
        r"behavior_ophys_experiments/behavior_ophys_experiment_\*\.nwb",
    ),
    Case(
        "broken-symlink",
        lambda t, r, n: (
            (r / "behavior_sessions" / "behavior_session_1.nwb").symlink_to(t / "gone.nwb"),
            ["convert", str(r), str(t / "dst")],
        )[1],
        0,
        r"NOTE .*behavior_session_1\.nwb: a broken link \(expected an NWB file\); skipped",
    ),
    Case(
        "one-bad-nwb-in-the-batch",
        lambda t, r, n: (
            _first(r, "behavior_sessions").write_bytes(b"not hdf5"),
            ["convert", str(r), str(t / "dst")],
        )[1],
        1,
        r"FAILED .*behavior_session_\d+\.nwb: InvalidNWBError: .*expected an HDF5 \(NWB\) file",
    ),
    # Single files.
    Case(
        "single-not-hdf5",
        lambda t, r, n: ((t / "x.nwb").write_text("nope"), ["convert", str(t / "x.nwb"), str(t / "x.zarr")])[
            1
        ],
        1,
        r"FAILED .*x\.nwb: expected an HDF5 \(NWB\) file",
    ),
    Case(
        "single-missing-file",
        lambda t, r, n: ["convert", str(t / "absent.nwb"), str(t / "x.zarr")],
        1,
        r"FAILED .*absent\.nwb: expected an NWB file; there is no file at this path",
    ),
    Case(
        "single-without-processing-ophys",
        _without_processing_ophys,
        1,
        r"FAILED .*no-ophys\.nwb \[processing/ophys\]: expected 'processing/ophys' \(needed for ophys traces",
    ),
    Case("single-without-dff-keeps-other-traces", _without_dff, 0, r"missing: .*ophys/dff"),
    # Validation.
    Case(
        "validate-finds-a-deleted-chunk",
        _chunk_deleted,
        1,
        r"eye_tracking/pupil_area/c/\d+: missing",
    ),
    Case("validate-from-another-folder", _from_another_folder, 0, r"exp\.zarr: OK"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_table(case, tmp_path, vbo_project, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # cases that change folder are undone
    release = tmp_path / "release"
    shutil.copytree(vbo_project.root, release)
    nwb = _first(release, "behavior_ophys_experiments")
    args = case.setup(tmp_path, release, nwb)
    code = main([*args, "-q"] if args[0] == "convert" else args)
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == case.code, text
    assert re.search(case.match, text), text
    assert "Traceback" not in text
    if case.untouched is not None:
        assert (tmp_path / case.untouched).exists()
    if case.name == "single-without-dff-keeps-other-traces":
        ophys = vbzarr.open_store(tmp_path / "no-dff.zarr")["ophys"]
        assert {"events", "corrected_fluorescence"} <= set(ophys.data_vars) and "dff" not in ophys

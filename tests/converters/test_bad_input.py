"""Bad input: a clear error naming the file and the field, and never a store a reader could open."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

import vbzarr
from vbzarr.convert import convert_nwb
from vbzarr.errors import InvalidNWBError, MissingFieldError


def _not_hdf5(tmp: Path, good: Path) -> Path:
    path = tmp / "notes.nwb"
    path.write_text("this is not an NWB file\n")
    return path


def _truncated(tmp: Path, good: Path) -> Path:
    path = tmp / "truncated.nwb"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_chunk(tmp: Path, good: Path) -> Path:
    """Garble the first compressed chunk of the events: the file opens, the read fails."""
    path = tmp / "corrupt.nwb"
    shutil.copy(good, path)
    with h5py.File(path, "r") as f:
        info = f["processing/ophys/event_detection/data"].id.get_chunk_info(0)
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset)
        raw.write(b"\xff" * info.size)
    return path


def _not_visual_behavior(tmp: Path, good: Path) -> Path:
    path = tmp / "other.nwb"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        del f["general/metadata"]
    return path


def _without(field: str):
    def make(tmp: Path, good: Path) -> Path:
        path = tmp / f"without-{field.replace('/', '_')}.nwb"
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            del f[field]
        return path

    return make


CASES = [
    # (make the bad file, expected error class, message must match, field in the message)
    (_not_hdf5, InvalidNWBError, "expected an HDF5 \\(NWB\\) file", None),
    (_truncated, InvalidNWBError, "the file is truncated", None),
    (_corrupt_chunk, InvalidNWBError, "could not read the values", "processing/ophys/event_detection/data"),
    (_not_visual_behavior, InvalidNWBError, "expected an Allen Visual Behavior file", "general/metadata"),
    (
        _without("processing/ophys/dff/traces/timestamps"),
        MissingFieldError,
        "ophys timestamps",
        "processing/ophys/dff/traces/timestamps",
    ),
    (_without("intervals/trials/id"), MissingFieldError, "trials", "intervals/trials/id"),
    (
        _without("acquisition/EyeTracking/pupil_tracking/area_raw"),
        MissingFieldError,
        "eye_tracking",
        "acquisition/EyeTracking/pupil_tracking/area_raw",
    ),
    (
        _without("processing/ophys/image_segmentation/cell_specimen_table/cell_specimen_id"),
        InvalidNWBError,
        "cell_specimen_id",
        "cell_specimen_table/cell_specimen_id",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "match", "field"),
    CASES,
    ids=[
        "not-hdf5",
        "truncated",
        "corrupt-chunk",
        "not-visual-behavior",
        "no-ophys-timestamps",
        "no-trial-ids",
        "no-pupil-area",
        "no-cell-specimen-id",
    ],
)
def test_bad_file_names_file_and_field_and_writes_nothing(tmp_path, ophys_nwb, make, error, match, field):
    bad = make(tmp_path, Path(ophys_nwb))
    dst = tmp_path / "out" / "store.zarr"
    with pytest.raises(error, match=match) as info:
        convert_nwb(bad, dst)
    assert str(bad) in str(info.value)
    if field is not None:
        assert field in str(info.value)
    assert not dst.exists()
    # Nothing half-written anywhere a reader could see it (the staging folder is gone too).
    assert (
        not any(p.name.endswith(".zarr") or p.name.startswith("vbzarr-") for p in dst.parent.iterdir())
        if dst.parent.exists()
        else True
    )


def test_failed_conversion_keeps_the_previous_store(tmp_path, ophys_nwb):
    dst = tmp_path / "store.zarr"
    convert_nwb(ophys_nwb, dst)
    before = vbzarr.open_store(dst).attrs["provenance"]["sha256"]
    bad = _truncated(tmp_path, Path(ophys_nwb))
    with pytest.raises(InvalidNWBError):
        convert_nwb(bad, dst)
    assert vbzarr.open_store(dst).attrs["provenance"]["sha256"] == before


def test_missing_source_file(tmp_path):
    with pytest.raises(InvalidNWBError, match="no file at this path"):
        convert_nwb(tmp_path / "absent.nwb", tmp_path / "x.zarr")

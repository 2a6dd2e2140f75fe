"""Converting a release that lives on object storage (``s3://``), through fsspec, as a user with
the release in a bucket runs it: ``vbzarr convert s3://... DST --source-options ...``."""

from __future__ import annotations

import json

import pytest
import s3fs

import vbzarr
from vbzarr.cli import main
from vbzarr.convert.validate import validate_store


@pytest.mark.slow
@pytest.mark.s3
def test_a_release_on_s3_converts_and_reruns_unchanged(tmp_path, vbo_project, capsys):
    from vbzarr.testing.s3 import CountingS3Server

    with CountingS3Server() as s3:
        s3.make_bucket("release")
        options = s3.storage_options()
        fs = s3fs.S3FileSystem(**options)
        fs.put(str(vbo_project.root), "release/vbo", recursive=True)
        # An AllenSDK cache directory above the release works too: one level up.
        source = ["s3://release", "--source-options", json.dumps(options)]
        # Into a local folder (writing a project on S3 is tested elsewhere).
        for dst, extra in [(str(tmp_path / "project"), [])]:
            assert main(["convert", *source[:1], dst, *source[1:], *extra, "-q"]) == 0, capsys.readouterr()
            project = vbzarr.open_project(dst, storage_options=options if extra else None)
            nwb = sorted(vbo_project.root.glob("*/*.nwb"))
            assert len(project.stores) == len(nwb)
            assert set(project.stores["source"]) == {
                f"s3://release/vbo/{p.relative_to(vbo_project.root).as_posix()}" for p in nwb
            }
            if not extra:  # every array of every store equals its NWB, re-converted from S3
                assert validate_store(dst, source_options=options) == []
            capsys.readouterr()
            # A re-run reads the checksums through fsspec: nothing changed, nothing converted.
            assert main(["convert", *source[:1], dst, *source[1:], *extra]) == 0
            assert f"0 converted, {len(nwb)} unchanged, 0 failed" in capsys.readouterr().out

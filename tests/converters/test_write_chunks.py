"""The converter's chunk writer writes the same files as zarr, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from vbzarr.convert.writer import FolderTarget, _write_chunks


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _values(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.3
    if dtype.startswith("int") or dtype.startswith("uint"):
        return rng.integers(0, 50, shape).astype(dtype)
    return rng.normal(size=shape).round(2).astype(dtype)


CASES = [
    # dtype, shape, chunks, fill, codec
    ("float64", (70, 1000), (16, 256), np.nan, BloscCodec(cname="lz4hc", clevel=1, shuffle="shuffle")),
    ("bool", (9, 17, 13), (1, 17, 13), False, BloscCodec(cname="lz4hc", clevel=1, shuffle="bitshuffle")),
    ("float64", (70, 1000), (16, 256), np.nan, BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")),
    ("float32", (5, 3, 40), (2, 3, 16), np.nan, BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")),
    (">f8", (300,), (64,), np.nan, BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")),
    ("float64", (300,), (64,), 0.0, BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")),
    ("int64", (300,), (64,), 0, BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")),
    ("uint8", (4, 33, 20), (1, 33, 20), 0, BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")),
    ("bool", (9, 17, 13), (1, 17, 13), False, BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")),
    ("float64", (300,), (64,), np.nan, ZstdCodec(level=3)),  # not blosc: written by zarr
]


@pytest.mark.parametrize(("dtype", "shape", "chunks", "fill", "codec"), CASES, ids=lambda v: str(v))
def test_chunk_files_equal_zarr_s(tmp_path, dtype, shape, chunks, fill, codec):
    rng = np.random.default_rng(0)
    values = _values(dtype, shape, rng)
    # Chunks equal to the fill value (left out), NaN-only chunks, and -0.0 against a 0.0 fill.
    if values.dtype.kind == "f":
        values[: chunks[0]] = fill
        values.reshape(-1)[-3:] = np.nan
        if fill == 0:
            values[chunks[0] : 2 * chunks[0]] = -0.0
    else:
        values[: chunks[0]] = fill
    arrays = {}
    for name in ("zarr", "ours"):
        arrays[name] = zarr.create_array(
            tmp_path / name,
            shape=shape,
            chunks=chunks,
            dtype=np.dtype(dtype).newbyteorder("="),
            fill_value=fill,
            compressors=[codec],
            zarr_format=3,
        )
    arrays["zarr"][...] = values
    # Two slabs along the first axis, on stored-chunk boundaries, as the writer cuts them.
    cut = chunks[0] * max(1, shape[0] // chunks[0] // 2)
    for block in [(slice(0, cut),), (slice(cut, shape[0]),)]:
        block += (slice(None),) * (len(shape) - 1)
        _write_chunks(FolderTarget(str(tmp_path / "ours")), arrays["ours"], block, values[block])
    assert _files(tmp_path / "ours") == _files(tmp_path / "zarr")
    back = zarr.open_array(tmp_path / "ours", mode="r")[...]
    np.testing.assert_array_equal(back, values.astype(back.dtype))

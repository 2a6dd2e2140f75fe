"""Reading the Allen NWB layout with h5py: required fields, tables, ragged columns, lazy datasets.

Every failure raises :class:`vbzarr.errors.InvalidNWBError` (or ``MissingFieldError``) naming the
file and the HDF5 path. Large datasets are never read whole here: :meth:`NWBReader.lazy` wraps them
as dask arrays whose chunks are read one at a time while the store is written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np
import pandas as pd

from vbzarr.errors import InvalidNWBError, MissingFieldError

# h5py releases the GIL but is not safe for concurrent reads of one file: one lock per process.
H5_LOCK = threading.Lock()
#: HDF5 chunk cache of a compressed dataset read lazily (the default is 1 MB). A read rarely ends
#: on a compressed chunk's edge (e.g. event traces stored in 2180-frame chunks): with a few rows of
#: chunks cached, the next read, and the causal filter's look-back, reuse the chunks it shares
#: with this one instead of decompressing them again (measured: 10% of the ophys conversion time).
CHUNK_CACHE_BYTES = 32 * 2**20


def decode(values: Any) -> Any:
    """HDF5 text (bytes or str objects) as ``str`` (scalars) or an object array of ``str``."""
    if isinstance(values, bytes):
        return values.decode("utf-8")
    if isinstance(values, np.ndarray) and values.dtype.kind in "OSU":
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.ravel()],
            dtype=object,
        ).reshape(values.shape)
    return values


def _attr(value: Any) -> Any:
    """An HDF5 attribute as a JSON-friendly Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_attr(v) for v in value.tolist()] if value.dtype.kind in "OS" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Checked:
    """An h5py dataset whose read errors (e.g. a truncated file) name the file and the field."""

    def __init__(self, ds: h5py.Dataset, file: str, path: str) -> None:
        self.ds, self.file, self.path = ds, file, path
        self.shape, self.dtype, self.ndim = ds.shape, ds.dtype, ds.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return self.ds[key]
        except (OSError, RuntimeError) as err:
            raise InvalidNWBError(self.file, self.path, f"could not read the values ({err})") from err


class NWBReader:
    """An open Allen-layout NWB file.

    Parameters
    ----------
    source
        Path of the file, or an open binary file object (e.g. from fsspec); ``name`` then names it
        in errors.
    """

    def __init__(self, source: str | Path | Any, name: str | None = None) -> None:
        self.path = str(name or source)
        try:
            self.file = h5py.File(source, "r")
        except FileNotFoundError:
            raise
        except OSError as err:
            problem = (
                "the file is truncated"
                if "truncated file" in str(err)
                else "expected an HDF5 (NWB) file; h5py could not open it"
            )
            raise InvalidNWBError(self.path, None, f"{problem} ({err})") from err
        if self.file.attrs.get("neurodata_type") != "NWBFile":
            found = self.file.attrs.get("neurodata_type")
            self.close()
            raise InvalidNWBError(
                self.path, "/", f"expected the root neurodata_type 'NWBFile', found {found!r}"
            )

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> NWBReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- navigation ---------------------------------------------------------------------------
    def __contains__(self, path: str) -> bool:
        try:
            return path in self.file
        except KeyError:  # a link whose target is missing: absent
            return False
        except (OSError, RuntimeError) as err:  # unreadable is not absent: say so
            raise InvalidNWBError(
                self.path, path, f"could not read the file's structure here ({err})"
            ) from err

    def get(self, path: str) -> h5py.Group | h5py.Dataset | None:
        return self.file[path] if path in self else None

    def require(self, path: str, needed_for: str) -> h5py.Group | h5py.Dataset:
        """The object at ``path``, or a ``MissingFieldError`` naming the file and the field."""
        if path not in self:
            raise MissingFieldError(self.path, path, needed_for)
        try:
            return self.file[path]
        except KeyError as err:  # a link to an object that is not there
            raise InvalidNWBError(
                self.path, path, f"expected an object (needed for {needed_for}); found a broken link ({err})"
            ) from err

    def neurodata_type(self, path: str) -> str | None:
        obj = self.get(path)
        return None if obj is None else _attr(obj.attrs.get("neurodata_type"))

    def children(self, path: str, neurodata_type: str | None = None) -> Iterator[str]:
        """Names of the members of group ``path`` (optionally of one neurodata_type), sorted."""
        group = self.get(path)
        if group is None:
            return iter(())
        return iter(
            sorted(
                k
                for k in group
                if neurodata_type is None or _attr(group[k].attrs.get("neurodata_type")) == neurodata_type
            )
        )

    def attrs(self, path: str) -> dict[str, Any]:
        """Attributes of ``path`` without the HDF5/NWB bookkeeping ones."""
        skip = {"namespace", "neurodata_type", "object_id", ".specloc"}
        return {k: _attr(v) for k, v in self.require(path, "attributes").attrs.items() if k not in skip}

    # -- values -----------------------------------------------------------------------------
    def read(self, path: str, needed_for: str, dtype: Any = None) -> np.ndarray:
        """A (small) dataset read whole, text decoded to ``str``."""
        ds = self.require(path, needed_for)
        if not isinstance(ds, h5py.Dataset):
            raise InvalidNWBError(self.path, path, f"expected a dataset (for {needed_for}), found a group")
        try:
            values = decode(ds[()])
        except OSError as err:
            raise InvalidNWBError(self.path, path, f"could not read the values ({err})") from err
        return values if dtype is None else values.astype(dtype)

    def scalar(self, path: str, needed_for: str) -> Any:
        value = self.read(path, needed_for)
        return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value

    def lazy(self, path: str, chunks: tuple[int, ...], needed_for: str) -> da.Array:
        """A dataset as a dask array read chunk by chunk under the process-wide HDF5 lock.

        ``chunks`` are the reads; the store keeps them as its chunks unless the variable's
        ``encoding`` names others (see ``vbzarr.convert.convert._encoding``).
        """
        ds = self.require(path, needed_for)
        if not isinstance(ds, h5py.Dataset):
            raise InvalidNWBError(self.path, path, f"expected a dataset (for {needed_for}), found a group")
        if ds.compression is not None:
            access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
            access.set_chunk_cache(100_003, CHUNK_CACHE_BYTES, 0.75)  # slots, bytes, default w0
            ds = h5py.Dataset(h5py.h5d.open(self.file.id, path.encode(), dapl=access))
        chunks = tuple(min(c, max(n, 1)) for c, n in zip(chunks, ds.shape, strict=True))
        return da.from_array(
            _Checked(ds, self.path, path),
            chunks=chunks,
            lock=H5_LOCK,
            asarray=True,
            name=f"{self.path}:{path}",
            meta=np.empty((0,) * ds.ndim, ds.dtype),
        )

    def check_length(self, path: str, values: np.ndarray | da.Array, n: int, what: str) -> None:
        if len(values) != n:
            raise InvalidNWBError(self.path, path, f"expected {n} values ({what}), found {len(values)}")

    # -- tables ------------------------------------------------------------------------------
    def table(
        self, path: str, needed_for: str, ragged: bool = True, skip: tuple[str, ...] = ()
    ) -> tuple[pd.DataFrame, dict]:
        """A DynamicTable as a DataFrame indexed by its ``id``, plus its ragged columns.

        Ragged columns (those with a ``<col>_index`` VectorIndex) are returned separately as
        ``{col: (flat values, end offsets)}`` so that the caller can store them without padding
        (``ragged=False`` leaves them out). Columns in ``skip`` are not read at all (e.g. spike
        times, which the caller streams). Object-reference columns (``timeseries``) and ``tags``
        are left out: they are NWB bookkeeping, not data a user reads.
        """
        group = self.require(path, needed_for)
        colnames = [_attr(c) for c in np.atleast_1d(group.attrs.get("colnames", []))]
        ids = self.read(f"{path}/id", needed_for)
        n = len(ids)
        columns: dict[str, np.ndarray] = {}
        ragged_cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for col in colnames:
            if col in ("tags", "timeseries") or col in skip:
                continue
            if f"{col}_index" in group:
                if not ragged:
                    continue
                ends = self.read(f"{path}/{col}_index", needed_for).astype(np.int64)
                self.check_length(f"{path}/{col}_index", ends, n, f"one offset per row of {path}")
                ragged_cols[col] = (self.read(f"{path}/{col}", needed_for), ends)
                continue
            ds = self.require(f"{path}/{col}", needed_for)
            if ds.ndim != 1:  # e.g. image_mask: not a scalar column
                continue
            values = self.read(f"{path}/{col}", needed_for)
            self.check_length(f"{path}/{col}", values, n, f"one per row of {path}")
            columns[col] = values
        frame = pd.DataFrame(columns, index=pd.Index(ids, name="id"))
        return frame, ragged_cols

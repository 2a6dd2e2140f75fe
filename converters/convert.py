"""The driver: one NWB file -> one Zarr store, written aside and moved into place.

Every stream the file's kind has (:data:`vbzarr.convert.streams.STREAMS`) builds its group lazily
from the open HDF5 file; :mod:`vbzarr.convert.writer` writes the groups out (metadata first, then
the large arrays in slabs); :mod:`vbzarr.convert.publish` moves a finished store into place. The
sources are read through :mod:`vbzarr.convert.source`, which checksums them as they are read.
A failure leaves no store a reader could open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.local
import xarray as xr

from vbzarr import __version__
from vbzarr.schema import SCHEMA_VERSION

from . import metadata
from .chunking import Chunking
from .lfp import lfp_group
from .nwb import NWBReader
from .publish import publish, refuse_foreign_destination, staging
from .source import lfp_files, open_source
from .streams import streams_of
from .writer import WRITE_THREADS, FolderTarget, StagedStore, Target


@dataclass
class StoreSummary:
    """What the manifest records of one store."""

    kind: str
    id: int
    url: str
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


def build_groups(nwb: NWBReader, chunking: Chunking, kind: str) -> tuple[dict[str, xr.Dataset], list[str]]:
    """Every stream a ``kind`` of file has, as ``{group path: lazy Dataset}``, and those it lacks."""
    groups, missing = {}, []
    for stream in streams_of(kind):
        result = stream.build(nwb, chunking)
        if result is None:
            missing.append(stream.name)
        elif isinstance(result, dict):
            groups.update({f"{stream.name}/{k}": v for k, v in result.items()})
        else:
            groups[stream.name] = result
    return groups, missing


def convert_nwb(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    chunking: Chunking | None = None,
    progress: bool = False,
    storage_options: dict | None = None,
    lfp: Sequence[str | os.PathLike] | None = None,
    threads: int | None = None,
) -> StoreSummary:
    """Convert one Allen Visual Behavior NWB file into a Zarr store (an ``xarray.DataTree``).

    Parameters
    ----------
    src
        The NWB file: a local path or an fsspec URL.
    dst
        Where the store goes (local path or fsspec URL, e.g. ``s3://bucket/x.zarr``). An existing
        store there is replaced only once the new one is complete.
    chunking
        Chunk lengths (default :class:`Chunking`).
    progress
        Show a progress bar over the slabs written.
    storage_options
        fsspec options for ``dst``.
    lfp
        The per-probe ``probe_<name>_lfp.nwb`` files of an ecephys session: each becomes the
        group ``lfp/<probe_id>``. Default: those beside ``src`` (as the release lays them out);
        ``()`` for none.
    threads
        Writer threads (default ``WRITE_THREADS``, one per core); fewer when several files
        convert at once on one machine.

    Returns
    -------
    StoreSummary
        Kind, id, group shapes, missing streams and provenance, as the manifest records them.

    Raises
    ------
    InvalidNWBError
        The file is not HDF5, is truncated, is not a Visual Behavior NWB file, or lacks a field a
        stream needs; the message names the file and the field. Nothing is written at ``dst``.

    Examples
    --------
    >>> convert_nwb("behavior_ophys_experiment_951980471.nwb", "951980471.zarr")  # doctest: +SKIP
    """
    chunking = chunking or Chunking()
    dst = str(dst)
    refuse_foreign_destination(dst, storage_options)
    with staging(dst) as folder:
        staged = folder / "store.zarr"
        summary = write_store(
            src, FolderTarget(str(staged)), chunking=chunking, progress=progress, lfp=lfp, threads=threads
        )
        publish(folder, staged, dst, storage_options)
    summary.url = dst
    return summary


def write_store(
    src: str | os.PathLike,
    target: Target,
    *,
    chunking: Chunking | None = None,
    progress: bool = False,
    lfp: Sequence[str | os.PathLike] | None = None,
    threads: int | None = None,
    consolidate: bool = True,
    source_options: dict | None = None,
) -> StoreSummary:
    """Write the store of one NWB file into ``target`` (a staging folder, or a path of an
    Icechunk session, which needs no consolidated metadata); see :func:`convert_nwb`."""
    chunking = chunking or Chunking()
    # Every dask computation of a conversion runs in the thread that asks for it (the writer
    # parallelises over slabs), even inside a dask.distributed worker, whose default scheduler
    # would try to ship h5py objects. A function, not a name: given a name, dask first imports
    # distributed to look for a client (a quarter of a second).
    with dask.config.set(scheduler=dask.local.get_sync):
        staged = StagedStore(target, chunking, threads or WRITE_THREADS)
        with contextlib.ExitStack() as stack:
            nwb, provenance = stack.enter_context(open_source(src, source_options))
            kind, store_id = metadata.kind_and_id(nwb)
            if lfp is None and kind == "ecephys_session":
                lfp = lfp_files(str(src), source_options)
            groups, missing = build_groups(nwb, chunking, kind)
            for path in lfp or ():
                lfp_nwb, lfp_provenance = stack.enter_context(open_source(path, source_options))
                probe_id, ds = lfp_group(lfp_nwb, chunking)
                groups[f"lfp/{probe_id}"] = ds
                provenance.setdefault("lfp_sources", []).append(lfp_provenance)
            if kind == "ecephys_session" and not lfp:
                missing.append("lfp")
            missing += [f"{g}/{v}" for g, ds in groups.items() for v in ds.attrs.get("missing_variables", [])]
            attrs = metadata.root_attrs(nwb, kind)
            if not attrs["eye_tracking_rig_geometry"]:
                missing.append("eye_tracking_rig_geometry")
            staged.write(groups, progress, label=Path(str(src)).name)
        # Sources closed: their checksums (computed alongside) are in the provenance now.
        provenance |= {
            "converter_version": __version__,
            "converted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        summary = StoreSummary(
            kind=kind,
            id=store_id,
            url="",
            groups={g: {str(d): int(n) for d, n in ds.sizes.items()} for g, ds in groups.items()},
            missing=missing,
            source=provenance,
        )
        attrs |= {
            "vbzarr_schema_version": SCHEMA_VERSION,
            "kind": kind,
            "missing_streams": missing,
            "provenance": provenance,
            "group_sizes": summary.groups,
        }
        staged.finish(attrs, consolidate)
    return summary

"""Local paths and fsspec URLs, handled the same way everywhere."""

from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec.core import url_to_fs
from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore


def is_local(url: str | os.PathLike) -> bool:
    """True for a plain path or a ``file://`` URL."""
    url = str(url)
    return "://" not in url or url.startswith("file://")


def filesystem(
    url: str | os.PathLike, storage_options: dict[str, Any] | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of ``url`` and the path within it.

    ``s3://`` needs s3fs (``pip install vbzarr[s3]``); fsspec raises an ImportError saying so.
    """
    url = str(url)
    return url_to_fs(local_path(url) if is_local(url) else url, **(storage_options or {}))


def local_path(url: str | os.PathLike) -> str:
    """The absolute path of a plain path or ``file://`` URL."""
    return os.path.abspath(os.path.expanduser(str(url).removeprefix("file://")))


def object_storage_options(url: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """fsspec options for reading a store: on S3, ``max_concurrency=1`` unless given, since
    s3fs otherwise sends a HEAD before every GET of a whole object (a Zarr chunk)."""
    options = dict(storage_options or {})
    if str(url).startswith(("s3://", "s3a://")):
        options.setdefault("max_concurrency", 1)
    return options


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for paths and URLs alike."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def zarr_store(url: str, storage_options: dict[str, Any] | None = None, mode: str = "r") -> Store:
    """A Zarr store over ``url``: a ``LocalStore`` for paths, else an ``FsspecStore`` (read with
    :func:`object_storage_options`). Open groups under one such store rather than one store per
    group: on object storage its one filesystem keeps its connections."""
    if is_local(url):
        return LocalStore(filesystem(url)[1], read_only=mode == "r")
    options = object_storage_options(url, storage_options) if mode == "r" else storage_options
    return FsspecStore.from_url(url, storage_options=options, read_only=mode == "r")

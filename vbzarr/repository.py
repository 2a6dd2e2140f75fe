"""A project as a transactional Zarr repository (Icechunk), in a folder or under a bucket prefix.

Every conversion is a commit: a store's groups and its index record (the store's root attributes)
land together or not at all, and readers open one snapshot (the branch tip when they open, a tag
such as ``v1.0.1``, or a snapshot id) that later commits never change. The repository is still
plain Zarr: ``xr.open_zarr(session.store, group="ophys_experiments/<id>/ophys",
consolidated=False)`` reads it without vbzarr.

This module maps a URL and fsspec-style ``storage_options`` to Icechunk's storage and opens
repositories and read-only sessions; writing is the converters' job.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import icechunk

from .errors import ProjectAccessError, ProjectNotFoundError, StoreNotFoundError
from .urls import is_local, local_path

BRANCH = "main"

if "ICECHUNK_LOG" not in os.environ:
    # Icechunk warns on every local repository that its storage does not arbitrate concurrent
    # commits; vbzarr serialises a local project's commits itself (converters.commits).
    icechunk.set_logs_filter("icechunk=error")


def storage(url: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> icechunk.Storage:
    """Icechunk storage for a local folder or an ``s3://bucket/prefix`` URL.

    ``storage_options`` are fsspec/s3fs-style (``anon``, ``key``/``secret``/``token``,
    ``client_kwargs={"endpoint_url": ..., "region_name": ...}``), translated for Icechunk so one
    dict serves both.
    """
    url = str(url)
    if is_local(url):
        return icechunk.local_filesystem_storage(local_path(url))
    parsed = urlparse(url)
    if parsed.scheme not in ("s3", "s3a"):
        raise StoreNotFoundError(
            f"{url}: expected a local folder or an s3:// URL for a project; "
            f"{parsed.scheme}:// is not supported"
        )
    options = dict(storage_options or {})
    client = dict(options.get("client_kwargs") or {})
    endpoint = client.get("endpoint_url") or options.get("endpoint_url")
    anonymous = bool(options.get("anon"))
    keys = options.get("key") is not None
    return icechunk.s3_storage(
        bucket=parsed.netloc,
        prefix=parsed.path.strip("/") or None,
        region=client.get("region_name"),
        endpoint_url=endpoint,
        allow_http=bool(endpoint and endpoint.startswith("http://")),
        force_path_style=bool(endpoint),
        anonymous=anonymous or None,
        access_key_id=options.get("key"),
        secret_access_key=options.get("secret"),
        session_token=options.get("token"),
        from_env=None if (anonymous or keys) else True,
    )


#: Snapshot nodes (groups and arrays) Icechunk keeps parsed. Its default, 500,000, is less than a
#: release holds (VBO: 6,015 stores of ~100-135 nodes each). A repository object kept across many
#: commits stalled for minutes past 4,500 stores with the default; in fresh processes, reading and
#: committing a release-size project measure the same with either (``bench_commits``). This holds
#: three snapshots of a whole release.
SNAPSHOT_NODES = 2_000_000

#: No chunk manifest is fetched when a session opens: every array of every store has its own
#: manifest, so a large project has hundreds of thousands, and opening must cost a few requests
#: whatever its size.
CONFIG = icechunk.RepositoryConfig(
    manifest=icechunk.ManifestConfig(preload=icechunk.ManifestPreloadConfig(max_total_refs=0)),
    caching=icechunk.CachingConfig(num_snapshot_nodes=SNAPSHOT_NODES),
)


def open_repository(
    url: str | os.PathLike, storage_options: dict[str, Any] | None = None
) -> icechunk.Repository:
    """The project repository at ``url``.

    Raises
    ------
    ProjectNotFoundError
        There is no repository at ``url``.
    ProjectAccessError
        ``url`` cannot be read (missing bucket, credentials refused, network): the message
        carries the storage's own error.
    """
    if is_local(str(url)) and os.path.isfile(local_path(str(url))):  # Icechunk panics on a file
        raise ProjectNotFoundError(
            f"{url}: expected a vbzarr project (a folder holding an Icechunk repository); found a file"
        )
    store = storage(url, storage_options)
    try:
        return icechunk.Repository.open(store, config=CONFIG)
    except icechunk.IcechunkError as err:
        try:
            exists = icechunk.Repository.exists(store)
        except icechunk.IcechunkError:
            exists = None
        if exists is False:
            raise ProjectNotFoundError(
                f"{url}: expected a vbzarr project (an Icechunk repository); there is none. Convert "
                "one with `vbzarr convert SRC DST`."
            ) from err
        detail = " ".join(str(err).split())[:300]
        raise ProjectAccessError(
            f"{url}: could not read the project; check the bucket, the prefix and the credentials "
            f"(storage_options). The storage said: {detail}"
        ) from err


def readonly_session(
    repo: icechunk.Repository, version: str | None = None, url: str = ""
) -> icechunk.Session:
    """A read-only session: the branch tip (``version=None``), a tag, or a snapshot id."""
    if version is None:
        return repo.readonly_session(BRANCH)
    if version in repo.list_tags():
        return repo.readonly_session(tag=version)
    try:
        return repo.readonly_session(snapshot_id=version)
    except (icechunk.IcechunkError, ValueError) as err:
        raise ProjectNotFoundError(
            f"{url}: expected a tag ({sorted(repo.list_tags())}) or a snapshot id of the project; "
            f"got {version!r}"
        ) from err

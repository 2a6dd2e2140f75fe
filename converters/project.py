"""Convert a whole project in the released layout into a vbzarr project, incrementally.

A released project is a folder (or fsspec URL) holding ``project_metadata/*.csv`` and the NWB
folders; an AllenSDK cache directory one or two levels above it works too. Each NWB file (an
ecephys session with its per-probe LFP files) becomes one store under ``<dst>/<kind>s/<id>.zarr``;
the manifest is written last. Files whose size and modification time match the manifest's record
are skipped, so re-running converts only new or changed files. A file that fails is reported with
its error and the rest of the batch still converts.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vbzarr.errors import ProjectNotFoundError, VbzarrError
from vbzarr.manifest import STORES, TABLES, dataset_of, open_manifest, read_table, write_manifest
from vbzarr.schema import SCHEMA_VERSION, STORE_FOLDERS
from vbzarr.urls import filesystem, join

from .convert import StoreSummary, convert_nwb, lfp_files

#: NWB file patterns of the released layouts -> (kind of store, regex capturing the id)
LAYOUT = [
    (
        "ophys_experiment",
        "behavior_ophys_experiments/behavior_ophys_experiment_*.nwb",
        r"behavior_ophys_experiment_(\d+)\.nwb$",
    ),
    ("behavior_session", "behavior_sessions/behavior_session_*.nwb", r"behavior_session_(\d+)\.nwb$"),
    ("ecephys_session", "behavior_ecephys_sessions/*/ecephys_session_*.nwb", r"ecephys_session_(\d+)\.nwb$"),
    ("behavior_session", "behavior_only_sessions/*/behavior_session_*.nwb", r"behavior_session_(\d+)\.nwb$"),
]


#: Errors that mark one file as bad without stopping the batch: invalid NWB content, I/O failures.
BATCH_ERRORS = (VbzarrError, OSError)


def is_nwb_file(src: str) -> bool:
    """True when ``src`` names one NWB file rather than a project."""
    return str(src).lower().endswith(".nwb")


@dataclass(frozen=True)
class Job:
    """One store to write: its kind, id, source NWB (plus LFP files) and destination."""

    kind: str
    id: int
    source: str
    lfp: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"{STORE_FOLDERS[self.kind + '_id']}/{self.id}.zarr"


@dataclass
class ProjectReport:
    """What a project conversion did."""

    url: str
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [
            f"{self.url}: {len(self.converted)} converted, {len(self.skipped)} unchanged, "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  FAILED {src}: {err}" for src, err in self.failed.items()]
        return "\n".join(lines)


def find_project_metadata(src: str, storage_options: dict | None = None) -> str:
    """The folder holding ``project_metadata/``: ``src`` itself or up to two levels below it."""
    fs, root = filesystem(src, storage_options)
    for depth in ("", "*/", "*/*/"):
        hits = fs.glob(join(root, depth + "project_metadata"))
        if hits:
            return (
                src.rstrip("/") + hits[0][len(root.rstrip("/")) : -len("/project_metadata")]
                if "://" in src
                else os.path.dirname(hits[0])
            )
    raise ProjectNotFoundError(
        f"{src}: expected a released project (a folder with project_metadata/*.csv, or an AllenSDK "
        "cache directory above one); found none"
    )


def discover(src: str, storage_options: dict | None = None) -> tuple[str, list[Job], dict]:
    """Dataset name, conversion jobs and source stats (size, mtime) of a released project."""
    fs, root = filesystem(src, storage_options)
    names = [os.path.basename(p) for p in fs.ls(join(root, "project_metadata"), detail=False)]
    dataset = dataset_of(names)
    jobs, stats = [], {}
    prefix = src.rstrip("/")
    for kind, pattern, regex in LAYOUT:
        for path in sorted(fs.glob(join(root, pattern))):
            rel = path[len(root.rstrip("/")) + 1 :]
            match = re.search(regex, rel)
            if not match:
                continue
            source = join(prefix, rel)
            lfp = lfp_files(source, storage_options) if kind == "ecephys_session" else ()
            job = Job(kind=kind, id=int(match.group(1)), source=source, lfp=lfp)
            jobs.append(job)
            for s in (job.source, *lfp):
                info = fs.info(filesystem(s, storage_options)[1])
                stats[s] = (int(info["size"]), str(info.get("mtime") or info.get("LastModified")))
    return dataset, jobs, stats


def _convert_job(
    job: Job, dst: str, storage_options: dict | None, threads: int | None = None
) -> StoreSummary:
    return convert_nwb(
        job.source, join(dst, job.path), storage_options=storage_options, lfp=job.lfp, threads=threads
    )


def _summary_row(job: Job, summary: StoreSummary, stats: dict) -> dict[str, Any]:
    size, mtime = stats[job.source]
    return {
        "store": job.path,
        "kind": job.kind,
        "id": job.id,
        "source": job.source,
        "source_size": size,
        "source_mtime": mtime,
        "lfp_sources": [f"{s}|{stats[s][0]}|{stats[s][1]}" for s in job.lfp],
        "sha256": summary.source["sha256"],
        "groups": summary.groups,
        "missing_streams": summary.missing,
        "converted_at": summary.source["converted_at"],
    }


def _unchanged(job: Job, old: pd.DataFrame, stats: dict) -> bool:
    if job.path not in old.index:
        return False
    row = old.loc[job.path]
    lfp = [f"{s}|{stats[s][0]}|{stats[s][1]}" for s in job.lfp]
    return (
        row.source == job.source
        and int(row.source_size) == stats[job.source][0]
        and str(row.source_mtime) == stats[job.source][1]
        and list(row.lfp_sources) == lfp
    )


def convert_project(
    src: str,
    dst: str,
    *,
    workers: int = 1,
    progress: bool = False,
    storage_options: dict | None = None,
    source_options: dict | None = None,
    on_result: Callable[[Job, BaseException | None], None] | None = None,
) -> ProjectReport:
    """Convert a released project (local folder or fsspec URL) into a vbzarr project at ``dst``.

    Parameters
    ----------
    src
        Folder or URL holding ``project_metadata/`` (or an AllenSDK cache directory above it).
    dst
        Project path or URL (e.g. ``s3://bucket/vbo``).
    workers
        Files converted at once; above 1, on a ``dask.distributed`` LocalCluster of processes.
    storage_options, source_options
        fsspec options for ``dst`` and ``src``.

    Returns
    -------
    ProjectReport
        Converted, unchanged and failed files (with their errors). The manifest indexes every store
        that converted, now or before.
    """
    src = find_project_metadata(src, source_options)
    dataset, jobs, stats = discover(src, source_options)
    fs, meta = filesystem(join(src, "project_metadata"), source_options)
    tables = {
        name: read_table(fs.cat_file(join(meta, csv)), name, index, dataset)
        for name, (csv, index) in TABLES[dataset].items()
    }
    try:
        old = open_manifest(dst, storage_options).table(STORES)
    except VbzarrError:
        old = pd.DataFrame(columns=["source"], index=pd.Index([], name="store"))
    report = ProjectReport(url=dst)
    rows = {path: row for path, row in old.iterrows()}
    todo = []
    for job in jobs:
        if _unchanged(job, old, stats):
            report.skipped.append(job.source)
        else:
            todo.append(job)
    for job, result in _run(todo, dst, workers, progress, storage_options):
        if isinstance(result, BaseException):
            report.failed[job.source] = f"{type(result).__name__}: {result}"
        else:
            report.converted.append(job.source)
            rows[job.path] = _summary_row(job, result, stats)
        if on_result is not None:
            on_result(job, result if isinstance(result, BaseException) else None)
    stores = pd.DataFrame(
        [{"store": k, **{c: v for c, v in dict(r).items() if c != "store"}} for k, r in rows.items()]
    )
    stores = stores.set_index("store").sort_index() if len(stores) else old
    attrs = {
        "vbzarr_schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "source": src,
        "tables": list(tables),
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_manifest(dst, tables, stores, attrs, storage_options)
    return report


#: Dask config starting LocalCluster workers without dask's MALLOC_TRIM_THRESHOLD_=65536, which
#: turns off glibc's adaptive mmap threshold: every large buffer is then a fresh mmap whose pages
#: fault in again, and conversions and analyses run about half as fast
#: (benchmarks/bench_alignment.py, part i, compares LocalClusters with and without it).
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _run(jobs: list[Job], dst: str, workers: int, progress: bool, storage_options: dict | None):
    """Yield ``(job, summary or exception)``; in parallel on a LocalCluster when workers > 1."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="convert", unit="file", disable=not progress)
    if workers <= 1:
        for job in jobs:
            try:
                yield job, _convert_job(job, dst, storage_options)
            except BATCH_ERRORS as err:  # one bad file never stops the batch
                yield job, err
            bar.update()
        bar.close()
        return
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    with (
        dask.config.set(NO_MALLOC_TRIM),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        # The workers share the machine's cores: each converts with its share of writer threads.
        threads = max(1, (os.cpu_count() or 1) // workers)
        futures = {
            client.submit(_convert_job, job, dst, storage_options, threads, pure=False): job for job in jobs
        }
        for future in as_completed(futures):
            job = futures[future]
            err = future.exception()
            if err is not None and not isinstance(err, BATCH_ERRORS):
                raise err  # a bug, not a bad file
            yield job, err if err is not None else future.result()
            bar.update()
    bar.close()

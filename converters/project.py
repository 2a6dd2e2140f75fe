"""Convert a whole project in the released layout into a vbzarr project, incrementally.

A released project is a folder (or fsspec URL) holding ``project_metadata/*.csv`` and the NWB
folders; an AllenSDK cache directory one or two levels above it works too. The vbzarr project is
an Icechunk repository (:mod:`vbzarr.repository`): the manifest (the release's tables) is its
first commit, and each NWB file (an ecephys session with its per-probe LFP files) becomes the
group tree ``<kind folder>/<id>/`` with its index record (the tree's root attributes), written
into a fork of the run's session and committed with the other files finished meanwhile
(:class:`~vbzarr.convert.commits.Batches`). A kill loses only the files not committed yet; a
re-run converts only files not committed yet or whose content (sha256) changed; a file that fails
is reported with its error and the rest of the batch still converts.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import icechunk
import pandas as pd
from zarr.core.sync import sync

from vbzarr.errors import ConcurrentConversionError, DestinationError, ProjectNotFoundError, VbzarrError
from vbzarr.manifest import store_records
from vbzarr.repository import BRANCH
from vbzarr.schema import SCHEMA_VERSION, store_folder
from vbzarr.urls import filesystem, is_local, join

from .cluster import Runner, choose_parallelism
from .commits import Batches, commit_manifest, conversion_run, open_or_create
from .convert import write_store
from .progress import progress_bar
from .release import TABLES, dataset_of, read_table
from .source import file_sha256, lfp_files
from .writer import StoreTarget

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
    size: int = 0  # bytes of the sources, for the progress bar

    @property
    def path(self) -> str:
        return f"{store_folder(self.kind)}/{self.id}"


@dataclass
class ProjectReport:
    """What a project conversion did."""

    url: str
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    tag: str | None = None
    converted_bytes: int = 0
    seconds: float = 0.0
    parallelism: str = ""

    def describe(self) -> str:
        rate = (
            f" ({self.converted_bytes / 1e9:.2f} GB of NWB in {self.seconds:.1f} s, "
            f"{self.converted_bytes / 1e6 / max(self.seconds, 1e-9):.0f} MB/s; {self.parallelism})"
            if self.converted
            else ""
        )
        lines = [
            f"{self.url}: {len(self.converted)} converted{rate}, {len(self.skipped)} unchanged, "
            f"{len(self.failed)} failed" + (f"; tagged {self.tag}" if self.tag else "")
        ]
        lines += [f"  FAILED {src}: {err}" for src, err in self.failed.items()]
        lines += [f"  NOTE {p}" for p in self.problems]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-friendly data (``vbzarr convert --report FILE``)."""
        return {
            "url": self.url,
            "converted": self.converted,
            "unchanged": self.skipped,
            "failed": self.failed,
            "problems": self.problems,
            "tag": self.tag,
            "converted_bytes": self.converted_bytes,
            "seconds": round(self.seconds, 3),
            "parallelism": self.parallelism,
        }


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


def discover(src: str, storage_options: dict | None = None) -> tuple[str, list[Job], list[str]]:
    """Dataset name, conversion jobs, and the problems of the release's files (a broken link, an
    NWB under a name the layout does not have), each naming the file."""
    fs, root = filesystem(src, storage_options)
    names = [os.path.basename(p) for p in fs.ls(join(root, "project_metadata"), detail=False)]
    dataset = dataset_of(names)
    jobs, problems = [], []
    prefix = src.rstrip("/")
    for kind, pattern, regex in LAYOUT:
        folder = pattern.split("/")[0]
        # Locally a walk (which sees broken links); on object storage one listing of the files.
        local = is_local(src)
        paths = fs.glob(join(root, folder, "**")) if local else fs.find(join(root, folder), detail=True)
        for path in sorted(paths):
            rel = path[len(root.rstrip("/")) + 1 :]
            source = join(prefix, rel)
            if local and os.path.islink(path) and not os.path.exists(path):
                problems.append(f"{source}: a broken link (expected an NWB file); skipped")
                continue
            if (local and os.path.isdir(path)) or "probe_" in os.path.basename(rel):
                continue
            match = re.search(regex, rel)
            if match is None or not fnmatch.fnmatch(rel, pattern):
                if not any(re.search(r, rel) for _, _, r in LAYOUT):
                    problems.append(
                        f"{source}: expected a file named like {pattern} in the released layout; skipped"
                    )
                continue
            lfp = lfp_files(source, storage_options) if kind == "ecephys_session" else ()
            size = os.path.getsize(path) if local else paths[path]["size"]
            size += sum(fs.size(filesystem(f, storage_options)[1]) for f in lfp)
            jobs.append(Job(kind=kind, id=int(match.group(1)), source=source, lfp=lfp, size=size))
    return dataset, jobs, problems


def expected_ids(dataset: str, tables: dict[str, pd.DataFrame]) -> dict[str, set[int]]:
    """The ids of the stores the release's tables list, by kind (behavior sessions: those without
    imaging or ephys, whose own NWB the release holds)."""
    if dataset == "visual-behavior-ophys":
        sessions = tables["behavior_session_table"]
        return {
            "ophys_experiment": set(tables["ophys_experiment_table"].index.astype(int)),
            "behavior_session": set(sessions.index[sessions["ophys_session_id"].isna()].astype(int)),
        }
    sessions = tables["behavior_session_table"]
    return {
        "ecephys_session": set(tables["ecephys_session_table"].index.astype(int)),
        "behavior_session": set(sessions.index[sessions["ecephys_session_id"].isna()].astype(int)),
    }


def _changed(job: Job, record: dict[str, Any] | None, source_options: dict | None) -> bool:
    """Whether ``job`` needs converting: no store yet, an older converter schema, or sources
    whose content (sha256) differs from the one converted (a touched file is not a change)."""
    if record is None or record.get("vbzarr_schema_version") != SCHEMA_VERSION:
        return True
    provenance = record.get("provenance", {})
    sources = [job.source, *job.lfp]
    recorded = [provenance.get("sha256")] + [s.get("sha256") for s in provenance.get("lfp_sources", [])]
    if len(recorded) != len(sources):
        return True
    return any(
        file_sha256(*filesystem(s, source_options)) != r for s, r in zip(sources, recorded, strict=True)
    )


def convert_project(
    src: str,
    dst: str,
    *,
    workers: int | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    storage_options: dict | None = None,
    source_options: dict | None = None,
    tag: str | None = None,
    on_result: Callable[[Job, BaseException | None], None] | None = None,
) -> ProjectReport:
    """Convert a released project (local folder or fsspec URL) into a vbzarr project at ``dst``.

    The project is an Icechunk repository. Its first commit holds the manifest (the release's
    tables); then the files are converted and committed in batches, so a kill loses only the
    files not committed yet, readers never see a partial store, and a re-run converts only what
    is not committed yet or whose source content changed.

    Parameters
    ----------
    src
        Folder or URL holding ``project_metadata/`` (or an AllenSDK cache directory above it).
    dst
        Project folder or URL (e.g. ``s3://bucket/vbo``): new, empty, or a vbzarr project. Anything
        else is refused and left untouched.
    workers, threads
        Files converted at once (above 1, on a ``dask.distributed`` LocalCluster of processes) and
        writer threads per file; ``None``: chosen for the machine
        (:func:`~vbzarr.convert.cluster.choose_parallelism`).
    scheduler
        Address of an existing ``dask.distributed`` scheduler (``tcp://host:8786``) to convert on
        instead; its workers need vbzarr installed and access to ``src`` and ``dst``.
    storage_options, source_options
        fsspec options for ``dst`` and ``src``.
    tag
        Tag the resulting snapshot (e.g. ``v1.0.1``); readers open it with
        ``open_project(dst, version=tag)``.

    Returns
    -------
    ProjectReport
        Converted, unchanged and failed files (with their errors), and the release's problems.

    Raises
    ------
    DestinationError, ProjectInputError, SchemaVersionError, ClusterError, UsageError
        The run could not start (nothing was converted or changed).
    """
    start = time.perf_counter()
    src = find_project_metadata(src, source_options)
    dataset, jobs, problems = discover(src, source_options)
    fs, meta = filesystem(join(src, "project_metadata"), source_options)
    tables = {}
    for name, (csv, index) in TABLES[dataset].items():
        tables[name] = read_table(
            fs.cat_file(join(meta, csv)), name, index, dataset, where=join(src, "project_metadata", csv)
        )
    # Bad options and an unreachable cluster stop the run before anything is written.
    parallelism = choose_parallelism(len(jobs), workers, threads, scheduler)
    with ExitStack() as stack:  # the cluster (or the connection to it) closed however the run ends
        cluster = stack.enter_context(Runner(parallelism, BATCH_ERRORS)) if scheduler else None
        repo = open_or_create(dst, storage_options)
        if tag is not None and tag in repo.list_tags():
            raise DestinationError(
                f"{dst}: expected a new tag name; the tag {tag!r} exists already (snapshot "
                f"{repo.lookup_tag(tag)}) and tags never move: choose another name"
            )
        report = ProjectReport(url=dst, problems=problems)
        stack.enter_context(conversion_run(repo, dst))  # orphans of killed runs collected first
        listed = expected_ids(dataset, tables)
        found = {(j.kind, j.id) for j in jobs}
        for kind, ids in listed.items():
            absent = sorted(i for i in ids if (kind, i) not in found)
            if absent:
                report.problems.append(
                    f"{src}: {len(absent)} {kind}(s) listed in the tables have no NWB file here "
                    f"(e.g. {absent[:3]}); not converted"
                )
        for job in jobs:
            if job.id not in listed.get(job.kind, set()):
                report.problems.append(
                    f"{job.source}: no row of the release's tables lists {job.kind} {job.id}"
                )
        commit_manifest(repo, dst, tables, {"dataset": dataset, "source": src})
        records = store_records(repo.readonly_session(BRANCH).store)
        todo = []
        for job in jobs:
            if _changed(job, records.get(job.path), source_options):
                todo.append(job)
            else:
                report.skipped.append(job.source)
        if cluster is None:  # chosen for the files left to convert
            parallelism = choose_parallelism(
                len(todo), workers, threads, total_bytes=sum(j.size for j in todo)
            )
        runner = cluster or stack.enter_context(Runner(parallelism, BATCH_ERRORS))
        report.parallelism = parallelism.describe()
        report.problems += runner.notes
        bar = _progress(todo, runner, disable=not progress)

        def record(job: Job, error: BaseException | None) -> None:
            if isinstance(error, ConcurrentConversionError):  # another run committed it: kept
                report.skipped.append(job.source)
                report.problems.append(str(error))
            elif error is not None:
                report.failed[job.source] = f"{type(error).__name__}: {error}"
            else:
                report.converted.append(job.source)
                report.converted_bytes += job.size
            if on_result is not None:
                on_result(job, error)

        batches = Batches(repo, dst, storage_options)
        tasks = [Task(job, batches.fork()) for job in todo]
        for done, (task, result) in enumerate(runner.run(convert_job, tasks, source_options), 1):
            if isinstance(result, BaseException):
                record(task.job, result)
            else:  # converted: committed with the next batch
                batches.add(task.job, result)
            if batches.due():
                for job, error in batches.commit():
                    record(job, error)
            bar.update(task.job.size)
            bar.set_postfix_str(f"{done}/{len(todo)} files", refresh=False)
        for job, error in batches.commit():
            record(job, error)
        bar.close()
    if tag is not None:
        snapshot = repo.lookup_branch(BRANCH)
        repo.create_tag(tag, snapshot_id=snapshot)
        report.tag = tag
    report.seconds = time.perf_counter() - start
    return report


@dataclass(frozen=True)
class Task:
    """A file to convert and the session (a fork of the run's) its store is written into."""

    job: Job
    fork: icechunk.ForkSession

    @property
    def source(self) -> str:
        return self.job.source


def convert_job(
    task: Task, source_options: dict | None = None, threads: int | None = None
) -> icechunk.ForkSession:
    """Convert one file into its fork of the run's session (on a worker, or in the process);
    returns the fork, which :class:`~vbzarr.convert.commits.Batches` commits."""
    job, store = task.job, task.fork.store
    if sync(store.exists(f"{job.path}/zarr.json")):
        sync(store.delete_dir(job.path))  # the old version stays in earlier snapshots
    write_store(
        job.source,
        StoreTarget(store, job.path),
        lfp=job.lfp,
        threads=threads,
        consolidate=False,
        source_options=source_options,
    )
    return task.fork


def _progress(jobs: list[Job], runner: Runner, disable: bool) -> Any:
    """A progress bar over the bytes of the files to convert, with a count of files."""
    bar = progress_bar(disable)(
        total=sum(j.size for j in jobs), desc="convert", unit="B", unit_scale=True, disable=disable
    )
    if runner.dashboard and not disable:
        bar.write(f"dask dashboard: {runner.dashboard}")
    return bar

"""Text summaries of a project, as ``vbzarr info`` prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import icechunk

if TYPE_CHECKING:
    from .project import Project


def describe_project(project: Project) -> str:
    """Dataset, schema, snapshot (and version), tables with their rows, stores by kind."""
    lines = [
        f"vbzarr project {project.url} ({project.dataset}, schema "
        f"{project.manifest.attrs['vbzarr_schema_version']}, snapshot {project.snapshot_id}"
        + (f", version {project.version}" if project.version else "")
        + ")"
    ]
    lines += [f"  {name}: {project.manifest.group[name].attrs['rows']} rows" for name in project.table_names]
    lines += [f"  {kind} stores: {n}" for kind, n in project.stores["kind"].value_counts().items()]
    return "\n".join(lines)


def describe_history(history: list[icechunk.SnapshotInfo], tags: dict[str, str]) -> str:
    """Commits (snapshot id, time, message, tags), newest first, as ``vbzarr info`` prints them."""
    named: dict[str, list[str]] = {}
    for tag, snapshot in tags.items():
        named.setdefault(snapshot, []).append(tag)
    lines = [
        f"  {info.id}  {info.written_at:%Y-%m-%d %H:%M:%S}  {info.message}"
        + (f" [{', '.join(named[info.id])}]" if info.id in named else "")
        for info in history
    ]
    return "history (newest first):\n" + "\n".join(lines)

"""The sessions a cross-session view runs over: ophys experiments in Visual Behavior Ophys (VBO),
Neuropixels sessions in Visual Behavior Neuropixels (VBN), with their id column, store kind, session
table and the table's columns carried onto the view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import pandas as pd

from .errors import UsageError

if TYPE_CHECKING:
    from .project import Project

#: Experiment-table columns carried as coordinates on ``ophys_experiment_id`` in cross-session
#: views, so that grouping by cre line, experience level, session... is one ``groupby``.
SESSION_COORDS = [
    "ophys_session_id",
    "behavior_session_id",
    "ophys_container_id",
    "mouse_id",
    "cre_line",
    "session_type",
    "session_number",
    "experience_level",
    "passive",
    "image_set",
    "imaging_depth",
    "targeted_structure",
    "equipment_name",
    "project_code",
]


#: What selects sessions: ids, a selection of the session table (its index), or None for all.
SessionIds: TypeAlias = "Iterable[int] | pd.DataFrame | None"


@dataclass(frozen=True)
class Sessions:
    """The sessions of one dataset, as cross-session views index them."""

    key: str  # their id column, e.g. ``ophys_experiment_id``
    kind: str  # the kind of their stores (see :meth:`Project.store`)
    table: str  # the project table listing them, indexed by ``key``
    columns: tuple[str, ...]  # the table's columns carried onto each session's rows, where present
    # Every session is every store of the kind, not every row of the table (which may list
    # sessions whose stores are of another kind).
    by_store: bool = False

    def ids(self, project: Project, ids: Iterable[int] | pd.DataFrame | pd.Index | None) -> list[int]:
        """Session ids, or rows of the session table (its index is used), as a list of ints;
        ``None`` for every session (the table is read only then)."""
        if ids is None and self.by_store:
            return store_ids(project, self.kind, None)
        if ids is None:
            ids = getattr(project, self.table).index
        elif isinstance(ids, pd.DataFrame):
            ids = ids.index
        return [int(i) for i in ids]

    def labels(self, project: Project, ids: list[int]) -> pd.DataFrame:
        """The session table's ``columns`` that it has, one row per id in ``ids`` (NaN for an id it
        lacks)."""
        table = getattr(project, self.table)
        return table.reindex(ids)[[c for c in self.columns if c in table]]


def store_ids(project: Project, kind: str, ids: SessionIds) -> list[int]:
    """Ids of stores of ``kind``: ``ids``, the index of a selection of a table, or (``None``)
    every store of that kind the project holds (training sessions too, which no session table
    of the views lists)."""
    if ids is None:
        ids = project.stores.query("kind == @kind")["id"]
    elif isinstance(ids, pd.DataFrame):
        ids = ids.index
    return [int(i) for i in ids]


OPHYS = Sessions("ophys_experiment_id", "ophys_experiment", "ophys_experiment_table", tuple(SESSION_COORDS))
ECEPHYS = Sessions(
    "ecephys_session_id",
    "ecephys_session",
    "ecephys_session_table",
    ("behavior_session_id", "mouse_id", "genotype", "session_type", "experience_level", "image_set"),
)


#: Behavior-only (training) sessions, which have stores of their own in both datasets.
BEHAVIOR = Sessions(
    "behavior_session_id",
    "behavior_session",
    "behavior_session_table",
    ("mouse_id", "cre_line", "genotype", "session_type", "session_number", "image_set", "equipment_name",
     "project_code", "date_of_acquisition"),
    by_store=True,  # the table also lists the imaging sessions, whose stores are their experiments'
)  # fmt: skip


def sessions_of(dataset: str, kind: str | None = None) -> Sessions:
    """The sessions of ``dataset`` (a project's ``dataset`` attribute): VBN's Neuropixels sessions,
    else ophys experiments; or those of ``kind`` (``"behavior_session"``: training sessions)."""
    main = ECEPHYS if dataset == "visual-behavior-neuropixels" else OPHYS
    if kind is None or kind == main.kind:
        return main
    if kind == BEHAVIOR.kind:
        return BEHAVIOR
    raise UsageError(
        f"expected kind {main.kind!r} or {BEHAVIOR.kind!r} for a {dataset} project; got {kind!r}"
    )

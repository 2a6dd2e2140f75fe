"""Event tables across sessions: ``stimulus_presentations`` or ``trials`` of many sessions in one
DataFrame, each row labelled with its session and the session table's columns, optionally
filtered by a query as each session's table is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import QueryError
from .performance import engaged_rows
from .sessions import sessions_of
from .store import to_dataframe

if TYPE_CHECKING:
    from .project import Project


def events_table(
    project: Project,
    ids: Iterable[int] | pd.DataFrame | None,
    table: str,
    query: str | None,
    engagement: bool = False,
    kind: str | None = None,
) -> pd.DataFrame:
    """``table`` of the sessions ``ids`` of ``project`` in one DataFrame (see
    :meth:`Project.events_table`)."""
    sessions = sessions_of(project.dataset, kind)
    key = sessions.key
    ids = sessions.ids(project, ids)
    labels = sessions.labels(project, ids)
    frames = []
    for sid, group in project._each_group(sessions.kind, ids, table, load=True):
        frame = to_dataframe(group)
        if engagement:
            frame["engaged"] = engaged_rows(project, sessions.kind, sid, table, frame)
        frame.insert(0, key, sid)
        frame = frame.reset_index()
        extra = labels.loc[[sid], [c for c in labels if c not in frame]]
        frame = frame.join(extra, on=key)
        if query is not None:
            frame = frame[_query_mask(frame, query, project.url, f"{table} of {key} {sid}")]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.index.name = "event"
    return out


def _query_mask(frame: pd.DataFrame, query: str, url: str, where: str) -> np.ndarray:
    """Rows of ``frame`` where ``query`` holds (``<NA>`` as False); errors name ``url`` and ``where``."""
    try:
        mask = frame.eval(query)
    except (NameError, SyntaxError, ValueError, TypeError, KeyError, AttributeError) as err:
        # What pandas' eval raises for a bad expression (UndefinedVariableError is a NameError).
        raise QueryError(
            f"{url}: expected a query over the columns {list(frame.columns)} of the "
            f"{where}; {query!r} failed: {err}"
        ) from err
    if not (isinstance(mask, pd.Series) and mask.index.equals(frame.index)):
        raise QueryError(
            f"{url}: expected {query!r} to give one True/False per row of the {where}; "
            f"it gave {type(mask).__name__}"
        )
    return mask.fillna(False).to_numpy(dtype=bool)

"""Event-aligned means over many containers in one lazy result, without NaN blocks.

One :func:`vbzarr.align` over the union of many containers' cells is dense over (cells of every
container) x (events of every session): it holds a NaN block for every (other container's cells,
session) pair, so its cost grows with the square of the containers. Here each container's cells
are aligned to its own sessions' events only, reduced over events, and the means joined along
the cells: one lazy graph, linear in the data actually aligned, computed once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import xarray as xr

from .alignment import align
from .errors import ManifestError

if TYPE_CHECKING:
    from .project import Project
    from .sessions import SessionIds


def mean_by_container(
    project: Project,
    ids: SessionIds = None,
    *,
    query: str | None = "is_change",
    window: tuple[float, float] = (-1.0, 2.0),
    by: str | list[str] = "image_name",
    rate: float | None = None,
    variable: str = "dff",
    table: str = "stimulus_presentations",
) -> xr.DataArray:
    """The mean of ``variable`` around the events of each group ``by`` (an event column, e.g.
    ``image_name``, or the session table's ``experience_level``), cell by cell, over every
    container of ``ids`` (default: every experiment of the project): lazy, one compute.

    Parameters
    ----------
    project
        A VBO project.
    ids
        Experiments (ids or a selection of ``ophys_experiment_table``).
    query, table
        The events: ``project.events_table(experiments, table, query)`` of each container.
    window, rate
        As :func:`vbzarr.align` (a common ``rate`` puts every container on one grid; default the
        native rate of the first container).
    by
        Event column(s) to average within.

    Returns
    -------
    xarray.DataArray
        ``(cell_specimen_id, *by, time_from_event)``, each cell averaged over its own sessions'
        events (NaN for a group its sessions never show).

    Examples
    --------
    >>> mean = vbzarr.mean_by_container(project, vip, by="experience_level", rate=30.0)  # doctest: +SKIP
    >>> mean.mean("cell_specimen_id").compute()  # doctest: +SKIP
    """
    experiments = project.ophys_experiment_table
    if ids is not None:
        keep = ids.index if isinstance(ids, pd.DataFrame) else list(ids)
        experiments = experiments.loc[keep]
    if experiments.empty:
        raise ManifestError(f"{project.url}: expected at least one ophys experiment")
    means = []
    for _, container in experiments.groupby("ophys_container_id", sort=False):
        signal = project.cell_traces(container, variable)
        events = project.events_table(container, table, query)
        aligned = align(signal, events, window, rate=rate)
        rate = aligned.attrs["aligned_rate_hz"]  # every container on the first one's grid
        means.append(aligned.groupby(by).mean("event"))
    return xr.concat(means, "cell_specimen_id", join="outer")

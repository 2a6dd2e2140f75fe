"""``vbzarr demo``: the main job end to end on a synthetic project generated on the fly.

1. Write a small Visual Behavior Ophys project in the released layout (Allen-layout NWB files and
   project CSVs) with the factory in :mod:`vbzarr.testing.synthetic`: one container of excitatory
   (Slc17a7) cells followed through familiar and novel image sessions.
2. Convert it into a vbzarr project (``vbzarr convert``).
3. Open the project, select the container, compute the change-aligned mean dF/F of its cells by
   experience level, lazily, print what it computed and save a figure (``change_responses.png``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from .demo_figure import BASELINE_WINDOW, RESPONSE_WINDOW, change_figure, population_mean, window_mean

FIGURE = "change_responses.png"


@dataclass(frozen=True)
class DemoResult:
    """What ``vbzarr demo`` computed.

    ``mean`` is the ``(cell_specimen_id, experience_level, time_from_event)`` mean dF/F around image
    changes; ``table`` has one row per experience level (:func:`change_table`); ``figure`` is the PNG.
    """

    mean: xr.DataArray
    table: pd.DataFrame
    figure: Path


def change_table(mean: xr.DataArray, changes: pd.DataFrame) -> pd.DataFrame:
    """Per experience level: sessions, cells, changes, and the population's mean dF/F before and
    after the change.

    Parameters
    ----------
    mean
        ``(cell_specimen_id, experience_level, time_from_event)`` mean dF/F of each cell.
    changes
        The change rows aligned to (``ophys_experiment_id`` and ``experience_level`` columns).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``experience_level``: ``sessions``, ``cells``, ``changes``, ``baseline`` (mean
        dF/F in ``BASELINE_WINDOW``, the last flash's interval before the change), ``response``
        (in ``RESPONSE_WINDOW``) and ``response_sem`` (over cells).
    """
    by_level = changes.groupby("experience_level")
    baseline, response = (window_mean(mean, w) for w in (BASELINE_WINDOW, RESPONSE_WINDOW))
    _, sem = population_mean(response)  # per-cell window means: the SEM of the response itself
    table = pd.DataFrame(
        {
            "sessions": by_level.ophys_experiment_id.nunique(),
            "cells": response.notnull().sum("cell_specimen_id").to_series(),
            "changes": by_level.size(),
            "baseline": baseline.mean("cell_specimen_id").to_series(),
            "response": response.mean("cell_specimen_id").to_series(),
            "response_sem": sem.to_series(),
        }
    )
    table.index.name = "experience_level"
    return table


def run_demo(workdir: str | Path = "vbzarr-demo", size: str = "small", show: bool = True) -> DemoResult:
    """Generate, convert, open and align; print a table and save a figure in ``workdir``.

    Parameters
    ----------
    workdir
        Folder for the release (``release/``), the project (``project/``) and the figure; a release
        already there is reused.
    size
        Factory size preset (:class:`vbzarr.testing.synthetic.sizes.Size`).
    show
        Print progress, the table and the figure's path.

    Returns
    -------
    DemoResult
        The per-cell mean around changes, the table and the figure's path.
    """
    from vbzarr import align
    from vbzarr.project import open_project
    from vbzarr.testing.synthetic.project import make_vbo_project

    from .project import convert_project

    say = print if show else (lambda *a, **k: None)
    workdir = Path(workdir)
    release, project_dir = workdir / "release", workdir / "project"
    t0 = time.perf_counter()
    if not (release / "project_metadata").is_dir():
        say(f"[1/3] writing a synthetic VBO release ({size}) to {release} ...")
        # Five sessions: three familiar, the first with novel images (Novel 1), a second (Novel >1).
        make_vbo_project(
            release, n_containers=1, sessions_per_container=5, behavior_only_sessions=0, size=size, seed=7
        )
    t1 = time.perf_counter()
    say(f"[2/3] converting {release} -> {project_dir} ...")
    report = convert_project(str(release), str(project_dir), progress=show)
    say("      " + report.describe().replace("\n", "\n      "))
    t2 = time.perf_counter()
    project = open_project(project_dir)
    experiments = project.ophys_experiment_table
    container = experiments.ophys_container_id.iloc[0]
    selection = experiments[experiments.ophys_container_id == container]
    say(
        f"[3/3] container {container} ({selection.cre_line.iloc[0]}): {len(selection)} sessions "
        f"({', '.join(selection.session_type)})"
    )
    dff = project.dff(selection)
    changes = project.events_table(selection, "stimulus_presentations", query="is_change")
    response = align(dff, changes, window=(-1.0, 2.0), rate=30.0)
    mean = response.groupby("experience_level").mean("event").compute()
    t3 = time.perf_counter()
    table = change_table(mean, changes)
    figure = change_figure(
        mean,
        workdir / FIGURE,
        title=f"Change-aligned dF/F of one {selection.cre_line.iloc[0]} container ({container}) "
        "across experience levels: synthetic data",
    )
    t4 = time.perf_counter()
    say(
        f"      {dff.sizes['cell_specimen_id']} cells x {len(changes)} changes, aligned on a "
        f"{response.sizes['time_from_event']}-sample grid at 30 Hz, -1 to 2 s from each change"
    )
    say(
        "      mean dF/F 0-750 ms after a change (response, +- SEM over cells) and in the 750 ms "
        "before it (baseline), by experience level:"
    )
    for line in _format(table).splitlines():
        say("        " + line)
    say(f"      figure: {figure}")
    say(
        f"done: generate {t1 - t0:.1f} s, convert {t2 - t1:.1f} s, open + align + mean {t3 - t2:.1f} s, "
        f"figure {t4 - t3:.1f} s"
    )
    return DemoResult(mean=mean, table=table, figure=figure)


def _format(table: pd.DataFrame) -> str:
    shown = table[["sessions", "cells", "changes"]].assign(
        baseline=table.baseline.map("{:+.4f}".format),
        response=[f"{r:+.4f} +- {s:.4f}" for r, s in zip(table.response, table.response_sem, strict=True)],
    )
    if "Familiar" in table.index:  # the novelty effect
        shown["x Familiar"] = (table.response / table.response["Familiar"]).map("{:.2f}".format)
    return shown.to_string()

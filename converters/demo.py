"""``vbzarr demo``: the main job end to end on a synthetic project generated on the fly.

1. Write a small Visual Behavior Ophys project in the released layout (Allen-layout NWB files and
   project CSVs) with the factory in :mod:`vbzarr.testing.synthetic`.
2. Convert it into a vbzarr project (``vbzarr convert``).
3. Open the project, select one container, and compute the change-aligned mean dF/F of its cells
   across sessions, by image and by experience level, lazily.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr


def run_demo(workdir: str | Path = "vbzarr-demo", size: str = "small", show: bool = True) -> xr.DataArray:
    """Generate, convert, open and align; returns the change-aligned mean dF/F per cell.

    Returns
    -------
    xr.DataArray
        ``(cell_specimen_id, experience_level, time_from_event)`` mean dF/F around image changes.
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
        make_vbo_project(release, n_containers=1, sessions_per_container=4, size=size, seed=7)
    t1 = time.perf_counter()
    say(f"[2/3] converting {release} -> {project_dir} ...")
    report = convert_project(str(release), str(project_dir), progress=show)
    say("      " + report.describe().replace("\n", "\n      "))
    t2 = time.perf_counter()
    project = open_project(project_dir)
    experiments = project.ophys_experiment_table
    container = experiments.ophys_container_id.iloc[0]
    selection = experiments[experiments.ophys_container_id == container]
    say(f"[3/3] container {container}: {len(selection)} sessions ({', '.join(selection.session_type)})")
    dff = project.dff(selection)
    changes = project.events_table(selection, "stimulus_presentations", query="is_change")
    response = align(dff, changes, window=(-1.0, 2.0), rate=30.0)
    mean = response.groupby("experience_level").mean("event").compute()
    t3 = time.perf_counter()
    peak = mean.sel(time_from_event=slice(0.0, 0.75)).mean("time_from_event")
    say(
        f"      {dff.sizes['cell_specimen_id']} cells x {len(changes)} changes, grid "
        f"{response.sizes['time_from_event']} samples at 30 Hz"
    )
    say("      mean dF/F 0-750 ms after a change, by experience level:")
    for level in peak.experience_level.values:
        values = peak.sel(experience_level=level).values
        say(f"        {level:>10}: {np.nanmean(values):+.4f} (cells: {np.isfinite(values).sum()})")
    say(f"done: generate {t1 - t0:.1f} s, convert {t2 - t1:.1f} s, open + align + mean {t3 - t2:.1f} s")
    return mean

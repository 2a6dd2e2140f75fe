# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Population responses across a whole project
#
# The mean dF/F of every cell around image changes and around omitted flashes, by cre line and
# experience level, over every session of the project, computed lazily in one pass; then which
# cells respond to changes (against shuffles of the gray screen before the task, as the Allen
# Institute's analyses do).
#
# By default the notebook uses a small synthetic project in the Allen layout (built in seconds,
# cached); set `VBZARR_PROJECT` to a converted Visual Behavior Ophys project to use it instead.

# %%
import dask
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbo_project

project = vbzarr.open_project(vbo_project())
experiments = project.ophys_experiment_table
experiments.groupby(["cre_line", "experience_level"]).size().unstack(fill_value=0)

# %% [markdown]
# ## Change- and omission-aligned means, container by container
#
# `vbzarr.mean_by_container` aligns each container's cells to its own sessions' events (a
# `project.events_table` query: `is_change`, `omitted`) on one 30 Hz grid and averages them per
# group of event columns: here the cre line and the experience level. The result is lazy:
# `(cell_specimen_id, cre_line, experience_level, time_from_event)`, each cell NaN outside its
# own cre line. Both means compute in one pass over the data.

# %%
by = ["cre_line", "experience_level"]
change_mean = vbzarr.mean_by_container(project, query="is_change", by=by, window=(-1.0, 2.0), rate=30.0)
omission_mean = vbzarr.mean_by_container(project, query="omitted", by=by, window=(-1.0, 2.0), rate=30.0)
change_mean

# %%
change_mean, omission_mean = dask.compute(change_mean, omission_mean)
cells = change_mean.notnull().any("time_from_event").sum("cell_specimen_id").to_pandas()
cells  # cells averaged in each (cre line, experience level)

# %%
cre_lines = change_mean.cre_line.values
fig, axes = plt.subplots(2, len(cre_lines), figsize=(5 * len(cre_lines), 7.5), sharex=True, squeeze=False)
for row, (name, mean) in enumerate([("image change", change_mean), ("omission", omission_mean)]):
    for col, cre_line in enumerate(cre_lines):
        ax = axes[row, col]
        for level in mean.experience_level.values:
            one = mean.sel(cre_line=cre_line, experience_level=level)
            n = int(one.notnull().any("time_from_event").sum())
            if not n:
                continue
            average = one.mean("cell_specimen_id")
            sem = one.std("cell_specimen_id") / np.sqrt(n)
            ax.plot(one.time_from_event, average, label=f"{level} ({n} cells)")
            ax.fill_between(one.time_from_event, average - sem, average + sem, alpha=0.25)
        ax.axvline(0, color="gray", lw=0.8, ls="--")
        ax.set(
            title=f"{cre_line}: {name}",
            xlabel=f"time from {name} (s)",
            ylabel="dF/F (mean ± s.e.m. over cells)",
        )
        ax.legend(title="experience level", fontsize="small")
fig.suptitle("Population responses to image changes and omissions, every session of the project")
fig.tight_layout()
save_figure(fig, "03_population_change_omission")

# %% [markdown]
# Every cell's mean change response, sorted by its mean dF/F 0-0.5 s after the change in the
# familiar sessions, grouped by cre line:

# %%
levels = list(change_mean.experience_level.values)
per_cell = change_mean.mean("cre_line", skipna=True)  # each cell has one cre line
cre_of_cell = change_mean.notnull().any(["experience_level", "time_from_event"]).idxmax("cre_line")
peak = per_cell.sel(experience_level=levels[0], time_from_event=slice(0, 0.5)).mean("time_from_event")
order = (
    pd.DataFrame({"cre_line": cre_of_cell.to_pandas(), "peak": peak.to_pandas()})
    .sort_values(["cre_line", "peak"], ascending=[True, False])
    .index
)
sorted_cells = per_cell.sel(cell_specimen_id=order)
limit = float(np.nanpercentile(np.abs(sorted_cells), 99))
fig, axes = plt.subplots(1, len(levels), figsize=(5 * len(levels) + 1, 6), sharey=True, squeeze=False)
t = sorted_cells.time_from_event.values
colormap = plt.get_cmap("RdBu_r").with_extremes(bad="lightgray")  # gray: not imaged at that level
for ax, level in zip(axes[0], levels, strict=True):
    image = ax.imshow(
        sorted_cells.sel(experience_level=level),
        aspect="auto",
        cmap=colormap,
        vmin=-limit,
        vmax=limit,
        extent=(t[0], t[-1], len(order), 0),
        interpolation="none",
    )
    bounds = np.flatnonzero(np.diff(pd.factorize(cre_of_cell.sel(cell_specimen_id=order).values)[0])) + 1
    for b in bounds:
        ax.axhline(b, color="black", lw=1)
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set(
        title=f"{level}", xlabel="time from image change (s)", ylabel="cell (sorted by cre line, response)"
    )
centers = (
    pd.Series(np.arange(len(order)), index=cre_of_cell.sel(cell_specimen_id=order).values)
    .groupby(level=0)
    .mean()
)
axes[0, 0].set_yticks(centers.values, centers.index, rotation=90, va="center", fontsize="small")
fig.colorbar(image, ax=axes[0], label="dF/F (mean over changes)")
fig.suptitle("Each cell's mean response to image changes (gray: no session of that experience level)")
save_figure(fig, "03_population_cells_heatmap")

# %% [markdown]
# ## Responsive cells
#
# `vbzarr.response_statistics` takes each event's mean response 0-0.5 s after the change and
# its p-value against null means drawn from the gray screen before the task; a cell is
# *responsive* when more than 10% of its changes are significant (p < 0.05), as in the Visual
# Behavior platform paper. The gray-screen window is the 240 s before the first image of the
# change-detection block (`vbzarr.gray_screen_window`, given that block's presentations, as the
# AllenSDK advises for the tables' several stimulus blocks), one per experiment.

# %%
presentations = project.events_table(
    experiments, query="stimulus_block_name.str.contains('change_detection')"
)
gray_screen = {
    int(experiment_id): vbzarr.gray_screen_window(rows)
    for experiment_id, rows in presentations.groupby("ophys_experiment_id")
}
changes = presentations[presentations.is_change.astype(bool)]
rows = []
for (cre_line, level), selection in experiments.groupby(by):
    stats = vbzarr.response_statistics(
        project.dff(selection),
        changes[changes.ophys_experiment_id.isin(selection.index)],
        gray_screen,
        shuffles=2000,
    )
    rows.append(
        {
            "cre_line": cre_line,
            "experience_level": level,
            "cells": stats.sizes["cell_specimen_id"],
            "responsive": int(stats.responsive.sum()),
        }
    )
responsive = pd.DataFrame(rows).set_index(by)
responsive["fraction"] = responsive.responsive / responsive.cells
responsive

# %%
fig, ax = plt.subplots(figsize=(8, 4))
table = responsive.unstack("experience_level")
table.fraction.plot.bar(ax=ax, rot=0)
for bars, level in zip(ax.containers, table.fraction.columns, strict=True):
    counts = zip(table.responsive[level], table.cells[level], strict=True)
    ax.bar_label(bars, [f"{r:.0f}/{c:.0f}" if c > 0 else "" for r, c in counts], fontsize="small")
ax.set(
    title="Cells responsive to image changes (> 10% of changes with p < 0.05)",
    xlabel="cre line",
    ylabel="responsive cells (fraction)",
    ylim=(0, 1.1),
)
ax.legend(title="experience level", loc="upper left", bbox_to_anchor=(1, 1))
fig.tight_layout()
save_figure(fig, "03_responsive_cells")

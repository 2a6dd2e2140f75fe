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
# # 02 · One container across sessions
#
# A *container* is one imaging plane followed across sessions; its cells are matched across
# sessions by `cell_specimen_id`. Here: the max projections of its sessions side by side, one
# cell's dF/F in every session, and the cells' dF/F around image changes by experience level,
# without loading whole files.
#
# By default the notebook uses a small synthetic project in the Allen layout (built in seconds,
# cached); set `VBZARR_PROJECT` to a converted Visual Behavior Ophys project to use it instead.

# %%
import matplotlib.pyplot as plt
import numpy as np

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbo_project

project = vbzarr.open_project(vbo_project())
project

# %% [markdown]
# The tables are the AllenSDK's, with the same index and columns. Pick a container and list its
# sessions.

# %%
experiments = project.ophys_experiment_table
container_id = experiments.ophys_container_id.iloc[0]
selection = experiments[experiments.ophys_container_id == container_id].sort_values("date_of_acquisition")
selection[["session_type", "experience_level", "cre_line", "imaging_depth", "targeted_structure"]]

# %% [markdown]
# ## Max projections side by side
#
# Each experiment is a lazy `xarray.DataTree` (`project.ophys_experiment(id)`); here only its
# `images` group is opened (`project.group`), which holds the max projection, with the pixel
# spacing (mm) in its attributes. Are the sessions aligned; do the same cells show?
# The outline marks one cell, matched across sessions by its `cell_specimen_id`.

# %%
images = {i: project.group("ophys_experiment", i, "images") for i in selection.index}
cell_sets = [set(ds.cell_specimen_id.values) for ds in images.values()]
in_every_session = sorted(set.intersection(*cell_sets))
cell = in_every_session[0] if in_every_session else next(iter(cell_sets[0]))

fig, axes = plt.subplots(1, len(images), figsize=(3.4 * len(images), 3.6), squeeze=False)
for ax, (experiment_id, ds) in zip(axes[0], images.items(), strict=True):
    image = ds.max_projection
    dy, dx = (1000 * s for s in image.attrs["spacing"])  # mm -> µm per pixel
    y, x = (np.arange(image.sizes["row"]) + 0.5) * dy, (np.arange(image.sizes["column"]) + 0.5) * dx
    ax.imshow(image, cmap="gray", extent=(0, x[-1] + dx / 2, y[-1] + dy / 2, 0))
    if cell in ds.cell_specimen_id:
        ax.contour(x, y, ds.roi_masks.sel(cell_specimen_id=cell), levels=[0.5], colors="yellow")
    row = selection.loc[experiment_id]
    ax.set(title=f"{row.session_type}\n{row.experience_level}", xlabel="x (µm)", ylabel="y (µm)")
fig.suptitle(f"Container {container_id}: max projections (yellow: cell {cell})")
fig.tight_layout()
save_figure(fig, "02_container_max_projections")

# %% [markdown]
# ## One cell's dF/F in every session
#
# `project.dff(selection)` is one lazy array over `(ophys_experiment_id, cell_specimen_id,
# frame)` holding every cell of the container (NaN where a session did not find a cell); `time`
# is a coordinate over `(ophys_experiment_id, frame)`, since each session has its own clock.
# Selecting one cell reads only that cell's chunks.

# %%
dff = project.dff(selection)
dff

# %%
trace = dff.sel(cell_specimen_id=cell).compute()
changes = project.events_table(selection, "stimulus_presentations", query="is_change")
fig, axes = plt.subplots(len(selection), 1, figsize=(11, 1.6 * len(selection) + 0.6), sharey=True)
for ax, experiment_id in zip(np.atleast_1d(axes), selection.index, strict=True):
    one = trace.sel(ophys_experiment_id=experiment_id)
    change_times = changes.start_time[changes.ophys_experiment_id == experiment_id]
    ax.vlines(
        change_times,
        0,
        1,
        transform=ax.get_xaxis_transform(),
        color="tab:orange",
        lw=0.6,
        label="image change",
    )
    ax.plot(one.time, one, lw=0.6, label="dF/F")
    row = selection.loc[experiment_id]
    ax.set(title=f"{row.session_type} ({row.experience_level})", ylabel="dF/F", xlabel="time in session (s)")
    ax.title.set_size("small")
np.atleast_1d(axes)[0].legend(loc="upper right", fontsize="small")
fig.suptitle(f"Cell {cell}: dF/F in each session of container {container_id}")
fig.tight_layout()
save_figure(fig, "02_container_cell_dff")

# %% [markdown]
# ## dF/F around image changes
#
# The change flashes of all sessions (`changes` above: `query` keeps them as each session's
# table is read), then one aligned array on a common 30 Hz grid from -1 s to +2 s around each
# change: `(cell, event, time_from_event)`, with the events' columns (image, experience level,
# ...) as coordinates, so averaging by experience level or by image is one `groupby`.

# %%
response = vbzarr.align(dff, changes, window=(-1.0, 2.0), rate=30.0)
response

# %%
by_level = response.groupby("experience_level").mean("event").compute()
by_image = response.groupby("image_name").mean("event").mean("cell_specimen_id").compute()
by_level.sel(time_from_event=slice(0, 0.75)).mean("time_from_event").to_pandas()

# %% [markdown]
# Running speed aligned the same way (the `running` group has its own 60 Hz clock):
# `project.behavior_signal` gives the sessions' running speed as one lazy array too.

# %%
running = project.behavior_signal("running_speed", selection)
running_by_level = vbzarr.align(running, changes, window=(-1.0, 2.0), rate=30.0)
running_by_level = running_by_level.groupby("experience_level").mean("event").compute()

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
t = by_level.time_from_event
for level in by_level.experience_level.values:
    axes[0].plot(t, by_level.sel(experience_level=level, cell_specimen_id=cell), label=level)
    cells = by_level.sel(experience_level=level)
    mean, sem = (
        cells.mean("cell_specimen_id"),
        cells.std("cell_specimen_id") / np.sqrt(cells.count("cell_specimen_id")),
    )
    axes[1].plot(t, mean, label=level)
    axes[1].fill_between(t, mean - sem, mean + sem, alpha=0.25)
    axes[2].plot(t, running_by_level.sel(experience_level=level), label=level)
axes[0].set(title=f"Cell {cell}", ylabel="dF/F (mean over changes)")
axes[1].set(
    title=f"All {by_level.sizes['cell_specimen_id']} cells (mean ± s.e.m.)", ylabel="dF/F (mean over cells)"
)
axes[2].set(title="Running", ylabel="running speed (cm/s)")
for ax in axes:
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("time from image change (s)")
    ax.legend(title="experience level", fontsize="small")
fig.suptitle(f"Container {container_id}: responses to image changes")
fig.tight_layout()
save_figure(fig, "02_container_change_responses")

# %% [markdown]
# The mean response of the container's cells to each image (the images of the familiar set and
# the novel one):

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
window = by_image.sel(time_from_event=slice(0, 0.75)).mean("time_from_event").to_series().sort_values()
# Each image's experience level: that of the sessions whose changes showed it.
shown_in = changes.groupby("image_name").experience_level.agg(lambda s: " & ".join(sorted(set(s))))
shown_in = shown_in.reindex(window.index)
colors = {level: f"C{k}" for k, level in enumerate(sorted(shown_in.unique()))}
ax.barh(window.index, window.values, color=shown_in.map(colors).to_list())
handles = [plt.Rectangle((0, 0), 1, 1, color=c, label=level) for level, c in colors.items()]
ax.legend(handles=handles, title="shown in sessions", loc="lower right")
ax.set(
    title=f"Container {container_id}: mean dF/F 0-0.75 s after a change to each image",
    xlabel="dF/F (mean over cells and changes)",
    ylabel="image (name)",
)
fig.tight_layout()
save_figure(fig, "02_container_responses_by_image")

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
# # 01 · A tour of a project: what the tables hold
#
# The questions of the Allen Institute's Visual Behavior Ophys *data manifest* tutorial (how many
# sessions, mice, cre lines, session types, project codes, containers, imaging depths, cells per
# experiment, prior exposures), answered on a vbzarr project, then the Visual Behavior
# Neuropixels tables: units per brain area, before and after the AllenSDK's quality filters.
#
# The tables are the AllenSDK's (same index, columns and dtypes), read from the project's
# manifest: no NWB file is opened. By default the notebook builds a small synthetic project in
# the Allen layout (a few seconds, cached); set `VBZARR_PROJECT` and `VBZARR_VBN_PROJECT` to
# converted releases (`vbzarr convert`) to answer the same questions on the real data.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbn_project, vbo_project

vbo = vbzarr.open_project(vbo_project())
vbo

# %% [markdown]
# ## Behavior sessions: every session of every mouse, training included

# %%
behavior_sessions = vbo.behavior_session_table
print(f"behavior sessions: {len(behavior_sessions)}")
print(f"mice: {behavior_sessions.mouse_id.nunique()}")
print("equipment:", np.sort(behavior_sessions.equipment_name.unique()))
print("genotypes:", np.sort(behavior_sessions.full_genotype.unique()))
print("cre lines:", np.sort(behavior_sessions.cre_line.unique()))
print("reporter lines:", np.sort(behavior_sessions.reporter_line.unique()))
print("indicators:", np.sort(behavior_sessions.indicator.unique()))

# %% [markdown]
# Mice per genotype, and the session types (training stages and imaging sessions):

# %%
behavior_sessions.groupby("full_genotype").mouse_id.nunique().rename("mice").to_frame()

# %%
np.sort(behavior_sessions.session_type.dropna().unique())

# %% [markdown]
# `project_code` (the dataset variant) is defined for imaging sessions only; as the tutorial
# does, give every session its mouse's project code, then list the session types of each.

# %%
behavior_sessions["project_code"] = behavior_sessions.groupby("mouse_id").project_code.transform("first")
behavior_sessions.groupby("project_code").session_type.unique().map(np.sort).to_frame()

# %% [markdown]
# ## Ophys sessions, experiments and containers
#
# An ophys session is one recording under the microscope; each of its imaging planes is an
# *ophys experiment*; one imaging plane followed across sessions is a *container*.

# %%
ophys_sessions = vbo.ophys_session_table
ophys_experiments = vbo.ophys_experiment_table
print(f"ophys sessions: {len(ophys_sessions)}, ophys experiments: {len(ophys_experiments)}")
print(f"containers: {ophys_experiments.ophys_container_id.nunique()}")
ophys_sessions[["ophys_experiment_id", "ophys_container_id", "equipment_name"]].head()

# %% [markdown]
# Session order and prior exposures of one mouse: the behavior table holds every session (those
# without an `ophys_session_id` are training, habituation or failed imaging sessions), the ophys
# session table only those that passed QC.

# %%
mouse_id = behavior_sessions.mouse_id.iloc[0]
columns = [
    "session_type",
    "equipment_name",
    "ophys_session_id",
    "prior_exposures_to_image_set",
    "prior_exposures_to_session_type",
    "prior_exposures_to_omissions",
]
behavior_sessions[behavior_sessions.mouse_id == mouse_id].sort_values("date_of_acquisition")[columns]

# %% [markdown]
# Mice that saw omissions during habituation sessions:

# %%
habituation = behavior_sessions.session_type.str.contains("habituation", na=False)
with_omissions = behavior_sessions[habituation & (behavior_sessions.prior_exposures_to_omissions > 0)]
print(f"{with_omissions.mouse_id.nunique()} mice had omissions during habituation")

# %% [markdown]
# Imaging depths and targeted structures of each project code, and the experiments of one
# container:

# %%
ophys_experiments.groupby("project_code").agg(
    imaging_depths=("imaging_depth", "unique"), targeted_structures=("targeted_structure", "unique")
)

# %%
container_id = ophys_experiments.ophys_container_id.iloc[0]
container = ophys_experiments[ophys_experiments.ophys_container_id == container_id]
container[["session_type", "experience_level", "prior_exposures_to_image_set", "date_of_acquisition"]]

# %% [markdown]
# ## Cells per experiment
#
# The cells table maps each ROI (`cell_roi_id`, one per experiment) to its `cell_specimen_id`,
# shared across the sessions of a container.

# %%
cells = vbo.ophys_cells_table
cells_per_experiment = cells.groupby("ophys_experiment_id").size()
ophys_experiments["n_cells"] = ophys_experiments.index.map(cells_per_experiment)
cells_per_experiment.describe()

# %%
ophys_experiments.groupby("cre_line").n_cells.describe()

# %% [markdown]
# The tables at a glance. (The synthetic project images every plane at 175 µm with 8 cells;
# on a release the cells-by-depth panel is the tutorial's scatter.)

# %%
fig, axes = plt.subplots(2, 2, figsize=(14, 9), layout="constrained")
ax = axes[0, 0]
pd.crosstab(behavior_sessions.session_type, behavior_sessions.cre_line).plot.barh(stacked=True, ax=ax)
ax.set(title="Sessions per session type", xlabel="behavior sessions (count)", ylabel="session type")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend(title="cre line", fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))

ax = axes[0, 1]
per_container = pd.crosstab(ophys_experiments.ophys_container_id, ophys_experiments.experience_level)
per_container.index = [
    f"{c}\n({cre})" for c, cre in ophys_experiments.groupby("ophys_container_id").cre_line.first().items()
]
per_container.plot.bar(stacked=True, ax=ax, rot=0)
ax.set(title="Experiments per container", xlabel="container (cre line)", ylabel="ophys experiments (count)")
ax.tick_params(axis="x", labelsize="small")
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend(title="experience level", fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))

ax = axes[1, 0]
for cre_line, rows in ophys_experiments.groupby("cre_line"):
    ax.scatter(rows.imaging_depth, rows.n_cells, label=cre_line, alpha=0.6)
ax.set(title="Cells per experiment, by imaging depth", xlabel="imaging depth (µm)", ylabel="cells (count)")
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend(title="cre line", fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))

ax = axes[1, 1]
first = behavior_sessions.groupby("mouse_id").date_of_acquisition.transform("min")
days = (behavior_sessions.date_of_acquisition - first).dt.days
mice = behavior_sessions.assign(day=days).sort_values("day").groupby("mouse_id")
for k, (mouse, rows) in enumerate(mice):  # markers shrink so that mice with the same history all show
    ax.plot(rows.day, rows.prior_exposures_to_image_set, "o-", ms=10 - 3 * (k % 3), label=f"mouse {mouse}")
ax.set(
    title="Experience with the image set",
    xlabel="days since the mouse's first session (days)",
    ylabel="prior exposures to image set (sessions)",
)
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
save_figure(fig, "01_project_tour_vbo")

# %% [markdown]
# ## Visual Behavior Neuropixels
#
# The Neuropixels release has its own tables: ecephys sessions (by default without those
# flagged for abnormal histology or activity, as the AllenSDK's cache returns them), behavior
# sessions, probes, channels and units.

# %%
vbn = vbzarr.open_project(vbn_project())
sessions = vbn.get_ecephys_session_table()
print(f"ecephys sessions: {len(sessions)} ({len(vbn.ecephys_session_table)} before the abnormality filter)")
print(f"mice: {sessions.mouse_id.nunique()}, behavior sessions: {len(vbn.behavior_session_table)}")
sessions[["mouse_id", "genotype", "session_type", "experience_level", "unit_count", "probe_count"]]

# %% [markdown]
# Units per brain area, all of them and those passing the AllenSDK's quality thresholds (the
# Visual Coding defaults of `get_units`: amplitude cutoff <= 0.1, presence ratio >= 0.95, ISI
# violations <= 0.5). `vbzarr.get_units` applies them to the unit table, a session's `units`
# group or `Project.units` of many sessions alike.

# %%
units = vbn.unit_table
good = vbzarr.get_units(
    units, amplitude_cutoff_maximum=0.1, presence_ratio_minimum=0.95, isi_violations_maximum=0.5
)
per_area = (
    pd.DataFrame(
        {
            "all units": units.structure_acronym.value_counts(),
            "passing QC": good.structure_acronym.value_counts(),
        }
    )
    .fillna(0)
    .astype(int)
    .sort_values("all units", ascending=False)
)
print(f"{len(good)} of {len(units)} units pass the quality thresholds")
per_area

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), width_ratios=(2, 1))
per_area.plot.bar(ax=axes[0])
axes[0].set(title="Units per brain area", xlabel="brain area (CCF acronym)", ylabel="units (count)")
kept = units.index.isin(good.index)
for mask, label, color in [(kept, "kept", "tab:blue"), (~kept, "dropped", "tab:red")]:
    axes[1].scatter(units.amplitude_cutoff[mask], units.presence_ratio[mask], s=12, color=color, label=label)
axes[1].legend(title="units", fontsize="small")
axes[1].axvline(0.1, color="gray", linestyle="--")
axes[1].axhline(0.95, color="gray", linestyle="--")
axes[1].set(
    title="Quality metrics (dashed: thresholds)",
    xlabel="amplitude cutoff (fraction of spikes missed)",
    ylabel="presence ratio (fraction of session)",
)
fig.tight_layout()
save_figure(fig, "01_project_tour_vbn")

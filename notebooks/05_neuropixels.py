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
# # 05 · Neuropixels: responses by brain area around image changes
#
# Visual Behavior Neuropixels sessions record hundreds of units on several probes during the
# same change-detection task. Here: the units that pass the AllenSDK's quality thresholds, their
# peri-stimulus time histograms (PSTHs) by brain area around image changes and repeated images,
# familiar against novel images, and spike rasters.
#
# A session's `units` group keeps every unit's spike times as one contiguous slice of a flat
# array, so any selection of units (a filter, an area) reads only its own spikes, and only the
# parts the events' windows cover.
#
# By default the notebook uses a small synthetic project in the Allen layout (built in seconds,
# cached); set `VBZARR_VBN_PROJECT` to a converted Visual Behavior Neuropixels project to use it.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbn_project

project = vbzarr.open_project(vbn_project())
sessions = project.get_ecephys_session_table()
sessions[["mouse_id", "session_type", "experience_level", "unit_count", "probe_count"]]

# %% [markdown]
# ## Quality-filtered units of one session
#
# `vbzarr.get_units` applies the AllenSDK's `get_units` filters; the thresholds are the Visual
# Coding defaults (amplitude cutoff <= 0.1, presence ratio >= 0.95, ISI violations <= 0.5).

# %%
QUALITY = {"amplitude_cutoff_maximum": 0.1, "presence_ratio_minimum": 0.95, "isi_violations_maximum": 0.5}
session_id = int(sessions.index[0])
every_unit = project.group("ecephys_session", session_id, "units")  # of project.ecephys_session(id)
units = vbzarr.get_units(every_unit, **QUALITY)
print(f"session {session_id}: {units.sizes['unit_id']} of {every_unit.sizes['unit_id']} units pass")
units.structure_acronym.to_series().value_counts().rename("units").to_frame().T

# %% [markdown]
# The image flashes of the active change-detection block: the changes, and the repeats of the
# same image (neither a change nor an omission).

# %%
presentations = project.events_table([session_id], query="active and image_name != 'omitted'")
changes = presentations[presentations.is_change.astype(bool)]
repeats = presentations[~presentations.is_change.astype(bool)]
print(f"{len(changes)} changes, {len(repeats)} repeated flashes")

# %% [markdown]
# ## PSTHs by brain area
#
# `vbzarr.psth(units, events, bin_edges)` gives each unit's firing rate (spikes/s) per bin
# around the events, counted spike by spike without per-event counts; the units' columns
# (brain area, probe, metrics) are coordinates, so the average by area is one `groupby`.

# %%
edges = np.arange(-0.25, 0.75 + 1e-9, 0.025)
per_unit = {
    name: vbzarr.psth(units, events, edges).compute()
    for name, events in [("change", changes), ("repeated image", repeats)]
}
psths = {name: rate.groupby("structure_acronym").mean("unit_id") for name, rate in per_unit.items()}


def evoked(rate):
    """Mean firing rate 25-150 ms after the onset minus the 250 ms before it (spikes/s)."""
    after = rate.sel(time_from_event=slice(0.025, 0.149)).mean("time_from_event")
    return after - rate.sel(time_from_event=slice(-0.25, -0.001)).mean("time_from_event")


# Areas ranked by their response to every image flash (more events than the changes alone).
units_per_area = units.structure_acronym.to_series().value_counts()
ranked = evoked(psths["repeated image"]).to_series().loc[units_per_area[units_per_area >= 2].index]
ranked = ranked.sort_values(ascending=False)
ranked.rename("evoked rate (spikes/s)").to_frame().T

# %%
areas = ranked.index[:6]
fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex=True, squeeze=False)
for ax, area in zip(axes.flat, areas, strict=False):
    for name, rate in psths.items():
        ax.plot(rate.time_from_event, rate.sel(structure_acronym=area), drawstyle="steps-post", label=name)
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set(
        title=f"{area} ({units_per_area[area]} units)",
        xlabel="time from image onset (s)",
        ylabel="firing rate (spikes/s)",
    )
    ax.legend(fontsize="small")
for ax in axes.flat[len(areas) :]:
    ax.remove()
fig.suptitle(f"Session {session_id}: mean PSTH of the most responsive brain areas (quality-filtered units)")
fig.tight_layout()
save_figure(fig, "05_neuropixels_psth_by_area")

# %% [markdown]
# ## Familiar and novel images, across sessions
#
# `project.units()` joins the units of many sessions (their spikes stay where they are);
# `psth` then averages each unit over its own session's changes. Each mouse saw a familiar
# image set (G) in one session and a novel one (H) in the other.

# %%
all_units = vbzarr.get_units(project.units(sessions), **QUALITY)
all_changes = project.events_table(sessions, query="active and is_change")
rates = vbzarr.psth(all_units, all_changes, edges)
experience = sessions.experience_level.reindex(rates.ecephys_session_id.values).to_numpy()
rates = rates.assign_coords(experience_level=("unit_id", experience))
by_area = rates.groupby(["structure_acronym", "experience_level"]).mean("unit_id").compute()
counts = pd.crosstab(rates.structure_acronym.values, experience)
counts

# %%
in_both = counts[(counts > 0).all(axis=1)].index  # areas recorded in the familiar and the novel session
shown = [area for area in ranked.index if area in in_both][:6]
fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex=True, squeeze=False)
for ax, area in zip(axes.flat, shown, strict=False):
    for level in by_area.experience_level.values:
        n = counts.loc[area, level]
        if n:
            ax.plot(
                by_area.time_from_event,
                by_area.sel(structure_acronym=area, experience_level=level),
                drawstyle="steps-post",
                label=f"{level} ({n} units)",
            )
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set(title=area, xlabel="time from image change (s)", ylabel="firing rate (spikes/s)")
    ax.legend(title="images", fontsize="small")
for ax in axes.flat[len(shown) :]:
    ax.remove()
fig.suptitle("Mean PSTH around image changes per brain area, familiar vs novel images (all sessions)")
fig.tight_layout()
save_figure(fig, "05_neuropixels_familiar_novel")

# %% [markdown]
# ## Spike rasters
#
# `vbzarr.spike_rasters(units, events, window)` lists every spike in a window around each
# event, relative to it (the AllenSDK's `presentationwise_spike_times`): one row per (spike,
# event). Left: the unit with the largest change response, change by change; right: every
# quality-filtered unit, one band per unit (rows: its changes), grouped by area.

# %%
window = (-0.25, 0.75)
raster = vbzarr.spike_rasters(units, changes, window)
best = int(evoked(per_unit["change"]).idxmax("unit_id"))
order = units[["structure_acronym"]].to_dataframe().sort_values("structure_acronym").index
row_of_unit = pd.Series(np.arange(len(order)), index=order)
row_of_change = pd.Series(np.arange(len(changes)), index=changes.index)  # raster rows name the events by it

fig, axes = plt.subplots(1, 2, figsize=(14, 6), width_ratios=(1, 1.4))
mine = raster[raster.unit_id == best]
axes[0].scatter(mine.time_from_event, row_of_change[mine.event], s=30, marker="|", color="black")
axes[0].set(
    title=f"Unit {best} ({units.structure_acronym.sel(unit_id=best).item()})",
    xlabel="time from image change (s)",
    ylabel="change (number in the session)",
    xlim=window,
)
y = row_of_unit[raster.unit_id].to_numpy() * len(changes) + row_of_change[raster.event].to_numpy()
axes[1].scatter(raster.time_from_event, y, s=3, marker="|", linewidths=0.5, color="black")
area_of_row = units.structure_acronym.sel(unit_id=order).values
bounds = np.flatnonzero(area_of_row[1:] != area_of_row[:-1]) + 1
for b in bounds:
    axes[1].axhline(b * len(changes), color="tab:red", lw=0.6)
centers = (
    pd.Series(np.arange(len(order)) * len(changes), index=area_of_row).groupby(level=0).mean()
    + len(changes) / 2
)
axes[1].set_yticks(centers.values, centers.index)
axes[1].set(
    title=f"All {len(order)} units x {len(changes)} changes",
    xlabel="time from image change (s)",
    ylabel="unit (grouped by brain area) x change",
    xlim=window,
    ylim=(len(order) * len(changes), 0),
)
for ax in axes:
    ax.axvline(0, color="tab:blue", lw=0.8, ls="--")
fig.suptitle(f"Session {session_id}: spike rasters around image changes")
fig.tight_layout()
save_figure(fig, "05_neuropixels_rasters")

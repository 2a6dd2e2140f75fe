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
# # 04 · Behavior: performance and engagement, training to imaging
#
# Mice learn the change-detection task in training sessions (behavior only, no imaging), then
# perform it under the microscope; passive imaging sessions replay the stimulus without reward.
# vbzarr computes the AllenSDK's performance metrics (`get_performance_metrics`,
# `get_rolling_performance_df`) from the stored trials, for one session or for every session of
# a project in one table, training sessions included.
#
# By default the notebook uses a small synthetic project in the Allen layout (built in seconds,
# cached); set `VBZARR_PROJECT` to a converted Visual Behavior Ophys project to use it instead.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbo_project

project = vbzarr.open_project(vbo_project())
sessions = project.behavior_session_table

# %% [markdown]
# ## Every session's performance
#
# `project.performance_metrics()` gives one row per imaging session (by `ophys_experiment_id`),
# `kind="behavior_session"` one per training session; only the trials, the rewards and the
# task parameters of each session are read. Joined with the behavior session table, they make
# each mouse's learning curve.

# %%
training = project.performance_metrics(kind="behavior_session")
imaging = project.performance_metrics()
experiments = project.ophys_experiment_table
imaging = imaging.set_index(experiments.behavior_session_id.reindex(imaging.index).to_numpy()).rename_axis(
    "behavior_session_id"
)
imaging = imaging[~imaging.index.duplicated()]  # the planes of a Multiscope session share its behavior
performance = pd.concat([training, imaging]).join(
    sessions[["mouse_id", "cre_line", "session_type", "date_of_acquisition", "behavior_type"]]
)
performance["phase"] = np.select(
    [performance.session_type.str.startswith("TRAINING"), performance.behavior_type == "passive_viewing"],
    ["training", "imaging, passive"],
    "imaging, active",
)
performance["engaged_fraction"] = performance.engaged_trial_count / performance.trial_count
performance = performance.sort_values(["mouse_id", "date_of_acquisition"], kind="stable")
performance["session"] = performance.groupby("mouse_id").cumcount() + 1
performance[
    ["mouse_id", "session", "session_type", "phase", "max_dprime", "mean_hit_rate", "engaged_fraction"]
]

# %%
markers = {"training": "s", "imaging, active": "o", "imaging, passive": "x"}
panels = [
    ("max_dprime", "d' (max over the session)", "Discriminability"),
    ("mean_hit_rate", "hit rate (fraction of go trials)", "Hit rate"),
    ("mean_false_alarm_rate", "false-alarm rate (fraction of catch trials)", "False-alarm rate"),
    ("engaged_fraction", "engaged trials (fraction; > 2 rewards/min)", "Engagement"),
]
fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), layout="constrained")
for ax, (column, label, title) in zip(axes, panels, strict=True):
    for (mouse, cre_line), rows in performance.groupby(["mouse_id", "cre_line"]):
        (line,) = ax.plot(rows.session, rows[column], "-", lw=1, alpha=0.6)
        for phase, points in rows.groupby("phase"):
            ax.scatter(points.session, points[column], marker=markers[phase], color=line.get_color())
        line.set_label(f"{mouse} ({cre_line.split('-')[0]})")
    ax.set(title=title, xlabel="session (order of acquisition)", ylabel=label)
mice, _ = axes[0].get_legend_handles_labels()
phases = [plt.Line2D([], [], color="gray", marker=m, ls="none", label=p) for p, m in markers.items()]
fig.legend(handles=mice + phases, loc="outside lower center", ncol=len(mice) + len(phases), fontsize="small")
fig.suptitle("Performance across training and imaging sessions (colour: mouse and cre line; marker: phase)")
save_figure(fig, "04_behavior_learning_curves")

# %% [markdown]
# ## Within a session: rolling performance
#
# `vbzarr.rolling_performance(session)` gives, per trial, the reward rate (rewards/min), the
# rolling hit and false-alarm rates and d-prime; `vbzarr.performance_metrics(session)` the
# session's summary. Here the last training session and the first imaging session of a mouse.

# %%
mouse = performance.mouse_id.iloc[0]
mine = performance[performance.mouse_id == mouse]
last_training = int(mine[mine.phase == "training"].index[-1])
first_imaging = int(mine[mine.phase == "imaging, active"].index[0])
chosen = {
    f"training ({sessions.session_type[last_training]})": project.behavior_session(last_training),
    f"imaging ({sessions.session_type[first_imaging]})": project.ophys_experiment(
        int(experiments.index[experiments.behavior_session_id == first_imaging][0])
    ),
}
pd.DataFrame({name: vbzarr.performance_metrics(tree) for name, tree in chosen.items()})

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for name, tree in chosen.items():
    rolling = vbzarr.rolling_performance(tree)
    minutes = vbzarr.to_dataframe(tree["trials"]).start_time.reindex(rolling.index) / 60
    (line,) = axes[0].plot(minutes, rolling.reward_rate, ".-", label=name)
    axes[1].plot(minutes, rolling.hit_rate, ".-", color=line.get_color())
    axes[1].plot(minutes, rolling.false_alarm_rate, ".--", color=line.get_color())
    axes[2].plot(minutes, rolling.rolling_dprime, ".-", color=line.get_color())
axes[0].axhline(2, color="gray", lw=0.8, ls="--", label="engagement threshold (2 rewards/min)")
axes[0].set(title="Reward rate", ylabel="reward rate (rewards/min)")
axes[1].set(title="Rolling hit (solid) and false-alarm (dashed) rates", ylabel="rate (fraction of trials)")
axes[2].set(title="Rolling d'", ylabel="d' (z(hit) - z(false alarm))")
for ax in axes:
    ax.set_xlabel("trial start (min into the session)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3)
fig.suptitle(f"Mouse {mouse}: trial-by-trial performance")
fig.tight_layout(rect=(0, 0.08, 1, 1))
save_figure(fig, "04_behavior_rolling_performance")

# %% [markdown]
# ## Licking and running around changes, engaged or not
#
# `events_table(..., engagement=True)` adds the AllenSDK's `engaged` flag (reward rate above 2
# rewards/min) to each trial before the query; `behavior_signal` gives the lick rate and the
# running speed of every imaging session as lazy arrays, aligned like dF/F.

# %%
active = experiments[~experiments.passive]
go_trials = project.events_table(active, "trials", query="go", engagement=True)
aligned = {
    signal: vbzarr.align(project.behavior_signal(signal, active), go_trials, window=(-1.0, 3.0), rate=20.0)
    .groupby("engaged")
    .mean("event")
    .compute()
    for signal in ("lick_rate", "running_speed")
}
go_trials.groupby("engaged").size().rename("go trials").to_frame()

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (signal, label) in zip(
    axes, [("lick_rate", "lick rate (licks/s)"), ("running_speed", "running speed (cm/s)")], strict=True
):
    mean = aligned[signal]
    for engaged in mean.engaged.values:
        n = int((go_trials.engaged == engaged).sum())
        name = "engaged" if engaged else "not engaged"
        ax.plot(mean.time_from_event, mean.sel(engaged=engaged), label=f"{name} ({n} trials)")
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set(title=label.split(" (")[0].capitalize(), xlabel="time from change (s)", ylabel=label)
    ax.legend(title="go trials", fontsize="small")
fig.suptitle("Behavior around go-trial changes, all active imaging sessions")
fig.tight_layout()
save_figure(fig, "04_behavior_engagement")

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     name: python3
# ---

# %% [markdown]
# # vbzarr quickstart: one container, every session, change-aligned dF/F
#
# Open a converted Visual Behavior Ophys project (local folder or `s3://...`), select a
# container, and average each cell's dF/F around image changes, by image and by experience
# level, without loading whole files. Set `VBZARR_PROJECT` to a converted project; by default the
# notebook makes a small synthetic one (the Allen layout, generated on the fly).

# %%
import os
import tempfile

import numpy as np

import vbzarr

url = os.environ.get("VBZARR_PROJECT")
if url is None:
    from vbzarr.convert.project import convert_project
    from vbzarr.testing.synthetic.project import make_vbo_project

    work = tempfile.mkdtemp(prefix="vbzarr-quickstart-")
    make_vbo_project(
        f"{work}/release",
        n_containers=1,
        sessions_per_container=4,
        size=os.environ.get("VBZARR_SIZE", "tiny"),
        seed=11,
    )
    convert_project(f"{work}/release", f"{work}/project")
    url = f"{work}/project"

project = vbzarr.open_project(url)
project

# %% [markdown]
# The tables are the AllenSDK's, with the same index and columns.

# %%
experiments = project.ophys_experiment_table
container = experiments.ophys_container_id.iloc[0]
selection = experiments[experiments.ophys_container_id == container]
selection[["session_type", "experience_level", "cre_line", "imaging_depth"]]

# %% [markdown]
# One lazy array for every cell of the container across its sessions (cells matched by
# `cell_specimen_id`; NaN where a cell was not found in a session).

# %%
dff = project.dff(selection)
dff

# %% [markdown]
# The change flashes of all sessions (`query` keeps them as each session's table is read), then
# one aligned array on a common 30 Hz grid from -1 s to +2 s around each change.

# %%
changes = project.events_table(selection, "stimulus_presentations", query="is_change")
response = vbzarr.align(dff, changes, window=(-1.0, 2.0), rate=30.0)
response

# %%
by_level = response.groupby("experience_level").mean("event").compute()
by_image = response.groupby("image_name").mean("event").mean("cell_specimen_id").compute()
print(by_level.sel(time_from_event=slice(0, 0.75)).mean(["time_from_event", "cell_specimen_id"]).values)
assert np.isfinite(by_image.values).any()

# %% [markdown]
# Running speed aligned the same way (the running group has its own 60 Hz clock).

# %%
exp = project.ophys_experiment(int(selection.index[0]))
running = vbzarr.align(
    exp["running"]["speed"], changes[changes.ophys_experiment_id == selection.index[0]], window=(-1.0, 2.0)
)
running.mean("event").compute()

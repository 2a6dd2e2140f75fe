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
# # 06 · At scale: a project on object storage, computed on a dask cluster
#
# The population analysis of notebook 03 (change-aligned mean dF/F by cre line and experience
# level), read from an `s3://` project and computed on a dask `LocalCluster` (any
# `dask.distributed` cluster works the same: Kubernetes, HPC job queues, Coiled). Opening the
# project reads a few objects whatever its size; each task reads only the chunks it needs,
# straight from the bucket, on the worker that runs it.
#
# Here the bucket is an S3 API served on 127.0.0.1 by moto, started inside the notebook, holding
# a copy of the small synthetic project of the other notebooks (a vbzarr project is plain
# objects: copying its folder to a bucket is enough; `vbzarr convert /data/release s3://bucket/vbo`
# converts a release straight into one). Set `VBZARR_PROJECT` to an `s3://` project (read
# anonymously) to use a real bucket instead.

# %%
import contextlib
import os
import time

import matplotlib.pyplot as plt
import s3fs
from dask.distributed import Client, LocalCluster

import vbzarr
from vbzarr.testing.demo_projects import save_figure, vbo_project
from vbzarr.testing.s3 import CountingS3Server

resources = contextlib.ExitStack()  # the S3 server and the cluster, closed at the end
url = os.environ.get("VBZARR_PROJECT", "")
if url.startswith("s3://"):
    s3, storage_options = None, {"anon": True}
else:
    local = vbo_project()
    s3 = resources.enter_context(CountingS3Server())  # moto's S3 on 127.0.0.1, counting requests
    s3.make_bucket("visual-behavior", public=True)
    s3fs.S3FileSystem(**s3.storage_options()).put(local, "visual-behavior/vbo", recursive=True)
    url, storage_options = "s3://visual-behavior/vbo", s3.storage_options(anon=True)
    print(f"S3 endpoint {s3.endpoint_url}: {local} copied to {url}")

# %% [markdown]
# ## A dask cluster
#
# Two worker processes of one thread each. The dashboard (task stream, memory, progress; it
# needs `bokeh`) is at the link printed below while the cluster runs.

# %%
cluster = resources.enter_context(
    LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0")
)
client = resources.enter_context(Client(cluster))
print(f"dask dashboard: {client.dashboard_link}")
client

# %% [markdown]
# ## Open the project from the bucket
#
# A project is read at one snapshot; opening it reads the repository's configuration, branch
# and snapshot: a handful of requests, however many sessions it holds.

# %%
requests = {}  # GET requests and MiB served by phase


def record(phase):
    """Note the GETs and bytes served since the last call (when the S3 server is ours)."""
    if s3 is not None:
        requests[phase] = (s3.count("GET"), s3.bytes_sent / 2**20)
        s3.reset()


if s3 is not None:
    s3.reset()
project = vbzarr.open_project(url, storage_options=storage_options)
record("open")
experiments = project.ophys_experiment_table
record("a table")
experiments.groupby(["cre_line", "experience_level"]).size().unstack(fill_value=0)

# %% [markdown]
# ## Change-aligned means of every cell, on the cluster
#
# The same lazy graph as on a laptop (notebook 03): `mean_by_container` aligns each container's
# cells to its own sessions' image changes and averages them by cre line and experience level.
# Building the graph reads the event tables (here, in this process); `compute` then runs the
# reads, the alignment and the means on the workers (the client is dask's default scheduler),
# which open the project from the bucket themselves.

# %%
start = time.perf_counter()
mean = vbzarr.mean_by_container(
    project, query="is_change", by=["cre_line", "experience_level"], window=(-1.0, 2.0), rate=30.0
)
built = time.perf_counter()
record("graph\n(event tables)")
mean = mean.compute()
done = time.perf_counter()
record("compute\n(workers)")
workers = len(client.nthreads())
print(f"graph built in {built - start:.2f} s, computed in {done - built:.2f} s on {workers} workers")
for phase, (gets, mib) in requests.items():
    print(f"{phase.replace(chr(10), ' ')}: {gets} GET requests, {mib:.2f} MiB")

# %%
cre_lines = mean.cre_line.values
panels = len(cre_lines) + (s3 is not None)
fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4), squeeze=False)
for ax, cre_line in zip(axes[0], cre_lines, strict=False):
    for level in mean.experience_level.values:
        one = mean.sel(cre_line=cre_line, experience_level=level)
        n = int(one.notnull().any("time_from_event").sum())
        if n:
            ax.plot(one.time_from_event, one.mean("cell_specimen_id"), label=f"{level} ({n} cells)")
    ax.axvline(0, color="gray", lw=0.8, ls="--")
    ax.set(title=cre_line, xlabel="time from image change (s)", ylabel="dF/F (mean over cells)")
    ax.legend(title="experience level", fontsize="small")
if s3 is not None:
    ax = axes[0, -1]
    bars = ax.bar(list(requests), [gets for gets, _ in requests.values()])
    ax.bar_label(bars, [f"{mib:.2f} MiB" for _, mib in requests.values()], fontsize="small")
    ax.set(title="Requests to the bucket", xlabel="phase", ylabel="GET requests (count)")
    ax.tick_params(axis="x", labelsize="small")
fig.suptitle(f"Responses to image changes from {url}, computed on a dask LocalCluster")
fig.tight_layout()
save_figure(fig, "06_at_scale_population")

# %% [markdown]
# Close the cluster and the S3 server.

# %%
resources.close()

"""Stores open with the right types through plain xarray (no vbzarr code), in every xarray the
project declares: seconds are float64, never timedelta64."""

from __future__ import annotations

import icechunk
import numpy as np
import pytest
import xarray as xr

import vbzarr

#: Variables (and table columns) that hold seconds, where a group has them.
SECONDS = {
    "time",
    "timestamps",
    "csd_time",
    "start_time",
    "stop_time",
    "end_time",
    "duration",
    "change_time",
    "change_time_no_display_delay",
    "response_time",
    "reward_time",
    "lick_times",
    "spike_times",
    "trial_length",
}


def _trees(root: str) -> list[tuple[str, xr.DataTree, xr.DataTree]]:
    """``(path, plain xarray tree, vbzarr tree)`` of every store of a project."""
    store = icechunk.Repository.open(icechunk.local_filesystem_storage(root)).readonly_session("main").store
    project = vbzarr.open_project(root)
    out = []
    for path, row in project.stores.iterrows():
        plain = xr.open_datatree(store, group=path, engine="zarr", consolidated=False)
        out.append((path, plain, project.store(row["kind"], int(row["id"]))))
    return out


@pytest.mark.parametrize("which", ["vbo_converted", "vbn_converted"])
def test_plain_xarray_reads_seconds_as_float64(which, request):
    root = request.getfixturevalue(which)
    seen = set()
    for store, tree, mine in _trees(root):
        for node in tree.subtree:
            for name, var in node.dataset.variables.items():
                assert var.dtype.kind not in "mM", f"{store}:{node.path}/{name} opened as {var.dtype}"
                assert var.attrs.get("units") not in ("seconds", "days", "hours", "minutes"), name
                if name in SECONDS:
                    assert var.dtype == np.float64, f"{store}:{node.path}/{name} is {var.dtype}"
                    seen.add(name)
        # The same through vbzarr, lazily.
        for node in mine.subtree:
            for name in SECONDS & set(node.dataset.variables):
                assert node.dataset[name].dtype == np.float64
    assert {"time", "timestamps", "start_time", "stop_time"} <= seen
    if which == "vbn_converted":
        assert "spike_times" in seen


def test_traces_say_what_they_hold(vbo_converted):
    path, tree, _ = next(t for t in _trees(vbo_converted) if t[0].startswith("ophys_experiments/"))
    ophys = tree["ophys"].to_dataset()
    assert ophys["dff"].attrs["units"] == "1"  # dF/F is a ratio
    assert "dF/F" in ophys["dff"].attrs["long_name"]
    assert ophys["time"].attrs["units"] == "s"
    for name in ("corrected_fluorescence", "events", "filtered_events"):
        assert ophys[name].attrs["long_name"] and ophys[name].attrs["units"], name

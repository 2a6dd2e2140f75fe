"""Spikes equal plain numpy on the spike arrays, exactly, for any selection of units.

Selections: positions (lists, reorderings, slices with any step), labels, boolean masks, one
session or several (``Project.units``), and a units group opened with plain ``xr.open_zarr``.
"""

from __future__ import annotations

import importlib

import h5py
import icechunk
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vbzarr
from vbzarr.convert.tables import ragged_variables
from vbzarr.errors import AlignmentError, SchemaVersionError
from vbzarr.testing.strategies import spike_trains

SETTINGS = settings(max_examples=60, deadline=None)
STORE_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# The package re-exports the functions under the modules' names; reach the module itself.
spikes_module = importlib.import_module("vbzarr.spikes")


def slow_counts(trains, events, edges):
    out = np.zeros((len(trains), len(events), len(edges) - 1), dtype=np.int64)
    for u, train in enumerate(trains):
        for e, te in enumerate(events):
            for k in range(len(edges) - 1):
                lo, hi = te + edges[k], te + edges[k + 1]
                out[u, e, k] = sum(1 for s in train if lo <= s < hi)
    return out


def numpy_counts(trains, events, edges):
    """The same rule with numpy comparisons (for trains too long for the Python loop)."""
    out = np.zeros((len(trains), len(events), len(edges) - 1), dtype=np.int64)
    for u, train in enumerate(trains):
        for e, te in enumerate(events):
            for k in range(len(edges) - 1):
                out[u, e, k] = np.count_nonzero((train >= te + edges[k]) & (train < te + edges[k + 1]))
    return out


def as_units(trains):
    ends = np.cumsum([len(s) for s in trains]).astype(np.int64)
    flat = np.concatenate(trains) if trains else np.zeros(0)
    ds = xr.Dataset(
        {"firing_rate": ("unit_id", np.arange(len(trains), dtype=float))},
        coords={"unit_id": 100 + np.arange(len(trains))},
    )
    return ds.assign(ragged_variables("spike_times", xr.Variable(("spike",), flat), ends, "unit_id"))


@st.composite
def selections(draw, n: int):
    """``(select, positions)``: a function selecting units from a Dataset, and the positions
    (in the Dataset's order) of the units it keeps, in the order it keeps them."""
    kind = draw(st.sampled_from(["positions", "slice", "labels", "mask"]))
    if kind == "positions":  # any order, not a leading run
        positions = np.array(draw(st.permutations(range(n)))[: draw(st.integers(1, n))])
        return (lambda ds: ds.isel(unit_id=positions)), positions
    if kind == "slice":
        step = draw(st.sampled_from([1, 2, 3, -1, -2]))
        sl = slice(draw(st.integers(-n, n)), draw(st.integers(-n, n)), step)
        return (lambda ds: ds.isel(unit_id=sl)), np.arange(n)[sl]
    if kind == "labels":
        positions = np.array(draw(st.permutations(range(n)))[: draw(st.integers(1, n))])
        return (lambda ds: ds.sel(unit_id=ds.unit_id.values[positions])), positions
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return (lambda ds: ds.isel(unit_id=mask)), np.flatnonzero(mask)


@SETTINGS
@given(trains=spike_trains(), data=st.data(), small_blocks=st.booleans())
def test_spike_counts_equal_slow_reference(trains, data, small_blocks):
    events = data.draw(
        st.lists(st.floats(-2, 22, allow_nan=False) | st.sampled_from([1.0, 5.0, np.nan]), max_size=12)
    )
    edges = np.sort(np.unique(data.draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=8))))
    if len(edges) < 2:
        edges = np.array([-0.5, 0.5])
    select, positions = data.draw(selections(len(trains)))
    units = select(as_units(trains))
    chosen = [trains[p] for p in positions]
    old = spikes_module.UNITS_PER_BLOCK, spikes_module.EVENTS_PER_BLOCK
    if small_blocks:
        spikes_module.UNITS_PER_BLOCK, spikes_module.EVENTS_PER_BLOCK = 2, 3
    try:
        counts = vbzarr.spike_counts(units, np.array(events), edges)
        rate = vbzarr.psth(units, np.array(events), edges)  # straight from the spikes
    finally:
        spikes_module.UNITS_PER_BLOCK, spikes_module.EVENTS_PER_BLOCK = old
    expected = slow_counts(chosen, list(events), edges)
    assert counts.dims == ("unit_id", "event", "time_from_event")
    np.testing.assert_array_equal(counts.values, expected)  # exact
    np.testing.assert_array_equal(counts.firing_rate.values, positions)
    if events:
        np.testing.assert_array_equal(rate.values, expected.sum(axis=1) / len(events) / np.diff(edges))
    # Rasters over the whole window: every (spike, event) pair, relative times exact.
    raster = vbzarr.spike_rasters(units, np.array(events), (edges[0], edges[-1]))
    slow_raster = sorted(
        (s, e, 100 + p, s - t)
        for p, train in zip(positions, chosen, strict=True)
        for e, t in enumerate(events)
        for s in train
        if t + edges[0] <= s < t + edges[-1]
    )
    got = zip(raster.index, raster.event, raster.unit_id, raster.time_from_event, strict=True)
    assert sorted(got) == slow_raster
    assert raster.index.is_monotonic_increasing
    lazy = vbzarr.spike_rasters(units, np.array(events), (edges[0], edges[-1]), lazy=True)
    pd.testing.assert_frame_equal(lazy.compute().sort_index(kind="stable"), raster)
    # Trains, ragged reads and windows of the same selection.
    assert all(np.array_equal(a, b) for a, b in zip(vbzarr.ragged(units, "spike_times"), chosen, strict=True))
    table = vbzarr.to_dataframe(units)
    assert all(np.array_equal(a, b) for a, b in zip(table.spike_times, chosen, strict=True))
    for p in positions[:3]:
        np.testing.assert_array_equal(vbzarr.spike_train(units, 100 + p), trains[p])
    lo, hi = sorted(data.draw(st.lists(st.floats(0, 20, allow_nan=False), min_size=2, max_size=2)))
    window = vbzarr.spikes_in_window(units, lo, hi)
    expected_window = [
        (100 + p, s) for p, t in zip(positions, chosen, strict=True) for s in t if lo <= s < hi
    ]
    assert sorted(
        zip(window.unit_id.values.tolist(), window.spike_times.values.tolist(), strict=True)
    ) == sorted(expected_window)


def test_psth_is_mean_rate():
    units = as_units([np.array([0.01, 0.02, 1.01]), np.array([0.5])])
    counts = vbzarr.spike_counts(units, [0.0, 1.0], [0.0, 0.05, 0.1])
    rate = vbzarr.psth(counts)
    np.testing.assert_allclose(rate.sel(unit_id=100).values, [(2 + 1) / 2 / 0.05, 0.0])
    np.testing.assert_array_equal(vbzarr.psth(units, [0.0, 1.0], [0.0, 0.05, 0.1]).values, rate.values)
    with pytest.raises(AlignmentError, match="increasing"):
        vbzarr.spike_counts(units, [0.0], [0.1, 0.0])
    with pytest.raises(AlignmentError, match="psth\\(units, events, bin_edges\\)"):
        vbzarr.psth(units)


def test_units_without_start_offsets_are_refused():
    """A units Dataset that cannot say where each unit's spikes start (a schema-1 store, or the
    offsets dropped) is an error, never another unit's spikes."""
    units = as_units([np.array([0.1, 0.2]), np.array([0.3])]).drop_vars("spike_times_start_index")
    with pytest.raises(SchemaVersionError, match="spike_times_start_index.*re-convert"):
        vbzarr.spike_counts(units.isel(unit_id=[1]), [0.0], [0.0, 1.0])
    with pytest.raises(SchemaVersionError, match="re-convert"):
        vbzarr.ragged(units, "spike_times")


# -- converted stores ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nwb_trains(vbn_project):
    """unit_id -> spike times, read with h5py from every ecephys NWB of the project."""

    class Trains(dict):
        def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
            return f"<spike trains of {len(self)} units>"

    out = Trains()
    for sid in vbn_project.ecephys_session_table.index:
        with h5py.File(vbn_project.session_path(int(sid)), "r") as f:
            ends = f["units/spike_times_index"][:]
            times = f["units/spike_times"][:]
            for uid, a, b in zip(f["units/id"][:], np.r_[0, ends[:-1]], ends, strict=True):
                out[int(uid)] = times[a:b]
    return out


@pytest.fixture(scope="module")
def flashes(vbn_converted):
    project = vbzarr.open_project(vbn_converted)
    events = project.events_table(None, query="stimulus_block == 0")
    # About six flashes of each session, spread over the session.
    by_session = events.groupby("ecephys_session_id")
    step = (by_session["start_time"].transform("size") // 6).clip(lower=1)
    return events[by_session.cumcount() % step == 0]


def _opened(vbn_converted, how: str, data) -> xr.Dataset:
    project = vbzarr.open_project(vbn_converted)
    ids = list(project.ecephys_session_table.index)
    if how == "project":
        chosen = data.draw(st.permutations(ids))[: data.draw(st.integers(1, len(ids)))]
        return project.units(chosen)
    sid = data.draw(st.sampled_from(ids))
    if how == "store":
        units = project.ecephys_session(sid)["units"].to_dataset()
    else:  # plain xarray on the repository, no vbzarr code: the group describes its own spikes
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(vbn_converted))
        store = repo.readonly_session("main").store
        units = xr.open_zarr(store, group=f"ecephys_sessions/{int(sid)}/units", consolidated=False)
    return units.assign_coords(ecephys_session_id=("unit_id", np.full(units.sizes["unit_id"], sid)))


@STORE_SETTINGS
@given(data=st.data(), how=st.sampled_from(["project", "store", "plain"]))
def test_selections_of_converted_units_equal_the_nwb(vbn_converted, nwb_trains, flashes, data, how):
    units = _opened(vbn_converted, how, data)
    select, positions = data.draw(selections(units.sizes["unit_id"]))
    units = select(units)
    ids = units.unit_id.values
    chosen = [nwb_trains[int(u)] for u in ids]
    edges = np.array([-0.05, 0.0, 0.05, 0.1, 0.25])
    sessions = units.ecephys_session_id.values
    events = flashes[flashes.ecephys_session_id.isin(set(sessions.tolist()))]
    counts = vbzarr.spike_counts(units, events, edges).values
    expected = numpy_counts(chosen, events.start_time.to_numpy(), edges).astype(float)
    # A unit and another session's event: NaN, never counted.
    expected[sessions[:, None] != events.ecephys_session_id.to_numpy()[None, :]] = np.nan
    np.testing.assert_array_equal(counts, expected if np.isnan(expected).any() else expected.astype(int))
    rate = vbzarr.psth(units, events, edges).values
    own = sessions[:, None] == events.ecephys_session_id.to_numpy()[None, :]
    mean = np.where(own[:, :, None], expected, 0).sum(axis=1) / own.sum(axis=1)[:, None]
    np.testing.assert_allclose(rate, mean / np.diff(edges), rtol=1e-12)
    for got, train in zip(vbzarr.ragged(units, "spike_times"), chosen, strict=True):
        np.testing.assert_array_equal(got, train)
    for uid in ids[:2]:
        np.testing.assert_array_equal(vbzarr.spike_train(units, uid), nwb_trains[int(uid)])
    # Rasters: each unit meets its own session's events only; the spikes are the NWB's.
    raster = vbzarr.spike_rasters(units, events, (-0.05, 0.25))
    expected_raster = sorted(
        (s, pid, int(uid), s - t)
        for uid, session, train in zip(ids, sessions, chosen, strict=True)
        for pid, t in events[events.ecephys_session_id == session].start_time.items()
        for s in train
        if t - 0.05 <= s < t + 0.25
    )
    got = zip(raster.index, raster[events.index.name], raster.unit_id, raster.time_from_event, strict=True)
    assert sorted(got) == expected_raster
    # Lazily: one partition per block of units, the same rows; a unit's rows from its partition.
    lazy = vbzarr.spike_rasters(units, events, (-0.05, 0.25), lazy=True)
    _, table = vbzarr.alignment.event_times(events)
    assert lazy.npartitions == max(1, len(spikes_module._Plan(units, table, len(table)).blocks))
    pd.testing.assert_frame_equal(lazy.compute().sort_index(kind="stable"), raster)
    for one in ids[-1:]:
        pd.testing.assert_frame_equal(lazy[lazy.unit_id == one].compute(), raster[raster.unit_id == one])

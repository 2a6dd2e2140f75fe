"""A Neuropixels project: tables, ecephys stores with LFP, units across sessions, spike counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vbzarr
from vbzarr.convert.release import TABLES


@pytest.fixture(scope="module")
def project(vbn_converted):
    return vbzarr.open_project(vbn_converted)


def test_vbn_tables_and_stores(project, vbn_project):
    assert project.dataset == "visual-behavior-neuropixels"
    for name, (csv, index) in TABLES["visual-behavior-neuropixels"].items():
        table = project.table(name)
        raw = pd.read_csv(vbn_project.root / "project_metadata" / csv)
        assert table.index.name == index
        np.testing.assert_array_equal(table.index.to_numpy(dtype=np.int64), raw[index].to_numpy())
    sid = int(project.ecephys_session_table.index[0])
    session = project.ecephys_session(sid)
    probes = project.probe_table
    with_lfp = probes[(probes.ecephys_session_id == sid) & probes.has_lfp_data]
    assert {int(k) for k in session["lfp"].children} == set(with_lfp.index)
    assert set(session["units"].unit_id.values) == set(
        project.unit_table.query("ecephys_session_id == @sid").index
    )
    assert project.stores.kind.value_counts().to_dict() == {"ecephys_session": 2, "behavior_session": 1}


def test_units_across_sessions_and_spike_counts(project):
    units = project.units()
    assert set(np.unique(units.ecephys_session_id.values)) == set(project.ecephys_session_table.index)
    events = project.events_table(None)
    flashes = events[events.stimulus_block == 0].head(40)
    flashes = pd.concat([flashes, events[events.stimulus_block == 0].tail(40)])
    edges = np.arange(-0.05, 0.2, 0.025)
    counts = vbzarr.spike_counts(units, flashes, edges).compute()
    for sid in project.ecephys_session_table.index:
        one = project.ecephys_session(sid)["units"].to_dataset()
        own = flashes[flashes.ecephys_session_id == sid]
        expected = vbzarr.spike_counts(one, own, edges).values
        got = (
            counts.sel(unit_id=one.unit_id.values)
            .isel(event=np.flatnonzero(flashes.ecephys_session_id.to_numpy() == sid))
            .values
        )
        np.testing.assert_array_equal(got, expected)
        other = (
            counts.sel(unit_id=one.unit_id.values)
            .isel(event=np.flatnonzero(flashes.ecephys_session_id.to_numpy() != sid))
            .values
        )
        assert np.isnan(other).all()
    # Straight from the spikes: each unit averages over its own session's events.
    np.testing.assert_allclose(
        vbzarr.psth(units, flashes, edges).values, vbzarr.psth(counts).values, rtol=1e-12
    )
    by_area = vbzarr.psth(counts).groupby("structure_acronym").mean("unit_id")
    assert by_area.sizes["time_from_event"] == len(edges) - 1

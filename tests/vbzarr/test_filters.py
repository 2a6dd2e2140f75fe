"""The AllenSDK's unit, channel and session filters: its rules, on DataFrames and on stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vbzarr
from vbzarr.errors import QueryError
from vbzarr.filters import filter_abnormalities


def allensdk_rule(t, validity, brain, a_max, p_min, i_max):
    """The rule as the AllenSDK's public source documents it, written out plainly."""
    keep = pd.Series(True, index=t.index)
    if brain:
        keep &= t.structure_acronym.notna()
    if validity:
        keep &= t.valid_data.astype(bool) & (t.quality == "good")
    keep &= t.amplitude_cutoff <= (a_max if a_max else np.inf)  # NaN: False, always dropped
    keep &= t.presence_ratio >= (p_min if p_min else -np.inf)
    keep &= t.isi_violations <= (i_max if i_max else np.inf)
    return t.index[keep.to_numpy()]


def _varied(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with the cases the filters must handle: NaN metrics, invalid channels,
    out-of-brain units, bad quality."""
    frame = frame.copy()
    n = len(frame)
    frame.loc[frame.index[1:n:7], "amplitude_cutoff"] = np.nan
    frame.loc[frame.index[2:n:9], "presence_ratio"] = np.nan
    frame.loc[frame.index[3:n:5], "valid_data"] = False
    frame.loc[frame.index[4:n:6], "structure_acronym"] = np.nan
    frame.loc[frame.index[5:n:4], "quality"] = "noise"
    return frame


CASES = [
    {},
    {"amplitude_cutoff_maximum": 0.1, "presence_ratio_minimum": 0.95, "isi_violations_maximum": 0.5},
    {"filter_by_validity": True},
    {"filter_out_of_brain_units": True, "amplitude_cutoff_maximum": 0.05},
    {"filter_by_validity": True, "filter_out_of_brain_units": True, "presence_ratio_minimum": 0.0},
]


def _expected(table, kwargs):
    return allensdk_rule(
        table,
        kwargs.get("filter_by_validity", False),
        kwargs.get("filter_out_of_brain_units", False),
        kwargs.get("amplitude_cutoff_maximum"),
        kwargs.get("presence_ratio_minimum"),
        kwargs.get("isi_violations_maximum"),
    )


@pytest.mark.parametrize("kwargs", CASES)
def test_get_units_on_the_unit_table_follows_allensdk(vbn_converted, kwargs):
    table = _varied(vbzarr.open_project(vbn_converted).unit_table)
    got = vbzarr.get_units(table, **kwargs)
    np.testing.assert_array_equal(got.index, _expected(table, kwargs))
    assert ("quality" in got) == (not kwargs.get("filter_by_validity"))
    assert 0 < len(got) < len(table) or kwargs == {}


@pytest.mark.parametrize("kwargs", CASES)
def test_get_units_on_stores_keeps_each_units_spikes(vbn_converted, kwargs):
    project = vbzarr.open_project(vbn_converted)
    units = project.units()
    table = _varied(
        units[["amplitude_cutoff", "presence_ratio", "isi_violations", "valid_data"]].to_dataframe()
    )
    table["quality"] = _varied(project.unit_table).quality.reindex(table.index)
    table["structure_acronym"] = _varied(project.unit_table).structure_acronym.reindex(table.index)
    varied = units.assign({c: ("unit_id", table[c].to_numpy()) for c in table.columns})
    got = vbzarr.get_units(varied, **kwargs)
    np.testing.assert_array_equal(got.unit_id.values, _expected(table, kwargs))
    whole = project.units()
    for uid in got.unit_id.values[::5]:
        np.testing.assert_array_equal(vbzarr.spike_train(got, uid), vbzarr.spike_train(whole, uid))
    # A session's DataTree works too (its units group).
    sid = int(project.ecephys_session_table.index[0])
    one = vbzarr.get_units(project.ecephys_session(sid), amplitude_cutoff_maximum=0.05)
    assert (one.amplitude_cutoff.values <= 0.05).all() and one.sizes["unit_id"] > 0


def test_get_channels_keeps_valid_ones_without_the_flag(vbn_converted):
    project = vbzarr.open_project(vbn_converted)
    table = project.channel_table.copy()
    table.loc[table.index[::3], "valid_data"] = False
    got = vbzarr.get_channels(table)
    np.testing.assert_array_equal(got.index, table.index[table.valid_data.astype(bool)])
    assert "valid_data" not in got
    pd.testing.assert_frame_equal(vbzarr.get_channels(table, filter_by_validity=False), table)
    session = project.ecephys_session(int(project.ecephys_session_table.index[0]))
    channels = vbzarr.get_channels(session)
    valid = session["channels"].valid_data.values.astype(bool)
    np.testing.assert_array_equal(channels.channel_id.values, session["channels"].channel_id.values[valid])


def test_abnormal_sessions_are_left_out_by_default(vbn_converted):
    project = vbzarr.open_project(vbn_converted)
    table = project.ecephys_session_table
    pd.testing.assert_frame_equal(project.get_ecephys_session_table(), filter_abnormalities(table))
    pd.testing.assert_frame_equal(project.get_ecephys_session_table(filter_abnormalities=False), table)
    flagged = table.astype({"abnormal_histology": object, "abnormal_activity": object})
    flagged.iloc[0, flagged.columns.get_loc("abnormal_histology")] = "['VISp']"
    np.testing.assert_array_equal(filter_abnormalities(flagged).index, table.index[1:])
    with pytest.raises(QueryError, match="abnormal_histology"):
        filter_abnormalities(table.drop(columns="abnormal_histology"))

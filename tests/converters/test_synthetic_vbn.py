"""The VBN factory writes projects in the layout of the AllenSDK-written reference files (HDF5
paths, dtypes, neurodata types, table columns, metadata tables), with sane content."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from pynwb import NWBHDF5IO

from tests.conftest import REFERENCE
from tests.layout import differences
from vbzarr.testing.synthetic import content
from vbzarr.testing.synthetic.vbn_project import TABLES, make_vbn_project

VBN = REFERENCE / "visual-behavior-neuropixels-0.5.0"
KINDS = {  # kind of file -> glob, in the reference release and in ours
    "ecephys": "behavior_ecephys_sessions/*/ecephys_session_*.nwb",
    "lfp": "behavior_ecephys_sessions/*/probe_*_lfp.nwb",
    "behavior": "behavior_only_sessions/*/behavior_session_*.nwb",
}
SIZE = content.EcephysSize.preset("tiny")
pytestmark = pytest.mark.filterwarnings("ignore:The 'manufacturer' field is deprecated")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Two ecephys sessions (G familiar, H novel) of one mouse, one habituation session, LFP."""
    return make_vbn_project(
        tmp_path_factory.mktemp("vbn"),
        n_sessions=2,
        behavior_only_sessions=1,
        size=SIZE,
        with_lfp=True,
        seed=1,
    )


def ours(project, kind: str) -> Path:
    return sorted(project.root.glob(KINDS[kind]))[0]


def test_project_files_and_tables(project):
    sessions, probes = project.ecephys_session_table, project.probe_table
    assert len(sessions) == 2 and set(sessions.image_set) == {"G", "H"}
    assert set(sessions.experience_level) == {"Familiar", "Novel"}
    for sid in sessions.index:
        assert project.session_path(sid).exists()
    for _, p in probes.iterrows():
        lfp = project.lfp_path(p.ecephys_session_id, p["name"])
        assert lfp.exists() == bool(p.has_lfp_data) == (p.file_id >= 0)
    assert probes.loc[probes.file_id >= 0, "file_id"].is_unique
    behavior = project.behavior_session_table
    only = behavior[behavior.ecephys_session_id.isna()]
    assert len(only) == 1 and project.behavior_session_path(only.index[0]).exists()
    assert set(behavior.ecephys_session_id.dropna().astype(np.int64)) == set(sessions.index)
    # Counts agree across tables.
    units, channels = project.unit_table, project.channel_table
    assert (sessions.unit_count == units.groupby("ecephys_session_id").size()).all()
    assert (probes.channel_count == channels.groupby("ecephys_probe_id").size()).all()
    assert channels.unit_count.sum() == len(units)


def test_tables_ids_match_nwb(project):
    units, channels = project.unit_table, project.channel_table
    for sid in project.ecephys_session_table.index:
        with h5py.File(project.session_path(sid), "r") as f:
            ids = f["units/id"][:]
            np.testing.assert_array_equal(ids, units.index[units.ecephys_session_id == sid])
            np.testing.assert_allclose(f["units/firing_rate"][:], units.loc[ids, "firing_rate"])
            np.testing.assert_array_equal(
                f["general/extracellular_ephys/electrodes/id"][:],
                channels.index[channels.ecephys_session_id == sid],
            )
            assert np.isin(f["units/peak_channel_id"][:], channels.index).all()
    for pid, p in project.probe_table[project.probe_table.has_lfp_data].iterrows():
        with h5py.File(project.lfp_path(p.ecephys_session_id, p["name"]), "r") as f:
            lfp_ids = f["general/extracellular_ephys/electrodes/id"][:]
            assert (channels.loc[lfp_ids, "ecephys_probe_id"] == pid).all()
            data = f[f"acquisition/probe_{pid}_lfp/probe_{pid}_lfp_data/data"]
            assert data.shape[1] == len(lfp_ids)


@pytest.mark.reference
@pytest.mark.skipif(not VBN.is_dir(), reason="../shared/reference-nwb is absent")
@pytest.mark.parametrize("kind", list(KINDS))
def test_layout_matches_reference(project, kind):
    references = sorted(VBN.glob(KINDS[kind]))
    assert references
    for reference in references:
        assert differences(reference, ours(project, kind)) == [], reference.name


@pytest.mark.reference
@pytest.mark.skipif(not VBN.is_dir(), reason="../shared/reference-nwb is absent")
def test_metadata_columns_match_reference(project):
    for name in TABLES:
        reference = pd.read_csv(VBN / "project_metadata" / f"{name}.csv")
        factory = pd.read_csv(project.root / "project_metadata" / f"{name}.csv")
        assert list(factory.columns) == list(reference.columns), name


def test_units_content(project):
    t0, t1 = content.recording_span(SIZE)
    locked = 0
    for sid in project.ecephys_session_table.index:
        with h5py.File(project.session_path(sid), "r") as f:
            ends = f["units/spike_times_index"][:]
            times = np.split(f["units/spike_times"][:], ends[:-1])
            amplitudes = f["units/spike_amplitudes"][:]
            rates = f["units/firing_rate"][:]
            waveforms, wf_ends = f["units/waveform_mean"], f["units/waveform_mean_index"][:]
            images = f[f"intervals/{next(k for k in f['intervals'] if k.startswith('Natural'))}"]
            onsets = images["start_time"][:]
            names = images["image_name"][:].astype(str)
            assert waveforms.dtype == np.float32
            np.testing.assert_array_equal(np.diff(np.r_[0, wf_ends]), SIZE.waveform_channels)
        assert (amplitudes > 0).all() and len(amplitudes) == ends[-1]
        assert ((rates >= 0.1) & (rates <= 50)).all()
        shown = names != "omitted"
        for unit, rate in zip(times, rates, strict=True):
            assert (np.diff(unit) > 0).all() and unit[0] >= t0 and unit[-1] < t1
            np.testing.assert_allclose(len(unit) / (t1 - t0), rate)
            # Stimulus-locked units fire well above their mean rate 30-80 ms after their image.
            window = [np.searchsorted(unit, onsets + lag) for lag in (0.03, 0.08)]
            best = max(
                ((window[1] - window[0])[m]).sum() / (0.05 * m.sum())
                for m in (shown & (names == n) for n in set(names[shown]))
            )
            locked += best > 3 * rate + 5
    assert locked >= 2


def test_presentations_and_trials(project):
    for sid in project.ecephys_session_table.index:
        with NWBHDF5IO(str(project.session_path(sid)), "r") as io:
            nwb = io.read()
            blocks = {k: v.to_dataframe() for k, v in nwb.intervals.items() if k != "trials"}
            trials = nwb.trials.to_dataframe()
            delay = (
                nwb.processing["stimulus"]["timestamps"].data[0]
                - nwb.processing["running"]["speed"].timestamps[0]
            )
        images = next(v for k, v in blocks.items() if k.startswith("Natural"))
        spans = (
            pd.concat(blocks.values())
            .groupby("stimulus_block")
            .agg(start=("start_time", "min"), stop=("stop_time", "max"))
        )
        assert list(spans.index) == [0, 1, 2, 3, 4, 5]
        assert (spans.start.to_numpy()[1:] >= spans.stop.to_numpy()[:-1] - 1e-9).all()
        active, replay = images[images.stimulus_block == 0], images[images.stimulus_block == 5]
        assert active.active.all() and not replay.active.any()
        for col in ["image_name", "is_change", "omitted", "trials_id", "rewarded"]:
            np.testing.assert_array_equal(active[col].to_numpy(), replay[col].to_numpy())
        np.testing.assert_allclose(np.diff(active.start_time), 0.75, atol=0.01)
        assert images.is_change.dtype == np.float64 and "image_index" not in images
        assert "stimulus_block_name" not in images
        gabor = blocks["gabor_20_deg_250ms_presentations"]
        np.testing.assert_allclose(gabor.duration, 0.25, atol=0.01)
        assert set(blocks["flash_250ms_presentations"].color) <= {-1.0, 1.0}
        # Trials: inside the active block, changes on flashes, rewarded flashes are rewarded trials.
        assert "change_time" not in trials and "response_latency" not in trials
        assert trials.start_time.min() >= spans.start[0] - 0.1
        assert trials.stop_time.max() <= spans.stop[0] + 1
        go = trials[trials.go | trials.auto_rewarded]
        change = go.change_time_no_display_delay + delay
        assert np.isin(change.round(6), active.start_time.round(6)).all()
        assert set(active.trials_id) - {-99} <= set(trials.index)
        rewarded = active[active.rewarded == 1]
        assert trials.loc[rewarded.trials_id, "reward_time"].notna().all()
        if nwb.session_description.endswith("H_3uL_reward"):
            assert (images.is_image_novel == 1).any()


@pytest.mark.parametrize("kind", list(KINDS))
def test_pynwb_reads_back(project, kind):
    with NWBHDF5IO(str(ours(project, kind)), "r") as io:
        nwb = io.read()
        if kind == "ecephys":
            assert len(nwb.units.to_dataframe()) == SIZE.n_probes * SIZE.units_per_probe
            assert len(nwb.electrodes) == SIZE.n_probes * SIZE.channels_per_probe
            assert len(nwb.processing["optotagging"]["optogenetic_stimulation"]) == SIZE.opto_trials
        elif kind == "lfp":
            (name,) = [k for k in nwb.acquisition if k.endswith("_lfp")]
            series = nwb.acquisition[name].electrical_series[f"{name}_data"]
            assert series.data.dtype == np.float32 and series.data.shape[1] == len(nwb.electrodes)
            assert nwb.processing["current_source_density"]["ecephys_csd"] is not None
        else:
            assert nwb.lab_meta_data["metadata"].project_code == "NeuropixelVisualBehavior"

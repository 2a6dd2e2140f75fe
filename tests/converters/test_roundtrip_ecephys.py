"""Round trip of Visual Behavior Neuropixels sessions: units, spikes, channels, probes, LFP,
optotagging and the VBN presentation table equal what h5py reads from the NWB."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import vbzarr
from tests.conftest import reference_files
from vbzarr.convert import convert_nwb

VBN_REFERENCE = reference_files("visual-behavior-neuropixels-0.5.0/behavior_ecephys_sessions/*/ecephys_*.nwb")


def text(values):
    return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)


@pytest.fixture(
    scope="module", params=["factory", *VBN_REFERENCE], ids=lambda p: p if isinstance(p, str) else p.name
)
def converted(request, tmp_path_factory, vbn_project):
    if request.param == "factory":
        sid = int(vbn_project.ecephys_session_table.index[0])
        src = vbn_project.session_path(sid)
    else:
        src = request.param
    lfp = sorted(src.parent.glob("probe_*_lfp.nwb"))
    dst = tmp_path_factory.mktemp("vbn") / "store.zarr"
    convert_nwb(src, dst)  # as `vbzarr convert ecephys_session_<id>.nwb`: the LFP files beside it go in
    with h5py.File(src, "r") as f:
        yield f, vbzarr.open_store(dst), lfp


def test_every_unit_spike_train_equals_nwb(converted):
    f, tree, _ = converted
    units = tree["units"].to_dataset()
    ids, ends = f["units/id"][:], f["units/spike_times_index"][:]
    times, amps = f["units/spike_times"][:], f["units/spike_amplitudes"][:]
    np.testing.assert_array_equal(units.unit_id.values, ids)
    assert units.sizes["spike"] == len(times)  # flat, no padding
    for i, uid in enumerate(ids):
        a, b = (ends[i - 1] if i else 0), ends[i]
        np.testing.assert_array_equal(vbzarr.spike_train(units, uid), times[a:b])  # order included
    np.testing.assert_array_equal(units.spike_amplitudes.values, amps)
    # The whole table with its ragged columns: spike_amplitudes shares spike_times' offsets.
    table = vbzarr.to_dataframe(tree["units"])
    for i in range(len(ids)):
        a, b = (ends[i - 1] if i else 0), ends[i]
        np.testing.assert_array_equal(table["spike_amplitudes"].iloc[i], amps[a:b])
    for i in range(len(ids)):
        assert np.all(np.diff(times[(ends[i - 1] if i else 0) : ends[i]]) >= 0)


def test_units_columns_and_waveforms(converted):
    f, tree, _ = converted
    units = vbzarr.to_dataframe(tree["units"], ragged_columns=False)
    g = f["units"]
    for col in text(g.attrs["colnames"]):
        if f"{col}_index" in g or col in ("spike_times", "spike_amplitudes", "waveform_mean"):
            continue
        expected = g[col][:]
        expected = text(expected) if expected.dtype.kind in "OS" else expected
        np.testing.assert_array_equal(units[col].to_numpy(), expected, err_msg=col)
    # Peak channel's area and CCF coordinates, as in the release's units.csv.
    e = f["general/extracellular_ephys/electrodes"]
    row = {cid: i for i, cid in enumerate(e["id"][:])}
    for peak, area, ap in zip(
        units.peak_channel_id,
        units.structure_acronym,
        units.anterior_posterior_ccf_coordinate,
        strict=True,
    ):
        loc = e["location"][row[peak]].decode()
        assert area == (None if loc in ("None", "") else loc.split("-")[0]) or (area != area)
        assert ap == e["x"][row[peak]]
    wf = vbzarr.ragged(tree["units"].to_dataset(), "mean_waveforms")
    flat, wf_ends = g["waveform_mean"][:], g["waveform_mean_index"][:]
    for i, w in enumerate(wf):
        np.testing.assert_array_equal(w, flat[(wf_ends[i - 1] if i else 0) : wf_ends[i]])


def test_spikes_in_window_equal_a_full_scan(converted):
    f, tree, _ = converted
    units = tree["units"].to_dataset()
    ids, ends, times = f["units/id"][:], f["units/spike_times_index"][:], f["units/spike_times"][:]
    start = float(np.median(times))
    for lo, hi in [
        (start, start + 10.0),
        (times.min() - 5, times.min() + 3),
        (times.max() - 2, times.max() + 9),
    ]:
        window = vbzarr.spikes_in_window(units, lo, hi)
        owner = np.repeat(ids, np.diff(np.concatenate([[0], ends])))
        keep = (times >= lo) & (times < hi)
        np.testing.assert_array_equal(window.spike_times.values, times[keep])
        np.testing.assert_array_equal(window.unit_id.values, owner[keep])


def test_channels_probes_optotagging_lfp(converted):
    f, tree, lfp_files = converted
    e = f["general/extracellular_ephys/electrodes"]
    channels = tree["channels"]
    np.testing.assert_array_equal(channels.channel_id.values, e["id"][:])
    np.testing.assert_array_equal(channels["anterior_posterior_ccf_coordinate"].values, e["x"][:])
    np.testing.assert_array_equal(channels["probe_vertical_position"].values, e["probe_vertical_position"][:])
    np.testing.assert_array_equal(channels["valid_data"].values, e["valid_data"][:])
    groups = [k for k in f["general/extracellular_ephys"] if k != "electrodes"]
    probes = tree["probes"]
    assert sorted(probes["name"].values.tolist()) == sorted(groups)
    for name in groups:
        pid = f[f"general/extracellular_ephys/{name}"].attrs["probe_id"]
        row = probes.to_dataset().sel(probe_id=pid).compute()
        assert row["name"].item() == name
        assert row["sampling_rate"].item() == f[f"general/devices/{name}"].attrs["sampling_rate"]
    if "processing/optotagging" in f:
        opto = vbzarr.to_dataframe(tree["optotagging"])
        g = f["processing/optotagging/optogenetic_stimulation"]
        np.testing.assert_array_equal(opto.start_time, g["start_time"][:])
        np.testing.assert_array_equal(opto.level, g["level"][:])
        np.testing.assert_array_equal(opto.condition.to_numpy(), text(g["condition"][:]))
    for path in lfp_files:
        with h5py.File(path, "r") as lf:
            (name,) = [k for k in lf["acquisition"] if k.endswith("_lfp")]
            pid = int(name.split("_")[1])
            series = lf[f"acquisition/{name}/{name}_data"]
            node = tree["lfp"][str(pid)]
            np.testing.assert_array_equal(node["lfp"].values, series["data"][:])
            np.testing.assert_array_equal(node["time"].values, series["timestamps"][:])
            ids = lf["general/extracellular_ephys/electrodes/id"][:][series["electrodes"][:]]
            np.testing.assert_array_equal(node["channel_id"].values, ids)
            csd = lf["processing/current_source_density/ecephys_csd/current_source_density/data"][:]
            np.testing.assert_array_equal(node["csd"].values, csd.T)


def test_vbn_presentations_keep_stored_flags(converted):
    """BehaviorEcephysSession does not recompute is_change / flashes_since_change; flags stay
    nullable booleans, -99 fills, and every block (gabors, flashes, replay) is in one table."""
    f, tree, _ = converted
    pres = vbzarr.to_dataframe(tree["stimulus_presentations"])
    blocks = [k for k in f["intervals"] if k.endswith("_presentations")]
    assert len(pres) == sum(len(f["intervals"][b]["id"]) for b in blocks)
    assert (np.diff(pres.start_time.to_numpy()) >= 0).all()
    row_of = {t: i for i, t in enumerate(pres.start_time.to_numpy())}
    for block in blocks:
        g = f["intervals"][block]
        rows = [row_of[t] for t in g["start_time"][:]]
        for col in ("flashes_since_change", "trials_id", "stimulus_block"):
            if col in g:
                np.testing.assert_array_equal(pres[col].to_numpy()[rows], g[col][:], err_msg=col)
        for col in ("is_change", "omitted"):
            if col in g:
                got = pres[col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[rows]
                np.testing.assert_array_equal(got, g[col][:].astype(float), err_msg=col)
    assert "recomputed" in tree["stimulus_presentations"].attrs
    assert tree["stimulus_presentations"].attrs["recomputed"] == []


def test_eye_tracking_rig_geometry(converted):
    """AllenSDK's dict: equipment and [x, y, z] lists, keys named with their units."""
    f, tree, _ = converted
    rig = "processing/eye_tracking_rig_metadata/eye_tracking_rig_metadata"
    got = tree.attrs["eye_tracking_rig_geometry"]
    if rig not in f:
        assert got == {} and "eye_tracking_rig_geometry" in tree.attrs["missing_streams"]
        return
    g = f[rig]
    assert got == {
        "camera_position_mm": g["camera_position"][:].tolist(),
        "camera_rotation_deg": g["camera_rotation"][:].tolist(),
        "equipment": g.attrs["equipment"],
        "led_position": g["led_position"][:].tolist(),
        "monitor_position_mm": g["monitor_position"][:].tolist(),
        "monitor_rotation_deg": g["monitor_rotation"][:].tolist(),
    }


def test_performance_equals_the_allensdk_algorithm_on_the_nwb(converted):
    from tests.vbzarr.test_performance import check_performance_against_the_nwb

    f, store, _ = converted
    check_performance_against_the_nwb(f, store)

"""Round trip of Visual Behavior Ophys / behavior files: every stream equals what h5py reads.

The expected values are read straight from the NWB with h5py and, where the AllenSDK derives a
column at read time, computed by slow, obviously-correct loops written here (not the converter's
code). Runs on the factory's files and on every VBO reference file.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import xarray as xr

import vbzarr
from tests.conftest import reference_files
from vbzarr.convert import convert_nwb

VBO_REFERENCE = [p for p in reference_files("visual-behavior-ophys/**/*.nwb")]


def text(values):
    return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)


@pytest.fixture(
    scope="module",
    params=["factory-ophys", "factory-behavior", *VBO_REFERENCE],
    ids=lambda p: p if isinstance(p, str) else p.name,
)
def converted(request, tmp_path_factory, ophys_nwb, behavior_nwb):
    src = {"factory-ophys": ophys_nwb, "factory-behavior": behavior_nwb}.get(request.param, request.param)
    dst = tmp_path_factory.mktemp("rt") / "store.zarr"
    convert_nwb(src, dst)
    with h5py.File(src, "r") as f:
        yield f, vbzarr.open_store(dst), dst


def valid_rows(f):
    table = f["processing/ophys/image_segmentation/cell_specimen_table"]
    return np.flatnonzero(table["valid_roi"][:])


def test_ophys_traces_equal_nwb(converted):
    f, tree, _ = converted
    if "processing/ophys" not in f:
        assert "ophys" not in tree.children
        return
    ophys = tree["ophys"]
    table = f["processing/ophys/image_segmentation/cell_specimen_table"]
    rows = valid_rows(f)
    np.testing.assert_array_equal(ophys["cell_roi_id"].values, table["id"][:][rows])
    np.testing.assert_array_equal(ophys["cell_specimen_id"].values, table["cell_specimen_id"][:][rows])
    np.testing.assert_array_equal(ophys["time"].values, f["processing/ophys/dff/traces/timestamps"][:])
    for var, series in [
        ("dff", "dff/traces"),
        ("corrected_fluorescence", "corrected_fluorescence/traces"),
        ("events", "event_detection"),
        ("demixed_trace", "demixed_trace/traces"),
        ("neuropil_trace", "neuropil_trace/traces"),
    ]:
        g = f[f"processing/ophys/{series}"]
        region = list(g["rois"][:])
        expected = g["data"][:][:, [region.index(r) for r in rows]].T
        actual = ophys[var].values
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected, err_msg=var)
    det = f["processing/ophys/event_detection"]
    region = list(det["rois"][:])
    np.testing.assert_array_equal(ophys["lambda"].values, det["lambdas"][:][[region.index(r) for r in rows]])
    np.testing.assert_array_equal(
        ophys["noise_std"].values, det["noise_stds"][:][[region.index(r) for r in rows]]
    )


def test_filtered_events_equal_allensdk_bit_for_bit(converted):
    """AllenSDK's documented filter (scipy's half-normal pdf, normalised; the full convolution of
    each cell's whole trace, cut to its length) on the NWB's events: equal, not close."""
    f, tree, _ = converted
    if "processing/ophys" not in f:
        return
    rate = f["general/optophysiology/imaging_plane_1/imaging_rate"][()]
    w = scipy.stats.halfnorm(loc=0, scale=2.0 / 31.0 * rate).pdf(np.arange(20))
    w = w / np.sum(w)
    events = tree["ophys"]["events"].values
    expected = np.zeros(events.shape)
    for i in range(events.shape[0]):
        expected[i] = np.convolve(events[i], w)[: events.shape[1]]
    np.testing.assert_array_equal(tree["ophys"]["filtered_events"].values, expected)


def test_cell_table_and_images(converted):
    f, tree, _ = converted
    if "processing/ophys" not in f:
        return
    table = f["processing/ophys/image_segmentation/cell_specimen_table"]
    rows = valid_rows(f)
    images = tree["images"]
    np.testing.assert_array_equal(images["roi_masks"].values, table["image_mask"][:][rows])
    np.testing.assert_array_equal(
        images["max_projection"].values, f["processing/ophys/images/max_projection"][:]
    )
    np.testing.assert_array_equal(
        images["average_projection"].values, f["processing/ophys/images/average_image"][:]
    )
    np.testing.assert_array_equal(
        images["segmentation_mask_image"].values, table["image_mask"][:][rows].astype(np.int64).sum(0)
    )
    ophys = tree["ophys"]
    for col in ["x", "y", "width", "height", "valid_roi", "mask_image_plane", "max_correction_up"]:
        np.testing.assert_array_equal(ophys[col].values, table[col][:][rows], err_msg=col)
    for axis in "xy":
        np.testing.assert_array_equal(
            tree["motion_correction"][axis].values,
            f[f"processing/ophys/ophys_motion_correction_{axis}/data"][:],
        )


def test_running_licks_rewards(converted):
    f, tree, _ = converted
    run = tree["running"]
    np.testing.assert_array_equal(run["time"].values, f["processing/running/speed/timestamps"][:])
    np.testing.assert_array_equal(run["speed"].values, f["processing/running/speed/data"][:])
    np.testing.assert_array_equal(run["raw_speed"].values, f["processing/running/speed_unfiltered/data"][:])
    np.testing.assert_array_equal(run["dx"].values, f["processing/running/dx/data"][:])
    np.testing.assert_array_equal(run["v_sig"].values, f["acquisition/v_sig/data"][:])
    if "processing/licking" in f:
        np.testing.assert_array_equal(
            tree["licks"]["timestamps"].values, f["processing/licking/licks/timestamps"][:]
        )
        np.testing.assert_array_equal(tree["licks"]["frame"].values, f["processing/licking/licks/data"][:])
    else:  # the AllenSDK's empty table, with its columns
        assert "licks" not in tree.attrs["missing_streams"]
        assert tree["licks"].sizes["lick"] == 0 and {"timestamps", "frame"} <= set(tree["licks"].variables)
    if "processing/rewards" in f:
        r = tree["rewards"]
        np.testing.assert_array_equal(
            r["timestamps"].values, f["processing/rewards/autorewarded/timestamps"][:]
        )
        np.testing.assert_array_equal(r["volume"].values, f["processing/rewards/volume/data"][:])
        np.testing.assert_array_equal(r["auto_rewarded"].values, f["processing/rewards/autorewarded/data"][:])
    else:  # passive sessions: the AllenSDK's empty table, with its columns
        assert "rewards" not in tree.attrs["missing_streams"]
        assert tree["rewards"].sizes["reward"] == 0
        assert {"timestamps", "volume", "auto_rewarded"} <= set(tree["rewards"].variables)


def test_trials_with_ragged_lick_times(converted):
    f, tree, _ = converted
    g = f["intervals/trials"]
    trials = vbzarr.to_dataframe(tree["trials"])
    assert trials.index.name == "trials_id"
    np.testing.assert_array_equal(trials.index, g["id"][:])
    for col in text(g.attrs["colnames"]):
        if col == "lick_times":
            continue
        values = g[col][:]
        expected = text(values) if values.dtype.kind in "OS" else values
        np.testing.assert_array_equal(trials[col].to_numpy(), expected, err_msg=col)
    ends = g["lick_times_index"][:]
    flat = g["lick_times"][:]
    for i, licks in enumerate(trials["lick_times"]):
        expected = flat[(ends[i - 1] if i else 0) : ends[i]]
        if expected.dtype.kind != "f":  # passive placeholder [b'']: no licks
            assert len(licks) == 0
        else:
            np.testing.assert_array_equal(licks, expected)
    # Stored without padding: one value per lick.
    assert tree["trials"]["lick_times"].size == (flat.size if flat.dtype.kind == "f" else 0)


def slow_presentations(f) -> pd.DataFrame:
    """Blocks concatenated and sorted by start time, written with plain loops."""
    rows = []
    for name in sorted(f["intervals"]):
        if not name.endswith("_presentations"):
            continue
        g = f["intervals"][name]
        cols = [c for c in text(g.attrs["colnames"]) if c not in ("tags", "timeseries")]
        for i in range(len(g["id"])):
            row = {}
            for c in cols:
                v = g[c][i]
                row[c] = v.decode() if isinstance(v, bytes) else v
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("start_time", kind="mergesort").reset_index(drop=True)


def test_stimulus_presentations_merge_all_blocks(converted):
    f, tree, _ = converted
    expected = slow_presentations(f)
    actual = vbzarr.to_dataframe(tree["stimulus_presentations"])
    assert actual.index.name == "stimulus_presentations_id"
    assert len(actual) == len(expected)
    np.testing.assert_array_equal(actual["start_time"], expected["start_time"])
    np.testing.assert_array_equal(actual["end_time"], expected["stop_time"])
    assert set(actual["stimulus_block"]) == set(expected["stimulus_block"])
    for col in [
        "start_frame",
        "end_frame",
        "duration",
        "trials_id",
        "active",
        "is_sham_change",
        "stimulus_block_name",
        "stimulus_name",
    ]:
        exp = (
            expected[col].fillna(-99)
            if expected[col].dtype.kind == "f" and col == "trials_id"
            else expected[col]
        )
        np.testing.assert_array_equal(actual[col].to_numpy(), exp.to_numpy(), err_msg=col)
    for col in ["omitted", "is_image_novel"]:
        if col in expected:
            exp = expected[col].to_numpy(dtype=float)
            act = actual[col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            np.testing.assert_array_equal(act, exp, err_msg=col)
    # AllenSDK recomputes is_change and flashes_since_change over all rows in table order.
    names = expected["image_name"].to_numpy(dtype=object)
    omitted = expected["omitted"].astype(float).fillna(0).astype(bool).to_numpy()
    last, fsc, change = None, [], []
    for i in range(len(expected)):
        shown = not omitted[i] and not (isinstance(names[i], float))
        is_change = shown and last is not None and names[i] != last
        if shown:
            last = names[i]
        change.append(is_change)
        if names[i] == "omitted" or omitted[i]:
            fsc.append(fsc[-1] if fsc else 0)
        elif is_change or i == 0:
            fsc.append(0)
        else:
            fsc.append(fsc[-1] + 1)
    np.testing.assert_array_equal(actual["is_change"].to_numpy(bool), change)
    np.testing.assert_array_equal(actual["flashes_since_change"].to_numpy(), fsc)


def test_eye_tracking_blinks_and_masks(converted):
    f, tree, _ = converted
    if "acquisition/EyeTracking" not in f:  # the AllenSDK's empty table, with its columns
        assert "eye_tracking" not in tree.attrs["missing_streams"]
        empty = vbzarr.to_dataframe(tree["eye_tracking"])
        assert len(empty) == 0 and empty.index.name == "frame"
        assert {"timestamps", "likely_blink", "pupil_area", "cr_center_x", "eye_phi"} <= set(empty.columns)
        return
    g = f["acquisition/EyeTracking"]
    eye = tree["eye_tracking"]
    raw = {
        p: g[s]["area_raw"][:]
        for p, s in [
            ("eye", "eye_tracking"),
            ("pupil", "pupil_tracking"),
            ("cr", "corneal_reflection_tracking"),
        ]
    }
    blink = np.isnan(raw["eye"]) | np.isnan(raw["pupil"])
    for area in (raw["eye"], raw["pupil"]):
        ok = ~np.isnan(area)
        z = np.abs((area - area[ok].mean()) / area[ok].std())
        blink |= np.where(ok, z, 0) > 3
    dilated = np.zeros_like(blink)
    for i in range(len(blink)):
        dilated[i] = blink[max(0, i - 2) : i + 3].any()
    np.testing.assert_array_equal(eye["likely_blink"].values, dilated)
    np.testing.assert_array_equal(eye["timestamps"].values, g["eye_tracking/timestamps"][:])
    for prefix, series in [
        ("eye", "eye_tracking"),
        ("pupil", "pupil_tracking"),
        ("cr", "corneal_reflection_tracking"),
    ]:
        s = g[series]
        masked = prefix in ("eye", "pupil")
        np.testing.assert_array_equal(eye[f"{prefix}_center_x"].values, s["data"][:, 0])
        np.testing.assert_array_equal(eye[f"{prefix}_center_y"].values, s["data"][:, 1])
        np.testing.assert_array_equal(eye[f"{prefix}_area_raw"].values, s["area_raw"][:])
        np.testing.assert_array_equal(
            eye[f"{prefix}_area"].values, np.where(dilated, np.nan, s["area_raw"][:])
        )
        for col, ds in [("width", "width"), ("height", "height"), ("phi", "angle")]:
            exp = np.where(dilated, np.nan, s[ds][:]) if masked else s[ds][:]
            np.testing.assert_array_equal(eye[f"{prefix}_{col}"].values, exp, err_msg=f"{prefix}_{col}")


def test_templates_timestamps_metadata(converted):
    f, tree, _ = converted
    (name,) = list(f["stimulus/templates"])
    t = f["stimulus/templates"][name]
    templates = tree["stimulus_templates"]
    np.testing.assert_array_equal(templates["image_name"].values, text(t["control_description"][:]))
    np.testing.assert_array_equal(templates["warped"].values, t["data"][:])
    np.testing.assert_array_equal(templates["unwarped"].values, t["unwarped"][:])  # NaN == NaN here
    np.testing.assert_array_equal(
        tree["stimulus_timestamps"]["timestamps"].values, f["processing/stimulus/timestamps/timestamps"][:]
    )
    meta = tree.attrs["metadata"]
    attrs = f["general/metadata"].attrs
    assert meta["behavior_session_id"] == attrs["behavior_session_id"]
    assert meta["session_type"] == attrs["session_type"]
    assert meta["mouse_id"] == f["general/subject/subject_id"][()].decode()
    assert meta["age_in_days"] == int(f["general/subject/age"][()].decode()[1:-1])
    assert meta["driver_line"] == sorted(text(f["general/subject"].attrs["driver_line"]))
    assert pd.Timestamp(meta["date_of_acquisition"]) == pd.Timestamp(f["session_start_time"][()].decode())
    task = tree.attrs["task_parameters"]
    assert task["response_window_sec"] == [
        float(v) for v in text(f["general/task_parameters"].attrs["response_window_sec"])
    ]
    assert tree.attrs["vbzarr_schema_version"] == vbzarr.SCHEMA_VERSION
    prov = tree.attrs["provenance"]
    assert prov["size"] > 0 and len(prov["sha256"]) == 64
    if "imaging_plane_group_count" in attrs:
        assert meta["ophys_experiment_id"] == int(f["identifier"][()])
        assert meta["ophys_frame_rate"] == f["general/optophysiology/imaging_plane_1/imaging_rate"][()]


def test_store_opens_lazily_with_plain_xarray(converted):
    f, _, path = converted
    opened = xr.open_datatree(path, engine="zarr", chunks={})
    assert set(opened.children) >= {"running", "trials", "stimulus_presentations"}
    for node in opened.subtree:
        for var in node.dataset.data_vars.values():
            assert var.chunks is not None  # dask-backed: nothing read yet


def test_performance_equals_the_allensdk_algorithm_on_the_nwb(converted):
    from tests.vbzarr.test_performance import check_performance_against_the_nwb

    f, store, _ = converted
    check_performance_against_the_nwb(f, store)

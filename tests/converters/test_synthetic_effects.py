"""The synthetic cells and units respond as in the Visual Behavior papers: excitatory cells to image
changes, Vip cells to omissions, every cell type more to novel images; Neuropixels units 30-80 ms
after a flash, more on changes, most in VISp. Measured on the factory's content (no NWB file)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vbzarr.testing.synthetic import content
from vbzarr.testing.synthetic.cell_traces import CELL_TYPES
from vbzarr.testing.synthetic.ecephys_units import stimulus_locked

SLC, SST, VIP = "Slc17a7-IRES2-Cre", "Sst-IRES-Cre", "Vip-IRES-Cre"
# A 12-minute image block (~960 flashes, ~130 changes, ~40 omissions) of 60 cells: traces only.
SIZE = dataclasses.replace(content.Size.preset("tiny"), task_minutes=12.0, gray_minutes=0.1)


def traces(cre_line: str, level: str = "Familiar", seed: int = 0):
    """One session's dF/F (time, cell), its frame times and image block, for 60 cells of a line."""
    rng = np.random.default_rng(seed)
    schedule = content.simulate_schedule(rng, SIZE, with_gray_and_movie=False)
    ts = content.ophys_timestamps(rng, schedule.stimulus_timestamps[0] + 0.2, schedule.end_time, 31.0)
    cells = content.cell_tuning(np.random.default_rng(1), 60, cre_line)
    out = content.calcium_traces(rng, ts, schedule, cells, level)
    block = next(iter(schedule.blocks.values()))
    return out, ts, block, cells


def window(dff: np.ndarray, ts: np.ndarray, onsets: np.ndarray, a: float, b: float) -> np.ndarray:
    """Per cell, the mean dF/F from ``a`` to ``b`` s after the onsets."""
    lo, hi = np.searchsorted(ts, onsets + a), np.searchsorted(ts, onsets + b)
    return np.mean([dff[i:j].mean(0) for i, j in zip(lo, hi, strict=True) if j > i], axis=0)


def flashes(block):
    change = block.is_change.to_numpy() == 1
    omitted = block.omitted.to_numpy() == 1
    repeat = ~change & ~omitted & (block.flashes_since_change.to_numpy() >= 3)
    start = block.start_time.to_numpy()
    return start[change], start[repeat], start[omitted]


def test_excitatory_cells_respond_to_changes_more_than_to_repeats():
    ratios = {}
    for cre in (SLC, SST, VIP):
        out, ts, block, cells = traces(cre)
        change, repeat, _ = flashes(block)
        on_change, on_repeat = (window(out["dff"], ts, on, 0.0, 0.75) for on in (change, repeat))
        ratios[cre] = on_change.mean() / on_repeat.mean()
        if cre == SLC:  # the change cells carry it
            gain = cells.change_gain.to_numpy() > 1
            assert (on_change - on_repeat)[gain].mean() > 3 * (on_change - on_repeat)[~gain].mean()
    assert ratios[SLC] > 1.8 and ratios[SST] > 1.15
    assert ratios[SLC] > ratios[SST] > ratios[VIP]


def test_vip_cells_ramp_up_when_a_flash_is_omitted():
    rises = {}
    for cre in (SLC, VIP):
        out, ts, block, cells = traces(cre)
        _, repeat, omitted = flashes(block)
        dff = out["dff"]
        early, late = (window(dff, ts, omitted, a, a + 0.25) for a in (0.0, 0.5))
        rises[cre] = (late - window(dff, ts, repeat, 0.5, 0.75)).mean()
        if cre == VIP:
            ramp = cells.omission.to_numpy()
            assert ramp.mean() > 0.4
            assert (late - early)[ramp].mean() > 0.05  # a ramp: later is higher
            assert late[ramp].mean() > 2 * window(dff, ts, repeat, 0.0, 0.75)[ramp].mean()
    assert rises[VIP] > 0.04 > rises[SLC]


@pytest.mark.parametrize("cre", [SLC, SST, VIP])
def test_novel_images_evoke_larger_responses(cre):
    response = {}
    for level in ("Familiar", "Novel 1", "Novel >1"):
        out, ts, block, _ = traces(cre, level)
        omitted = block.omitted.to_numpy() == 1
        # Flashes after a shown one: the Vip omission ramp before them would offset the baseline.
        shown = block.start_time.to_numpy()[~omitted & ~np.r_[False, omitted[:-1]]]
        evoked = window(out["dff"], ts, shown, 0.0, 0.75) - window(out["dff"], ts, shown, -0.1, 0.0)
        response[level] = evoked.mean()
    assert response["Novel 1"] > 1.5 * response["Familiar"]
    assert response["Familiar"] < response["Novel >1"] < response["Novel 1"]


def test_traces_are_deterministic_with_float32_exact_dff():
    one, ts, _, _ = traces(SST, "Novel 1", seed=5)
    two, _, _, _ = traces(SST, "Novel 1", seed=5)
    for name, values in one.items():
        np.testing.assert_array_equal(values, two[name], err_msg=name)
    dff = one["dff"]
    assert dff.dtype == np.float64 and dff.shape == (len(ts), 60)
    np.testing.assert_array_equal(dff.astype(np.float32).astype(np.float64), dff)
    assert (one["events"] >= 0).all() and (one["events"] > 0).mean() < 0.05  # sparse, as L0 events
    assert set(CELL_TYPES) == {SLC, SST, VIP}


def test_units_fire_30_to_80_ms_after_flashes_more_on_changes_most_in_visp():
    rng = np.random.default_rng(2)
    schedule = content.simulate_vbn_schedule(rng, content.EcephysSize.preset("tiny"))
    areas = np.repeat(["LGd", "VISp", "VISam", "CA1"], 400)
    units = content.unit_responses(rng, areas)
    locked = stimulus_locked(rng, units, schedule)
    shown = content.image_onsets(schedule)
    onsets = shown.start_time.to_numpy()
    per_flash = {}
    for area in ("LGd", "VISp", "VISam", "CA1"):
        spikes = [s for s, a in zip(locked, areas, strict=True) if a == area and s is not None]
        times = np.concatenate(spikes) if spikes else np.empty(0)
        per_flash[area] = len(times) / (400 * len(onsets))
        if area == "VISp":
            share = np.mean([s is not None for s, a in zip(locked, areas, strict=True) if a == area])
            assert 0.55 < share < 0.85
            lag = times - onsets[np.searchsorted(onsets, times) - 1]
            assert np.mean((lag >= 0.03) & (lag < 0.08)) > 0.85
            assert 0.04 < np.median(lag) < 0.06
            flash = np.searchsorted(onsets, times) - 1
            change = shown.is_change.to_numpy()
            on_change = np.isin(flash, np.flatnonzero(change)).sum() / change.sum()
            on_repeat = np.isin(flash, np.flatnonzero(~change)).sum() / (~change).sum()
            assert on_change > 1.8 * on_repeat
    assert per_flash["VISp"] > per_flash["VISam"] > 3 * per_flash["CA1"]
    assert per_flash["LGd"] > per_flash["VISam"]

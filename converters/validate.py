"""``vbzarr validate``: check a store against its source NWB, value by value, block by block."""

from __future__ import annotations

import h5py
import numpy as np

from vbzarr.store import open_store
from vbzarr.urls import filesystem

from .convert import file_sha256

#: (group, variable, NWB dataset, transposed) of the arrays compared in full.
CHECKS = [
    ("running", "speed", "processing/running/speed/data", False),
    ("stimulus_timestamps", "timestamps", "processing/stimulus/timestamps/timestamps", False),
    ("trials", "start_time", "intervals/trials/start_time", False),
    ("units", "spike_times", "units/spike_times", False),
    ("units", "spike_amplitudes", "units/spike_amplitudes", False),
]
TRACES = {
    "dff": "processing/ophys/dff/traces",
    "events": "processing/ophys/event_detection",
    "corrected_fluorescence": "processing/ophys/corrected_fluorescence/traces",
}
BLOCK = 1 << 20


def validate_store(store: str, nwb: str | None = None) -> list[str]:
    """Problems found comparing ``store`` with ``nwb`` (default: the store's recorded source).

    Checks the source checksum against the store's provenance, then compares the main arrays
    (traces, running speed, stimulus timestamps, trials, spikes) exactly, one block at a time.
    """
    tree = open_store(store)
    source = nwb or tree.attrs["provenance"]["source"]
    problems = []
    if tree.attrs["provenance"].get("sha256") != file_sha256(*filesystem(source)):
        problems.append(f"{source}: checksum differs from the one recorded at conversion")
    with h5py.File(source, "r") as f:
        for group, var, path, _ in CHECKS:
            if group in tree.children and var in tree[group] and path in f:
                problems += _compare_1d(tree[group][var], f[path], f"{group}/{var}", path)
        if "ophys" in tree.children:
            ophys = tree["ophys"]
            ids = f["processing/ophys/image_segmentation/cell_specimen_table/id"][:]
            for var, series in TRACES.items():
                if var not in ophys or series not in f:
                    continue
                rows = list(f[f"{series}/rois"][:])
                cols = [rows.index(int(np.flatnonzero(ids == r)[0])) for r in ophys.cell_roi_id.values]
                data = f[f"{series}/data"]
                for a in range(0, data.shape[0], 8192):
                    expected = data[a : a + 8192][:, cols].T
                    got = ophys[var][:, a : a + 8192].values
                    if not np.array_equal(got, expected, equal_nan=True):
                        problems.append(f"ophys/{var}: differs from {series}/data at frames {a}..")
                        break
    return problems


def _compare_1d(var, dataset: h5py.Dataset, name: str, path: str) -> list[str]:
    if var.shape != dataset.shape:
        return [f"{name}: shape {var.shape} but {path} has {dataset.shape}"]
    for a in range(0, dataset.shape[0], BLOCK):
        if not np.array_equal(var[a : a + BLOCK].values, dataset[a : a + BLOCK], equal_nan=True):
            return [f"{name}: differs from {path} in values {a}..{a + BLOCK}"]
    return []

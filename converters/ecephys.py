"""Neuropixels sessions: ``units`` (unit_id x spike), ``channels``, ``probes`` and ``optotagging``.

``units`` holds every column of the NWB units table over ``unit_id`` plus the peak channel's probe,
area and CCF coordinates (the columns of the release's ``units.csv``). ``spike_times`` and
``spike_amplitudes`` are flat over ``spike``, one contiguous, time-sorted slice per unit, never
padded; each unit's start and end offsets (``spike_times_start_index``, ``spike_times_index``)
are variables over ``unit_id``, so any selection of units finds its own spikes.
``spike_time_checkpoints`` gives,
for every unit and every ``CHECKPOINT_S`` seconds of the session, the offset of its first spike at
or after that time, so the spikes of all units in a time window are read without the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from zarr.codecs import BloscCodec

from vbzarr.errors import InvalidNWBError
from vbzarr.schema import SECONDS

from .chunking import Chunking
from .nwb import NWBReader
from .tables import frame_to_dataset, ragged_variables

UNITS = "units"
ELECTRODES = "general/extracellular_ephys/electrodes"
OPTO = "processing/optotagging/optogenetic_stimulation"
CHECKPOINT_S = 10.0
#: Spikes are read from HDF5 in runs of this many stored chunks (8 MB of float64; times and
#: amplitudes together make one write slab): one read per slab instead of one per stored chunk.
SPIKE_READ_CHUNKS = 16
#: Spike times, amplitudes and waveforms are high-entropy float arrays: lz4 stores them within 2%
#: of zstd's size at 4-6x its speed (measured on 50 M synthetic spikes, benchmarks/results).
FAST_CODEC = {"compressors": [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]}
#: AllenSDK's channel names for the electrode columns (``get_channels``).
CHANNEL_NAMES = {
    "x": "anterior_posterior_ccf_coordinate",
    "y": "dorsal_ventral_ccf_coordinate",
    "z": "left_right_ccf_coordinate",
}


def channel_table(nwb: NWBReader) -> pd.DataFrame:
    """The electrodes table as AllenSDK's channels (index ``channel_id``), raw columns kept."""
    frame, _ = nwb.table(ELECTRODES, "channels", ragged=False)
    frame = frame.drop(columns=["group"], errors="ignore").rename(columns=CHANNEL_NAMES)
    frame.index.name = "channel_id"
    if "location" in frame:
        # AllenSDK: 'None'/'' -> missing, and the sub-region stripped ('DG-mo' -> 'DG').
        loc = frame["location"].astype(object)
        frame["structure_acronym"] = [None if v in ("None", "", None) else str(v).split("-")[0] for v in loc]
    return frame


def channels(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """Every electrode (channel) column over ``channel_id``, with AllenSDK's names."""
    if ELECTRODES not in nwb:
        return None
    return frame_to_dataset(channel_table(nwb))


def probes(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """One row per probe (``probe_id``): name, location, sampling rates, LFP availability."""
    groups = list(nwb.children("general/extracellular_ephys", "EcephysElectrodeGroup"))
    if not groups:
        return None
    rows = []
    for name in groups:
        attrs = nwb.attrs(f"general/extracellular_ephys/{name}")
        device = nwb.attrs(f"general/devices/{name}") if f"general/devices/{name}" in nwb else {}
        if "probe_id" not in attrs:
            raise InvalidNWBError(
                nwb.path,
                f"general/extracellular_ephys/{name}.probe_id",
                "expected the probe_id attribute of the electrode group",
            )
        rows.append(
            {
                "probe_id": attrs["probe_id"],
                "name": name,
                "location": attrs.get("location"),
                "sampling_rate": device.get("sampling_rate", np.nan),
                "lfp_sampling_rate": attrs.get("lfp_sampling_rate", np.nan),
                "has_lfp_data": bool(attrs.get("has_lfp_data", False)),
            }
        )
    return frame_to_dataset(pd.DataFrame(rows).set_index("probe_id"))


def checkpoints(nwb: NWBReader, starts: np.ndarray, ends: np.ndarray) -> tuple[float, int, np.ndarray]:
    """``(t0, n, offsets)``: offsets (unit, n + 1) of each unit's first spike at or after
    ``t0 + k * CHECKPOINT_S``. Reads one unit's spikes at a time (memory: the largest unit)."""
    spikes = nwb.require(f"{UNITS}/spike_times", "spike_times")
    busy = np.flatnonzero(ends > starts)
    # Spikes are sorted within each unit: the session's range is in the units' first/last spikes
    # (one point selection each: the offsets increase).
    firsts = spikes[starts[busy]]
    lasts = spikes[ends[busy] - 1]
    t0 = float(np.floor(np.nanmin(firsts)))
    n = int(np.ceil((np.nanmax(lasts) - t0) / CHECKPOINT_S)) + 1
    edges = t0 + CHECKPOINT_S * np.arange(n + 1)
    out = np.repeat(starts[:, None], n + 1, axis=1)
    for u in busy:
        train = spikes[starts[u] : ends[u]]
        if np.any(np.diff(train) < 0):
            raise InvalidNWBError(
                nwb.path,
                f"{UNITS}/spike_times",
                f"expected each unit's spike times sorted; unit row {u} is not",
            )
        out[u] = starts[u] + np.searchsorted(train, edges, side="left")
    return t0, n, out


def units(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """Units over ``unit_id``; spikes flat over ``spike``, grouped by unit; mean waveforms."""
    if UNITS not in nwb:
        return None
    # Spikes and waveforms are streamed below, never read whole.
    frame, ragged = nwb.table(UNITS, "units", skip=("spike_times", "spike_amplitudes", "waveform_mean"))
    frame.index.name = "unit_id"
    if ELECTRODES in nwb and "peak_channel_id" in frame:
        chans = channel_table(nwb)
        peak = chans.reindex(frame["peak_channel_id"].to_numpy())
        for col in [
            "probe_id",
            "structure_acronym",
            *CHANNEL_NAMES.values(),
            "probe_vertical_position",
            "probe_horizontal_position",
            "valid_data",
        ]:
            if col in peak and col not in frame:
                frame[col] = peak[col].to_numpy()
    ds = frame_to_dataset(frame, ragged)
    n_units = len(frame)
    ends = nwb.read(f"{UNITS}/spike_times_index", "spike_times").astype(np.int64)
    nwb.check_length(f"{UNITS}/spike_times_index", ends, n_units, "one offset per unit")
    starts = np.concatenate([[0], ends[:-1]])
    read, stored = (chunking.spikes * SPIKE_READ_CHUNKS,), {**FAST_CODEC, "chunks": (chunking.spikes,)}
    spikes = nwb.lazy(f"{UNITS}/spike_times", read, "spike_times")
    if spikes.shape[0] != (ends[-1] if n_units else 0):
        raise InvalidNWBError(
            nwb.path,
            f"{UNITS}/spike_times",
            f"expected {ends[-1] if n_units else 0} spikes (spike_times_index), found {spikes.shape[0]}",
        )
    spike_times = xr.Variable(("spike",), spikes, SECONDS, encoding=stored)
    ds = ds.assign(ragged_variables("spike_times", spike_times, ends, "unit_id"))
    if f"{UNITS}/spike_amplitudes" in nwb:
        amp_ends = nwb.read(f"{UNITS}/spike_amplitudes_index", "spike_amplitudes").astype(np.int64)
        if not np.array_equal(amp_ends, ends):
            raise InvalidNWBError(
                nwb.path,
                f"{UNITS}/spike_amplitudes_index",
                "expected one amplitude per spike (offsets equal to spike_times_index)",
            )
        amplitudes = xr.Variable(
            ("spike",), nwb.lazy(f"{UNITS}/spike_amplitudes", read, "spike_amplitudes"), encoding=stored
        )
        ds = ds.assign(ragged_variables("spike_amplitudes", amplitudes, ends, "unit_id", index="spike_times"))
    if f"{UNITS}/waveform_mean" in nwb:
        wf_ends = nwb.read(f"{UNITS}/waveform_mean_index", "mean_waveforms").astype(np.int64)
        nwb.check_length(f"{UNITS}/waveform_mean_index", wf_ends, n_units, "one offset per unit")
        wf = xr.Variable(
            ("mean_waveforms_value", "waveform_sample"),
            nwb.lazy(f"{UNITS}/waveform_mean", (65536, 1024), "mean_waveforms"),
            {"description": "each unit's (channel, sample) mean waveform, rows stacked"},
            encoding=FAST_CODEC,
        )
        ds = ds.assign(ragged_variables("mean_waveforms", wf, wf_ends, "unit_id"))
    if n_units and ends[-1]:
        t0, n, table = checkpoints(nwb, starts, ends)
        ds["spike_time_checkpoints"] = xr.Variable(
            ("unit_id", "checkpoint"),
            table,
            {"description": "offset of each unit's first spike at or after checkpoint_time"},
        )
        ds = ds.assign_coords(checkpoint_time=("checkpoint", t0 + CHECKPOINT_S * np.arange(n + 1)))
    return ds


def optotagging(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``optotagging_table``: every column of the stimulation intervals over ``trial``."""
    if OPTO not in nwb:
        return None
    frame, _ = nwb.table(OPTO, "optotagging", ragged=False)
    frame = frame.rename(columns={"name": "stimulus_name"})
    frame.index.name = "trial"
    return frame_to_dataset(frame)

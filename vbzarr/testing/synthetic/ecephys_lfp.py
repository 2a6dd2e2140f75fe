"""Write ``probe_<name>_lfp.nwb``, the LFP file of one Visual Behavior Neuropixels probe: the
channels that have LFP (:func:`lfp_channels`), their LFP series and the probe's current source
density. The signals are simulated by ``neuropixels.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pynwb.ecephys import LFP, ElectricalSeries

from .change_detection import image_onsets
from .ecephys_electrodes import add_probes
from .ecephys_file import NS_ECEPHYS, EcephysSessionInfo, ecephys_metadata, session_schedule, write_ecephys
from .extensions import cls
from .neuropixels import current_source_density, lfp_traces
from .session_file import make_series, new_nwbfile
from .sizes import EcephysSize
from .timing import recording_span


def lfp_channels(channels: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` channels of one probe that have LFP: every k-th one, from the third (as released)."""
    stride = max(1, len(channels) // n)
    return channels.iloc[min(2, stride - 1) :: stride].iloc[:n]


def write_probe_lfp(path: str | Path, info: EcephysSessionInfo, probe: str | int, size: EcephysSize) -> Path:
    """Write ``probe_<name>_lfp.nwb``: one probe's LFP (float32, time x channels, on every
    ``len(channels) // size.lfp_channels``-th channel) and its current source density.

    Parameters
    ----------
    path
        File to write.
    info
        The session (:func:`~.ecephys.write_ecephys_session`'s ``info``).
    probe
        The probe's name (``"probeA"``) or ``ecephys_probe_id``.
    size
        ``lfp_rate`` and ``lfp_channels`` set the data's shape.

    Returns
    -------
    Path
        ``path``.
    """
    names = info.probes["name"]
    pid = probe if probe in info.probes.index else names.index[names == probe][0]
    _, schedule = session_schedule(info, size)
    rng = np.random.default_rng([info.seed, int(pid)])
    channels = lfp_channels(info.channels[info.channels.ecephys_probe_id == pid], size.lfp_channels)
    nwb = new_nwbfile(
        info,
        str(pid),
        None,
        experiment_description=None,
        session_id="None",
        session_description="LFP data and associated info for one probe",
    )
    add_probes(nwb, info, size, channels)
    nwb.add_lab_meta_data(ecephys_metadata(info))

    t0, t1 = recording_span(size)
    timestamps = t0 + np.arange(int((t1 - t0) * size.lfp_rate)) / size.lfp_rate
    data = lfp_traces(
        rng,
        timestamps,
        channels.probe_vertical_position.to_numpy(float),
        image_onsets(schedule).start_time.to_numpy(),
    )
    lfp = LFP(name=f"probe_{pid}_lfp")
    nwb.add_acquisition(lfp)  # before its series, so the series' electrodes share its ancestor
    series = ElectricalSeries(
        name=f"probe_{pid}_lfp_data",
        data=data,
        timestamps=timestamps,
        electrodes=nwb.create_electrode_table_region(
            list(range(len(channels))), f"lfp channels on probe {pid}"
        ),
    )
    lfp.add_electrical_series(series)
    nwb.add_acquisition(series)  # the release also links it at acquisition/probe_<id>_lfp_data

    csd = current_source_density(rng)
    module = nwb.create_processing_module("current_source_density", "Precalculated current source density")
    module.add(
        cls(NS_ECEPHYS, "EcephysCSD")(
            name="ecephys_csd",
            time_series=[make_series("current_source_density", csd["data"], csd["timestamps"], "V/cm^2")],
            virtual_electrode_x_positions=csd["x"],
            virtual_electrode_x_positions__unit="um",
            virtual_electrode_y_positions=csd["y"],
            virtual_electrode_y_positions__unit="um",
        )
    )
    return write_ecephys(nwb, path)

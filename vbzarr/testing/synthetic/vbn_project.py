"""A synthetic Visual Behavior Neuropixels (VBN) project in the released layout.

``make_vbn_project(root)`` writes ``project_metadata/*.csv`` (the five AllenSDK tables, same columns
as the release), and per ecephys session ``behavior_ecephys_sessions/<id>/ecephys_session_<id>.nwb``
plus ``probe_<name>_lfp.nwb`` for the probes with LFP, and ``behavior_only_sessions/<id>/
behavior_session_<id>.nwb`` for habituation sessions. As in the release, each mouse has habituation
sessions on image set G, then a familiar (G) and a novel (H) ecephys session; the tables' ids,
counts, positions and metrics are those of the NWB files.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .behavior_streams import write_behavior_session
from .change_detection import IMAGE_SETS
from .ecephys import write_ecephys_session
from .ecephys_file import EcephysSessionInfo
from .ecephys_lfp import write_probe_lfp
from .probe_tables import STRUCTURE_IDS, simulate_probes
from .session_file import BehaviorSessionInfo, Subject
from .sizes import EcephysSize, Size

PROJECT_CODE = "NeuropixelVisualBehavior"
GENOTYPES = [  # (driver lines, reporter line); wild-type mice have no driver and reporter "None"
    (("Sst-IRES-Cre",), "Ai32(RCL-ChR2(H134R)_EYFP)"),
    ((), "None"),
    (("Vip-IRES-Cre",), "Ai32(RCL-ChR2(H134R)_EYFP)"),
]
# The two ecephys sessions of a mouse: (session type, image set, experience level).
ECEPHYS_SESSIONS = [
    ("EPHYS_1_images_G_3uL_reward", "G", "Familiar"),
    ("EPHYS_1_images_H_3uL_reward", "H", "Novel"),
]
HABITUATION = "HABITUATION_5_images_G_handoff_ready_3uL_reward"
TABLES = {  # file name -> index column
    "ecephys_sessions": "ecephys_session_id",
    "behavior_sessions": "behavior_session_id",
    "probes": "ecephys_probe_id",
    "channels": "ecephys_channel_id",
    "units": "unit_id",
}


@dataclass(frozen=True)
class VBNProject:
    """Paths and tables (as the AllenSDK reads the CSVs, indexed by their ids) of a VBN project."""

    root: Path
    ecephys_session_table: pd.DataFrame
    behavior_session_table: pd.DataFrame
    probe_table: pd.DataFrame
    channel_table: pd.DataFrame
    unit_table: pd.DataFrame

    def session_path(self, ecephys_session_id: int) -> Path:
        """``ecephys_session_<id>.nwb`` of an ecephys session."""
        folder = _ecephys_folder(self.root, ecephys_session_id)
        return folder / f"ecephys_session_{ecephys_session_id}.nwb"

    def lfp_path(self, ecephys_session_id: int, probe_name: str) -> Path:
        """``probe_<name>_lfp.nwb`` of one probe of an ecephys session."""
        return _ecephys_folder(self.root, ecephys_session_id) / f"probe_{probe_name}_lfp.nwb"

    def behavior_session_path(self, behavior_session_id: int) -> Path:
        """``behavior_session_<id>.nwb`` of a behavior-only (habituation) session."""
        return _behavior_only_path(self.root, behavior_session_id)


def _ecephys_folder(root: Path, ecephys_session_id: int) -> Path:
    return root / "behavior_ecephys_sessions" / str(ecephys_session_id)


def _behavior_only_path(root: Path, behavior_session_id: int) -> Path:
    return (
        root
        / "behavior_only_sessions"
        / str(behavior_session_id)
        / f"behavior_session_{behavior_session_id}.nwb"
    )


def _acronyms(values, split_dg: bool = False) -> str:
    # The session table lists the DG layers, the probe table DG; both as a Python list's repr.
    names = {str(v) for v in values}
    if split_dg and "DG" in names:
        names = (names - {"DG"}) | {"DG-mo", "DG-po", "DG-sg"}
    return str(sorted(names))


def make_vbn_project(
    root: str | Path,
    n_sessions: int = 2,
    behavior_only_sessions: int = 1,
    size: str | EcephysSize = "tiny",
    with_lfp: bool = True,
    seed: int = 0,
) -> VBNProject:
    """Write a synthetic VBN project in the released layout and return its tables.

    Parameters
    ----------
    root
        Folder to write into (``project_metadata/`` and the NWB folders go under it).
    n_sessions
        Number of ecephys sessions; each mouse has two (familiar G, then novel H).
    behavior_only_sessions
        Habituation sessions per mouse, before its ecephys sessions (behavior-only NWB files).
    size
        A :class:`~.sizes.EcephysSize` or a preset name (``"tiny"``, ``"small"``, ``"realistic"``).
    with_lfp
        Write the LFP files of the first ``size.lfp_probes`` probes of each session (otherwise no
        probe has LFP: ``has_lfp_data`` False, ``file_id`` -999).
    seed
        Seed of everything random (ids included).

    Returns
    -------
    VBNProject
        The root, the five tables (indexed by ``ecephys_session_id``, ``behavior_session_id``,
        ``ecephys_probe_id``, ``ecephys_channel_id``, ``unit_id``) and path helpers.

    Examples
    --------
    >>> project = make_vbn_project(tmp_path)  # doctest: +SKIP
    >>> project.session_path(project.ecephys_session_table.index[0]).exists()  # doctest: +SKIP
    True
    """
    root = Path(root)
    size = EcephysSize.preset(size) if isinstance(size, str) else size
    behavior_size = Size(task_minutes=size.task_minutes, template_shape=size.template_shape)
    rng = np.random.default_rng(seed)
    next_id = itertools.count(1_043_000_000 + 100_000 * seed, 7919)
    novel_h = tuple(n for n in IMAGE_SETS["H"][2] if n not in IMAGE_SETS["G"][2])
    sessions, behavior, probes, channels, units = [], [], [], [], []
    for k in range(n_sessions):
        mouse, s = divmod(k, len(ECEPHYS_SESSIONS))
        driver, reporter = GENOTYPES[mouse % len(GENOTYPES)]
        subject = Subject(
            mouse_id=529_993 + 1000 * seed + 17 * mouse,
            sex="MF"[mouse % 2],
            driver_line=driver,
            reporter_line=reporter,
            indicator="",
        )
        start = dt.datetime(2020, 8, 17, 11, 9, 30, 507000, tzinfo=dt.UTC) + dt.timedelta(days=9 * mouse)
        equipment_name = f"NP.{mouse % 3}"
        if s == 0:
            for b in range(behavior_only_sessions):
                info = BehaviorSessionInfo(
                    behavior_session_id=next(next_id),
                    session_type=HABITUATION,
                    date_of_acquisition=start + dt.timedelta(days=b),
                    age_in_days=200 + b,
                    image_set="G",
                    seed=seed * 1000 + 100 * mouse + b,
                    release="vbn",
                    subject=subject,
                    equipment_name=equipment_name,
                    project_code=PROJECT_CODE,
                )
                write_behavior_session(
                    _behavior_only_path(root, info.behavior_session_id), info, behavior_size
                )
                behavior.append(_behavior_row(info, b, prior_image_set=b, prior_omissions=0))
        session_type, image_set, experience = ECEPHYS_SESSIONS[s]
        day = behavior_only_sessions + s
        ecephys_session_id = next(next_id)
        p, c, u = simulate_probes(
            rng,
            size,
            first_probe_id=next(next_id),
            first_channel_id=1_100_000_000 + 100_000 * k + 1000 * seed,
            first_unit_id=1_150_000_000 + 100_000 * k + 1000 * seed,
            with_lfp=with_lfp,
        )
        info = EcephysSessionInfo(
            behavior_session_id=next(next_id),
            session_type=session_type,
            date_of_acquisition=start + dt.timedelta(days=day, hours=5, minutes=k),
            age_in_days=200 + day,
            image_set=image_set,
            seed=seed * 1000 + 100 * mouse + 50 + s,
            ecephys_session_id=ecephys_session_id,
            novel_images=novel_h if image_set == "H" else (),
            probes=p,
            channels=c,
            units=u,
            subject=subject,
            equipment_name=equipment_name,
            project_code=PROJECT_CODE,
        )
        folder = _ecephys_folder(root, ecephys_session_id)
        write_ecephys_session(folder / f"ecephys_session_{ecephys_session_id}.nwb", info, size)
        for name in p.loc[p.has_lfp_data, "name"]:
            write_probe_lfp(folder / f"probe_{name}_lfp.nwb", info, name, size)
        prior = behavior_only_sessions if image_set == "G" else 0
        row = _behavior_row(info, day, prior_image_set=prior, prior_omissions=s)
        behavior.append(row | {"ecephys_session_id": float(ecephys_session_id), "file_id": -999})
        sessions.append(_session_row(info, row, experience, c, u))
        probes.append(p.reset_index().assign(ecephys_session_id=ecephys_session_id))
        channels.append(c.reset_index().assign(ecephys_session_id=ecephys_session_id))
        units.append(u.reset_index().assign(ecephys_session_id=ecephys_session_id))
    return _write_tables(root, sessions, behavior, pd.concat(probes), pd.concat(channels), pd.concat(units))


def _behavior_row(info: BehaviorSessionInfo, day: int, *, prior_image_set: int, prior_omissions: int) -> dict:
    return {
        "behavior_session_id": info.behavior_session_id,
        "equipment_name": info.equipment_name,
        "genotype": info.subject.full_genotype,
        "mouse_id": info.subject.mouse_id,
        "sex": info.subject.sex,
        "age_in_days": info.age_in_days,
        "session_number": day + 1,
        "prior_exposures_to_session_type": 0,
        "prior_exposures_to_image_set": prior_image_set,
        "prior_exposures_to_omissions": prior_omissions,
        "ecephys_session_id": np.nan,
        "date_of_acquisition": str(pd.Timestamp(info.date_of_acquisition)),
        "session_type": info.session_type,
        "image_set": info.image_set,
        "file_id": 0,  # set once all files are known
    }


def _session_row(
    info: EcephysSessionInfo, behavior: dict, experience: str, channels: pd.DataFrame, units: pd.DataFrame
) -> dict:
    return {
        "ecephys_session_id": info.ecephys_session_id,
        "behavior_session_id": info.behavior_session_id,
        "date_of_acquisition": behavior["date_of_acquisition"],
        "equipment_name": info.equipment_name,
        "session_type": info.session_type,
        "mouse_id": info.subject.mouse_id,
        "genotype": info.subject.full_genotype,
        "sex": info.subject.sex,
        "project_code": info.project_code,
        "age_in_days": info.age_in_days,
        "unit_count": len(units),
        "probe_count": len(info.probes),
        "channel_count": len(channels),
        "structure_acronyms": _acronyms(channels.structure_acronym, split_dg=True),
        "image_set": info.image_set,
        "prior_exposures_to_image_set": behavior["prior_exposures_to_image_set"],
        "session_number": behavior["session_number"],
        "experience_level": experience,
        "prior_exposures_to_omissions": behavior["prior_exposures_to_omissions"],
        "file_id": 0,
        "abnormal_histology": np.nan,
        "abnormal_activity": np.nan,
    }


def _write_tables(
    root: Path,
    sessions: list[dict],
    behavior: list[dict],
    probes: pd.DataFrame,
    channels: pd.DataFrame,
    units: pd.DataFrame,
) -> VBNProject:
    # file_id numbers the released NWB files: LFP files, then ecephys sessions, then behavior-only.
    n_lfp = int(probes.has_lfp_data.sum())
    probes["file_id"] = -999
    probes.loc[probes.has_lfp_data.to_numpy(), "file_id"] = np.arange(n_lfp)
    session_table = pd.DataFrame(sessions).assign(file_id=lambda d: n_lfp + np.arange(len(d)))
    behavior_table = pd.DataFrame(behavior)
    only = behavior_table.ecephys_session_id.isna().to_numpy()
    behavior_table.loc[only, "file_id"] = n_lfp + len(session_table) + np.arange(only.sum())
    behavior_table = pd.concat([behavior_table[only], behavior_table[~only]])

    per_channel = units.groupby("peak_channel_id").size()
    channels["unit_count"] = per_channel.reindex(channels.ecephys_channel_id, fill_value=0).to_numpy()

    def per_probe(frame: pd.DataFrame, how) -> np.ndarray:
        return how(frame.groupby("ecephys_probe_id")).reindex(probes.ecephys_probe_id).to_numpy()

    probes = probes.assign(
        phase=1.0,
        unit_count=per_probe(units, lambda g: g.size()),
        channel_count=per_probe(channels, lambda g: g.size()),
        structure_acronyms=per_probe(channels, lambda g: g.structure_acronym.agg(_acronyms)),
    )
    ccf = ["anterior_posterior_ccf_coordinate", "dorsal_ventral_ccf_coordinate", "left_right_ccf_coordinate"]
    position = ["probe_horizontal_position", "probe_vertical_position"]
    channels[position] = channels[position].astype(float)
    peak = channels.set_index("ecephys_channel_id").loc[units.peak_channel_id]
    units = units.assign(
        ecephys_channel_id=units.peak_channel_id.to_numpy(),
        structure_id=peak.structure_acronym.map(STRUCTURE_IDS).to_numpy(),
        **{c: peak[c].to_numpy() for c in [*ccf, *position, "structure_acronym", "valid_data"]},
    )
    frames = {
        "ecephys_sessions": session_table,
        "behavior_sessions": behavior_table,
        "probes": probes[
            [
                "ecephys_probe_id",
                "ecephys_session_id",
                "name",
                "sampling_rate",
                "lfp_sampling_rate",
                "phase",
                "has_lfp_data",
                "unit_count",
                "channel_count",
                "structure_acronyms",
                "file_id",
            ]
        ],
        "channels": channels[
            [
                "ecephys_channel_id",
                "ecephys_probe_id",
                "ecephys_session_id",
                "probe_channel_number",
                "probe_vertical_position",
                "probe_horizontal_position",
                *ccf,
                "structure_acronym",
                "unit_count",
                "valid_data",
            ]
        ],
        "units": units[
            [
                "unit_id",
                "ecephys_channel_id",
                "ecephys_probe_id",
                "ecephys_session_id",
                "amplitude_cutoff",
                *ccf,
                "cumulative_drift",
                "d_prime",
                "structure_acronym",
                "structure_id",
                "firing_rate",
                "isi_violations",
                "isolation_distance",
                "l_ratio",
                "local_index",
                "max_drift",
                "nn_hit_rate",
                "nn_miss_rate",
                "presence_ratio",
                *position,
                "silhouette_score",
                "snr",
                "quality",
                "valid_data",
                "amplitude",
                "waveform_duration",
                "waveform_halfwidth",
                "PT_ratio",
                "recovery_slope",
                "repolarization_slope",
                "spread",
                "velocity_above",
                "velocity_below",
            ]
        ],
    }
    meta = root / "project_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name, frame in frames.items():
        frame.to_csv(meta / f"{name}.csv", index=False)
        # Return what a reader of the CSVs (the AllenSDK cache) gets.
        tables[name] = pd.read_csv(meta / f"{name}.csv").set_index(TABLES[name])
    return VBNProject(
        root=root,
        ecephys_session_table=tables["ecephys_sessions"],
        behavior_session_table=tables["behavior_sessions"],
        probe_table=tables["probes"],
        channel_table=tables["channels"],
        unit_table=tables["units"],
    )

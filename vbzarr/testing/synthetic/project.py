"""A synthetic Visual Behavior Ophys project in the released layout.

``make_vbo_project(root)`` writes ``project_metadata/*.csv`` (the four AllenSDK tables, same columns
as the release) and one NWB file per ophys experiment and per behavior-only session, under
``behavior_ophys_experiments/`` and ``behavior_sessions/``. Containers follow one field of view
across sessions; their cells are matched (shared ``cell_specimen_id``) but each session sees a
different subset, as in the real data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .behavior_streams import write_behavior_session
from .cell_traces import cell_tuning
from .ophys import OphysExperimentInfo, write_ophys_experiment
from .session_file import BehaviorSessionInfo, Subject
from .sizes import Size

# The six ophys session types of a container, in acquisition order, and what the tables say of them.
OPHYS_SESSIONS = [
    ("OPHYS_1_images_A", "A", False, "Familiar"),
    ("OPHYS_2_images_A_passive", "A", True, "Familiar"),
    ("OPHYS_3_images_A", "A", False, "Familiar"),
    ("OPHYS_4_images_B", "B", False, "Novel 1"),
    ("OPHYS_5_images_B_passive", "B", True, "Novel >1"),
    ("OPHYS_6_images_B", "B", False, "Novel >1"),
]
CRE_LINES = [
    (("Slc17a7-IRES2-Cre", "Camk2a-tTA"), "Ai93(TITL-GCaMP6f)", "GCaMP6f"),
    (("Vip-IRES-Cre",), "Ai148(TIT2L-GC6f-ICL-tTA2)", "GCaMP6f"),
    (("Sst-IRES-Cre",), "Ai148(TIT2L-GC6f-ICL-tTA2)", "GCaMP6f"),
]


@dataclass(frozen=True)
class VBOProject:
    """Paths and tables of a synthetic project."""

    root: Path
    ophys_experiment_table: pd.DataFrame
    ophys_session_table: pd.DataFrame
    behavior_session_table: pd.DataFrame
    ophys_cells_table: pd.DataFrame

    def experiment_path(self, ophys_experiment_id: int) -> Path:
        return (
            self.root / "behavior_ophys_experiments" / f"behavior_ophys_experiment_{ophys_experiment_id}.nwb"
        )

    def behavior_session_path(self, behavior_session_id: int) -> Path:
        return self.root / "behavior_sessions" / f"behavior_session_{behavior_session_id}.nwb"


#: Ids of one container's cells, or one experiment's ROIs, lie in a block of this many ids of
#: their own (unique across the project for up to 1,400 cells per container).
ID_BLOCK = 10_000


def _cells(rng: np.random.Generator, n: int, fov: int, first_id: int, cre_line: str) -> pd.DataFrame:
    """A container's cells: ids, ROI boxes and what they respond to (the same in every session)."""
    size = rng.integers(max(4, fov // 40), max(6, fov // 20), (n, 2))
    boxes = pd.DataFrame(
        {
            "cell_specimen_id": first_id + np.arange(n) * 7,
            "x": rng.integers(0, fov - size[:, 0]),
            "y": rng.integers(0, fov - size[:, 1]),
            "width": size[:, 0],
            "height": size[:, 1],
        }
    )
    return pd.concat([boxes, cell_tuning(rng, n, cre_line)], axis=1)


def make_vbo_project(
    root: str | Path,
    *,
    n_containers: int = 2,
    sessions_per_container: int = 3,
    planes_per_session: int = 1,
    behavior_only_sessions: int = 1,
    size: str | Size = "tiny",
    seed: int = 0,
) -> VBOProject:
    """Write a synthetic VBO project in the released layout and return its tables.

    Parameters
    ----------
    root
        Folder to write into (``project_metadata/`` and the NWB folders go under it).
    n_containers
        Number of fields of view followed across sessions. With ``planes_per_session > 1``
        (Multiscope, ~11 Hz) each session images that many containers at once.
    sessions_per_container
        How many of the six ophys session types each container has (1-6).
    behavior_only_sessions
        Training sessions per mouse, written as behavior-only NWB files.
    size
        A :class:`~.sizes.Size` or a preset name (``"tiny"``, ``"small"``, ``"realistic"``).

    Examples
    --------
    >>> project = make_vbo_project(tmp_path, n_containers=1)  # doctest: +SKIP
    >>> sorted(project.ophys_experiment_table.index)[:1]  # doctest: +SKIP
    """
    root = Path(root)
    size = Size.preset(size) if isinstance(size, str) else size
    rng = np.random.default_rng(seed)
    multiscope = planes_per_session > 1
    n_mice = max(1, n_containers // planes_per_session)
    exp_rows, beh_rows, cell_rows = [], [], []
    next_id = iter(range(900_000_000 + 1000 * seed, 10**12, 17))
    for m in range(n_mice):
        driver, reporter, indicator = CRE_LINES[m % len(CRE_LINES)]
        subject = Subject(
            mouse_id=400_000 + 1000 * seed + m,
            sex="MF"[m % 2],
            driver_line=driver,
            reporter_line=reporter,
            indicator=indicator,
        )
        start = dt.datetime(2019, 4, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(days=30 * m)
        age0 = 80 + 3 * m
        day = 0
        for b in range(behavior_only_sessions):
            info = BehaviorSessionInfo(
                behavior_session_id=next(next_id),
                subject=subject,
                session_type="TRAINING_5_images_A_handoff_ready",
                date_of_acquisition=start,
                age_in_days=age0 + day,
                equipment_name="BEH.B-Box1",
                project_code="VisualBehaviorMultiscope" if multiscope else "VisualBehavior",
                seed=seed * 1000 + 100 * m + b,
            )
            beh_rows.append(_behavior_row(info, None, prior=b))
            write_behavior_session(
                root / "behavior_sessions" / f"behavior_session_{info.behavior_session_id}.nwb", info, size
            )
            day += 1
        containers = []
        for p in range(planes_per_session):
            containers.append(
                {
                    "ophys_container_id": next(next_id),
                    "depth": int(150 + 75 * p) if multiscope else 175,
                    "structure": ["VISp", "VISl"][p % 2] if multiscope else "VISp",
                    "cells": _cells(
                        # Blocks of 10,000 ids per container: its cells' ids (7 apart) never
                        # reach the next container's, however many cells a size has.
                        rng,
                        int(size.n_cells * 1.25),
                        size.fov,
                        next(next_id) * ID_BLOCK,
                        subject.cre_line,
                    ),
                }
            )
        for s in range(min(sessions_per_container, len(OPHYS_SESSIONS))):
            session_type, image_set, passive, experience = OPHYS_SESSIONS[s]
            behavior_session_id, ophys_session_id = next(next_id), next(next_id)
            date = start + dt.timedelta(days=day, hours=s % 3)
            for p, c in enumerate(containers):
                seen = c["cells"].sample(n=size.n_cells, random_state=int(rng.integers(2**31)))
                seen = seen.sort_values("cell_specimen_id").copy()
                seen["cell_roi_id"] = next(next_id) * ID_BLOCK + np.arange(len(seen))
                seen["mask_image_plane"] = 0
                for k in ("down", "left", "right", "up"):
                    seen[f"max_correction_{k}"] = rng.uniform(0, 20, len(seen)).round(1)
                seen["valid_roi"] = True
                info = OphysExperimentInfo(
                    behavior_session_id=behavior_session_id,
                    subject=subject,
                    session_type=session_type,
                    date_of_acquisition=date,
                    age_in_days=age0 + day,
                    equipment_name="MESO.1" if multiscope else "CAM2P.4",
                    project_code="VisualBehaviorMultiscope" if multiscope else "VisualBehavior",
                    image_set=image_set,
                    passive=passive,
                    seed=seed * 1000 + 100 * m + 10 * s + p,
                    ophys_experiment_id=next(next_id),
                    ophys_session_id=ophys_session_id,
                    ophys_container_id=c["ophys_container_id"],
                    imaging_depth=c["depth"],
                    targeted_structure=c["structure"],
                    imaging_plane_group=p if multiscope else -1,
                    imaging_plane_group_count=planes_per_session if multiscope else 0,
                    frame_rate=11.0 if multiscope else 31.0,
                    cells=seen,
                    experience_level=experience,
                )
                write_ophys_experiment(
                    root
                    / "behavior_ophys_experiments"
                    / f"behavior_ophys_experiment_{info.ophys_experiment_id}.nwb",
                    info,
                    size,
                )
                exp_rows.append(_experiment_row(info, s, experience))
                cell_rows += [
                    {"cell_roi_id": r, "ophys_experiment_id": info.ophys_experiment_id, "cell_specimen_id": c}
                    for r, c in zip(seen.cell_roi_id, seen.cell_specimen_id, strict=True)
                ]
            beh_rows.append(
                _behavior_row(
                    info,
                    [e["ophys_experiment_id"] for e in exp_rows if e["ophys_session_id"] == ophys_session_id],
                    prior=s,
                    experience=experience,
                    containers=[c["ophys_container_id"] for c in containers],
                )
            )
            day += 1
    return _write_tables(root, exp_rows, beh_rows, cell_rows)


def _common(info: BehaviorSessionInfo) -> dict:
    s = info.subject
    return {
        "mouse_id": s.mouse_id,
        "indicator": s.indicator,
        "full_genotype": s.full_genotype,
        "driver_line": str(list(s.driver_line)),
        "cre_line": s.cre_line,
        "reporter_line": s.reporter_line,
        "sex": s.sex,
        "age_in_days": info.age_in_days,
        "project_code": info.project_code,
        "session_type": info.session_type,
        "date_of_acquisition": str(pd.Timestamp(info.date_of_acquisition)),
        "equipment_name": info.equipment_name,
    }


def _session_number(session_type: str) -> float:
    return float(session_type.split("_")[1]) if session_type.startswith("OPHYS") else np.nan


def _experiment_row(info: OphysExperimentInfo, prior: int, experience: str) -> dict:
    return {
        "ophys_experiment_id": info.ophys_experiment_id,
        "behavior_session_id": info.behavior_session_id,
        "ophys_session_id": info.ophys_session_id,
        "ophys_container_id": info.ophys_container_id,
        **_common(info),
        "imaging_depth": info.imaging_depth,
        "targeted_structure": info.targeted_structure,
        "targeted_imaging_depth": info.imaging_depth,
        "imaging_plane_group": info.imaging_plane_group if info.is_multiscope else np.nan,
        "session_number": _session_number(info.session_type),
        "image_set": info.image_set,
        "behavior_type": "passive_viewing" if info.passive else "active_behavior",
        "passive": info.passive,
        "experience_level": experience,
        "prior_exposures_to_session_type": 0,
        "prior_exposures_to_image_set": prior,
        "prior_exposures_to_omissions": prior,
        "published_at": "2021-03-25",
        "isi_experiment_id": 803866787,
        "file_id": 0,
    }


def _behavior_row(info, experiments, *, prior, experience="Training", containers=None) -> dict:
    ophys = experiments is not None
    return {
        "behavior_session_id": info.behavior_session_id,
        "ophys_session_id": getattr(info, "ophys_session_id", None) if ophys else np.nan,
        "ophys_container_id": str(containers) if ophys else np.nan,
        **_common(info),
        "imaging_plane_group_count": info.imaging_plane_group_count
        if ophys and info.is_multiscope
        else np.nan,
        "session_number": _session_number(info.session_type),
        "image_set": f"images_{info.image_set}",
        "behavior_type": "passive_viewing" if info.passive else "active_behavior",
        "experience_level": experience,
        "prior_exposures_to_session_type": 0,
        "prior_exposures_to_image_set": prior,
        "prior_exposures_to_omissions": prior if ophys else 0,
        "num_depths_per_area": len(experiments) if ophys else np.nan,
        "ophys_experiment_id": str(experiments) if ophys else np.nan,
        "num_targeted_structures": 1 if ophys else np.nan,
    }


def _write_tables(root: Path, exp_rows, beh_rows, cell_rows) -> VBOProject:
    meta = root / "project_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    experiments = pd.DataFrame(exp_rows)
    experiments["file_id"] = np.arange(len(experiments))
    behavior = pd.DataFrame(beh_rows)
    n_beh = len(behavior)
    behavior["file_id"] = len(experiments) + np.arange(n_beh)
    sessions = behavior[behavior.ophys_session_id.notna()].copy()
    sessions["ophys_session_id"] = sessions.ophys_session_id.astype(np.int64)
    sessions = sessions.drop(columns=["file_id"])
    order = ["ophys_session_id", "behavior_session_id"]
    sessions = sessions[order + [c for c in sessions.columns if c not in order]]
    behavior["ophys_session_id"] = behavior.ophys_session_id.astype("Int64")
    cells = pd.DataFrame(cell_rows)
    experiments.to_csv(meta / "ophys_experiment_table.csv", index=False)
    sessions.to_csv(meta / "ophys_session_table.csv", index=False)
    behavior.to_csv(meta / "behavior_session_table.csv", index=False)
    cells.to_csv(meta / "ophys_cells_table.csv", index=False)
    return VBOProject(
        root=root,
        ophys_experiment_table=experiments.set_index("ophys_experiment_id"),
        ophys_session_table=sessions.set_index("ophys_session_id"),
        behavior_session_table=behavior.set_index("behavior_session_id"),
        ophys_cells_table=cells.set_index("cell_roi_id"),
    )

"""Root attributes of a store: the AllenSDK ``metadata``, ``task_parameters`` and
``eye_tracking_rig_geometry`` dicts.

The NWB keeps most metadata as attributes of ``general/metadata`` (BehaviorMetadata or
OphysBehaviorMetadata), ``general/subject`` (BehaviorSubject) and ``general/task_parameters``; the
AllenSDK derives a few more keys at read time (``cre_line``, ``mouse_id``, ``age_in_days``,
``date_of_acquisition``, ``ophys_frame_rate``, ...), which are derived here the same way.
"""

from __future__ import annotations

import re
from typing import Any

from vbzarr.errors import InvalidNWBError

from .nwb import NWBReader

METADATA = "general/metadata"
KINDS = {
    "OphysBehaviorMetadata": "ophys_experiment",
    "BehaviorMetadata": "behavior_session",
}


def kind_and_id(nwb: NWBReader) -> tuple[str, int]:
    """Which Visual Behavior file this is, and the id that names its store.

    ``ophys_experiment`` (``ophys_experiment_id``), ``behavior_session`` (``behavior_session_id``)
    or ``ecephys_session`` (the NWB identifier, a BehaviorMetadata file with units or probes).
    """
    found = nwb.neurodata_type(METADATA)
    if found not in KINDS:
        raise InvalidNWBError(
            nwb.path,
            METADATA,
            "expected an Allen Visual Behavior file: general/metadata of type "
            f"{' or '.join(KINDS)}; found {found or 'no such group'}",
        )
    attrs = nwb.attrs(METADATA)
    kind = KINDS[found]
    if kind == "behavior_session" and ("units" in nwb or "general/extracellular_ephys" in nwb):
        kind = "ecephys_session"
        return kind, int(nwb.scalar("identifier", "ecephys_session_id"))
    key = f"{kind}_id" if kind != "behavior_session" else "behavior_session_id"
    key = "ophys_experiment_id" if kind == "ophys_experiment" else key
    if key not in attrs:
        raise InvalidNWBError(nwb.path, f"{METADATA}.{key}", f"expected the attribute {key}")
    return kind, int(attrs[key])


def _age_in_days(age: str | None) -> int | None:
    """``P87D`` -> 87 (AllenSDK: the first run of digits after a leading P)."""
    match = re.match(r"P\D*(\d+)", age or "")
    return int(match.group(1)) if match else None


def _none(value: Any) -> Any:
    return None if value in ("None", "") else value


def _indicator(reporter_line: str | None) -> str | None:
    """AllenSDK parses the indicator from the reporter line, not from the imaging plane."""
    reporter = reporter_line or ""
    if "GCaMP6f" in reporter or "GC6f" in reporter:
        return "GCaMP6f"
    if "GCaMP6s" in reporter:
        return "GCaMP6s"
    return None


def _image_set(session_type: str) -> str | None:
    parts = session_type.split("_")
    if len(parts) > 3 and parts[2] == "images":
        return f"images_{parts[3]}"
    return "gratings" if len(parts) > 2 and parts[2] == "gratings" else None


def behavior_metadata(nwb: NWBReader) -> dict[str, Any]:
    """AllenSDK ``BehaviorSession.metadata`` (JSON-friendly: the date is an ISO string)."""
    meta = nwb.attrs(METADATA)
    subj = "general/subject"
    values = {
        k: nwb.scalar(f"{subj}/{k}", "metadata")
        for k in ("subject_id", "sex", "age", "genotype")
        if f"{subj}/{k}" in nwb
    }
    attrs = nwb.attrs(subj) if subj in nwb else {}
    driver = attrs.get("driver_line")
    genotype = values.get("genotype")
    start = str(nwb.scalar("session_start_time", "date_of_acquisition"))
    return {
        "equipment_name": meta.get("equipment_name"),
        "sex": values.get("sex"),
        "age_in_days": _age_in_days(values.get("age")),
        "stimulus_frame_rate": meta.get("stimulus_frame_rate"),
        "session_type": meta.get("session_type"),
        "date_of_acquisition": start,
        "reporter_line": _none(attrs.get("reporter_line")),
        "cre_line": genotype.split(";")[0].replace("/wt", "") if genotype and ";" in genotype else None,
        "behavior_session_uuid": _none(meta.get("behavior_session_uuid")),
        "driver_line": sorted([driver] if isinstance(driver, str) else driver) if driver else None,
        "mouse_id": values.get("subject_id"),
        "project_code": meta.get("project_code", "Not Available"),
        "full_genotype": genotype,
        "behavior_session_id": meta.get("behavior_session_id"),
    }


def ophys_metadata(nwb: NWBReader) -> dict[str, Any]:
    """AllenSDK ``BehaviorOphysExperiment.metadata``: the behavior keys, then the imaging ones."""
    out = behavior_metadata(nwb)
    meta = nwb.attrs(METADATA)
    plane = "general/optophysiology/imaging_plane_1"
    multiplane = (meta.get("imaging_plane_group_count") or 0) > 1
    emission = f"{plane}/channel_1/emission_lambda"
    out |= {
        "indicator": _indicator(out["reporter_line"]),
        "emission_lambda": float(nwb.scalar(emission, "emission_lambda")) if emission in nwb else None,
        "excitation_lambda": float(nwb.scalar(f"{plane}/excitation_lambda", "excitation_lambda")),
        "ophys_container_id": meta.get("ophys_container_id"),
        "field_of_view_height": meta.get("field_of_view_height"),
        "field_of_view_width": meta.get("field_of_view_width"),
        "imaging_depth": meta.get("imaging_depth"),
        "targeted_imaging_depth": meta.get("targeted_imaging_depth"),
        "imaging_plane_group": meta.get("imaging_plane_group") if multiplane else None,
        "imaging_plane_group_count": meta.get("imaging_plane_group_count") if multiplane else 0,
        "ophys_experiment_id": int(nwb.scalar("identifier", "ophys_experiment_id")),
        "ophys_frame_rate": float(nwb.scalar(f"{plane}/imaging_rate", "ophys_frame_rate")),
        "ophys_session_id": meta.get("ophys_session_id"),
        "targeted_structure": nwb.scalar(f"{plane}/location", "targeted_structure"),
    }
    return out


def task_parameters(nwb: NWBReader) -> dict[str, Any]:
    """AllenSDK ``task_parameters``: stored attributes, windows as floats, ``image_set`` derived."""
    path = "general/task_parameters"
    if path not in nwb:
        return {}
    task = nwb.attrs(path)
    for key in ("blank_duration_sec", "response_window_sec"):
        if key in task:
            task[key] = [float(v) for v in task[key]]
    task["image_set"] = _image_set(task.get("session_type", ""))
    # JSON (zarr attrs) has no NaN: a missing value (e.g. omitted_flash_fraction in training) is None.
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in sorted(task.items())}


#: AllenSDK ``eye_tracking_rig_geometry`` keys of the NWB rig metadata fields.
RIG = "processing/eye_tracking_rig_metadata/eye_tracking_rig_metadata"
RIG_GEOMETRY = {
    "camera_position": "camera_position_mm",
    "camera_rotation": "camera_rotation_deg",
    "led_position": "led_position",
    "monitor_position": "monitor_position_mm",
    "monitor_rotation": "monitor_rotation_deg",
}


def eye_tracking_rig_geometry(nwb: NWBReader) -> dict[str, Any]:
    """AllenSDK ``eye_tracking_rig_geometry``: ``equipment`` and the camera, LED and monitor
    positions (mm) and rotations (deg) as ``[x, y, z]`` lists; ``{}`` when the file has none."""
    if RIG not in nwb:
        return {}
    out: dict[str, Any] = {"equipment": nwb.attrs(RIG).get("equipment")}
    for field, key in RIG_GEOMETRY.items():
        values = nwb.read(f"{RIG}/{field}", "eye_tracking_rig_geometry")
        if values.shape != (3,):
            raise InvalidNWBError(
                nwb.path, f"{RIG}/{field}", f"expected 3 coordinates, found shape {values.shape}"
            )
        out[key] = values.tolist()  # float32 values (VBN) as the floats AllenSDK gives
    return dict(sorted(out.items()))


def root_attrs(nwb: NWBReader, kind: str) -> dict[str, Any]:
    """``metadata``, ``task_parameters`` and ``eye_tracking_rig_geometry`` dicts (JSON-friendly)
    for the store's root attrs."""
    meta = ophys_metadata(nwb) if kind == "ophys_experiment" else behavior_metadata(nwb)
    if kind == "ecephys_session":
        meta["ecephys_session_id"] = int(nwb.scalar("identifier", "ecephys_session_id"))
    return {
        "metadata": meta,
        "task_parameters": task_parameters(nwb),
        "eye_tracking_rig_geometry": eye_tracking_rig_geometry(nwb),
    }

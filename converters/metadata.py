"""Root attributes of a store: the AllenSDK ``metadata`` dict and ``task_parameters``.

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
            nwb.path, METADATA,
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
    match = re.fullmatch(r"P(\d+)D", age or "")
    return int(match.group(1)) if match else None


def subject(nwb: NWBReader) -> dict[str, Any]:
    """AllenSDK's subject keys: mouse_id, sex, age_in_days, full_genotype, driver/reporter/cre line."""
    path = "general/subject"
    if path not in nwb:
        return {}
    values = {k: nwb.scalar(f"{path}/{k}", "subject")
              for k in ("subject_id", "sex", "age", "genotype", "species") if f"{path}/{k}" in nwb}
    attrs = nwb.attrs(path)
    driver = attrs.get("driver_line") or []
    driver = [driver] if isinstance(driver, str) else list(driver)
    cre = next((d for d in driver if "Cre" in d), None)
    out = {
        "mouse_id": int(values["subject_id"]) if str(values.get("subject_id", "")).isdigit()
        else values.get("subject_id"),
        "sex": values.get("sex"),
        "age_in_days": _age_in_days(values.get("age")),
        "full_genotype": values.get("genotype"),
        "driver_line": sorted(driver),
        "reporter_line": attrs.get("reporter_line"),
        "cre_line": cre,
    }
    return out


def root_attrs(nwb: NWBReader, kind: str) -> dict[str, Any]:
    """``metadata`` and ``task_parameters`` dicts (JSON-friendly) for the store's root attrs."""
    meta = nwb.attrs(METADATA)
    meta |= subject(nwb)
    start = nwb.scalar("session_start_time", "date_of_acquisition")
    meta["date_of_acquisition"] = str(start)
    if kind == "ophys_experiment":
        plane = "general/optophysiology/imaging_plane_1"
        if plane in nwb:
            meta["ophys_frame_rate"] = float(nwb.scalar(f"{plane}/imaging_rate", "ophys_frame_rate"))
            meta["indicator"] = nwb.scalar(f"{plane}/indicator", "indicator")
            meta["targeted_structure"] = nwb.scalar(f"{plane}/location", "targeted_structure")
            meta["excitation_lambda"] = float(nwb.scalar(f"{plane}/excitation_lambda", "excitation_lambda"))
            emission = f"{plane}/channel_1/emission_lambda"
            if emission in nwb:
                meta["emission_lambda"] = float(nwb.scalar(emission, "emission_lambda"))
        if meta.get("imaging_plane_group") == -1:
            meta["imaging_plane_group"] = None  # AllenSDK: None for single-plane (Scientifica) rigs
    if kind == "ecephys_session":
        meta["ecephys_session_id"] = int(nwb.scalar("identifier", "ecephys_session_id"))
    task = nwb.attrs("general/task_parameters") if "general/task_parameters" in nwb else {}
    return {"metadata": dict(sorted(meta.items())), "task_parameters": dict(sorted(task.items()))}

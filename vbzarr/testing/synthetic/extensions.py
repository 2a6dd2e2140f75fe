"""NWB extension namespaces of the Allen Visual Behavior files, declared for the synthetic factory.

The released files carry their extension specs in ``/specifications``; a file we write must do the
same so that pynwb (and hdmf-zarr) can read it back. The type names, attribute names and dtypes below
are the ones the reference files declare; the spec text is ours.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from pynwb import get_class, load_namespaces
from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder


def _attrs(spec: dict[str, str], shapes: dict[str, list] | None = None) -> list[NWBAttributeSpec]:
    shapes = shapes or {}
    return [
        NWBAttributeSpec(name=n, doc=n.replace("_", " "), dtype=d, shape=shapes.get(n))
        for n, d in spec.items()
    ]


_BEHAVIOR_METADATA = {
    "project_code": "text",
    "behavior_session_id": "int",
    "stimulus_frame_rate": "float",
    "equipment_name": "text",
    "behavior_session_uuid": "text",
    "session_type": "text",
}
_OPHYS_METADATA = {
    "field_of_view_height": "int",
    "field_of_view_width": "int",
    "imaging_plane_group": "int",
    "imaging_plane_group_count": "int",
    "targeted_imaging_depth": "int",
    "imaging_depth": "int",
    "ophys_session_id": "int",
    "ophys_container_id": "int",
    "ophys_experiment_id": "int",
}
_TASK_PARAMETERS = {
    "stimulus_distribution": "text",
    "auto_reward_volume": "float",
    "stimulus_name": "text",
    "blank_duration_sec": "text",
    "omitted_flash_fraction": "float",
    "task": "text",
    "n_stimulus_frames": "int",
    "stimulus": "text",
    "session_type": "text",
    "reward_volume": "float",
    "response_window_sec": "text",
    "stimulus_duration_sec": "float",
}


def _rig_metadata(type_def: str, dtype: str, unit_attr: str) -> NWBGroupSpec:
    names = ["monitor_position", "monitor_rotation", "camera_position", "camera_rotation"]
    return NWBGroupSpec(
        doc="eye tracking rig geometry",
        neurodata_type_def=type_def,
        neurodata_type_inc="NWBDataInterface",
        attributes=_attrs({"equipment": "text"}),
        datasets=[
            NWBDatasetSpec(
                name=n,
                doc=n,
                dtype=dtype,
                shape=[None],
                dims=["3"],
                attributes=_attrs({unit_attr: "text"}),
            )
            for n in [*names, "led_position"]
        ],
    )


def _namespaces() -> dict[str, list[NWBGroupSpec]]:
    return {
        "ndx-aibs-behavior-ophys": [
            NWBGroupSpec(
                doc="task parameters",
                neurodata_type_def="BehaviorTaskParameters",
                neurodata_type_inc="LabMetaData",
                attributes=_attrs(_TASK_PARAMETERS, {"blank_duration_sec": [2], "response_window_sec": [2]}),
            ),
            NWBGroupSpec(
                doc="subject",
                neurodata_type_def="BehaviorSubject",
                neurodata_type_inc="Subject",
                attributes=[
                    NWBAttributeSpec(
                        name="driver_line", doc="driver", dtype="text", shape=[None], required=False
                    ),
                    NWBAttributeSpec(name="reporter_line", doc="reporter", dtype="text"),
                ],
            ),
            NWBGroupSpec(
                doc="behavior metadata",
                neurodata_type_def="BehaviorMetadata",
                neurodata_type_inc="LabMetaData",
                attributes=_attrs(_BEHAVIOR_METADATA),
            ),
            NWBGroupSpec(
                doc="behavior + ophys metadata",
                neurodata_type_def="OphysBehaviorMetadata",
                neurodata_type_inc="BehaviorMetadata",
                attributes=_attrs(_OPHYS_METADATA),
            ),
            _rig_metadata("OphysEyeTrackingRigMetadata", "float", "unit_of_measurement"),
        ],
        "ndx-aibs-ophys-event-detection": [
            NWBGroupSpec(
                doc="event detection",
                neurodata_type_def="OphysEventDetection",
                neurodata_type_inc="RoiResponseSeries",
                name="event_detection",
                datasets=[
                    NWBDatasetSpec(name="lambdas", doc="lambdas", dtype="float", shape=[None]),
                    NWBDatasetSpec(name="noise_stds", doc="noise", dtype="float", shape=[None]),
                ],
            )
        ],
        "ndx-aibs-stimulus-template": [
            NWBGroupSpec(
                doc="warped and unwarped stimulus images",
                neurodata_type_def="StimulusTemplate",
                neurodata_type_inc="ImageSeries",
                datasets=[
                    NWBDatasetSpec(name="unwarped", doc="unwarped", dtype="float", shape=[None, None, None])
                ],
            )
        ],
        "ndx-ellipse-eye-tracking": [
            NWBGroupSpec(
                doc="ellipse fits",
                neurodata_type_def="EllipseSeries",
                neurodata_type_inc="SpatialSeries",
                datasets=[
                    NWBDatasetSpec(
                        name="data", doc="center", dtype="numeric", shape=[None, 2], dims=["t", "xy"]
                    ),
                    *[
                        NWBDatasetSpec(name=n, doc=n, dtype="float", shape=[None])
                        for n in ["area", "area_raw", "width", "height", "angle"]
                    ],
                ],
            ),
            NWBGroupSpec(
                doc="ellipse eye tracking",
                neurodata_type_def="EllipseEyeTracking",
                neurodata_type_inc="EyeTracking",
                default_name="EyeTracking",
                groups=[
                    NWBGroupSpec(name=n, doc=n, neurodata_type_inc="EllipseSeries")
                    for n in ["eye_tracking", "pupil_tracking", "corneal_reflection_tracking"]
                ]
                + [NWBGroupSpec(name="likely_blink", doc="blinks", neurodata_type_inc="TimeSeries")],
            ),
        ],
        "ndx-aibs-ecephys": [
            NWBGroupSpec(
                doc="probe",
                neurodata_type_def="EcephysProbe",
                neurodata_type_inc="Device",
                attributes=_attrs({"sampling_rate": "float64", "probe_id": "int"}),
            ),
            NWBGroupSpec(
                doc="probe channels",
                neurodata_type_def="EcephysElectrodeGroup",
                neurodata_type_inc="ElectrodeGroup",
                attributes=_attrs(
                    {"has_lfp_data": "bool", "probe_id": "int", "lfp_sampling_rate": "float64"}
                ),
            ),
            NWBGroupSpec(
                doc="specimen",
                neurodata_type_def="EcephysSpecimen",
                neurodata_type_inc="Subject",
                attributes=_attrs({"specimen_name": "text", "age_in_days": "float"}),
            ),
            _rig_metadata("EcephysEyeTrackingRigMetadata", "float32", "unit"),
            NWBGroupSpec(
                doc="current source density",
                neurodata_type_def="EcephysCSD",
                neurodata_type_inc="NWBDataInterface",
                groups=[NWBGroupSpec(doc="csd", neurodata_type_inc="TimeSeries", quantity="*")],
                datasets=[
                    NWBDatasetSpec(
                        name=n, doc=n, dtype="float32", shape=[None], attributes=_attrs({"unit": "text"})
                    )
                    for n in ["virtual_electrode_x_positions", "virtual_electrode_y_positions"]
                ],
            ),
        ],
    }


@functools.cache
def load() -> Path:
    """Write the namespaces once per process and register them with pynwb."""
    folder = Path(tempfile.mkdtemp(prefix="vbzarr-ndx-"))
    for name, groups in _namespaces().items():
        builder = NWBNamespaceBuilder(
            doc=f"{name} (vbzarr synthetic)", name=name, version="0.1.0", author="vbzarr", contact="-"
        )
        builder.include_namespace("core")
        source = f"{name}.extensions.yaml"
        for g in groups:
            builder.add_spec(source, g)
        builder.export(f"{name}.namespace.yaml", outdir=str(folder))
        load_namespaces(str(folder / f"{name}.namespace.yaml"))
    return folder


def cls(namespace: str, type_name: str) -> type:
    """The pynwb class generated for ``type_name`` of ``namespace``."""
    load()
    return get_class(type_name, namespace)

"""Write Visual Behavior Ophys experiment NWB files with pynwb: the behavior streams of
``behavior_streams.py`` and eye tracking, plus the 2-photon part - imaging plane, segmented cells,
dF/F, fluorescence, events, projection images, motion correction.

The layout - groups, neurodata types, dataset and column names, dtypes, links - is the one the
AllenSDK's writer produces (see ``../shared/reference-nwb/LAYOUT.md``); the content is simulated by
the modules that ``content.py`` gathers (schedule, behavior, cell traces). Behavior-only sessions
are written by ``behavior_streams.write_behavior_session``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hdmf.backends.hdf5 import H5DataIO
from pynwb.base import Images
from pynwb.image import GrayscaleImage
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

from .behavior_streams import add_behavior, add_eye_tracking
from .cell_traces import calcium_traces, ophys_timestamps
from .extensions import cls
from .ophys_schedule import simulate_schedule
from .session_file import (
    NS_BEH,
    SCIENTIFICA,
    BehaviorSessionInfo,
    behavior_metadata,
    create_device,
    make_series,
    new_nwbfile,
    task_parameters,
    write_nwb,
)
from .sizes import Size


@dataclass
class OphysExperimentInfo(BehaviorSessionInfo):
    """One imaging plane of one ophys session, with the container's cells it sees."""

    ophys_experiment_id: int = 0
    ophys_session_id: int = 0
    ophys_container_id: int = 0
    imaging_depth: int = 175
    targeted_structure: str = "VISp"
    imaging_plane_group: int = -1
    imaging_plane_group_count: int = 0
    frame_rate: float = 31.0
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)  # with cell_traces.cell_tuning's columns
    experience_level: str = "Familiar"  # the experiment table's; scales the responses

    @property
    def is_multiscope(self) -> bool:
        return self.imaging_plane_group >= 0


def _roi_masks(cells: pd.DataFrame, fov: int) -> np.ndarray:
    yy, xx = np.mgrid[:fov, :fov]
    masks = np.zeros((len(cells), fov, fov), bool)
    for i, c in enumerate(cells.itertuples()):
        cy, cx = c.y + c.height / 2, c.x + c.width / 2
        masks[i] = ((yy - cy) / (c.height / 2)) ** 2 + ((xx - cx) / (c.width / 2)) ** 2 <= 1
    return masks


def write_ophys_experiment(path: str | Path, info: OphysExperimentInfo, size: Size) -> Path:
    """Write a behavior + ophys experiment NWB file, as the AllenSDK lays it out."""
    rng = np.random.default_rng(info.seed)
    schedule = simulate_schedule(rng, size, image_set=info.image_set, passive=info.passive)
    nwb = new_nwbfile(
        info,
        str(info.ophys_experiment_id),
        ["2-photon", "calcium imaging", "visual cortex", "behavior", "task"],
    )
    device = create_device(
        nwb,
        name=info.equipment_name,
        **(
            {"description": "Allen Brain Observatory - Mesoscope 2P Rig", "manufacturer": "Thorlabs"}
            if info.is_multiscope
            else SCIENTIFICA
        ),
    )
    nwb.add_lab_meta_data(
        cls(NS_BEH, "OphysBehaviorMetadata")(
            **behavior_metadata(info, rng),
            field_of_view_height=size.fov,
            field_of_view_width=size.fov,
            imaging_depth=info.imaging_depth,
            targeted_imaging_depth=info.imaging_depth,
            imaging_plane_group=info.imaging_plane_group,
            imaging_plane_group_count=info.imaging_plane_group_count,
            ophys_container_id=info.ophys_container_id,
            ophys_experiment_id=info.ophys_experiment_id,
            ophys_session_id=info.ophys_session_id,
        )
    )
    nwb.add_lab_meta_data(task_parameters(info, schedule))
    add_behavior(nwb, schedule, rng, size)
    t0, t1 = schedule.stimulus_timestamps[0], schedule.end_time
    add_eye_tracking(nwb, rng, t0, t1, size.eye_rate, info.equipment_name)

    plane = nwb.create_imaging_plane(
        name="imaging_plane_1",
        optical_channel=OpticalChannel(
            name="channel_1", description="2P Optical Channel", emission_lambda=520.0
        ),
        description=f"({size.fov}, {size.fov}) field of view in {info.targeted_structure} "
        f"at depth {info.imaging_depth} um",
        device=device,
        excitation_lambda=910.0,
        imaging_rate=info.frame_rate,
        indicator=info.subject.indicator,
        location=info.targeted_structure,
    )
    ophys = nwb.create_processing_module("ophys", "Ophys processing module")
    cells = info.cells
    masks = _roi_masks(cells, size.fov)
    seg = ImageSegmentation(name="image_segmentation")
    ophys.add(seg)
    table = seg.create_plane_segmentation(
        description="Segmented rois", imaging_plane=plane, name="cell_specimen_table"
    )
    columns = [
        "cell_specimen_id",
        "height",
        "mask_image_plane",
        "max_correction_down",
        "max_correction_left",
        "max_correction_right",
        "max_correction_up",
        "valid_roi",
        "width",
        "x",
        "y",
    ]
    for col in columns:
        table.add_column(name=col, description=col)
    for i, c in enumerate(cells.to_dict("records")):
        table.add_roi(id=int(c["cell_roi_id"]), image_mask=masks[i], **{k: c[k] for k in columns})
    rois = table.create_roi_table_region(
        region=list(range(len(cells))), description="segmented cells labeled by cell_specimen_id"
    )

    ots = ophys_timestamps(rng, t0 + 0.2, t1, info.frame_rate)
    traces = calcium_traces(rng, ots, schedule, cells, info.experience_level)
    # Containers join the file before their series so each series' ROI region shares an ancestor.
    dff = DfOverF(name="dff")
    ophys.add(dff)
    dff.create_roi_response_series(name="traces", data=traces["dff"], rois=rois, unit="NA", timestamps=ots)
    for name, series in [
        ("corrected_fluorescence", ["traces", "RMSE", "r"]),
        ("neuropil_trace", ["traces"]),
        ("demixed_trace", ["traces"]),
    ]:
        fl = Fluorescence(name=name)
        ophys.add(fl)
        for k in series:
            per_roi = k != "traces"  # RMSE and r hold one value per ROI
            fl.create_roi_response_series(
                name=k,
                data=traces[name if k == "traces" else k],
                rois=rois,
                unit="NA",
                timestamps=np.arange(len(cells), dtype=float) if per_roi else ots,
            )
    ophys.add(
        cls("ndx-aibs-ophys-event-detection", "OphysEventDetection")(
            data=H5DataIO(traces["events"], compression="gzip"),
            lambdas=traces["lambdas"],
            noise_stds=traces["noise_stds"],
            rois=table.create_roi_table_region(
                region=list(range(len(cells))), description="Cells with detected events"
            ),
            unit="N/A",
            timestamps=ots,
        )
    )

    background = rng.normal(60, 10, (size.fov, size.fov))
    cellular = masks.sum(0).astype(float)
    resolution = 0.78125 * 512 / size.fov * 1e-4
    images = Images(
        name="images",
        images=[
            GrayscaleImage(
                name="max_projection",
                resolution=resolution,
                data=np.clip(background + 120 * cellular, 0, 255).astype(np.uint8),
                description="max_projection image at pixels/cm resolution",
            ),
            GrayscaleImage(
                name="average_image",
                resolution=resolution,
                data=np.clip(background + 40 * cellular, 0, 255).astype(np.uint8),
                description="average_image image at pixels/cm resolution",
            ),
            GrayscaleImage(
                name="segmentation_mask_image",
                resolution=resolution,
                data=(cellular > 0).astype(np.int64),
                description="segmentation_mask_image image at pixels/cm resolution",
            ),
        ],
    )
    ophys.add(images)
    walk = np.cumsum(rng.integers(-1, 2, (2, len(ots))), axis=1)
    for axis, v in zip("xy", walk, strict=True):
        ophys.add(
            make_series(
                f"ophys_motion_correction_{axis}", np.clip(v, -20, 20).astype(np.int64), ots, "pixels"
            )
        )
    return write_nwb(nwb, path)

"""Write Visual Behavior Ophys NWB files (experiments and behavior-only sessions) with pynwb.

The layout - groups, neurodata types, dataset and column names, dtypes, links - is the one the
AllenSDK's writer produces (see ``../shared/reference-nwb/LAYOUT.md``); the content is simulated by
the modules that ``content.py`` gathers (schedule, behavior, cell traces).
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hdmf.backends.hdf5 import H5DataIO
from hdmf.build.warnings import MissingRequiredBuildWarning
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.base import Images
from pynwb.device import Device
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage, IndexSeries
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

from .behavior import eye_tracking, running
from .cell_traces import calcium_traces, ophys_timestamps
from .change_detection import OMITTED_INDEX, Schedule
from .extensions import cls
from .ophys_schedule import simulate_schedule
from .sizes import EcephysSize, Size
from .timing import STIMULUS_FRAME_RATE

NS_BEH = "ndx-aibs-behavior-ophys"
INSTITUTION = "Allen Institute for Brain Science"
# Scientifica 2P rigs, and (as the release describes them) the Neuropixels rigs NP.*.
SCIENTIFICA = {"description": "Allen Brain Observatory - Scientifica 2P Rig", "manufacturer": "Scientifica"}


@dataclass
class Subject:
    """A mouse, as the project tables and the NWB subject describe it."""

    mouse_id: int
    sex: str = "M"
    driver_line: tuple[str, ...] = ("Slc17a7-IRES2-Cre", "Camk2a-tTA")
    reporter_line: str = "Ai93(TITL-GCaMP6f)"
    indicator: str = "GCaMP6f"

    @property
    def cre_line(self) -> str:
        return next(d for d in self.driver_line if "Cre" in d)

    @property
    def full_genotype(self) -> str:
        if not self.driver_line:  # wild type (VBN has wt/wt mice, reporter_line "None")
            return "wt/wt"
        return ";".join(f"{g}/wt" for g in [*self.driver_line, self.reporter_line])


@dataclass
class BehaviorSessionInfo:
    """One behavior session (with or without imaging) and the stimulus it showed."""

    behavior_session_id: int
    subject: Subject
    session_type: str
    date_of_acquisition: dt.datetime
    age_in_days: int
    equipment_name: str
    project_code: str = "VisualBehavior"
    image_set: str = "A"
    passive: bool = False
    seed: int = 0
    release: str = "vbo"  # "vbn": the Visual Behavior Neuropixels variant of the layout


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
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def is_multiscope(self) -> bool:
        return self.imaging_plane_group >= 0


def _series(name, data, timestamps, unit, description="no description", **kw) -> TimeSeries:
    return TimeSeries(name=name, data=data, timestamps=timestamps, unit=unit, description=description, **kw)


_DESCRIPTION = "Synthetic Visual Behavior session written by vbzarr's factory."


def _nwbfile(
    info: BehaviorSessionInfo,
    identifier: str,
    keywords: list[str] | None,
    experiment_description: str | None = _DESCRIPTION,
    **kwargs,
) -> NWBFile:
    """The file with its subject; ``kwargs`` go to ``NWBFile`` (VBN files have no
    ``experiment_description``, LFP files no keywords and their own ``session_description``)."""
    subj = info.subject
    subject = cls(NS_BEH, "BehaviorSubject")(
        age=f"P{info.age_in_days}D",
        description="A visual behavior subject with a LabTracks ID",
        genotype=subj.full_genotype,
        sex=subj.sex,
        species="Mus musculus",
        subject_id=str(subj.mouse_id),
        driver_line=list(subj.driver_line) or None,
        reporter_line=subj.reporter_line,
    )
    return NWBFile(
        **{
            "session_description": info.session_type,
            "identifier": identifier,
            "session_start_time": info.date_of_acquisition,
            "file_create_date": info.date_of_acquisition,
            "institution": INSTITUTION,
            "keywords": keywords,
            "experiment_description": experiment_description,
            "subject": subject,
            **kwargs,
        }
    )


def _create_device(nwb: NWBFile, device_cls: type = Device, **kwargs) -> Device:
    """Add a device; the released files set ``manufacturer``, deprecated in pynwb 4."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        device = device_cls(**kwargs)
    nwb.add_device(device)
    return device


def _task_parameters(info: BehaviorSessionInfo, schedule: Schedule):
    return cls(NS_BEH, "BehaviorTaskParameters")(
        name="task_parameters",
        stimulus_distribution="geometric",
        auto_reward_volume=0.005,
        stimulus_name=schedule.stimulus_name,
        blank_duration_sec=["0.5", "0.5"],
        omitted_flash_fraction=0.05,
        task="change detection",
        n_stimulus_frames=len(schedule.stimulus_timestamps),
        stimulus="images",
        session_type=info.session_type,
        reward_volume=schedule.reward_volume,
        response_window_sec=["0.15", "0.75"],
        stimulus_duration_sec=0.25,
    )


def _add_behavior(
    nwb: NWBFile,
    schedule: Schedule,
    rng: np.random.Generator,
    size: Size | EcephysSize,
    index_series: bool = True,
) -> None:
    """Everything behavior, ophys and ecephys sessions share. ``index_series``: the image
    presentations as an IndexSeries under ``stimulus/presentation`` (not in VBN ecephys files)."""
    ts = schedule.stimulus_timestamps
    stim_mod = nwb.create_processing_module("stimulus", "Stimulus Times processing")
    stim_ts = _series("timestamps", ts, ts, "s")
    stim_mod.add(stim_ts)

    run = running(rng, ts)
    # The encoder is sampled on the sync clock: stimulus times lag it by the display delay.
    sync = ts - schedule.display_delay if schedule.display_delay else ts
    running_mod = nwb.create_processing_module("running", "Running speed processing module")
    speed = _series("speed", run["speed"], sync, "cm/s", "the smoothed running speed")
    running_mod.add(speed)
    running_mod.add(
        _series("speed_unfiltered", run["speed_unfiltered"], sync, "cm/s", "the unfiltered running speed")
    )
    running_mod.add(
        _series("dx", run["dx"], sync, "cm", "Running wheel angular change, computed during data collection")
    )
    nwb.add_acquisition(
        _series("v_sig", run["v_sig"], sync, "V", "Voltage signal from the running wheel encoder")
    )
    nwb.add_acquisition(
        _series(
            "v_in",
            run["v_in"],
            sync,
            "V",
            "The theoretical maximum voltage that the running wheel encoder will reach",
        )
    )

    lick_mod = nwb.create_processing_module("licking", "Licking behavior processing module")
    lick_mod.add(
        _series(
            "licks",
            schedule.lick_frames,
            schedule.lick_times,
            "N/A",
            "Timestamps and stimulus presentation frame indices for lick events",
        )
    )

    if len(schedule.rewards):
        rew = nwb.create_processing_module("rewards", "Licking behavior processing module")
        r = schedule.rewards
        rew.add(_series("volume", r.volume.to_numpy(), r.timestamps.to_numpy(), "mL"))
        rew.add(_series("autorewarded", r.autorewarded.to_numpy(bool), r.timestamps.to_numpy(), "mL"))

    # Stimulus templates and the IndexSeries of image presentations.
    n_img = len(schedule.image_names)
    h, w = size.template_shape
    warped = rng.integers(0, 255, (n_img, h, w), dtype=np.uint8)
    unwarped = warped.astype(np.float64)
    unwarped[:, : h // 6, :] = np.nan  # pixels masked out by the warp
    template = cls("ndx-aibs-stimulus-template", "StimulusTemplate")(
        name=schedule.image_set,
        data=warped,
        unwarped=unwarped,
        control=np.arange(n_img, dtype=np.uint64),
        control_description=schedule.image_names,
        unit="NA",
        format="raw",
        timestamps=np.arange(n_img, dtype=np.float64),
    )
    nwb.add_stimulus_template(template)
    if index_series:
        task = schedule.blocks[f"{schedule.stimulus_name}_presentations"]
        shown = task[task.image_index < OMITTED_INDEX]
        # The released files link IndexSeries.indexed_timeseries, which pynwb 4 only accepts while
        # constructing an object read from a file.
        presented = IndexSeries.__new__(IndexSeries, in_construct_mode=True)
        presented.__init__(
            name=schedule.image_set,
            data=shown.image_index.to_numpy(np.uint64),
            timestamps=shown.start_time.to_numpy(),
            indexed_timeseries=template,
            unit="N/A",
        )
        presented._in_construct_mode = False
        nwb.add_stimulus(presented)

    for name, block in schedule.blocks.items():
        _add_presentations(nwb, name, block, stim_ts)
    _add_trials(nwb, schedule.trials)


def _add_presentations(nwb: NWBFile, name: str, block: pd.DataFrame, stim_ts: TimeSeries) -> None:
    stim = block.stimulus_name.iloc[0]
    table = TimeIntervals(
        name=name,
        description=f"Presentation times and stimuli details for '{stim}' stimuli. \n"
        "Note: image_name references control_description in stimulus/templates",
    )
    for col in block.columns:
        if col not in ("start_time", "stop_time"):
            table.add_column(name=col, description=col)
    for row in block.to_dict("records"):
        table.add_interval(**row, tags="stimulus_time_interval", timeseries=[stim_ts])
    nwb.add_time_intervals(table)


def _add_trials(nwb: NWBFile, trials: pd.DataFrame) -> None:
    # With no lick in any trial (passive sessions) hdmf cannot infer the column's dtype; the
    # AllenSDK writer stores the placeholder [b''] with all offsets 0 then, and so do we.
    no_licks = "lick_times" in trials and not any(len(v) for v in trials["lick_times"])
    rows = trials.drop(columns=["lick_times"]) if no_licks else trials
    for col in rows.columns:
        if col not in ("start_time", "stop_time"):
            nwb.add_trial_column(name=col, description=col, index=(col == "lick_times"))
    for row in rows.to_dict("records"):
        nwb.add_trial(**row)
    if no_licks:
        nwb.trials.add_column(
            name="lick_times",
            description="lick_times",
            data=[""],
            index=np.zeros(len(trials), dtype=np.uint8),
        )


def _add_eye_tracking(nwb: NWBFile, rng, t0, t1, rate, equipment: str) -> None:
    eye = eye_tracking(rng, t0, t1, rate)
    ellipse = cls("ndx-ellipse-eye-tracking", "EllipseSeries")
    series = {}
    for name in ["eye_tracking", "pupil_tracking", "corneal_reflection_tracking"]:
        v = eye[name]
        series[name] = ellipse(
            name=name,
            data=v["data"],
            area=v["area"],
            area_raw=v["area_raw"],
            width=v["width"],
            height=v["height"],
            angle=v["angle"],
            reference_frame="nose",
            timestamps=eye["timestamps"] if name == "eye_tracking" else series["eye_tracking"],
        )
    blink = TimeSeries(
        name="likely_blink",
        data=eye["likely_blink"],
        timestamps=series["eye_tracking"],
        unit="N/A",
        description="blinks",
    )
    nwb.add_acquisition(
        cls("ndx-ellipse-eye-tracking", "EllipseEyeTracking")(
            eye_tracking=series["eye_tracking"],
            pupil_tracking=series["pupil_tracking"],
            corneal_reflection_tracking=series["corneal_reflection_tracking"],
            likely_blink=blink,
        )
    )
    rig = nwb.create_processing_module("eye_tracking_rig_metadata", "Eye tracking rig metadata module")
    geometry = {
        "monitor_position": [118.6, 86.2, 31.6],
        "monitor_rotation": [0.0, 0.0, 0.0],
        "camera_position": [130.0, 0.0, 0.0],
        "camera_rotation": [0.0, 0.0, 13.1],
        "led_position": [265.1, -39.3, 1.0],
    }
    rig.add(
        cls(NS_BEH, "OphysEyeTrackingRigMetadata")(
            name="eye_tracking_rig_metadata",
            equipment=equipment,
            **geometry,
            **{f"{k}__unit_of_measurement": "mm" if "position" in k else "deg" for k in geometry},
        )
    )


def _roi_masks(cells: pd.DataFrame, fov: int) -> np.ndarray:
    yy, xx = np.mgrid[:fov, :fov]
    masks = np.zeros((len(cells), fov, fov), bool)
    for i, c in enumerate(cells.itertuples()):
        cy, cx = c.y + c.height / 2, c.x + c.width / 2
        masks[i] = ((yy - cy) / (c.height / 2)) ** 2 + ((xx - cx) / (c.width / 2)) ** 2 <= 1
    return masks


def _behavior_metadata(info: BehaviorSessionInfo, rng: np.random.Generator) -> dict:
    """The BehaviorMetadata attributes every session file has."""
    return {
        "name": "metadata",
        "behavior_session_id": info.behavior_session_id,
        "behavior_session_uuid": str(uuid.UUID(int=rng.integers(2**63).item())),
        "equipment_name": info.equipment_name,
        "project_code": info.project_code,
        "session_type": info.session_type,
        "stimulus_frame_rate": STIMULUS_FRAME_RATE,
    }


def write_behavior_session(path: str | Path, info: BehaviorSessionInfo, size: Size) -> Path:
    """Write a behavior-only (training/habituation) session NWB file, as the AllenSDK lays it out."""
    rng = np.random.default_rng(info.seed)
    vbn = info.release == "vbn"
    schedule = simulate_schedule(
        rng,
        size,
        image_set=info.image_set,
        passive=info.passive,
        with_gray_and_movie=False,
        float_flags=False,
        release=info.release,
    )
    nwb = _nwbfile(
        info,
        str(info.behavior_session_id),
        ["visual", "behavior", "task"],
        experiment_description=None if vbn else _DESCRIPTION,
    )
    if vbn:
        _create_device(nwb, name=info.equipment_name, **SCIENTIFICA)
    else:
        nwb.create_device(name=info.equipment_name, description="Allen Brain Observatory - behavior box")
    nwb.add_lab_meta_data(cls(NS_BEH, "BehaviorMetadata")(**_behavior_metadata(info, rng)))
    nwb.add_lab_meta_data(_task_parameters(info, schedule))
    _add_behavior(nwb, schedule, rng, size)
    return _write(nwb, path)


def write_ophys_experiment(path: str | Path, info: OphysExperimentInfo, size: Size) -> Path:
    """Write a behavior + ophys experiment NWB file, as the AllenSDK lays it out."""
    rng = np.random.default_rng(info.seed)
    schedule = simulate_schedule(rng, size, image_set=info.image_set, passive=info.passive)
    nwb = _nwbfile(
        info,
        str(info.ophys_experiment_id),
        ["2-photon", "calcium imaging", "visual cortex", "behavior", "task"],
    )
    device = _create_device(
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
            **_behavior_metadata(info, rng),
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
    nwb.add_lab_meta_data(_task_parameters(info, schedule))
    _add_behavior(nwb, schedule, rng, size)
    t0, t1 = schedule.stimulus_timestamps[0], schedule.end_time
    _add_eye_tracking(nwb, rng, t0, t1, size.eye_rate, info.equipment_name)

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
    traces = calcium_traces(rng, ots, schedule, cells.preferred.to_numpy(), cells.omission.to_numpy(bool))
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
            _series(f"ophys_motion_correction_{axis}", np.clip(v, -20, 20).astype(np.int64), ots, "pixels")
        )
    return _write(nwb, path)


def _write(nwb: NWBFile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io, warnings.catch_warnings():
        # EllipseEyeTracking keeps its series in named groups, not in the inherited (empty)
        # `spatial_series` of core EyeTracking; the released files are the same.
        warnings.filterwarnings("ignore", category=MissingRequiredBuildWarning)
        io.write(nwb, cache_spec=True)
    return path

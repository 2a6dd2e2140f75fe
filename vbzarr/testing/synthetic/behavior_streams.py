"""The behavior streams of every session NWB file - stimulus timestamps, running, licks, rewards,
stimulus templates and presentations, trials - and eye tracking (ophys and ecephys files), laid out
as the AllenSDK's writer does; and ``write_behavior_session``, the behavior-only (training,
habituation) file, which holds nothing else.

The content is simulated by ``behavior.py`` (running, eye tracking) and the schedule modules
(``ophys_schedule.py``, ``ecephys_schedule.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pynwb import NWBFile, TimeSeries
from pynwb.epoch import TimeIntervals
from pynwb.image import IndexSeries

from .behavior import EllipseName, eye_tracking, running
from .change_detection import OMITTED_INDEX, Schedule
from .extensions import cls
from .ophys_schedule import simulate_schedule
from .session_file import (
    DESCRIPTION,
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
from .sizes import EcephysSize, Size


def add_behavior(
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
    stim_ts = make_series("timestamps", ts, ts, "s")
    stim_mod.add(stim_ts)

    run = running(rng, ts)
    # The encoder is sampled on the sync clock: stimulus times lag it by the display delay.
    sync = ts - schedule.display_delay if schedule.display_delay else ts
    running_mod = nwb.create_processing_module("running", "Running speed processing module")
    speed = make_series("speed", run["speed"], sync, "cm/s", "the smoothed running speed")
    running_mod.add(speed)
    running_mod.add(
        make_series("speed_unfiltered", run["speed_unfiltered"], sync, "cm/s", "the unfiltered running speed")
    )
    running_mod.add(
        make_series(
            "dx", run["dx"], sync, "cm", "Running wheel angular change, computed during data collection"
        )
    )
    nwb.add_acquisition(
        make_series("v_sig", run["v_sig"], sync, "V", "Voltage signal from the running wheel encoder")
    )
    nwb.add_acquisition(
        make_series(
            "v_in",
            run["v_in"],
            sync,
            "V",
            "The theoretical maximum voltage that the running wheel encoder will reach",
        )
    )

    lick_mod = nwb.create_processing_module("licking", "Licking behavior processing module")
    lick_mod.add(
        make_series(
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
        rew.add(make_series("volume", r.volume.to_numpy(), r.timestamps.to_numpy(), "mL"))
        rew.add(make_series("autorewarded", r.autorewarded.to_numpy(bool), r.timestamps.to_numpy(), "mL"))

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


def add_eye_tracking(nwb: NWBFile, rng, t0, t1, rate, equipment: str) -> None:
    eye = eye_tracking(rng, t0, t1, rate)
    ellipse = cls("ndx-ellipse-eye-tracking", "EllipseSeries")
    series: dict[EllipseName, TimeSeries] = {}
    names: list[EllipseName] = ["eye_tracking", "pupil_tracking", "corneal_reflection_tracking"]
    for name in names:
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
    nwb = new_nwbfile(
        info,
        str(info.behavior_session_id),
        ["visual", "behavior", "task"],
        experiment_description=None if vbn else DESCRIPTION,
    )
    if vbn:
        create_device(nwb, name=info.equipment_name, **SCIENTIFICA)
    else:
        nwb.create_device(name=info.equipment_name, description="Allen Brain Observatory - behavior box")
    nwb.add_lab_meta_data(cls(NS_BEH, "BehaviorMetadata")(**behavior_metadata(info, rng)))
    nwb.add_lab_meta_data(task_parameters(info, schedule))
    add_behavior(nwb, schedule, rng, size)
    return write_nwb(nwb, path)

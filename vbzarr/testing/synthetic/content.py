"""Simulated content of a Visual Behavior session, by family, under one name.

Everything is plain numpy/pandas and deterministic for a given seed; the NWB writers (``ophys.py``,
``ecephys.py``, ``ecephys_lfp.py``, ``behavior_streams.py`` and the modules they build on) lay it
out as the AllenSDK's writer does. Each family lives in its own module:

- ``sizes.py``: how big a session is, with presets (``Size``, ``EcephysSize``).
- ``timing.py``: the stimulus frame clock (``STIMULUS_FRAME_RATE``, ``stimulus_timestamps``), the
  frame layout of the VBN blocks and the recording's span (``recording_span``).
- ``change_detection.py``: the task shared by both releases: ``IMAGE_SETS``, the flash sequence,
  trials, ``Schedule`` and ``image_onsets``.
- ``ophys_schedule.py``: schedule of ophys and behavior-only sessions (``simulate_schedule``).
- ``ecephys_schedule.py``: schedule of VBN ecephys sessions (``simulate_vbn_schedule``,
  ``VBN_COLUMNS``) and ``optotagging``.
- ``behavior.py``: licks and rewards, ``running``, ``eye_tracking``.
- ``cell_traces.py``: two-photon frame times, what cells of each cre line respond to (changes,
  omissions, novelty) and their traces (``ophys_timestamps``, ``cell_tuning``, ``calcium_traces``).
- ``neuropixels.py``: what units of each area respond to (``unit_responses``), ``locked_spikes``,
  ``spike_trains``, ``mean_waveforms``, ``lfp_traces``, ``current_source_density``.
"""

from __future__ import annotations

from .behavior import eye_tracking, running
from .cell_traces import calcium_traces, cell_tuning, ophys_timestamps
from .change_detection import IMAGE_SETS, OMITTED_INDEX, REWARD_VOLUME, Schedule, image_onsets
from .ecephys_schedule import VBN_COLUMNS, optotagging, simulate_vbn_schedule
from .neuropixels import (
    current_source_density,
    lfp_traces,
    locked_spikes,
    mean_waveforms,
    spike_trains,
    unit_responses,
)
from .ophys_schedule import simulate_schedule
from .sizes import EcephysSize, Size
from .timing import (
    FLASH_250MS_PERIOD,
    FLASH_FRAMES,
    FLASH_PERIOD_FRAMES,
    GABOR_FRAMES,
    RECORDING_START,
    STIMULUS_FRAME_RATE,
    STIMULUS_START,
    recording_span,
    stimulus_timestamps,
)

__all__ = [
    "FLASH_250MS_PERIOD",
    "FLASH_FRAMES",
    "FLASH_PERIOD_FRAMES",
    "GABOR_FRAMES",
    "IMAGE_SETS",
    "OMITTED_INDEX",
    "RECORDING_START",
    "REWARD_VOLUME",
    "STIMULUS_FRAME_RATE",
    "STIMULUS_START",
    "VBN_COLUMNS",
    "EcephysSize",
    "Schedule",
    "Size",
    "calcium_traces",
    "cell_tuning",
    "current_source_density",
    "eye_tracking",
    "image_onsets",
    "lfp_traces",
    "locked_spikes",
    "mean_waveforms",
    "ophys_timestamps",
    "optotagging",
    "recording_span",
    "running",
    "simulate_schedule",
    "simulate_vbn_schedule",
    "spike_trains",
    "stimulus_timestamps",
    "unit_responses",
]

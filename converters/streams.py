"""The groups a store holds: one declaration per stream, in the order the driver writes them.

A stream's builder takes an open :class:`~vbzarr.convert.nwb.NWBReader` and the
:class:`~vbzarr.convert.chunking.Chunking`, and returns the Dataset of its group, a
``{subgroup: Dataset}`` mapping, or ``None`` when the file lacks the stream (the store then lists
it as missing; nothing is faked). Nothing registers itself: this list is the whole story
(CONTRIBUTING.md walks through adding a stream). The one group outside it, ``lfp/<probe_id>``,
comes from the per-probe LFP files beside an ecephys session (:mod:`vbzarr.convert.lfp`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import xarray as xr

from . import (
    cells,
    ecephys,
    eye_tracking,
    licks_rewards,
    ophys,
    presentations,
    running,
    stimulus,
    trials,
)
from .chunking import Chunking
from .nwb import NWBReader

StreamResult: TypeAlias = xr.Dataset | dict[str, xr.Dataset] | None
StreamBuilder: TypeAlias = Callable[[NWBReader, Chunking], StreamResult]

#: The kinds of file (``ophys_experiment``, ``behavior_session``, ``ecephys_session``).
EVERY_KIND = frozenset({"ophys_experiment", "behavior_session", "ecephys_session"})
IMAGING = frozenset({"ophys_experiment"})
EPHYS = frozenset({"ecephys_session"})


@dataclass(frozen=True)
class Stream:
    """One group of a store: its name, the kinds of file that have it, its builder, and the NWB
    paths it reads (for readers of this list; errors name the exact field)."""

    name: str
    kinds: frozenset[str]
    build: StreamBuilder
    sources: tuple[str, ...]


STREAMS: tuple[Stream, ...] = (
    Stream("images", IMAGING, cells.images, (cells.IMAGES, cells.CELL_TABLE)),
    Stream("channels", EPHYS, ecephys.channels, (ecephys.ELECTRODES,)),
    Stream("probes", EPHYS, ecephys.probes, ("general/extracellular_ephys", ecephys.ELECTRODES)),
    Stream("units", EPHYS, ecephys.units, (ecephys.UNITS, ecephys.ELECTRODES)),
    Stream("optotagging", EPHYS, ecephys.optotagging, (ecephys.OPTO,)),
    Stream("eye_tracking", EVERY_KIND, eye_tracking.eye_tracking, (eye_tracking.EYE,)),
    Stream("licks", EVERY_KIND, licks_rewards.licks, ("processing/licking/licks",)),
    Stream("rewards", EVERY_KIND, licks_rewards.rewards, ("processing/rewards",)),
    Stream("ophys", IMAGING, ophys.ophys, (ophys.OPHYS, cells.CELL_TABLE)),
    Stream(
        "motion_correction", IMAGING, ophys.motion_correction, (f"{ophys.OPHYS}/ophys_motion_correction_*",)
    ),
    Stream(
        "stimulus_presentations",
        EVERY_KIND,
        presentations.stimulus_presentations,
        ("intervals/*_presentations", "processing/stimulus/timestamps"),
    ),
    Stream(
        "running",
        EVERY_KIND,
        running.running,
        ("processing/running", "acquisition/v_sig", "acquisition/v_in"),
    ),
    Stream("stimulus_templates", EVERY_KIND, stimulus.stimulus_templates, (stimulus.TEMPLATES,)),
    Stream("stimulus_timestamps", EVERY_KIND, stimulus.stimulus_timestamps, (stimulus.STIMULUS_TIMESTAMPS,)),
    Stream("trials", EVERY_KIND, trials.trials, (trials.TRIALS,)),
)


def streams_of(kind: str) -> tuple[Stream, ...]:
    """The streams a kind of file has, in write order."""
    return tuple(s for s in STREAMS if kind in s.kinds)

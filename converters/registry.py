"""The mapping every converter module registers its streams in, and that the driver walks.

A stream function takes an open :class:`~converters.nwb.NWBReader` and the :class:`Chunking`, and
returns the Dataset of its group, a ``{subgroup: Dataset}`` mapping (e.g. ``lfp/<probe_id>``), or
``None`` when the file lacks that stream (the store then lists it as missing; nothing is faked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import xarray as xr

from .nwb import NWBReader


@dataclass(frozen=True)
class Chunking:
    """Chunk lengths of the stored arrays (chosen from benchmarks/bench_ophys_conversion.py).

    ``cells`` x ``time`` for cell traces; ``time`` alone for other continuous signals; ``rows``
    for tables and event-like streams; ``spikes`` for the flat spike arrays (one unit's train is
    one or two chunks; a 10 s window of all units reads the chunks holding those units' ranges).
    """

    cells: int = 8
    time: int = 16384
    rows: int = 65536
    spikes: int = 65_536
    lfp_time: int = 65536
    lfp_channels: int = 32


StreamResult: TypeAlias = xr.Dataset | dict[str, xr.Dataset] | None
StreamFn: TypeAlias = Callable[[NWBReader, Chunking], StreamResult]

#: group name -> function building it; insertion order is the write order.
STREAMS: dict[str, StreamFn] = {}


def stream(name: str) -> Callable[[StreamFn], StreamFn]:
    """Register ``fn`` as the builder of group ``name``."""

    def register(fn: StreamFn) -> StreamFn:
        if name in STREAMS:
            raise ValueError(f"Expected one builder per group. Got a second one for {name!r}.")
        STREAMS[name] = fn
        return fn

    return register

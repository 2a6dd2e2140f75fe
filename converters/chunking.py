"""Chunk lengths of the stored arrays."""

from __future__ import annotations

from dataclasses import dataclass


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

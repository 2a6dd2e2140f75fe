"""Units across Neuropixels sessions: the ``units`` groups of many sessions as one lazy Dataset,
each unit still finding its own spikes in the concatenated flat ``spike_times``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ManifestError
from .sessions import ECEPHYS
from .store import row_offsets

if TYPE_CHECKING:
    from .project import Project


def concat_units(project: Project, ids: Iterable[int] | pd.DataFrame | None) -> xr.Dataset:
    """The ``units`` of the sessions ``ids`` of ``project`` in one Dataset (see :meth:`Project.units`)."""
    per_unit, per_spike, offset = [], [], 0
    for sid, group in project._each_group(ECEPHYS.kind, ECEPHYS.ids(project, ids), "units"):
        starts, ends = row_offsets(group, "spike_times")
        one = group[[v for v in group.data_vars if group[v].dims == ("unit_id",)]]
        # Offsets past the spikes of the sessions before: each unit's slice of the flat spikes.
        for name, values in (("spike_times_start_index", starts), ("spike_times_index", ends)):
            one[name] = ("unit_id", values + offset, group[name].attrs)
        per_unit.append(one.assign_coords(ecephys_session_id=("unit_id", np.full(len(ends), sid))))
        per_spike.append(group[[v for v in group.data_vars if group[v].dims == ("spike",)]])
        offset += group.sizes["spike"]
    if not per_unit:
        raise ManifestError(f"{project.url}: expected at least one ecephys session id")
    return xr.merge(
        [
            xr.concat(per_unit, dim="unit_id", join="outer"),
            xr.concat(per_spike, dim="spike", join="outer"),
        ]
    )

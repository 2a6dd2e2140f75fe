"""Stimulus streams: presentations of every block, stimulus templates, stimulus frame timestamps."""

from __future__ import annotations

import numpy as np
import xarray as xr

from vbzarr.errors import InvalidNWBError
from vbzarr.schema import SECONDS

from .chunking import Chunking
from .nwb import NWBReader

TEMPLATES = "stimulus/templates"
STIMULUS_TIMESTAMPS = "processing/stimulus/timestamps"


def stimulus_templates(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``stimulus_templates``: ``warped`` and ``unwarped`` images indexed by ``image_name``.

    Several template sets in one file (rare) are concatenated along ``image_name``.
    """
    sets = list(nwb.children(TEMPLATES, "StimulusTemplate"))
    if not sets:
        return None
    parts = []
    for name in sets:
        path = f"{TEMPLATES}/{name}"
        names = nwb.read(f"{path}/control_description", "stimulus template image names")
        warped = nwb.lazy(f"{path}/data", (1, 4096, 4096), "stimulus_templates.warped")
        variables = {"warped": (("image_name", "row", "column"), warped)}
        if f"{path}/unwarped" in nwb:
            unwarped = nwb.lazy(f"{path}/unwarped", (1, 4096, 4096), "stimulus_templates.unwarped")
            if unwarped.shape != warped.shape:
                raise InvalidNWBError(
                    nwb.path,
                    f"{path}/unwarped",
                    f"expected the shape of data {warped.shape}, found {unwarped.shape}",
                )
            variables["unwarped"] = (("image_name", "row", "column"), unwarped)
        nwb.check_length(f"{path}/control_description", names, warped.shape[0], "one name per image")
        parts.append(
            xr.Dataset(
                variables,
                coords={
                    "image_name": names,
                    "image_set": ("image_name", np.full(len(names), name, dtype=object)),
                },
            )
        )
    return xr.concat(parts, dim="image_name") if len(parts) > 1 else parts[0]


def stimulus_timestamps(nwb: NWBReader, chunking: Chunking) -> xr.Dataset | None:
    """AllenSDK ``stimulus_timestamps``: the time (s) of every stimulus (monitor) frame."""
    if STIMULUS_TIMESTAMPS not in nwb:
        return None
    ts = nwb.lazy(f"{STIMULUS_TIMESTAMPS}/timestamps", (chunking.rows,), "stimulus timestamps")
    return xr.Dataset({"timestamps": (("frame",), ts, SECONDS)}, coords={"frame": np.arange(ts.shape[0])})

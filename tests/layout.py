"""HDF5 layout of an NWB file, normalised so a factory file can be compared with a reference one."""

from __future__ import annotations

import re
from pathlib import Path

import h5py

# Names that legitimately differ between files of the same layout (ids, image sets, devices).
NORMALISE = [
    (r"(stimulus/(presentation|templates)/)[^/]+", r"\1<set>"),
    (r"intervals/Natural_Images[^/]*_presentations", "intervals/<images>_presentations"),
    (r"devices/(BEH|CAM2P|MESO|NP)[^/]*", "devices/<rig>"),
    (r"probe_\d+_lfp", "probe_<id>_lfp"),
    (r"devices/probe[A-F]", "devices/<probe>"),
    (r"extracellular_ephys/probe[A-F]", "extracellular_ephys/<probe>"),
]


def normalise(name: str) -> str:
    for pattern, repl in NORMALISE:
        name = re.sub(pattern, repl, name)
    return name


def layout(path: str | Path) -> dict[str, tuple]:
    """``{normalised path: description}`` of every group (neurodata type, column set), dataset
    (dtype, rank, neurodata type) and soft link of an NWB file."""
    out: dict[str, tuple] = {}
    with h5py.File(path, "r") as f:

        def walk(group: h5py.Group, prefix: str) -> None:
            for key in group:
                name = prefix + key
                if name.startswith("specifications"):
                    continue
                if isinstance(group.get(key, getlink=True), h5py.SoftLink):
                    out[normalise(name)] = ("link",)
                    continue
                obj = group[key]
                ndt = obj.attrs.get("neurodata_type")
                if isinstance(obj, h5py.Group):
                    cols = obj.attrs.get("colnames")
                    out[normalise(name) + "/"] = (
                        "group",
                        ndt,
                        None if cols is None else frozenset(str(c) for c in cols),
                    )
                    walk(obj, name + "/")
                else:
                    # The width of a ragged column's index follows its length, not the layout.
                    ragged = name.endswith("_index") and obj.dtype.kind == "u"
                    out[normalise(name)] = ("dataset", "uint" if ragged else str(obj.dtype), obj.ndim, ndt)

        walk(f, "")
    return out


def differences(reference: str | Path, ours: str | Path) -> list[str]:
    a, b = layout(reference), layout(ours)
    return [
        f"{k}: reference {a.get(k)} vs factory {b.get(k)}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]

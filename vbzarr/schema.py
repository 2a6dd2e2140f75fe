"""Names shared by the writing and the reading side: schema version, layout folders, group names.

Names follow the AllenSDK attribute and column names (DESIGN.md); nothing here imports pynwb.
"""

from __future__ import annotations

from .errors import UsageError

SCHEMA_VERSION = 2
"""Version of the store and manifest layout. Readers refuse stores written by another version.

2: every ragged column has its own start offsets (``<column>_start_index``), so any selection of
rows still finds its values; seconds are tagged ``units: "s"`` (never decoded as timedeltas);
manifest tables are Parquet (lossless).
"""

#: What changed since each older version, for the message that asks to re-convert.
SCHEMA_CHANGES = {
    1: "unit spike offsets that survive selections, seconds as float64 in every xarray, "
    "lossless project tables",
}

#: Folder of a project that holds each kind of store, keyed by the id that names the store.
STORE_FOLDERS = {
    "ophys_experiment_id": "ophys_experiments",
    "behavior_session_id": "behavior_sessions",
    "ecephys_session_id": "ecephys_sessions",
}
MANIFEST = "manifest"


def store_folder(kind: str) -> str:
    """The project folder of a kind of store (``ophys_experiment``, ``behavior_session``,
    ``ecephys_session``); an unknown kind is a clear error, not a KeyError."""
    folder = STORE_FOLDERS.get(f"{kind}_id")
    if folder is None:
        kinds = [k.removesuffix("_id") for k in STORE_FOLDERS]
        raise UsageError(f"expected a kind of store in {kinds}; got {kind!r}")
    return folder


#: Attributes of every seconds-valued variable. Not the CF time unit "seconds": xarray decodes a
#: variable with that ``units`` as timedelta64 in some versions; "s" (SI) it never decodes.
SECONDS = {"units": "s"}

#: Ragged table columns are stored flat over ``<column>_value`` (``spike`` for spikes), with each
#: row's end offset in ``<column>_index`` (NWB VectorIndex) and its start offset in
#: ``<column>_start_index``, both over the table's row dim: a row's values are
#: ``column[start:end]``, whatever rows a selection keeps. The column's attrs name both.
RAGGED_INDEX_SUFFIX = "_index"
RAGGED_START_SUFFIX = "_start_index"


def ragged_dim(column: str) -> str:
    """Name of the flat dimension of ragged column ``column``."""
    return "spike" if column in ("spike_times", "spike_amplitudes") else f"{column}_value"

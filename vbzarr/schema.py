"""Names shared by the writing and the reading side: schema version, layout folders, group names.

Names follow the AllenSDK attribute and column names (DESIGN.md); nothing here imports pynwb.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
"""Version of the store and manifest layout. Readers refuse stores written by a newer version."""

#: Folder of a project that holds each kind of store, keyed by the id that names the store.
STORE_FOLDERS = {
    "ophys_experiment_id": "ophys_experiments",
    "behavior_session_id": "behavior_sessions",
    "ecephys_session_id": "ecephys_sessions",
}
MANIFEST = "manifest.zarr"

#: Ragged table columns are stored flat over ``<column>_value`` with NWB-style end offsets in
#: ``<column>_index`` over the table's row dim; spikes use the dim ``spike`` (DESIGN.md).
RAGGED_INDEX_SUFFIX = "_index"


def ragged_dim(column: str) -> str:
    """Name of the flat dimension of ragged column ``column``."""
    return "spike" if column in ("spike_times", "spike_amplitudes") else f"{column}_value"

"""vbzarr: the Allen Visual Behavior datasets as analysis-ready Xarray/Zarr.

Open a converted project or a single store lazily, select across sessions, and align signals and
spikes to stimulus presentations or trials.
"""

from __future__ import annotations

__version__ = "0.2.0"

from .alignment import align
from .container_means import mean_by_container
from .errors import (
    AlignmentError,
    ClusterError,
    ConcurrentConversionError,
    DestinationError,
    InvalidNWBError,
    ManifestError,
    MissingFieldError,
    ProjectAccessError,
    ProjectInputError,
    ProjectNotFoundError,
    QueryError,
    SchemaVersionError,
    StoreNotFoundError,
    TableError,
    UsageError,
    VbzarrError,
)
from .filters import get_channels, get_units
from .performance import (
    engaged_presentations,
    engaged_trials,
    performance_metrics,
    reward_rate,
    rolling_performance,
)
from .project import Project, open_project
from .rasters import spike_rasters
from .responsiveness import gray_screen_window, response_statistics
from .schema import SCHEMA_VERSION
from .spikes import psth, spike_counts, spike_train, spikes_in_window
from .store import open_store, ragged, to_dataframe

__all__ = [
    "SCHEMA_VERSION",
    "AlignmentError",
    "ClusterError",
    "ConcurrentConversionError",
    "DestinationError",
    "InvalidNWBError",
    "ManifestError",
    "MissingFieldError",
    "ProjectAccessError",
    "ProjectInputError",
    "ProjectNotFoundError",
    "QueryError",
    "SchemaVersionError",
    "StoreNotFoundError",
    "TableError",
    "UsageError",
    "Project",
    "VbzarrError",
    "__version__",
    "align",
    "engaged_presentations",
    "engaged_trials",
    "get_channels",
    "get_units",
    "mean_by_container",
    "gray_screen_window",
    "open_project",
    "open_store",
    "performance_metrics",
    "psth",
    "ragged",
    "response_statistics",
    "reward_rate",
    "rolling_performance",
    "spike_counts",
    "spike_rasters",
    "spike_train",
    "spikes_in_window",
    "to_dataframe",
]

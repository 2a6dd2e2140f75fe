"""One error hierarchy for vbzarr: every message says what was expected, what was found, and where.

Each error also inherits the matching built-in exception, so ``except FileNotFoundError`` or
``except ValueError`` in user code keeps working.
"""

from __future__ import annotations


class VbzarrError(Exception):
    """Base class of every error vbzarr raises on purpose."""


class InvalidNWBError(VbzarrError, ValueError):
    """An NWB file is unreadable or not laid out as an Allen Visual Behavior file.

    Parameters
    ----------
    path
        The NWB file.
    field
        The HDF5 path (or table column) that is missing or malformed; ``None`` for the whole file.
    problem
        What was expected and what was found.
    """

    def __init__(self, path: str, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        where = f"{self.path}" if field is None else f"{self.path} [{field}]"
        super().__init__(f"{where}: {problem}")


class MissingFieldError(InvalidNWBError, KeyError):
    """A group or dataset that the stream requires is absent from the NWB file."""

    def __init__(self, path: str, field: str, needed_for: str) -> None:
        super().__init__(path, field, f"expected '{field}' (needed for {needed_for}); it is absent")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class StoreNotFoundError(VbzarrError, FileNotFoundError):
    """No vbzarr store (or project) at a URL."""


class ProjectNotFoundError(StoreNotFoundError):
    """A URL holds no ``manifest.zarr``."""


class ProjectAccessError(VbzarrError, PermissionError):
    """A project's (or store's) location cannot be read: missing bucket, refused credentials, network."""


class ProjectInputError(VbzarrError, ValueError):
    """A release's table (CSV) cannot be read as the AllenSDK reads it.

    Parameters
    ----------
    path
        The CSV file.
    field
        The column that is missing or malformed; ``None`` for the whole file.
    problem
        What was expected and what was found.
    """

    def __init__(self, path: str, field: str | None, problem: str) -> None:
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{self.path}" + (f" [{field}]" if field else "") + f": {problem}")


class DestinationError(VbzarrError, ValueError):
    """A conversion's destination cannot be written: it holds something that is not vbzarr's
    (never deleted or overwritten), it is unwritable, or its bucket does not exist."""


class ClusterError(VbzarrError, ConnectionError):
    """A dask cluster a conversion runs on cannot be reached, or its workers died converting a file."""


class ConcurrentConversionError(VbzarrError, RuntimeError):
    """Another conversion committed the same store to the project meanwhile."""


class ManifestError(VbzarrError, ValueError):
    """The manifest disagrees with the stores it indexes."""


class SchemaVersionError(VbzarrError, ValueError):
    """A store or project was written by a newer vbzarr schema than this reader understands."""


class AlignmentError(VbzarrError, ValueError):
    """Bad arguments to an alignment function (window, rate, events, signal dims)."""


class QueryError(VbzarrError, ValueError):
    """A table query (``events_table(query=...)``) does not evaluate to one flag per row."""


class TableError(VbzarrError, ValueError):
    """A Dataset asked for as a table is not one (one indexed row dim)."""


class UsageError(VbzarrError, ValueError):
    """A command-line argument or option that cannot be used as given."""

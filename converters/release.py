"""A release's tables: the ``project_metadata/*.csv`` files read as the AllenSDK reads them, and
written into a project's manifest (the format :mod:`vbzarr.manifest` reads back).

The conventions follow the AllenSDK's readers (``BehaviorProjectCloudApi`` for VBO,
``VisualBehaviorNeuropixelsProjectCloudApi`` for VBN): same file names, indexes, column order,
list parsing, date parsing and nullable integer columns.
"""

from __future__ import annotations

import ast
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import zarr
from zarr.abc.store import Store

from vbzarr.errors import ManifestError, ProjectInputError, ProjectNotFoundError
from vbzarr.schema import MANIFEST

#: dataset -> {table name: (CSV file in project_metadata/, index)}
TABLES = {
    "visual-behavior-ophys": {
        "behavior_session_table": ("behavior_session_table.csv", "behavior_session_id"),
        "ophys_session_table": ("ophys_session_table.csv", "ophys_session_id"),
        "ophys_experiment_table": ("ophys_experiment_table.csv", "ophys_experiment_id"),
        "ophys_cells_table": ("ophys_cells_table.csv", "cell_roi_id"),
    },
    "visual-behavior-neuropixels": {
        "ecephys_session_table": ("ecephys_sessions.csv", "ecephys_session_id"),
        "behavior_session_table": ("behavior_sessions.csv", "behavior_session_id"),
        "unit_table": ("units.csv", "unit_id"),
        "probe_table": ("probes.csv", "ecephys_probe_id"),
        "channel_table": ("channels.csv", "ecephys_channel_id"),
    },
}
#: Columns holding list-like strings ("['a', 'b']", "[1, 2]") that are parsed into lists.
LIST_COLUMNS = ["ophys_experiment_id", "ophys_container_id", "driver_line", "structure_acronyms"]
#: AllenSDK casts these to nullable Int64 when present.
VBO_INT64 = [
    "session_number",
    "age_in_days",
    "prior_exposures_to_image_set",
    "prior_exposures_to_session_type",
    "prior_exposures_to_omissions",
    "ophys_session_id",
    "imaging_plane_group_count",
    "imaging_plane_group",
    "targeted_areas",
    "num_depths_per_area",
    "num_targeted_structures",
    "cell_specimen_id",
]
VBN_INT64 = [
    "prior_exposures_to_image_set",
    "ecephys_session_id",
    "unit_count",
    "probe_count",
    "channel_count",
]
VBO_ORDER = [
    "behavior_session_id",
    "ophys_session_id",
    "ophys_container_id",
    "mouse_id",
    "indicator",
    "full_genotype",
    "driver_line",
    "cre_line",
    "reporter_line",
    "sex",
    "age_in_days",
    "imaging_depth",
    "targeted_structure",
    "targeted_imaging_depth",
    "imaging_plane_group_count",
    "imaging_plane_group",
    "project_code",
    "session_type",
    "session_number",
    "image_set",
    "behavior_type",
    "passive",
    "experience_level",
    "prior_exposures_to_session_type",
    "prior_exposures_to_image_set",
    "prior_exposures_to_omissions",
    "date_of_acquisition",
    "equipment_name",
    "num_depths_per_area",
    "ophys_experiment_id",
    "num_targeted_structures",
    "published_at",
    "isi_experiment_id",
]


def dataset_of(names: list[str]) -> str:
    """Which dataset a ``project_metadata/`` folder belongs to, from its CSV file names."""
    for dataset, tables in TABLES.items():
        if all(csv in names for csv, _ in tables.values()):
            return dataset
    expected = "; ".join(", ".join(csv for csv, _ in t.values()) for t in TABLES.values())
    raise ProjectNotFoundError(
        f"expected the project_metadata CSVs of a Visual Behavior release ({expected}); found {sorted(names)}"
    )


def _parse_list(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        return ast.literal_eval(value)
    return value


def read_table(
    csv: bytes | str, name: str, index: str, dataset: str, where: str | None = None
) -> pd.DataFrame:
    """One project CSV as the AllenSDK returns it (index, dtypes, lists, dates, column order).

    Raises
    ------
    ProjectInputError
        The CSV cannot be parsed, lacks its index column, has ids that are missing, not integers
        or repeated, or a list column value that is not a list; the message names the file, the
        column and the row.
    """
    where = where or (csv if isinstance(csv, str) else name)
    vbo = dataset == "visual-behavior-ophys"
    try:
        frame = pd.read_csv(
            io.BytesIO(csv) if isinstance(csv, bytes) else csv, dtype={"mouse_id": str} if vbo else None
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise ProjectInputError(where, None, f"expected a CSV table; it does not parse ({err})") from err
    if index not in frame:
        raise ProjectInputError(
            where, index, f"expected the index column {index!r}; found {list(frame.columns)}"
        )
    ids = pd.to_numeric(frame[index], errors="coerce")
    bad = frame.index[ids.isna() | (ids != ids.round())]
    if len(bad):
        raise ProjectInputError(
            where, index, f"expected integer ids; row {int(bad[0]) + 2} holds {frame[index].iloc[bad[0]]!r}"
        )
    frame[index] = ids.astype(np.int64)
    repeated = frame[index][frame[index].duplicated()]
    if len(repeated):
        raise ProjectInputError(where, index, f"expected unique ids; {sorted(set(repeated))[:5]} repeat")
    for col in LIST_COLUMNS:
        if col in frame and not pd.api.types.is_numeric_dtype(frame[col]):
            values = frame[col].astype(object)
            try:
                frame[col] = values.map(_parse_list)
            except (ValueError, SyntaxError) as err:
                row = next(i for i, v in enumerate(values) if _unparsable(v))
                raise ProjectInputError(
                    where,
                    col,
                    f'expected a list like "[1, 2]"; row {row + 2} holds {values.iloc[row]!r} ({err})',
                ) from err
    if vbo and "date_of_acquisition" in frame:
        try:
            frame["date_of_acquisition"] = pd.to_datetime(
                frame["date_of_acquisition"], format="ISO8601", utc=True
            ).astype("datetime64[ns, UTC]")
        except (ValueError, TypeError) as err:
            raise ProjectInputError(
                where, "date_of_acquisition", f"expected ISO 8601 dates ({str(err).splitlines()[0]})"
            ) from err
    nullable = (
        VBO_INT64
        if vbo
        else (VBN_INT64 if name in ("ecephys_session_table", "behavior_session_table") else [])
    )
    for col in nullable:
        if col in frame:
            try:
                frame[col] = frame[col].astype("Int64")
            except (TypeError, ValueError) as err:
                raise ProjectInputError(where, col, f"expected integers or empty cells ({err})") from err
    if vbo and name != "ophys_cells_table":
        first = [c for c in VBO_ORDER if c in frame]
        frame = frame[first + [c for c in frame.columns if c not in first]]
    return frame.set_index(index)


def _unparsable(value: Any) -> bool:
    try:
        _parse_list(value)
    except (ValueError, SyntaxError):
        return True
    return False


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def encode_table(frame: pd.DataFrame, name: str = "table") -> tuple[np.ndarray, dict[str, Any]]:
    """A table as the bytes stored in the manifest (a Parquet file) and the attributes that say
    how pandas gets it back exactly: which object columns hold lists (Parquet list columns; a
    missing list is NaN, as the release CSVs give it) or mappings (stored as JSON text)."""
    import pyarrow as pa

    frame = frame.copy()
    lists, mappings = [], []
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        kinds = {type(v) for v in frame[col] if not _missing(v)}
        if kinds and kinds <= {list, tuple}:
            lists.append(str(col))
        elif kinds and kinds <= {dict}:
            mappings.append(str(col))
            frame[col] = [None if _missing(v) else json.dumps(v) for v in frame[col]]
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, engine="pyarrow", compression="zstd", index=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ManifestError(
            f"table {name}: expected columns of one type each (numbers, text, dates, lists or "
            f"mappings); {err}"
        ) from err
    # Parquet keeps the index's values and name; its dtype (nullable Int64 ids) goes here.
    attrs = {
        "format": "parquet",
        "list_columns": lists,
        "json_columns": mappings,
        "index_dtype": str(frame.index.dtype),
    }
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8), attrs


def write_manifest(store: Store, tables: dict[str, pd.DataFrame], attrs: dict[str, Any]) -> None:
    """Write (or replace) the ``manifest`` group of a project session: the tables and attrs."""
    root = zarr.open_group(store, path=MANIFEST, mode="w", zarr_format=3, attributes=attrs)
    for name, frame in tables.items():
        data, table_attrs = encode_table(frame, name)
        arr = root.create_array(
            name,
            shape=data.shape,
            chunks=(max(len(data), 1),),
            dtype=np.uint8,
            compressors=None,  # Parquet compresses its own columns
            attributes={**table_attrs, "rows": len(frame), "index": frame.index.name},
        )
        arr[:] = data

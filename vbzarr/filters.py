"""The AllenSDK's unit, channel and session filters for Neuropixels data, with its names and
defaults (``BehaviorEcephysSession.get_units`` / ``get_channels``,
``VisualBehaviorNeuropixelsProjectCache.get_ecephys_session_table``).

They work on what vbzarr gives: a session's ``units`` or ``channels`` group (or the session's
DataTree), :meth:`Project.units` of many sessions, or the project's ``unit_table`` /
``channel_table`` DataFrames, and return the same kind of object with the rows kept. A selection
of units keeps each unit's own spike offsets, so spikes of the result are still the unit's own.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from .errors import QueryError

Table = TypeVar("Table", xr.Dataset, pd.DataFrame)


def _rows(table: xr.Dataset | xr.DataTree | pd.DataFrame, group: str) -> xr.Dataset | pd.DataFrame:
    if isinstance(table, xr.DataTree):
        node = table[group] if group in table.children else table
        return node.to_dataset()
    return table


def _column(table: xr.Dataset | pd.DataFrame, name: str, what: str) -> np.ndarray:
    """A per-row column (missing text as NaN)."""
    if name not in table:
        columns = list(table.columns) if isinstance(table, pd.DataFrame) else list(table.variables)
        raise QueryError(f"expected a column {name!r} to {what}; the table has {columns}")
    if isinstance(table, pd.DataFrame):
        return table[name].to_numpy()
    var = table[name]
    values = np.asarray(var.values)
    if "missing_text" in var.attrs:
        values = values.astype(object)
        values[values == var.attrs["missing_text"]] = None
    return values


def _keep(table: Table, mask: np.ndarray, dim: str) -> Table:
    if isinstance(table, pd.DataFrame):
        return table[mask]
    return table.isel({dim: np.flatnonzero(mask)})


def get_units(
    units: xr.Dataset | xr.DataTree | pd.DataFrame,
    *,
    filter_by_validity: bool = False,
    filter_out_of_brain_units: bool = False,
    amplitude_cutoff_maximum: float | None = None,
    presence_ratio_minimum: float | None = None,
    isi_violations_maximum: float | None = None,
) -> xr.Dataset | pd.DataFrame:
    """Units passing the AllenSDK's ``get_units`` filters (VBN ``BehaviorEcephysSession``).

    The defaults are the VBN session's: no validity or brain-area filter and no metric
    thresholds. As in the AllenSDK, the three metric comparisons always run, inclusive
    (``amplitude_cutoff <= maximum``, ``presence_ratio >= minimum``, ``isi_violations <=
    maximum``, with an absent threshold meaning no bound), so a unit with a NaN metric is
    always dropped; a threshold of 0 also means no bound there. The Allen quality thresholds
    used in the Visual Coding defaults are ``amplitude_cutoff_maximum=0.1,
    presence_ratio_minimum=0.95, isi_violations_maximum=0.5``.

    Parameters
    ----------
    units
        A ``units`` group (or the session DataTree holding it), :meth:`Project.units`, or the
        project's ``unit_table``.
    filter_by_validity
        Keep units whose peak channel is valid (``valid_data``) and whose ``quality`` is
        ``"good"`` (the ``quality`` column is then dropped, as the AllenSDK does).
    filter_out_of_brain_units
        Keep units whose peak channel has a brain area (``structure_acronym`` not missing).
    amplitude_cutoff_maximum, presence_ratio_minimum, isi_violations_maximum
        Quality-metric thresholds.

    Returns
    -------
    xr.Dataset or pandas.DataFrame
        The kept units, same kind as given (a Dataset keeps its spikes, each unit's own).

    Examples
    --------
    >>> good = vbzarr.get_units(session, amplitude_cutoff_maximum=0.1,
    ...                         presence_ratio_minimum=0.95, isi_violations_maximum=0.5)  # doctest: +SKIP
    >>> vbzarr.psth(good, flashes, np.arange(-0.1, 0.25, 0.01))  # doctest: +SKIP
    """
    table = _rows(units, "units")
    what = "filter units (AllenSDK get_units)"
    keep = np.ones(len(table) if isinstance(table, pd.DataFrame) else table.sizes["unit_id"], dtype=bool)
    if filter_out_of_brain_units:
        keep &= pd.notna(_column(table, "structure_acronym", what))
    if filter_by_validity:
        keep &= _column(table, "valid_data", what).astype(bool)
        keep &= _column(table, "quality", what) == "good"
    # ``or``, as the AllenSDK does: None and 0 both mean no bound.
    bounds = [
        ("amplitude_cutoff", np.less_equal, amplitude_cutoff_maximum or np.inf),
        ("presence_ratio", np.greater_equal, presence_ratio_minimum or -np.inf),
        ("isi_violations", np.less_equal, isi_violations_maximum or np.inf),
    ]
    for name, compare, bound in bounds:
        keep &= compare(np.asarray(_column(table, name, what), dtype=np.float64), bound)
    kept = _keep(table, keep, "unit_id")
    if filter_by_validity:  # the AllenSDK drops the column it filtered on
        return kept.drop(columns="quality") if isinstance(kept, pd.DataFrame) else kept.drop_vars("quality")
    return kept


def get_channels(
    channels: xr.Dataset | xr.DataTree | pd.DataFrame, *, filter_by_validity: bool = True
) -> xr.Dataset | pd.DataFrame:
    """Channels as the AllenSDK's ``get_channels`` returns them: by default only the valid ones
    (``valid_data`` True), without the ``valid_data`` column.

    ``channels`` is a ``channels`` group (or the session DataTree holding it) or the project's
    ``channel_table``.
    """
    table = _rows(channels, "channels")
    if not filter_by_validity:
        return table
    valid = _column(table, "valid_data", "filter channels by validity (AllenSDK get_channels)")
    kept = _keep(table, np.asarray(valid, dtype=bool), "channel_id")
    return kept.drop(columns="valid_data") if isinstance(kept, pd.DataFrame) else kept.drop_vars("valid_data")


def filter_abnormalities(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions without abnormal histology or activity (both columns empty), as the AllenSDK's
    ``get_ecephys_session_table(filter_abnormalities=True)`` keeps them."""
    what = "filter abnormal sessions (AllenSDK get_ecephys_session_table)"
    normal = pd.isna(_column(sessions, "abnormal_histology", what)) & pd.isna(
        _column(sessions, "abnormal_activity", what)
    )
    return sessions[normal]

"""Behavior performance of a change-detection session, as the AllenSDK computes it.

The algorithms follow the AllenSDK's public source (``BehaviorSession.get_performance_metrics``,
``get_rolling_performance_df``, ``get_reward_rate`` and the d-prime helpers they call), written
here for vbzarr's stores:

* **Reward rate** (rewards/min, per trial): a trial counts as rewarded when its first lick after
  the change, later than the start of the response window, comes within 0.75 s of the change
  (hits, but also false alarms and auto-rewarded trials with such a lick, as the AllenSDK counts
  them); the rate at trial ``i`` is the rewarded trials among trials ``[i - 25, i + 25)`` divided
  by the time from the first to the last of their start times. The first 10 trials, and windows
  without time, have none (NaN). Neuropixels trials use ``change_time_no_display_delay``.
* **Hit and false-alarm rates**: over the trials that are not aborted, a rolling mean over 100
  trials (``min_periods=0``) of go responses (1 hit, 0 miss, NaN otherwise) and of catch
  responses (1 false alarm, 0 correct reject); the corrected rates are clipped to
  ``[1 / (2N), 1 - 1 / (2N)]`` with ``N`` the responses counted in the window (NaN without any).
* **d-prime**: ``Z(hit rate) - Z(false-alarm rate)`` of the corrected rolling rates, each clipped
  to ``[0.01, 0.99]``; 0 throughout a passive session (no reward volume, no licks).
* **Engaged** trials: reward rate strictly above ``engaged_trial_reward_rate_threshold`` (2
  rewards/min); a stimulus presentation is engaged when the trial it starts in is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import TableError
from .sessions import sessions_of, store_ids
from .store import to_dataframe

if TYPE_CHECKING:
    from .project import Project

#: Trials of the rolling hit and false-alarm rates.
ROLLING_TRIALS = 100
#: Half-width (trials) and start-up (trials) of the reward rate; a response within this many
#: seconds of the change counts as rewarded.
REWARD_RATE_TRIALS, REWARD_RATE_SKIP, REWARD_WINDOW = 25, 10, 0.75
#: Clipping of the rates before their z-scores in d-prime.
DPRIME_LIMITS = (0.01, 0.99)
#: Reward rate (rewards/min) above which a trial counts as engaged.
ENGAGED_REWARD_RATE = 2.0

_Z = np.vectorize(NormalDist().inv_cdf, otypes=[float])


def _trials(session: xr.DataTree | pd.DataFrame) -> pd.DataFrame:
    if isinstance(session, pd.DataFrame):
        return session
    if "trials" not in session.children:
        raise TableError(f"expected a session with a 'trials' group; found {list(session.children)}")
    return to_dataframe(session["trials"].to_dataset())


def _response_window_start(attrs: Mapping[Any, Any]) -> float:
    """The start (s) of the response window, from a store's root attributes."""
    window = attrs.get("task_parameters", {}).get("response_window_sec")
    if window is None:
        raise TableError("expected task_parameters['response_window_sec'] in the session's attributes")
    return float(window[0])


def reward_rate(session: xr.DataTree) -> np.ndarray:
    """Rewards per minute around each trial, as the AllenSDK's ``get_reward_rate()``.

    Parameters
    ----------
    session
        A session store (``project.ophys_experiment(id)``, ``project.behavior_session(id)``,
        ``project.ecephys_session(id)`` or ``vbzarr.open_store(url)``).

    Returns
    -------
    numpy.ndarray
        One value per trial (NaN for the first ``REWARD_RATE_SKIP`` trials).
    """
    trials = _trials(session)
    return _reward_rate(trials, _response_window_start(session.attrs))


def _change_times(trials: pd.DataFrame) -> np.ndarray:
    column = "change_time" if "change_time" in trials else "change_time_no_display_delay"
    return trials[column].to_numpy(dtype=float)


def _reward_rate(trials: pd.DataFrame, window_start: float) -> np.ndarray:
    latency = np.array(
        [
            next((lick - change for lick in licks if lick - change > window_start), np.inf)
            for licks, change in zip(trials["lick_times"], _change_times(trials), strict=True)
        ],
        dtype=float,
    )
    starts = trials["start_time"].to_numpy(dtype=float)
    n = len(trials)
    rate = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(REWARD_RATE_SKIP, n):
            lo, hi = max(0, i - REWARD_RATE_TRIALS), min(i + REWARD_RATE_TRIALS, n)
            rewarded = np.count_nonzero(latency[lo:hi] < REWARD_WINDOW)
            rate[i] = rewarded / (starts[hi - 1] - starts[lo]) * 60
    rate[~np.isfinite(rate)] = np.nan  # a window without time
    return rate


def _responses(trials: pd.DataFrame, yes: str, no: str) -> pd.Series:
    """1 for ``yes``, 0 for ``no``, NaN otherwise, over the trials that are not aborted."""
    kept = trials[~trials["aborted"].astype(bool)]
    out = pd.Series(np.nan, index=kept.index)
    out[kept[yes].astype(bool)] = 1.0
    out[kept[no].astype(bool)] = 0.0
    return out


def _rates(responses: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Raw and trial-count-corrected rolling rates."""
    rolling = responses.rolling(ROLLING_TRIALS, min_periods=0)
    raw, count = rolling.mean(), rolling.count()
    low, high = 1 / (2 * count), 1 - 1 / (2 * count)
    corrected = raw.clip(lower=low, upper=high).where(count > 0)
    return raw, corrected


def _dprime(hit_rate: pd.Series, false_alarm_rate: pd.Series) -> pd.Series:
    lo, hi = DPRIME_LIMITS
    both = hit_rate.notna() & false_alarm_rate.notna()
    out = pd.Series(np.nan, index=hit_rate.index)
    out[both] = _Z(hit_rate[both].clip(lo, hi)) - _Z(false_alarm_rate[both].clip(lo, hi))
    return out


def rolling_performance(session: xr.DataTree) -> pd.DataFrame:
    """Rolling performance per trial, as the AllenSDK's ``get_rolling_performance_df()``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``trials_id``: ``reward_rate``, ``hit_rate_raw``, ``hit_rate``,
        ``false_alarm_rate_raw``, ``false_alarm_rate``, ``rolling_dprime`` (rates NaN on aborted
        trials).
    """
    return _rolling(_trials(session), _response_window_start(session.attrs))


def _rolling(trials: pd.DataFrame, window_start: float) -> pd.DataFrame:
    out = pd.DataFrame(index=trials.index)
    out["reward_rate"] = _reward_rate(trials, window_start)
    hit_raw, hit = _rates(_responses(trials, "hit", "miss"))
    fa_raw, fa = _rates(_responses(trials, "false_alarm", "correct_reject"))
    out["hit_rate_raw"], out["hit_rate"] = hit_raw, hit
    out["false_alarm_rate_raw"], out["false_alarm_rate"] = fa_raw, fa
    passive = not (trials["reward_volume"] > 0).any() and not any(len(x) for x in trials["lick_times"])
    out["rolling_dprime"] = 0.0 if passive else _dprime(hit, fa)
    return out


def performance_metrics(
    session: xr.DataTree, engaged_trial_reward_rate_threshold: float = ENGAGED_REWARD_RATE
) -> dict[str, Any]:
    """Session performance, as the AllenSDK's ``get_performance_metrics()``: trial counts,
    rewards, hit and false-alarm rates (raw and corrected), d-prime, and their engaged variants."""
    rewards = session["rewards"].to_dataset() if "rewards" in session.children else None
    volume = np.zeros(0) if rewards is None else np.asarray(rewards["volume"].values, dtype=float)
    window_start = _response_window_start(session.attrs)
    return _metrics(_trials(session), volume, window_start, engaged_trial_reward_rate_threshold)


def _metrics(
    trials: pd.DataFrame, volume: np.ndarray, window_start: float, threshold: float
) -> dict[str, Any]:
    """:func:`performance_metrics` from a session's trials, reward volumes and response window."""
    rolling = _rolling(trials, window_start)
    engaged = rolling["reward_rate"] > threshold
    flags = ("go", "catch", "hit", "miss", "false_alarm", "correct_reject", "auto_rewarded")
    count = {c: int(trials[c].astype(bool).sum()) for c in flags}
    return {
        "trial_count": len(trials),
        "go_trial_count": count["go"],
        "catch_trial_count": count["catch"],
        "hit_trial_count": count["hit"],
        "miss_trial_count": count["miss"],
        "false_alarm_trial_count": count["false_alarm"],
        "correct_reject_trial_count": count["correct_reject"],
        "auto_reward_count": count["auto_rewarded"],
        "earned_reward_count": count["hit"],
        "total_reward_count": len(volume),
        "total_reward_volume": float(volume.sum()),
        "maximum_reward_rate": float(rolling["reward_rate"].max()),  # NaN without any
        "engaged_trial_count": int(engaged.sum()),
        "mean_hit_rate": rolling["hit_rate"].mean(),
        "mean_hit_rate_uncorrected": rolling["hit_rate_raw"].mean(),
        "mean_hit_rate_engaged": rolling["hit_rate"][engaged].mean(),
        "mean_false_alarm_rate": rolling["false_alarm_rate"].mean(),
        "mean_false_alarm_rate_uncorrected": rolling["false_alarm_rate_raw"].mean(),
        "mean_false_alarm_rate_engaged": rolling["false_alarm_rate"][engaged].mean(),
        "mean_dprime": rolling["rolling_dprime"].mean(),
        "mean_dprime_engaged": rolling["rolling_dprime"][engaged].mean(),
        "max_dprime": rolling["rolling_dprime"].max(),
        "max_dprime_engaged": rolling["rolling_dprime"][engaged].max(),
    }


def engaged_trials(session: xr.DataTree, threshold: float = ENGAGED_REWARD_RATE) -> pd.Series:
    """Whether the mouse was engaged in each trial: its reward rate above ``threshold``
    (rewards/min), as the AllenSDK counts engaged trials. Indexed by ``trials_id``."""
    trials = _trials(session)
    engaged = _engaged(trials, _response_window_start(session.attrs), threshold)
    return pd.Series(engaged, index=trials.index, name="engaged")


def engaged_presentations(session: xr.DataTree, threshold: float = ENGAGED_REWARD_RATE) -> pd.Series:
    """Engagement of each stimulus presentation: that of the trial it starts in (False outside
    the task's trials, e.g. gray screens and passive blocks). Indexed by
    ``stimulus_presentations_id``, ready to add as a column before :func:`vbzarr.align`."""
    trials = _trials(session)
    engaged = _engaged(trials, _response_window_start(session.attrs), threshold)
    presentations = to_dataframe(session["stimulus_presentations"].to_dataset())
    flags = _engaged_at(trials, engaged, presentations["start_time"].to_numpy(dtype=float))
    return pd.Series(flags, index=presentations.index, name="engaged")


def _engaged(trials: pd.DataFrame, window_start: float, threshold: float) -> np.ndarray:
    return _reward_rate(trials, window_start) > threshold


def _engaged_at(trials: pd.DataFrame, engaged: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The engagement of the trial each of ``starts`` falls in (False outside every trial)."""
    k = np.searchsorted(trials["start_time"].to_numpy(dtype=float), starts, side="right") - 1
    inside = (k >= 0) & (starts < trials["stop_time"].to_numpy(dtype=float)[np.clip(k, 0, None)])
    out = np.zeros(len(starts), dtype=bool)
    out[inside] = engaged[k[inside]]
    return out


def engaged_rows(project: Project, kind: str, store_id: int, table: str, rows: pd.DataFrame) -> np.ndarray:
    """``engaged`` for ``rows``, the table ``table`` (``trials`` or ``stimulus_presentations``)
    of one store of ``project``, already read: only the trials (when the rows are not them) and
    the root attributes are read here."""
    if table not in ("trials", "stimulus_presentations"):
        raise TableError(f"expected engagement for 'trials' or 'stimulus_presentations'; got {table!r}")
    root = project._roots([project._store_path(kind, store_id)])[0]
    window_start = _response_window_start(dict(root.attrs))
    trials = rows if table == "trials" else to_dataframe(project.group(kind, store_id, "trials", dask=False))
    engaged = _engaged(trials, window_start, ENGAGED_REWARD_RATE)
    return (
        engaged
        if table == "trials"
        else _engaged_at(trials, engaged, rows["start_time"].to_numpy(dtype=float))
    )


def performance_table(
    project: Project, ids: Iterable[int] | pd.DataFrame | None, kind: str | None
) -> pd.DataFrame:
    """:func:`performance_metrics` of sessions of ``project``, one row each (see
    :meth:`Project.performance_metrics`)."""
    sessions = sessions_of(project.dataset)
    kind = kind or sessions.kind
    key = f"{kind}_id"
    ids = store_ids(project, kind, ids)
    # Only what the metrics read: the trials and rewards groups and the root attributes, a batch
    # of sessions at a time (not every store's whole tree).
    roots = project._roots([project._store_path(kind, i) for i in ids])
    windows = {i: _response_window_start(dict(r.attrs)) for i, r in zip(ids, roots, strict=True)}
    volumes = {
        i: np.asarray(ds["volume"].values, float)
        for i, ds in project._each_group(kind, ids, "rewards", load=True)
    }
    rows = {
        i: _metrics(to_dataframe(ds), volumes[i], windows[i], ENGAGED_REWARD_RATE)
        for i, ds in project._each_group(kind, ids, "trials", load=True)
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(key)

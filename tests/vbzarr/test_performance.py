"""Behavior performance against slow, obviously-correct loops written from the AllenSDK's
definitions, on drawn trial tables and on converted stores (VBO and VBN, behavior-only too)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vbzarr
from vbzarr import performance

#: The AllenSDK's keys of get_performance_metrics(), in its order.
ALLENSDK_KEYS = [
    "trial_count",
    "go_trial_count",
    "catch_trial_count",
    "hit_trial_count",
    "miss_trial_count",
    "false_alarm_trial_count",
    "correct_reject_trial_count",
    "auto_reward_count",
    "earned_reward_count",
    "total_reward_count",
    "total_reward_volume",
    "maximum_reward_rate",
    "engaged_trial_count",
    "mean_hit_rate",
    "mean_hit_rate_uncorrected",
    "mean_hit_rate_engaged",
    "mean_false_alarm_rate",
    "mean_false_alarm_rate_uncorrected",
    "mean_false_alarm_rate_engaged",
    "mean_dprime",
    "mean_dprime_engaged",
    "max_dprime",
    "max_dprime_engaged",
]
OUTCOMES = ["hit", "miss", "false_alarm", "correct_reject", "auto_rewarded", "aborted"]


@st.composite
def trial_tables(draw) -> pd.DataFrame:
    """A change-detection trials table: one outcome per trial, consistent flags, licks."""
    n = draw(st.integers(0, 30) | st.integers(100, 450))  # long enough for the rolling windows
    outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=n, max_size=n))
    gaps = draw(st.lists(st.floats(0.0, 9.0), min_size=n, max_size=n))  # 0: trials at one time
    rows, t = [], 10.0
    for outcome, gap in zip(outcomes, gaps, strict=True):
        change = math.nan if outcome == "aborted" else t + draw(st.floats(1.0, 4.0))
        licks = sorted(draw(st.lists(st.floats(t, t + 8.0), max_size=4)))
        rows.append(
            {
                "start_time": t,
                "stop_time": t + gap,
                "change_time": change,
                "go": outcome in ("hit", "miss"),
                "catch": outcome in ("false_alarm", "correct_reject"),
                "lick_times": np.array(licks),
                "reward_volume": 0.007 if outcome in ("hit", "auto_rewarded") else 0.0,
                **{o: outcome == o for o in OUTCOMES},
            }
        )
        t += gap
    columns = [
        "start_time",
        "stop_time",
        "change_time",
        "go",
        "catch",
        "lick_times",
        "reward_volume",
        *OUTCOMES,
    ]
    return pd.DataFrame(rows, columns=columns, index=pd.RangeIndex(n, name="trials_id"))


def slow_reward_rate(trials: pd.DataFrame, window_start: float) -> list[float]:
    latency = []
    for _, trial in trials.iterrows():
        after = [
            lick - trial.change_time for lick in trial.lick_times if lick - trial.change_time > window_start
        ]
        latency.append(after[0] if after else math.inf)
    rates = []
    for i in range(len(trials)):
        if i < 10:
            rates.append(math.nan)
            continue
        window = range(max(0, i - 25), min(i + 25, len(trials)))
        rewarded = sum(1 for j in window if latency[j] < 0.75)
        elapsed = trials.start_time.iloc[window[-1]] - trials.start_time.iloc[window[0]]
        rate = math.nan if elapsed == 0 else rewarded / elapsed * 60
        rates.append(rate)
    return rates


def slow_rates(trials: pd.DataFrame, yes: str, no: str) -> tuple[dict, dict]:
    kept = [i for i in range(len(trials)) if not trials.aborted.iloc[i]]
    raw, corrected = {}, {}
    for k, i in enumerate(kept):
        values = []
        for j in kept[max(0, k - 99) : k + 1]:
            if trials[yes].iloc[j]:
                values.append(1.0)
            elif trials[no].iloc[j]:
                values.append(0.0)
        n = len(values)
        raw[i] = sum(values) / n if n else math.nan
        corrected[i] = math.nan if n == 0 else min(max(raw[i], 1 / (2 * n)), 1 - 1 / (2 * n))
    return raw, corrected


def slow_dprime(hit: float, fa: float) -> float:
    if math.isnan(hit) or math.isnan(fa):
        return math.nan
    z = NormalDist().inv_cdf
    return z(min(max(hit, 0.01), 0.99)) - z(min(max(fa, 0.01), 0.99))


def assert_close(got, expected) -> None:
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(expected, float), rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(trials=trial_tables(), window_start=st.sampled_from([0.0, 0.15]))
def test_rolling_performance_equals_slow_loops(trials, window_start):
    table = performance._rolling(trials, window_start)
    assert list(table.columns) == [
        "reward_rate",
        "hit_rate_raw",
        "hit_rate",
        "false_alarm_rate_raw",
        "false_alarm_rate",
        "rolling_dprime",
    ]
    assert table.index.equals(trials.index)
    assert_close(table.reward_rate, slow_reward_rate(trials, window_start))
    hit_raw, hit = slow_rates(trials, "hit", "miss")
    fa_raw, fa = slow_rates(trials, "false_alarm", "correct_reject")
    nan = math.nan
    for name, values in [("hit_rate_raw", hit_raw), ("hit_rate", hit), ("false_alarm_rate_raw", fa_raw)]:
        assert_close(table[name], [values.get(i, nan) for i in range(len(trials))])
    assert_close(table.false_alarm_rate, [fa.get(i, nan) for i in range(len(trials))])
    passive = not (trials.reward_volume > 0).any() and not any(len(x) for x in trials.lick_times)
    expected = [0.0 if passive else slow_dprime(hit.get(i, nan), fa.get(i, nan)) for i in range(len(trials))]
    assert_close(table.rolling_dprime, expected)


def test_values_the_allensdk_gives_on_a_toy_sequence():
    # Three hits: corrected rates 0.5, 0.75, 0.8333 (1 - 1/(2N) clips 1.0); then a miss: 0.75.
    trials = pd.DataFrame({"hit": [True] * 3 + [False], "miss": [False] * 3 + [True], "aborted": False})
    raw, corrected = performance._rates(performance._responses(trials, "hit", "miss"))
    assert_close(raw, [1.0, 1.0, 1.0, 0.75])
    assert_close(corrected, [0.5, 0.75, 5 / 6, 0.75])
    assert performance._dprime(pd.Series([1.0]), pd.Series([0.0]))[0] == pytest.approx(4.6527, abs=1e-4)


def test_metrics_of_converted_stores(vbo_converted, vbn_converted):
    for url in (vbo_converted, vbn_converted):
        project = vbzarr.open_project(url)
        for kind, ids in project.stores.groupby("kind")["id"]:
            for sid in ids[:2]:  # two sessions of each kind
                session = project.store(kind, int(sid))
                trials = vbzarr.to_dataframe(session["trials"].to_dataset())
                metrics = vbzarr.performance_metrics(session)
                assert list(metrics) == ALLENSDK_KEYS
                for flag in ("go", "catch", "hit", "miss", "false_alarm", "correct_reject"):
                    assert metrics[f"{flag}_trial_count"] == trials[flag].sum()
                assert metrics["auto_reward_count"] == trials.auto_rewarded.sum()
                rewards = session["rewards"].to_dataset()
                assert metrics["total_reward_count"] == rewards.sizes["reward"]
                assert metrics["total_reward_volume"] == pytest.approx(float(rewards.volume.sum()))
                rolling = vbzarr.rolling_performance(session)
                window_start = session.attrs["task_parameters"]["response_window_sec"][0]
                times = trials.rename(columns={"change_time_no_display_delay": "change_time"})
                assert_close(rolling.reward_rate, slow_reward_rate(times, window_start))
                assert_close(vbzarr.reward_rate(session), rolling.reward_rate)
                engaged = rolling.reward_rate > 2
                assert metrics["engaged_trial_count"] == engaged.sum()
                expected = rolling.rolling_dprime[engaged].mean()
                assert metrics["mean_dprime_engaged"] == pytest.approx(expected, nan_ok=True)
        table = project.performance_metrics()
        kind = "ophys_experiment" if "ophys_experiment_table" in project.table_names else "ecephys_session"
        first = int(table.index[0])
        assert table.index.name == f"{kind}_id" and list(table.columns) == ALLENSDK_KEYS
        expected = vbzarr.performance_metrics(project.store(kind, first))
        pd.testing.assert_series_equal(
            table.loc[first].astype(float), pd.Series(expected, name=first, dtype=float)
        )


def test_engagement_of_trials_and_presentations(vbo_converted):
    project = vbzarr.open_project(vbo_converted)
    eid = int(project.ophys_experiment_table.index[0])
    session = project.ophys_experiment(eid)
    trials = vbzarr.to_dataframe(session["trials"].to_dataset())
    engaged = vbzarr.engaged_trials(session)
    assert engaged.equals(vbzarr.rolling_performance(session).reward_rate > 2)
    presentations = vbzarr.to_dataframe(session["stimulus_presentations"].to_dataset())
    flags = vbzarr.engaged_presentations(session)
    assert flags.index.equals(presentations.index) and flags.any() and not flags.all()
    for pid, start in presentations.start_time.items():  # the trial each presentation starts in
        inside = trials[(trials.start_time <= start) & (start < trials.stop_time)]
        assert flags[pid] == (len(inside) == 1 and bool(engaged[inside.index[0]]))
    # Across sessions, before the query: the column selects engaged changes.
    changes = project.events_table([eid], query="is_change and engaged", engagement=True)
    assert changes.engaged.all() and len(changes) == (presentations.is_change & flags).sum()


def check_performance_against_the_nwb(f, store) -> None:
    """Rolling performance of the store equals the AllenSDK's algorithm (slow loops) run on the
    NWB's own trials, read with h5py."""
    trials_group = f["intervals/trials"]
    ends = trials_group["lick_times_index"][:].astype(int)
    licks = trials_group["lick_times"][:]
    change = "change_time" if "change_time" in trials_group else "change_time_no_display_delay"
    columns = ["start_time", change, "reward_volume", "aborted", "hit", "miss", "false_alarm"]
    trials = pd.DataFrame({c: trials_group[c][:] for c in [*columns, "correct_reject"]})
    trials = trials.rename(columns={change: "change_time"})
    trials["lick_times"] = [licks[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True)]
    window_start = float(f["general/task_parameters"].attrs["response_window_sec"][0])
    rolling = vbzarr.rolling_performance(store)
    np.testing.assert_allclose(rolling.reward_rate, slow_reward_rate(trials, window_start), rtol=1e-12)
    hit_raw, hit = slow_rates(trials, "hit", "miss")
    _, fa = slow_rates(trials, "false_alarm", "correct_reject")
    n = len(trials)
    np.testing.assert_allclose(rolling.hit_rate_raw, [hit_raw.get(i, np.nan) for i in range(n)], rtol=1e-12)
    np.testing.assert_allclose(rolling.hit_rate, [hit.get(i, np.nan) for i in range(n)], rtol=1e-12)
    np.testing.assert_allclose(rolling.false_alarm_rate, [fa.get(i, np.nan) for i in range(n)], rtol=1e-12)
    passive = not (trials.reward_volume > 0).any() and not any(len(x) for x in trials.lick_times)
    dprime = [0.0 if passive else slow_dprime(hit.get(i, np.nan), fa.get(i, np.nan)) for i in range(n)]
    np.testing.assert_allclose(rolling.rolling_dprime, dprime, rtol=1e-12)
    metrics = vbzarr.performance_metrics(store)
    assert metrics["hit_trial_count"] == trials.hit.sum() and metrics["trial_count"] == n
    rewards = f["processing/rewards/volume/data"] if "processing/rewards/volume" in f else []
    assert metrics["total_reward_count"] == len(rewards)

"""liquidity_forward_returns against the real snapshot, computed a second time by hand.

Method of the hand computation (csv module only, on data/snapshot; the run's clock is the
snapshot's newest observation, 2026-03-31, so the holdout starts 2024-03-31):
- weeks: the WALCL dates t from 2024-04-03 (the holdout's first Wednesday) on;
- release day d(t): t + 1 day (Thursday), moved to the next day while it is a weekend or a US
  federal holiday. In the holdout five Thursdays are holidays (OPM's calendar): 2024-07-04,
  2024-11-28, 2025-06-19, 2025-11-27, 2025-12-25, 2026-01-01;
- current vintage: net(t) = WALCL(t)/1000 − WTREGEN(t)/1000 − RRP outstanding on t (that
  day's operation, else the last within 4 days, else 0); point in time: the same with RRP
  outstanding on d(t) (the day the H.4.1 is public; the snapshot holds one vintage, so the
  values are the first published ones); the change is net(t) − net(t − 91 days), with each
  week read on its own release day in the point-in-time class; regime = its sign;
- entry: the asset's first close dated after d(t), within 4 days (NDX closes 16:00 New
  York, bitcoin's bar dated D at 00:00 UTC on D + 1, both before the end of D in New York,
  so a close dated d(t) is known before the release day ends and is not used); exit: the
  last close on or before entry + 7·h days, at most 6 days earlier; kept when entry + 7·h
  days ≤ the clock; forward return ln(exit / entry).
Every holdout week has a 13-week change, so the holdout's 'all' bucket is every such week.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import statistics
from pathlib import Path

import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_forward_returns import liquidity_forward_returns_suite
from flows.registry import load_registry
from transforms import forward_returns

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
CLOCK = dt.date(2026, 3, 31)
HOLDOUT_START = dt.date(2024, 3, 31)
THURSDAY_HOLIDAYS = {dt.date(2024, 7, 4), dt.date(2024, 11, 28), dt.date(2025, 6, 19), dt.date(2025, 11, 27),
                     dt.date(2025, 12, 25), dt.date(2026, 1, 1)}
TICKERS = {"nasdaq_100": "^NDX", "bitcoin": "BTC-USD"}


def _csv(path: Path, date_col: str, value_col: str) -> dict[dt.date, float]:
    with path.open(newline="") as f:
        return {dt.date.fromisoformat(row[date_col]): float(row[value_col])
                for row in csv.DictReader(f) if row[value_col] not in ("", ".")}


WALCL = _csv(SNAPSHOT / "fred" / "WALCL.csv", "date", "value")
WTREGEN = _csv(SNAPSHOT / "fred" / "WTREGEN.csv", "date", "value")
RRP = _csv(SNAPSHOT / "fred" / "RRPONTSYD.csv", "date", "value")


def _rrp_on(day: dt.date) -> float:
    return next((RRP[day - dt.timedelta(days=b)] for b in range(5) if day - dt.timedelta(days=b) in RRP), 0.0)


def _release_day(week: dt.date) -> dt.date:
    day = week + dt.timedelta(days=1)
    while day.weekday() >= 5 or day in THURSDAY_HOLIDAYS:
        day += dt.timedelta(days=1)
    return day


def _net(week: dt.date, point_in_time: bool) -> float:
    rrp_day = _release_day(week) if point_in_time else week
    return WALCL[week] / 1000 - WTREGEN[week] / 1000 - _rrp_on(rrp_day)


def holdout_by_hand(asset: str, horizon: int) -> list[tuple[dt.date, float, str, str]]:
    """(week, forward log return, point-in-time regime, current-vintage regime) of every holdout week."""
    closes = _csv(SNAPSHOT / "prices" / f"{TICKERS[asset]}.csv", "Date", "Close")
    days = sorted(closes)
    out = []
    for week in sorted(w for w in WALCL if w >= HOLDOUT_START):
        release = _release_day(week)
        entry = next((d for d in days if d > release), None)
        if entry is None or (entry - release).days > 4 or entry + dt.timedelta(weeks=horizon) > CLOCK:
            continue
        target = entry + dt.timedelta(weeks=horizon)
        exit_ = max(d for d in days if d <= target)
        assert (target - exit_).days <= 6
        earlier = week - dt.timedelta(days=91)
        regimes = ["expanding" if _net(week, pit) - _net(earlier, pit) > 0 else "contracting" for pit in (True, False)]
        out.append((week, math.log(closes[exit_] / closes[entry]), *regimes))
    return out


@pytest.fixture(scope="module")
def inputs(offline_v1: Path):
    """The builders' inputs from the published snapshot's warehouse, as the pipeline makes them."""
    from flows.pipeline import _inputs, _known
    from transforms import known as pit
    from warehouse import db

    registry = load_registry()
    with db.connect(offline_v1, read_only=True) as con:
        known = _known(con, registry, registry.used())
    return _inputs(registry, {k: pit.current(rows) for k, rows in known.items()}, CLOCK, known)


@pytest.fixture(scope="module")
def table(inputs) -> pl.DataFrame:
    from flows.tables import BUILDERS

    return BUILDERS["liquidity_forward_returns"].build(inputs)


def _row(table: pl.DataFrame, **key) -> dict:
    rows = table.filter(**key).to_dicts()
    assert len(rows) == 1, key
    return rows[0]


@pytest.mark.parametrize("asset,horizon", [("nasdaq_100", 4), ("bitcoin", 13)])
def test_holdout_cells_match_the_hand_computation(table, asset, horizon):
    """The holdout's n, mean, median and hit rate per regime and the regime difference, for
    NDX over 4 weeks and bitcoin over 13, both evidence classes (module docstring)."""
    weeks = holdout_by_hand(asset, horizon)
    assert weeks[0][0] == dt.date(2024, 4, 3)
    for c, position in (("point_in_time", 2), ("current_vintage", 3)):
        groups = {"all": [w[1] for w in weeks],
                  **{r: [w[1] for w in weeks if w[position] == r] for r in ("expanding", "contracting")}}
        for bucket, returns in groups.items():
            row = _row(table, evidence_class=c, sample="holdout", asset=asset, horizon_weeks=horizon, bucket=bucket)
            assert row["n_obs"] == len(returns), (c, bucket)
            assert row["mean_log_return"] == pytest.approx(statistics.fmean(returns), abs=1e-12)
            assert row["median_log_return"] == pytest.approx(statistics.median(returns), abs=1e-12)
            assert row["hit_rate_share"] == pytest.approx(sum(r > 0 for r in returns) / len(returns), abs=1e-12)
        row = _row(table, evidence_class=c, sample="holdout", asset=asset, horizon_weeks=horizon, bucket="all")
        assert row["regime_difference_log_return"] == pytest.approx(
            statistics.fmean(groups["expanding"]) - statistics.fmean(groups["contracting"]), abs=1e-12)
        assert row["first_week"] == weeks[0][0] and row["last_week"] == weeks[-1][0]
        assert row["last_price_date"] <= CLOCK


def test_holdout_interval_is_the_circular_block_bootstrap_done_week_by_week(table):
    """NDX, 4 weeks, holdout, bucket 'all': the interval resampled the slow way. With the
    table's stated draws (numpy default_rng(20261201).integers(0, n, (2000, ceil(n / 13))):
    each row the starts of 13-week circular blocks, the last cut to n weeks), every resample is
    built week by week from the hand-computed returns, its mean taken, and the 2.5 / 97.5 %
    percentiles of the 2,000 means compared with the table's bounds."""
    import numpy as np

    returns = [r for _, r, *_ in holdout_by_hand("nasdaq_100", 4)]
    n, block = len(returns), 13
    starts = np.random.default_rng(20261201).integers(0, n, size=(2000, -(-n // block)))
    means = []
    for row in starts:
        weeks = [(int(s) + i) % n for s in row for i in range(block)][:n]
        means.append(statistics.fmean(returns[w] for w in weeks))
    low, high = np.percentile(means, [2.5, 97.5])
    row = _row(table, evidence_class="point_in_time", sample="holdout", asset="nasdaq_100", horizon_weeks=4,
               bucket="all")
    assert row["block_length_weeks"] == block and row["bootstrap_resamples"] == 2000
    assert row["mean_log_return_ci_low"] == pytest.approx(low, abs=1e-12)
    assert row["mean_log_return_ci_high"] == pytest.approx(high, abs=1e-12)


def test_named_week_ndx_2024_11_27(table):
    """Week 2024-11-27: the H.4.1 came out on Friday 2024-11-29 (Thanksgiving), so the NDX
    entry is Monday 2024-12-02 (close 21,164.60 in the csv; Friday's 20,930.37 was known before
    the release day ended) and the 4-week exit Monday 2024-12-30 (21,197.09): the hand list
    holds ln(21,197.09 / 21,164.60) ≈ 0.00153, and the table's holdout mean includes it."""
    weeks = {w: r for w, r, *_ in holdout_by_hand("nasdaq_100", 4)}
    closes = _csv(SNAPSHOT / "prices" / "^NDX.csv", "Date", "Close")
    assert weeks[dt.date(2024, 11, 27)] == pytest.approx(
        math.log(closes[dt.date(2024, 12, 30)] / closes[dt.date(2024, 12, 2)]), abs=1e-15)
    assert weeks[dt.date(2024, 11, 27)] == pytest.approx(0.001534, abs=1e-6)
    row = _row(table, evidence_class="point_in_time", sample="holdout", asset="nasdaq_100", horizon_weeks=4,
               bucket="all")
    assert row["mean_log_return"] == pytest.approx(statistics.fmean(weeks.values()), abs=1e-12)


def test_two_runs_give_identical_intervals_and_the_seed_decides_them(inputs, table, monkeypatch):
    from flows.tables import BUILDERS

    intervals = [c for c in table.columns if "_ci_" in c]
    again = BUILDERS["liquidity_forward_returns"].build(inputs)
    assert again.select(intervals).equals(table.select(intervals))
    monkeypatch.setattr(forward_returns, "BOOTSTRAP_SEED", forward_returns.BOOTSTRAP_SEED + 1)
    other = BUILDERS["liquidity_forward_returns"].build(inputs)
    assert not other.select(intervals).equals(table.select(intervals))
    # the point estimates do not depend on the seed
    assert other.select("mean_log_return", "n_obs").equals(table.select("mean_log_return", "n_obs"))


def test_point_in_time_ignores_a_later_revision(inputs, table):
    """A WALCL revision published today (+2,000 bn on 2015-06-03) changes the current-vintage
    rows and leaves the point-in-time rows exactly as they were: those read each value as first
    published."""
    from flows.tables import BUILDERS, Inputs

    key, week = "WALCL", dt.date(2015, 6, 3)
    rows = inputs.history[key]
    revised_row = rows.filter(pl.col("obs_date") == week).with_columns(
        pl.col("value") + 2_000_000, pl.lit(dt.datetime(2026, 3, 31, 12)).alias("row_known_at_utc"))
    history = {**inputs.history, key: pl.concat([rows, revised_row]).sort("obs_date", maintain_order=True)}
    from transforms import known as pit

    series = {**inputs.series, key: pit.current(history[key])}
    revised = BUILDERS["liquidity_forward_returns"].build(Inputs(inputs.registry, series, inputs.clock, history))
    pit_rows = pl.col("evidence_class") == "point_in_time"
    assert revised.filter(pit_rows).equals(table.filter(pit_rows))
    assert not revised.filter(~pit_rows).equals(table.filter(~pit_rows))


def test_verdict_rule_and_grid(table):
    assert table.height == 2 * 3 * 5 * 3 * 8
    assert set(table["verdict"]) <= {"supported", "contradicted", "inconclusive"}
    for (c, asset, horizon), part in table.group_by("evidence_class", "asset", "horizon_weeks"):
        assert part["verdict"].n_unique() == 1
        sides = {s: part.filter(sample=s, bucket="all").row(0, named=True) for s in ("in_sample", "holdout")}
        fewest = {s: part.filter(sample=s, conditioning="regime")["n_non_overlapping"].min() for s in sides}
        above = all(sides[s]["regime_difference_ci_low"] is not None and sides[s]["regime_difference_ci_low"] > 0
                    and fewest[s] >= 5 for s in sides)
        assert (part["verdict"][0] == "supported") == above


def test_suite_passes_and_each_rule_can_fail(table):
    suite = liquidity_forward_returns_suite(load_registry(), CLOCK)
    assert validate(suite, table).passed
    first = pl.int_range(pl.len()) == 0
    broken = {
        "mean_within_interval": table.with_columns(
            pl.when(first).then(pl.col("mean_log_return_ci_high") + 1).otherwise(pl.col("mean_log_return"))
            .alias("mean_log_return")),
        "regime_counts_add_up": table.with_columns(
            pl.when(first.over("bucket") & (pl.col("bucket") == "expanding")).then(pl.col("n_obs") + 1)
            .otherwise(pl.col("n_obs")).alias("n_obs")),
        "no_price_after_clock": table.with_columns(
            pl.when(first).then(pl.lit(CLOCK + dt.timedelta(days=1))).otherwise(pl.col("last_price_date"))
            .alias("last_price_date")),
        "no_regime_before_public": table.with_columns(
            pl.when(first).then(pl.lit(-1.0)).otherwise(pl.col("min_entry_after_signal_hours"))
            .alias("min_entry_after_signal_hours")),
        "verdict_follows_rule": table.with_columns(pl.lit("supported").alias("verdict")),
    }
    for check, frame in broken.items():
        failed = {r.check for r in validate(suite, frame).blocking_failures}
        assert check in failed, (check, failed)


def test_bad_input_names_the_table():
    with pytest.raises(ValueError, match="liquidity_forward_returns: closes names no asset"):
        forward_returns.liquidity_forward_returns(pl.DataFrame(), pl.DataFrame(), {}, clock=CLOCK)


def test_an_as_of_date_in_the_first_years_publishes_the_grid_with_no_weeks(inputs):
    """As known on 2005-06-01 no sample has the 156 weeks its quintile breakpoints need: the
    table keeps every row with n_obs 0 (an as-of rebuild does not fail), and its suite passes."""
    from flows.tables import BUILDERS, Inputs
    from transforms import known as pit

    day = dt.date(2005, 6, 1)
    through = pit.end_of_day_utc(day)
    history = {k: rows.filter(pl.col("row_known_at_utc") <= through) for k, rows in inputs.history.items()}
    views = {k: pit.current(rows) for k, rows in history.items()}
    early = BUILDERS["liquidity_forward_returns"].build(
        Inputs(inputs.registry, {k: (v if v.height else None) for k, v in views.items()}, day, history))
    assert early.height == 720 and early["n_obs"].sum() == 0 and set(early["verdict"]) == {"inconclusive"}
    assert validate(liquidity_forward_returns_suite(inputs.registry, day), early).passed

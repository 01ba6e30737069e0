"""Liquidity/asset co-movement tables checked against values computed by hand from the snapshot.

Inputs for the code under test are built the way the pipeline builds them: net liquidity by
`net_liquidity_weekly` from the FRED CSVs (`read_fred_csv` + `in_billions`), closes by
`read_price_csv`. Expected values never come from that code: each test reads the same CSV
rows with Python's `csv` module, builds net liquidity on the named Wednesdays by hand
(WALCL/1000 − WTREGEN/1000 − RRPONTSYD, RRP = that Wednesday's operation or the last one
within 4 days before, else 0), takes each asset's last close on or before the Wednesday
(at most 6 days old), and does the statistics with the textbook formulas in plain Python:
  x_t = ln(net_t / net_{t−7d}),  r_t = ln(close_t / close_{t−7d}),
  corr = Σ(x−x̄)(r−r̄) / √(Σ(x−x̄)² Σ(r−r̄)²),  beta = Σ(x−x̄)(r−r̄) / Σ(x−x̄)².
Units: WALCL and WTREGEN millions USD, RRPONTSYD billions USD (data/snapshot/PROVENANCE.md).

The lead/lag significance test is recomputed the same way (`lead_lag_by_hand`): the lag-1-week
autocorrelations ρx, ρr of the weekly changes over the window, n_eff = n·(1 − p)/(1 + p) with
p = max(ρx·ρr, 0), and the Fisher interval tanh(atanh(corr) ± z/√(n_eff − 3)) with z = 3.090232
from the standard normal table (Φ⁻¹(0.999): 5 % two-sided, Bonferroni over 25 lags).
Constructed series (labelled so) are used only where the real data cannot show a case.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import math
import random
from pathlib import Path

import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_correlation import SUITES
from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv, read_price_csv
from transforms.catalog import TableSpec
from transforms.correlation import (
    CORRELATION_TABLE,
    LEAD_LAG_TABLE,
    TABLE_SPECS,
    lead_lag,
    liquidity_asset_correlation_weekly,
    liquidity_asset_lead_lag,
)
from transforms.liquidity import in_billions, net_liquidity_weekly

FRED = SNAPSHOT_DIR / "fred"
PRICES = SNAPSHOT_DIR / "prices"
TOL = 1e-9
D = dt.date.fromisoformat
WEEK = dt.timedelta(days=7)
CLOCK = D("2026-03-31")  # the snapshot's files are cut at 2026-03-31
REGISTRY = load_registry()
RRP_LOOKBACK = 4  # RRPONTSYD max_age_days: the lookback the pipeline passes to net_liquidity_weekly
ASSETS = {"bitcoin": "BTC-USD", "nasdaq_100": "^NDX", "gold": "GC=F", "mstr": "MSTR", "zcash": "ZEC-USD"}


# --- independent readers: the csv module, nothing from the code under test -------------


def csv_values(path: Path, date_col: str, value_col: str) -> dict[dt.date, float]:
    with path.open(newline="") as f:
        return {D(row[date_col]): float(row[value_col]) for row in csv.DictReader(f)}


WALCL = csv_values(FRED / "WALCL.csv", "date", "value")
WTREGEN = csv_values(FRED / "WTREGEN.csv", "date", "value")
RRP = csv_values(FRED / "RRPONTSYD.csv", "date", "value")
CLOSES = {asset: csv_values(PRICES / f"{ticker}.csv", "Date", "Close") for asset, ticker in ASSETS.items()}
CLOSE_DAYS = {asset: sorted(days) for asset, days in CLOSES.items()}


def net_by_hand(wed: dt.date) -> float:
    """Net liquidity bn on a Wednesday: WALCL/1000 − WTREGEN/1000 − RRP (op that day or the
    last op within 4 days before, else 0)."""
    rrp = next((RRP[wed - dt.timedelta(days=b)] for b in range(RRP_LOOKBACK + 1) if wed - dt.timedelta(days=b) in RRP), 0.0)
    return WALCL[wed] / 1000 - WTREGEN[wed] / 1000 - rrp


def close_by_hand(asset: str, wed: dt.date) -> tuple[float, dt.date] | None:
    """Last close on or before `wed`, at most 6 days before it; None when there is none."""
    days = CLOSE_DAYS[asset]
    i = bisect.bisect_right(days, wed) - 1
    if i < 0 or (wed - days[i]).days > 6:
        return None
    return CLOSES[asset][days[i]], days[i]


def x_by_hand(wed: dt.date) -> float:
    return math.log(net_by_hand(wed) / net_by_hand(wed - WEEK))


def r_by_hand(asset: str, wed: dt.date) -> float | None:
    now, before = close_by_hand(asset, wed), close_by_hand(asset, wed - WEEK)
    if now is None or before is None:
        return None
    return math.log(now[0] / before[0])


def pearson_and_beta(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Textbook Pearson correlation and OLS slope of r on x, two passes, plain Python."""
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    mr = sum(r for _, r in pairs) / n
    sxr = sum((x - mx) * (r - mr) for x, r in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    srr = sum((r - mr) ** 2 for _, r in pairs)
    return sxr / math.sqrt(sxx * srr), sxr / sxx


def wednesdays(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + WEEK * k for k in range((last - first).days // 7 + 1)]


# Φ⁻¹(1 − 0.05 / 25 / 2) = Φ⁻¹(0.999), standard normal table: 3.0902; the single-lag 95 % value 1.96
Z_BONFERRONI_25 = 3.090232306167813
Z_SINGLE_95 = 1.959963984540054


def fisher_interval(corr: float, n_eff: float, z: float = Z_BONFERRONI_25) -> tuple[float, float]:
    half = z / math.sqrt(n_eff - 3)
    return math.tanh(math.atanh(corr) - half), math.tanh(math.atanh(corr) + half)


def n_eff_by_hand(n: int, rho_x: float, rho_r: float) -> float:
    p = max(rho_x * rho_r, 0.0)  # a negative product is not allowed to raise n above n_obs
    return n * (1 - p) / (1 + p)


def lag1_autocorrelation(values: list[float | None]) -> float | None:
    """corr(v_t, v_{t+1}) over consecutive weeks both present; None below 80 % of the pairs."""
    pairs = [(a, b) for a, b in zip(values, values[1:]) if a is not None and b is not None]
    return pearson_and_beta(pairs)[0] if len(pairs) >= max(3, math.ceil(0.8 * (len(values) - 1))) else None


def lead_lag_from_changes(x: list[float], r: list[float | None], lags: range = range(-12, 13)) -> dict:
    """The documented method on one window's weekly changes (index = week): per lag k the pairs
    (x_t, r_{t+k}) inside the window, Pearson corr (null below 80 % of W − |k|), n_eff, the
    interval, significance; and the best lag = largest |corr| among the significant ones
    (ties: smallest |k|, then the negative one)."""
    weeks = len(x)
    rho_x, rho_r = lag1_autocorrelation(x), lag1_autocorrelation(r)  # type: ignore[arg-type]
    rows = {}
    for k in lags:
        pairs = [(x[t], r[t + k]) for t in range(weeks) if 0 <= t + k < weeks and r[t + k] is not None]
        corr = pearson_and_beta(pairs)[0] if len(pairs) >= max(3, math.ceil(0.8 * (weeks - abs(k)))) else None
        row = {"n_obs": len(pairs), "correlation": corr, "n_effective": None, "ci": None, "significant": False}
        if corr is not None and rho_x is not None and rho_r is not None:
            row["n_effective"] = n_eff_by_hand(len(pairs), rho_x, rho_r)
            row["ci"] = fisher_interval(corr, row["n_effective"])
            row["significant"] = row["ci"][0] > 0 or row["ci"][1] < 0
        rows[k] = row
    significant = [k for k in lags if rows[k]["significant"]]
    best = min(significant, key=lambda k: (-abs(rows[k]["correlation"]), abs(k), k)) if significant else None
    return {"rho_x": rho_x, "rho_r": rho_r, "rows": rows, "best": best}


def lead_lag_by_hand(asset: str, start: dt.date, end: dt.date) -> dict:
    """`lead_lag_from_changes` on the snapshot: x and r of every Wednesday start … end by hand."""
    weeks = wednesdays(start, end)
    return lead_lag_from_changes([x_by_hand(w) for w in weeks], [r_by_hand(asset, w) for w in weeks])


# --- inputs for the code under test, as the pipeline builds them -------------------------


def component(key: str) -> pl.DataFrame:
    spec = REGISTRY.get(key)
    return in_billions(read_fred_csv(FRED / f"{spec.id}.csv", spec.id), spec.to_bn)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def net_weekly() -> pl.DataFrame:
    weekly = net_liquidity_weekly(
        component("WALCL"), component("WTREGEN"), component("RRPONTSYD"), rrp_lookback_days=RRP_LOOKBACK
    )
    return weekly.select("date", pl.col("net_liquidity_bn").alias("value"))


@pytest.fixture(scope="module")
def closes() -> dict[str, pl.DataFrame]:
    return {
        asset: read_price_csv(PRICES / f"{ticker}.csv", ticker).select(pl.col("obs_date").alias("date"), "value")
        for asset, ticker in ASSETS.items()
    }


@pytest.fixture(scope="module")
def table(net_weekly, closes) -> pl.DataFrame:
    return liquidity_asset_correlation_weekly(net_weekly, closes)


@pytest.fixture(scope="module")
def lags(net_weekly, closes) -> pl.DataFrame:
    return liquidity_asset_lead_lag(net_weekly, closes)


def row_of(frame: pl.DataFrame, **where) -> dict:
    rows = frame.filter(*(pl.col(k) == v for k, v in where.items())).to_dicts()
    assert len(rows) == 1, f"expected exactly one row for {where}, found {len(rows)}"
    return rows[0]


# --- rolling correlation and beta ------------------------------------------------------


def test_bitcoin_13_week_window_to_2025_03_26_by_hand(table):
    # The 14 Wednesdays 2024-12-25 … 2025-03-26 give 13 weekly changes (2025-01-01 … 2025-03-26).
    # Raw cells (WALCL m, WTREGEN m, RRP bn [op day], BTC-USD Close):
    #   2024-12-25  6885963  764770  180.989 [12-24, Christmas]  99299.1953125
    #   2025-01-01  6852491  719873  473.46  [12-31, New Year]   94419.7578125
    #   2025-01-08  6853554  652636  185.144                     95043.5234375
    #   2025-01-15  6834070  641225  119.977                    100504.4921875
    #   2025-01-22  6831760  677282  123.981                    103653.0703125
    #   2025-01-29  6818186  784206  121.842                    103703.2109375
    #   2025-02-05  6810935  805593   78.788                     96615.4453125
    #   2025-02-12  6813513  828102   67.67                      97885.859375
    #   2025-02-19  6782332  790062   73.196                     96635.609375
    #   2025-02-26  6766101  681161  126.058                     84347.0234375
    #   2025-03-05  6756764  548331  139.493                     90623.5625
    #   2025-03-12  6759571  512581  131.055                     83722.359375
    #   2025-03-19  6755982  435936  193.378                     86854.2265625
    #   2025-03-26  6740253  360177  241.371                     86900.8828125
    # e.g. net 2025-03-26 = 6740.253 − 360.177 − 241.371 = 6138.705 bn; BTC trades every day,
    # so its weekly close is the Wednesday's own. Textbook formulas (module docstring) give
    # correlation ≈ 0.183838, beta ≈ 0.450259.
    end = D("2025-03-26")
    weeks = wednesdays(D("2025-01-01"), end)
    assert len(weeks) == 13
    assert net_by_hand(end) == pytest.approx(6138.705, abs=TOL)
    assert net_by_hand(D("2025-01-01")) == pytest.approx(6852.491 - 719.873 - 473.46, abs=TOL)
    pairs = [(x_by_hand(w), r_by_hand("bitcoin", w)) for w in weeks]
    corr, beta = pearson_and_beta(pairs)  # type: ignore[arg-type]
    assert corr == pytest.approx(0.183838, abs=5e-7)
    assert beta == pytest.approx(0.450259, abs=5e-7)

    row = row_of(table, date=end, asset="bitcoin", window_weeks=13)
    assert row["n_obs"] == 13
    assert row["correlation"] == pytest.approx(corr, abs=TOL)
    assert row["beta"] == pytest.approx(beta, abs=TOL)
    # and every week's inputs, as stored on its row
    for w, (x, r) in zip(weeks, pairs):
        week = row_of(table, date=w, asset="bitcoin", window_weeks=13)
        assert week["net_liquidity_bn"] == pytest.approx(net_by_hand(w), abs=TOL)
        assert week["liquidity_log_change"] == pytest.approx(x, abs=1e-12)
        assert week["asset_log_return"] == pytest.approx(r, abs=1e-12)
        assert (week["asset_close"], week["asset_close_date"]) == (CLOSES["bitcoin"][w], w)


def test_bitcoin_every_window_and_week_of_2025_by_hand(table):
    # All 2025 Wednesdays of the snapshot, all three windows, recomputed the same way.
    for row in table.filter((pl.col("asset") == "bitcoin") & (pl.col("date").dt.year() == 2025)).iter_rows(named=True):
        weeks = [row["date"] - WEEK * k for k in range(row["window_weeks"])]
        corr, beta = pearson_and_beta([(x_by_hand(w), r_by_hand("bitcoin", w)) for w in weeks])  # type: ignore[misc]
        assert row["n_obs"] == row["window_weeks"], row
        assert row["correlation"] == pytest.approx(corr, abs=TOL), row
        assert row["beta"] == pytest.approx(beta, abs=TOL), row


def test_nasdaq_holiday_wednesdays_use_tuesday_close(table):
    # ^NDX has no row on Wed 2024-12-25 (Christmas) nor Wed 2025-01-01 (New Year): the weekly
    # close is Tuesday's. ^NDX.csv: 2024-12-24 Close 21797.650390625, 2024-12-31 Close
    # 21012.169921875; return for 2025-01-01 = ln(21012.169921875 / 21797.650390625).
    assert D("2024-12-25") not in CLOSES["nasdaq_100"] and D("2025-01-01") not in CLOSES["nasdaq_100"]
    christmas = row_of(table, date=D("2024-12-25"), asset="nasdaq_100", window_weeks=13)
    new_year = row_of(table, date=D("2025-01-01"), asset="nasdaq_100", window_weeks=13)
    assert (christmas["asset_close"], christmas["asset_close_date"]) == (21797.650390625, D("2024-12-24"))
    assert (new_year["asset_close"], new_year["asset_close_date"]) == (21012.169921875, D("2024-12-31"))
    assert new_year["asset_log_return"] == pytest.approx(math.log(21012.169921875 / 21797.650390625), abs=1e-12)
    # the next week compares with that Tuesday: 2025-01-08 Close 21180.970703125
    after = row_of(table, date=D("2025-01-08"), asset="nasdaq_100", window_weeks=13)
    assert after["asset_log_return"] == pytest.approx(math.log(CLOSES["nasdaq_100"][D("2025-01-08")] / 21012.169921875), abs=1e-12)
    # bitcoin trades on the holiday: its own 2025-01-01 close, 94419.7578125
    btc = row_of(table, date=D("2025-01-01"), asset="bitcoin", window_weeks=13)
    assert (btc["asset_close"], btc["asset_close_date"]) == (94419.7578125, D("2025-01-01"))


def test_zcash_hole_gives_null_weeks_and_fewer_pairs(table):
    # ZEC-USD.csv has no row from 2024-12-10 to 2025-01-26 (last 2024-12-09 Close 56.827,
    # next 2025-01-27 Close 42.9488). Wed 2024-12-11 still has a close (12-09, 2 days old);
    # 2024-12-18 … 2025-01-22 have none within 6 days → close and return null; 2025-01-29
    # has a close but no close a week before → return null. 7 weeks without a return.
    assert not [d for d in CLOSES["zcash"] if D("2024-12-10") <= d <= D("2025-01-26")]
    row = row_of(table, date=D("2024-12-11"), asset="zcash", window_weeks=13)
    assert (row["asset_close"], row["asset_close_date"]) == (56.827, D("2024-12-09"))
    for w in wednesdays(D("2024-12-18"), D("2025-01-22")):
        row = row_of(table, date=w, asset="zcash", window_weeks=13)
        assert row["asset_close"] is None and row["asset_close_date"] is None and row["asset_log_return"] is None
    assert row_of(table, date=D("2025-01-29"), asset="zcash", window_weeks=13)["asset_log_return"] is None

    # 13 weeks to 2025-01-29 (2024-11-06 … 2025-01-29): 6 pairs < 11 (80 % of 13) → null
    row = row_of(table, date=D("2025-01-29"), asset="zcash", window_weeks=13)
    assert row["n_obs"] == 6 and row["correlation"] is None and row["beta"] is None

    # 13 weeks to 2025-04-23 (2025-01-29 … 2025-04-23): 2025-01-29 has no return → 12 pairs
    # ≥ 11 → correlation over those 12 weeks only
    weeks = wednesdays(D("2025-01-29"), D("2025-04-23"))
    pairs = [(x_by_hand(w), r_by_hand("zcash", w)) for w in weeks if r_by_hand("zcash", w) is not None]
    assert len(pairs) == 12
    corr, beta = pearson_and_beta(pairs)  # type: ignore[arg-type]
    row = row_of(table, date=D("2025-04-23"), asset="zcash", window_weeks=13)
    assert row["n_obs"] == 12
    assert row["correlation"] == pytest.approx(corr, abs=TOL)
    assert row["beta"] == pytest.approx(beta, abs=TOL)


@pytest.mark.parametrize("asset", list(ASSETS))
def test_weekly_close_is_as_of_backward_for_every_row(table, asset):
    # Whole table: close, its date and the weekly return recomputed with bisect on the CSV dates.
    rows = table.filter((pl.col("asset") == asset) & (pl.col("window_weeks") == 13))
    assert rows["date"].to_list() == sorted(WALCL)  # every Wednesday of the calendar
    for row in rows.iter_rows(named=True):
        wed = row["date"]
        hit = close_by_hand(asset, wed)
        if hit is None:
            assert (row["asset_close"], row["asset_close_date"]) == (None, None), wed
        else:
            assert (row["asset_close"], row["asset_close_date"]) == hit, wed
        r = r_by_hand(asset, wed) if wed - WEEK in WALCL else None
        if r is None:
            assert row["asset_log_return"] is None, wed
        else:
            assert row["asset_log_return"] == pytest.approx(r, abs=1e-12), wed


def test_rows_before_an_asset_starts_are_kept_with_no_observations(table):
    # MSTR.csv starts 2020-08-10: Wednesday 2020-08-05 has no close; 2020-08-12 has one but no
    # return (no close a week before); rows exist on every Wednesday since 2002-12-18.
    early = row_of(table, date=D("2020-08-05"), asset="mstr", window_weeks=52)
    assert early["asset_close"] is None and early["n_obs"] == 0 and early["correlation"] is None
    first = row_of(table, date=D("2020-08-12"), asset="mstr", window_weeks=13)
    assert first["asset_close"] == CLOSES["mstr"][D("2020-08-12")] and first["asset_log_return"] is None
    assert table.filter(pl.col("asset") == "mstr")["date"].min() == min(WALCL) == D("2002-12-18")


def test_missing_asset_gives_null_columns(net_weekly, closes, table):
    out = liquidity_asset_correlation_weekly(net_weekly, {**closes, "mstr": None})
    assert out.schema == table.schema and out.height == table.height
    mstr = out.filter(pl.col("asset") == "mstr")
    assert mstr.height == len(WALCL) * 3
    for col in ("correlation", "beta", "asset_close", "asset_close_date", "asset_log_return"):
        assert mstr[col].null_count() == mstr.height, col
    assert (mstr["n_obs"] == 0).all()
    # the other assets are untouched
    assert out.filter(pl.col("asset") != "mstr").equals(table.filter(pl.col("asset") != "mstr"))

    ll = lead_lag(net_weekly, {"bitcoin": closes["bitcoin"], "mstr": None}, D("2024-01-03"), D("2025-12-31"))
    mstr = ll.filter(pl.col("asset") == "mstr")
    assert mstr.height == 25 and mstr["correlation"].null_count() == 25
    assert (mstr["n_obs"] == 0).all() and not mstr["is_best_lag"].any()
    assert mstr["correlation_ci_low"].null_count() == 25 and mstr["asset_autocorrelation_1w"].null_count() == 25
    assert set(mstr["no_best_lag_reason"]) == {"no lag has a correlation (too few pairs, or a series that does not vary)"}


# --- lead / lag ------------------------------------------------------------------------


def test_lead_lag_table_bitcoin_lag_plus_4_by_hand(lags):
    # Window: the last 156 Wednesdays, 2023-04-05 … 2026-03-25 (2026-03-25 − 155 weeks).
    # Lag +4 (liquidity leads by 4 weeks): pairs (x_t, r_{t+28 days}) with both t and t + 28
    # days in the window → t = 2023-04-05 … 2026-02-25, 152 pairs. x_2023-04-05 uses net of
    # 2023-03-29 (the Wednesday before the window), as its row's weekly change does.
    start, end = D("2023-04-05"), D("2026-03-25")
    assert end - start == WEEK * 155 and end == max(WALCL)
    pairs = [(x_by_hand(t), r_by_hand("bitcoin", t + 4 * WEEK)) for t in wednesdays(start, end - 4 * WEEK)]
    assert len(pairs) == 152
    corr, _ = pearson_and_beta(pairs)  # type: ignore[arg-type]
    row = row_of(lags, asset="bitcoin", lag_weeks=4)
    assert (row["window_start"], row["window_end"], row["n_obs"]) == (start, end, 152)
    assert row["correlation"] == pytest.approx(corr, abs=TOL)


def test_lead_lag_function_nasdaq_lag_minus_2_on_a_named_window(net_weekly, closes):
    # 2024: the 52 Wednesdays 2024-01-03 … 2024-12-25 (Christmas: ^NDX close 2024-12-24).
    # Lag −2 (the asset leads by 2 weeks): pairs (x_t, r_{t−14 days}) with t − 14 days ≥
    # 2024-01-03 → t = 2024-01-17 … 2024-12-25, 50 pairs.
    start, end = D("2024-01-03"), D("2024-12-25")
    pairs = [(x_by_hand(t), r_by_hand("nasdaq_100", t - 2 * WEEK)) for t in wednesdays(start + 2 * WEEK, end)]
    assert len(pairs) == 50
    corr, _ = pearson_and_beta(pairs)  # type: ignore[arg-type]
    out = lead_lag(net_weekly, closes, start, end)
    row = row_of(out, asset="nasdaq_100", lag_weeks=-2)
    assert (row["window_start"], row["window_end"], row["n_obs"]) == (start, end, 50)
    assert row["correlation"] == pytest.approx(corr, abs=TOL)
    # a range given on non-Wednesdays is reported by its first and last Wednesday
    same = lead_lag(net_weekly, closes, D("2024-01-01"), D("2024-12-27"))
    assert same.equals(out)


def test_lead_lag_lags_and_pairs(lags):
    assert lags.schema == TABLE_SPECS[1].schema
    for asset in ASSETS:
        rows = lags.filter(pl.col("asset") == asset).sort("lag_weeks")
        assert rows["lag_weeks"].to_list() == list(range(-12, 13))
    # bitcoin trades every day and the calendar has every Wednesday: W − |k| pairs at every lag
    btc = lags.filter(pl.col("asset") == "bitcoin")
    assert btc["n_obs"].to_list() == [156 - abs(k) for k in range(-12, 13)]


def test_lead_lag_short_window_gives_null_at_long_lags(net_weekly, closes):
    # 13 Wednesdays 2025-01-01 … 2025-03-26: lag ±12 leaves 1 pair (< 3) → null; lag 0 has 13.
    out = lead_lag(net_weekly, closes, D("2025-01-01"), D("2025-03-26"))
    btc = out.filter(pl.col("asset") == "bitcoin")
    assert row_of(btc, lag_weeks=12)["n_obs"] == 1 and row_of(btc, lag_weeks=12)["correlation"] is None
    # lag 0 over this window is the 13-week rolling correlation of 2025-03-26 (≈ 0.183838)
    pairs = [(x_by_hand(w), r_by_hand("bitcoin", w)) for w in wednesdays(D("2025-01-01"), D("2025-03-26"))]
    assert row_of(btc, lag_weeks=0)["correlation"] == pytest.approx(pearson_and_beta(pairs)[0], abs=TOL)  # type: ignore[arg-type]


# --- lead / lag: the significance test -------------------------------------------------

LATEST = (D("2023-04-05"), D("2026-03-25"))  # the table's window: the last 156 Wednesdays


def test_lead_lag_interval_bitcoin_lag_plus_1_by_hand(lags):
    # Window 2023-04-05 … 2026-03-25. ρx: the 155 pairs (x_t, x_{t+1w}), t = 2023-04-05 …
    # 2026-03-18, ≈ −0.033327; ρr the same for BTC-USD, ≈ −0.024141. p = ρx·ρr ≈ 0.000805 > 0,
    # so n_eff = 155·(1 − p)/(1 + p) ≈ 154.7508. Lag +1 (the lag the old rule marked):
    # corr ≈ 0.135128, interval tanh(atanh(0.135128) ± 3.090232/√151.7508) ≈ [−0.114395, 0.368612]:
    # contains 0, so not significant.
    start, end = LATEST
    hand = lead_lag_by_hand("bitcoin", start, end)
    assert hand["rho_x"] == pytest.approx(-0.033327, abs=5e-7)
    assert hand["rho_r"] == pytest.approx(-0.024141, abs=5e-7)
    cell = hand["rows"][1]
    assert cell["n_obs"] == 155 and cell["n_effective"] == pytest.approx(154.750792, abs=5e-6)
    assert cell["correlation"] == pytest.approx(0.135128, abs=5e-7)
    assert cell["ci"] == pytest.approx((-0.114395, 0.368612), abs=5e-7)

    row = row_of(lags, asset="bitcoin", lag_weeks=1)
    assert row["liquidity_autocorrelation_1w"] == pytest.approx(hand["rho_x"], abs=TOL)
    assert row["asset_autocorrelation_1w"] == pytest.approx(hand["rho_r"], abs=TOL)
    assert row["n_effective"] == pytest.approx(cell["n_effective"], abs=TOL)
    assert (row["correlation_ci_low"], row["correlation_ci_high"]) == pytest.approx(cell["ci"], abs=TOL)
    assert row["ci_level_pct"] == pytest.approx(99.8, abs=1e-12)
    assert row["is_significant"] is False and row["is_best_lag"] is False


@pytest.mark.parametrize("asset", list(ASSETS))
def test_lead_lag_every_lag_of_the_latest_window_by_hand(lags, asset):
    start, end = LATEST
    hand = lead_lag_by_hand(asset, start, end)
    for k, cell in hand["rows"].items():
        row = row_of(lags, asset=asset, lag_weeks=k)
        assert row["n_obs"] == cell["n_obs"], k
        assert row["correlation"] == pytest.approx(cell["correlation"], abs=TOL), k
        assert row["n_effective"] == pytest.approx(cell["n_effective"], abs=TOL), k
        assert (row["correlation_ci_low"], row["correlation_ci_high"]) == pytest.approx(cell["ci"], abs=TOL), k
        assert row["is_significant"] == cell["significant"], k
        assert row["is_best_lag"] == (k == hand["best"]), k


# The lags the old rule marked "best" on this window (largest |correlation|, issue 12 point 9),
# with n_obs, n_eff and both intervals recomputed by hand (lead_lag_by_hand):
#   asset       lag  corr       n    n_eff     99.8 % interval (Bonferroni)   single-lag 95 %
#   zcash       −4   −0.211774  145  145.0     [−0.441711, 0.044270]          [−0.362277, −0.050509]
#   mstr        −6   −0.196533  150  150.0     [−0.425183, 0.055696]          [−0.345900, −0.037451]
#   nasdaq_100  +7   −0.150197  149  147.7390  [−0.386946, 0.105129]          [−0.304303, 0.011570]
#   gold        −7   +0.141429  149  147.9044  [−0.113836, 0.379177]          [−0.020434, 0.296067]
#   bitcoin     +1   +0.135128  155  154.7508  [−0.114395, 0.368612]          [−0.023141, 0.286789]
# zcash (ρr ≈ 0.2165, ρx ≈ −0.0333: p < 0, n_eff = n) and mstr would pass a single-lag 95 % test;
# as the largest of 25 correlations they are what noise gives, and the family-wise test says so.
OLD_BEST = {"zcash": (-4, -0.211774, (-0.441711, 0.044270), (-0.362277, -0.050509)),
            "mstr": (-6, -0.196533, (-0.425183, 0.055696), (-0.345900, -0.037451)),
            "nasdaq_100": (7, -0.150197, (-0.386946, 0.105129), (-0.304303, 0.011570)),
            "gold": (-7, 0.141429, (-0.113836, 0.379177), (-0.020434, 0.296067)),
            "bitcoin": (1, 0.135128, (-0.114395, 0.368612), (-0.023141, 0.286789))}


def test_the_0_15_to_0_21_correlations_of_the_latest_window_are_not_marked(lags):
    start, end = LATEST
    for asset, (k, corr, ci, ci_single) in OLD_BEST.items():
        hand = lead_lag_by_hand(asset, start, end)
        cell = hand["rows"][k]
        # still the largest |correlation| of the asset, as it was when it was marked
        assert max(hand["rows"], key=lambda j: abs(hand["rows"][j]["correlation"])) == k, asset
        assert cell["correlation"] == pytest.approx(corr, abs=5e-7), asset
        assert cell["ci"] == pytest.approx(ci, abs=5e-7), asset
        assert fisher_interval(corr, cell["n_effective"], Z_SINGLE_95) == pytest.approx(ci_single, abs=5e-6), asset
        assert hand["best"] is None, asset
        row = row_of(lags, asset=asset, lag_weeks=k)
        assert (row["correlation_ci_low"], row["correlation_ci_high"]) == pytest.approx(cell["ci"], abs=TOL)
        assert row["correlation_ci_low"] < 0 < row["correlation_ci_high"]
    assert not lags["is_best_lag"].any() and not lags["is_significant"].any()
    assert set(lags["no_best_lag_reason"]) == {"no lag is significant: every lag's 99.8 % interval contains 0"}


@pytest.mark.parametrize("window, best, corr, n_eff, ci", [
    # 2017-04-05 … 2020-03-25, ending in the March 2020 crash: ρx ≈ 0.384272, ρr ≈ −0.010506,
    # p < 0 so n_eff = n = 155. Lag −1 (the Nasdaq-100 moves a week before net liquidity):
    # corr ≈ −0.425983, interval ≈ [−0.607929, −0.201531]; the only significant lag.
    ((D("2017-04-05"), D("2020-03-25")), -1, -0.425983, 155.0, (-0.607929, -0.201531)),
    # 2008-04-02 … 2011-03-23: ρx ≈ 0.428681, ρr ≈ 0.076320, p ≈ 0.032717, n_eff = 155·(1 − p)/(1 + p)
    # ≈ 145.1791 of 155 pairs. Four significant lags (−4, −3, +1, +2); the best is +1 (liquidity
    # leads by a week), corr ≈ −0.359488, interval ≈ [−0.561801, −0.116602].
    ((D("2008-04-02"), D("2011-03-23")), 1, -0.359488, 145.179087, (-0.561801, -0.116602)),
])
def test_real_windows_with_a_significant_lag_nasdaq(net_weekly, closes, window, best, corr, n_eff, ci):
    hand = lead_lag_by_hand("nasdaq_100", *window)
    assert hand["best"] == best
    cell = hand["rows"][best]
    assert cell["correlation"] == pytest.approx(corr, abs=5e-7)
    assert cell["n_effective"] == pytest.approx(n_eff, abs=5e-6)
    assert cell["ci"] == pytest.approx(ci, abs=5e-7)
    out = lead_lag(net_weekly, closes, *window).filter(pl.col("asset") == "nasdaq_100")
    for k, cell in hand["rows"].items():
        row = row_of(out, lag_weeks=k)
        assert row["n_effective"] == pytest.approx(cell["n_effective"], abs=TOL), k
        assert (row["correlation_ci_low"], row["correlation_ci_high"]) == pytest.approx(cell["ci"], abs=TOL), k
        assert (row["is_significant"], row["is_best_lag"]) == (cell["significant"], k == best), k
    assert out["no_best_lag_reason"].null_count() == out.height


# --- lead / lag: constructed series (not real data), where the answer is known by construction

CONSTRUCTED_WEEKS = 157  # 156 weekly changes, ending on the snapshot's last Wednesday
CONSTRUCTED_DAYS = [D("2026-03-25") - WEEK * (CONSTRUCTED_WEEKS - 1 - i) for i in range(CONSTRUCTED_WEEKS)]


def constructed_frame(first_level: float, changes: list[float | None]) -> pl.DataFrame:
    """A level series on CONSTRUCTED_DAYS from weekly log changes (None: no close that week)."""
    levels, level = [first_level], first_level
    for change in changes:
        level = level * math.exp(change) if change is not None else level
        levels.append(level if change is not None else None)
    frame = pl.DataFrame({"date": CONSTRUCTED_DAYS, "value": levels}, schema={"date": pl.Date(), "value": pl.Float64()})
    return frame.drop_nulls()


def ar1(rng: random.Random, n: int, phi: float, sd: float) -> list[float]:
    values, previous = [], 0.0
    for _ in range(n):
        previous = phi * previous + rng.gauss(0, sd)
        values.append(previous)
    return values


@pytest.fixture(scope="module")
def constructed():
    """Constructed (seed 2026): x white noise, sd 1 %; `leader` r_t = 2·x_{t−3} + noise (sd 2 %),
    so liquidity leads by 3 weeks with corr ≈ 0.7; `follower` r_t = −1.5·x_{t+2} + noise, so
    the asset moves 2 weeks before liquidity, with the opposite sign."""
    rng = random.Random(2026)
    n = CONSTRUCTED_WEEKS - 1
    x = [rng.gauss(0, 0.01) for _ in range(n)]
    leader = [2 * (x[t - 3] if t >= 3 else 0.0) + rng.gauss(0, 0.02) for t in range(n)]
    follower = [-1.5 * (x[t + 2] if t + 2 < n else 0.0) + rng.gauss(0, 0.02) for t in range(n)]
    closes = {"leader": constructed_frame(100, leader), "follower": constructed_frame(50, follower)}
    table = liquidity_asset_lead_lag(constructed_frame(6000, x), closes)
    return {"x": x, "r": {"leader": leader, "follower": follower}, "table": table}


@pytest.mark.parametrize("asset, best, sign", [("leader", 3, 1), ("follower", -2, -1)])
def test_constructed_clear_relation_is_the_best_lag(constructed, asset, best, sign):
    hand = lead_lag_from_changes(constructed["x"], constructed["r"][asset])
    assert hand["best"] == best
    rows = constructed["table"].filter(pl.col("asset") == asset)
    row = row_of(rows, lag_weeks=best)
    assert row["is_best_lag"] and row["is_significant"] and rows["is_best_lag"].sum() == 1
    # by construction corr(x_t, r_{t+k}) = 0.71 (leader) and −0.6 (follower); the interval is far from 0
    assert sign * row["correlation"] > 0.45
    assert min(abs(row["correlation_ci_low"]), abs(row["correlation_ci_high"])) > 0.2
    cell = hand["rows"][best]
    assert row["correlation"] == pytest.approx(cell["correlation"], abs=TOL)
    assert row["n_effective"] == pytest.approx(cell["n_effective"], abs=TOL)
    assert (row["correlation_ci_low"], row["correlation_ci_high"]) == pytest.approx(cell["ci"], abs=TOL)
    assert row["no_best_lag_reason"] is None


def test_constructed_noise_is_rarely_marked_and_the_bonferroni_level_is_why():
    # Constructed (seed 7): 40 assets of white noise independent of x. A single-lag 95 % test
    # at the best of 25 lags marks about 1 − 0.95^25 ≈ 72 % of them (here 25 of 40); the
    # family-wise 5 % test about 5 % (here 1 of 40).
    rng = random.Random(7)
    n = CONSTRUCTED_WEEKS - 1
    x = [rng.gauss(0, 0.01) for _ in range(n)]
    noise = {f"noise_{i:02d}": [rng.gauss(0, 0.03) for _ in range(n)] for i in range(40)}
    table = liquidity_asset_lead_lag(constructed_frame(6000, x), {a: constructed_frame(100, r) for a, r in noise.items()})
    marked = set(table.filter(pl.col("is_best_lag"))["asset"])
    single = set()
    for asset, r in noise.items():
        hand = lead_lag_from_changes(x, r)
        assert (hand["best"] is not None) == (asset in marked), asset
        if any(fisher_interval(c["correlation"], c["n_effective"], Z_SINGLE_95)[0] > 0
               or fisher_interval(c["correlation"], c["n_effective"], Z_SINGLE_95)[1] < 0 for c in hand["rows"].values()):
            single.add(asset)
    assert len(marked) <= 4 and len(single) >= 20, (len(marked), len(single))


def test_constructed_persistent_series_shrink_n_effective_and_are_not_marked():
    # Constructed (seed 11): x and 30 independent assets, each AR(1) with φ = 0.9. Persistent
    # series wander together by chance; Fisher on n_obs (even at 99.8 %) marks many, the n_eff
    # adjustment (≈ n·(1 − 0.81)/(1 + 0.81) ≈ 0.1·n) marks few (here 26 of 30 against 0 of 30).
    rng = random.Random(11)
    n = CONSTRUCTED_WEEKS - 1
    x = ar1(rng, n, 0.9, 0.01)
    assets = {f"ar_{i:02d}": ar1(rng, n, 0.9, 0.03) for i in range(30)}
    table = liquidity_asset_lead_lag(constructed_frame(6000, x), {a: constructed_frame(100, r) for a, r in assets.items()})
    naive = 0
    for asset, r in assets.items():
        hand = lead_lag_from_changes(x, r)
        rows = table.filter(pl.col("asset") == asset)
        row = row_of(rows, lag_weeks=0)
        assert row["liquidity_autocorrelation_1w"] == pytest.approx(hand["rho_x"], abs=TOL)
        assert row["asset_autocorrelation_1w"] == pytest.approx(hand["rho_r"], abs=TOL)
        assert row["n_effective"] == pytest.approx(n_eff_by_hand(n, hand["rho_x"], hand["rho_r"]), abs=TOL)
        assert row["n_effective"] < 0.3 * n
        assert rows["is_best_lag"].any() == (hand["best"] is not None), asset
        naive += any(abs(math.atanh(c["correlation"])) * math.sqrt(c["n_obs"] - 3) > Z_BONFERRONI_25
                     for c in hand["rows"].values())
    marked = table.filter(pl.col("is_best_lag")).height
    assert marked <= 2 and naive >= 10, (marked, naive)


def test_no_best_lag_reason_when_no_lag_has_an_interval(net_weekly, closes):
    # 13 Wednesdays 2025-01-01 … 2025-03-26 for zcash: ZEC-USD has no close 2024-12-10 …
    # 2025-01-26, so returns only from 2025-02-05: 8 weeks, 7 consecutive pairs < 10 (80 % of
    # 12) → no autocorrelation, so no interval, though lags +8 … +10 have a correlation (5 … 3 pairs)
    out = lead_lag(net_weekly, closes, D("2025-01-01"), D("2025-03-26"))
    zcash = out.filter(pl.col("asset") == "zcash")
    assert row_of(zcash, lag_weeks=10)["n_obs"] == 3 and row_of(zcash, lag_weeks=10)["correlation"] is not None
    assert zcash["asset_autocorrelation_1w"].null_count() == 25 and zcash["n_effective"].null_count() == 25
    assert zcash["correlation_ci_low"].null_count() == 25 and not zcash["is_best_lag"].any()
    assert set(zcash["no_best_lag_reason"]) == {
        "no lag has an interval (too few pairs to estimate the autocorrelations, or n_effective ≤ 3)"}


# --- bad input -------------------------------------------------------------------------


def test_duplicate_dates_raise_naming_table_and_input(net_weekly, closes):
    doubled = pl.concat([closes["gold"], closes["gold"].filter(pl.col("date") == D("2025-01-02"))]).sort("date")
    with pytest.raises(ValueError, match=r"liquidity_asset_correlation_weekly: input closes\['gold'\] has duplicate dates, e\.g\. 2025-01-02"):
        liquidity_asset_correlation_weekly(net_weekly, {**closes, "gold": doubled})
    with pytest.raises(ValueError, match=r"liquidity_asset_lead_lag: input net_weekly has duplicate dates"):
        liquidity_asset_lead_lag(pl.concat([net_weekly, net_weekly.tail(1)]), closes)


def test_empty_or_bad_required_inputs_raise(net_weekly, closes):
    with pytest.raises(ValueError, match="liquidity_asset_correlation_weekly: input net_weekly is empty"):
        liquidity_asset_correlation_weekly(net_weekly.clear(), closes)
    with pytest.raises(ValueError, match=r"liquidity_asset_correlation_weekly: input closes\['bitcoin'\] is empty"):
        liquidity_asset_correlation_weekly(net_weekly, {**closes, "bitcoin": closes["bitcoin"].clear()})
    with pytest.raises(ValueError, match="liquidity_asset_lead_lag: input closes names no asset"):
        liquidity_asset_lead_lag(net_weekly, {})
    with pytest.raises(ValueError, match="liquidity_asset_correlation_weekly: required input net_weekly is None"):
        liquidity_asset_correlation_weekly(None, closes)  # type: ignore[arg-type]
    zero = closes["zcash"].with_columns(pl.when(pl.col("date") == D("2025-02-05")).then(0.0).otherwise(pl.col("value")).alias("value"))
    with pytest.raises(ValueError, match=r"closes\['zcash'\] has a value that is not positive .*2025-02-05"):
        liquidity_asset_correlation_weekly(net_weekly, {**closes, "zcash": zero})
    with pytest.raises(ValueError, match="must have exactly columns date: Date, value: Float64"):
        liquidity_asset_correlation_weekly(net_weekly.rename({"value": "net_liquidity_bn"}), closes)
    with pytest.raises(ValueError, match="liquidity_asset_lead_lag: window_start 2025-03-26 is after window_end 2025-01-01"):
        lead_lag(net_weekly, closes, D("2025-03-26"), D("2025-01-01"))
    with pytest.raises(ValueError, match="liquidity_asset_lead_lag: no Wednesday of net_weekly between"):
        lead_lag(net_weekly, closes, D("2026-04-01"), D("2026-06-01"))


# --- catalog and suites ----------------------------------------------------------------


def test_schema_matches_catalog_and_every_column_is_described(table, lags):
    assert [s.name for s in TABLE_SPECS] == [CORRELATION_TABLE, LEAD_LAG_TABLE]
    assert table.schema == TABLE_SPECS[0].schema
    assert lags.schema == TABLE_SPECS[1].schema
    for spec in TABLE_SPECS:
        assert isinstance(spec, TableSpec) and spec.grain and spec.description
        assert "published" in spec.description and "observation" in spec.description
        assert all(col.description for col in spec.columns.values()), spec.name
    assert "log change" in TABLE_SPECS[0].description and "LEADS" in TABLE_SPECS[1].description
    # the significance test is stated where a user reads the table: test, n_eff formula, level
    lead_lag_text = TABLE_SPECS[1].description
    for words in ("Fisher z interval", "n_effective = n_obs·(1 − p)/(1 + p)", "Bonferroni", "99.8 % per lag",
                  "z = 3.0902"):
        assert words in lead_lag_text, words


def _failed(name: str, frame: pl.DataFrame) -> set[str]:
    result = validate(SUITES[name](REGISTRY, CLOCK), frame)
    return {r.check for r in result.blocking_failures}


def test_suites_pass_on_the_real_tables(table, lags):
    assert _failed(CORRELATION_TABLE, table) == set()
    assert _failed(LEAD_LAG_TABLE, lags) == set()


def _at(frame: pl.DataFrame, column: str, value, **where) -> pl.DataFrame:
    """`frame` with `column` set to `value` on the rows matching `where`."""
    hit = pl.all_horizontal(*(pl.col(k) == v for k, v in where.items()))
    return frame.with_columns(pl.when(hit).then(pl.lit(value, frame.schema[column])).otherwise(pl.col(column)).alias(column))


BTC_ROW = dict(date=D("2025-03-26"), asset="bitcoin", window_weeks=13)

CORRELATION_CORRUPTIONS = {
    "correlation_recomputed": lambda t: t.with_columns(
        pl.when(pl.col("date") == D("2025-03-26")).then(pl.col("correlation") * 0.99).otherwise(pl.col("correlation"))),
    "beta_recomputed": lambda t: _at(t, "beta", 0.46, **BTC_ROW),
    "n_obs_recounted": lambda t: _at(t, "n_obs", 12, **BTC_ROW),
    "n_obs_within_window": lambda t: _at(t, "n_obs", 14, **BTC_ROW),
    "correlation_range": lambda t: _at(t, "correlation", 1.5, **BTC_ROW),
    "liquidity_log_change_definition": lambda t: _at(t, "liquidity_log_change", 0.01, **BTC_ROW),
    "asset_log_return_definition": lambda t: _at(t, "asset_close", 87000.0, **BTC_ROW),
    "close_as_of": lambda t: _at(t, "asset_close_date", D("2025-03-27"), **BTC_ROW),
    "unique_key": lambda t: pl.concat([t, t.filter(pl.all_horizontal(*(pl.col(k) == v for k, v in BTC_ROW.items())))]),
}


@pytest.mark.parametrize("check", list(CORRELATION_CORRUPTIONS))
def test_correlation_suite_fails_on_corrupted_copy(table, check):
    assert check in _failed(CORRELATION_TABLE, CORRELATION_CORRUPTIONS[check](table))


def test_correlation_suite_fails_on_a_correlation_that_should_be_null(table):
    # zcash, 13 weeks to 2025-01-29: 6 pairs → null; a number there must fail the recompute
    bad = _at(table, "correlation", 0.3, date=D("2025-01-29"), asset="zcash", window_weeks=13)
    assert "correlation_recomputed" in _failed(CORRELATION_TABLE, bad)


LEAD_LAG_CORRUPTIONS = {
    # the old rule's mark on a lag whose interval contains 0 (gold −7, 0.141429)
    "best_lag_is_largest_significant_correlation": lambda t: _at(t, "is_best_lag", True, asset="gold", lag_weeks=-7),
    "one_best_lag_per_asset": lambda t: _at(t, "is_best_lag", True, asset="gold", lag_weeks=-7),
    "significant_iff_interval_excludes_zero": lambda t: _at(t, "is_significant", True, asset="zcash", lag_weeks=-4),
    "no_best_lag_reason_iff_none": lambda t: _at(t, "no_best_lag_reason", None, asset="gold"),
    "ci_low_recomputed": lambda t: _at(t, "correlation_ci_low", -0.1, asset="bitcoin", lag_weeks=1),
    "ci_high_recomputed": lambda t: _at(t, "correlation_ci_high", None, asset="bitcoin", lag_weeks=1),
    "ci_contains_correlation/low": lambda t: _at(t, "correlation_ci_low", 0.2, asset="bitcoin", lag_weeks=1),
    "ci_contains_correlation/high": lambda t: _at(t, "correlation_ci_high", 0.1, asset="bitcoin", lag_weeks=1),
    "ci_range/high": lambda t: _at(t, "correlation_ci_high", 1.2, asset="bitcoin", lag_weeks=1),
    "ci_range/low": lambda t: _at(t, "correlation_ci_low", -1.2, asset="bitcoin", lag_weeks=1),
    # n_obs passed off as the effective number: the autocorrelation adjustment skipped
    "n_effective_recomputed": lambda t: t.with_columns(pl.col("n_obs").cast(pl.Float64).alias("n_effective")),
    "n_effective_within_n_obs": lambda t: _at(t, "n_effective", 160.0, asset="bitcoin", lag_weeks=1),
    "ci_level_bonferroni": lambda t: t.with_columns(pl.lit(95.0).alias("ci_level_pct")),
    "autocorrelation_range/asset": lambda t: _at(t, "asset_autocorrelation_1w", 1.5, asset="mstr"),
    "autocorrelation_range/liquidity": lambda t: _at(t, "liquidity_autocorrelation_1w", -1.5, asset="mstr"),
    "one_autocorrelation_per_asset": lambda t: _at(t, "asset_autocorrelation_1w", 0.5, asset="mstr", lag_weeks=0),
    "one_liquidity_autocorrelation": lambda t: _at(t, "liquidity_autocorrelation_1w", 0.5, asset="mstr"),
    "every_lag_per_asset": lambda t: t.filter(~((pl.col("asset") == "mstr") & (pl.col("lag_weeks") == 5))),
    "lag_range": lambda t: _at(t, "lag_weeks", 13, asset="mstr", lag_weeks=12),
    "n_obs_within_window": lambda t: _at(t, "n_obs", 150, asset="bitcoin", lag_weeks=12),
    "minimum_pairs": lambda t: _at(t, "n_obs", 100, asset="bitcoin", lag_weeks=0),
    "correlation_range": lambda t: _at(t, "correlation", -1.2, asset="zcash", lag_weeks=3),
    "one_window_start": lambda t: _at(t, "window_start", D("2023-04-12"), asset="zcash"),
}


@pytest.mark.parametrize("check", list(LEAD_LAG_CORRUPTIONS))
def test_lead_lag_suite_fails_on_corrupted_copy(lags, check):
    # "check/what": one of several corruptions that the same check must catch
    assert check.split("/")[0] in _failed(LEAD_LAG_TABLE, LEAD_LAG_CORRUPTIONS[check](lags))


def test_lead_lag_suite_on_a_table_with_best_lags(constructed):
    # constructed table (leader: best +3, follower: best −2) passes, and fails when the mark
    # is doubled or moved off the largest significant |correlation|
    table = constructed["table"]
    assert _failed(LEAD_LAG_TABLE, table) == set()
    assert "one_best_lag_per_asset" in _failed(LEAD_LAG_TABLE, _at(table, "is_best_lag", True, asset="leader", lag_weeks=0))
    moved = _at(_at(table, "is_best_lag", False, asset="leader"), "is_best_lag", True, asset="leader", lag_weeks=0)
    assert "best_lag_is_largest_significant_correlation" in _failed(LEAD_LAG_TABLE, moved)
    assert "no_best_lag_reason_iff_none" in _failed(
        LEAD_LAG_TABLE, _at(table, "no_best_lag_reason", "no lag is significant", asset="leader"))

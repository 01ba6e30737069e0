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
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import math
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


def test_lead_lag_lags_pairs_and_best_lag(lags):
    assert lags.schema == TABLE_SPECS[1].schema
    for asset in ASSETS:
        rows = lags.filter(pl.col("asset") == asset).sort("lag_weeks")
        assert rows["lag_weeks"].to_list() == list(range(-12, 13))
        best = rows.filter(pl.col("is_best_lag"))
        assert best.height == 1, asset
        # best = largest |correlation|, read off the 25 rows in plain Python
        top = max(rows.iter_rows(named=True), key=lambda r: (abs(r["correlation"]), -abs(r["lag_weeks"])))
        assert best["lag_weeks"][0] == top["lag_weeks"], asset
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


def _best(frame: pl.DataFrame, asset: str) -> int:
    return frame.filter((pl.col("asset") == asset) & pl.col("is_best_lag"))["lag_weeks"][0]


LEAD_LAG_CORRUPTIONS = {
    "one_best_lag_per_asset": lambda t: _at(t, "is_best_lag", True, asset="gold", lag_weeks=0),
    "best_lag_is_largest_abs_correlation": lambda t: _at(
        _at(t, "is_best_lag", False, asset="gold"), "is_best_lag", True, asset="gold", lag_weeks=0),
    "every_lag_per_asset": lambda t: t.filter(~((pl.col("asset") == "mstr") & (pl.col("lag_weeks") == 5))),
    "lag_range": lambda t: _at(t, "lag_weeks", 13, asset="mstr", lag_weeks=12),
    "n_obs_within_window": lambda t: _at(t, "n_obs", 150, asset="bitcoin", lag_weeks=12),
    "minimum_pairs": lambda t: _at(t, "n_obs", 100, asset="bitcoin", lag_weeks=0),
    "correlation_range": lambda t: _at(t, "correlation", -1.2, asset="zcash", lag_weeks=3),
    "one_window_start": lambda t: _at(t, "window_start", D("2023-04-12"), asset="zcash"),
}


@pytest.mark.parametrize("check", list(LEAD_LAG_CORRUPTIONS))
def test_lead_lag_suite_fails_on_corrupted_copy(lags, check):
    assert _best(lags, "gold") != 0  # the premise of the best-lag corruptions
    assert check in _failed(LEAD_LAG_TABLE, LEAD_LAG_CORRUPTIONS[check](lags))

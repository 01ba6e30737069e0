"""transforms/markets.py and its suites, against values computed independently from the snapshot.

Inputs for the code under test are built the way the pipeline builds them: `read_price_csv`
/ `read_fred_csv` on data/snapshot/ → (date, value), the long gold history (GOLD-MONTHLY) through
the file source of its registry entry; 3350.T without its `#VALUE!` row
(2020-10-01, the TSE outage, dropped by the pipeline); GLD shares outstanding from
GLD_shares_outstanding_derived.csv, column shares_outstanding. Expected values never come
from the code under test: each test reads the same CSV cells with Python's `csv` module and
does the arithmetic by hand; dates, raw values and method are written next to every number.

Calendars (PROVENANCE.md, checked against the files below): BTC-USD has a row every UTC day;
MSTR and ^NDX on NYSE/Nasdaq days; GC=F on COMEX days (incl. some US holidays, e.g. 2025-07-04);
3350.T on Tokyo days; JPY=X on FX days. CPIAUCNS has no 2025-10-01 row (never collected).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_markets import SUITES
from flows.registry import load_registry
from flows.sources import file as file_source
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv, read_price_csv
from transforms.known import current, end_of_day_utc, known_rows, with_rule_known_at
from transforms.liquidity import in_billions, net_liquidity_daily
from transforms.markets import (
    TABLE_SPECS,
    asset_ratios_daily,
    gold_cpi_monthly,
    gold_daily,
    gold_real_monthly,
    performance_daily,
    performance_from,
)

FRED = SNAPSHOT_DIR / "fred"
PRICES = SNAPSHOT_DIR / "prices"
D = dt.date.fromisoformat
DAY = dt.timedelta(days=1)
REL = 1e-12
CLOCK = D("2026-03-31")  # every snapshot file is cut at 2026-03-31
REGISTRY = load_registry()
# gold_daily's fallback when no known_at is given: month M's CPI known CPI_LAG days after
# M-01. These tests run it at 45 days (the registry's rule before BLS's release calendar, the
# "obs + 45" of issue 12) so the named dates below stay put; the pipeline passes known_at.
CPI_LAG = 45
FOREIGN_LAG = REGISTRY.get("WMTSECL1").publication_lag_days  # 1
SPECS = {spec.name: spec for spec in TABLE_SPECS}


# --- independent readers: the csv module, nothing from the code under test -------------


def csv_values(path: Path, date_col: str, value_col: str) -> dict[dt.date, str]:
    """date → the value cell exactly as written."""
    with path.open(newline="") as f:
        return {D(row[date_col]): row[value_col] for row in csv.DictReader(f)}


def closes(ticker: str) -> dict[dt.date, str]:
    return csv_values(PRICES / f"{ticker}.csv", "Date", "Close")


BTC, GOLD, NDX, MSTR, TSE, JPY = (closes(t) for t in ("BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "JPY=X"))
CPI = csv_values(FRED / "CPIAUCNS.csv", "date", "value")
# datasets/gold-prices monthly.csv: `Date,Price`, dates YYYY-MM (the month's 1st here)
with (SNAPSHOT_DIR / "other" / "gold_price_monthly_1833_datasets-gold-prices.csv").open(newline="") as _f:
    GOLD_MONTHLY = {D(row["Date"] + "-01"): row["Price"] for row in csv.DictReader(_f)}
# BLS's CPI release dates (obs_date,release_date; '#' lines are its header)
with (Path(__file__).resolve().parents[1] / "flows" / "release_dates" / "bls_cpi.csv").open(newline="") as _f:
    BLS_CPI_RELEASES = {D(row["obs_date"]): D(row["release_date"])
                        for row in csv.DictReader(line for line in _f if not line.startswith("#"))}
SHARES = csv_values(PRICES / "GLD_shares_outstanding_derived.csv", "date", "shares_outstanding")
TREAST = csv_values(FRED / "TREAST.csv", "date", "value")
WALCL, WTREGEN, RRP = (csv_values(FRED / f"{s}.csv", "date", "value") for s in ("WALCL", "WTREGEN", "RRPONTSYD"))


def f(cells: dict[dt.date, str], day: dt.date) -> float:
    return float(cells[day])


# --- inputs for the code under test, as the pipeline builds them -------------------------


def price(ticker: str) -> pl.DataFrame:
    frame = read_price_csv(PRICES / f"{ticker}.csv", ticker).select(pl.col("obs_date").alias("date"), "value")
    return frame.drop_nulls("value")  # only 3350.T's 2020-10-01 `#VALUE!` (asserted below)


def fred(series_id: str, scale: float = 1.0) -> pl.DataFrame:
    return read_fred_csv(FRED / f"{series_id}.csv", series_id).select(
        pl.col("obs_date").alias("date"), pl.col("value") * scale
    )


def gld_shares() -> pl.DataFrame:
    return pl.DataFrame(
        {"date": list(SHARES), "value": [float(v) for v in SHARES.values()]},
        schema={"date": pl.Date, "value": pl.Float64},
    ).sort("date")


def row_of(frame: pl.DataFrame, day: dt.date, **where) -> dict:
    cond = pl.col("date") == day
    for col, val in where.items():
        cond = cond & (pl.col(col) == val)
    rows = frame.filter(cond).to_dicts()
    assert len(rows) == 1, f"expected one row for {day} {where}, found {len(rows)}"
    return rows[0]


def no_row(frame: pl.DataFrame, day: dt.date, **where) -> bool:
    cond = pl.col("date") == day
    for col, val in where.items():
        cond = cond & (pl.col(col) == val)
    return frame.filter(cond).height == 0


@pytest.fixture(scope="module")
def gold() -> pl.DataFrame:
    return gold_daily(
        price("GC=F"), fred("CPIAUCNS"), gld_shares(), None,
        cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG,
    )


@pytest.fixture(scope="module")
def gold_with_weekly() -> pl.DataFrame:
    # WMTSECL1 is not in the snapshot. TREAST (Treasuries held outright, H.4.1 Wednesday level,
    # millions USD → bn) has the same weekly-Wednesday calendar and release, so it stands in
    # to exercise the availability rule on real dates.
    return gold_daily(
        price("GC=F"), fred("CPIAUCNS"), gld_shares(), fred("TREAST", 0.001),
        cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG,
    )


@pytest.fixture(scope="module")
def monthly() -> pl.DataFrame:
    return gold_cpi_monthly(price("GC=F"), fred("CPIAUCNS"))


def gold_long_history() -> pl.DataFrame:
    fetched = file_source.fetch(REGISTRY.get("GOLD-MONTHLY")).frame
    return fetched.select(pl.col("obs_date").alias("date"), "value")


def known_by_rule(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """When each observation became public by the registry's release rule (the pipeline's
    first fetch, after the fact): for CPIAUCNS BLS's dates where listed, else 59 days."""
    return with_rule_known_at(frame.select("date"), REGISTRY.get(key).release_rule())


def real_gold_inputs(long: pl.DataFrame | None, closes: pl.DataFrame, cpi: pl.DataFrame) -> dict:
    known = {"gold_usd_per_oz": known_by_rule(closes, "GC=F"), "cpi_index": known_by_rule(cpi, "CPIAUCNS")}
    if long is not None:
        known["gold_monthly_average_usd_per_oz"] = known_by_rule(long, "GOLD-MONTHLY")
    return {"gold_monthly_average_usd_per_oz": long, "gold_usd_per_oz": closes, "cpi_index": cpi, "known_at": known}


@pytest.fixture(scope="module")
def real_gold() -> pl.DataFrame:
    return gold_real_monthly(**real_gold_inputs(gold_long_history(), price("GC=F"), fred("CPIAUCNS")))


RATIO_INPUTS = ("BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "JPY=X")


@pytest.fixture(scope="module")
def ratios() -> pl.DataFrame:
    return asset_ratios_daily(*(price(t) for t in RATIO_INPUTS))


def net_liquidity() -> pl.DataFrame:
    roles = ("fed_assets", "tga", "rrp")
    comps = {
        r: in_billions(read_fred_csv(FRED / f"{REGISTRY.role(r).id}.csv", REGISTRY.role(r).id), REGISTRY.role(r).to_bn)
        for r in roles
    }
    daily = net_liquidity_daily(
        {r: with_rule_known_at(comps[r], REGISTRY.role(r).release_rule()) for r in roles},
        max_age_days={r: REGISTRY.role(r).max_age_days for r in roles},
        through=CLOCK,
    )
    return daily.select("date", pl.col("net_liquidity_bn").alias("value"))


PERFORMANCE_TICKERS = {
    "bitcoin": "BTC-USD", "gold": "GC=F", "nasdaq_100": "^NDX", "mstr": "MSTR",
    "metaplanet": "3350.T", "zcash": "ZEC-USD", "gld": "GLD",
}


@pytest.fixture(scope="module")
def values() -> dict[str, pl.DataFrame]:
    return {**{name: price(t) for name, t in PERFORMANCE_TICKERS.items()}, "net_liquidity": net_liquidity()}


@pytest.fixture(scope="module")
def performance(values) -> pl.DataFrame:
    return performance_daily(values)


def test_parameters_and_quirks_these_tests_assume():
    assert FOREIGN_LAG == 1
    assert D("2025-10-01") not in CPI and D("2025-09-01") in CPI and D("2025-11-01") in CPI
    assert TSE[D("2020-10-01")] == "#VALUE!"
    dropped = set(TSE) - set(price("3350.T")["date"].to_list())
    assert dropped == {D("2020-10-01")}


def test_every_table_matches_its_spec_and_is_described(gold, monthly, real_gold, ratios, performance):
    built = {"gold_daily": gold, "gold_cpi_monthly": monthly, "gold_real_monthly": real_gold,
             "asset_ratios_daily": ratios, "performance_daily": performance}
    assert set(SPECS) == set(built) == set(SUITES)
    for name, frame in built.items():
        spec = SPECS[name]
        assert frame.schema == spec.schema, name
        assert spec.grain and spec.description and set(spec.key) <= set(spec.columns)
        assert all(len(c.description) > 10 for c in spec.columns.values()), name


# --- gold_daily ---------------------------------------------------------------------------

# (day, CPI month used, real price by hand). Availability without vintages: month M's CPI
# (dated M-01) is known M-01 + 45 d. Real price = GC=F close × 100 / CPI (1982-84 = 100).
GOLD_CPI_CASES = [
    # Wed 2025-10-15: September (2025-09-01) is known 2025-10-16, not yet → August 2025-08-01
    # 323.976 (known 2025-09-15). GC=F close 4176.89990234375 × 100 / 323.976 = 1289.2621374...
    (D("2025-10-15"), D("2025-08-01"), 1289.2621374249172),
    # Thu 2025-10-16: September becomes known (09-01 + 45 d = 10-16) → 324.800.
    # GC=F 4280.2001953125 × 100 / 324.8 = 1317.795...
    (D("2025-10-16"), D("2025-09-01"), 4280.2001953125 * 100 / 324.8),
    # Thu 2025-11-20: October would have been known 2025-11-15, but October 2025 CPI was never
    # collected (no row): September 324.800 is carried, nothing invented.
    # GC=F 4056.5 × 100 / 324.8 = 1248.9224137...
    (D("2025-11-20"), D("2025-09-01"), 1248.9224137931034),
    # Mon 2025-12-15: still September (November is known 2025-11-01 + 45 = 2025-12-16).
    (D("2025-12-15"), D("2025-09-01"), 4306.7001953125 * 100 / 324.8),
    # Tue 2025-12-16: November 324.122. GC=F 4304.5 × 100 / 324.122 = 1328.0493147...
    (D("2025-12-16"), D("2025-11-01"), 1328.0493147641936),
]


@pytest.mark.parametrize(("day", "cpi_month", "real_by_hand"), GOLD_CPI_CASES, ids=lambda v: str(v))
def test_gold_daily_cpi_is_availability_aligned(gold, day, cpi_month, real_by_hand):
    assert cpi_month + dt.timedelta(days=CPI_LAG) <= day  # published by then
    later = [m for m in CPI if cpi_month < m and m + dt.timedelta(days=CPI_LAG) <= day]
    assert later == []  # and nothing newer was
    assert f(GOLD, day) * 100 / f(CPI, cpi_month) == pytest.approx(real_by_hand, rel=REL)
    row = row_of(gold, day)
    assert row["gold_usd_per_oz"] == f(GOLD, day)
    assert row["cpi_obs_month"] == cpi_month
    assert row["cpi_known_date"] == cpi_month + dt.timedelta(days=CPI_LAG)
    assert row["cpi_index"] == f(CPI, cpi_month)
    assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(real_by_hand, rel=REL)


def test_gold_daily_september_cpi_carried_through_the_missing_october(gold):
    # Every gold day from 2025-10-16 (September known) to 2025-12-15 (before November is
    # known) uses September 2025 = 324.800; no row anywhere claims an October observation.
    window = gold.filter(pl.col("date").is_between(D("2025-10-16"), D("2025-12-15")))
    expected_days = sorted(d for d in GOLD if D("2025-10-16") <= d <= D("2025-12-15"))
    assert window["date"].to_list() == expected_days and len(expected_days) > 40
    assert set(window["cpi_obs_month"].to_list()) == {D("2025-09-01")}
    assert set(window["cpi_index"].to_list()) == {324.8}
    assert gold.filter(pl.col("cpi_obs_month") == D("2025-10-01")).height == 0


def test_gold_daily_one_row_per_gc_close_date(gold):
    # Rows are exactly GC=F's dates (incl. 2025-07-04, a COMEX session on a US holiday).
    assert gold["date"].to_list() == sorted(GOLD)
    assert D("2025-07-04") in GOLD and row_of(gold, D("2025-07-04"))["gold_usd_per_oz"] == 3332.5


def test_gold_daily_every_row_uses_newest_published_cpi(gold):
    months = sorted(CPI)
    for row in gold.iter_rows(named=True):
        day = row["date"]
        i = bisect.bisect_right(months, day - dt.timedelta(days=CPI_LAG)) - 1
        assert row["cpi_obs_month"] == months[i], day
        assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(f(GOLD, day) * 100 / f(CPI, months[i]), rel=REL), day


# Real BLS release dates (bls.gov CPI release schedule 2025; ALFRED's first vintage of each
# CPIAUCNS observation, realtime_start, is the release day), each earlier than the old
# approximation obs + 45 days: January 2025 CPI on Wed 2025-02-12 (rule: 02-15), February on
# Wed 2025-03-12 (rule: 03-18), March on Thu 2025-04-10 (rule: 04-15).
CPI_VINTAGES_2025 = {D("2025-01-01"): D("2025-02-12"), D("2025-02-01"): D("2025-03-12"),
                     D("2025-03-01"): D("2025-04-10")}


def cpi_known_at(vintages: dict[dt.date, dt.date]) -> pl.DataFrame:
    """When each CPIAUCNS value became public, as the point-in-time layer says: the months in
    `vintages` with that ALFRED realtime_start, every other month by the registry's release
    rule (fetched 2026-04-01, after the snapshot's cut, so the rule is not overtaken)."""
    months = sorted(CPI)
    history = pl.DataFrame(
        {"obs_date": months, "value": [float(CPI[m]) for m in months], "value_text": [CPI[m] for m in months],
         "realtime_start": [vintages.get(m) for m in months],
         "fetched_at_utc": [dt.datetime(2026, 4, 1)] * len(months), "run_id": ["r"] * len(months)},
        schema_overrides={"realtime_start": pl.Date, "fetched_at_utc": pl.Datetime("us")},
    )
    known = current(known_rows(history, REGISTRY.get("CPIAUCNS").release_rule()))
    return known.select(pl.col("obs_date").alias("date"), "known_at_utc")


def test_gold_daily_uses_a_vintage_earlier_than_the_rule_and_its_check_accepts_it():
    # Issue 12 point 5. With February 2025's vintage (public 2025-03-12, six days before
    # 02-01 + 45 = 03-18), the gold row of Wed 2025-03-12 uses February's 319.082: GC=F
    # 2939.10009765625 × 100 / 319.082 = 921.0986...; Tue 03-11 still has January 317.671
    # (public 02-12): 2912.89990234375 × 100 / 317.671 = 916.956...
    for obs, public in CPI_VINTAGES_2025.items():
        assert public < obs + dt.timedelta(days=45)
    out = gold_daily(
        price("GC=F"), fred("CPIAUCNS"), gld_shares(), None,
        cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG,
        known_at={"cpi_index": cpi_known_at(CPI_VINTAGES_2025)},
    )
    wed = row_of(out, D("2025-03-12"))
    assert (wed["cpi_obs_month"], wed["cpi_known_date"], wed["cpi_index"]) == (D("2025-02-01"), D("2025-03-12"), 319.082)
    assert wed["gold_real_usd_1982_84_per_oz"] == pytest.approx(2939.10009765625 * 100 / 319.082, rel=REL)
    tue = row_of(out, D("2025-03-11"))
    assert (tue["cpi_obs_month"], tue["cpi_known_date"]) == (D("2025-01-01"), D("2025-02-12"))
    assert tue["gold_real_usd_1982_84_per_oz"] == pytest.approx(2912.89990234375 * 100 / 317.671, rel=REL)
    # March 2025's CPI (319.799) from Thu 2025-04-10: GC=F 3155.199951171875 × 100 / 319.799
    thu = row_of(out, D("2025-04-10"))
    assert (thu["cpi_obs_month"], thu["cpi_known_date"], thu["cpi_index"]) == (D("2025-03-01"), D("2025-04-10"), 319.799)
    assert thu["gold_real_usd_1982_84_per_oz"] == pytest.approx(3155.199951171875 * 100 / 319.799, rel=REL)
    # the no-look-ahead check compares with when each value became public, not with the rule
    result = run_suite("gold_daily", out)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)
    # ... and still refuses a value used before that day: 03-11 claiming February's CPI
    early = out.with_columns(
        pl.when(pl.col("date") == D("2025-03-11")).then(pl.lit(D("2025-03-12"))).otherwise(pl.col("cpi_known_date"))
        .alias("cpi_known_date")
    )
    failed = {r.check for r in run_suite("gold_daily", early).blocking_failures}
    assert "no_lookahead_cpi" in failed


def test_gold_daily_late_cpi_is_carried_and_passes():
    # Issue 12 point 2 for gold_daily: CPIAUCNS (warn policy) cut after 2025-09-01, four
    # months of releases missed by 2026-03-31. Every gold day from 2025-10-16 (September
    # known, 09-01 + 45) to 2026-03-31 carries September's 324.800; rows before are unchanged.
    full = gold_daily(price("GC=F"), fred("CPIAUCNS"), gld_shares(), None,
                      cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG)
    late = gold_daily(price("GC=F"), fred("CPIAUCNS").filter(pl.col("date") <= D("2025-09-01")), gld_shares(), None,
                      cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG)
    tail = late.filter(pl.col("date") >= D("2025-10-16"))
    assert tail["date"].to_list() == sorted(d for d in GOLD if d >= D("2025-10-16"))
    assert set(tail["cpi_obs_month"].to_list()) == {D("2025-09-01")} and set(tail["cpi_index"]) == {324.8}
    assert late.filter(pl.col("date") < D("2025-10-16")).equals(full.filter(pl.col("date") < D("2025-10-16")))
    result = run_suite("gold_daily", late, previous_rows=full.height)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


@pytest.mark.parametrize(
    ("day", "shares_day", "ratio_by_hand"),
    [
        # 2025-05-23: shares 321,700,000 that day; GC=F 3363.60009765625 → 95641.5717...
        (D("2025-05-23"), D("2025-05-23"), 321700000 / 3363.60009765625),
        # 2025-05-28: the shares file ends 2025-05-23, 5 days back = the limit → carried.
        # 321,700,000 / GC=F 3293.60009765625 = 97674.274490...
        (D("2025-05-28"), D("2025-05-23"), 97674.27449037426),
        # 2025-01-09: NYSE closed (national day of mourning), COMEX traded (GC=F 2683.800048828125);
        # no shares row that day → 2025-01-08's 303,300,000 → 113011.399687...
        (D("2025-01-09"), D("2025-01-08"), 113011.39968770595),
    ],
    ids=str,
)
def test_gold_daily_gld_shares_as_of_within_five_days(gold, day, shares_day, ratio_by_hand):
    assert all(shares_day + k * DAY not in SHARES for k in range(1, (day - shares_day).days + 1))
    assert f(SHARES, shares_day) / f(GOLD, day) == pytest.approx(ratio_by_hand, rel=REL)
    row = row_of(gold, day)
    assert row["gld_shares_outstanding"] == f(SHARES, shares_day)
    assert row["gld_shares_date"] == shares_day
    assert row["gld_shares_per_gold_usd_ratio"] == pytest.approx(ratio_by_hand, rel=REL)


def test_gold_daily_gld_shares_null_after_five_days(gold):
    # 2025-05-29 is 6 days after the last shares row (2025-05-23): null, never carried further.
    row = row_of(gold, D("2025-05-29"))
    assert (row["gld_shares_outstanding"], row["gld_shares_date"], row["gld_shares_per_gold_usd_ratio"]) == (
        None, None, None,
    )
    assert gold.filter(pl.col("date") > D("2025-05-28"))["gld_shares_outstanding"].null_count() == gold.filter(
        pl.col("date") > D("2025-05-28")
    ).height


def test_gold_daily_missing_optional_inputs_are_null_columns(gold):
    # WMTSECL1 is not in the snapshot: passed as None → null columns of the declared types.
    for col in ("foreign_official_treasuries_bn", "foreign_official_treasuries_obs_date",
                "foreign_official_treasuries_per_gold_ratio"):
        assert gold[col].null_count() == gold.height, col
    no_shares = gold_daily(
        price("GC=F"), fred("CPIAUCNS"), None, None,
        cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG,
    )
    assert no_shares.schema == SPECS["gold_daily"].schema
    assert no_shares["gld_shares_outstanding"].null_count() == no_shares.height
    assert no_shares["gold_real_usd_1982_84_per_oz"].null_count() == 0


def test_gold_daily_weekly_series_enters_the_day_after_its_wednesday(gold_with_weekly):
    # Stand-in TREAST, lag 1: Wed 2026-03-25 (4,375,064 m) is published Thu 03-26, so the gold
    # row of Wed 03-25 still shows Wed 03-18 (4,358,597 m → 4358.597 bn).
    wed = row_of(gold_with_weekly, D("2026-03-25"))
    assert wed["foreign_official_treasuries_obs_date"] == D("2026-03-18")
    assert wed["foreign_official_treasuries_bn"] == pytest.approx(f(TREAST, D("2026-03-18")) / 1000, rel=REL)
    # 4358.597 / GC=F 4549.7998046875 = 0.957975...
    assert wed["foreign_official_treasuries_per_gold_ratio"] == pytest.approx(4358.597 / 4549.7998046875, rel=1e-9)
    thu = row_of(gold_with_weekly, D("2026-03-26"))
    assert thu["foreign_official_treasuries_obs_date"] == D("2026-03-25")
    # 4375.064 / GC=F 4375.5 = 0.99990035...
    assert thu["foreign_official_treasuries_per_gold_ratio"] == pytest.approx(4375.064 / 4375.5, rel=1e-9)


def test_gold_daily_bad_inputs_raise_naming_table_and_input():
    gc, cpi = price("GC=F"), fred("CPIAUCNS")
    kw = dict(cpi_publication_lag_days=CPI_LAG, foreign_official_treasuries_lag_days=FOREIGN_LAG)
    with pytest.raises(ValueError, match=r"gold_daily: input gold_usd_per_oz has duplicate dates, e\.g\. 2025-10-06"):
        gold_daily(pl.concat([gc, gc.filter(pl.col("date") == D("2025-10-06"))]).sort("date"), cpi, **kw)
    with pytest.raises(ValueError, match="gold_daily: input cpi_index is empty"):
        gold_daily(gc, cpi.head(0), **kw)
    with pytest.raises(ValueError, match="gold_daily: required input cpi_index is None"):
        gold_daily(gc, None, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gold_daily: input cpi_index is monthly"):
        gold_daily(gc, cpi.with_columns(pl.col("date") + DAY), **kw)
    with pytest.raises(ValueError, match="gold_daily: input gld_shares_outstanding must have exactly columns date"):
        gold_daily(gc, cpi, gld_shares().rename({"value": "shares"}), **kw)
    with pytest.raises(ValueError, match="gold_daily: input gold_usd_per_oz is not sorted"):
        gold_daily(gc.sort("date", descending=True), cpi, **kw)


# --- gold_cpi_monthly ----------------------------------------------------------------------


def test_gold_cpi_monthly_one_row_per_cpi_month_no_october_2025(monthly):
    assert monthly["date"].to_list() == sorted(CPI)  # every month of the file, from its first
    assert no_row(monthly, D("2025-10-01"))


@pytest.mark.parametrize(
    ("month", "close_day", "ratio_by_hand"),
    [
        # 2025-11: month ends Sun 11-30; last GC=F close Fri 2025-11-28 4218.2998046875;
        # CPI 2025-11-01 324.122 → 13.014543303...
        (D("2025-11-01"), D("2025-11-28"), 13.014543303717426),
        # 2024-03: month ends Sun 03-31 after Good Friday 03-29 (no GC=F row) → Thu 2024-03-28
        # 2217.39990234375; CPI 312.332 → 7.099496376...
        (D("2024-03-01"), D("2024-03-28"), 7.099496376752142),
        # 2000-08: the first gold close is 2000-08-30; the month's last, 2000-08-31, is
        # 278.29998779296875; CPI 172.8 → 1.610532...
        (D("2000-08-01"), D("2000-08-31"), 278.29998779296875 / 172.8),
    ],
    ids=str,
)
def test_gold_cpi_monthly_last_close_of_the_month(monthly, month, close_day, ratio_by_hand):
    month_end = (month + dt.timedelta(days=32)).replace(day=1) - DAY
    assert close_day in GOLD and all(close_day + k * DAY not in GOLD for k in range(1, (month_end - close_day).days + 1))
    row = row_of(monthly, month)
    assert row["cpi_index"] == f(CPI, month)
    assert row["gold_close_date"] == close_day
    assert row["gold_usd_per_oz"] == f(GOLD, close_day)
    assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(ratio_by_hand * 100, rel=REL)


def test_gold_cpi_monthly_null_gold_before_gold_data(monthly):
    # GC=F starts 2000-08-30: July 2000 (CPI 172.8) and every earlier CPI month have no gold.
    assert min(GOLD) == D("2000-08-30")
    before = monthly.filter(pl.col("date") < D("2000-08-01"))
    n = sum(1 for m in CPI if m < D("2000-08-01"))
    assert before.height == n > 40
    assert before["gold_usd_per_oz"].null_count() == before["gold_real_usd_1982_84_per_oz"].null_count() == n
    assert row_of(monthly, D("2000-07-01"))["cpi_index"] == 172.8


def test_gold_real_price_march_2026_in_1982_84_dollars(monthly):
    # Issue 12 point 7: the real price, not gold ÷ index. March 2026: the last GC=F close of
    # the month is Tue 2026-03-31 4647.60009765625 (prices/GC=F.csv, Close); CPIAUCNS
    # 2026-03-01 = 330.213 (fred/CPIAUCNS.csv). 4647.60009765625 × 100 / 330.213 = 1407.455...
    # USD of 1982-84 per troy ounce (gold ÷ index alone would be 14.07).
    march = sorted(d for d in GOLD if D("2026-03-01") <= d <= D("2026-03-31"))
    assert march[-1] == D("2026-03-31") and GOLD[march[-1]] == "4647.60009765625"
    assert CPI[D("2026-03-01")] == "330.213"
    by_hand = float(GOLD[march[-1]]) * 100 / float(CPI[D("2026-03-01")])
    assert by_hand == pytest.approx(1407.455, abs=1e-3)
    row = row_of(monthly, D("2026-03-01"))
    assert row["gold_close_date"] == D("2026-03-31")
    assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(by_hand, rel=REL)


def test_gold_cpi_monthly_late_gold_leaves_newest_months_null_and_passes(monthly):
    # Issue 12 point 2. GC=F cut after Fri 2025-11-14 (a warn-policy series ending four months
    # before the newest CPI month, 2026-03): November ends 11-30, after gold's newest close,
    # so November through March have no gold (not 11-14's close carried); October 2025 has no
    # CPI row. September 2025 keeps the last September close, Tue 2025-09-30
    # 3840.800048828125 × 100 / 324.800 = 1182.51233...; every earlier month is unchanged.
    cut = price("GC=F").filter(pl.col("date") <= D("2025-11-14"))
    late = gold_cpi_monthly(cut, fred("CPIAUCNS"))
    newest = late.filter(pl.col("date") >= D("2025-11-01"))
    assert newest["date"].to_list() == sorted(m for m in CPI if m >= D("2025-11-01"))
    assert newest["gold_usd_per_oz"].null_count() == newest["gold_close_date"].null_count() == newest.height
    assert newest["gold_real_usd_1982_84_per_oz"].null_count() == newest.height
    september = row_of(late, D("2025-09-01"))
    assert september["gold_close_date"] == D("2025-09-30") and GOLD[D("2025-09-30")] == "3840.800048828125"
    assert september["gold_real_usd_1982_84_per_oz"] == pytest.approx(1182.5123303042, rel=1e-11)
    assert late.filter(pl.col("date") < D("2025-11-01")).equals(monthly.filter(pl.col("date") < D("2025-11-01")))
    result = run_suite("gold_cpi_monthly", late, previous_rows=monthly.height)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


def test_gold_cpi_monthly_month_ending_on_gold_newest_close_is_priced():
    # GC=F cut after Tue 2025-09-30, September's last day: gold's series reaches the month's
    # end, so September is priced with that close (3840.800048828125).
    cut = price("GC=F").filter(pl.col("date") <= D("2025-09-30"))
    row = row_of(gold_cpi_monthly(cut, fred("CPIAUCNS")), D("2025-09-01"))
    assert (row["gold_close_date"], row["gold_usd_per_oz"]) == (D("2025-09-30"), 3840.800048828125)


def test_gold_cpi_monthly_bad_input():
    with pytest.raises(ValueError, match="gold_cpi_monthly: input gold_usd_per_oz is empty"):
        gold_cpi_monthly(price("GC=F").head(0), fred("CPIAUCNS"))


# --- gold_real_monthly ---------------------------------------------------------------------
# Method for every expected value below: read the three CSV files with the csv module
# (other/gold_price_monthly_1833_datasets-gold-prices.csv `Date,Price`; fred/CPIAUCNS.csv;
# prices/GC=F.csv `Close`). Months before the month of GC=F's first close (2000-08-30, so
# before 2000-08) take the long history's cell for that month; from 2000-08 on, the last GC=F
# close on or before the month's last day. Real price = gold × 100 / CPI (1982-84 = 100).
# Known dates by the registry's rules: GOLD-MONTHLY month M-01 + 35 days at 24:00 New York
# (the first instant of the next day, so its New York date is M-01 + 36 days); an annual figure
# (through 1959) with its year's December; CPIAUCNS BLS's release date where
# flows/release_dates/bls_cpi.csv lists it, else M-01 + 59 days moved to the next business
# day; a GC=F close on its own day (17:00 New York).


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - DAY


def real_gold_by_hand() -> dict[dt.date, tuple[float, str, dt.date]]:
    """CPI month → (gold USD/oz, gold_source, gold_obs_date), from the CSV cells alone."""
    days = sorted(GOLD)
    out = {}
    for month in sorted(CPI):
        end = _month_end(month)
        if end >= days[0]:
            close_day = days[bisect.bisect_right(days, end) - 1]
            out[month] = (float(GOLD[close_day]), "gold", close_day)
        else:
            out[month] = (float(GOLD_MONTHLY[month]), "gold_monthly_average", month)
    return out


def test_gold_real_monthly_every_cpi_month_from_1913_matches_the_csvs(real_gold):
    # 1,358 rows: every CPIAUCNS month from 1913-01 to 2026-03 but October 2025 (never
    # collected); each row's gold and real price as the method above gives them.
    by_hand = real_gold_by_hand()
    assert real_gold.height == len(CPI) == len(by_hand) == 1358
    assert real_gold["date"].to_list() == sorted(CPI)
    assert real_gold["date"][0] == D("1913-01-01") and no_row(real_gold, D("2025-10-01"))
    for row in real_gold.iter_rows(named=True):
        gold, source, obs = by_hand[row["date"]]
        assert (row["gold_usd_per_oz"], row["gold_source"], row["gold_obs_date"]) == (gold, source, obs), row["date"]
        assert row["cpi_index"] == float(CPI[row["date"]])
        assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(gold * 100 / float(CPI[row["date"]]), rel=REL)


@pytest.mark.parametrize(
    ("month", "gold_cell", "cpi_cell", "source", "basis", "real_by_hand"),
    [
        # the first CPI month: 1913's annual figure 18.920 × 100 / 9.8 = 193.0612...
        ("1913-01-01", "18.920", "9.8", "gold_monthly_average", "annual_figure", 193.06122448979592),
        # the Gold Reserve Act year: 1934's figure 34.690 (after 20.670 in 1932) × 100 / 13.2 = 262.8030...
        ("1934-01-01", "34.690", "13.2", "gold_monthly_average", "annual_figure", 262.80303030303030),
        # the last annual figure, 1959: 35.100 × 100 / 29.4 = 119.3877...
        ("1959-12-01", "35.100", "29.4", "gold_monthly_average", "annual_figure", 119.38775510204081),
        # the first World Bank monthly average: 35.270 × 100 / 29.3 = 120.3754...
        ("1960-01-01", "35.270", "29.3", "gold_monthly_average", "monthly_average", 120.37542662116041),
        # the January 1980 spike: 675.310 × 100 / 77.8 = 868.0077...
        ("1980-01-01", "675.310", "77.8", "gold_monthly_average", "monthly_average", 868.00771208226221),
        ("1999-12-01", "283.000", "168.3", "gold_monthly_average", "monthly_average", 168.15210932857992),
        # the last month before GC=F: 282.000 × 100 / 172.8 = 163.1944...
        ("2000-07-01", "282.000", "172.8", "gold_monthly_average", "monthly_average", 163.19444444444443),
        # the first GC=F month: its last close, Thu 2000-08-31, 278.29998779296875 × 100 / 172.8 (not the
        # average 274.470) = 161.0532...
        ("2000-08-01", "278.29998779296875", "172.8", "gold", "month_end_close", 161.05323367648654),
        # the newest: Tue 2026-03-31 4647.60009765625 × 100 / 330.213 = 1407.4552...
        ("2026-03-01", "4647.60009765625", "330.213", "gold", "month_end_close", 1407.4552175887230),
    ],
)
def test_gold_real_monthly_named_months(real_gold, month, gold_cell, cpi_cell, source, basis, real_by_hand):
    month = D(month)
    cells = GOLD_MONTHLY if source == "gold_monthly_average" else GOLD
    obs = month if source == "gold_monthly_average" else max(d for d in GOLD if d <= _month_end(month))
    assert cells[obs] == gold_cell and CPI[month] == cpi_cell
    assert float(gold_cell) * 100 / float(cpi_cell) == pytest.approx(real_by_hand, rel=1e-15)
    row = row_of(real_gold, month)
    assert (row["gold_source"], row["gold_price_basis"], row["gold_obs_date"]) == (source, basis, obs)
    assert row["gold_usd_per_oz"] == float(gold_cell)
    assert row["gold_real_usd_1982_84_per_oz"] == pytest.approx(real_by_hand, rel=REL)


@pytest.mark.parametrize(
    ("month", "gold_known", "cpi_known"),
    [
        # 1913: the annual figure with December 1913's: 1913-12-01 + 35 d = 1914-01-05 24:00 → 1914-01-06.
        # CPI: 1913-01-01 + 59 d = Sat 1913-03-01 → Mon 03-03
        ("1913-01-01", "1914-01-06", "1913-03-03"),
        # every month of 1934 waits for the year's end: December 1934 + 35 d → 1935-01-06; CPI
        # 1934-01-01 + 59 d = Thu 1934-03-01, and 1934-07-01 + 59 d = Wed 1934-08-29
        ("1934-01-01", "1935-01-06", "1934-03-01"),
        ("1934-07-01", "1935-01-06", "1934-08-29"),
        # a monthly average: 1980-01-01 + 35 d = 02-05 24:00 → 02-06; CPI 1980-01-01 + 59 d = Fri 02-29
        ("1980-01-01", "1980-02-06", "1980-02-29"),
        # a GC=F close on its day; CPI March 2026 on BLS's release date, 2026-04-10
        ("2026-03-01", "2026-03-31", "2026-04-10"),
    ],
)
def test_gold_real_monthly_known_dates_are_honest(real_gold, month, gold_known, cpi_known):
    row = row_of(real_gold, D(month))
    assert (row["gold_known_date"], row["cpi_known_date"]) == (D(gold_known), D(cpi_known))
    assert row["known_date"] == max(D(gold_known), D(cpi_known))
    assert BLS_CPI_RELEASES.get(D(month), D(cpi_known)) == D(cpi_known)


def test_gold_real_monthly_annual_figures_known_only_after_their_year(real_gold):
    # Through 1959 each month repeats the year's figure (1934: 34.690 twelve times), which
    # existed only once the year had ended: every such row's gold is known after 12-31.
    assert {GOLD_MONTHLY[D(f"1934-{m:02d}-01")] for m in range(1, 13)} == {"34.690"}
    annual = real_gold.filter(pl.col("gold_price_basis") == "annual_figure")
    assert annual["date"].min() == D("1913-01-01") and annual["date"].max() == D("1959-12-01")
    assert annual.height == 47 * 12
    assert (annual["gold_known_date"] > annual["date"].dt.year().map_elements(
        lambda y: dt.date(y, 12, 31), return_dtype=pl.Date)).all()
    assert set(annual.filter(pl.col("date").dt.year() == 1934)["gold_known_date"].to_list()) == {D("1935-01-06")}


def test_gold_real_monthly_source_switches_once_at_gc_f_first_month(real_gold):
    # GC=F's first close is Wed 2000-08-30 (prices/GC=F.csv), so 2000-08 is its first month:
    # every month before is the long history, every month from it GC=F, with no way back.
    assert min(GOLD) == D("2000-08-30")
    sources = real_gold.select("date", "gold_source", "gold_price_basis")
    before, after = sources.filter(pl.col("date") < D("2000-08-01")), sources.filter(pl.col("date") >= D("2000-08-01"))
    assert set(before["gold_source"]) == {"gold_monthly_average"} and set(after["gold_source"]) == {"gold"}
    assert set(after["gold_price_basis"]) == {"month_end_close"}
    assert before.height == 1051 and after.height == 307  # 1913-01..2000-07; 2000-08..2026-03 less 2025-10


def test_gold_real_monthly_the_essays_point_across_the_decades(real_gold):
    # In dollars of 1982-84 (by hand, from the cells): gold was 193.06 in 1913-01, fell to its
    # low of 89.74 in 1970-07 (35.000 at CPI 39.0: the fixed price eroded by inflation, a year
    # before the gold window closed), spiked to 868.01 in 1980-01, sank to 146.37 in 2001-03
    # (GC=F 2001-03-30 257.8999938964844 at CPI 176.2), and first passed the 1980 peak in
    # 2025-01 (GC=F 2025-01-31 2812.5 × 100 / 317.671 = 885.35); the highest month is
    # 2026-02 (GC=F 2026-02-27 5230.5 × 100 / 326.785 = 1600.59).
    by_hand = {m: g * 100 / float(CPI[m]) for m, (g, _, _) in real_gold_by_hand().items()}
    low = min(by_hand, key=by_hand.get)
    high = max(by_hand, key=by_hand.get)
    assert (low, round(by_hand[low], 2)) == (D("1970-07-01"), 89.74)
    assert (high, round(by_hand[high], 2)) == (D("2026-02-01"), 1600.59)
    assert round(by_hand[D("1980-01-01")], 2) == 868.01
    post_peak_low = min((m for m in by_hand if m > D("1980-01-01")), key=by_hand.get)
    assert (post_peak_low, round(by_hand[post_peak_low], 2)) == (D("2001-03-01"), 146.37)
    passed = min(m for m in by_hand if m > D("1980-01-01") and by_hand[m] > by_hand[D("1980-01-01")])
    assert (passed, round(by_hand[passed], 2)) == (D("2025-01-01"), 885.35)
    real = dict(zip(real_gold["date"], real_gold["gold_real_usd_1982_84_per_oz"], strict=True))
    for month in (D("1913-01-01"), low, D("1980-01-01"), post_peak_low, passed, high):
        assert real[month] == pytest.approx(by_hand[month], rel=REL)
    # nominal gold rose 245-fold (18.92 → 4647.60), CPI 34-fold (9.8 → 330.213): the real price 7.3-fold
    assert real[D("2026-03-01")] / real[D("1913-01-01")] == pytest.approx(
        (4647.60009765625 / 18.92) / (330.213 / 9.8), rel=1e-12)


def test_gold_real_monthly_as_known_mid_1934_has_no_1934_gold():
    # Inputs as known on the evening of 1934-06-30 (the pipeline's as-of view: rows whose
    # known_at is by then). CPI through 1934-04 (1934-04-01 + 59 d = 05-30; May's is due 06-29
    # 08:30, a Friday, so through 1934-05). The long history holds 1934-01..05 by the
    # monthly rule, but 1934's annual figure needs its December: no 1934 row has gold, and
    # 1933's (known 1934-01-06 with December 1933) is there. No known_date after the day.
    through = end_of_day_utc(D("1934-06-30"))
    inputs = real_gold_inputs(gold_long_history(), price("GC=F"), fred("CPIAUCNS"))
    for name in ("gold_monthly_average_usd_per_oz", "cpi_index"):
        known = inputs["known_at"][name].filter(pl.col("known_at_utc") <= through)
        inputs["known_at"][name] = known
        inputs[name] = inputs[name].join(known.select("date"), on="date", how="semi")
    assert inputs["gold_monthly_average_usd_per_oz"]["date"].max() == D("1934-05-01")
    out = gold_real_monthly(**inputs)
    assert out["date"].max() == D("1934-05-01")
    assert out.filter(pl.col("date") >= D("1934-01-01"))["gold_usd_per_oz"].null_count() == 5
    assert row_of(out, D("1933-12-01"))["gold_usd_per_oz"] == float(GOLD_MONTHLY[D("1933-12-01")])
    assert (out["known_date"] <= D("1934-06-30")).all()
    result = run_suite("gold_real_monthly", out)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


def test_gold_real_monthly_late_gc_f_leaves_newest_months_null_never_the_average(real_gold):
    # GC=F cut after Wed 2025-12-31 (a warn-policy series ending three months early): January to
    # March 2026 have no gold and no source, though the long history has them (2026-01 4753.000,
    # 02 5020.000, 03 4856.000): the source never switches back. December 2025 keeps its last
    # close, 2025-12-31 4325.60009765625; every earlier month is unchanged.
    cut = price("GC=F").filter(pl.col("date") <= D("2025-12-31"))
    late = gold_real_monthly(**real_gold_inputs(gold_long_history(), cut, fred("CPIAUCNS")))
    newest = late.filter(pl.col("date") >= D("2026-01-01"))
    assert GOLD_MONTHLY[D("2026-02-01")] == "5020.000" and newest.height == 3
    assert newest.select("gold_usd_per_oz", "gold_source", "gold_known_date").null_count().row(0) == (3, 3, 3)
    assert newest["known_date"].to_list() == newest["cpi_known_date"].to_list()
    december = row_of(late, D("2025-12-01"))
    assert (december["gold_obs_date"], december["gold_usd_per_oz"]) == (D("2025-12-31"), 4325.60009765625)
    assert late.filter(pl.col("date") < D("2026-01-01")).equals(real_gold.filter(pl.col("date") < D("2026-01-01")))
    result = run_suite("gold_real_monthly", late, previous_rows=real_gold.height)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


def test_gold_real_monthly_without_the_long_history_prices_only_gc_f_months(real_gold):
    out = gold_real_monthly(**real_gold_inputs(None, price("GC=F"), fred("CPIAUCNS")))
    assert out.height == real_gold.height
    assert out.filter(pl.col("date") < D("2000-08-01"))["gold_usd_per_oz"].null_count() == 1051
    assert out.filter(pl.col("date") >= D("2000-08-01")).equals(real_gold.filter(pl.col("date") >= D("2000-08-01")))
    assert run_suite("gold_real_monthly", out).passed


def test_gold_real_monthly_bad_input():
    inputs = real_gold_inputs(gold_long_history(), price("GC=F"), fred("CPIAUCNS"))
    # a year through 1959 whose months do not repeat one figure is not the history the rule describes
    mixed = inputs["gold_monthly_average_usd_per_oz"].with_columns(
        pl.when(pl.col("date") == D("1950-06-01")).then(40.0).otherwise(pl.col("value")).alias("value"))
    with pytest.raises(ValueError, match="gold_real_monthly: .*repeat one annual figure.*1950"):
        gold_real_monthly(**{**inputs, "gold_monthly_average_usd_per_oz": mixed})
    with pytest.raises(ValueError, match="gold_real_monthly: input cpi_index needs known_at"):
        gold_real_monthly(**{**inputs, "known_at": {k: v for k, v in inputs["known_at"].items() if k != "cpi_index"}})
    with pytest.raises(ValueError, match="gold_real_monthly: input gold_monthly_average_usd_per_oz is monthly"):
        gold_real_monthly(**{**inputs, "gold_monthly_average_usd_per_oz": inputs["gold_monthly_average_usd_per_oz"]
                             .with_columns(pl.col("date") + pl.duration(days=1))})
    with pytest.raises(ValueError, match="gold_real_monthly: input gold_usd_per_oz is empty"):
        gold_real_monthly(**{**inputs, "gold_usd_per_oz": price("GC=F").head(0)})


# --- asset_ratios_daily --------------------------------------------------------------------


def expected_ratio_rows() -> dict[str, dict[dt.date, tuple[float, float, dt.date]]]:
    """Every row each ratio must have, from the CSV cells and the alignment rules:
    date → (numerator, denominator, denominator date)."""
    out: dict[str, dict] = {r: {} for r in ("mstr_btc", "metaplanet_btc_jpy", "btc_gold", "btc_ndx")}
    for day, cell in MSTR.items():  # NYSE day D ÷ BTC bar D
        if day in BTC:
            out["mstr_btc"][day] = (float(cell), f(BTC, day), day)
    fx_days = sorted(JPY)
    for day, cell in TSE.items():  # Tokyo day D ÷ (BTC bar D−1 × newest JPY=X ≤ D−1, ≤ 5 days old)
        bar = day - DAY
        if cell == "#VALUE!" or bar not in BTC:
            continue
        i = bisect.bisect_right(fx_days, bar) - 1
        if i >= 0 and (bar - fx_days[i]).days <= 5:
            out["metaplanet_btc_jpy"][day] = (float(cell), f(BTC, bar) * f(JPY, fx_days[i]), bar)
    for name, cells in (("btc_gold", GOLD), ("btc_ndx", NDX)):  # exchange day D, BTC bar D
        for day, cell in cells.items():
            if day in BTC:
                out[name][day] = (f(BTC, day), float(cell), day)
    return out


EXPECTED_RATIOS = expected_ratio_rows()


def test_ratios_rows_and_values_follow_each_calendar_rule(ratios):
    for name, expected in EXPECTED_RATIOS.items():
        got = ratios.filter(pl.col("ratio") == name)
        assert got["date"].to_list() == sorted(expected), name
        for row in got.iter_rows(named=True):
            num, den, den_day = expected[row["date"]]
            assert (row["numerator_close"], row["denominator_date"]) == (num, den_day), (name, row["date"])
            assert row["denominator_close"] == pytest.approx(den, rel=REL), (name, row["date"])
            assert row["ratio_value"] == pytest.approx(num / den, rel=REL), (name, row["date"])


def test_ratios_say_where_each_denominator_came_from(ratios):
    # Issue 12 point 10. No BTC-JPY series in the snapshot: every Metaplanet row divides by
    # BTC-USD × JPY=X and says so; the other ratios name their denominator's series.
    sources = dict(ratios.group_by("ratio").agg(pl.col("denominator_source").unique().sort()).iter_rows())
    assert sources == {"mstr_btc": ["bitcoin"], "metaplanet_btc_jpy": ["bitcoin*usd_jpy"],
                       "btc_gold": ["gold"], "btc_ndx": ["nasdaq_100"]}
    description = SPECS["asset_ratios_daily"].columns["denominator_source"].description
    assert "bitcoin*usd_jpy" in description and "bitcoin_jpy" in description


@pytest.mark.parametrize(
    ("ratio", "day", "den_day", "value_by_hand"),
    [
        # MSTR 2025-10-06 Close 359.69 ÷ BTC-USD 2025-10-06 Close 124752.53125 = 0.0028832280707...
        ("mstr_btc", D("2025-10-06"), D("2025-10-06"), 0.002883228070773113),
        # Tue 2025-11-04 Tokyo: 3350.T 450 ÷ (BTC bar 2025-11-03 106547.5234375 × JPY=X 2025-11-03
        # 154.19500732421875 = 16,429,096.1568 JPY) = 2.739042949...e-05 BTC per share
        ("metaplanet_btc_jpy", D("2025-11-04"), D("2025-11-03"), 2.739042949804173e-05),
        # Mon 2026-01-05 Tokyo: BTC bar Sun 2026-01-04 91413.4921875; JPY=X has no 01-03/01-04 row
        # → Fri 2026-01-02 156.7310028076172 (2 days, ≤ 5): 14,327,328.3007 JPY; 468 / that
        # = 3.266484791...e-05
        ("metaplanet_btc_jpy", D("2026-01-05"), D("2026-01-04"), 3.266484791706478e-05),
        # Fri 2025-07-04 (US holiday, COMEX session): BTC 108034.3359375 ÷ GC=F 3332.5 = 32.418405...
        ("btc_gold", D("2025-07-04"), D("2025-07-04"), 32.41840538259565),
        # BTC 124752.53125 ÷ ^NDX 24978.560546875 (2025-10-06) = 4.994384324...
        ("btc_ndx", D("2025-10-06"), D("2025-10-06"), 4.994384324744744),
    ],
    ids=str,
)
def test_ratios_named_dates(ratios, ratio, day, den_day, value_by_hand):
    row = row_of(ratios, day, ratio=ratio)
    assert row["denominator_date"] == den_day
    assert row["ratio_value"] == pytest.approx(value_by_hand, rel=1e-12)


def test_ratios_us_holiday_no_nyse_rows_though_btc_traded(ratios):
    # 2025-07-04: BTC-USD has a bar (108034.3359375), MSTR and ^NDX have no row → no mstr_btc,
    # no btc_ndx; GC=F has a (holiday) session → btc_gold has a row.
    day = D("2025-07-04")
    assert day in BTC and day not in MSTR and day not in NDX and day in GOLD
    assert no_row(ratios, day, ratio="mstr_btc") and no_row(ratios, day, ratio="btc_ndx")
    assert not no_row(ratios, day, ratio="btc_gold")
    assert not no_row(ratios, day, ratio="metaplanet_btc_jpy")  # Tokyo traded that day (1545 JPY)


def test_ratios_tokyo_holiday_no_metaplanet_row(ratios):
    # Mon 2025-11-03, Culture Day: 3350.T has no row; NYSE traded (MSTR 264.67) → mstr_btc row
    # 264.67 / BTC 106547.5234375 = 0.0024840558603...
    day = D("2025-11-03")
    assert day not in TSE and day in MSTR
    assert no_row(ratios, day, ratio="metaplanet_btc_jpy")
    assert row_of(ratios, day, ratio="mstr_btc")["ratio_value"] == pytest.approx(0.002484055860343422, rel=REL)
    # the next Tokyo day uses BTC bar 2025-11-03, the last completed before its close
    assert row_of(ratios, D("2025-11-04"), ratio="metaplanet_btc_jpy")["denominator_date"] == day


def test_ratios_crypto_weekend_has_no_exchange_rows(ratios):
    # Sat 2025-11-01: BTC has a bar (110064.015625), no exchange traded → no row of any ratio.
    day = D("2025-11-01")
    assert day.weekday() == 5 and day in BTC
    assert no_row(ratios, day)
    assert ratios.filter(pl.col("date").dt.weekday() >= 6).height == 0


def test_ratios_percentile_and_two_year_low_recomputed_by_hand(ratios):
    # For every row: the ratio's values in [D − 729, D] (730 calendar days, today included);
    # percentile = 100 · (#values ≤ today's) / #values; low = today's is the minimum.
    # Null until D − first date ≥ 365.
    for name, expected in EXPECTED_RATIOS.items():
        days = sorted(expected)
        vals = [expected[d][0] / expected[d][1] for d in days]
        got = ratios.filter(pl.col("ratio") == name)
        for i, row in enumerate(got.iter_rows(named=True)):
            day = days[i]
            assert row["date"] == day
            if (day - days[0]).days < 365:
                assert row["percentile_2y_pct"] is None and row["is_two_year_low"] is None, (name, day)
                continue
            lo = bisect.bisect_left(days, day - dt.timedelta(days=729))
            window = vals[lo : i + 1]
            pct = 100.0 * sum(v <= vals[i] for v in window) / len(window)
            assert row["percentile_2y_pct"] == pytest.approx(pct, abs=1e-9), (name, day)
            assert row["is_two_year_low"] is (vals[i] <= min(window)), (name, day)


def test_ratios_history_threshold_on_real_dates(ratios):
    # mstr_btc starts 2020-08-10 (first MSTR row). Mon 2021-08-09 is 364 days later → null;
    # Tue 2021-08-10 is 365 days later → the window 2019-08-12 … 2021-08-10 holds every
    # mstr_btc row so far (2020-08-10 on).
    assert min(MSTR) == D("2020-08-10")
    early = row_of(ratios, D("2021-08-09"), ratio="mstr_btc")
    assert early["percentile_2y_pct"] is None and early["is_two_year_low"] is None
    first = row_of(ratios, D("2021-08-10"), ratio="mstr_btc")
    n = sum(1 for d in EXPECTED_RATIOS["mstr_btc"] if d <= D("2021-08-10"))
    today = f(MSTR, D("2021-08-10")) / f(BTC, D("2021-08-10"))
    at_or_below = sum(
        1 for d, (num, den, _) in EXPECTED_RATIOS["mstr_btc"].items() if d <= D("2021-08-10") and num / den <= today
    )
    assert first["percentile_2y_pct"] == pytest.approx(100 * at_or_below / n, abs=1e-9)
    assert first["is_two_year_low"] is (at_or_below == 1)


def test_ratios_given_btc_jpy_is_used_instead_of_derived():
    # A BTC-JPY series from the same CSVs, only on days where BTC-USD and JPY=X both have a row:
    # Sun 2026-01-04 has none, so Mon 2026-01-05 (needs bar 01-04) gets no metaplanet row,
    # while Tue 2025-11-04 (bar 2025-11-03, both present) is 450 / (106547.5234375 × 154.19500732421875).
    days = sorted(set(BTC) & set(JPY))
    btc_jpy = pl.DataFrame({"date": days, "value": [f(BTC, d) * f(JPY, d) for d in days]},
                           schema={"date": pl.Date, "value": pl.Float64})
    out = asset_ratios_daily(*(price(t) for t in RATIO_INPUTS), btc_jpy=btc_jpy)
    assert no_row(out, D("2026-01-05"), ratio="metaplanet_btc_jpy")
    assert row_of(out, D("2025-11-04"), ratio="metaplanet_btc_jpy")["ratio_value"] == pytest.approx(
        2.739042949804173e-05, rel=REL
    )
    assert out.schema == SPECS["asset_ratios_daily"].schema
    metaplanet = out.filter(pl.col("ratio") == "metaplanet_btc_jpy")
    assert set(metaplanet["denominator_source"].to_list()) == {"bitcoin_jpy"}
    assert set(out.filter(pl.col("ratio") == "btc_gold")["denominator_source"].to_list()) == {"gold"}
    result = run_suite("asset_ratios_daily", out)
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


def test_ratios_stale_fx_gives_no_metaplanet_row():
    # JPY=X cut after 2025-12-31 (156.41299438476562): Tokyo 2026-01-05 needs FX for bar 01-04,
    # 4 days → used; 2026-01-07 needs bar 01-06, 6 days > 5 → no row (never a later rate).
    inputs = [price(t) for t in RATIO_INPUTS]
    inputs[5] = inputs[5].filter(pl.col("date") <= D("2025-12-31"))
    out = asset_ratios_daily(*inputs)
    row = row_of(out, D("2026-01-05"), ratio="metaplanet_btc_jpy")
    assert row["denominator_close"] == pytest.approx(91413.4921875 * 156.41299438476562, rel=REL)
    assert no_row(out, D("2026-01-07"), ratio="metaplanet_btc_jpy")


def test_ratios_bad_inputs_raise_naming_table_and_input():
    inputs = [price(t) for t in RATIO_INPUTS]
    bad = list(inputs)
    bad[3] = pl.concat([inputs[3], inputs[3].tail(1)])
    with pytest.raises(ValueError, match="asset_ratios_daily: input mstr_usd has duplicate dates"):
        asset_ratios_daily(*bad)
    bad = list(inputs)
    bad[4] = read_price_csv(PRICES / "3350.T.csv", "3350.T").select(pl.col("obs_date").alias("date"), "value")
    with pytest.raises(ValueError, match=r"asset_ratios_daily: input metaplanet_jpy has 1 value\(s\) that are null"):
        asset_ratios_daily(*bad)  # the #VALUE! row not dropped
    bad = list(inputs)
    bad[0] = inputs[0].head(0)
    with pytest.raises(ValueError, match="asset_ratios_daily: input btc_usd is empty"):
        asset_ratios_daily(*bad)


# --- performance_daily / performance_from ----------------------------------------------------


def net_by_hand(day_walcl: dt.date, day_rrp: dt.date) -> float:
    return f(WALCL, day_walcl) / 1000 - f(WTREGEN, day_walcl) / 1000 - f(RRP, day_rrp)


@pytest.mark.parametrize(
    ("asset", "day", "base", "index_by_hand"),
    [
        # Issue 12 point 8: a year's index is based on the previous year's last close.
        # GC=F 2025: base Tue 2024-12-31 2629.199951171875; 2025-12-31 4325.60009765625
        # → 100 · 4325.60009765625 / 2629.199951171875 = 164.5215... (not 162.7, which the
        # first 2025 close, 2025-01-02 2658.89990234375, would give)
        ("gold", D("2025-12-31"), D("2024-12-31"), 164.52153423052755),
        # GC=F 2026: base 2025-12-31 4325.60009765625; 2026-03-31 4647.60009765625 → 107.4440...
        ("gold", D("2026-03-31"), D("2025-12-31"), 100 * 4647.60009765625 / 4325.60009765625),
        # BTC-USD 2025: base 2024-12-31 93429.203125; 2025-12-31 87508.828125 → 93.6632...
        ("bitcoin", D("2025-12-31"), D("2024-12-31"), 100 * 87508.828125 / 93429.203125),
        # BTC-USD 2026: base 2025-12-31 87508.828125; 2026-03-31 68233.3125 → 77.9730...
        ("bitcoin", D("2026-03-31"), D("2025-12-31"), 100 * 68233.3125 / 87508.828125),
        # MSTR 2026: base Wed 2025-12-31 151.95; 2026-03-31 124.8 → 82.1322...
        ("mstr", D("2026-03-31"), D("2025-12-31"), 100 * 124.8 / 151.95),
        # 3350.T 2026: Tokyo's last 2025 session Tue 2025-12-30 405; Fri 2026-02-06 340 → 83.9506...
        ("metaplanet", D("2026-02-06"), D("2025-12-30"), 100 * 340 / 405),
        # 3350.T 2019: last 2018 session Fri 2018-12-28 (4 days before 01-01, inside the week)
        ("metaplanet", D("2019-01-04"), D("2018-12-28"), None),
        # ZEC-USD 2026: base 2025-12-31 511.6153; 2026-03-27 214.5971 → 41.9447...
        ("zcash", D("2026-03-27"), D("2025-12-31"), 100 * 214.5971 / 511.6153),
    ],
    ids=str,
)
def test_performance_named_dates(performance, asset, day, base, index_by_hand):
    ticker = PERFORMANCE_TICKERS[asset]
    cells = {d: c for d, c in closes(ticker).items() if c != "#VALUE!"}
    # base = the ticker's last row of the previous year, in its last week (from the CSV)
    assert base == max(d for d in cells if d.year < day.year) and (dt.date(day.year, 1, 1) - base).days <= 7
    if index_by_hand is None:
        index_by_hand = 100 * float(cells[day]) / float(cells[base])
    row = row_of(performance, day, asset=asset)
    assert (row["base_date"], row["no_index_reason"]) == (base, None)
    assert row["value_native"] == float(cells[day])
    assert row["index_100"] == pytest.approx(index_by_hand, rel=REL)


def test_performance_gold_2025_is_164_5():
    # The number, from the CSV alone: GC=F last close of 2024 and of 2025.
    gold_2024 = max(d for d in GOLD if d.year == 2024)
    gold_2025 = max(d for d in GOLD if d.year == 2025)
    assert (gold_2024, gold_2025) == (D("2024-12-31"), D("2025-12-31"))
    assert round(100 * f(GOLD, gold_2025) / f(GOLD, gold_2024), 1) == 164.5


def test_performance_zcash_hole_across_new_year_has_no_2025_index(performance):
    # ZEC-USD has no row from 2024-12-10 to 2025-01-26 (the last before 2025 is Mon
    # 2024-12-09, 23 days before 01-01): every 2025 row keeps its close, with no base, no
    # index and the reason; 2026 is indexed again (base 2025-12-31, in the year's last week).
    zec = closes("ZEC-USD")
    assert max(d for d in zec if d < D("2025-01-01")) == D("2024-12-09")
    assert min(d for d in zec if d >= D("2024-12-10")) == D("2025-01-27")
    rows = performance.filter((pl.col("asset") == "zcash") & (pl.col("date").dt.year() == 2025))
    assert rows["date"].to_list() == sorted(d for d in zec if d.year == 2025)
    assert rows["value_native"].to_list() == [float(zec[d]) for d in rows["date"].to_list()]
    assert rows["index_100"].null_count() == rows["base_date"].null_count() == rows.height
    assert set(rows["no_index_reason"].to_list()) == {
        "no close from 2024-12-25 to 2024-12-31 to index the year to: the last one before 2025-01-01 is "
        "2024-12-09 (a hole at the start of the year)"
    }
    assert row_of(performance, D("2026-01-01"), asset="zcash")["base_date"] == D("2025-12-31")


def test_performance_first_year_of_a_series_has_no_index(performance):
    # MSTR's file starts Mon 2020-08-10: no 2019 close to base 2020 on, so 2020 has no index;
    # 2021 is based on 2020-12-31 (from the CSV).
    assert min(MSTR) == D("2020-08-10")
    first_year = performance.filter((pl.col("asset") == "mstr") & (pl.col("date").dt.year() == 2020))
    assert first_year.height == sum(1 for d in MSTR if d.year == 2020)
    assert first_year["index_100"].null_count() == first_year.height
    assert set(first_year["no_index_reason"].to_list()) == {
        "no close before 2020-01-01 to index the year to: the series starts 2020-08-10"
    }
    base = max(d for d in MSTR if d.year == 2020)
    assert row_of(performance, D("2021-01-04"), asset="mstr")["base_date"] == base == D("2020-12-31")


def test_performance_net_liquidity_indexed_to_new_years_eve(performance):
    # 2026 is based on Wed 2025-12-31's net liquidity as known that evening: the H.4.1 of
    # 2025-12-31 comes out after the holiday (Fri 2026-01-02), so the week of 2025-12-24:
    # WALCL 6,581,231 m, WTREGEN 837,120 m; RRP 2025-12-31 105.993 bn.
    # net = 6581.231 − 837.120 − 105.993 = 5638.118 bn.
    # 2026-03-26: 6657.161 − 874.077 − 0.885 = 5782.199 bn (tests/test_transforms.py).
    base = net_by_hand(D("2025-12-24"), D("2025-12-31"))
    assert base == pytest.approx(5638.118, abs=1e-9)
    now = f(WALCL, D("2026-03-25")) / 1000 - f(WTREGEN, D("2026-03-25")) / 1000 - f(RRP, D("2026-03-26"))
    assert now == pytest.approx(5782.199, abs=1e-9)
    eve = row_of(performance, D("2025-12-31"), asset="net_liquidity")
    assert eve["value_native"] == pytest.approx(base, abs=1e-9)
    first = row_of(performance, D("2026-01-01"), asset="net_liquidity")
    assert first["base_date"] == D("2025-12-31")
    assert first["index_100"] == pytest.approx(100 * first["value_native"] / base, rel=1e-9)
    row = row_of(performance, D("2026-03-26"), asset="net_liquidity")
    assert row["index_100"] == pytest.approx(100 * 5782.199 / 5638.118, rel=1e-9)


def test_performance_each_asset_keeps_its_calendar_and_its_year_bases(performance, values):
    assert set(performance["asset"].unique()) == set(values)
    for name, ticker in PERFORMANCE_TICKERS.items():
        days = sorted(d for d, cell in closes(ticker).items() if cell != "#VALUE!")
        got = performance.filter(pl.col("asset") == name)
        assert got["date"].to_list() == days, name
        year_last = {}
        for d in days:
            year_last[d.year] = d
        expected = []
        for d in days:
            prev = year_last.get(d.year - 1)
            expected.append(prev if prev and (dt.date(d.year, 1, 1) - prev).days <= 7 else None)
        assert got["base_date"].to_list() == expected, name
        assert (got["index_100"].is_null() == got["no_index_reason"].is_not_null()).all(), name


def test_performance_from_base_date(values):
    # --base 2025-07-04: GC=F has a row that day (3332.5) → gold base 2025-07-04; MSTR has none
    # (US holiday) → its base is the next NYSE day 2025-07-07 (395.67).
    # 2026-03-31: gold 100 · 4647.60009765625 / 3332.5 = 139.462868...;
    # MSTR 100 · 124.8 / 395.67 = 31.541436...
    out = performance_from(values, D("2025-07-04"))
    assert out.schema == SPECS["performance_daily"].schema
    assert out["date"].min() == D("2025-07-04")
    gold_row = row_of(out, D("2026-03-31"), asset="gold")
    assert gold_row["base_date"] == D("2025-07-04")
    assert gold_row["index_100"] == pytest.approx(139.46286864684922, rel=REL)
    mstr_row = row_of(out, D("2026-03-31"), asset="mstr")
    assert mstr_row["base_date"] == D("2025-07-07")
    assert mstr_row["index_100"] == pytest.approx(31.541436045189172, rel=REL)
    assert out["no_index_reason"].null_count() == out.height
    # an asset with nothing on or after the base has no rows (3350.T's file ends in February 2026)
    assert max(TSE) < D("2026-03-01")
    assert performance_from(values, D("2026-03-01")).filter(pl.col("asset") == "metaplanet").height == 0
    # --base keeps meaning "the first observation on or after", across a hole too: ZEC-USD's
    # first row on or after 2025-01-01 is 2025-01-27 (42.9488)
    zec = row_of(performance_from(values, D("2025-01-01")), D("2025-01-27"), asset="zcash")
    assert (zec["base_date"], zec["index_100"]) == (D("2025-01-27"), 100.0)


def test_performance_missing_asset_and_bad_input(values):
    out = performance_daily({**values, "zcash": None})
    assert "zcash" not in out["asset"].to_list() and out.schema == SPECS["performance_daily"].schema
    with pytest.raises(ValueError, match="performance_daily: input values holds no series"):
        performance_daily({})
    dup = pl.concat([values["gold"], values["gold"].tail(1)])
    with pytest.raises(ValueError, match=r"performance_daily: input values\['gold'\] has duplicate dates"):
        performance_daily({**values, "gold": dup})
    with pytest.raises(ValueError, match=r"performance_from: input values\['bitcoin'\] is empty"):
        performance_from({"bitcoin": values["bitcoin"].head(0)}, D("2025-01-01"))


# --- suites ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tables(gold_with_weekly, monthly, real_gold, ratios, performance) -> dict[str, pl.DataFrame]:
    return {"gold_daily": gold_with_weekly, "gold_cpi_monthly": monthly, "gold_real_monthly": real_gold,
            "asset_ratios_daily": ratios, "performance_daily": performance}


def run_suite(name: str, frame: pl.DataFrame, previous_rows: int = 0):
    return validate(SUITES[name](REGISTRY, CLOCK, previous_rows), frame)


@pytest.mark.parametrize("name", ["gold_daily", "gold_cpi_monthly", "gold_real_monthly", "asset_ratios_daily",
                                  "performance_daily"])
def test_suite_passes_on_real_table(tables, gold, name):
    frames = [tables[name]] + ([gold] if name == "gold_daily" else [])  # with and without the weekly series
    for frame in frames:
        result = run_suite(name, frame, previous_rows=frame.height)
        assert result.passed, "\n".join(r.message() for r in result.blocking_failures)
        assert len(result.results) > 15


def _key(frame: pl.DataFrame, where: pl.Expr) -> dict:
    rows = frame.filter(where)
    return {k: rows[k][0] for k in ("asset", "ratio", "date") if k in rows.columns}


# (check that must fail, the row it is broken on, column, new value): one identity or rule each
C = pl.col
CORRUPTIONS = {
    "gold_daily": [
        ("definition_gold_real_usd_1982_84_per_oz", C("date") == D("2024-06-03"), "gold_real_usd_1982_84_per_oz",
         C("gold_real_usd_1982_84_per_oz") * 1.001),
        ("definition_gld_shares_per_gold_usd_ratio", C("date") == D("2024-06-04"), "gld_shares_per_gold_usd_ratio",
         C("gld_shares_per_gold_usd_ratio") + 1),
        ("definition_foreign_official_treasuries_per_gold_ratio", C("date") == D("2024-06-05"),
         "foreign_official_treasuries_per_gold_ratio", C("foreign_official_treasuries_per_gold_ratio") * 2),
        # a ratio where its numerator is null (no GLD shares after 2025-05-28)
        ("null_where_undefined", C("date") == D("2025-06-02"), "gld_shares_per_gold_usd_ratio", pl.lit(1.0)),
        # 2025-11-20 claims a CPI known only from 2025-12-16: look-ahead
        ("no_lookahead_cpi", C("date") == D("2025-11-20"), "cpi_known_date", pl.lit(D("2025-12-16"))),
        # 2024-06-10 carries a CPI known 2024-03-15, 87 days before (> 62), though newer ones exist
        ("cpi_carry_within_limit", C("date") == D("2024-06-10"), "cpi_known_date", pl.lit(D("2024-03-15"))),
        # Wednesday 2026-03-25 claims a value that became known the next day
        ("no_lookahead_foreign_official_treasuries", C("date") == D("2026-03-25"),
         "foreign_official_treasuries_known_date", pl.lit(D("2026-03-26"))),
        ("gld_shares_within_max_age", C("date") == D("2025-05-30"), "gld_shares_date", pl.lit(D("2025-05-23"))),
    ],
    "gold_cpi_monthly": [
        ("definition_gold_real_usd_1982_84_per_oz", C("date") == D("2015-06-01"), "gold_real_usd_1982_84_per_oz",
         C("gold_real_usd_1982_84_per_oz") + 0.01),
        # a month inside gold's history without gold (only months after gold ends may lack it)
        ("gold_present_within_gold_history", C("date") == D("2016-06-01"), "gold_usd_per_oz",
         pl.lit(None, pl.Float64)),
        # November 2025 priced with a close from after the month's end
        ("gold_close_in_month_end", C("date") == D("2025-11-01"), "gold_close_date", pl.lit(D("2025-12-01"))),
        ("date_is_month_start", C("date") == D("2025-12-01"), "date", pl.lit(D("2025-12-02"))),
    ],
    "gold_real_monthly": [
        ("definition_gold_real_usd_1982_84_per_oz", C("date") == D("1980-01-01"), "gold_real_usd_1982_84_per_oz",
         C("gold_real_usd_1982_84_per_oz") * 1.001),
        # 1934's annual figure claimed known in June 1934, before the year ended
        ("no_lookahead_gold", C("date") == D("1934-01-01"), "gold_known_date", pl.lit(D("1934-06-01"))),
        # January 1980's average claimed known on 1980-01-31, before the month ended
        ("no_lookahead_gold", C("date") == D("1980-02-01"), "gold_known_date", pl.lit(D("1980-02-29"))),
        # March 2026's CPI claimed known on the month's last day
        ("no_lookahead_cpi", C("date") == D("2026-03-01"), "cpi_known_date", pl.lit(D("2026-03-31"))),
        ("definition_known_date", C("date") == D("1999-12-01"), "known_date", pl.lit(D("2000-01-01"))),
        # a month after the switch priced from the long history again: the source switches twice
        ("gold_source_switches_once_forwards", C("date") == D("2010-06-01"), "gold_price_basis",
         pl.lit("monthly_average")),
        ("gold_source_matches_basis", C("date") == D("2012-06-01"), "gold_source", pl.lit("gold_monthly_average")),
        # a 1960s month claiming to be an annual figure
        ("annual_figures_through_their_years", C("date") == D("1965-06-01"), "gold_price_basis",
         pl.lit("annual_figure")),
        ("gold_present_within_gold_history", C("date") == D("1950-06-01"), "gold_usd_per_oz",
         pl.lit(None, pl.Float64)),
        ("gold_columns_null_together", C("date") == D("1990-06-01"), "gold_source", pl.lit(None, pl.String)),
        ("gold_close_in_month_end", C("date") == D("2020-06-01"), "gold_obs_date", pl.lit(D("2020-07-01"))),
    ],
    "asset_ratios_daily": [
        ("definition_ratio_value", (C("ratio") == "btc_gold") & (C("date") == D("2025-10-06")), "ratio_value",
         C("ratio_value") * 1.0001),
        ("definition_percentile_2y_pct", (C("ratio") == "btc_ndx") & (C("date") == D("2025-10-06")),
         "percentile_2y_pct", C("percentile_2y_pct") - 0.5),
        # mstr_btc's first two-year low flag flipped
        ("definition_is_two_year_low", (C("ratio") == "mstr_btc") & C("is_two_year_low").fill_null(False),
         "is_two_year_low", pl.lit(False)),
        # a percentile before the ratio has a year of history (mstr_btc 2021-08-09, 364 days)
        ("null_where_undefined", (C("ratio") == "mstr_btc") & (C("date") == D("2021-08-09")), "percentile_2y_pct",
         pl.lit(50.0)),
        # Tokyo 2025-11-04 priced against BTC bar 2025-11-04, which closed after Tokyo's close
        ("denominator_date_rule", (C("ratio") == "metaplanet_btc_jpy") & (C("date") == D("2025-11-04")),
         "denominator_date", pl.lit(D("2025-11-04"))),
        # an MSTR ÷ BTC row claiming its denominator came from gold
        ("denominator_source_rule", (C("ratio") == "mstr_btc") & (C("date") == D("2025-10-07")),
         "denominator_source", pl.lit("gold")),
    ],
    "performance_daily": [
        # an indexed row that claims to have no index
        ("no_index_reason_when_no_index", (C("asset") == "gold") & (C("date") == D("2026-01-02")),
         "no_index_reason", pl.lit("no close")),
        ("definition_index_100", (C("asset") == "mstr") & (C("date") == D("2026-03-31")), "index_100",
         C("index_100") + 0.01),
        # zcash has no 2025 base (its hole across the new year): 2025-01-27 is not one
        ("base_date_rule", (C("asset") == "zcash") & (C("date") == D("2025-03-03")), "base_date",
         pl.lit(D("2025-01-27"))),
        # gold's 2026 base is 2025-12-31, not the first 2026 close
        ("base_date_rule", (C("asset") == "gold") & (C("date") == D("2026-03-02")), "base_date",
         pl.lit(D("2026-01-02"))),
    ],
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_suite_fails_on_corrupted_copy_naming_the_check(tables, name):
    # One copy per table, each identity broken on its own row; every check must fail and name
    # that row among its offending rows.
    corrupted = tables[name]
    targets = []
    for check, where, column, value in CORRUPTIONS[name]:
        first = pl.int_range(pl.len()) == corrupted.with_row_index().filter(where)["index"][0]
        targets.append((check, _key(corrupted, first)))
        corrupted = corrupted.with_columns(pl.when(first).then(value).otherwise(C(column)).alias(column))
    assert corrupted.schema == tables[name].schema
    result = run_suite(name, corrupted)
    failed = {r.check: r for r in result.blocking_failures}
    for check, key in targets:
        assert check in failed, f"{name}: expected {check} to fail; failed: {sorted(failed)}"
        message = failed[check].message()
        assert message.startswith(f"{name}: check {check} failed"), message
        if check != "date_is_month_start":  # that one breaks the key it would be reported by
            assert any(all(row.get(k) == v or str(row.get(k))[:10] == str(v) for k, v in key.items())
                       for row in failed[check].rows), (check, key, failed[check].rows)


def test_suite_rows_not_shrinking(monthly):
    result = run_suite("gold_cpi_monthly", monthly, previous_rows=monthly.height + 1)
    assert {r.check for r in result.blocking_failures} == {"rows_not_shrinking"}

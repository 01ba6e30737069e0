"""The balance-sheet tables (transforms/balance_sheet.py) and their suites, on the real snapshot.

Inputs for the code under test are built the way the pipeline builds them
(`read_fred_csv` on data/snapshot/fred/, then `in_billions`; `value_bn` renamed `value`).
Expected values never come from that code: each test reads the same CSV cells with
Python's `csv` module and does the arithmetic by hand; dates, raw values and method are
written next to every literal number.

Units (data/snapshot/PROVENANCE.md): WALCL, WRESBAL, TREAST, WSHOMCB, WTREGEN are millions
of USD (→ bn: /1000); TOTBKCR and RRPONTSYD are billions; MORTGAGE30US and DGS10 percent.
RPONTSYD and ODSACBW027SBOG are not in the snapshot (TOTLL is since 2026-12-01; these tests build
bank credit from TOTBKCR alone): where a test needs values for them it uses a real series of the
same calendar as a stand-in and says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import math

import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_balance_sheet import SUITES
from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv
from transforms.balance_sheet import (
    TABLE_SPECS,
    bank_credit_weekly,
    fed_balance_sheet_weekly,
    liquidity_regime_weekly,
    mortgage_rate_weekly,
)
from transforms.liquidity import in_billions, net_liquidity_weekly

FRED = SNAPSHOT_DIR / "fred"
TOL = 1e-9
D = dt.date.fromisoformat
CLOCK = D("2026-03-31")  # the snapshot's cut (PROVENANCE.md)
MILLIONS = 0.001  # millions of USD → billions
REGISTRY = load_registry()
SPECS = {spec.name: spec for spec in TABLE_SPECS}


# --- independent readers: the csv module, nothing from the code under test -------------


def csv_values(series_id: str) -> dict[dt.date, float]:
    with (FRED / f"{series_id}.csv").open(newline="") as f:
        return {D(row["date"]): float(row["value"]) for row in csv.DictReader(f)}


TXT = {s: csv_values(s) for s in ("WALCL", "WRESBAL", "TREAST", "WSHOMCB", "WTREGEN", "RRPONTSYD",
                                  "TOTBKCR", "MORTGAGE30US", "DGS10")}
BS_SERIES = {"fed_assets": "WALCL", "reserves": "WRESBAL", "treasuries": "TREAST", "mbs": "WSHOMCB"}


def mn_to_bn(series_id: str, day: dt.date) -> float:
    return TXT[series_id][day] / 1000


def net_by_rule(day: dt.date) -> float:
    """WALCL − WTREGEN − RRP outstanding (the op that day, else the last within 4 days, else 0)."""
    rrp = next((TXT["RRPONTSYD"][day - dt.timedelta(days=k)] for k in range(5)
                if day - dt.timedelta(days=k) in TXT["RRPONTSYD"]), 0.0)
    return mn_to_bn("WALCL", day) - mn_to_bn("WTREGEN", day) - rrp


# --- inputs for the code under test, as the pipeline builds them -------------------------


def series(series_id: str, to_bn: float = 1.0) -> pl.DataFrame:
    return in_billions(read_fred_csv(FRED / f"{series_id}.csv", series_id), to_bn).rename({"value_bn": "value"})


@pytest.fixture(scope="module")
def inputs() -> dict[str, pl.DataFrame]:
    out = {key: series(sid, MILLIONS) for key, sid in BS_SERIES.items()}
    out["bank_credit"] = series("TOTBKCR")
    out["mortgage"] = series("MORTGAGE30US")
    out["dgs10"] = series("DGS10")
    out["rrp"] = series("RRPONTSYD")
    return out


@pytest.fixture(scope="module")
def balance(inputs) -> pl.DataFrame:
    return fed_balance_sheet_weekly(inputs["fed_assets"], inputs["reserves"], inputs["treasuries"], inputs["mbs"])


@pytest.fixture(scope="module")
def credit(inputs) -> pl.DataFrame:
    return bank_credit_weekly(inputs["bank_credit"])


@pytest.fixture(scope="module")
def mortgage(inputs) -> pl.DataFrame:
    return mortgage_rate_weekly(inputs["mortgage"], inputs["dgs10"])


@pytest.fixture(scope="module")
def net_weekly() -> pl.DataFrame:
    comps = [in_billions(read_fred_csv(FRED / f"{s}.csv", s), k)
             for s, k in (("WALCL", MILLIONS), ("WTREGEN", MILLIONS), ("RRPONTSYD", 1.0))]
    weekly = net_liquidity_weekly(*comps, rrp_lookback_days=4)
    return weekly.select("date", pl.col("net_liquidity_bn").alias("value"))


@pytest.fixture(scope="module")
def regime(net_weekly) -> pl.DataFrame:
    return liquidity_regime_weekly(net_weekly)


def row_of(frame: pl.DataFrame, day: dt.date) -> dict:
    rows = frame.filter(pl.col("date") == day).to_dicts()
    assert len(rows) == 1, f"expected exactly one row for {day}, found {len(rows)}"
    return rows[0]


def close(a: float | None, b: float | None, tol: float = TOL) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


# --- the data dictionary ----------------------------------------------------------------


def test_specs_describe_every_column_and_match_the_tables(balance, credit, mortgage, regime):
    tables = {"fed_balance_sheet_weekly": balance, "bank_credit_weekly": credit,
              "mortgage_rate_weekly": mortgage, "liquidity_regime_weekly": regime}
    assert set(SPECS) == set(tables) == set(SUITES)
    for name, table in tables.items():
        spec = SPECS[name]
        assert table.schema == spec.schema, name  # order and dtypes
        assert spec.key == ("date",) and spec.grain and spec.description
        assert all(col.description for col in spec.columns.values()), name
        assert table["date"].is_unique().all() and table["date"].is_sorted()


# --- fed_balance_sheet_weekly -----------------------------------------------------------

# (Wednesday, the Wednesday 7 days before, the one 91 days before, expected changes by hand)
BALANCE_CASES = [
    # 2026-03-25, reserve-management purchases: WALCL 6,657,161 / 03-18 6,655,939 / 2025-12-24 6,581,231;
    # WRESBAL 2,993,955 / 3,019,995 / 2,955,581; TREAST 4,375,064 / 4,358,597 / 4,227,581;
    # WSHOMCB 1,996,680 / 2,010,370 / 2,050,575 (millions; /1000 → bn). Changes, bn:
    # fed 6657.161−6655.939 = 1.222, 6657.161−6581.231 = 75.93; reserves −26.04, 38.374;
    # treasuries 16.467, 147.483; mbs 1996.68−2010.37 = −13.69, 1996.68−2050.575 = −53.895
    (D("2026-03-25"), {"fed_assets": (1.222, 75.93), "reserves": (-26.04, 38.374),
                       "treasuries": (16.467, 147.483), "mbs": (-13.69, -53.895)}),
    # 2020-03-25, the March 2020 surge: WALCL 5,254,278 / 03-18 4,668,212 / 2019-12-25 4,165,591;
    # WRESBAL 2,186,971 / 1,895,588 / 1,651,927; TREAST 2,978,372 / 2,640,771 / 2,328,862;
    # WSHOMCB 1,384,563 / 1,366,676 / 1,419,980. fed 586.066, 1088.687; reserves 291.383, 535.044;
    # treasuries 337.601, 649.51; mbs 17.887, −35.417 (13 weeks back is Christmas Day 2019, a
    # Wednesday with its own H.4.1 level)
    (D("2020-03-25"), {"fed_assets": (586.066, 1088.687), "reserves": (291.383, 535.044),
                       "treasuries": (337.601, 649.51), "mbs": (17.887, -35.417)}),
]


@pytest.mark.parametrize(("wed", "changes"), BALANCE_CASES, ids=lambda v: str(v)[:10])
def test_balance_named_wednesdays(balance, wed, changes):
    row = row_of(balance, wed)
    week, quarter = wed - dt.timedelta(days=7), wed - dt.timedelta(days=91)
    for name, sid in BS_SERIES.items():
        wow, q13 = changes[name]
        assert mn_to_bn(sid, wed) - mn_to_bn(sid, week) == pytest.approx(wow, abs=TOL)
        assert mn_to_bn(sid, wed) - mn_to_bn(sid, quarter) == pytest.approx(q13, abs=TOL)
        assert row[f"{name}_bn"] == pytest.approx(mn_to_bn(sid, wed), abs=TOL)
        assert row[f"{name}_wow_bn"] == pytest.approx(wow, abs=TOL), name
        assert row[f"{name}_13w_change_bn"] == pytest.approx(q13, abs=TOL), name
    # RPONTSYD is not in the snapshot: the standing-repo columns are null, not 0
    assert row["standing_repo_bn"] is None and row["standing_repo_obs_date"] is None


def test_balance_one_row_per_walcl_wednesday_every_row_by_hand(balance):
    assert balance["date"].to_list() == sorted(TXT["WALCL"])
    for row in balance.iter_rows(named=True):
        wed = row["date"]
        for name, sid in BS_SERIES.items():
            for col, days in ((f"{name}_wow_bn", 7), (f"{name}_13w_change_bn", 91)):
                base = wed - dt.timedelta(days=days)
                want = mn_to_bn(sid, wed) - mn_to_bn(sid, base) if base in TXT[sid] else None
                assert close(row[col], want, 1e-6), (wed, col)
    first = row_of(balance, D("2002-12-18"))  # the first week has no earlier week
    assert first["fed_assets_wow_bn"] is None and first["fed_assets_13w_change_bn"] is None


def test_balance_missing_week_gives_null_changes_not_a_wrong_base(inputs):
    # WRESBAL without 2025-12-24: that row's reserves null; the week after (2025-12-31) has
    # no wow (not a 14-day change against 12-17), and 2026-03-25 (91 days later) no 13w change.
    reserves = inputs["reserves"].filter(pl.col("date") != D("2025-12-24"))
    out = fed_balance_sheet_weekly(inputs["fed_assets"], reserves, inputs["treasuries"], inputs["mbs"])
    assert out.height == len(TXT["WALCL"])  # rows are the WALCL Wednesdays
    assert row_of(out, D("2025-12-24"))["reserves_bn"] is None
    assert row_of(out, D("2025-12-31"))["reserves_wow_bn"] is None
    last = row_of(out, D("2026-03-25"))
    assert last["reserves_13w_change_bn"] is None
    assert last["reserves_wow_bn"] == pytest.approx(-26.04, abs=TOL)  # 2993.955 − 3019.995, unaffected
    assert last["fed_assets_13w_change_bn"] == pytest.approx(75.93, abs=TOL)


# Stand-in: RRPONTSYD has the calendar RPONTSYD has (business days with an operation), so it
# exercises the standing-repo rule on real holidays.
@pytest.mark.parametrize(
    ("wed", "lookback", "op_day"),
    [
        # 2025-01-01, New Year: no operation row that day; 2024-12-31 = 473.46 carried (1 day back)
        (D("2025-01-01"), 4, D("2024-12-31")),
        # same with a 0-day window: nothing outstanding → 0, obs date null (never 2025-01-02's 239.858)
        (D("2025-01-01"), 0, None),
        # 2012-12-12: the CSV's last op before it is 2012-11-30 (12 days) → 0, obs date null
        (D("2012-12-12"), 4, None),
        # 2026-03-25: op that day, 0.777
        (D("2026-03-25"), 4, D("2026-03-25")),
    ],
    ids=str,
)
def test_balance_standing_repo_outstanding_rule(inputs, wed, lookback, op_day):
    assert wed not in TXT["RRPONTSYD"] or op_day == wed
    out = fed_balance_sheet_weekly(inputs["fed_assets"], inputs["reserves"], inputs["treasuries"], inputs["mbs"],
                                   inputs["rrp"], standing_repo_lookback_days=lookback)
    row = row_of(out, wed)
    assert row["standing_repo_obs_date"] == op_day
    assert row["standing_repo_bn"] == (TXT["RRPONTSYD"][op_day] if op_day else 0.0)


# --- bank_credit_weekly -----------------------------------------------------------------

CREDIT_CASES = [
    # 2026-03-25, last H.8 week in the snapshot (the 2026-03 vintage, PROVENANCE.md): TOTBKCR
    # 19395.5279; 03-18 19364.5887; 13 weeks back 2025-12-24 18963.8458; 52 weeks back
    # 2025-03-26 18189.5599 (billions). wow = (19395.5279/19364.5887 − 1)·100 = 0.15977205;
    # 13w = ((19395.5279/18963.8458)^4 − 1)·100 = 9.4210195; yoy = (19395.5279/18189.5599 − 1)·100
    # = 6.6300010 (computed by hand with Python floats)
    (D("2026-03-25"), 19395.5279, (19364.5887, 18963.8458, 18189.5599), (0.15977205, 9.4210195, 6.6300010)),
    # 2020-03-25, credit-line drawdowns: 14663.1795; 03-18 14382.4833; 2019-12-25 13859.0527;
    # 2019-03-27 13284.7421. wow 1.9516532, 13w annualised 25.307891, yoy 10.376095
    (D("2020-03-25"), 14663.1795, (14382.4833, 13859.0527, 13284.7421), (1.9516532, 25.307891, 10.376095)),
]


@pytest.mark.parametrize(("wed", "level", "bases", "growth"), CREDIT_CASES, ids=lambda v: str(v)[:10])
def test_credit_named_wednesdays(credit, wed, level, bases, growth):
    week, quarter, year = bases
    assert TXT["TOTBKCR"][wed] == level
    assert [TXT["TOTBKCR"][wed - dt.timedelta(days=k)] for k in (7, 91, 364)] == [week, quarter, year]
    by_hand = ((level / week - 1) * 100, ((level / quarter) ** 4 - 1) * 100, (level / year - 1) * 100)
    assert by_hand == pytest.approx(growth, rel=1e-7)
    row = row_of(credit, wed)
    assert row["bank_credit_bn"] == level
    got = (row["bank_credit_wow_pct"], row["bank_credit_13w_annualised_pct"], row["bank_credit_yoy_pct"])
    assert got == pytest.approx(by_hand, rel=1e-12)
    # the fixture builds from TOTBKCR alone (no TOTLL, no ODSACBW027SBOG): their columns are null
    assert all(row[c] is None for c in row if c.startswith(("loans_leases", "other_deposits")))


def test_credit_every_row_and_first_year_nulls(credit):
    assert credit["date"].to_list() == sorted(TXT["TOTBKCR"])
    x = TXT["TOTBKCR"]
    for row in credit.iter_rows(named=True):
        t = row["date"]
        b7, b91, b364 = (x.get(t - dt.timedelta(days=k)) for k in (7, 91, 364))
        assert close(row["bank_credit_wow_pct"], b7 and (x[t] / b7 - 1) * 100), t
        assert close(row["bank_credit_13w_annualised_pct"], b91 and ((x[t] / b91) ** 4 - 1) * 100), t
        assert close(row["bank_credit_yoy_pct"], b364 and (x[t] / b364 - 1) * 100), t
    # first yoy: 1974-01-02 against 1973-01-03 (364 days); 1973-12-26 has none
    assert row_of(credit, D("1973-12-26"))["bank_credit_yoy_pct"] is None
    assert row_of(credit, D("1974-01-02"))["bank_credit_yoy_pct"] == pytest.approx(
        (x[D("1974-01-02")] / x[D("1973-01-03")] - 1) * 100, rel=1e-12)


def test_credit_missing_week_gives_null_growth(inputs):
    # TOTBKCR without 2025-11-05: no row that week, and 2025-11-12 has no wow (not a 14-day
    # growth against 10-29); its 13w (vs 08-13) and yoy (vs 2024-11-13) are unaffected:
    # ((18879.6583/18653.9915)^4 − 1)·100 = 4.9275231, (18879.6583/17935.7518 − 1)·100 = 5.2627094
    out = bank_credit_weekly(inputs["bank_credit"].filter(pl.col("date") != D("2025-11-05")))
    assert D("2025-11-05") not in out["date"].to_list()
    row = row_of(out, D("2025-11-12"))
    assert row["bank_credit_wow_pct"] is None
    assert row["bank_credit_13w_annualised_pct"] == pytest.approx(4.9275231, rel=1e-7)
    assert row["bank_credit_yoy_pct"] == pytest.approx(5.2627094, rel=1e-7)


def test_credit_optional_inputs_on_their_own_dates(inputs):
    # Stand-in for ODSACBW027SBOG: WALCL (bn, Wednesdays from 2002-12-18), on the TOTBKCR dates.
    # 2025-11-12: WALCL 6,580,462 m → 6580.462 bn; 11-05 6,572,732; 2024-11-13 6,967,108:
    # wow (6580.462/6572.732 − 1)·100 = 0.1176071 %, yoy (6580.462/6967.108 − 1)·100 = −5.5496 %
    out = bank_credit_weekly(inputs["bank_credit"], None, inputs["fed_assets"])
    w = {d: v / 1000 for d, v in TXT["WALCL"].items()}
    t = D("2025-11-12")
    row = row_of(out, t)
    assert row["other_deposits_bn"] == pytest.approx(w[t], abs=TOL)
    assert (w[t], w[D("2025-11-05")], w[D("2024-11-13")]) == pytest.approx((6580.462, 6572.732, 6967.108), abs=TOL)
    assert row["other_deposits_wow_pct"] == pytest.approx((6580.462 / 6572.732 - 1) * 100, rel=1e-9)
    assert row["other_deposits_wow_pct"] == pytest.approx(0.1176071, rel=1e-6)
    assert row["other_deposits_yoy_pct"] == pytest.approx((6580.462 / 6967.108 - 1) * 100, rel=1e-9)
    assert row["loans_leases_bn"] is None and row["loans_leases_yoy_pct"] is None
    # before WALCL starts (1973-01-03 is a TOTBKCR date) the stand-in columns are null
    assert row_of(out, D("1973-01-03"))["other_deposits_bn"] is None
    assert out.schema == SPECS["bank_credit_weekly"].schema


# --- mortgage_rate_weekly ---------------------------------------------------------------

MORTGAGE_CASES = [
    # Thu 2010-11-11, Veterans Day: bond market closed, DGS10 has no row; as-of backward takes
    # Wed 2010-11-10 = 2.65 (never Fri 11-12's 2.76). PMMS 4.17, previous 2010-11-04 4.24:
    # wow 4.17 − 4.24 = −0.07 pp; spread 4.17 − 2.65 = 1.52 pp
    (D("2010-11-11"), D("2010-11-04"), D("2010-11-10"), -0.07, 1.52),
    # Wed 2025-11-26, released a day early for Thanksgiving: previous 2025-11-20 (6 days) 6.26;
    # 6.23 − 6.26 = −0.03 pp; DGS10 that day 4.0 → spread 2.23 pp
    (D("2025-11-26"), D("2025-11-20"), D("2025-11-26"), -0.03, 2.23),
    # Thu 2025-12-04: previous release is the early one, 8 days back: 6.19 − 6.23 = −0.04 pp;
    # DGS10 4.11 → spread 2.08 pp
    (D("2025-12-04"), D("2025-11-26"), D("2025-12-04"), -0.04, 2.08),
    # Wed 2025-12-31 (New Year's Eve release), last in the snapshot: 6.15 − 6.18 (12-24) = −0.03;
    # DGS10 4.18 → 1.97
    (D("2025-12-31"), D("2025-12-24"), D("2025-12-31"), -0.03, 1.97),
]


@pytest.mark.parametrize(("day", "prev", "t10_day", "wow", "spread"), MORTGAGE_CASES, ids=lambda v: str(v))
def test_mortgage_named_releases(mortgage, day, prev, t10_day, wow, spread):
    m, t10 = TXT["MORTGAGE30US"], TXT["DGS10"]
    assert not any(prev < prev + dt.timedelta(days=k) < day and prev + dt.timedelta(days=k) in m for k in range(1, 11))
    assert all(t10_day + dt.timedelta(days=k) not in t10 for k in range(1, (day - t10_day).days + 1))
    assert m[day] - m[prev] == pytest.approx(wow, abs=TOL)
    assert m[day] - t10[t10_day] == pytest.approx(spread, abs=TOL)
    row = row_of(mortgage, day)
    assert row["mortgage_rate_30y_pct"] == m[day]
    assert row["mortgage_rate_wow_pp"] == pytest.approx(wow, abs=TOL)
    assert row["treasury_10y_pct"] == t10[t10_day]
    assert row["treasury_10y_obs_date"] == t10_day
    assert row["mortgage_spread_10y_pp"] == pytest.approx(spread, abs=TOL)


def test_mortgage_one_row_per_pmms_date(mortgage):
    assert mortgage["date"].to_list() == sorted(TXT["MORTGAGE30US"])
    assert mortgage["mortgage_rate_wow_pp"].null_count() == 1  # only the first (1980-01-04)


def test_mortgage_treasury_older_than_window_is_null_never_later(inputs):
    # max age 0 on Veterans Day 2010-11-11: the 11-10 yield is too old → null, not 11-12's
    out = mortgage_rate_weekly(inputs["mortgage"], inputs["dgs10"], treasury_max_age_days=0)
    row = row_of(out, D("2010-11-11"))
    assert row["treasury_10y_pct"] is None and row["mortgage_spread_10y_pp"] is None
    assert row["mortgage_rate_wow_pp"] == pytest.approx(-0.07, abs=TOL)


def test_mortgage_missing_previous_week_gives_null_change(inputs):
    # without the 2010-11-04 release the newest earlier one is 2010-10-28, 14 days back → null
    out = mortgage_rate_weekly(inputs["mortgage"].filter(pl.col("date") != D("2010-11-04")), inputs["dgs10"])
    assert row_of(out, D("2010-11-11"))["mortgage_rate_wow_pp"] is None
    # 2010-11-18 (4.39) still compares with 11-11 (4.17): 0.22 pp
    assert row_of(out, D("2010-11-18"))["mortgage_rate_wow_pp"] == pytest.approx(0.22, abs=TOL)


# --- liquidity_regime_weekly ------------------------------------------------------------

REGIME_CASES = [
    # 2026-03-25: net = 6657.161 − 874.077 − 0.777 = 5782.307; 28 days back 2026-02-25:
    # 6613.797 − 887.612 − 1.159 = 5725.026; 91 days back 2025-12-24: 6581.231 − 837.12 − 4.803
    # = 5739.308. change_4w 57.281 (1.00053694 %), change_13w 42.999 (0.74920182 %) → expanding
    (D("2026-03-25"), 5782.307, 5725.026, 5739.308, "expanding"),
    # 2022-01-12: 8788.278 − 456.401 − 1536.981 = 6794.896; 2021-12-15: 8756.666 − 104.798 −
    # 1621.097 = 7030.771; 2021-10-13: 8480.942 − 77.858 − 1364.701 = 7038.383.
    # change_4w −235.875 (−3.35489522 %), change_13w −243.487 (−3.45941674 %) → contracting
    (D("2022-01-12"), 6794.896, 7030.771, 7038.383, "contracting"),
]


@pytest.mark.parametrize(("wed", "net", "net_4w", "net_13w", "label"), REGIME_CASES, ids=lambda v: str(v))
def test_regime_named_wednesdays(regime, wed, net, net_4w, net_13w, label):
    assert [net_by_rule(wed - dt.timedelta(days=k)) for k in (0, 28, 91)] == pytest.approx([net, net_4w, net_13w], abs=TOL)
    row = row_of(regime, wed)
    assert row["net_liquidity_bn"] == pytest.approx(net, abs=TOL)
    assert row["change_4w_bn"] == pytest.approx(net - net_4w, abs=TOL)
    assert row["change_4w_pct"] == pytest.approx((net - net_4w) / net_4w * 100, rel=1e-9)
    assert row["change_13w_bn"] == pytest.approx(net - net_13w, abs=TOL)
    assert row["change_13w_pct"] == pytest.approx((net - net_13w) / net_13w * 100, rel=1e-9)
    assert row["regime"] == label


def test_regime_zscore_every_row_by_hand(regime):
    # change_13w from the CSVs for every WALCL Wednesday; z over the 156 Wednesdays ending at t
    # (t − 155·7 days … t): mean = fsum/156, sample std = sqrt(fsum((x − mean)²)/155).
    weds = sorted(TXT["WALCL"])
    net = {w: net_by_rule(w) for w in weds}
    change = {w: net[w] - net[w - dt.timedelta(days=91)] for w in weds if w - dt.timedelta(days=91) in net}
    got = dict(zip(regime["date"], regime["zscore_13w_change_3y"]))
    scored = 0
    for w in weds:
        window = [change.get(w - dt.timedelta(days=7 * k)) for k in range(156)]
        if any(v is None for v in window):
            assert got[w] is None, w
            continue
        mean = math.fsum(window) / 156
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in window) / 155)
        assert got[w] == pytest.approx((change[w] - mean) / std, abs=1e-9), w
        scored += 1
    # first change_13w: 2003-03-19 (91 days after 2002-12-18); the 156th is 155 weeks later,
    # 2006-03-08 — the first z-score; 2006-03-01 has only 155
    assert got[D("2006-03-01")] is None and got[D("2006-03-08")] is not None
    assert scored == len(weds) - 13 - 155  # 1215 − 13 − 155 = 1047


def test_regime_missing_week_breaks_changes_and_zscore_window(net_weekly):
    # without 2025-12-24: 2026-03-25 has no change_13w (91 days back), so no regime and no z;
    # 2026-01-21 (28 days after) no change_4w
    out = liquidity_regime_weekly(net_weekly.filter(pl.col("date") != D("2025-12-24")))
    last = row_of(out, D("2026-03-25"))
    assert (last["change_13w_bn"], last["regime"], last["zscore_13w_change_3y"]) == (None, None, None)
    assert row_of(out, D("2026-01-21"))["change_4w_bn"] is None
    # 2026-03-18 has its own change (vs 2025-12-17) but its 156-week window lacks the change
    # dated 2025-12-24 → no z-score (fewer than 156 observations)
    assert row_of(out, D("2026-03-18"))["change_13w_bn"] is not None
    assert row_of(out, D("2026-03-18"))["zscore_13w_change_3y"] is None


# --- bad input --------------------------------------------------------------------------


def test_bad_inputs_raise_naming_table_and_input(inputs):
    fa, rs, tr, mb = (inputs[k] for k in ("fed_assets", "reserves", "treasuries", "mbs"))
    duplicated = pl.concat([fa, fa.tail(1)])
    with pytest.raises(ValueError, match=r"fed_balance_sheet_weekly: input fed_assets_bn has duplicate dates"):
        fed_balance_sheet_weekly(duplicated, rs, tr, mb)
    with pytest.raises(ValueError, match=r"fed_balance_sheet_weekly: input standing_repo_bn has duplicate dates"):
        fed_balance_sheet_weekly(fa, rs, tr, mb, pl.concat([inputs["rrp"], inputs["rrp"].tail(1)]))
    with pytest.raises(ValueError, match=r"bank_credit_weekly: input bank_credit_bn is empty"):
        bank_credit_weekly(inputs["bank_credit"].clear())
    with pytest.raises(ValueError, match=r"mortgage_rate_weekly: required input treasury_10y_pct is None"):
        mortgage_rate_weekly(inputs["mortgage"], None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"liquidity_regime_weekly: input net_liquidity_bn must have exactly"):
        liquidity_regime_weekly(inputs["fed_assets"].rename({"value": "value_bn"}))
    with pytest.raises(ValueError, match=r"mortgage_rate_weekly: input mortgage_rate_30y_pct is not sorted"):
        mortgage_rate_weekly(inputs["mortgage"].reverse(), inputs["dgs10"])


# --- suites -----------------------------------------------------------------------------


def run_suite(table: str, frame: pl.DataFrame):
    return validate(SUITES[table](REGISTRY, CLOCK, previous_rows=0), frame)


def failed(result) -> set[str]:
    return {r.check for r in result.blocking_failures}


@pytest.fixture(scope="module")
def tables(balance, credit, mortgage, regime) -> dict[str, pl.DataFrame]:
    return {"fed_balance_sheet_weekly": balance, "bank_credit_weekly": credit,
            "mortgage_rate_weekly": mortgage, "liquidity_regime_weekly": regime}


@pytest.mark.parametrize("table", sorted(SUITES))
def test_suite_passes_on_real_table(tables, table):
    result = run_suite(table, tables[table])
    assert result.passed, "\n".join(r.message() for r in result.blocking_failures)


def test_suite_rows_not_shrinking(regime):
    suite = SUITES["liquidity_regime_weekly"](REGISTRY, CLOCK, previous_rows=regime.height + 1)
    assert "rows_not_shrinking" in failed(validate(suite, regime))


class Add(float):
    """An edit that moves the published value by this much (any other edit replaces it)."""


def corrupt(frame: pl.DataFrame, edits: list[tuple[str, dt.date, object]]) -> pl.DataFrame:
    for column, day, change in edits:
        new = pl.col(column) + change if isinstance(change, Add) else pl.lit(change, frame.schema[column])
        frame = frame.with_columns(pl.when(pl.col("date") == day).then(new).otherwise(pl.col(column)).alias(column))
    return frame


def assert_each_check_names_its_row(result, expected: dict[str, dt.date]) -> None:
    """Exactly the expected checks fail, each on exactly its corrupted row, and say so."""
    assert failed(result) == set(expected), "\n".join(r.message() for r in result.blocking_failures)
    for r in result.blocking_failures:
        assert [row["date"].date() for row in r.rows] == [expected[r.check]], r.message()
        assert r.check in r.message() and expected[r.check].isoformat() in r.message()


# One corrupted copy per table; each edit breaks one rule on its own row, so one validation
# shows every identity check failing on exactly the row that breaks it.
# (column, row, edit, the check that must catch it)
_FED_CHANGES = [f"{n}_{kind}" for n in BS_SERIES for kind in ("wow_bn", "13w_change_bn")]
FED_EDITS = [
    # the 8 change columns, each moved by 0.01 bn on its own Wednesday from 2020-03-25 on
    *((col, D("2020-03-25") + dt.timedelta(days=7 * i), Add(0.01), f"definition_{col}")
      for i, col in enumerate(_FED_CHANGES)),
    # a change where the definition gives none: the first week has no earlier week
    ("fed_assets_wow_bn", D("2002-12-18"), 1.0, "null_where_undefined"),
    # an operation dated after the Wednesday would be look-ahead
    ("standing_repo_obs_date", D("2025-01-01"), D("2025-01-02"), "standing_repo_as_of_window"),
    # an amount with no operation in the window must be 0 (2012-12-12 had none)
    ("standing_repo_bn", D("2012-12-12"), 5.0, "standing_repo_zero_without_operation"),
]
CREDIT_EDITS = [
    ("bank_credit_wow_pct", D("2020-03-25"), Add(1e-6), "definition_bank_credit_wow_pct"),
    ("bank_credit_13w_annualised_pct", D("2020-04-01"), Add(1e-6), "definition_bank_credit_13w_annualised_pct"),
    ("bank_credit_yoy_pct", D("2020-04-08"), Add(1e-6), "definition_bank_credit_yoy_pct"),
    ("loans_leases_yoy_pct", D("2020-04-15"), Add(1e-6), "definition_loans_leases_yoy_pct"),
    ("bank_credit_yoy_pct", D("1973-12-26"), 5.0, "null_where_undefined"),  # no week 364 days back
]
MORTGAGE_EDITS = [
    ("mortgage_rate_wow_pp", D("2025-11-26"), Add(0.01), "definition_mortgage_rate_wow_pp"),
    ("mortgage_spread_10y_pp", D("2025-12-04"), Add(0.01), "definition_mortgage_spread_10y_pp"),
    # a yield dated after the release would be look-ahead
    ("treasury_10y_obs_date", D("2010-11-11"), D("2010-11-12"), "treasury_10y_as_of_window"),
    ("mortgage_rate_wow_pp", D("1971-04-02"), 0.1, "null_where_undefined"),  # first release: none
]
REGIME_EDITS = [
    ("change_4w_bn", D("2022-01-12"), Add(1e-3), "definition_change_4w_bn"),
    ("change_4w_pct", D("2022-01-19"), Add(1e-6), "definition_change_4w_pct"),
    ("change_13w_pct", D("2022-01-26"), Add(1e-6), "definition_change_13w_pct"),
    # the z-score is checked to 1e-9: an error of 1e-6 is caught
    ("zscore_13w_change_3y", D("2022-02-02"), Add(1e-6), "definition_zscore_13w_change_3y"),
    ("zscore_13w_change_3y", D("2022-02-09"), None, "null_where_undefined"),
    ("regime", D("2022-02-16"), "expanding", "regime_matches_sign"),  # change_13w_bn < 0 that week
]


@pytest.mark.parametrize(
    ("table", "edits"),
    [("fed_balance_sheet_weekly", FED_EDITS), ("bank_credit_weekly", CREDIT_EDITS),
     ("mortgage_rate_weekly", MORTGAGE_EDITS), ("liquidity_regime_weekly", REGIME_EDITS)],
    ids=["fed_balance_sheet_weekly", "bank_credit_weekly", "mortgage_rate_weekly", "liquidity_regime_weekly"],
)
def test_suite_fails_on_each_broken_identity(inputs, tables, table, edits):
    frame = {
        # with the optional inputs present (stand-ins as above) so their rules are exercised
        "fed_balance_sheet_weekly": lambda: fed_balance_sheet_weekly(
            inputs["fed_assets"], inputs["reserves"], inputs["treasuries"], inputs["mbs"], inputs["rrp"]),
        "bank_credit_weekly": lambda: bank_credit_weekly(inputs["bank_credit"], inputs["bank_credit"]),
    }.get(table, lambda: tables[table])()
    expected = {check: day for _, day, _, check in edits}
    assert len(expected) == len(edits)  # one row per check
    broken = corrupt(frame, [(column, day, change) for column, day, change, _ in edits])
    assert_each_check_names_its_row(run_suite(table, broken), expected)


def test_suite_zscore_is_checked_against_the_published_change(regime):
    # change_13w_bn moved by 1e-3 bn on 2022-01-12: its definition fails on that row, and the
    # z-scores recomputed from it fail on that row and on the 155 weeks whose window holds it
    result = run_suite("liquidity_regime_weekly", corrupt(regime, [("change_13w_bn", D("2022-01-12"), Add(1e-3))]))
    assert failed(result) == {"definition_change_13w_bn", "definition_zscore_13w_change_3y"}
    by_check = {r.check: r for r in result.blocking_failures}
    assert [r["date"].date() for r in by_check["definition_change_13w_bn"].rows] == [D("2022-01-12")]
    z = by_check["definition_zscore_13w_change_3y"]
    assert z.rows[0]["date"].date() == D("2022-01-12")
    assert z.unexpected_count == 156  # 2022-01-12 and the 155 Wednesdays after it


def test_suite_weekly_gap_blocks(regime):
    result = run_suite("liquidity_regime_weekly", regime.filter(pl.col("date") != D("2025-12-24")))
    assert "weekly_no_gap" in failed(result)


def test_a_hole_blocks_but_a_series_that_ended_early_is_stale(balance):
    # A null between two observations is a hole in the data: it blocks. The same null after
    # a warn-policy series' last observation (WRESBAL late) is what "late" looks like: the
    # table publishes, marked stale by the pipeline (tests/test_late_warn_fred.py).
    hole = corrupt(balance, [("reserves_bn", D("2015-06-03"), None)])
    result = run_suite("fed_balance_sheet_weekly", hole)
    check = next(r for r in result.blocking_failures if r.check == "not_null_reserves_bn")
    assert [row["date"].date() for row in check.rows] == [D("2015-06-03")]
    newest = balance["date"].max()
    ended = balance.with_columns(pl.when(pl.col("date") > newest - dt.timedelta(days=28))
                                 .then(None).otherwise(pl.col(c)).alias(c) for c in ("reserves_bn", "reserves_wow_bn",
                                                                                    "reserves_13w_change_bn"))
    assert "not_null_reserves_bn" not in failed(run_suite("fed_balance_sheet_weekly", ended))

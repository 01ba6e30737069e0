"""Transforms checked against values computed independently from the real snapshot.

Inputs for the code under test are built the way the pipeline builds them
(`read_fred_csv` / `read_price_csv` on data/snapshot/, then `in_billions` with the
registry's `to_bn`). Expected values never come from that code: each test reads the
same CSV rows with Python's `csv` module and does the arithmetic by hand; the dates,
the raw values read and the method are written next to every literal number.

Units (data/snapshot/PROVENANCE.md): WALCL and WTREGEN are millions of USD (→ bn: /1000),
RRPONTSYD is billions of USD (→ bn: as is).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from zoneinfo import ZoneInfo
from pathlib import Path

import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv, read_price_csv
from flows.sources.schema import empty_observations
from transforms.known import with_rule_known_at
from transforms.liquidity import in_billions, net_liquidity_daily, net_liquidity_weekly
from transforms.prices import asset_prices_daily

FRED = SNAPSHOT_DIR / "fred"
PRICES = SNAPSHOT_DIR / "prices"
TOL = 1e-9
D = dt.date.fromisoformat
THROUGH = D("2026-03-31")  # every snapshot file is cut at 2026-03-31 (PROVENANCE.md)

REGISTRY = load_registry()
ROLES = ("fed_assets", "tga", "rrp")
LAG = {r: REGISTRY.role(r).publication_lag_days for r in ROLES}
MAX_AGE = {r: REGISTRY.role(r).max_age_days for r in ROLES}
RRP_LOOKBACK = MAX_AGE["rrp"]  # the pipeline passes the RRP max_age_days as rrp_lookback_days

NY = ZoneInfo("America/New_York")


# --- independent readers: the csv module, nothing from the code under test -------------


def csv_values(path: Path, date_col: str = "date", value_col: str = "value") -> dict[dt.date, str]:
    """date → the value cell exactly as written in the CSV."""
    with path.open(newline="") as f:
        return {D(row[date_col]): row[value_col] for row in csv.DictReader(f)}


WALCL_TXT = csv_values(FRED / "WALCL.csv")
WTREGEN_TXT = csv_values(FRED / "WTREGEN.csv")
RRP_TXT = csv_values(FRED / "RRPONTSYD.csv")


def walcl_bn(day: dt.date) -> float:
    return float(WALCL_TXT[day]) / 1000  # millions → billions


def wtregen_bn(day: dt.date) -> float:
    return float(WTREGEN_TXT[day]) / 1000  # millions → billions


def rrp_rule(day: dt.date, lookback: int = RRP_LOOKBACK) -> tuple[float, dt.date | None]:
    """RRP outstanding on `day`: the op that day, else the last op within `lookback` days
    before it, else 0 with no operation date. Written from the rule, scanning the CSV dates."""
    for back in range(lookback + 1):
        d = day - dt.timedelta(days=back)
        if d in RRP_TXT:
            return float(RRP_TXT[d]), d
    return 0.0, None


# --- inputs for the code under test, as the pipeline builds them -------------------------


def component(key: str) -> pl.DataFrame:
    spec = REGISTRY.get(key)
    return in_billions(read_fred_csv(FRED / f"{spec.id}.csv", spec.id), spec.to_bn)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def comps() -> dict[str, pl.DataFrame]:
    return {r: component(REGISTRY.role(r).key) for r in ROLES}


@pytest.fixture(scope="module")
def weekly(comps) -> pl.DataFrame:
    return net_liquidity_weekly(comps["fed_assets"], comps["tga"], comps["rrp"], rrp_lookback_days=RRP_LOOKBACK)


def daily_of(comps: dict[str, pl.DataFrame], **overrides) -> pl.DataFrame:
    """The daily table with each component known by its registry release rule (the snapshot
    has no vintages)."""
    kwargs = dict(max_age_days=MAX_AGE, through=THROUGH)
    kwargs.update(overrides)
    known = {r: with_rule_known_at(frame, REGISTRY.role(r).release_rule()) for r, frame in comps.items()}
    return net_liquidity_daily(known, **kwargs)


@pytest.fixture(scope="module")
def daily(comps) -> pl.DataFrame:
    return daily_of(comps)


def row_of(frame: pl.DataFrame, day: dt.date) -> dict:
    rows = frame.filter(pl.col("date") == day).to_dicts()
    assert len(rows) == 1, f"expected exactly one row for {day}, found {len(rows)}"
    return rows[0]


def test_registry_parameters_are_the_ones_these_tests_assume():
    # The lags and ages the brief and the H.4.1 / NY Fed release times imply.
    assert (REGISTRY.role("fed_assets").id, REGISTRY.role("tga").id, REGISTRY.role("rrp").id) == (
        "WALCL", "WTREGEN", "RRPONTSYD",
    )
    assert LAG == {"fed_assets": 1, "tga": 1, "rrp": 0}
    assert MAX_AGE == {"fed_assets": 9, "tga": 9, "rrp": 4}
    assert REGISTRY.role("fed_assets").to_bn == 0.001 and REGISTRY.role("rrp").to_bn == 1.0


# --- net_liquidity_weekly ---------------------------------------------------------------

# (Wednesday, operation day the RRP amount must come from, net liquidity bn written by hand)
WEEKLY_CASES = [
    # 2022-04-13, near the balance-sheet peak: WALCL 8,965,487 m → 8965.487 bn;
    # WTREGEN 547,308 m → 547.308 bn; RRPONTSYD row 2022-04-13 = 1815.555 bn (op that day).
    # net = 8965.487 − 547.308 − 1815.555 = 6602.624 bn
    (D("2022-04-13"), D("2022-04-13"), 6602.624),
    # 2025-01-01, New Year holiday: the CSV has NO RRPONTSYD row that day; the last op before
    # it is 2024-12-31 = 473.46 bn (1 day back ≤ lookback 4). WALCL 6,852,491 m → 6852.491 bn;
    # WTREGEN 719,873 m → 719.873 bn. net = 6852.491 − 719.873 − 473.46 = 5659.158 bn
    (D("2025-01-01"), D("2024-12-31"), 5659.158),
    # 2026-03-25, the last week in the snapshot: WALCL 6,657,161 m → 6657.161 bn;
    # WTREGEN 874,077 m → 874.077 bn; RRPONTSYD 2026-03-25 = 0.777 bn.
    # net = 6657.161 − 874.077 − 0.777 = 5782.307 bn
    (D("2026-03-25"), D("2026-03-25"), 5782.307),
    # 2012-12-12, pre-2013: the CSV's RRP ops around it are 2012-11-30 (1.18) and then none
    # until 2013, so no op in the week → rrp 0, rrp_obs_date null. WALCL 2,917,260 m →
    # 2917.26 bn; WTREGEN 38,980 m → 38.98 bn. net = 2917.26 − 38.98 − 0 = 2878.28 bn
    (D("2012-12-12"), None, 2878.28),
]


@pytest.mark.parametrize(("wed", "rrp_day", "net_by_hand"), WEEKLY_CASES, ids=lambda v: str(v))
def test_weekly_named_wednesdays_match_csv_arithmetic(weekly, wed, rrp_day, net_by_hand):
    assert wed.weekday() == 2
    fed, tga = walcl_bn(wed), wtregen_bn(wed)
    if rrp_day is None:
        # no operation in the 7 days up to the Wednesday, read from the CSV dates
        assert not any(wed - dt.timedelta(days=k) in RRP_TXT for k in range(7))
        rrp = 0.0
    else:
        rrp = float(RRP_TXT[rrp_day])
        # rrp_day is the newest op on or before the Wednesday (nothing between it and wed)
        assert all(rrp_day + dt.timedelta(days=k) not in RRP_TXT for k in range(1, (wed - rrp_day).days + 1))
    assert fed - tga - rrp == pytest.approx(net_by_hand, abs=TOL)

    row = row_of(weekly, wed)
    assert row["fed_assets_bn"] == pytest.approx(fed, abs=TOL)
    assert row["tga_bn"] == pytest.approx(tga, abs=TOL)
    assert row["rrp_bn"] == pytest.approx(rrp, abs=TOL)
    assert row["rrp_obs_date"] == rrp_day
    assert row["net_liquidity_bn"] == pytest.approx(net_by_hand, abs=TOL)


def test_weekly_holiday_wednesday_has_no_rrp_row_in_csv():
    # The premise of the 2025-01-01 case, straight from the file.
    assert D("2025-01-01") not in RRP_TXT
    assert RRP_TXT[D("2024-12-31")] == "473.46"
    assert WALCL_TXT[D("2025-01-01")] == "6852491"


def test_weekly_one_row_per_walcl_wednesday(weekly):
    dates = weekly["date"].to_list()
    assert dates == sorted(WALCL_TXT)  # every WALCL date, once, ascending
    assert len(dates) == len(set(dates)) == len(WALCL_TXT)
    assert all(d.weekday() == 2 for d in dates)  # all Wednesdays
    assert weekly.columns == ["date", "fed_assets_bn", "tga_bn", "rrp_bn", "rrp_obs_date", "net_liquidity_bn"]


def test_weekly_every_row_matches_csv_arithmetic(weekly):
    # Whole table, each row recomputed from the CSV cells with the rule in rrp_rule().
    for row in weekly.iter_rows(named=True):
        wed = row["date"]
        rrp, rrp_day = rrp_rule(wed)
        net = walcl_bn(wed) - wtregen_bn(wed) - rrp
        assert row["rrp_obs_date"] == rrp_day, wed
        assert row["rrp_bn"] == pytest.approx(rrp, abs=TOL), wed
        assert row["net_liquidity_bn"] == pytest.approx(net, abs=TOL), wed


def test_weekly_pre_2013_without_rrp_is_zero_with_null_obs_date(weekly):
    row = row_of(weekly, D("2012-12-12"))
    assert row["rrp_bn"] == 0.0
    assert row["rrp_obs_date"] is None
    # and the zero rule is never used once RRP operates daily (from 2013-09-23, registry gap_check_from)
    later = weekly.filter(pl.col("date") >= REGISTRY.role("rrp").gap_check_from)
    assert later.filter(pl.col("rrp_obs_date").is_null()).height == 0


def test_weekly_tga_missing_a_wednesday_drops_that_wednesday(comps):
    # Bad input: TGA without 2025-01-01. The inner join drops that week; the gate's gap
    # check on the table is what blocks it. Neighbours stay, unchanged.
    tga = comps["tga"].filter(pl.col("date") != D("2025-01-01"))
    out = net_liquidity_weekly(comps["fed_assets"], tga, comps["rrp"], rrp_lookback_days=RRP_LOOKBACK)
    assert D("2025-01-01") not in out["date"].to_list()
    assert out.height == len(WALCL_TXT) - 1
    # 2024-12-25: WALCL 6,885,963 m → 6885.963; WTREGEN 764,770 m → 764.77 (both from CSV)
    row = row_of(out, D("2024-12-25"))
    assert row["fed_assets_bn"] == pytest.approx(walcl_bn(D("2024-12-25")), abs=TOL)
    assert row["tga_bn"] == pytest.approx(wtregen_bn(D("2024-12-25")), abs=TOL)
    assert D("2025-01-08") in out["date"].to_list()


def test_in_billions_empty_frame_gives_empty():
    out = in_billions(empty_observations(), 0.001)
    assert out.height == 0
    assert out.columns == ["date", "value_bn"]
    assert out.schema["date"] == pl.Date


def test_in_billions_converts_millions():
    out = component("WALCL")
    # WALCL 2022-04-13 = 8,965,487 (millions) → 8965.487 bn
    assert WALCL_TXT[D("2022-04-13")] == "8965487"
    assert row_of(out, D("2022-04-13"))["value_bn"] == pytest.approx(8965.487, abs=TOL)
    assert out.height == len(WALCL_TXT)


# --- net_liquidity_daily ----------------------------------------------------------------

# (day, fed/tga observation Wednesday, rrp operation day, net written by hand)
DAILY_CASES = [
    # Wed 2026-03-25: WALCL for 03-25 is published Thu 03-26 (lag 1), so the row still shows
    # 2026-03-18: WALCL 6,655,939 m → 6655.939; WTREGEN 853,052 m → 853.052; RRP 03-25 = 0.777
    # (lag 0). net = 6655.939 − 853.052 − 0.777 = 5802.110 bn; fed age = 7 days
    (D("2026-03-25"), D("2026-03-18"), D("2026-03-25"), 5802.110),
    # Thu 2026-03-26: now 2026-03-25's: WALCL 6,657,161 → 6657.161; WTREGEN 874,077 → 874.077;
    # RRP 03-26 = 0.885. net = 6657.161 − 874.077 − 0.885 = 5782.199 bn; fed age = 1 day
    (D("2026-03-26"), D("2026-03-25"), D("2026-03-26"), 5782.199),
    # Sat 2026-03-28: no RRP row on Saturdays; Friday 2026-03-27 = 0.992 is carried.
    # net = 6657.161 − 874.077 − 0.992 = 5782.092 bn
    (D("2026-03-28"), D("2026-03-25"), D("2026-03-27"), 5782.092),
    # Wed 2025-01-01 (holiday): WALCL shown is 2024-12-25's (6,885,963 → 6885.963), WTREGEN
    # 2024-12-25 764,770 → 764.77; RRP: no 01-01 row, 2024-12-31 = 473.46 carried.
    # net = 6885.963 − 764.77 − 473.46 = 5647.733 bn
    (D("2025-01-01"), D("2024-12-25"), D("2024-12-31"), 5647.733),
    # Sun 2014-04-20 (Easter): the CSV has RRP ops 2014-04-16 (71.744) then 2014-04-21, none on
    # Thu 04-17 / Good Friday 04-18; 04-20 is 4 days after 04-16 = the lookback limit, still
    # carried. WALCL 2014-04-16 4,283,967 → 4283.967; WTREGEN 65,457 → 65.457.
    # net = 4283.967 − 65.457 − 71.744 = 4146.766 bn
    (D("2014-04-20"), D("2014-04-16"), D("2014-04-16"), 4146.766),
]


@pytest.mark.parametrize(("day", "weekly_obs", "rrp_day", "net_by_hand"), DAILY_CASES, ids=lambda v: str(v))
def test_daily_named_days_availability_aligned(daily, day, weekly_obs, rrp_day, net_by_hand):
    fed, tga, rrp = walcl_bn(weekly_obs), wtregen_bn(weekly_obs), float(RRP_TXT[rrp_day])
    assert fed - tga - rrp == pytest.approx(net_by_hand, abs=TOL)
    row = row_of(daily, day)
    assert row["fed_assets_obs_date"] == weekly_obs
    assert row["tga_obs_date"] == weekly_obs
    assert row["rrp_obs_date"] == rrp_day
    assert row["fed_assets_bn"] == pytest.approx(fed, abs=TOL)
    assert row["tga_bn"] == pytest.approx(tga, abs=TOL)
    assert row["rrp_bn"] == pytest.approx(rrp, abs=TOL)
    assert row["net_liquidity_bn"] == pytest.approx(net_by_hand, abs=TOL)
    assert row["fed_assets_age_days"] == (day - weekly_obs).days
    assert row["tga_age_days"] == (day - weekly_obs).days
    assert row["rrp_age_days"] == (day - rrp_day).days
    assert row["is_stale"] is False


def test_daily_wednesday_shows_previous_week_thursday_shows_new(daily):
    wed, thu = row_of(daily, D("2026-03-25")), row_of(daily, D("2026-03-26"))
    assert (wed["fed_assets_obs_date"], wed["fed_assets_age_days"]) == (D("2026-03-18"), 7)
    assert (thu["fed_assets_obs_date"], thu["fed_assets_age_days"]) == (D("2026-03-25"), 1)


def test_daily_one_row_per_calendar_day_through_clock(daily):
    # Start = the first day every component is available (first CSV date + lag):
    # WALCL 2002-12-18 + 1 = 2002-12-19, WTREGEN 2002-12-18 + 1 = 2002-12-19,
    # RRPONTSYD first op 2003-02-07 + 0 → start 2003-02-07.
    start = max(min(WALCL_TXT) + dt.timedelta(days=1), min(WTREGEN_TXT) + dt.timedelta(days=1), min(RRP_TXT))
    assert start == D("2003-02-07")
    dates = daily["date"].to_list()
    assert dates[0] == start and dates[-1] == THROUGH
    assert len(dates) == (THROUGH - start).days + 1  # 8454: no day missing, none repeated
    assert all((b - a).days == 1 for a, b in zip(dates, dates[1:]))


def test_daily_never_uses_an_unpublished_observation(daily):
    # Whole table: obs_date + lag ≤ row date for every component, and the time it became
    # known (UTC) falls before the end of the row's day in New York.
    for name in ROLES:
        late = daily.filter(
            pl.col(f"{name}_obs_date").is_not_null()
            & ((pl.col(f"{name}_obs_date") + pl.duration(days=LAG[name])) > pl.col("date"))
        )
        assert late.height == 0, f"{name}: {late.head(3)}"
        for row in daily.filter(pl.col(f"{name}_known_at_utc").is_not_null()).iter_rows(named=True):
            end_of_day = dt.datetime.combine(row["date"] + dt.timedelta(days=1), dt.time(), tzinfo=NY)
            assert row[f"{name}_known_at_utc"].replace(tzinfo=dt.timezone.utc) < end_of_day, (name, row["date"])


# The Fed's holidays (federal holidays) when an H.4.1 Thursday falls on one; the release is
# taken to come out the next business day, Friday. Listed by hand from the OPM calendars for
# the snapshot's years 2002–2026: Thanksgiving every year, plus Christmas and New Year's Day
# when they fell on a Thursday, and Juneteenth/Independence Day/Veterans Day on Thursdays.
def _thursday_holidays() -> set[dt.date]:
    days = set()
    for year in range(2002, 2027):
        november = [dt.date(year, 11, d) for d in range(1, 31)]
        days.add([d for d in november if d.weekday() == 3][3])  # Thanksgiving, 4th Thursday
        for month, dom in ((1, 1), (7, 4), (11, 11), (12, 25)) + (((6, 19),) if year >= 2021 else ()):
            if dt.date(year, month, dom).weekday() == 3:
                days.add(dt.date(year, month, dom))
    return days


THURSDAY_HOLIDAYS = _thursday_holidays()


def test_daily_every_row_is_the_newest_published_observation(daily):
    # Whole table, recomputed from the CSV dates with bisect: the observation a day must show
    # is the newest one published on or before that day: Wednesday + 1 day (Thursday), or the
    # Friday when that Thursday is a federal holiday.
    walcl_days, tga_days = sorted(WALCL_TXT), sorted(WTREGEN_TXT)

    def published(obs: dt.date) -> dt.date:
        day = obs + dt.timedelta(days=1)
        return day + dt.timedelta(days=1) if day in THURSDAY_HOLIDAYS else day

    def newest(days: list[dt.date], on: dt.date, lag: int) -> dt.date:
        candidates = days[: bisect.bisect_right(days, on - dt.timedelta(days=lag))]
        while published(candidates[-1]) > on:
            candidates = candidates[:-1]
        return candidates[-1]

    for row in daily.iter_rows(named=True):
        day = row["date"]
        f_obs, t_obs = newest(walcl_days, day, 1), newest(tga_days, day, 1)
        rrp, rrp_day = rrp_rule(day)
        assert (row["fed_assets_obs_date"], row["tga_obs_date"], row["rrp_obs_date"]) == (f_obs, t_obs, rrp_day), day
        net = walcl_bn(f_obs) - wtregen_bn(t_obs) - rrp
        assert row["net_liquidity_bn"] == pytest.approx(net, abs=TOL), day
        stale = (day - f_obs).days > 9 or (day - t_obs).days > 9
        assert row["is_stale"] is stale, day


def test_daily_rrp_lookback_boundary(comps):
    # Same Easter 2014 Sunday with a 3-day window: 2014-04-16 is 4 days back → outside →
    # nothing outstanding by rule: rrp 0, obs date and age null.
    out = daily_of(comps, max_age_days={**MAX_AGE, "rrp": 3})
    row = row_of(out, D("2014-04-20"))
    assert (row["rrp_bn"], row["rrp_obs_date"], row["rrp_age_days"]) == (0.0, None, None)
    # net = WALCL 4283.967 − WTREGEN 65.457 − 0 = 4218.51 bn
    assert row["net_liquidity_bn"] == pytest.approx(walcl_bn(D("2014-04-16")) - wtregen_bn(D("2014-04-16")), abs=TOL)
    assert row["net_liquidity_bn"] == pytest.approx(4218.51, abs=TOL)


def test_daily_walcl_stops_early_is_flagged_stale_not_filled(comps):
    # WALCL truncated after 2026-03-04 (6,628,894 m → 6628.894 bn); TGA and RRP keep going.
    cut = D("2026-03-04")
    truncated = {**comps, "fed_assets": comps["fed_assets"].filter(pl.col("date") <= cut)}
    out = daily_of(truncated).filter(pl.col("date") > cut)
    assert out["date"].to_list()[-1] == THROUGH  # rows still run to the clock

    for row in out.iter_rows(named=True):
        day = row["date"]
        age = (day - cut).days
        assert row["fed_assets_obs_date"] == cut, day  # carried, never a later (future) value
        assert row["fed_assets_bn"] == pytest.approx(walcl_bn(cut), abs=TOL), day
        assert row["fed_assets_age_days"] == age
        # published 03-05 (age 1) … 03-13 (age 9) fresh; from 03-14 (age 10 > 9) stale
        assert row["is_stale"] is (age > 9), day
    assert row_of(out, D("2026-03-13"))["is_stale"] is False
    assert row_of(out, D("2026-03-14"))["is_stale"] is True

    # TGA still advances: on 2026-03-26 it is 2026-03-25's 874,077 m → 874.077 bn, and the
    # net uses the stale WALCL: 6628.894 − 874.077 − 0.885 (RRP 03-26) = 5753.932 bn
    row = row_of(out, D("2026-03-26"))
    assert row["tga_obs_date"] == D("2026-03-25")
    assert row["net_liquidity_bn"] == pytest.approx(
        walcl_bn(cut) - wtregen_bn(D("2026-03-25")) - float(RRP_TXT[D("2026-03-26")]), abs=TOL
    )
    assert row["net_liquidity_bn"] == pytest.approx(5753.932, abs=TOL)


# --- asset_prices_daily -----------------------------------------------------------------

# The registry's seven assets ([model].assets), each in data/snapshot/prices/<id>.csv.
PRICE_TICKERS = ("BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "ZEC-USD", "GLD")


def price_closes(ticker: str) -> dict[dt.date, str]:
    return csv_values(PRICES / f"{ticker}.csv", "Date", "Close")


CLOSES_TXT = {t: price_closes(t) for t in (*PRICE_TICKERS, "JPY=X")}


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pipeline_input(key: str) -> pl.DataFrame:
    """A price series as the pipeline hands it on: read_price_csv, then the registry's
    drop_dates rows whose value is not a number removed (flows/pipeline.py `_prepare`)."""
    spec = REGISTRY.get(key)
    frame = read_price_csv(PRICES / f"{spec.id}.csv", spec.key)
    return frame.filter(~(pl.col("obs_date").is_in(list(spec.drop_dates)) & pl.col("value").is_null()))


def test_price_inputs_are_the_registry_assets():
    assert tuple(s.id for s in REGISTRY.assets()) == PRICE_TICKERS
    assert tuple(s.key for s in REGISTRY.assets()) == PRICE_TICKERS
    # Metaplanet (TSE 3350) is the one non-USD asset; JPY=X gives JPY per USD
    assert {s.id: (s.name, s.currency) for s in REGISTRY.assets() if s.currency != "USD"} == {
        "3350.T": ("metaplanet", "JPY")
    }
    assert REGISTRY.fx()["JPY"].id == "JPY=X"


def test_price_csvs_have_numbers_except_the_registry_drop_dates():
    # The transform is given numeric closes: every Close cell that is not a number is on one
    # of its series' registry drop_dates (only 3350.T 2020-10-01, the TSE outage `#VALUE!`).
    bad = {(t, d) for t in (*PRICE_TICKERS, "JPY=X") for d, v in CLOSES_TXT[t].items() if not is_number(v)}
    assert bad == {("3350.T", D("2020-10-01"))}
    assert all(d in REGISTRY.get(t).drop_dates for t, d in bad)


@pytest.fixture(scope="module")
def asset_table() -> pl.DataFrame:
    # one row per asset, straight from the registry (as flows/tables.py builds it)
    table = pl.DataFrame(
        [{"series_id": s.key, "asset": s.name, "currency": s.currency} for s in REGISTRY.assets()]
    )
    assert table["series_id"].is_unique().all() and table["asset"].is_unique().all()
    return table


@pytest.fixture(scope="module")
def closes() -> pl.DataFrame:
    return pl.concat([pipeline_input(t) for t in PRICE_TICKERS])


@pytest.fixture(scope="module")
def jpy_rates() -> pl.DataFrame:
    return pipeline_input(REGISTRY.fx()["JPY"].key).select(pl.col("obs_date").alias("date"), "value")


@pytest.fixture(scope="module")
def prices(closes, asset_table, jpy_rates) -> pl.DataFrame:
    return asset_prices_daily(closes, asset_table, {"JPY": jpy_rates})


def price_row(prices: pl.DataFrame, ticker: str, day: dt.date) -> dict:
    rows = prices.filter((pl.col("ticker") == ticker) & (pl.col("date") == day)).to_dicts()
    assert len(rows) == 1, (ticker, day, rows)
    return rows[0]


@pytest.mark.parametrize(
    ("ticker", "asset", "anchor", "day"),
    [
        # PROVENANCE anchors for 2025-10-06, each read back from the CSV Close cell:
        ("BTC-USD", "bitcoin", 124752.53, D("2025-10-06")),  # BTC-USD.csv 2025-10-06 Close 124752.53125
        ("GC=F", "gold", 3948.5, D("2025-10-06")),  # GC=F.csv 2025-10-06 Close 3948.5
        ("^NDX", "nasdaq_100", 24978.56, D("2025-10-06")),  # ^NDX.csv 2025-10-06 Close 24978.560546875
        ("MSTR", "mstr", 473.83, D("2024-11-20")),  # MSTR.csv 2024-11-20 Close 473.83
        # no PROVENANCE anchor for these two; read by hand from the CSV row of 2025-10-06:
        ("ZEC-USD", "zcash", 157.4344, D("2025-10-06")),  # ZEC-USD.csv Close 157.4344
        ("GLD", "gld", 364.38, D("2025-10-06")),  # GLD.csv Close 364.3800048828125
    ],
)
def test_prices_usd_assets_on_named_date(prices, ticker, asset, anchor, day):
    close = float(CLOSES_TXT[ticker][day])
    assert close == pytest.approx(anchor, abs=0.005)  # the CSV really says what PROVENANCE says
    row = price_row(prices, ticker, day)
    assert row["asset"] == asset and row["currency"] == "USD"
    assert row["close"] == close
    assert row["close_usd"] == close  # USD asset: no conversion


def test_prices_close_usd_equals_close_for_every_usd_row(prices):
    usd = prices.filter(pl.col("currency") == "USD")
    assert usd.height > 0
    assert (usd["close_usd"] == usd["close"]).all()


@pytest.mark.parametrize("ticker", PRICE_TICKERS)
def test_prices_one_row_per_trading_day_no_filling(prices, ticker):
    got = prices.filter(pl.col("ticker") == ticker)["date"].to_list()
    # exactly the CSV's days, less the registry's dropped bad rows (3350.T 2020-10-01 only)
    dropped = {d for d in REGISTRY.get(ticker).drop_dates if not is_number(CLOSES_TXT[ticker].get(d, "0"))}
    expected = sorted(set(CLOSES_TXT[ticker]) - dropped)
    assert len(expected) == len(CLOSES_TXT[ticker]) - (1 if ticker == "3350.T" else 0)
    assert got == expected
    assert len(got) == len(set(got))


def test_prices_one_row_per_asset_and_day(prices):
    # The table's key: (asset, date) never repeats, and every asset is there
    assert prices.select("asset", "date").is_duplicated().sum() == 0
    assert set(prices["asset"].unique()) == {s.name for s in REGISTRY.assets()}
    assert prices.height == sum(len(CLOSES_TXT[t]) for t in PRICE_TICKERS) - 1  # less 3350.T 2020-10-01


def test_prices_ndx_has_no_weekend_rows_btc_has_every_day(prices):
    ndx = prices.filter(pl.col("ticker") == "^NDX")["date"].to_list()
    assert not [d for d in ndx if d.weekday() >= 5]
    btc = prices.filter(pl.col("ticker") == "BTC-USD")["date"].to_list()
    # crypto: every UTC day 2014-09-17 … 2026-03-31 in the CSV → 4214 rows
    assert len(btc) == (btc[-1] - btc[0]).days + 1 == 4214


@pytest.mark.parametrize(
    ("day", "rate_day", "usd_by_hand"),
    [
        # 2025-10-06: 3350.T Close 591 JPY; JPY=X same day Close 149.6060028076172 JPY per USD
        # → 591 / 149.6060028076172 = 3.950376... USD
        (D("2025-10-06"), D("2025-10-06"), 591 / 149.6060028076172),
        # 2025-12-25: Tokyo traded (Close 438), JPY=X has no row that day → the newest rate on
        # or before it, 2025-12-24 Close 156.17599487304688 → 438 / 156.17599487304688 = 2.804528... USD
        (D("2025-12-25"), D("2025-12-24"), 438 / 156.17599487304688),
        # 2025-04-21 (Easter Monday): JPY=X has no 04-18 nor 04-21 row; newest is 2025-04-17
        # (4 days, within fx_max_age_days 5) Close 141.92799377441406; 3350.T Close 354
        # → 354 / 141.92799377441406 = 2.494222... USD
        (D("2025-04-21"), D("2025-04-17"), 354 / 141.92799377441406),
    ],
    ids=str,
)
def test_prices_jpy_asset_converts_at_rate_as_of_date(prices, day, rate_day, usd_by_hand):
    close = float(CLOSES_TXT["3350.T"][day])
    rate = float(CLOSES_TXT["JPY=X"][rate_day])
    assert day not in CLOSES_TXT["JPY=X"] or rate_day == day
    assert close / rate == pytest.approx(usd_by_hand, rel=1e-12)
    row = price_row(prices, "3350.T", day)
    assert row["currency"] == "JPY" and row["asset"] == "metaplanet"
    assert row["close"] == close
    assert row["close_usd"] == pytest.approx(usd_by_hand, rel=1e-12)


def test_prices_fx_older_than_max_age_gives_null_not_future_rate(closes, asset_table, jpy_rates):
    # 2025-04-21: newest JPY=X rate is 2025-04-17 (4 days); with fx_max_age_days=3 it is too
    # old → close_usd null. The next rate (2025-04-22) must not be used.
    out = asset_prices_daily(closes, asset_table, {"JPY": jpy_rates}, fx_max_age_days=3)
    row = price_row(out, "3350.T", D("2025-04-21"))
    assert row["close"] == 354.0
    assert row["close_usd"] is None


def test_prices_registry_drop_date_row_is_not_published(prices):
    # 3350.T 2020-10-01 is the TSE outage row `#VALUE!`. The reader keeps it (value null, the
    # text as written); the registry's drop_dates removes it before the transform; so the
    # table has no row for that day and the neighbouring trading days are untouched.
    assert CLOSES_TXT["3350.T"][D("2020-10-01")] == "#VALUE!"
    raw = read_price_csv(PRICES / "3350.T.csv", "3350.T").filter(pl.col("obs_date") == D("2020-10-01"))
    assert raw.select("value", "value_text").rows() == [(None, "#VALUE!")]
    assert D("2020-10-01") in REGISTRY.get("3350.T").drop_dates
    metaplanet = prices.filter(pl.col("ticker") == "3350.T")
    assert D("2020-10-01") not in metaplanet["date"].to_list()
    # 2020-09-30 and 2020-10-02, the trading days either side, read from the CSV
    for day in (D("2020-09-30"), D("2020-10-02")):
        assert price_row(prices, "3350.T", day)["close"] == float(CLOSES_TXT["3350.T"][day])


def test_prices_every_close_and_close_usd_is_a_number(prices):
    # The published suite requires both non-null; on the real snapshot every 3350.T day has a
    # JPY=X rate at most fx_max_age_days (5) old.
    assert prices.filter(pl.col("close").is_null() | pl.col("close").is_nan()).height == 0
    assert prices.filter(pl.col("close_usd").is_null() | pl.col("close_usd").is_nan()).height == 0


def test_prices_missing_fx_for_non_usd_currency_raises(closes, asset_table):
    with pytest.raises(ValueError, match="JPY"):
        asset_prices_daily(closes, asset_table)
    with pytest.raises(ValueError, match="JPY"):
        asset_prices_daily(closes, asset_table, {"EUR": pl.DataFrame({"date": [D("2025-01-02")], "value": [0.9]})})


def test_prices_schema_matches_catalog(prices):
    from transforms.catalog import TABLES

    assert prices.schema == TABLES["asset_prices_daily"].schema


def test_liquidity_tables_match_catalog_schema(weekly, daily):
    from transforms.catalog import TABLES

    assert weekly.schema == TABLES["net_liquidity_weekly"].schema
    assert daily.schema == TABLES["net_liquidity_daily"].schema

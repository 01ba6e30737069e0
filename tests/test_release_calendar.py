"""The CPI release calendar (flows/release_dates/bls_cpi.csv) and its fallback rule, against
real BLS release dates.

The dates below are read off the releases themselves, not off the calendar file: BLS's news
release text ("Transmission of material in this release is embargoed until 8:30 a.m. ...") or
a wire report dated the release day, as stored in public web pages (URLs beside each case).
CPI comes out at 08:30 New York: 12:30 UTC under daylight saving time (second Sunday of March
to first Sunday of November), 13:30 UTC otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows.registry import REGISTRY_PATH, RegistryError, load_registry
from transforms import known as pit

REGISTRY = load_registry()
D = dt.date.fromisoformat
UTC = dt.datetime  # naive datetimes below are UTC
CPI_KEYS = ("CPIAUCNS", "CPIAUCSL")  # one BLS release carries both


def _known_at(key: str, obs: str, rule: pit.ReleaseRule | None = None) -> dt.datetime:
    rule = rule or REGISTRY.get(key).release_rule()
    return pit.rule_known_at(pl.Series([D(obs)]), rule)[0]


def _fallback(key: str) -> pit.ReleaseRule:
    """The key's rule without its calendar: what a month the calendar misses gets."""
    return dataclasses.replace(REGISTRY.get(key).release_rule(), release_dates={})


# --- known dates are used exactly ---------------------------------------------------------

REAL_RELEASES = [
    # June 2014: USDL-14-1345, "embargoed until 8:30 a.m. (EDT) Tuesday, July 22, 2014"
    # (bls.gov/news.release/cpi.nr0.htm as stored in July 2014). The old 45-day rule said 07-16.
    ("2014-06-01", UTC(2014, 7, 22, 12, 30)),
    # September 2013, delayed by the shutdown: Reuters' CPI table dated 2013-10-30
    # (reuters.com/article/idUSLLAULE9EW20131030)
    ("2013-09-01", UTC(2013, 10, 30, 12, 30)),
    # October 2013: USDL-13-2193, "embargoed until 8:30 a.m. (EST) Wednesday, November 20, 2013"
    ("2013-10-01", UTC(2013, 11, 20, 13, 30)),
    # February 2009: bls.gov/news.release/archives/cpi_03182009.htm, "UNTIL 8:30 A.M. (EDT)
    # Wednesday, March 18, 2009"
    ("2009-02-01", UTC(2009, 3, 18, 12, 30)),
    # July 2007: floordaily.net "Washington, DC, August 15, 2007 — The consumer price index rose
    # 0.1 % in July"
    ("2007-07-01", UTC(2007, 8, 15, 12, 30)),
    # October 2011: Bloomberg's "U.S. October Consumer Price Index Report (Text)", 2011-11-16
    ("2011-10-01", UTC(2011, 11, 16, 13, 30)),
    # February 2015: Reuters' CPI table dated 2015-03-24 (uk.reuters.com/article/idUKLLAOEEBFF20150324)
    ("2015-02-01", UTC(2015, 3, 24, 12, 30)),
    # September 2025, delayed by the shutdown from 10-15 to Friday 2025-10-24 (Bloomberg Law,
    # "originally scheduled to be released Oct. 15"; trecome.info "9月CPI統計を10月24日に発表")
    ("2025-09-01", UTC(2025, 10, 24, 12, 30)),
    # November 2025: "November's Consumer Price Index report will be published on Dec. 18. It
    # was initially due on Dec. 10" (Reuters via newindiaabroad.com, 2025-11-21)
    ("2025-11-01", UTC(2025, 12, 18, 13, 30)),
]


@pytest.mark.parametrize("key", CPI_KEYS)
@pytest.mark.parametrize(("obs", "expected"), REAL_RELEASES, ids=[c[0] for c in REAL_RELEASES])
def test_a_known_release_date_is_used_exactly(key, obs, expected):
    assert _known_at(key, obs) == expected


def test_the_45_day_rule_looked_ahead_where_the_calendar_does_not():
    # issue 12: obs date + 45 days put June 2014 CPI in use from 2014-07-16; BLS released it
    # on 07-22 (above). The calendar's date is used; the old rule would have been 6 days early.
    old = dataclasses.replace(_fallback("CPIAUCNS"), lag_days=45)
    assert _known_at("CPIAUCNS", "2014-06-01", old) == UTC(2014, 7, 16, 12, 30)
    assert _known_at("CPIAUCNS", "2014-06-01") == UTC(2014, 7, 22, 12, 30)


# --- the fallback is never earlier than a real release ---------------------------------------

def test_the_fallback_is_never_earlier_than_any_listed_release():
    spec = REGISTRY.get("CPIAUCNS")
    listed = pl.DataFrame(spec.calendar_dates, schema=["obs_date", "release_date"], orient="row")
    assert listed.height == 234
    real = listed.select(
        (pl.col("release_date").cast(pl.Datetime("us")) + pl.duration(hours=8, minutes=30))
        .dt.replace_time_zone("America/New_York").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    ).to_series()
    fallback = pit.rule_known_at(listed["obs_date"], _fallback("CPIAUCNS"))
    margin_days = (fallback - real).dt.total_days()
    assert margin_days.min() >= 0, listed.filter(margin_days < 0)
    # the bound is tight: September 2013 (out 2013-10-30, the shutdown) is exactly on it
    tight = listed.filter(margin_days == 0)
    assert tight.rows() == [(D("2013-09-01"), D("2013-10-30"))]


@pytest.mark.parametrize(
    ("obs", "real"),
    [
        # months before the calendar, from BLS's own release texts: October 1994 "EMBARGOED UNTIL
        # 8:30 A.M. (EST) Wednesday, November 16, 1994" (USDL-94-556, fraser.stlouisfed.org
        # consumer-price-index-6838/october-1994-consumer-price-index-627205)
        ("1994-10-01", UTC(1994, 11, 16, 13, 30)),
        # September 1997: "UNTIL 8:30 A.M. (EDT) Thursday, October 16, 1997" (USDL-97-364,
        # stats.bls.gov/news.release/history/cpi_101697.txt)
        ("1997-09-01", UTC(1997, 10, 16, 12, 30)),
        # September 1998: "UNTIL 8:30 A.M. (EDT) Friday, October 16,1998" (USDL-98-420,
        # stats.bls.gov/news.release/history/cpi_101698.txt)
        ("1998-09-01", UTC(1998, 10, 16, 12, 30)),
        # October 1985: "the Labor Department said Friday" (UPI in the Sun-Sentinel of Saturday
        # 1985-11-23): Friday 1985-11-22; the release hour is not stated, so the end of that day
        ("1985-10-01", UTC(1985, 11, 23, 5, 0)),
    ],
)
def test_the_fallback_is_not_earlier_than_real_releases_before_the_calendar(obs, real):
    assert D(obs) not in dict(REGISTRY.get("CPIAUCNS").calendar_dates)
    assert _known_at("CPIAUCNS", obs) >= real


def test_months_outside_the_calendar_fall_back_to_59_days_on_a_business_day():
    # July 2026 is after the calendar: 07-01 + 59 d = Saturday 08-29 → Monday 08-31, 08:30 EDT.
    # (BLS scheduled it for 2026-08-12: the fallback is 19 days late, never early.)
    assert REGISTRY.get("CPIAUCNS").publication_lag_days == 59
    assert _known_at("CPIAUCNS", "2026-07-01") == UTC(2026, 8, 31, 12, 30)
    # December 2000, before it: 12-01 + 59 d = Monday 2001-01-29, 08:30 EST
    assert _known_at("CPIAUCNS", "2000-12-01") == UTC(2001, 1, 29, 13, 30)


# --- the calendar file itself ------------------------------------------------------------------

def test_the_calendar_has_one_row_per_month_released_the_month_after():
    dates = dict(REGISTRY.get("CPIAUCNS").calendar_dates)
    assert dates == dict(REGISTRY.get("CPIAUCSL").calendar_dates)
    months, month = [], D("2006-12-01")
    while month <= D("2026-06-01"):
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    # October 2025 was never collected (the lapse in appropriations): no release, no row
    assert sorted(dates) == [m for m in months if m != D("2025-10-01")]
    for obs, released in dates.items():
        following = (obs + dt.timedelta(days=32)).replace(day=1)
        assert (released.year, released.month) == (following.year, following.month), obs
        assert released.weekday() < 5, obs


def test_next_release_is_the_calendar_date_then_the_fallback():
    spec = REGISTRY.get("CPIAUCNS")
    # March 2026 is the newest month → April 2026 CPI, out 2026-05-12 (calendar)
    assert spec.next_release(D("2026-03-01")) == D("2026-05-12")
    # June 2026 → July 2026, past the calendar: the fallback's 2026-08-31
    assert spec.next_release(D("2026-06-01")) == D("2026-08-31")


# --- bad calendars are refused at load time ---------------------------------------------------

REAL_TEXT = REGISTRY_PATH.read_text()
CALENDAR_LINE = 'release_calendar = "flows/release_dates/bls_cpi.csv"'


def _registry_with(tmp_path: Path, calendar: str | None = None, text: str = REAL_TEXT) -> Path:
    if calendar is not None:
        (tmp_path / "cal.csv").write_text(calendar)
        text = text.replace(CALENDAR_LINE, f'release_calendar = "{tmp_path / "cal.csv"}"')
    path = tmp_path / "series.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ("# no header row\n", r"needs columns obs_date and release_date"),
        ("obs_date,release_date\n2014-06-01,July 22\n", r"does not hold two YYYY-MM-DD dates"),
        ("obs_date,release_date\n2014-06-01,2014-07-22\n2014-06-01,2014-07-23\n", r"2014-06-01 is listed twice"),
        ("obs_date,release_date\n2014-06-01,2014-05-30\n", r"2014-06-01 was released on 2014-05-30, before"),
        # later than obs + 59 days: the fallback would have used it before it was out
        ("obs_date,release_date\n2014-06-01,2014-08-05\n",
         r"'CPIAUCNS': publication_lag_days 59 is the fallback .* never be earlier than a real release: "
         r"1 listed date\(s\) came later, e.g. 2014-06-01 was released on 2014-08-05, the fallback says 2014-07-30"),
    ],
)
def test_a_bad_calendar_is_refused(tmp_path, calendar, message):
    with pytest.raises(RegistryError, match=message):
        load_registry(_registry_with(tmp_path, calendar))


def test_a_fallback_shorter_than_the_calendar_is_refused(tmp_path):
    # the old 45 days: September 2013 (out 10-30) is the worst, 14 days after the fallback's 10-16
    text = REAL_TEXT.replace("publication_lag_days = 59", "publication_lag_days = 45", 1)
    with pytest.raises(RegistryError, match=r"'CPIAUCNS': publication_lag_days 45 .* e\.g\. 2013-09-01 was "
                                            r"released on 2013-10-30, the fallback says 2013-10-16"):
        load_registry(_registry_with(tmp_path, text=text))


def test_a_missing_calendar_and_a_clashing_exception_are_refused(tmp_path):
    text = REAL_TEXT.replace(CALENDAR_LINE, 'release_calendar = "flows/release_dates/none.csv"', 1)
    with pytest.raises(RegistryError, match=r"'CPIAUCNS': release_calendar flows/release_dates/none.csv: cannot be read"):
        load_registry(_registry_with(tmp_path, text=text))
    clash = REAL_TEXT.replace(CALENDAR_LINE, CALENDAR_LINE + '\nrelease_exceptions = { "2014-06-01" = 2014-07-23 }', 1)
    with pytest.raises(RegistryError, match=r"'CPIAUCNS': release_exceptions and .* different release dates for 2014-06-01"):
        load_registry(_registry_with(tmp_path, text=clash))


def test_the_holiday_file_is_pandas_federal_calendar():
    # transforms/us_federal_holidays.txt is what next_business_day reads, so that no run
    # imports pandas for it; pandas' USFederalHolidayCalendar over the same span is the source
    from pandas.tseries.holiday import USFederalHolidayCalendar

    from transforms import known

    days = USFederalHolidayCalendar().holidays(*known.US_HOLIDAYS_SPAN)
    assert sorted(known._us_holidays()) == [d.date() for d in days]
    assert len(days) > 1500

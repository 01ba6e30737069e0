"""When each value became known: the point-in-time layer. Pure polars.

Every stored row of a series (warehouse `observation_history`) gets `row_known_at_utc`,
the moment that value became public:

1. an ALFRED vintage (the row has `realtime_start`): that day at the series' release time;
2. the first value netliq holds for an observation, without a vintage: the release rule,
   the day the publisher really released it where a release calendar lists it (e.g. BLS's
   CPI dates), else observation date + publication lag (a release due on a weekend or a US
   federal holiday is taken to come out the next business day, for scheduled releases), at
   the release time of day in the release's time zone; or when netliq fetched it, if that
   was earlier;
3. a later value of the same observation without a vintage (a revision netliq saw
   itself): when netliq fetched it. netliq cannot know it was public earlier.

From those, `current` is today's view (the newest value of each observation, placed at
the time its first value became known: a revision corrects the number, not the day it
became available) and `known_as_of` is the view at a past moment (for each observation,
the newest value known by then; observations not yet known are absent).

Times are naive `Datetime("us")` in UTC; `known_on` turns one into the New York date whose
evening it is known by.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

NEW_YORK = "America/New_York"
UTC_TIME = pl.Datetime("us")


@dataclass(frozen=True)
class ReleaseRule:
    """When an observation dated D is published, at `time` (local, in `tz`): on
    release_dates[D] when the publisher's calendar lists D, else on the fallback day D +
    lag_days.

    time "24:00" means the end of that day (a daily bar of a market that closes at
    midnight). business_days: a fallback day (with a lag > 0) on a weekend or a US federal
    holiday moves to the next business day (scheduled statistical releases; not market
    closes, and not a lag-0 series dated by its release day).
    release_dates: observation date → the day it was really released (a release calendar,
    a documented late release such as CPI delayed by a government shutdown). Listed days
    are used as they are; the lag is the fallback for every other date.
    """

    lag_days: int
    time: str = "24:00"
    tz: str = NEW_YORK
    business_days: bool = False
    release_dates: Mapping[dt.date, dt.date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lag_days < 0:
            raise ValueError(f"release lag must be >= 0 days, got {self.lag_days}")
        _clock(self.time)
        ZoneInfo(self.tz)

    def fallback_day(self, obs: dt.date) -> dt.date:
        """The local day the lag rule gives for `obs`, ignoring release_dates."""
        due = obs + dt.timedelta(days=self.lag_days)
        return next_business_day(due) if self.business_days and self.lag_days else due

    def release_day(self, obs: dt.date) -> dt.date:
        """The local day `obs` is published: its listed release date, else the fallback day."""
        return self.release_dates.get(obs) or self.fallback_day(obs)

    @staticmethod
    def parse(text: str, **kwargs) -> "ReleaseRule":
        """ReleaseRule from "HH:MM Area/City" (the registry's release_time)."""
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f"release time must be 'HH:MM Area/City', got {text!r}")
        return ReleaseRule(time=parts[0], tz=parts[1], **kwargs)


def _clock(text: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(p) for p in text.split(":"))
    except ValueError:
        raise ValueError(f"release time of day must be HH:MM, got {text!r}") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"release time of day must be between 00:00 and 24:00, got {text!r}")
    return hours, minutes


# US federal holidays (the Federal Reserve's), 1950–2100, as pandas' USFederalHolidayCalendar
# gives them, one ISO date a line: read from the file, a registry load does not import pandas
# (0.4 s and ~90 MiB of every run); tests/test_release_calendar.py holds the file to pandas.
US_HOLIDAYS_FILE = Path(__file__).with_name("us_federal_holidays.txt")
US_HOLIDAYS_SPAN = ("1950-01-01", "2100-12-31")


@functools.cache
def _us_holidays() -> frozenset[dt.date]:
    lines = US_HOLIDAYS_FILE.read_text().splitlines()
    return frozenset(dt.date.fromisoformat(line) for line in lines if line and not line.startswith("#"))


def next_business_day(day: dt.date) -> dt.date:
    """`day` itself if a US business day (not a weekend, not a federal holiday), else the next one."""
    holidays = _us_holidays()
    while day.weekday() >= 5 or day in holidays:
        day += dt.timedelta(days=1)
    return day


def _at_time(days: pl.Expr, rule: ReleaseRule) -> pl.Expr:
    """Local release dates at the rule's time of day → naive UTC datetimes."""
    hours, minutes = _clock(rule.time)
    local = days.cast(pl.Datetime("us")) + pl.duration(hours=hours, minutes=minutes)
    return (local.dt.replace_time_zone(rule.tz, ambiguous="latest", non_existent="null")
            .dt.convert_time_zone("UTC").dt.replace_time_zone(None))


def rule_known_at(obs_dates: pl.Series, rule: ReleaseRule) -> pl.Series:
    """When each observation date's first value is published by the rule (naive UTC)."""
    frame = pl.DataFrame({"obs_date": obs_dates.cast(pl.Date)})
    released = frame.select(
        pl.col("obs_date").replace_strict(dict(rule.release_dates), default=None, return_dtype=pl.Date)
        .alias("listed"),
        (pl.col("obs_date") + pl.duration(days=rule.lag_days)).alias("due"),
    )
    # a lag-0 rule dates a value by its release day itself (an operation, a survey date): it
    # was published that day, holiday or not; only a lag can land on a day without releases
    if rule.business_days and rule.lag_days and released.height:
        due = released["due"].drop_nulls().unique()
        moved = {d: next_business_day(d) for d in due.to_list()}
        released = released.with_columns(pl.col("due").replace_strict(moved, default=None, return_dtype=pl.Date))
    days = released.select(pl.coalesce("listed", "due").alias("day"))
    return days.select(_at_time(pl.col("day"), rule).alias("rule_known_at_utc"))["rule_known_at_utc"]


def known_rows(history: pl.DataFrame, rule: ReleaseRule) -> pl.DataFrame:
    """`history` (one series, every stored row, oldest first per observation: columns
    obs_date, value, realtime_start, fetched_at_utc, ...) with `row_known_at_utc` (when that
    row's value became public, see the module doc) and `known_at_utc` (when the
    observation's first value did)."""
    if history.height == 0:
        return history.with_columns(pl.lit(None, UTC_TIME).alias("row_known_at_utc"),
                                    pl.lit(None, UTC_TIME).alias("known_at_utc"))
    once = _one_row_per_observation(history)
    first = pl.lit(True) if once else pl.int_range(pl.len()).over("obs_date") == 0
    rule_time = rule_known_at(history["obs_date"], rule)
    vintage = _at_time(pl.col("realtime_start"), rule)
    fetched = pl.col("fetched_at_utc").cast(UTC_TIME)
    row_known = (
        pl.when(pl.col("realtime_start").is_not_null()).then(vintage)
        .when(first).then(pl.min_horizontal(pl.col("_rule"), fetched))
        .otherwise(fetched)
    )
    if once:
        # each observation's only row: it is its first value, nothing to order against (the
        # windows below would give the same, at a window per observation date)
        return (history.with_columns(rule_time.alias("_rule")).with_columns(row_known.alias("row_known_at_utc"))
                .with_columns(pl.col("row_known_at_utc").alias("known_at_utc")).drop("_rule"))
    return (
        history.with_columns(rule_time.alias("_rule"))
        .with_columns(row_known.alias("row_known_at_utc"))
        # a value is never known before the value it replaced (a late-stamped first row
        # and an early vintage can otherwise cross): known times only move forward
        .with_columns(pl.col("row_known_at_utc").cum_max().over("obs_date"))
        .with_columns(pl.col("row_known_at_utc").first().over("obs_date").alias("known_at_utc"))
        .drop("_rule")
    )


def _one_row_per_observation(frame: pl.DataFrame) -> bool:
    """Whether no observation date of `frame` has a second row (no revision stored)."""
    return frame["obs_date"].n_unique() == frame.height


def current(known: pl.DataFrame) -> pl.DataFrame:
    """Today's view: the newest row of each observation, with `known_at_utc` the time its
    first value became known."""
    if _one_row_per_observation(known):  # as group_by gives it: obs_date first
        return known.select("obs_date", pl.exclude("obs_date")).sort("obs_date", maintain_order=True)
    return known.group_by("obs_date", maintain_order=True).last().sort("obs_date")


def known_as_of(known: pl.DataFrame, through_utc: dt.datetime) -> pl.DataFrame:
    """The view at `through_utc` (naive UTC): for each observation known by then, the newest
    value known by then."""
    return current(known.filter(pl.col("row_known_at_utc") <= through_utc))


def end_of_day_utc(day: dt.date, tz: str = NEW_YORK) -> dt.datetime:
    """The last microsecond of `day` in `tz`, as naive UTC: "as known on the evening of day"."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tz)) - dt.timedelta(microseconds=1)
    return end.astimezone(dt.timezone.utc).replace(tzinfo=None)


def known_on(known_at_utc: pl.Expr, tz: str = NEW_YORK) -> pl.Expr:
    """The date in `tz` on whose evening a value known at `known_at_utc` is known."""
    return known_at_utc.dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date()


def with_known_on(table: str, name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """An input series (`date`, `value`, `known_at_utc`) with `_known_on`, the New York date
    it became known, which `transforms.align.as_of` joins on; a ValueError naming the table
    and the input when a row does not say when it became known."""
    if "known_at_utc" not in frame.columns or frame["known_at_utc"].null_count():
        missing = frame.height if "known_at_utc" not in frame.columns else frame["known_at_utc"].null_count()
        raise ValueError(f"{table}: input {name} needs known_at_utc on every row (when each observation became "
                         f"public; see transforms.known); {missing} row(s) lack it")
    return frame.with_columns(pl.col("known_at_utc").cast(UTC_TIME), known_on(pl.col("known_at_utc")).alias("_known_on"))


def revisions(known: pl.DataFrame) -> pl.DataFrame:
    """Every revision of one series: the rows after an observation's first, each with the
    value it replaced. Columns: obs_date, old_value, new_value, old_value_text,
    new_value_text, known_at_utc (when the new value became public), fetched_at_utc,
    run_id."""
    by_obs = pl.col("obs_date")
    if _one_row_per_observation(known):  # no observation has a second value
        known = known.clear()
    return (
        known.with_columns(
            pl.col("value").shift(1).over(by_obs).alias("old_value"),
            pl.col("value_text").shift(1).over(by_obs).alias("old_value_text"),
            (pl.int_range(pl.len()).over(by_obs) > 0).alias("_revision"),
        )
        .filter("_revision")
        .select("obs_date", "old_value", pl.col("value").alias("new_value"), "old_value_text",
                pl.col("value_text").alias("new_value_text"),
                pl.col("row_known_at_utc").alias("known_at_utc"), "fetched_at_utc", "run_id")
    )


def with_rule_known_at(frame: pl.DataFrame, rule: ReleaseRule) -> pl.DataFrame:
    """`frame` (column `date`: observation dates) with `known_at_utc` by the release rule
    alone: for a series held without history (first values only)."""
    return frame.with_columns(rule_known_at(frame["date"], rule).alias("known_at_utc"))

"""Joining series that live on different calendars without looking ahead. Pure polars."""

from __future__ import annotations

import polars as pl


def as_of(
    left: pl.DataFrame,
    series: pl.DataFrame,
    *,
    value: str,
    obs_date: str,
    lag_days: int = 0,
    tolerance_days: int | None = None,
    extra: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Each row of `left` (column `date`) with the newest observation of `series` (`date`,
    `value`) available on that date: an observation becomes available on its `_known_on`
    date when `series` has that column (the New York date it became public), else
    `lag_days` after its date. Adds `value` and `obs_date` (the observation's own date), and
    each `extra` column of `series` under its new name; with `tolerance_days`, an
    observation more than that many days older than the row is not used (all null).
    """
    extra = extra or {}
    on = pl.col("_known_on") if "_known_on" in series.columns else pl.col("date") + pl.duration(days=lag_days)
    available = series.select(
        on.alias("_available_on"),
        pl.col("date").alias(obs_date),
        pl.col("value").alias(value),
        *(pl.col(src).alias(dst) for src, dst in extra.items()),
    ).sort("_available_on")
    out = left.sort("date").join_asof(available, left_on="date", right_on="_available_on", strategy="backward")
    if tolerance_days is not None:
        too_old = (pl.col("date") - pl.col(obs_date)).dt.total_days() > tolerance_days
        out = out.with_columns(pl.when(too_old).then(None).otherwise(pl.col(c)).alias(c)
                               for c in (value, obs_date, *extra.values()))
    return out.drop("_available_on")


def outstanding_overnight(
    days: pl.DataFrame, operations: pl.DataFrame, *, value: str, obs_date: str, lag_days: int, lookback_days: int,
    extra: dict[str, str] | None = None,
) -> pl.DataFrame:
    """The amount of an overnight facility (reverse repo, standing repo) outstanding on each
    `date` of `days`.

    FRED has no row on days without an operation. An operation is outstanding until the
    next business day, so a weekend or holiday carries the last operation day's amount (up
    to `lookback_days`); with no operation in that window nothing is outstanding and the
    amount is 0 (`obs_date` is then null, so the rule is visible). A feed that stops is not
    mistaken for zero: the gate's freshness check on the raw series blocks the publish first.
    """
    return as_of(
        days, operations, value=value, obs_date=obs_date, lag_days=lag_days, tolerance_days=lookback_days,
        extra=extra,
    ).with_columns(pl.col(value).fill_null(0.0))


INPUT_SCHEMA = {"date": pl.Date(), "value": pl.Float64()}


def checked_series(
    table: str, name: str, frame: pl.DataFrame | None, *, optional: bool = False, must_be_sorted: bool = True
) -> pl.DataFrame | None:
    """An input series as the transforms' contract promises it (`date`, `value`; dated,
    unique dates, ascending), or a ValueError naming the table and the input. An optional
    input may be None or empty; a required one may be neither."""
    if frame is None:
        if optional:
            return None
        raise ValueError(f"{table}: required input {name} is None")
    if dict(frame.schema) != INPUT_SCHEMA:
        raise ValueError(f"{table}: input {name} must have exactly columns date: Date, value: Float64; "
                         f"found {dict(frame.schema)}")
    if frame.height == 0 and not optional:
        raise ValueError(f"{table}: input {name} is empty")
    if frame["date"].null_count():
        raise ValueError(f"{table}: input {name} has {frame['date'].null_count()} row(s) without a date")
    duplicated = frame.filter(pl.col("date").is_duplicated())["date"].unique().sort()
    if duplicated.len():
        raise ValueError(f"{table}: input {name} has duplicate dates, e.g. {duplicated[0]} ({duplicated.len()} date(s))")
    if must_be_sorted and not frame["date"].is_sorted():
        raise ValueError(f"{table}: input {name} is not sorted by date")
    return frame

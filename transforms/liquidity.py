"""Net liquidity = Fed total assets - Treasury General Account - overnight reverse repo.

Pure polars: frames in, frames out. Every input is a component series with columns
`date` (observation date) and `value_bn` (billions of USD), already converted from its
native units by `in_billions`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

COMPONENTS = ("fed_assets", "tga", "rrp")
BN_DECIMALS = 9


def in_billions(observations: pl.DataFrame, to_bn: float) -> pl.DataFrame:
    """One row per observation date: `date`, `value_bn` = value × to_bn (native units → bn USD).

    Rounded to 1e-9 bn (one dollar) so binary noise (6657161 × 0.001 = 6657.161000000001)
    does not reach the published numbers.
    """
    return observations.select(
        pl.col("obs_date").alias("date"),
        (pl.col("value") * to_bn).round(BN_DECIMALS).alias("value_bn"),
    ).sort("date")


def _net() -> pl.Expr:
    return (pl.col("fed_assets_bn") - pl.col("tga_bn") - pl.col("rrp_bn")).round(BN_DECIMALS).alias("net_liquidity_bn")


def _as_of(
    days: pl.DataFrame, component: pl.DataFrame, name: str, *, lag_days: int, tolerance_days: int | None = None
) -> pl.DataFrame:
    """Each row of `days` joined to the newest observation of `component` available that day.

    An observation becomes available `lag_days` after its date. Adds `<name>_bn` and
    `<name>_obs_date`; with `tolerance_days`, observations older than that are not used.
    """
    available = component.select(
        (pl.col("date") + pl.duration(days=lag_days)).alias("_available_on"),
        pl.col("date").alias(f"{name}_obs_date"),
        pl.col("value_bn").alias(f"{name}_bn"),
    ).sort("_available_on")
    return days.sort("date").join_asof(
        available,
        left_on="date",
        right_on="_available_on",
        strategy="backward",
        tolerance=None if tolerance_days is None else dt.timedelta(days=tolerance_days),
    ).drop("_available_on")


def _rrp_outstanding(days: pl.DataFrame, rrp: pl.DataFrame, *, lag_days: int, lookback_days: int) -> pl.DataFrame:
    """Overnight RRP outstanding on each `date` of `days`.

    FRED has no RRPONTSYD row on days without an operation. An operation is outstanding
    until the next business day, so a weekend or holiday carries the last operation day's
    amount (up to `lookback_days`); with no operation in that window nothing is
    outstanding and the amount is 0 (`rrp_obs_date` is then null, so the rule is visible).
    A feed that stops is not mistaken for zero: the gate's freshness check on the raw
    series blocks the publish first.
    """
    return _as_of(days, rrp, "rrp", lag_days=lag_days, tolerance_days=lookback_days).with_columns(
        pl.col("rrp_bn").fill_null(0.0)
    )


def net_liquidity_weekly(
    fed_assets: pl.DataFrame, tga: pl.DataFrame, rrp: pl.DataFrame, *, rrp_lookback_days: int
) -> pl.DataFrame:
    """One row per H.4.1 Wednesday (the dates of `fed_assets`), billions of USD.

    Columns: date, fed_assets_bn, tga_bn, rrp_bn, rrp_obs_date, net_liquidity_bn.
    TGA is joined on the same Wednesday (a Wednesday without TGA has no row, and the
    gap check on this table blocks it); RRP is the amount outstanding that Wednesday
    (see `_rrp_outstanding`).
    """
    weeks = fed_assets.select("date", pl.col("value_bn").alias("fed_assets_bn")).join(
        tga.select("date", pl.col("value_bn").alias("tga_bn")), on="date", how="inner"
    )
    return (
        _rrp_outstanding(weeks, rrp, lag_days=0, lookback_days=rrp_lookback_days)
        .with_columns(_net())
        .select("date", "fed_assets_bn", "tga_bn", "rrp_bn", "rrp_obs_date", "net_liquidity_bn")
        .sort("date")
    )


def net_liquidity_daily(
    components: dict[str, pl.DataFrame],
    *,
    publication_lag_days: dict[str, int],
    max_age_days: dict[str, int],
    through: dt.date,
) -> pl.DataFrame:
    """One row per calendar day, availability-aligned, billions of USD.

    Each component enters on the day it was published (observation date + the
    registry's publication lag) and is carried as of that day: a day never shows a
    value that was not yet published. For each component the row carries its value
    (`<c>_bn`), the observation it came from (`<c>_obs_date`) and its age in days
    (`<c>_age_days`). `is_stale` is true when Fed assets or TGA is older than its
    `max_age_days` (the value is shown, flagged, never filled from the future); RRP
    cannot be: past its window it is 0 by rule (see `_rrp_outstanding`).
    RRP follows `_rrp_outstanding` on the availability calendar. Rows run from the first
    day every component is available through `through` (the run's clock) inclusive.
    """
    firsts = [
        frame["date"].min() + dt.timedelta(days=publication_lag_days[name])  # type: ignore[operator]
        for name, frame in components.items()
    ]
    start = max(firsts)
    days = pl.DataFrame({"date": pl.date_range(start, through, interval="1d", eager=True)})
    out = days
    for name in ("fed_assets", "tga"):
        out = _as_of(out, components[name], name, lag_days=publication_lag_days[name])
    out = _rrp_outstanding(
        out, components["rrp"], lag_days=publication_lag_days["rrp"], lookback_days=max_age_days["rrp"]
    )
    out = out.with_columns(
        (pl.col("date") - pl.col(f"{name}_obs_date")).dt.total_days().cast(pl.Int32).alias(f"{name}_age_days")
        for name in COMPONENTS
    )
    stale = pl.any_horizontal(pl.col(f"{name}_age_days") > max_age_days[name] for name in ("fed_assets", "tga"))
    return out.with_columns(
        _net(),
        stale.alias("is_stale"),
    ).select(
        "date",
        "fed_assets_bn", "tga_bn", "rrp_bn", "net_liquidity_bn",
        "fed_assets_obs_date", "tga_obs_date", "rrp_obs_date",
        "fed_assets_age_days", "tga_age_days", "rrp_age_days",
        "is_stale",
    ).sort("date")

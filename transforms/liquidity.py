"""Net liquidity = Fed total assets - Treasury General Account - overnight reverse repo.

Pure polars: frames in, frames out. Every input is a component series with columns
`date` (observation date) and `value_bn` (billions of USD), already converted from its
native units by `in_billions`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.align import as_of, outstanding_overnight
from transforms.known import with_known_on

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


def net_liquidity_weekly(
    fed_assets: pl.DataFrame, tga: pl.DataFrame, rrp: pl.DataFrame, *, rrp_lookback_days: int
) -> pl.DataFrame:
    """One row per H.4.1 Wednesday (the dates of `fed_assets`), billions of USD.

    Columns: date, fed_assets_bn, tga_bn, rrp_bn, rrp_obs_date, net_liquidity_bn.
    TGA is joined on the same Wednesday (a Wednesday without TGA has no row, and the
    gap check on this table blocks it); RRP is the amount outstanding that Wednesday
    (see `transforms.align.outstanding_overnight`).
    """
    weeks = fed_assets.select("date", pl.col("value_bn").alias("fed_assets_bn")).join(
        tga.select("date", pl.col("value_bn").alias("tga_bn")), on="date", how="inner"
    )
    return (
        outstanding_overnight(weeks, rrp.rename({"value_bn": "value"}), value="rrp_bn", obs_date="rrp_obs_date",
                              lag_days=0, lookback_days=rrp_lookback_days)
        .with_columns(_net())
        .select("date", "fed_assets_bn", "tga_bn", "rrp_bn", "rrp_obs_date", "net_liquidity_bn")
        .sort("date")
    )


def net_liquidity_daily(
    components: dict[str, pl.DataFrame],
    *,
    max_age_days: dict[str, int],
    through: dt.date,
) -> pl.DataFrame:
    """One row per calendar day, availability-aligned, billions of USD.

    Each component (`date`, `value_bn`, `known_at_utc`: when the observation became public,
    from its ALFRED vintage or its release rule, see transforms.known) enters on the New
    York date it became known and is carried as of that day: a day never shows a value
    that was not yet public by that evening. For each component the row carries its value
    (`<c>_bn`), the observation it came from (`<c>_obs_date`), its age in days
    (`<c>_age_days`) and when it became known (`<c>_known_at_utc`). `is_stale` is true when
    Fed assets or TGA is older than its `max_age_days` (the value is shown, flagged, never
    filled from the future); RRP cannot be: past its window it is 0 by rule (see
    `transforms.align.outstanding_overnight`). Rows run from the first day every component
    is known through `through` (the run's clock) inclusive.
    """
    known = {name: with_known_on("net_liquidity_daily", name, frame.rename({"value_bn": "value"}))
             for name, frame in components.items()}
    start = max(frame["_known_on"].min() for frame in known.values())  # type: ignore[type-var]
    days = pl.DataFrame({"date": pl.date_range(start, through, interval="1d", eager=True)})
    out = days
    for name in ("fed_assets", "tga"):
        out = as_of(out, known[name], value=f"{name}_bn", obs_date=f"{name}_obs_date",
                    extra={"known_at_utc": f"{name}_known_at_utc"})
    out = outstanding_overnight(
        out, known["rrp"], value="rrp_bn", obs_date="rrp_obs_date", lag_days=0,
        lookback_days=max_age_days["rrp"], extra={"known_at_utc": "rrp_known_at_utc"},
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
        "fed_assets_known_at_utc", "tga_known_at_utc", "rrp_known_at_utc",
    ).sort("date")

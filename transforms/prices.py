"""Asset closes in their own currency and in US dollars. Pure polars."""

from __future__ import annotations

import datetime as dt

import polars as pl


def asset_prices_daily(
    closes: pl.DataFrame,
    assets: pl.DataFrame,
    fx_per_usd: dict[str, pl.DataFrame] | None = None,
    *,
    fx_max_age_days: int = 5,
) -> pl.DataFrame:
    """One row per asset per trading day of that asset (its own calendar, no filling).

    `closes`: series_id, obs_date, value (the close, native currency).
    `assets`: series_id, asset, currency (one row per asset).
    `fx_per_usd`: for each non-USD currency, `date`, `value` in units of that currency per
    USD (e.g. JPY=X); the close is converted at the newest rate on or before its date,
    no older than `fx_max_age_days`, else `close_usd` is null (never a future rate).
    Columns: date, asset, ticker, close, currency, close_usd.
    """
    fx_per_usd = fx_per_usd or {}
    priced = closes.join(assets, on="series_id", how="inner").select(
        pl.col("obs_date").alias("date"),
        "asset",
        pl.col("series_id").alias("ticker"),
        pl.col("value").alias("close"),
        "currency",
    )
    missing = set(priced["currency"].unique()) - {"USD"} - set(fx_per_usd)
    if missing:
        raise ValueError(f"asset_prices_daily: no USD rate for currency {sorted(missing)}")
    parts = [priced.filter(pl.col("currency") == "USD").with_columns(pl.col("close").alias("close_usd"))]
    for currency, rates in fx_per_usd.items():
        local = priced.filter(pl.col("currency") == currency).sort("date")
        converted = local.join_asof(
            rates.select(pl.col("date").alias("_fx_date"), pl.col("value").alias("_per_usd")).sort("_fx_date"),
            left_on="date",
            right_on="_fx_date",
            strategy="backward",
            tolerance=dt.timedelta(days=fx_max_age_days),
        )
        parts.append(converted.with_columns((pl.col("close") / pl.col("_per_usd")).alias("close_usd")).drop("_fx_date", "_per_usd"))
    return pl.concat(parts).sort("asset", "date")

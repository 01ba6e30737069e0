"""Every registered series, published: one long table of the observations netliq holds, so a
series that no model table reads is still queryable in SQL and BI without code. Pure polars."""

from __future__ import annotations

import polars as pl

from transforms.spec import Column, TableSpec

BN_DECIMALS = 9

# one row per registry series: what the registry says about it
SERIES_SCHEMA = {"series_id": pl.String(), "series_name": pl.String(), "native_units": pl.String(),
                 "to_bn": pl.Float64(), "source": pl.String(), "source_id": pl.String()}
# the stored observations as known: the newest value of each observation of each series
STORED_SCHEMA = {"series_id": pl.String(), "obs_date": pl.Date(), "value": pl.Float64(),
                 "known_at_utc": pl.Datetime("us"), "realtime_start": pl.Date()}


def series_observations(stored: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """One row per series per observation date with a number, in native units and, where
    the registry gives a factor (`to_bn`), in billions of USD.

    `stored`: the current value of each observation (STORED_SCHEMA; `known_at_utc` when its
    first value became public, `realtime_start` the ALFRED vintage of the value, null
    without one). `series`: the registry's entry of each series (SERIES_SCHEMA). A stored
    row whose value is not a number is left out; a stored series the registry does not
    describe is an error (its units would be unknown).
    """
    for name, frame, schema in (("stored", stored, STORED_SCHEMA), ("series", series, SERIES_SCHEMA)):
        lacking = [c for c in schema if c not in frame.columns]
        if lacking:
            raise ValueError(f"series_observations: input {name} lacks column(s) {', '.join(lacking)}")
    undescribed = sorted(set(stored["series_id"].unique()) - set(series["series_id"]))
    if undescribed:
        raise ValueError(f"series_observations: no registry entry for {', '.join(undescribed)}")
    duplicated = stored.filter(pl.struct("series_id", "obs_date").is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        raise ValueError(f"series_observations: {duplicated.height} rows share a series and date, "
                         f"e.g. {first['series_id']} {first['obs_date']}")
    out = stored.select(STORED_SCHEMA.keys()).filter(pl.col("value").is_not_null()).join(
        series.select(SERIES_SCHEMA.keys()), on="series_id", how="left")
    return out.with_columns(
        (pl.col("value") * pl.col("to_bn")).round(BN_DECIMALS).alias("value_bn"),
        pl.col("realtime_start").alias("vintage_date"),
    ).select(SERIES_OBSERVATIONS.schema.names()).cast(dict(SERIES_OBSERVATIONS.schema)).sort("series_id", "obs_date")


SERIES_OBSERVATIONS = TableSpec(
    name="series_observations",
    grain="one row per registered series per observation date",
    description=(
        "Every series of the registry (flows/series.toml), published whether or not a model table reads it: "
        "the current value of each observation netliq holds (the newest revision; at --as-of, the newest known "
        "then), in the series' native units and, where the registry gives a factor to billions of USD, in "
        "billions. Add a series to the registry and it appears here, no code. known_at_utc says when each "
        "observation became public (for point-in-time joins: known_at_utc <= your timestamp); vintage_date is "
        "its ALFRED vintage when the source has vintages. Dates the source lists without a number are left out."
    ),
    key=("series_id", "obs_date"),
    columns={
        "series_id": Column(pl.String(), "registry key of the series (e.g. WALCL, BTC-USD)"),
        "series_name": Column(pl.String(), "the series' registry name, as the model tables use it (e.g. fed_assets)"),
        "obs_date": Column(pl.Date(), "observation date (the day, week-ending day or month's 1st the value is for)"),
        "value": Column(pl.Float64(), "the value in the series' native units (native_units)"),
        "native_units": Column(pl.String(), "units of value as the provider publishes them (e.g. Millions of U.S. Dollars)"),
        "value_bn": Column(pl.Float64(), "value in billions of USD (value × the registry's to_bn); null for a series "
                                         "that is not a US-dollar amount (prices, rates, indexes, euros)"),
        "known_at_utc": Column(pl.Datetime("us"), "when the observation first became public, UTC (its first ALFRED "
                                                  "vintage at the release time, else the registry's release rule)"),
        "vintage_date": Column(pl.Date(), "ALFRED vintage of this value: the day from which the source published it; "
                                          "null when the source has no vintages (files, Yahoo, a replayed CSV)"),
        "source": Column(pl.String(), "the registry's provider of the series (fred, yahoo, yahoo_shares, file, "
                                      "treasury); an offline run replays values recorded from it (data/snapshot)"),
        "source_id": Column(pl.String(), "the provider's id of the series (FRED series id, Yahoo ticker, file id)"),
    },
)

TABLE_SPECS: tuple[TableSpec, ...] = (SERIES_OBSERVATIONS,)

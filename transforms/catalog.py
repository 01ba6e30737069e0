"""What each published table is: its grain, key, and every column with meaning and units.

The data dictionary is data: the gate checks tables against it (schema and types), the
publish writes it into the published file as column and table comments, and tests assert
that nothing is published without a description.
"""

from __future__ import annotations

import polars as pl

from transforms import balance_sheet, correlation, forward_returns, markets, observations, variants
from transforms.spec import Column, TableSpec

__all__ = ["CATALOG", "PUBLISHES", "TABLES", "Column", "TableSpec", "catalog_frame"]

_KNOWN_AT = ("when the observation first became public, UTC (its first ALFRED vintage at the release "
             "time, else the registry's release rule); always before the end of `date` in New York")

_COMPONENT_AGE = "days from the observation to this day"

_CORE_TABLES: tuple[TableSpec, ...] = (
        TableSpec(
            name="net_liquidity_weekly",
            grain="one row per H.4.1 Wednesday",
            description=(
                "USD net liquidity = Fed total assets − Treasury General Account − overnight reverse repo, "
                "on the Wednesday of each H.4.1 release, billions of USD. Dated by observation: "
                "this Wednesday's row was published on the Thursday after (use net_liquidity_daily for "
                "what was known on a given day)."
            ),
            key=("date",),
            columns={
                "date": Column(pl.Date(), "H.4.1 Wednesday (observation date)"),
                "fed_assets_bn": Column(pl.Float64(), "Fed total assets (WALCL), Wednesday level, billions USD"),
                "tga_bn": Column(pl.Float64(), "Treasury General Account (registry [model].tga: WTREGEN week average by default), billions USD"),
                "rrp_bn": Column(pl.Float64(), "overnight reverse repo outstanding that Wednesday (RRPONTSYD; a holiday carries the last operation day; 0 when no operation in the window), billions USD"),
                "rrp_obs_date": Column(pl.Date(), "operation day the reverse repo amount comes from; null when there was none (amount 0)"),
                "net_liquidity_bn": Column(pl.Float64(), "fed_assets_bn − tga_bn − rrp_bn, billions USD"),
            },
        ),
        TableSpec(
            name="net_liquidity_daily",
            grain="one row per calendar day",
            description=(
                "Net liquidity as known at the end of each calendar day (New York), billions of USD: each "
                "component enters on the day it became public (fed_assets_known_at_utc, tga_known_at_utc, rrp_known_at_utc: its first ALFRED vintage, "
                "else the registry's release rule, e.g. H.4.1 Thursday 16:30 ET) and is carried until the "
                "next release; never a value before it was public. Values are the newest vintage; "
                "`netliq run --as-of DATE` rebuilds the table with the values known then. "
                "is_stale flags days whose weekly components are older than the registry allows."
            ),
            key=("date",),
            columns={
                "date": Column(pl.Date(), "calendar day (end of day, New York)"),
                "fed_assets_bn": Column(pl.Float64(), "Fed total assets known that day, billions USD"),
                "tga_bn": Column(pl.Float64(), "Treasury General Account known that day, billions USD"),
                "rrp_bn": Column(pl.Float64(), "overnight reverse repo outstanding that day (0 when no operation in the window), billions USD"),
                "net_liquidity_bn": Column(pl.Float64(), "fed_assets_bn − tga_bn − rrp_bn, billions USD"),
                "fed_assets_obs_date": Column(pl.Date(), "observation date of fed_assets_bn"),
                "tga_obs_date": Column(pl.Date(), "observation date of tga_bn"),
                "rrp_obs_date": Column(pl.Date(), "operation day of rrp_bn; null when none in the window (amount 0)"),
                "fed_assets_age_days": Column(pl.Int32(), f"fed_assets_bn: {_COMPONENT_AGE}"),
                "tga_age_days": Column(pl.Int32(), f"tga_bn: {_COMPONENT_AGE}"),
                "rrp_age_days": Column(pl.Int32(), f"rrp_bn: {_COMPONENT_AGE}; null when amount is 0 by rule"),
                "is_stale": Column(pl.Boolean(), "true when a component is older than its registry max_age_days"),
                "fed_assets_known_at_utc": Column(pl.Datetime("us"), f"fed_assets_bn: {_KNOWN_AT}"),
                "tga_known_at_utc": Column(pl.Datetime("us"), f"tga_bn: {_KNOWN_AT}"),
                "rrp_known_at_utc": Column(pl.Datetime("us"), f"rrp_bn: {_KNOWN_AT}; null when amount is 0 by rule"),
            },
        ),
        TableSpec(
            name="asset_prices_daily",
            grain="one row per asset per trading day of that asset",
            description=(
                "Daily close of each asset in its own currency and in USD. Each asset keeps its own "
                "calendar (crypto every UTC day, exchange-traded assets on their trading days); no day is filled."
            ),
            key=("asset", "date"),
            columns={
                "date": Column(pl.Date(), "trading day (UTC day for crypto, exchange-local day otherwise)"),
                "asset": Column(pl.String(), "asset name from the registry (bitcoin, gold, nasdaq_100, …)"),
                "ticker": Column(pl.String(), "Yahoo ticker"),
                "close": Column(pl.Float64(), "close in the asset's own currency (currency column), split-adjusted"),
                "currency": Column(pl.String(), "ISO currency of close"),
                "close_usd": Column(pl.Float64(), "close converted to US dollars at the newest rate on or before that day, at "
                                                  "most 5 days old (equal to close for USD assets); null after the rate "
                                                  "series ends (the table is then marked stale)"),
            },
        ),
)

CATALOG = TableSpec(
    name="catalog",
    grain="one row per published table per column",
    description=(
        "The data dictionary of the published file: every table with its grain and description, "
        "every column with its type and meaning (units in the name and the text), the registry "
        "series each table reads, and whether the table is stale in this version and why."
    ),
    key=("table_name", "column_name"),
    columns={
        "table_name": Column(pl.String(), "published table"),
        "grain": Column(pl.String(), "what one row of the table is"),
        "table_description": Column(pl.String(), "what the table holds, its units and alignment rules"),
        "column_name": Column(pl.String(), "column of the table"),
        "column_position": Column(pl.Int32(), "position of the column in the table, from 1"),
        "data_type": Column(pl.String(), "DuckDB-compatible type of the column"),
        "column_description": Column(pl.String(), "meaning and units of the column"),
        "inputs": Column(pl.String(), "registry series the table reads, comma-separated"),
        "is_stale": Column(pl.Boolean(), "true when an input is late against the run's clock or unavailable"),
        "stale_reason": Column(pl.String(), "which inputs are late or unavailable; empty when fresh"),
    },
)

REVISIONS = TableSpec(
    name="revisions",
    grain="one row per revision of a stored observation",
    description=(
        "Every observation whose value changed at the source (a revised H.4.1 week, a restated H.8 or "
        "CPI month), from ALFRED vintages or seen by netliq between two runs: the old and the new value "
        "in the series' native units, when the new value became public (known_at_utc) and when and by "
        "which run netliq stored it. The published tables always use the newest value; this table says "
        "what they used to show, and `netliq run --as-of DATE` rebuilds them as they were."
    ),
    key=("series_id", "obs_date", "known_at_utc"),
    columns={
        "series_id": Column(pl.String(), "registry key of the series"),
        "obs_date": Column(pl.Date(), "observation date that was revised"),
        "old_value": Column(pl.Float64(), "value before the revision, native units of the series"),
        "new_value": Column(pl.Float64(), "value after the revision, native units of the series"),
        "old_value_text": Column(pl.String(), "the source's text of the old value"),
        "new_value_text": Column(pl.String(), "the source's text of the new value"),
        "revised_at_utc": Column(pl.Datetime("us"), "when netliq stored the new value (UTC)"),
        "run_id": Column(pl.String(), "the run that stored it"),
        "known_at_utc": Column(pl.Datetime("us"), "when the new value became public (UTC): its ALFRED vintage "
                               "start at the series' release time, else when netliq fetched it"),
    },
)

PUBLISHES = TableSpec(
    name="publishes",
    grain="one row per published version",
    description=(
        "The publish log: every version ever published, with the run that made it, when, from which "
        "code, the run's clock, row counts and content checksums per table, the check summary, and for "
        "a rollback the version it restored and why. The file's tables are the newest version's."
    ),
    key=("version",),
    columns={
        "version": Column(pl.Int32(), "version number, from 1; never reused"),
        "run_id": Column(pl.String(), "the run (or rollback) that published it"),
        "published_at": Column(pl.Datetime("us", "UTC"), "when it was published (UTC)"),
        "code_version": Column(pl.String(), "netliq version and git commit that published it"),
        "clock": Column(pl.Date(), "the run's clock: the day whose data it holds (the newest replayed observation offline)"),
        "row_counts": Column(pl.String(), "JSON: rows per table in this version"),
        "checksums": Column(pl.String(), "JSON: md5 of each table's sorted rows, per table"),
        "check_summary": Column(pl.String(), "checks passed and failed, warnings, tables held"),
        "reason": Column(pl.String(), "why, for a rollback; null otherwise"),
        "rolled_back_from": Column(pl.Int32(), "for a rollback, the version whose tables it republished; null otherwise"),
    },
)

_DUCKDB_TYPES = {pl.Datetime: "TIMESTAMP", pl.Date: "DATE", pl.Float64: "DOUBLE", pl.Int32: "INTEGER", pl.Int64: "BIGINT",
                 pl.String: "VARCHAR", pl.Boolean: "BOOLEAN"}


def catalog_frame(tables: list[str], inputs: dict[str, list[str]], stale: dict[str, str]) -> pl.DataFrame:
    """The `catalog` table for the given published tables; `inputs` maps table → the series
    it reads, `stale` maps table → why it is stale ("" = fresh)."""
    rows = []
    for name in tables:
        spec = TABLES[name]
        for position, (column, col) in enumerate(spec.columns.items(), start=1):
            rows.append({"column_position": position,
                "table_name": name, "grain": spec.grain, "table_description": spec.description,
                "column_name": column, "data_type": _DUCKDB_TYPES.get(type(col.dtype), str(col.dtype)),
                "column_description": col.description, "inputs": ", ".join(inputs.get(name, [])),
                "is_stale": bool(stale.get(name)), "stale_reason": stale.get(name, ""),
            })
    return pl.DataFrame(rows, schema=CATALOG.schema)


# the model's tables are described beside the transforms that compute them
TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (*_CORE_TABLES, *balance_sheet.TABLE_SPECS, *markets.TABLE_SPECS, *correlation.TABLE_SPECS,
              *variants.TABLE_SPECS, *observations.TABLE_SPECS, *forward_returns.TABLE_SPECS, REVISIONS, CATALOG,
              PUBLISHES)
}

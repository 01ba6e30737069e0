"""One declared suite per raw input and per published table.

Each check is a Great Expectations expectation under a short name. Checks that need a
row-to-row quantity (gap since the previous observation, change, age against the run's
clock, identity residual) read a derived column that `derive` adds before validation,
so the expectation itself stays declarative.
"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite, to_pandas
from flows.registry import Registry, SeriesSpec
from flows.sources.schema import OBSERVATIONS
from transforms.catalog import TABLES
from transforms.known import known_on

# Floating-point slack for the identity net = assets − tga − rrp, in billions USD.
IDENTITY_TOLERANCE_BN = 1e-6


# What pandas_types_of gives for the column types of the published tables and of raw, written
# out so that building a suite does not import pandas (0.4 s and ~90 MiB of an unchanged run);
# tests/test_gate.py holds this table to pandas_types_of for every entry.
PANDAS_TYPES: tuple[tuple[pl.DataType, tuple[str, ...]], ...] = (
    (pl.Boolean(), ("bool", "object")),
    (pl.Date(), ("datetime64[ms]",)),
    (pl.Datetime("us", "UTC"), ("datetime64[us, UTC]",)),
    (pl.Datetime("us"), ("datetime64[us]",)),
    (pl.Float64(), ("float64",)),
    (pl.Int32(), ("float64", "int32")),
    (pl.String(), ("StringDtype",)),
)


def _pandas_types(dtype: pl.DataType) -> list[str]:
    for known, names in PANDAS_TYPES:
        if dtype == known:
            return list(names)
    return pandas_types_of(dtype)


@cache
def pandas_types_of(dtype: pl.DataType) -> list[str]:
    """The pandas dtype names a polars column can become in the frame GE validates:
    with and without nulls (an Int32 column holding a null arrives as float64)."""
    import pandas as pd

    frames = (pl.DataFrame(schema={"c": dtype}), pl.DataFrame({"c": [None]}, schema={"c": dtype}))
    dtypes = [to_pandas(f)["c"].dtype for f in frames]
    return sorted({type(d).__name__ if d == pd.StringDtype() else str(d) for d in dtypes})


def schema_checks(schema: pl.Schema, derive) -> list[Check]:
    """Exactly the declared columns (plus the derived ones the checks read), each of its type."""
    columns = derive(pl.DataFrame(schema=schema)).columns
    checks = [Check("schema", gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True))]
    checks += [
        Check(f"type_{name}", gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=_pandas_types(dtype)))
        for name, dtype in schema.items()
    ]
    return checks


def between(column: str, low: float | None, high: float | None) -> gxe.ExpectColumnValuesToBeBetween:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)


# ---------------------------------------------------------------- raw inputs


def raw_table_name(spec: SeriesSpec) -> str:
    return f"raw.observations[{spec.key}]"


# a run asks for each series' suite three to four times (its fingerprint, its checks, the count
# of a batch that passed): 0.8 ms each, 2.3 s of a 1,000-series run, built once. A Suite and a
# SeriesSpec are frozen, so the same arguments are the same suite.
@lru_cache(maxsize=4096)
def raw_input_suite(spec: SeriesSpec, clock: dt.date) -> Suite:
    """The series as this run would store it: non-empty, typed, one value per date,
    numeric, in range, no gap or jump beyond the registry's limits, fresh against the clock."""

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.sort("obs_date").with_columns(
            (pl.col("obs_date") - pl.col("obs_date").shift(1)).dt.total_days().alias("gap_days"),
            (pl.col("value") - pl.col("value").shift(1)).alias("change_abs"),
            (pl.col("value") / pl.col("value").shift(1) * 100 - 100).alias("change_pct"),
            (pl.lit(clock) - pl.col("obs_date")).dt.total_days().alias("age_days"),
        )
        if spec.gap_check_from is not None:
            out = out.with_columns(
                pl.when(pl.col("obs_date") > spec.gap_check_from).then(pl.col("gap_days")).alias("gap_days")
            )
        if spec.exempt_dates:
            # documented real events (registry exempt_dates): no gap or jump verdict on these rows
            exempt = pl.col("obs_date").is_in(list(spec.exempt_dates))
            out = out.with_columns(
                pl.when(~exempt).then(pl.col(c)).alias(c) for c in ("gap_days", "change_abs", "change_pct")
            )
        return out

    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(OBSERVATIONS, derive),
        Check("unique_key", gxe.ExpectColumnValuesToBeUnique(column="obs_date")),
        Check("numeric_value", gxe.ExpectColumnValuesToNotBeNull(column="value")),
        Check("value_range", between("value", spec.valid_min, spec.valid_max)),
        Check("max_gap", between("gap_days", None, spec.max_gap_days)),
        # lateness policy: a late core series blocks; a late other series marks its tables stale
        Check("freshness", gxe.ExpectColumnMinToBeBetween(column="age_days", max_value=spec.max_age_days),
              blocking=spec.lateness == "block"),
    ]
    if spec.max_change_pct is not None:
        checks.append(Check("jump_pct", between("change_pct", -spec.max_change_pct, spec.max_change_pct)))
    if spec.max_change_abs is not None:
        checks.append(Check("jump_abs", between("change_abs", -spec.max_change_abs, spec.max_change_abs)))
    return Suite(
        table=raw_table_name(spec),
        key_columns=("obs_date", "value_text"),
        checks=tuple(checks),
        derive=derive,
        clock_columns=("age_days",),
    )


# ---------------------------------------------------------------- published tables


def _range_bn(registry: Registry, role: str) -> tuple[float, float]:
    spec = registry.role(role)
    assert spec.to_bn is not None
    return spec.valid_min * spec.to_bn, spec.valid_max * spec.to_bn


def _identity(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        (pl.col("net_liquidity_bn") - (pl.col("fed_assets_bn") - pl.col("tga_bn") - pl.col("rrp_bn"))).alias(
            "identity_residual_bn"
        )
    )


def _liquidity_checks(registry: Registry, table: str, derive) -> list[Check]:
    spec = TABLES[table]
    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(spec.schema, derive),
        Check("unique_key", gxe.ExpectColumnValuesToBeUnique(column="date")),
    ]
    for role in ("fed_assets", "tga", "rrp"):
        low, high = _range_bn(registry, role)
        checks.append(Check(f"not_null_{role}_bn", gxe.ExpectColumnValuesToNotBeNull(column=f"{role}_bn")))
        checks.append(Check(f"range_{role}_bn", between(f"{role}_bn", low, high)))
    checks.append(
        Check("identity_net_liquidity",
              between("identity_residual_bn", -IDENTITY_TOLERANCE_BN, IDENTITY_TOLERANCE_BN))
    )
    return checks


def net_liquidity_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    fed = registry.role("fed_assets")

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        return _identity(frame).sort("date").with_columns(
            (pl.col("date") - pl.col("date").shift(1)).dt.total_days().alias("gap_days"),
            (pl.col("fed_assets_bn") / pl.col("fed_assets_bn").shift(1) * 100 - 100).alias("fed_assets_change_pct"),
            (pl.lit(clock) - pl.col("date")).dt.total_days().alias("age_days"),
        )

    checks = _liquidity_checks(registry, "net_liquidity_weekly", derive) + [
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("weekly_no_gap", between("gap_days", 7, 7)),
        Check("freshness", gxe.ExpectColumnMinToBeBetween(column="age_days", max_value=fed.max_age_days)),
    ]
    if fed.max_change_pct is not None:
        checks.append(Check("jump_fed_assets_pct", between("fed_assets_change_pct", -fed.max_change_pct, fed.max_change_pct)))
    return Suite("net_liquidity_weekly", ("date", "net_liquidity_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


def net_liquidity_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        return _identity(frame).sort("date").with_columns(
            (pl.col("date") - pl.col("date").shift(1)).dt.total_days().alias("gap_days"),
            (pl.lit(clock) - pl.col("date")).dt.total_days().alias("age_days"),
            # an observation used before the evening it became public would be look-ahead
            *(
                (pl.col("date") - known_on(pl.col(f"{role}_known_at_utc"))).dt.total_days()
                .alias(f"{role}_days_after_publication")
                for role in ("fed_assets", "tga", "rrp")
            ),
        )

    checks = _liquidity_checks(registry, "net_liquidity_daily", derive) + [
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("daily_no_gap", between("gap_days", 1, 1)),
        Check("reaches_clock", gxe.ExpectColumnMinToBeBetween(column="age_days", min_value=0, max_value=0)),
        *(
            Check(f"no_lookahead_{role}", between(f"{role}_days_after_publication", 0, None))
            for role in ("fed_assets", "tga", "rrp")
        ),
    ]
    return Suite("net_liquidity_daily", ("date", "net_liquidity_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


def asset_prices_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    limits = pl.DataFrame(
        {
            "asset": [s.name for s in registry.assets()],
            "_max_gap": [s.max_gap_days for s in registry.assets()],
            "_max_jump": [s.max_change_pct or 1e9 for s in registry.assets()],
            "_max_age": [s.max_age_days for s in registry.assets()],
            "_exempt": [list(s.exempt_dates) for s in registry.assets()],
        },
        schema_overrides={"_exempt": pl.List(pl.Date)},
    )

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.sort("asset", "date").with_columns(
            (pl.col("date") - pl.col("date").shift(1).over("asset")).dt.total_days().alias("gap_days"),
            (pl.col("close") / pl.col("close").shift(1).over("asset") * 100 - 100).alias("change_pct"),
            (pl.lit(clock) - pl.col("date").max().over("asset")).dt.total_days().alias("asset_age_days"),
            # close_usd may be null only after the asset's last converted close: its FX rate (a
            # warn-policy series) ended first, and the table is published and marked stale
            (pl.col("close_usd").is_null()
             & (pl.col("date") < pl.col("date").filter(pl.col("close_usd").is_not_null()).max().over("asset"))
             ).fill_null(True).cast(pl.Int32).alias("close_usd_missing_before_last_rate"),
        ).join(limits, on="asset", how="left")
        # documented real events (registry exempt_dates) get no gap or jump verdict
        exempt = pl.col("date").is_in(pl.col("_exempt"))
        out = out.with_columns(
            pl.when(~exempt.fill_null(False)).then(pl.col(c)).alias(c) for c in ("gap_days", "change_pct")
        ).drop("_exempt")
        # each asset has its own limits; the check reads "how far past its own limit"
        return out.with_columns(
            (pl.col("gap_days") - pl.col("_max_gap")).alias("gap_beyond_limit_days"),
            (pl.col("change_pct").abs() - pl.col("_max_jump")).alias("jump_beyond_limit_pct"),
            (pl.col("asset_age_days") - pl.col("_max_age")).alias("age_beyond_limit_days"),
        ).drop("_max_gap", "_max_jump", "_max_age")

    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(TABLES["asset_prices_daily"].schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=["asset", "date"])),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("known_assets_only", gxe.ExpectColumnValuesToBeInSet(
            column="asset", value_set=[s.name for s in registry.assets()])),
        Check("close_positive", between("close", 0, None)),
        Check("close_not_null", gxe.ExpectColumnValuesToNotBeNull(column="close")),
        Check("close_usd_while_rates_last", between("close_usd_missing_before_last_rate", 0, 0)),
        Check("max_gap", between("gap_beyond_limit_days", None, 0)),
        Check("jump_pct", between("jump_beyond_limit_pct", None, 0)),
        Check("freshness", between("age_beyond_limit_days", None, 0), blocking=False),
    ]
    return Suite("asset_prices_daily", ("asset", "date", "close"), tuple(checks), derive,
                 clock_columns=("asset_age_days", "age_beyond_limit_days"))


PUBLISHED_SUITES = {
    "net_liquidity_weekly": net_liquidity_weekly_suite,
    "net_liquidity_daily": net_liquidity_daily_suite,
    "asset_prices_daily": asset_prices_daily_suite,
}

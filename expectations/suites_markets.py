"""Suites for the tables of transforms/markets.py: gold against CPI and flows, cross-asset
ratios, and performance indexed to 100.

Besides shape, keys and plausible ranges, every computed column is checked against its
definition recomputed here from the table's own columns: `derive` adds `<column>_residual`
(published minus recomputed; relative for ratios) and the check bounds it by a tolerance.
A residual is null when either side is null, so `null_mismatches` counts, per row, the
computed columns that are null on exactly one side. The alignment rules are checks too:
no observation is used before it was published, and each ratio's denominator comes from
the day its rule names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import between, schema_checks
from flows.registry import Registry
from transforms.catalog import TableSpec
from transforms.markets import (
    ASSET_RATIOS_DAILY,
    DENOMINATOR_SOURCES,
    GLD_SHARES_MAX_AGE_DAYS,
    GOLD_CPI_MONTHLY,
    GOLD_ANNUAL_FIGURES_THROUGH_YEAR,
    GOLD_AVERAGE_SOURCE,
    GOLD_CLOSE_SOURCE,
    GOLD_DAILY,
    GOLD_PRICE_BASES,
    GOLD_REAL_MONTHLY,
    PERFORMANCE_ASSETS,
    PERFORMANCE_DAILY,
    RATIO_DENOMINATOR_LAG_DAYS,
    RATIO_MIN_HISTORY_DAYS,
    RATIO_WINDOW_DAYS,
    RATIOS,
    YEAR_BASE_MAX_DAYS,
)

Derive = Callable[[pl.DataFrame], pl.DataFrame]

# Relative slack for a ratio recomputed from its own numerator and denominator.
RATIO_TOLERANCE = 1e-12
# Slack for an index or a percentile recomputed, in index points / percentage points.
INDEX_TOLERANCE = 1e-9
# Plausible ranges in the columns' units.
GOLD_RANGE_USD_PER_OZ = (100.0, 50_000.0)
CPI_RANGE_INDEX = (5.0, 1_000.0)
FOREIGN_OFFICIAL_RANGE_BN = (0.0, 20_000.0)
# Days a CPI month is carried on gold days after it became known: about a month until the
# next release; one skipped month is allowed (October 2025 was never collected: September,
# known 2025-10-16 by the release rule, is still the newest on 2025-12-15, 60 days later).
# The newest month is exempt: a late CPI series carries it on, and the table is marked stale.
CPI_CARRY_DAYS = 62
# Monthly rows: one month apart, or two across a month never collected (October 2025).
MAX_MONTHS_BETWEEN_CPI = 2
# The last gold close of a month falls in its last days (weekends, holidays); 10 allows both.
GOLD_MONTH_END_MAX_DAYS = 10
# gold_real_monthly reaches back to 1913, when gold was 18.92 USD/oz (the long history's lowest
# figure since is 18.92 too); its real price in 1982-84 USD ran from 89.7 (1970-07: 35 USD at
# CPI 39.0) to 1,600.6 (2026-01) in the snapshot.
GOLD_LONG_RANGE_USD_PER_OZ = (10.0, 50_000.0)
GOLD_REAL_RANGE_USD_1982_84_PER_OZ = (40.0, 5_000.0)


# ---------------------------------------------------------------- helpers


def _with_definitions(frame: pl.DataFrame, definitions: dict[str, pl.Expr], *, relative: set[str]) -> pl.DataFrame:
    """Add `<column>_residual` (relative for the columns in `relative`) and `null_mismatches`."""

    def residual(col: str, expr: pl.Expr) -> pl.Expr:
        diff = pl.col(col) / expr - 1 if col in relative else pl.col(col) - expr
        return diff.alias(f"{col}_residual")

    mismatch = pl.sum_horizontal(
        (pl.col(col).is_null() != expr.is_null()).cast(pl.Int32) for col, expr in definitions.items()
    ).alias("null_mismatches")
    return frame.with_columns(*(residual(c, e) for c, e in definitions.items()), mismatch)


def _definition_checks(tolerances: dict[str, float]) -> list[Check]:
    checks = [Check(f"definition_{col}", between(f"{col}_residual", -tol, tol)) for col, tol in tolerances.items()]
    checks.append(Check("null_where_undefined", between("null_mismatches", 0, 0)))
    return checks


def _common_checks(spec: TableSpec, derive: Derive, previous_rows: int) -> list[Check]:
    key = (
        gxe.ExpectColumnValuesToBeUnique(column=spec.key[0])
        if len(spec.key) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key))
    )
    return [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(spec.schema, derive),
        Check("unique_key", key),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("no_future_dates", between("age_days", 0, None)),
    ]


def _not_null(column: str) -> Check:
    return Check(f"not_null_{column}", gxe.ExpectColumnValuesToNotBeNull(column=column))


def _days(later: str | pl.Expr, earlier: str | pl.Expr) -> pl.Expr:
    later = pl.col(later) if isinstance(later, str) else later
    earlier = pl.col(earlier) if isinstance(earlier, str) else earlier
    return (later - earlier).dt.total_days()


def _age(clock: dt.date) -> pl.Expr:
    return _days(pl.lit(clock), "date").alias("age_days")


# ---------------------------------------------------------------- gold_daily


def gold_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.sort("date").with_columns(
            _age(clock),
            # an observation used before the day it became public (its vintage, else the
            # release rule: the *_known_date columns) would be look-ahead
            _days("date", "cpi_known_date").alias("cpi_days_after_publication"),
            _days("date", "foreign_official_treasuries_known_date").alias(
                "foreign_official_treasuries_days_after_publication"
            ),
            pl.when(pl.col("cpi_obs_month") < pl.col("cpi_obs_month").max())
            .then(_days("date", "cpi_known_date")).alias("cpi_carried_days_before_newest"),
            _days("date", "gld_shares_date").alias("gld_shares_age_days"),
            pl.col("cpi_obs_month").dt.day().alias("cpi_obs_day_of_month"),
        )
        return _with_definitions(
            out,
            {
                "gold_real_usd_1982_84_per_oz": 100 * pl.col("gold_usd_per_oz") / pl.col("cpi_index"),
                "gld_shares_per_gold_usd_ratio": pl.col("gld_shares_outstanding") / pl.col("gold_usd_per_oz"),
                "foreign_official_treasuries_per_gold_ratio": (
                    pl.col("foreign_official_treasuries_bn") / pl.col("gold_usd_per_oz")
                ),
            },
            relative={
                "gold_real_usd_1982_84_per_oz", "gld_shares_per_gold_usd_ratio",
                "foreign_official_treasuries_per_gold_ratio",
            },
        ).with_columns(
            # a value and its observation date are null together
            pl.sum_horizontal(
                (pl.col(value).is_null() != pl.col(obs).is_null()).cast(pl.Int32)
                for value, obs in (
                    ("cpi_index", "cpi_obs_month"),
                    ("cpi_index", "cpi_known_date"),
                    ("gld_shares_outstanding", "gld_shares_date"),
                    ("foreign_official_treasuries_bn", "foreign_official_treasuries_obs_date"),
                    ("foreign_official_treasuries_bn", "foreign_official_treasuries_known_date"),
                )
            ).alias("obs_date_null_mismatches")
        )

    checks = _common_checks(GOLD_DAILY, derive, previous_rows) + [
        *(_not_null(c) for c in ("gold_usd_per_oz", "cpi_index", "cpi_obs_month", "cpi_known_date",
                                 "gold_real_usd_1982_84_per_oz")),
        Check("range_gold_usd_per_oz", between("gold_usd_per_oz", *GOLD_RANGE_USD_PER_OZ)),
        Check("range_cpi_index", between("cpi_index", *CPI_RANGE_INDEX)),
        Check("range_gld_shares_outstanding", between("gld_shares_outstanding", 0, None)),
        Check("range_foreign_official_treasuries_bn", between("foreign_official_treasuries_bn", *FOREIGN_OFFICIAL_RANGE_BN)),
        Check("cpi_obs_month_is_month_start", between("cpi_obs_day_of_month", 1, 1)),
        Check("no_lookahead_cpi", between("cpi_days_after_publication", 0, None)),
        Check("cpi_carry_within_limit", between("cpi_carried_days_before_newest", 0, CPI_CARRY_DAYS)),
        Check("no_lookahead_foreign_official_treasuries",
              between("foreign_official_treasuries_days_after_publication", 0, None)),
        Check("gld_shares_within_max_age", between("gld_shares_age_days", 0, GLD_SHARES_MAX_AGE_DAYS)),
        Check("obs_date_with_value", between("obs_date_null_mismatches", 0, 0)),
        *_definition_checks(
            {
                "gold_real_usd_1982_84_per_oz": RATIO_TOLERANCE,
                "gld_shares_per_gold_usd_ratio": RATIO_TOLERANCE,
                "foreign_official_treasuries_per_gold_ratio": RATIO_TOLERANCE,
            }
        ),
    ]
    return Suite("gold_daily", ("date", "gold_usd_per_oz"), tuple(checks), derive, clock_columns=("age_days",))


# ---------------------------------------------------------------- gold_cpi_monthly


def gold_cpi_monthly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.sort("date").with_columns(
            _age(clock),
            pl.col("date").dt.day().alias("day_of_month"),
            (
                (pl.col("date").dt.year() * 12 + pl.col("date").dt.month())
                - (pl.col("date").dt.year() * 12 + pl.col("date").dt.month()).shift(1)
            ).alias("months_since_previous"),
            _days(pl.col("date").dt.month_end(), "gold_close_date").alias("gold_close_days_before_month_end"),
            # every month from gold's first to its last has a close: gold is null only before
            # its series starts and after it ends (a late gold series, a warn-policy series
            # whose table is published and marked stale, leaves its newest months null)
            (
                pl.col("gold_usd_per_oz").is_null()
                & (pl.col("date") > pl.col("date").filter(pl.col("gold_usd_per_oz").is_not_null()).min())
                & (pl.col("date") < pl.col("date").filter(pl.col("gold_usd_per_oz").is_not_null()).max())
            ).cast(pl.Int32).alias("gold_missing_within_gold_history"),
            (pl.col("gold_usd_per_oz").is_null() != pl.col("gold_close_date").is_null()).cast(pl.Int32)
            .alias("close_date_null_mismatch"),
        )
        return _with_definitions(
            out, {"gold_real_usd_1982_84_per_oz": 100 * pl.col("gold_usd_per_oz") / pl.col("cpi_index")},
            relative={"gold_real_usd_1982_84_per_oz"},
        )

    checks = _common_checks(GOLD_CPI_MONTHLY, derive, previous_rows) + [
        _not_null("cpi_index"),
        Check("range_cpi_index", between("cpi_index", *CPI_RANGE_INDEX)),
        Check("range_gold_usd_per_oz", between("gold_usd_per_oz", *GOLD_RANGE_USD_PER_OZ)),
        Check("date_is_month_start", between("day_of_month", 1, 1)),
        Check("monthly_no_gap", between("months_since_previous", 1, MAX_MONTHS_BETWEEN_CPI)),
        # never a close after the month's end; never one from long before it
        Check("gold_close_in_month_end", between("gold_close_days_before_month_end", 0, GOLD_MONTH_END_MAX_DAYS)),
        Check("gold_present_within_gold_history", between("gold_missing_within_gold_history", 0, 0)),
        Check("close_date_with_value", between("close_date_null_mismatch", 0, 0)),
        *_definition_checks({"gold_real_usd_1982_84_per_oz": RATIO_TOLERANCE}),
    ]
    return Suite("gold_cpi_monthly", ("date", "cpi_index"), tuple(checks), derive, clock_columns=("age_days",))


# ---------------------------------------------------------------- gold_real_monthly


def gold_real_monthly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    # each gold series and what it measures, in the order the table passes through them
    basis_rank = {b: i for i, b in enumerate(GOLD_PRICE_BASES)}
    basis_source = {"annual_figure": GOLD_AVERAGE_SOURCE, "monthly_average": GOLD_AVERAGE_SOURCE,
                    "month_end_close": GOLD_CLOSE_SOURCE}

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        month = pl.col("date").dt.year() * 12 + pl.col("date").dt.month()
        basis = pl.col("gold_price_basis")
        rank = basis.replace_strict(basis_rank, default=None, return_dtype=pl.Int32)
        # the last day on which a gold figure cannot be public yet: its year's last day for an
        # annual figure, its month's last for an average, the day before for a close
        not_yet_public = (
            pl.when(basis == "annual_figure").then(pl.date(pl.col("date").dt.year(), 12, 31))
            .when(basis == "monthly_average").then(pl.col("date").dt.month_end())
            .when(basis == "month_end_close").then(pl.col("gold_obs_date") - pl.duration(days=1))
        )
        out = frame.sort("date").with_columns(
            _age(clock),
            pl.col("date").dt.day().alias("day_of_month"),
            (month - month.shift(1)).alias("months_since_previous"),
            # one switch, forwards: annual figures, then monthly averages, then GC=F closes
            (rank - rank.forward_fill().shift(1)).alias("basis_step"),
            (~basis.replace_strict(basis_source, default=None).eq_missing(pl.col("gold_source"))
             ).cast(pl.Int32).alias("source_off_basis"),
            # annual figures are the years through GOLD_ANNUAL_FIGURES_THROUGH_YEAR, and only they
            (basis.is_in(["annual_figure", "monthly_average"])
             & ((basis == "annual_figure") != (pl.col("date").dt.year() <= GOLD_ANNUAL_FIGURES_THROUGH_YEAR))
             ).cast(pl.Int32).alias("annual_figure_off_years"),
            # no look-ahead: a figure is public only after its period, CPI only after its month
            _days("gold_known_date", not_yet_public).alias("gold_known_days_after_not_yet_public"),
            _days("cpi_known_date", pl.col("date").dt.month_end()).alias("cpi_known_days_after_month"),
            _days("known_date", "cpi_known_date").alias("known_after_cpi_days"),
            _days("known_date", "gold_known_date").alias("known_after_gold_days"),
            pl.when(basis == "month_end_close")
            .then(_days(pl.col("date").dt.month_end(), "gold_obs_date")).alias("gold_close_days_before_month_end"),
            pl.when(basis != "month_end_close").then(_days("gold_obs_date", "date"))
            .alias("average_obs_days_off_month"),
            # every month from the first with gold to the last has gold (a late GC=F leaves only
            # the newest months without it)
            (
                pl.col("gold_usd_per_oz").is_null()
                & (pl.col("date") > pl.col("date").filter(pl.col("gold_usd_per_oz").is_not_null()).min())
                & (pl.col("date") < pl.col("date").filter(pl.col("gold_usd_per_oz").is_not_null()).max())
            ).cast(pl.Int32).alias("gold_missing_within_gold_history"),
            pl.sum_horizontal(
                (pl.col("gold_usd_per_oz").is_null() != pl.col(c).is_null()).cast(pl.Int32)
                for c in ("gold_source", "gold_price_basis", "gold_obs_date", "gold_known_date")
            ).alias("gold_columns_null_mismatches"),
        )
        return _with_definitions(
            out,
            {
                "gold_real_usd_1982_84_per_oz": 100 * pl.col("gold_usd_per_oz") / pl.col("cpi_index"),
                "known_date": pl.max_horizontal("cpi_known_date", "gold_known_date"),
            },
            relative={"gold_real_usd_1982_84_per_oz"},
        ).with_columns(pl.col("known_date_residual").dt.total_days().alias("known_date_residual_days")).drop(
            "known_date_residual")

    checks = _common_checks(GOLD_REAL_MONTHLY, derive, previous_rows) + [
        *(_not_null(c) for c in ("cpi_index", "cpi_known_date", "known_date")),
        Check("range_cpi_index", between("cpi_index", *CPI_RANGE_INDEX)),
        Check("range_gold_usd_per_oz", between("gold_usd_per_oz", *GOLD_LONG_RANGE_USD_PER_OZ)),
        Check("range_gold_real_usd_1982_84_per_oz",
              between("gold_real_usd_1982_84_per_oz", *GOLD_REAL_RANGE_USD_1982_84_PER_OZ)),
        Check("date_is_month_start", between("day_of_month", 1, 1)),
        Check("monthly_no_gap", between("months_since_previous", 1, MAX_MONTHS_BETWEEN_CPI)),
        Check("gold_present_within_gold_history", between("gold_missing_within_gold_history", 0, 0)),
        Check("gold_source_in_set", gxe.ExpectColumnValuesToBeInSet(
            column="gold_source", value_set=[GOLD_AVERAGE_SOURCE, GOLD_CLOSE_SOURCE])),
        Check("gold_price_basis_in_set", gxe.ExpectColumnValuesToBeInSet(
            column="gold_price_basis", value_set=list(GOLD_PRICE_BASES))),
        Check("gold_source_matches_basis", between("source_off_basis", 0, 0)),
        Check("gold_source_switches_once_forwards", between("basis_step", 0, 1)),
        Check("annual_figures_through_their_years", between("annual_figure_off_years", 0, 0)),
        Check("gold_columns_null_together", between("gold_columns_null_mismatches", 0, 0)),
        Check("gold_close_in_month_end", between("gold_close_days_before_month_end", 0, GOLD_MONTH_END_MAX_DAYS)),
        Check("average_dated_its_month", between("average_obs_days_off_month", 0, 0)),
        Check("no_lookahead_gold", between("gold_known_days_after_not_yet_public", 1, None)),
        Check("no_lookahead_cpi", between("cpi_known_days_after_month", 1, None)),
        Check("known_date_not_before_cpi", between("known_after_cpi_days", 0, None)),
        Check("known_date_not_before_gold", between("known_after_gold_days", 0, None)),
        Check("definition_known_date", between("known_date_residual_days", 0, 0)),
        *_definition_checks({"gold_real_usd_1982_84_per_oz": RATIO_TOLERANCE}),
    ]
    return Suite("gold_real_monthly", ("date", "gold_source", "gold_usd_per_oz", "known_date"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- asset_ratios_daily


def _two_year_rank_by_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    """Percentile and two-year low recomputed by pairing each row with every earlier row of
    the same ratio in its window (a different method from the transform's rolling window)."""
    schema = {"ratio": pl.String(), "date": pl.Date(), "_pct": pl.Float64(), "_low": pl.Boolean()}
    parts = [pl.DataFrame(schema=schema)]
    for ratio in frame["ratio"].unique().to_list():
        one = frame.filter(pl.col("ratio") == ratio).select(
            "date", "ratio_value", (pl.col("date") - pl.duration(days=RATIO_WINDOW_DAYS)).alias("_window_after")
        )
        first = one["date"].min()
        earlier = one.select(pl.col("date").alias("_d"), pl.col("ratio_value").alias("_v"))
        pairs = one.join_where(
            earlier,
            pl.col("_d") <= pl.col("date"),
            pl.col("_d") > pl.col("_window_after"),
        )
        ranked = pairs.group_by("date").agg(
            (100.0 * (pl.col("_v") <= pl.col("ratio_value")).sum() / pl.len()).alias("_pct"),
            (pl.col("_v") >= pl.col("ratio_value")).all().alias("_low"),
        )
        known = _days("date", pl.lit(first)) >= RATIO_MIN_HISTORY_DAYS
        parts.append(
            ranked.select(
                pl.lit(ratio).alias("ratio"),
                "date",
                pl.when(known).then(pl.col("_pct")).alias("_pct"),
                pl.when(known).then(pl.col("_low")).alias("_low"),
            ).cast(schema)  # type: ignore[arg-type]
        )
    return pl.concat(parts)


def asset_ratios_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    lags = pl.DataFrame(
        {"ratio": list(RATIO_DENOMINATOR_LAG_DAYS), "_rule_lag": list(RATIO_DENOMINATOR_LAG_DAYS.values())}
    )
    sources = pl.DataFrame(
        {"ratio": list(DENOMINATOR_SOURCES), "_sources": [list(v) for v in DENOMINATOR_SOURCES.values()]}
    )

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = (
            frame.sort("ratio", "date")
            .join(lags, on="ratio", how="left")
            .join(sources, on="ratio", how="left")
            .join(_two_year_rank_by_pairs(frame), on=["ratio", "date"], how="left")
            .with_columns(
                _age(clock),
                pl.col("date").dt.weekday().alias("weekday"),
                # MSTR, GC=F, ^NDX: the same day; 3350.T: BTC bar D−1, the last one closed before Tokyo's close
                (_days("date", "denominator_date") - pl.col("_rule_lag")).alias("denominator_days_off_rule"),
                (~pl.col("is_two_year_low").eq_missing(pl.col("_low"))).cast(pl.Int32).alias("two_year_low_mismatch"),
                # each ratio's denominator is one of the series its rule names
                (~pl.col("_sources").list.contains(pl.col("denominator_source")).fill_null(False)).cast(pl.Int32)
                .alias("denominator_source_off_rule"),
            )
        )
        return _with_definitions(
            out,
            {
                "ratio_value": pl.col("numerator_close") / pl.col("denominator_close"),
                "percentile_2y_pct": pl.col("_pct"),
            },
            relative={"ratio_value"},
        ).drop("_rule_lag", "_sources", "_pct", "_low")

    checks = _common_checks(ASSET_RATIOS_DAILY, derive, previous_rows) + [
        Check("every_ratio_present", gxe.ExpectColumnDistinctValuesToEqualSet(column="ratio", value_set=list(RATIOS))),
        *(_not_null(c) for c in ("numerator_close", "denominator_close", "denominator_date", "ratio_value",
                                 "denominator_source")),
        Check("numerator_positive", between("numerator_close", 0, None)),
        Check("denominator_positive", between("denominator_close", 0, None)),
        Check("range_percentile_2y_pct", between("percentile_2y_pct", 0, 100)),
        # every numerator trades on an exchange calendar: no Saturday or Sunday rows
        Check("exchange_days_only", between("weekday", 1, 5)),
        Check("denominator_date_rule", between("denominator_days_off_rule", 0, 0)),
        Check("denominator_source_rule", between("denominator_source_off_rule", 0, 0)),
        Check("definition_is_two_year_low", between("two_year_low_mismatch", 0, 0)),
        *_definition_checks({"ratio_value": RATIO_TOLERANCE, "percentile_2y_pct": INDEX_TOLERANCE}),
    ]
    return Suite("asset_ratios_daily", ("ratio", "date", "ratio_value"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- performance_daily


def _expected_year_bases(frame: pl.DataFrame) -> pl.DataFrame:
    """Per asset and year Y: the asset's last date of year Y-1 when it is within the last
    YEAR_BASE_MAX_DAYS days of Y-1, else null (from the years' last dates, a different
    method from the transform's as-of join)."""
    last = frame.group_by("asset", pl.col("date").dt.year().alias("_year")).agg(pl.col("date").max().alias("_last"))
    following = last.select("asset", (pl.col("_year") + 1).alias("_year"), pl.col("_last").alias("_previous_last"))
    return last.select("asset", "_year").join(following, on=["asset", "_year"], how="left").with_columns(
        pl.when(_days(pl.date(pl.col("_year"), 1, 1), "_previous_last") <= YEAR_BASE_MAX_DAYS)
        .then(pl.col("_previous_last")).alias("_expected_base")
    ).drop("_previous_last")


def performance_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        base_values = frame.select("asset", pl.col("date").alias("base_date"), pl.col("value_native").alias("_base_value"))
        out = (
            frame.sort("asset", "date")
            .with_columns(pl.col("date").dt.year().cast(pl.Int32).alias("_year"))
            .join(_expected_year_bases(frame).with_columns(pl.col("_year").cast(pl.Int32)), on=["asset", "_year"],
                  how="left")
            .join(base_values, on=["asset", "base_date"], how="left")
            .with_columns(
                _age(clock),
                # the previous year's last close, if in its last week; null otherwise
                (~pl.col("base_date").eq_missing(pl.col("_expected_base"))).cast(pl.Int32).alias(
                    "base_date_off_rule"
                ),
                # a row without an index says why; a row with one has no reason
                (pl.col("index_100").is_null() != pl.col("no_index_reason").is_not_null()).cast(pl.Int32).alias(
                    "reason_mismatch"
                ),
            )
        )
        return _with_definitions(
            out,
            {"index_100": 100 * pl.col("value_native") / pl.col("_base_value")},
            relative=set(),
        ).drop("_base_value", "_expected_base", "_year")

    checks = _common_checks(PERFORMANCE_DAILY, derive, previous_rows) + [
        # an asset whose input is unavailable is simply absent (the catalog says why): a warning
        Check("every_asset_present",
              gxe.ExpectColumnDistinctValuesToEqualSet(column="asset", value_set=list(PERFORMANCE_ASSETS)),
              blocking=False),
        *(_not_null(c) for c in ("value_native", "units")),
        Check("value_positive", between("value_native", 0, None)),
        Check("base_date_rule", between("base_date_off_rule", 0, 0)),
        Check("no_index_reason_when_no_index", between("reason_mismatch", 0, 0)),
        *_definition_checks({"index_100": INDEX_TOLERANCE}),
    ]
    return Suite("performance_daily", ("asset", "date", "index_100"), tuple(checks), derive,
                 clock_columns=("age_days",))


SUITES = {
    "gold_daily": gold_daily_suite,
    "gold_cpi_monthly": gold_cpi_monthly_suite,
    "gold_real_monthly": gold_real_monthly_suite,
    "asset_ratios_daily": asset_ratios_daily_suite,
    "performance_daily": performance_daily_suite,
}

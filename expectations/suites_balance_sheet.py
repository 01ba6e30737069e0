"""Suites for the tables of transforms/balance_sheet.py: the Fed balance sheet, bank credit,
the mortgage rate and the liquidity regime.

Besides shape, keys and plausible ranges, every derived column is checked against its
definition recomputed here from the table's own columns: `derive` adds `<column>_residual`
(published minus recomputed) and the check bounds it by a tolerance. A residual is null when
either side is null, so `null_mismatches` counts, per row, the derived columns that are null
on exactly one side (a value where the definition gives none, or none where it gives one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from expectations import expect as gxe
import polars as pl
import polars.selectors as cs

from expectations.gate import Check, Suite
from expectations.suites import IDENTITY_TOLERANCE_BN, between, schema_checks
from flows.registry import Registry
from transforms.balance_sheet import (
    BALANCE_SHEET_LEVELS,
    BANK_CREDIT_SERIES,
    BANK_CREDIT_WEEKLY,
    FED_BALANCE_SHEET_WEEKLY,
    LIQUIDITY_REGIME_WEEKLY,
    MORTGAGE_PREVIOUS_WEEK_DAYS,
    MORTGAGE_RATE_WEEKLY,
    STANDING_REPO_LOOKBACK_DAYS,
    TREASURY_10Y_MAX_AGE_DAYS,
    ZSCORE_WINDOW_WEEKS,
)
from transforms.catalog import TableSpec

# Slack for recomputed definitions: bn and pp columns are rounded to 1e-9 when published.
PP_TOLERANCE = 1e-8
PCT_TOLERANCE = 1e-9
ZSCORE_TOLERANCE = 1e-9

# Plausible ranges, billions USD (the new H.4.1 / H.8 series may not be in every registry yet).
LEVEL_RANGES_BN = {
    "fed_assets_bn": (500.0, 20_000.0),
    "reserves_bn": (0.0, 10_000.0),
    "treasuries_bn": (0.0, 15_000.0),
    "mbs_bn": (0.0, 10_000.0),
    "standing_repo_bn": (0.0, 5_000.0),
}
BANK_LEVEL_RANGE_BN = (0.0, 100_000.0)
BANK_GROWTH_RANGES_PCT = {"wow": (-10.0, 10.0), "13w_annualised": (-60.0, 150.0), "yoy": (-30.0, 60.0)}

Derive = Callable[[pl.DataFrame], pl.DataFrame]


# ---------------------------------------------------------------- helpers


def _days_before(frame: pl.DataFrame, column: str, days: int, alias: str) -> pl.DataFrame:
    """`frame` with `alias` = `column` on the row dated exactly `days` earlier (null if none)."""
    earlier = frame.select((pl.col("date") + pl.duration(days=days)).alias("date"), pl.col(column).alias(alias))
    return frame.join(earlier, on="date", how="left", maintain_order="left")


def _percent_of(change: pl.Expr, base: pl.Expr) -> pl.Expr:
    """change as a percent of base; undefined (null) for a base that is not positive."""
    return pl.when(base > 0).then(change / base * 100)


def _with_definitions(frame: pl.DataFrame, definitions: dict[str, pl.Expr]) -> pl.DataFrame:
    """Add `<column>_residual` for each definition and `null_mismatches` over all of them."""
    residuals = [(pl.col(col) - expr).alias(f"{col}_residual") for col, expr in definitions.items()]
    mismatch = pl.sum_horizontal(
        (pl.col(col).is_null() != expr.is_null()).cast(pl.Int32) for col, expr in definitions.items()
    ).alias("null_mismatches")
    return frame.with_columns(*residuals, mismatch)


def _definition_checks(tolerances: dict[str, float]) -> list[Check]:
    checks = [Check(f"definition_{col}", between(f"{col}_residual", -tol, tol)) for col, tol in tolerances.items()]
    checks.append(Check("null_where_undefined", between("null_mismatches", 0, 0)))
    return checks


def _table_derive(clock: dt.date, body: Derive) -> Derive:
    """Sort by date, add `gap_days` (since the previous row) and `age_days` (to the clock), then `body`."""

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.sort("date").with_columns(
            (pl.col("date") - pl.col("date").shift(1)).dt.total_days().alias("gap_days"),
            (pl.lit(clock) - pl.col("date")).dt.total_days().alias("age_days"),
        )
        return body(out)

    return derive


def _common_checks(spec: TableSpec, derive: Derive, previous_rows: int) -> list[Check]:
    return [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(spec.schema, derive),
        Check("unique_key", gxe.ExpectColumnValuesToBeUnique(column="date")),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("no_future_dates", between("age_days", 0, None)),
    ]


def _not_null(column: str) -> Check:
    return Check(f"not_null_{column}", gxe.ExpectColumnValuesToNotBeNull(column=column))


def _with_holes(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """`<column>_hole`: 1 on a row where `column` is null although a later row has a value.
    A joined warn-policy series that ended early (late) leaves the rows after its last
    observation null: that is stale, not bad data, and the pipeline marks the table stale;
    a null between two observations is a hole, and blocks."""
    return frame.with_columns(
        (pl.col(c).is_null() & (pl.col("date") < pl.col("date").filter(pl.col(c).is_not_null()).max()))
        .cast(pl.Int8).alias(f"{c}_hole")
        for c in columns
    )


def _no_hole(column: str) -> Check:
    return Check(f"not_null_{column}", between(f"{column}_hole", 0, 0))


# ---------------------------------------------------------------- fed_balance_sheet_weekly


def fed_balance_sheet_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def body(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame
        definitions = {}
        for name in BALANCE_SHEET_LEVELS:
            out = _days_before(out, f"{name}_bn", 7, f"_{name}_wk")
            out = _days_before(out, f"{name}_bn", 91, f"_{name}_13w")
            definitions[f"{name}_wow_bn"] = pl.col(f"{name}_bn") - pl.col(f"_{name}_wk")
            definitions[f"{name}_13w_change_bn"] = pl.col(f"{name}_bn") - pl.col(f"_{name}_13w")
        return (
            _with_holes(_with_definitions(out, definitions), tuple(f"{name}_bn" for name in BALANCE_SHEET_LEVELS))
            .with_columns(
                (pl.col("date") - pl.col("standing_repo_obs_date")).dt.total_days().alias("standing_repo_age_days"),
                # without an operation in the window the amount is 0 by rule, nothing else
                pl.when(pl.col("standing_repo_obs_date").is_null())
                .then(pl.col("standing_repo_bn"))
                .alias("standing_repo_without_operation_bn"),
            )
            .drop(cs.starts_with("_"))
        )

    derive = _table_derive(clock, body)
    checks = _common_checks(FED_BALANCE_SHEET_WEEKLY, derive, previous_rows) + [
        Check("weekly_no_gap", between("gap_days", 7, 7)),
        # fed_assets (WALCL, block policy) dates the rows; the others may end early (warn)
        *(_no_hole(f"{name}_bn") for name in BALANCE_SHEET_LEVELS),
        *(Check(f"range_{col}", between(col, low, high)) for col, (low, high) in LEVEL_RANGES_BN.items()),
        Check("standing_repo_as_of_window", between("standing_repo_age_days", 0, STANDING_REPO_LOOKBACK_DAYS)),
        Check("standing_repo_zero_without_operation", between("standing_repo_without_operation_bn", 0, 0)),
        *_definition_checks(
            {f"{name}_{kind}": IDENTITY_TOLERANCE_BN for name in BALANCE_SHEET_LEVELS for kind in ("wow_bn", "13w_change_bn")}
        ),
    ]
    return Suite("fed_balance_sheet_weekly", ("date", "fed_assets_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- bank_credit_weekly


def bank_credit_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def body(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame
        definitions = {}
        for name in BANK_CREDIT_SERIES:
            level = pl.col(f"{name}_bn")
            for days, tag in ((7, "wk"), (91, "13w"), (364, "52w")):
                out = _days_before(out, f"{name}_bn", days, f"_{name}_{tag}")
            wk, q, yr = (pl.col(f"_{name}_{tag}") for tag in ("wk", "13w", "52w"))
            definitions[f"{name}_wow_pct"] = _percent_of(level - wk, wk)
            # 52/13 = 4: thirteen weeks compounded four times a year
            definitions[f"{name}_13w_annualised_pct"] = pl.when(q > 0).then(((level / q) ** 4 - 1) * 100)
            definitions[f"{name}_yoy_pct"] = _percent_of(level - yr, yr)
        return _with_definitions(out, definitions).drop(cs.starts_with("_"))

    derive = _table_derive(clock, body)
    checks = _common_checks(BANK_CREDIT_WEEKLY, derive, previous_rows) + [
        Check("weekly_no_gap", between("gap_days", 7, 7)),
        _not_null("bank_credit_bn"),
        *(Check(f"range_{name}_bn", between(f"{name}_bn", *BANK_LEVEL_RANGE_BN)) for name in BANK_CREDIT_SERIES),
        *(
            Check(f"range_{name}_{kind}_pct", between(f"{name}_{kind}_pct", low, high))
            for name in BANK_CREDIT_SERIES
            for kind, (low, high) in BANK_GROWTH_RANGES_PCT.items()
        ),
        *_definition_checks(
            {f"{name}_{kind}_pct": PCT_TOLERANCE for name in BANK_CREDIT_SERIES for kind in BANK_GROWTH_RANGES_PCT}
        ),
    ]
    return Suite("bank_credit_weekly", ("date", "bank_credit_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- mortgage_rate_weekly


def mortgage_rate_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    low, high = MORTGAGE_PREVIOUS_WEEK_DAYS

    def body(frame: pl.DataFrame) -> pl.DataFrame:
        rate = pl.col("mortgage_rate_30y_pct")
        previous = pl.when(pl.col("gap_days").is_between(low, high)).then(rate.shift(1))
        out = _with_definitions(
            frame,
            {
                "mortgage_rate_wow_pp": rate - previous,
                "mortgage_spread_10y_pp": rate - pl.col("treasury_10y_pct"),
            },
        )
        return _with_holes(out, ("treasury_10y_pct",)).with_columns(
            (pl.col("date") - pl.col("treasury_10y_obs_date")).dt.total_days().alias("treasury_10y_age_days")
        )

    derive = _table_derive(clock, body)
    checks = _common_checks(MORTGAGE_RATE_WEEKLY, derive, previous_rows) + [
        Check("weekly_gap", between("gap_days", low, high)),
        _not_null("mortgage_rate_30y_pct"),
        _no_hole("treasury_10y_pct"),  # DGS10 (warn) may end before the mortgage survey
        Check("range_mortgage_rate_30y_pct", between("mortgage_rate_30y_pct", 0, 25)),
        Check("range_treasury_10y_pct", between("treasury_10y_pct", -1, 25)),
        Check("range_mortgage_spread_10y_pp", between("mortgage_spread_10y_pp", -5, 10)),
        Check("range_mortgage_rate_wow_pp", between("mortgage_rate_wow_pp", -3, 3)),
        # as-of backward: the yield is from the release day or up to the max age before it
        Check("treasury_10y_as_of_window", between("treasury_10y_age_days", 0, TREASURY_10Y_MAX_AGE_DAYS)),
        *_definition_checks({"mortgage_rate_wow_pp": PP_TOLERANCE, "mortgage_spread_10y_pp": PP_TOLERANCE}),
    ]
    return Suite("mortgage_rate_weekly", ("date", "mortgage_rate_30y_pct"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- liquidity_regime_weekly


def liquidity_regime_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def body(frame: pl.DataFrame) -> pl.DataFrame:
        out = _days_before(_days_before(frame, "net_liquidity_bn", 28, "_4w"), "net_liquidity_bn", 91, "_13w")
        net, change = pl.col("net_liquidity_bn"), pl.col("change_13w_bn")
        # Row windows here (the transform uses date windows); they agree because weekly_no_gap holds.
        mean = change.rolling_mean(ZSCORE_WINDOW_WEEKS, min_samples=ZSCORE_WINDOW_WEEKS)
        std = change.rolling_std(ZSCORE_WINDOW_WEEKS, min_samples=ZSCORE_WINDOW_WEEKS, ddof=1)
        out = _with_definitions(
            out,
            {
                "change_4w_bn": net - pl.col("_4w"),
                "change_4w_pct": _percent_of(net - pl.col("_4w"), pl.col("_4w")),
                "change_13w_bn": net - pl.col("_13w"),
                "change_13w_pct": _percent_of(net - pl.col("_13w"), pl.col("_13w")),
                "zscore_13w_change_3y": (change - mean) / std,
            },
        )
        expected = pl.when(change > 0).then(pl.lit("expanding")).when(change < 0).then(pl.lit("contracting"))
        return out.with_columns(
            (~pl.col("regime").eq_missing(expected)).cast(pl.Int32).alias("regime_sign_mismatch")
        ).drop(cs.starts_with("_"))

    derive = _table_derive(clock, body)
    checks = _common_checks(LIQUIDITY_REGIME_WEEKLY, derive, previous_rows) + [
        Check("weekly_no_gap", between("gap_days", 7, 7)),
        _not_null("net_liquidity_bn"),
        Check("range_net_liquidity_bn", between("net_liquidity_bn", -5_000, 20_000)),
        Check("range_zscore_13w_change_3y", between("zscore_13w_change_3y", -50, 50)),
        Check("regime_values", gxe.ExpectColumnValuesToBeInSet(column="regime", value_set=["expanding", "contracting"])),
        Check("regime_matches_sign", between("regime_sign_mismatch", 0, 0)),
        *_definition_checks(
            {
                "change_4w_bn": IDENTITY_TOLERANCE_BN,
                "change_4w_pct": PCT_TOLERANCE,
                "change_13w_bn": IDENTITY_TOLERANCE_BN,
                "change_13w_pct": PCT_TOLERANCE,
                "zscore_13w_change_3y": ZSCORE_TOLERANCE,
            }
        ),
    ]
    return Suite("liquidity_regime_weekly", ("date", "net_liquidity_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


SUITES = {
    "fed_balance_sheet_weekly": fed_balance_sheet_weekly_suite,
    "bank_credit_weekly": bank_credit_weekly_suite,
    "mortgage_rate_weekly": mortgage_rate_weekly_suite,
    "liquidity_regime_weekly": liquidity_regime_weekly_suite,
}

"""Suites for the liquidity/asset co-movement tables (transforms/correlation.py).

The rolling table carries its own inputs (net liquidity, the weekly close and both weekly
changes), so `derive` recomputes every definition from the table alone: each change from
the row a week earlier, and every correlation, beta and n_obs by a different method than
the transform's (one-pass rolling sums here, polars' two-pass corr/cov there). A residual
is 0 when both sides are null and +inf when exactly one is, so a null that should not be
there fails the same check as a wrong number.

The lead/lag table does not carry the weekly series, so its correlations and
autocorrelations are checked by range only; what its significance test derives from them is
recomputed from the row (n_effective, both interval bounds by other algebra, the Bonferroni
level), and is_significant / is_best_lag / no_best_lag_reason are checked against the rule.
"""

from __future__ import annotations

import datetime as dt

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import between, schema_checks
from flows.registry import Registry
from transforms.correlation import (
    CORRELATION_TABLE,
    LEAD_LAG_TABLE,
    MAX_CLOSE_AGE_DAYS,
    MAX_LAG_WEEKS,
    MIN_OBS_PERCENT,
    MIN_PAIRS,
    TABLE_SPECS,
    WINDOWS_WEEKS,
    ci_level,
    ci_z,
    min_obs,
)

SPECS = {spec.name: spec for spec in TABLE_SPECS}
# correlation and beta recomputed by another algorithm must agree to this (unitless)
RECOMPUTE_TOLERANCE = 1e-9
# a log change recomputed from the stored levels (same formula, same floats)
LOG_CHANGE_TOLERANCE = 1e-12
# n_effective and the interval bounds recomputed from the row by other algebra (unitless / pairs)
INTERVAL_TOLERANCE = 1e-9


def _residual(actual: str, expected: pl.Expr, name: str) -> pl.Expr:
    a = pl.col(actual)
    return (
        pl.when(a.is_null() & expected.is_null())
        .then(0.0)
        .when(a.is_null() | expected.is_null())
        .then(float("inf"))
        .otherwise(a - expected)
        .alias(name)
    )


def _freshness(registry: Registry) -> int:
    return registry.role("fed_assets").max_age_days


# ---------------------------------------------------------------- rolling correlation


def _recomputed(frame: pl.DataFrame) -> pl.DataFrame:
    """correlation, beta and n_obs again, from running sums over each trailing window."""
    both = pl.col("liquidity_log_change").is_not_null() & pl.col("asset_log_return").is_not_null()
    x = pl.when(both).then(pl.col("liquidity_log_change")).otherwise(0.0)
    r = pl.when(both).then(pl.col("asset_log_return")).otherwise(0.0)
    parts = []
    for (window,), part in frame.sort("asset", "window_weeks", "date").partition_by(
        "window_weeks", as_dict=True, maintain_order=True
    ).items():

        def total(e: pl.Expr, window: int = window) -> pl.Expr:
            return e.rolling_sum_by("date", window_size=f"{7 * window}d").over("asset")

        n, sx, sr = pl.col("_n"), pl.col("_sx"), pl.col("_sr")
        cov = (pl.col("_sxr") - sx * sr / n) / (n - 1)
        var_x = (pl.col("_sxx") - sx * sx / n) / (n - 1)
        var_r = (pl.col("_srr") - sr * sr / n) / (n - 1)
        enough = n >= min_obs(window)  # type: ignore[arg-type]
        parts.append(
            part.with_columns(
                total(both.cast(pl.Float64)).alias("_n"),
                total(x).alias("_sx"),
                total(r).alias("_sr"),
                total(x * x).alias("_sxx"),
                total(r * r).alias("_srr"),
                total(x * r).alias("_sxr"),
            ).with_columns(
                n.cast(pl.Int64).alias("_n_expected"),
                pl.when(enough & (var_x > 0) & (var_r > 0)).then(cov / (var_x * var_r).sqrt()).alias("_corr_expected"),
                pl.when(enough & (var_x > 0)).then(cov / var_x).alias("_beta_expected"),
            )
        )
    if not parts:
        return frame.with_columns(
            pl.lit(None, pl.Int64).alias("_n_expected"),
            pl.lit(None, pl.Float64).alias("_corr_expected"),
            pl.lit(None, pl.Float64).alias("_beta_expected"),
        )
    return pl.concat(parts).drop("_n", "_sx", "_sr", "_sxx", "_srr", "_sxr")


def liquidity_asset_correlation_weekly_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    spec = SPECS[CORRELATION_TABLE]
    key = ["asset", "window_weeks"]

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        week_before = frame.select(
            *key,
            (pl.col("date") + pl.duration(days=7)).alias("date"),
            pl.col("net_liquidity_bn").alias("_net_before"),
            pl.col("asset_close").alias("_close_before"),
        )
        out = _recomputed(frame.join(week_before, on=[*key, "date"], how="left")).sort(*key, "date")
        return out.with_columns(
            (pl.col("date") - pl.col("date").shift(1).over(key)).dt.total_days().alias("gap_days"),
            (pl.lit(clock) - pl.col("date")).dt.total_days().alias("age_days"),
            (pl.col("date") - pl.col("asset_close_date")).dt.total_days().alias("asset_close_age_days"),
            (pl.col("asset_close").is_null() != pl.col("asset_close_date").is_null()).cast(pl.Int8).alias(
                "asset_close_undated"
            ),
            (pl.col("n_obs") - pl.col("window_weeks")).alias("n_obs_beyond_window"),
            _residual("liquidity_log_change", (pl.col("net_liquidity_bn") / pl.col("_net_before")).log(),
                      "liquidity_log_change_residual"),
            _residual("asset_log_return", (pl.col("asset_close") / pl.col("_close_before")).log(),
                      "asset_log_return_residual"),
            _residual("n_obs", pl.col("_n_expected"), "n_obs_residual"),
            _residual("correlation", pl.col("_corr_expected"), "correlation_residual"),
            _residual("beta", pl.col("_beta_expected"), "beta_residual"),
        ).drop("_net_before", "_close_before", "_n_expected", "_corr_expected", "_beta_expected")

    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(spec.schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key))),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("windows", gxe.ExpectColumnValuesToBeInSet(column="window_weeks", value_set=list(WINDOWS_WEEKS))),
        Check("weekly_no_gap", between("gap_days", 7, 7)),
        Check("freshness", gxe.ExpectColumnMinToBeBetween(column="age_days", max_value=_freshness(registry))),
        Check("correlation_range", between("correlation", -1, 1)),
        Check("n_obs_not_null", gxe.ExpectColumnValuesToNotBeNull(column="n_obs")),
        Check("n_obs_range", between("n_obs", 0, None)),
        Check("n_obs_within_window", between("n_obs_beyond_window", None, 0)),
        Check("close_positive", between("asset_close", 0, None)),
        # as-of backward: the weekly close is from the Wednesday or at most 6 days before, never later
        Check("close_as_of", between("asset_close_age_days", 0, MAX_CLOSE_AGE_DAYS)),
        Check("close_dated", between("asset_close_undated", 0, 0)),
        Check("liquidity_log_change_definition",
              between("liquidity_log_change_residual", -LOG_CHANGE_TOLERANCE, LOG_CHANGE_TOLERANCE)),
        Check("asset_log_return_definition",
              between("asset_log_return_residual", -LOG_CHANGE_TOLERANCE, LOG_CHANGE_TOLERANCE)),
        Check("n_obs_recounted", between("n_obs_residual", 0, 0)),
        Check("correlation_recomputed", between("correlation_residual", -RECOMPUTE_TOLERANCE, RECOMPUTE_TOLERANCE)),
        Check("beta_recomputed", between("beta_residual", -RECOMPUTE_TOLERANCE, RECOMPUTE_TOLERANCE)),
    ]
    return Suite(CORRELATION_TABLE, ("date", "asset", "window_weeks"), tuple(checks), derive,
                 clock_columns=("age_days",))


# ---------------------------------------------------------------- lead / lag


def _interval_expected(lag_count: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """n_effective and the interval bounds from the row's own columns. The bounds use
    tanh(a ± b) = (tanh a ± tanh b) / (1 ± tanh a · tanh b), so no atanh of the correlation:
    low = (r − t) / (1 − r·t), high = (r + t) / (1 + r·t), t = tanh(z / √(n_effective − 3))."""
    product = pl.col("liquidity_autocorrelation_1w") * pl.col("asset_autocorrelation_1w")
    n_eff = pl.when(pl.col("correlation").is_not_null() & product.is_not_null()).then(
        pl.when(product > 0).then(pl.col("n_obs") * (1 - product) / (1 + product)).otherwise(pl.col("n_obs"))
    )
    t = (ci_z(lag_count) / (n_eff - 3).sqrt()).tanh()
    r = pl.col("correlation")
    has = n_eff > 3
    return n_eff, pl.when(has).then((r - t) / (1 - r * t)), pl.when(has).then((r + t) / (1 + r * t))


def liquidity_asset_lead_lag_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    spec = SPECS[LEAD_LAG_TABLE]
    lags = list(range(-MAX_LAG_WEEKS, MAX_LAG_WEEKS + 1))

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        corr, lag = pl.col("correlation"), pl.col("lag_weeks")
        low, high = pl.col("correlation_ci_low"), pl.col("correlation_ci_high")
        weeks = (pl.col("window_end") - pl.col("window_start")).dt.total_days() // 7 + 1
        possible = weeks - lag.abs()
        needed = pl.max_horizontal(pl.lit(MIN_PAIRS), (possible * MIN_OBS_PERCENT + 99) // 100)
        # the level is set by the 25 lags the table must have (every_lag_per_asset checks that)
        n_eff, low_expected, high_expected = _interval_expected(len(lags))
        significant = ((low > 0) | (high < 0)).fill_null(False)
        # the best lag by the stated rule, found by filtering (the transform sorts): among the
        # significant lags, the largest |correlation|, then the smallest |lag|, then the negative
        candidate_abs = pl.when(pl.col("is_significant")).then(corr.abs())
        top = pl.col("is_significant") & (corr.abs() == candidate_abs.max().over("asset"))
        nearest = top & (lag.abs() == pl.when(top).then(lag.abs()).min().over("asset"))
        expected_best = (nearest & (lag == pl.when(nearest).then(lag).min().over("asset"))).fill_null(False)
        has_best = pl.col("is_best_lag").any().over("asset")
        return frame.with_columns(
            (pl.col("window_end") - pl.col("window_start")).dt.total_days().mod(7).alias("window_days_mod_7"),
            weeks.alias("window_weeks"),
            (pl.lit(clock) - pl.col("window_end")).dt.total_days().alias("age_days"),
            (pl.col("n_obs") - possible).alias("n_obs_beyond_possible"),
            pl.when(corr.is_not_null()).then(needed - pl.col("n_obs")).alias("n_obs_short_of_minimum"),
            lag.n_unique().over("asset").alias("lags_per_asset"),
            pl.col("asset_autocorrelation_1w").n_unique().over("asset").alias("asset_autocorrelations_per_asset"),
            _residual("n_effective", n_eff, "n_effective_residual"),
            (pl.col("n_effective") - pl.col("n_obs")).alias("n_effective_beyond_n_obs"),
            (pl.col("ci_level_pct") - 100 * ci_level(len(lags))).alias("ci_level_pct_residual"),
            _residual("correlation_ci_low", low_expected, "correlation_ci_low_residual"),
            _residual("correlation_ci_high", high_expected, "correlation_ci_high_residual"),
            # > 0 when a bound lies outside [−1, 1] / when the interval misses the correlation
            pl.max_horizontal(low.abs(), high.abs()).alias("ci_bound_abs_max"),
            pl.max_horizontal(low - corr, corr - high).alias("ci_distance_outside_correlation"),
            pl.max_horizontal(pl.col("liquidity_autocorrelation_1w").abs(),
                              pl.col("asset_autocorrelation_1w").abs()).alias("autocorrelation_abs_max"),
            (pl.col("is_significant") != significant).cast(pl.Int8).alias("significance_mismatch"),
            (pl.col("is_best_lag").cast(pl.Int32).sum().over("asset")
             - pl.col("is_significant").any().over("asset").cast(pl.Int32)).alias("best_lag_count_error"),
            (pl.col("is_best_lag") != expected_best).cast(pl.Int8).alias("best_lag_mismatch"),
            (pl.col("no_best_lag_reason").is_null() != has_best).cast(pl.Int8).alias("no_best_lag_reason_mismatch"),
        )

    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(spec.schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key))),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        # with the unique key, 25 distinct lags per asset in −12 … 12 is every lag exactly once
        Check("lag_range", between("lag_weeks", -MAX_LAG_WEEKS, MAX_LAG_WEEKS)),
        Check("lags_cover_window", gxe.ExpectColumnDistinctValuesToEqualSet(column="lag_weeks", value_set=lags)),
        Check("every_lag_per_asset", between("lags_per_asset", len(lags), len(lags))),
        Check("one_window_start", gxe.ExpectColumnUniqueValueCountToBeBetween(column="window_start", min_value=1, max_value=1)),
        Check("one_window_end", gxe.ExpectColumnUniqueValueCountToBeBetween(column="window_end", min_value=1, max_value=1)),
        Check("window_whole_weeks", between("window_days_mod_7", 0, 0)),
        Check("window_longer_than_lags", between("window_weeks", 2 * MAX_LAG_WEEKS + 1, None)),
        Check("freshness", gxe.ExpectColumnMinToBeBetween(column="age_days", max_value=_freshness(registry))),
        Check("correlation_range", between("correlation", -1, 1)),
        Check("n_obs_not_null", gxe.ExpectColumnValuesToNotBeNull(column="n_obs")),
        Check("n_obs_range", between("n_obs", 0, None)),
        Check("n_obs_within_window", between("n_obs_beyond_possible", None, 0)),
        Check("minimum_pairs", between("n_obs_short_of_minimum", None, 0)),
        # the significance test (transforms/correlation.py): autocorrelations, n_effective, interval
        Check("autocorrelation_range", between("autocorrelation_abs_max", 0, 1)),
        Check("one_liquidity_autocorrelation", gxe.ExpectColumnUniqueValueCountToBeBetween(
            column="liquidity_autocorrelation_1w", min_value=0, max_value=1)),
        Check("one_autocorrelation_per_asset", between("asset_autocorrelations_per_asset", 0, 1)),
        Check("n_effective_recomputed", between("n_effective_residual", -INTERVAL_TOLERANCE, INTERVAL_TOLERANCE)),
        Check("n_effective_within_n_obs", between("n_effective_beyond_n_obs", None, INTERVAL_TOLERANCE)),
        Check("ci_level_bonferroni", between("ci_level_pct_residual", -INTERVAL_TOLERANCE, INTERVAL_TOLERANCE)),
        Check("ci_range", between("ci_bound_abs_max", 0, 1)),
        Check("ci_contains_correlation", between("ci_distance_outside_correlation", None, 0)),
        Check("ci_low_recomputed", between("correlation_ci_low_residual", -INTERVAL_TOLERANCE, INTERVAL_TOLERANCE)),
        Check("ci_high_recomputed", between("correlation_ci_high_residual", -INTERVAL_TOLERANCE, INTERVAL_TOLERANCE)),
        Check("is_significant_not_null", gxe.ExpectColumnValuesToNotBeNull(column="is_significant")),
        Check("significant_iff_interval_excludes_zero", between("significance_mismatch", 0, 0)),
        Check("is_best_lag_not_null", gxe.ExpectColumnValuesToNotBeNull(column="is_best_lag")),
        # at most one per asset: exactly one when a lag is significant, none otherwise
        Check("one_best_lag_per_asset", between("best_lag_count_error", 0, 0)),
        Check("best_lag_is_largest_significant_correlation", between("best_lag_mismatch", 0, 0)),
        Check("no_best_lag_reason_iff_none", between("no_best_lag_reason_mismatch", 0, 0)),
    ]
    return Suite(LEAD_LAG_TABLE, ("asset", "lag_weeks"), tuple(checks), derive, clock_columns=("age_days",))


SUITES = {
    CORRELATION_TABLE: liquidity_asset_correlation_weekly_suite,
    LEAD_LAG_TABLE: liquidity_asset_lead_lag_suite,
}

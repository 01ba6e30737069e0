"""The suite of liquidity_forward_returns (transforms/forward_returns.py): intervals hold
their estimates, counts add up, no forward return reads a price after the run's clock, no
return starts before its regime was public, and the verdict follows its stated rule.

Every check reads a column `derive` adds from the table's own rows: a 0/1 flag per rule
broken (so the failing rows are shown), each bucket's count against its group's, and the
latest price date against the clock.
"""

from __future__ import annotations

import datetime as dt

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import between, schema_checks
from flows.registry import Registry
from transforms.forward_returns import (
    BOOTSTRAP_RESAMPLES,
    BUCKETS,
    CONTRADICTED,
    EVIDENCE_CLASSES,
    HORIZONS_WEEKS,
    INCONCLUSIVE,
    LIQUIDITY_FORWARD_RETURNS,
    MIN_NON_OVERLAPPING_PER_REGIME,
    SAMPLES,
    SUPPORTED,
    TABLE,
)
from transforms.correlation import ASSETS

GROUP = ["evidence_class", "sample", "asset", "horizon_weeks"]


def _outside(estimate: str, low: str, high: str) -> pl.Expr:
    """1 when an interval exists and does not contain its estimate (or only one bound exists)."""
    return ((pl.col(low) > pl.col(estimate)) | (pl.col(high) < pl.col(estimate))
            | (pl.col(low).is_null() != pl.col(high).is_null())).fill_null(False).cast(pl.Int32)


def liquidity_forward_returns_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        n = pl.col("n_obs")
        per_group = lambda expr: expr.over(GROUP)  # noqa: E731
        all_n = per_group(n.filter(pl.col("conditioning") == "all").first())
        asset_horizon = ["evidence_class", "asset", "horizon_weeks"]
        # per sample the interval the verdict reads, and whether each regime has enough windows
        sides = (
            frame.filter(pl.col("conditioning") == "regime", pl.col("sample").is_in(["in_sample", "holdout"]))
            .group_by(*asset_horizon, "sample")
            .agg(pl.col("regime_difference_ci_low").first().alias("_low"),
                 pl.col("regime_difference_ci_high").first().alias("_high"),
                 (pl.col("n_non_overlapping").min() >= MIN_NON_OVERLAPPING_PER_REGIME).alias("_enough"))
            .pivot("sample", index=asset_horizon, values=["_low", "_high", "_enough"])
        )
        for column in ("_low_in_sample", "_low_holdout", "_high_in_sample", "_high_holdout"):
            if column not in sides.columns:
                sides = sides.with_columns(pl.lit(None, pl.Float64).alias(column))
        for column in ("_enough_in_sample", "_enough_holdout"):
            if column not in sides.columns:
                sides = sides.with_columns(pl.lit(False).alias(column))
        low = {s: pl.col(f"_low_{s}") for s in ("in_sample", "holdout")}
        high = {s: pl.col(f"_high_{s}") for s in ("in_sample", "holdout")}
        enough = pl.col("_enough_in_sample") & pl.col("_enough_holdout")
        out = frame.join(sides, on=asset_horizon, how="left", maintain_order="left")
        verdict = pl.col("verdict")
        return out.with_columns(
            _outside("mean_log_return", "mean_log_return_ci_low", "mean_log_return_ci_high")
            .alias("mean_outside_interval"),
            _outside("hit_rate_share", "hit_rate_ci_low_share", "hit_rate_ci_high_share")
            .alias("hit_rate_outside_interval"),
            _outside("regime_difference_log_return", "regime_difference_ci_low", "regime_difference_ci_high")
            .alias("difference_outside_interval"),
            # each conditioning's buckets partition the group's weeks
            (per_group(n.filter(pl.col("conditioning") == "regime").sum()) - all_n).alias("regime_count_residual"),
            (per_group(n.filter(pl.col("conditioning") == "quintile_13w_change_pct").sum()) - all_n)
            .alias("quintile_count_residual"),
            ((pl.col("n_non_overlapping") > n) | ((n > 0) & (pl.col("n_non_overlapping") < 1))
             | ((n == 0) & pl.col("mean_log_return").is_not_null())).cast(pl.Int32).alias("count_mismatch"),
            per_group(pl.col("regime_difference_log_return").n_unique()).alias("differences_in_group"),
            pl.col("verdict").n_unique().over("evidence_class", "asset", "horizon_weeks").alias("verdicts_per_asset"),
            # the verdict's rule, from the two intervals it reads
            (((verdict == SUPPORTED) != (enough & (low["in_sample"] > 0) & (low["holdout"] > 0)).fill_null(False))
             | ((verdict == CONTRADICTED)
                != (enough & (high["in_sample"] < 0) & (high["holdout"] < 0)).fill_null(False))
             ).cast(pl.Int32).alias("verdict_mismatch"),
            (pl.col("last_price_date") - pl.lit(clock)).dt.total_days().alias("last_price_after_clock_days"),
        ).drop(*sides.columns[len(asset_horizon):])

    buckets = sorted({b for _, b in BUCKETS})
    conditionings = sorted({c for c, _ in BUCKETS})
    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(LIQUIDITY_FORWARD_RETURNS.schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(LIQUIDITY_FORWARD_RETURNS.key))),
        Check("evidence_classes", gxe.ExpectColumnValuesToBeInSet(column="evidence_class",
                                                                  value_set=list(EVIDENCE_CLASSES))),
        Check("samples", gxe.ExpectColumnValuesToBeInSet(column="sample", value_set=list(SAMPLES))),
        Check("assets", gxe.ExpectColumnValuesToBeInSet(column="asset", value_set=list(ASSETS))),
        Check("horizons", gxe.ExpectColumnValuesToBeInSet(column="horizon_weeks", value_set=list(HORIZONS_WEEKS))),
        Check("conditionings", gxe.ExpectColumnValuesToBeInSet(column="conditioning", value_set=conditionings)),
        Check("buckets", gxe.ExpectColumnValuesToBeInSet(column="bucket", value_set=buckets)),
        Check("verdicts", gxe.ExpectColumnValuesToBeInSet(column="verdict",
                                                          value_set=[SUPPORTED, CONTRADICTED, INCONCLUSIVE])),
        Check("verdict_not_null", gxe.ExpectColumnValuesToNotBeNull(column="verdict")),
        Check("mean_within_interval", between("mean_outside_interval", 0, 0)),
        Check("hit_rate_within_interval", between("hit_rate_outside_interval", 0, 0)),
        Check("difference_within_interval", between("difference_outside_interval", 0, 0)),
        Check("regime_counts_add_up", between("regime_count_residual", 0, 0)),
        Check("quintile_counts_add_up", between("quintile_count_residual", 0, 0)),
        Check("counts_consistent", between("count_mismatch", 0, 0)),
        Check("one_difference_per_group", between("differences_in_group", 0, 1)),
        Check("one_verdict_per_asset_horizon", between("verdicts_per_asset", 1, 1)),
        Check("verdict_follows_rule", between("verdict_mismatch", 0, 0)),
        # no forward return reads a price after the run's clock
        Check("no_price_after_clock", between("last_price_after_clock_days", None, 0)),
        # every return starts after its regime's inputs were all public
        Check("no_regime_before_public", gxe.ExpectColumnValuesToBeBetween(
            column="min_entry_after_signal_hours", min_value=0, strict_min=True)),
        Check("hit_rate_share_range", between("hit_rate_share", 0, 1)),
        Check("resamples", between("bootstrap_resamples", BOOTSTRAP_RESAMPLES, BOOTSTRAP_RESAMPLES)),
        Check("block_length", between("block_length_weeks", 1, max(HORIZONS_WEEKS))),
    ]
    return Suite(TABLE, tuple(LIQUIDITY_FORWARD_RETURNS.key), tuple(checks), derive,
                 clock_columns=("last_price_after_clock_days",))


SUITES = {TABLE: liquidity_forward_returns_suite}

"""The suite of net_liquidity_variants_daily (transforms/variants.py): the formulas as the
registry defines them, recomputed here from the table's own columns.

Every check reads a column `derive` adds: the identity residual (net_liquidity_bn minus
Σ sign · term with the registry's signs), the difference to the reference recomputed by a
join on the date, each term's age against its series' carry limit, how many days after
its publication a row uses a value (never negative: no look-ahead), and counts of rows
that break the availability rules.
"""

from __future__ import annotations

import datetime as dt

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import IDENTITY_TOLERANCE_BN, between, schema_checks
from flows.registry import Registry
from transforms.known import known_on
from transforms.variants import NET_LIQUIDITY_VARIANTS_DAILY, TERM_NAMES

# plausible net liquidity of any formula, billions USD
NET_RANGE_BN = (-5_000.0, 20_000.0)


def net_liquidity_variants_daily_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    variants = registry.variants
    # per variant: registry name of each term → its sign (a name the variant does not use: absent)
    signs = {v.name: {registry.get(k).name: s for k, s in v.terms} for v in variants.values()}
    limits = {registry.get(k).name: registry.get(k).max_age_days for v in variants.values() for k, _ in v.terms}
    overnight = {registry.get(k).name for k in registry.overnight}
    definitions = pl.DataFrame(
        {"variant": list(variants), "_formula": [v.formula() for v in variants.values()],
         "_since": [v.since for v in variants.values()]},
        schema={"variant": pl.String, "_formula": pl.String, "_since": pl.Date},
    )

    def sign(name: str) -> pl.Expr:
        return pl.col("variant").replace_strict({v: s.get(name, 0) for v, s in signs.items()}, default=0,
                                                return_dtype=pl.Int32)

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        bn = {n: pl.col(f"{n}_bn") for n in TERM_NAMES}
        obs = {n: pl.col(f"{n}_obs_date") for n in TERM_NAMES}
        used = {n: sign(n) != 0 for n in TERM_NAMES}
        missing_terms = pl.sum_horizontal((used[n] & bn[n].is_null()).cast(pl.Int32) for n in TERM_NAMES)
        available_by_terms = missing_terms == 0
        ref = frame.filter(pl.col("variant") == (registry.reference_variant or "")).select("date", pl.col("net_liquidity_bn").alias("_ref"))
        out = (
            frame.sort("variant", "date")
            .join(ref, on="date", how="left", maintain_order="left")
            .join(definitions, on="variant", how="left", maintain_order="left")
        )
        expected_difference = pl.col("net_liquidity_bn") - pl.col("_ref")
        return out.with_columns(
            (pl.col("net_liquidity_bn")
             - pl.sum_horizontal(pl.when(used[n]).then(bn[n] * sign(n)) for n in TERM_NAMES)).alias("identity_residual_bn"),
            # is_available ⇔ every term of the variant has a value ⇔ a net value ⇔ no reason
            ((pl.col("is_available") != available_by_terms).cast(pl.Int32)
             + (pl.col("net_liquidity_bn").is_null() == pl.col("is_available")).cast(pl.Int32)
             + (pl.col("unavailable_reason").is_null() != pl.col("is_available")).cast(pl.Int32)
             ).alias("availability_mismatches"),
            pl.sum_horizontal(((~used[n]) & (bn[n].is_not_null() | obs[n].is_not_null())).cast(pl.Int32)
                              for n in TERM_NAMES).alias("unused_terms_filled"),
            # a value comes with its observation date; only an overnight facility's 0 by rule has none
            pl.sum_horizontal(
                ((bn[n].is_null() & obs[n].is_not_null())
                 | (bn[n].is_not_null() & obs[n].is_null() & ((bn[n] != 0) | pl.lit(n not in overnight)))
                 ).cast(pl.Int32)
                for n in TERM_NAMES).alias("term_observation_mismatches"),
            *(((pl.col("date") - obs[n]).dt.total_days() - limits[n]).alias(f"{n}_age_beyond_limit_days")
              for n in limits),
            pl.min_horizontal((pl.col("date") - obs[n]).dt.total_days() for n in TERM_NAMES).alias("min_term_age_days"),
            # an observation used before the evening it became public would be look-ahead
            (pl.col("date") - known_on(pl.col("known_at_utc"))).dt.total_days().alias("days_after_publication"),
            (pl.col("difference_to_reference_bn") - expected_difference).alias("difference_residual_bn"),
            (pl.col("difference_to_reference_bn").is_null() != expected_difference.is_null()).cast(pl.Int32)
            .alias("difference_null_mismatch"),
            (pl.col("formula").ne_missing(pl.col("_formula")) | pl.col("variant_since").ne_missing(pl.col("_since")))
            .cast(pl.Int32).alias("definition_mismatch"),
            (pl.col("date") - pl.col("date").shift(1).over("variant")).dt.total_days().alias("gap_days"),
            pl.len().over("date").alias("variants_on_date"),
            (pl.lit(clock) - pl.col("date")).dt.total_days().alias("age_days"),
        ).drop("_ref", "_formula", "_since")

    n = len(variants)
    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1 if variants else 0)),
        *schema_checks(NET_LIQUIDITY_VARIANTS_DAILY.schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=["variant", "date"])),
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
        Check("known_variants_only", gxe.ExpectColumnValuesToBeInSet(column="variant", value_set=list(variants))),
        Check("reference_variant", gxe.ExpectColumnValuesToBeInSet(
            column="reference_variant", value_set=[registry.reference_variant])),
        Check("definition_as_registered", between("definition_mismatch", 0, 0)),
        # every variant on every day, from the table's first day to the clock
        Check("every_variant_every_day", between("variants_on_date", n, n)),
        Check("daily_no_gap", between("gap_days", 1, 1)),
        # (a registry without variants publishes the table empty)
        *([Check("reaches_clock", gxe.ExpectColumnMinToBeBetween(column="age_days", min_value=0, max_value=0))]
          if variants else []),
        Check("identity_net_liquidity", between("identity_residual_bn", -IDENTITY_TOLERANCE_BN, IDENTITY_TOLERANCE_BN)),
        Check("availability_rules", between("availability_mismatches", 0, 0)),
        Check("unused_terms_null", between("unused_terms_filled", 0, 0)),
        Check("term_observation_dates", between("term_observation_mismatches", 0, 0)),
        *(Check(f"carry_limit_{name}", between(f"{name}_age_beyond_limit_days", None, 0)) for name in limits),
        Check("no_observation_after_day", between("min_term_age_days", 0, None)),
        Check("no_lookahead", between("days_after_publication", 0, None)),
        Check("difference_to_reference", between("difference_residual_bn", -IDENTITY_TOLERANCE_BN, IDENTITY_TOLERANCE_BN)),
        Check("difference_null_when_unavailable", between("difference_null_mismatch", 0, 0)),
        Check("range_net_liquidity_bn", between("net_liquidity_bn", *NET_RANGE_BN)),
    ]
    return Suite("net_liquidity_variants_daily", ("variant", "date", "net_liquidity_bn"), tuple(checks), derive,
                 clock_columns=("age_days",))


SUITES = {"net_liquidity_variants_daily": net_liquidity_variants_daily_suite}

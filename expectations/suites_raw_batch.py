"""The raw-input suite of many series at once: one Great Expectations run instead of one per
series (each run costs about 0.5 s of GE's own set-up whatever its rows, so 1,000 series
cost minutes before a single row is read).

The batch frame is every series' frame to check (flows/incremental.py) under its registry
key, with the columns `raw_input_suite`'s derive adds (gap_days, change_abs, change_pct,
age_days, computed per series with its own gap_check_from and exempt_dates) and each check
rewritten as "how far past this series' own limit", which is ≤ 0 exactly when the series'
own check passes (x ≤ limit ⇔ x − limit ≤ 0 in floating point):

    raw_input_suite check         batch column, expected ≤ 0 (or as stated)
    not_empty                     every series has a row (the caller sends no empty frame)
    schema, type_*                the same type lists, on the same polars types
    unique_key (obs_date)         (series_id, obs_date) unique
    numeric_value                 value not null
    value_range                   value_beyond_range = max(valid_min − value, value − valid_max)
    max_gap                       gap_beyond_limit_days = gap_days − max_gap_days
    freshness                     age_beyond_limit_days = min(age_days) per series − max_age_days
    jump_pct, jump_abs            |change| − the limit (null where the series has no such limit)

It decides nothing alone: a batch that passes every check means each of its series passes
every check of its own suite; a batch with any failure is checked again series by series
with their own suites, so a failure is reported exactly as before (table, check, rows).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import _pandas_types, between, gxe, raw_input_suite
from flows.registry import SeriesSpec
from flows.sources.schema import OBSERVATIONS

BATCH_TABLE = "raw.observations[batch]"


def batch_frame(specs: list[SeriesSpec], frames: dict[str, pl.DataFrame], clock: dt.date) -> pl.DataFrame:
    """The frames of `specs` (OBSERVATIONS each) derived as their own suites derive them,
    with how far each row is past its series' limits."""
    parts = []
    for spec in specs:
        derived = raw_input_suite(spec, clock).derive(frames[spec.key]).with_columns(
            pl.lit(spec.key).alias("series_id"))
        parts.append(derived.with_columns(
            pl.max_horizontal(spec.valid_min - pl.col("value"), pl.col("value") - spec.valid_max)
            .alias("value_beyond_range"),
            (pl.col("gap_days") - spec.max_gap_days).alias("gap_beyond_limit_days"),
            (pl.col("age_days").min() - spec.max_age_days).alias("age_beyond_limit_days"),
            (pl.col("change_pct").abs() - spec.max_change_pct if spec.max_change_pct is not None
             else pl.lit(None, pl.Float64)).alias("jump_beyond_limit_pct"),
            (pl.col("change_abs").abs() - spec.max_change_abs if spec.max_change_abs is not None
             else pl.lit(None, pl.Float64)).alias("jump_beyond_limit_abs"),
        ))
    return pl.concat(parts, how="vertical")


def batch_suite() -> Suite:
    """The checks of `batch_frame` (module docstring); every one must pass for the batch to."""
    checks = [
        Check(f"type_{name}", gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=_pandas_types(dtype)))
        for name, dtype in OBSERVATIONS.items()
    ]
    checks += [
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "obs_date"])),
        Check("numeric_value", gxe.ExpectColumnValuesToNotBeNull(column="value")),
        Check("value_range", between("value_beyond_range", None, 0)),
        Check("max_gap", between("gap_beyond_limit_days", None, 0)),
        Check("freshness", between("age_beyond_limit_days", None, 0)),
        Check("jump_pct", between("jump_beyond_limit_pct", None, 0)),
        Check("jump_abs", between("jump_beyond_limit_abs", None, 0)),
    ]
    return Suite(table=BATCH_TABLE, key_columns=("series_id", "obs_date"), checks=tuple(checks),
                 clock_columns=("age_days", "age_beyond_limit_days"))


_BEYOND = ("value_beyond_range", "gap_beyond_limit_days", "age_beyond_limit_days", "jump_beyond_limit_pct",
           "jump_beyond_limit_abs")


def looks_failing() -> pl.Expr:
    """Rows of a batch frame that look past a check (a guess, not a verdict: which series the
    caller sends to their own suites, so a failure is named as that suite names it)."""
    return (pl.any_horizontal(pl.col(c) > 0 for c in _BEYOND).fill_null(False)
            | pl.col("value").is_null() | pl.col("value").is_nan().fill_null(False)
            | pl.struct("series_id", "obs_date").is_duplicated())

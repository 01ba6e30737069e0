"""The suite of series_observations (transforms/observations.py): every row is a registered
series, described as the registry describes it, its billions the registry's factor applied,
and never known before the day it observes."""

from __future__ import annotations

import datetime as dt

from expectations import expect as gxe
import polars as pl

from expectations.gate import Check, Suite
from expectations.suites import between, schema_checks
from flows.registry import Registry
from transforms.known import known_on
from transforms.observations import SERIES_OBSERVATIONS

# value × to_bn is rounded to 1e-9 bn when published
BN_TOLERANCE = 1e-8


def series_observations_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    specs = list(registry.series.values())
    described = pl.DataFrame(
        {"series_id": [s.key for s in specs], "_name": [s.name for s in specs], "_units": [s.native_units for s in specs],
         "_to_bn": [s.to_bn for s in specs], "_source": [s.provider for s in specs], "_source_id": [s.id for s in specs]},
        schema={"series_id": pl.String, "_name": pl.String, "_units": pl.String, "_to_bn": pl.Float64,
                "_source": pl.String, "_source_id": pl.String},
    )

    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.join(described, on="series_id", how="left", maintain_order="left")
        expected_bn = pl.col("value") * pl.col("_to_bn")
        return out.with_columns(
            pl.sum_horizontal(pl.col(c).ne_missing(pl.col(f"_{r}")).cast(pl.Int32) for c, r in (
                ("series_name", "name"), ("native_units", "units"), ("source", "source"), ("source_id", "source_id"))
            ).alias("registry_mismatches"),
            (pl.col("value_bn") - expected_bn).alias("value_bn_residual"),
            (pl.col("value_bn").is_null() != expected_bn.is_null()).cast(pl.Int32).alias("value_bn_null_mismatch"),
            # a value public before the day it is for would be a wrong release rule or vintage
            (known_on(pl.col("known_at_utc")) - pl.col("obs_date")).dt.total_days().alias("known_days_after_obs"),
        ).drop("_name", "_units", "_to_bn", "_source", "_source_id")

    checks = [
        Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        *schema_checks(SERIES_OBSERVATIONS.schema, derive),
        Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "obs_date"])),
        # a warning, not a block: removing a series from the registry rightly removes its rows
        Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows), blocking=False),
        Check("registered_series_only", gxe.ExpectColumnValuesToBeInSet(column="series_id", value_set=list(registry.series))),
        Check("as_registered", between("registry_mismatches", 0, 0)),
        *(Check(f"not_null_{c}", gxe.ExpectColumnValuesToNotBeNull(column=c)) for c in ("obs_date", "value", "known_at_utc")),
        Check("value_bn_is_value_times_to_bn", between("value_bn_residual", -BN_TOLERANCE, BN_TOLERANCE)),
        Check("value_bn_where_registry_has_factor", between("value_bn_null_mismatch", 0, 0)),
        Check("not_known_before_observed", between("known_days_after_obs", 0, None)),
    ]
    # every check judges a series' year of rows on its own: a day's run validates the years
    # that changed (expectations/gate.py, partitioned suites), not 25 years of every series
    return Suite("series_observations", ("series_id", "obs_date", "value"), tuple(checks), derive,
                 partition=("series_id",), partition_date="obs_date")


SUITES = {"series_observations": series_observations_suite}

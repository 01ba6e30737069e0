"""Every published table's suite, by table name."""

from __future__ import annotations

import datetime as dt

from expectations import expect as gxe
import polars as pl

from expectations import suites, suites_balance_sheet, suites_correlation, suites_markets
from expectations import suites_forward_returns, suites_observations, suites_variants
from expectations.gate import Check, Suite
from flows.registry import Registry
from transforms.catalog import CATALOG, REVISIONS


def catalog_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    """Every published column is described; one row per table column."""
    derive = lambda frame: frame  # noqa: E731
    return Suite(
        "catalog",
        ("table_name", "column_name"),
        (
            Check("not_empty", gxe.ExpectTableRowCountToBeBetween(min_value=1)),
            *suites.schema_checks(CATALOG.schema, derive),
            Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(column_list=["table_name", "column_name"])),
            *(Check(f"described_{c}", gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=3))
              for c in ("grain", "table_description", "column_description")),
        ),
        derive,
    )


def revisions_suite(registry: Registry, clock: dt.date, previous_rows: int = 0) -> Suite:
    """A revision is a changed value, once per observation and fetch; the log only grows."""
    def derive(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            (pl.col("old_value").ne_missing(pl.col("new_value"))
             | (pl.col("new_value").is_null() & pl.col("old_value_text").ne_missing(pl.col("new_value_text"))))
            .alias("is_a_change")
        )

    return Suite(
        "revisions",
        ("series_id", "obs_date", "known_at_utc"),
        (
            *suites.schema_checks(REVISIONS.schema, derive),
            Check("unique_key", gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["series_id", "obs_date", "known_at_utc"])),
            Check("rows_not_shrinking", gxe.ExpectTableRowCountToBeBetween(min_value=previous_rows)),
            Check("every_row_a_change", gxe.ExpectColumnValuesToBeInSet(column="is_a_change", value_set=[True])),
        ),
        derive,
    )


PUBLISHED_SUITES = {**suites.PUBLISHED_SUITES, **suites_balance_sheet.SUITES, **suites_markets.SUITES, **suites_correlation.SUITES, **suites_variants.SUITES, **suites_observations.SUITES, **suites_forward_returns.SUITES, "revisions": revisions_suite, "catalog": catalog_suite}

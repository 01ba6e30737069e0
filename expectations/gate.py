"""The gate: run a declared suite with Great Expectations and report what failed, with rows.

A suite (see `expectations/suites.py`) names a table, its key columns, the derived
columns its checks need (gap since the previous row, change, age, identity residual) and
a list of named checks, each a Great Expectations expectation. GE validates the polars
frame through its pandas datasource (its SQL datasource over duckdb-engine fails every
metric here, measured on GE 1.24).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import polars as pl

ROWS_SHOWN = 5


@dataclass(frozen=True)
class Check:
    name: str  # short, stable: what a user greps for ("value_range", "unique_key", ...)
    expectation: Any  # a great_expectations.expectations.Expectation
    blocking: bool = True


@dataclass(frozen=True)
class Suite:
    table: str
    key_columns: tuple[str, ...]
    checks: tuple[Check, ...]
    derive: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    success: bool
    blocking: bool
    expectation: str
    observed: str = ""
    rows: tuple[dict, ...] = ()
    unexpected_count: int = 0

    def message(self) -> str:
        head = f"{self.table}: check {self.check} failed ({self.expectation})"
        if self.observed:
            head += f"; observed {self.observed}"
        if not self.rows:
            return head
        shown = "\n".join("    " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()) for row in self.rows)
        more = self.unexpected_count - len(self.rows)
        tail = f"\n    … and {more} more" if more > 0 else ""
        return f"{head}; {self.unexpected_count} offending row(s):\n{shown}{tail}"


@dataclass
class SuiteResult:
    table: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking and not r.success]

    @property
    def passed(self) -> bool:
        return not self.blocking_failures


def _fmt(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


@cache
def _context():
    # GE phones home unless told not to; there is no network here and users may not want it.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context, context.data_sources.add_pandas("netliq")


def to_pandas(frame: pl.DataFrame):
    """The pandas frame GE validates. pandas 3 makes strings a `str` dtype (NaN-missing)
    that GE 1.24's type check cannot name; as pandas' `StringDtype()` it can ("StringDtype")."""
    import pandas as pd

    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            out[name] = out[name].astype(pd.StringDtype())
    return out


_asset_counter = iter(range(1 << 62))


def failure(table: str, check: str, message: str) -> CheckResult:
    """A blocking failure found outside GE (a source that delivered nothing, changed units)."""
    return CheckResult(table=table, check=check, success=False, blocking=True, expectation=message)


def validate(suite: Suite, frame: pl.DataFrame) -> SuiteResult:
    """Validate `frame` against `suite`; every failing check comes back with its rows."""
    try:
        derived = suite.derive(frame)
    except Exception as exc:  # a frame so malformed its checks cannot even be computed
        out = SuiteResult(table=suite.table)
        out.results.append(failure(suite.table, "derive", f"the checks' derived columns could not be computed "
                                   f"({type(exc).__name__}: {exc}); schema: {dict(frame.schema)}"))
        return out
    # Row-count checks (not_empty, rows_not_shrinking) need no GE run: they are evaluated
    # here, on the frame, so the GE part's result depends only on the data and its checks.
    # rows_not_shrinking compares with the previous version's count, which changes with each
    # publish; kept out of the cache key, an unchanged table reuses its result after a publish.
    counted = [c for c in suite.checks if _is_row_count(c)]
    out = SuiteResult(table=suite.table, results=[_row_count_result(suite.table, c, derived.height) for c in counted])
    rest = Suite(suite.table, suite.key_columns, tuple(c for c in suite.checks if not _is_row_count(c)), suite.derive)
    if rest.checks:
        out.results += _validate_ge(rest, derived)
    return out


def _is_row_count(check: Check) -> bool:
    return type(check.expectation).__name__ == "ExpectTableRowCountToBeBetween"


def _row_count_result(table: str, check: Check, rows: int) -> CheckResult:
    low, high = check.expectation.min_value, check.expectation.max_value
    bounds = ", ".join(f"{k}={_fmt(v)}" for k, v in (("min_value", low), ("max_value", high)) if v is not None)
    return CheckResult(table=table, check=check.name, blocking=check.blocking,
                       success=(low is None or rows >= low) and (high is None or rows <= high),
                       expectation=f"expect_table_row_count_to_be_between({bounds})", observed=str(rows))


def _validate_ge(suite: Suite, derived: pl.DataFrame) -> list[CheckResult]:
    """The GE part of a suite on its derived frame, reused when the same data met the same checks."""
    import great_expectations as gx

    context, datasource = _context()
    key = _cache_key(suite, derived)
    if key in _RESULTS:
        return list(_RESULTS[key].results)
    name = f"{suite.table}#{next(_asset_counter)}"
    batch = (
        datasource.add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": to_pandas(derived)})
    )
    gx_suite = gx.ExpectationSuite(name=name)
    for check in suite.checks:
        expectation = check.expectation.copy()
        expectation.meta = {"check": check.name}  # GE reorders results; the meta ties each back
        gx_suite.add_expectation(expectation)
    validation = batch.validate(
        gx_suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(suite.key_columns)},
    )
    by_name = {check.name: check for check in suite.checks}
    out = SuiteResult(table=suite.table)
    for result in validation.results:
        out.results.append(_to_check_result(suite, by_name[result.expectation_config.meta["check"]], result))
    datasource.delete_asset(name)
    _remember(key, out)
    return list(out.results)


# Validation is a pure function of the data and the expectations, so a suite that already
# ran on identical data (an unchanged series on the next run in this process: a served
# process, a backfill, the tests) reuses its result instead of running GE again.
_RESULTS: dict[tuple, SuiteResult] = {}
_RESULTS_MAX = 512


def _cache_key(suite: Suite, derived: pl.DataFrame) -> tuple:
    rows = hashlib.sha256(derived.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()
    checks = tuple((c.name, c.blocking, json.dumps(c.expectation.configuration.to_json_dict(), sort_keys=True,
                                                   default=str)) for c in suite.checks)
    return suite.table, tuple(suite.key_columns), str(derived.schema), derived.height, rows, checks


def _remember(key: tuple, result: SuiteResult) -> None:
    if len(_RESULTS) >= _RESULTS_MAX:
        _RESULTS.pop(next(iter(_RESULTS)))
    _RESULTS[key] = result


def _to_check_result(suite: Suite, check: Check, result: Any) -> CheckResult:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    described = f"{config.type}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in kwargs.items()) + ")"
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return CheckResult(
            suite.table, check.name, False, check.blocking, described,
            observed=f"the check itself raised: {info.get('exception_message')}",
        )
    payload = result.result or {}
    rows = tuple(
        {k: v for k, v in row.items()} for row in (payload.get("unexpected_index_list") or [])[:ROWS_SHOWN]
        if isinstance(row, dict)
    )
    observed = payload.get("observed_value")
    return CheckResult(
        table=suite.table,
        check=check.name,
        success=bool(result.success),
        blocking=check.blocking,
        expectation=described,
        observed="" if observed is None else _fmt(observed),
        rows=rows,
        unexpected_count=int(payload.get("unexpected_count") or len(rows)),
    )

"""The gate: run a declared suite with Great Expectations and report what failed, with rows.

A suite (see `expectations/suites.py`) names a table, its key columns, the derived
columns its checks need (gap since the previous row, change, age, identity residual) and
a list of named checks, each a Great Expectations expectation declared through
`expectations/expect.py` (GE itself is imported only when a suite must run). GE validates the
polars frame through its pandas datasource (its SQL datasource over duckdb-engine fails every
metric here, measured on GE 1.24).

Validation is a pure function of the derived frame, the checks and the library versions, so a
result is reused by that fingerprint: in this process (`_RESULTS`) and, when a run installs a
store (`persisted`, the warehouse's ops.validations), in every later process.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata
from typing import Any, Protocol

import polars as pl

ROWS_SHOWN = 5


@dataclass(frozen=True)
class Check:
    name: str  # short, stable: what a user greps for ("value_range", "unique_key", ...)
    expectation: Any  # an expectations.expect.Expectation (GE's class name and arguments)
    blocking: bool = True


@dataclass(frozen=True)
class Suite:
    table: str
    key_columns: tuple[str, ...]
    checks: tuple[Check, ...]
    derive: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame
    # Parts the checks judge one by one (see _validate_parts): the derived frame's rows split by
    # these columns and by the year of `partition_date`. Empty: the suite is validated whole.
    partition: tuple[str, ...] = ()
    partition_date: str | None = None
    # Derived columns computed from the run's clock (ages against it). Their checks are
    # evaluated here when the verdict needs no GE (_clock_result), and the GE part is keyed
    # without their values, so an unchanged table on a new day reuses its stored validation.
    clock_columns: tuple[str, ...] = ()


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
    derived = widened(derived, frame.columns)
    # Row-count checks (not_empty, rows_not_shrinking) need no GE run: they are evaluated
    # here, on the frame, so the GE part's result depends only on the data and its checks.
    # rows_not_shrinking compares with the previous version's count, which changes with each
    # publish; kept out of the cache key, an unchanged table reuses its result after a publish.
    counted = [c for c in suite.checks if _is_row_count(c)]
    out = SuiteResult(table=suite.table, results=[_row_count_result(suite.table, c, derived.height) for c in counted])
    # Checks on the clock's columns: decided here where the verdict and its report need no
    # GE (a bound on a column's min or max; a range every value is within), else by GE on the
    # whole derived frame (a failing range check: GE names its rows).
    clocked = [c for c in suite.checks if not _is_row_count(c) and reads_the_clock(suite, c)]
    decided = {c.name: _clock_result(suite, c, derived) for c in clocked}
    rest = [c for c in suite.checks if not _is_row_count(c) and c.name not in decided]
    if rest:
        # the clock's columns that no GE check reads are blanked: GE's verdict cannot depend on
        # them, and the key of its result (the derived rows) no longer changes with the day
        read = set().union(*(columns_read(c) for c in rest))
        blank = [c for c in suite.clock_columns if c in derived.columns and c not in read]
        frame = derived.with_columns(pl.lit(None, derived.schema[c]).alias(c) for c in blank) if blank else derived
        out.results += _validate_ge(Suite(suite.table, suite.key_columns, tuple(rest), suite.derive, suite.partition,
                                          suite.partition_date), frame)
    undecided = tuple(c for c in clocked if decided[c.name] is None)
    by_ge = {r.check: r for r in _validate_ge(Suite(suite.table, suite.key_columns, undecided), derived)
             } if undecided else {}
    out.results += [decided[c.name] or by_ge[c.name] for c in clocked]
    return out


# GE 1.24's range checks (expect_column_values_to_be_between) take their vectorised path only
# for 64-bit numbers; any other dtype goes value by value through a Python function. The
# derived counts are narrower (polars' len() is UInt32, a sum of Int32 flags is Int32): on
# net_liquidity_variants_daily alone that was 150,000 calls and about 0.2 s of a day that
# publishes. The same values widened to Int64 take the vectorised path.
_NARROW_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)


def widened(derived: pl.DataFrame, declared: list[str]) -> pl.DataFrame:
    """`derived` with the integer columns the checks derived (not the table's own, whose
    types the schema checks judge) narrower than 64 bits as Int64: the same values."""
    narrow = [name for name, dtype in derived.schema.items() if name not in declared and dtype in _NARROW_INTEGERS]
    return derived.with_columns(pl.col(narrow).cast(pl.Int64)) if narrow else derived


def on_the_clock(suite: Suite) -> Suite:
    """The checks of `suite` that read its clock columns: what a new day can change of a
    verdict on rows already checked by the whole suite (flows/incremental.py)."""
    return Suite(suite.table, suite.key_columns, tuple(c for c in suite.checks if reads_the_clock(suite, c)),
                 suite.derive, clock_columns=suite.clock_columns)


def reads_the_clock(suite: Suite, check: Check) -> bool:
    """Whether `check` reads one of `suite`'s clock columns."""
    return bool(columns_read(check) & set(suite.clock_columns))


def columns_read(check: Check) -> set[str]:
    """The columns whose values a check reads (a column set check reads only their names)."""
    kwargs = check.expectation.kwargs
    return ({kwargs["column"]} if "column" in kwargs else set()) | set(kwargs.get("column_list", ()))


_CLOCK_KINDS = {"ExpectColumnMinToBeBetween": "min", "ExpectColumnMaxToBeBetween": "max",
                "ExpectColumnValuesToBeBetween": "values"}


def _clock_result(suite: Suite, check: Check, derived: pl.DataFrame) -> CheckResult | None:
    """A check on a clock column decided without GE, as GE reports it; None when only GE can
    say (tests/test_gate_ge.py compares both on every suite of the real snapshot):
    - a bound on the column's min or max (GE's observed value is that min or max, and no rows);
    - a range that every non-null value is within (GE: passed, no rows, nothing observed).
    Only integer columns without NaN or type questions, and plain bounds, qualify."""
    kind = _CLOCK_KINDS.get(check.expectation.type)
    kwargs = check.expectation.kwargs
    if kind is None or not set(kwargs) <= {"column", "min_value", "max_value"}:
        return None
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None or any(isinstance(b, bool) or not isinstance(b, (int, float))
                                           for b in (low, high) if b is not None):
        return None
    column = derived.get_column(kwargs["column"]) if kwargs["column"] in derived.columns else None
    if column is None or not column.dtype.is_integer() or column.null_count() == column.len():
        return None

    def within(value) -> bool:
        return (low is None or value >= low) and (high is None or value <= high)

    # as GE describes it: its bounds are floats (pydantic makes 9 into 9.0)
    described = f"{check.expectation.configuration.type}(" + ", ".join(
        f"{k}={_fmt(v if k == 'column' else float(v))}" for k, v in kwargs.items() if v is not None) + ")"
    if kind == "values":
        if not within(column.min()) or not within(column.max()):
            return None  # GE reports the offending rows
        return CheckResult(suite.table, check.name, True, check.blocking, described)
    if column.null_count():  # GE's min of a column with nulls is a float (pandas): let GE say it
        return None
    value = column.min() if kind == "min" else column.max()
    return CheckResult(suite.table, check.name, within(value), check.blocking, described, observed=str(value))


def _is_row_count(check: Check) -> bool:
    return check.expectation.type == "ExpectTableRowCountToBeBetween"


def _row_count_result(table: str, check: Check, rows: int) -> CheckResult:
    low, high = check.expectation.kwargs.get("min_value"), check.expectation.kwargs.get("max_value")
    bounds = ", ".join(f"{k}={_fmt(v)}" for k, v in (("min_value", low), ("max_value", high)) if v is not None)
    return CheckResult(table=table, check=check.name, blocking=check.blocking,
                       success=(low is None or rows >= low) and (high is None or rows <= high),
                       expectation=f"expect_table_row_count_to_be_between({bounds})", observed=str(rows))


def _validate_ge(suite: Suite, derived: pl.DataFrame) -> list[CheckResult]:
    """The GE part of a suite on its derived frame, reused when the same data met the same
    checks: from this process's results, else from the store a run installed, else GE runs."""
    # a partitioned suite's rows are hashed once, by part: its key is made of the parts' own
    parts = _parts(suite, derived) if suite.partition and derived.height else None
    key = _cache_key(suite, derived) if parts is None else _parts_key(parts[1])
    store = _STORE.get()
    if key in _RESULTS:
        results = list(_RESULTS[key].results)
        # known to this process (an earlier run, maybe without a store): the warehouse learns
        # it too, or the next process would validate again
        if store is not None and store.lookup(key) is None:
            payload = _storable(results)
            if payload is not None:
                store.save(key, suite.table, len(results), payload)
        return results
    stored = store.lookup(key) if store is not None else None
    results = _decode(suite.table, stored) if stored is not None else None
    if results is None:
        results = _validate_parts(suite, derived, store, parts) if parts else _run_ge(suite, derived)
        payload = _storable(results) if store is not None else None
        if payload is not None:
            store.save(key, suite.table, len(results), payload)
    _remember(key, SuiteResult(suite.table, results))
    return list(results)


def _run_ge(suite: Suite, derived: pl.DataFrame) -> list[CheckResult]:
    import great_expectations as gx

    global ge_runs
    ge_runs += 1
    context, datasource = _context()
    name = f"{suite.table}#{next(_asset_counter)}"
    expectations = []
    for check in suite.checks:
        expectation = check.expectation.to_ge()
        expectation.meta = {"check": check.name}  # GE reorders results; the meta ties each back
        expectations.append(expectation)
    # given whole, not by add_expectation: that compares each new expectation with every one
    # already added (pydantic dicts, quadratic: 2-4 s of a first run's ~10 s of GE on the
    # snapshot), and would fold two checks with equal arguments into one result
    gx_suite = gx.ExpectationSuite(name=name, expectations=expectations)
    # GE loads the batch in get_batch and again in validate: no fingerprint either time
    with _no_batch_fingerprint():
        batch = (
            datasource.add_dataframe_asset(name=name)
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": to_pandas(derived)})
        )
        with _configuration_memo():
            validation = batch.validate(
                gx_suite,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(suite.key_columns)},
            )
    by_name = {check.name: check for check in suite.checks}
    out = [_to_check_result(suite, by_name[result.expectation_config.meta["check"]], result)
           for result in validation.results]
    datasource.delete_asset(name)
    return out


@contextmanager
def _no_batch_fingerprint() -> Iterator[None]:
    """GE 1.24's pandas engine fingerprints every batch under 1 GB (`hash_pandas_dataframe`:
    pandas' hash of every row and index, then an md5) for the `pandas_data_fingerprint` batch
    marker of its result. Nothing here reads the markers, and no verdict depends on them; the
    hashing was 23 s of the 41 s GE validated in a 1,000-series first run (bench/bench_scale.py
    under cProfile). Within the block its threshold is 0, so no batch is fingerprinted; a GE
    without that constant is left as it is."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = getattr(engine, "HASH_THRESHOLD", None)
    if not isinstance(threshold, (int, float)):
        yield
        return
    engine.HASH_THRESHOLD = 0  # `memory_usage().sum() < 0` never holds
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = threshold


@contextmanager
def _configuration_memo() -> Iterator[None]:
    """GE 1.x rebuilds an expectation's `configuration` (a pydantic `.dict()` and a new
    ExpectationConfiguration) on every read, and its validator reads it once per argument of
    every expectation: ~57,000 times for the snapshot's published suites, a third of GE's
    validation time. The expectations it validates are built from their configurations for
    one validation and never changed, so within one `batch.validate` each is built once per
    expectation object. Outside the block GE's own property is back; a GE without that
    property is left alone."""
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__.get("configuration")
    if not isinstance(original, property) or original.fget is None:
        yield
        return
    built: dict[int, tuple[Any, Any]] = {}  # id → (the expectation, kept alive so ids stay unique; its configuration)

    def configuration(self):
        hit = built.get(id(self))
        if hit is None or hit[0] is not self:
            hit = built[id(self)] = (self, original.fget(self))
        return hit[1]

    Expectation.configuration = property(configuration, doc=original.__doc__)
    try:
        yield
    finally:
        Expectation.configuration = original


# ------------------------------------------------------------------ partitioned suites
# A table of many years of many series changes a few rows a day. When every check of its suite
# judges each part of the frame on its own (a row's value, a row's type, the key's uniqueness
# where each key lies in one part, the column set), the verdict on the whole frame is the
# verdict on each part, AND-ed, and the offending rows are those of the failing parts. So only
# the parts not seen passing before (same rows, same checks, same versions) go to GE, in runs
# of at most PART_BATCH_ROWS rows; what GE reports of them is what it would report of the
# whole frame: the same verdicts, the same offending rows in the same order (parts are
# contiguous in the frame's order), the same counts.

PART_BATCH_ROWS = 1_000_000
# checks whose verdict on a frame is their verdict on each part, AND-ed
_PER_PART = {"ExpectColumnValuesToBeBetween", "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeInSet",
             "ExpectColumnValuesToBeInTypeList", "ExpectTableColumnsToMatchSet"}
_UNIQUE = "ExpectCompoundColumnsToBeUnique"
# part fingerprints known to have passed, in this process (the store keeps them across processes)
_PARTS_PASSED: set[str] = set()


def _check_partitionable(suite: Suite) -> None:
    for check in suite.checks:
        kind = check.expectation.type
        if kind == _UNIQUE:
            columns = set(check.expectation.kwargs["column_list"])
            if not set(suite.partition) <= columns or suite.partition_date not in columns | {None}:
                raise ValueError(f"{suite.table}: check {check.name} is not judged part by part: its key "
                                 f"{sorted(columns)} must hold the partition {suite.partition} and its date")
        elif kind not in _PER_PART:
            raise ValueError(f"{suite.table}: check {check.name} ({kind}) is not judged part by part; "
                             "validate this suite whole (no partition)")


def _parts(suite: Suite, derived: pl.DataFrame) -> tuple[pl.Series, dict[int, str]]:
    """Each row's part number (parts contiguous and in order, else ValueError) and each part's
    fingerprint: the checks, versions and schema, the part's id and its rows' hashes in order.
    ValueError as well when a check of the suite is not judged part by part."""
    _check_partitionable(suite)
    ids = [pl.col(c) for c in suite.partition]
    if suite.partition_date:
        ids.append(pl.col(suite.partition_date).dt.year())
    hashed = derived.select(pl.struct(ids).rle_id().alias("part"), derived.hash_rows(seed=0).alias("h"))
    # each part contiguous: as many runs of part ids as distinct ids
    if hashed["part"].n_unique() != derived.select(pl.struct(ids).n_unique()).item():
        raise ValueError(f"{suite.table}: rows of one part are not contiguous; sort the frame by its partition")
    checks = [(c.name, c.blocking, c.expectation.fingerprint()) for c in suite.checks]
    head = json.dumps([_RESULT_FORMAT, ROWS_SHOWN, library_versions(), suite.table, list(suite.key_columns),
                       str(derived.schema), checks], default=str).encode()
    idents = derived.select(ids).with_columns(hashed["part"]).unique("part", keep="first", maintain_order=True)
    grouped = hashed.group_by("part", maintain_order=True).agg(pl.col("h"))
    out = {}
    for (part, hashes), ident in zip(grouped.iter_rows(), idents.drop("part").iter_rows(), strict=True):
        digest = hashlib.sha256(head)
        digest.update(json.dumps(ident, default=str).encode())
        digest.update(pl.Series(hashes, dtype=pl.UInt64).to_numpy().tobytes())
        out[part] = digest.hexdigest()
    return hashed["part"], out


def _parts_key(fingerprints: dict[int, str]) -> str:
    """The fingerprint of a partitioned suite's whole validation: its parts' (each already
    holds the checks, versions, schema, the part's id and its rows), in order."""
    return hashlib.sha256(json.dumps(["parts", list(fingerprints.values())]).encode()).hexdigest()


def _validate_parts(suite: Suite, derived: pl.DataFrame, store: Store | None,
                    parts: tuple[pl.Series, dict[int, str]]) -> list[CheckResult]:
    """The GE part of a partitioned suite: GE runs on the parts not known to have passed."""
    part, fingerprints = parts
    known = set(_PARTS_PASSED)
    if store is not None:
        known |= store.passed_parts(suite.table, list(fingerprints.values()))
    todo = sorted(p for p, f in fingerprints.items() if f not in known)
    if not todo:
        # every part passed before: GE's passing results, from the smallest part (the checks'
        # passing results do not depend on which rows passed)
        sizes = part.value_counts().sort("count")
        todo = [sizes["part"][0]]
    batches, batch, rows = [], [], 0
    counts = dict(part.value_counts().iter_rows())
    for p in todo:
        batch.append(p)
        rows += counts[p]
        if rows >= PART_BATCH_ROWS:
            batches.append(batch)
            batch, rows = [], 0
    if batch:
        batches.append(batch)
    runs = [_run_ge(suite, derived.filter(part.is_in(b))) for b in batches]
    results = _combined(runs)
    if not any(r.blocking and not r.success for r in results):
        passed = [fingerprints[p] for b in batches for p in b]
        _PARTS_PASSED.update(passed)
        if store is not None:
            store.save_parts(suite.table, passed, list(fingerprints.values()))
    return results


def _combined(runs: list[list[CheckResult]]) -> list[CheckResult]:
    """One suite's results from GE runs on consecutive parts of a frame, as one run on all."""
    if len(runs) == 1:
        return runs[0]
    by_name = [{r.check: r for r in run} for run in runs]
    out = []
    for name in by_name[0]:
        per_check = [run[name] for run in by_name]
        first = per_check[0]
        rows = tuple(row for r in per_check for row in r.rows)[:ROWS_SHOWN]
        observed = next((r.observed for r in per_check if not r.success and r.observed), first.observed)
        out.append(CheckResult(first.table, first.check, all(r.success for r in per_check), first.blocking,
                               first.expectation, observed=observed, rows=rows,
                               unexpected_count=sum(r.unexpected_count for r in per_check)))
    return out


# How many suites GE itself validated in this process (the tests and bench/ count reuse by it).
ge_runs = 0

# Validation is a pure function of the data and the expectations, so a suite that already
# ran on identical data (an unchanged series on the next run in this process: a served
# process, a backfill, the tests) reuses its result instead of running GE again.
_RESULTS: dict[str, SuiteResult] = {}
_RESULTS_MAX = 512

# Bump when what _to_check_result makes of a GE result changes: stored results are then
# keyed apart from the new ones and never served.
_RESULT_FORMAT = 1


class Store(Protocol):
    """Validation results kept beyond this process (warehouse/db.py: ops.validations)."""

    def lookup(self, key: str) -> str | None: ...

    def save(self, key: str, table: str, checks: int, payload: str) -> None: ...

    def passed_parts(self, table: str, fingerprints: list[str]) -> set[str]: ...

    def save_parts(self, table: str, passed: list[str], current: list[str]) -> None: ...


_STORE: contextvars.ContextVar[Store | None] = contextvars.ContextVar("netliq_validation_store", default=None)


@contextmanager
def persisted(store: Store) -> Iterator[None]:
    """Within this block, GE results are looked up in and saved to `store` (a run's warehouse)."""
    token = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(token)


# what turns the same frame and checks into a verdict: GE, and the libraries that hand it
# the frame (polars' row hashes are not stable across polars versions either)
VERDICT_LIBRARIES = ("great_expectations", "pandas", "polars", "numpy")


@cache
def library_versions(names: tuple[str, ...] = VERDICT_LIBRARIES) -> tuple[tuple[str, str], ...]:
    """(name, installed version) of each library of `names`."""
    return tuple((name, metadata.version(name)) for name in names)


def _cache_key(suite: Suite, derived: pl.DataFrame) -> str:
    """The fingerprint of a GE validation: the derived frame (schema, height, every row's
    hash, in order), the checks (name, blocking, GE class and arguments), the key columns the
    rows are reported by, and the versions. Computed without importing GE."""
    rows = hashlib.sha256(derived.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()
    checks = [(c.name, c.blocking, c.expectation.fingerprint()) for c in suite.checks]
    parts = [_RESULT_FORMAT, ROWS_SHOWN, library_versions(), suite.table, list(suite.key_columns),
             str(derived.schema), derived.height, rows, checks]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _remember(key: str, result: SuiteResult) -> None:
    if len(_RESULTS) >= _RESULTS_MAX:
        _RESULTS.pop(next(iter(_RESULTS)))
    _RESULTS[key] = result


# ------------------------------------------------------------------ stored results
# A suite's results as JSON: every field of each CheckResult, the rows' values tagged by type
# (GE hands dates back as pandas Timestamps). Only results without a blocking failure are
# stored (a failure needs its rows exactly and is rare), and only when they read back equal,
# messages included; anything else runs GE again next time.


class _Unstorable(TypeError):
    pass


def _tag(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value).__module__ == "builtins":
        return value
    kind = type(value).__name__
    if kind == "Timestamp":  # pandas
        return {"$ts": value.isoformat()}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _tag(value.item())
    raise _Unstorable(kind)


def _untag(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    if kind == "$ts":
        import pandas as pd

        return pd.Timestamp(text)
    return dt.datetime.fromisoformat(text) if kind == "$dt" else dt.date.fromisoformat(text)


def _encode(results: list[CheckResult]) -> str:
    out = []
    for r in results:
        item = asdict(r)
        item["rows"] = [{k: _tag(v) for k, v in row.items()} for row in r.rows]
        out.append(item)
    return json.dumps(out, allow_nan=False)


def _decode(table: str, payload: str) -> list[CheckResult] | None:
    try:
        items = json.loads(payload)
        return [CheckResult(**{**item, "table": table,
                               "rows": tuple({k: _untag(v) for k, v in row.items()} for row in item["rows"])})
                for item in items]
    except (ValueError, TypeError, KeyError):  # written by another format: validate again
        return None


def _storable(results: list[CheckResult]) -> str | None:
    if any(r.blocking and not r.success for r in results):
        return None
    try:
        payload = _encode(results)
    except (_Unstorable, ValueError):  # a value JSON cannot carry exactly (NaN, an unknown type)
        return None
    back = _decode(results[0].table if results else "", payload)
    if back != results or [r.message() for r in back] != [r.message() for r in results]:
        return None
    return payload


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

"""How the gate drives Great Expectations (expectations/gate.py `_run_ge`): the suite is handed
to GE whole, and GE's expectation `configuration` is built once per expectation within one
validation (`_configuration_memo`), and no batch is fingerprinted (`_no_batch_fingerprint`). None
may change a verdict, a row or a message.

Data: the real WALCL snapshot (data/snapshot/fred/WALCL.csv, millions of dollars), and the
same file with 2026-03-11 (6,646,344) sent in billions (6646.344): a constructed damage.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt

import polars as pl
import pytest

from expectations import expect as gxe
from expectations import gate, suites
from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv

CLOCK = dt.date(2026, 3, 31)  # the snapshot's cut (data/snapshot/PROVENANCE.md)
DAMAGED = dt.date(2026, 3, 11)


@pytest.fixture(scope="module")
def walcl() -> pl.DataFrame:
    return read_fred_csv(SNAPSHOT_DIR / "fred" / "WALCL.csv", "WALCL")


def damaged(frame: pl.DataFrame) -> pl.DataFrame:
    hit = pl.col("obs_date") == DAMAGED
    return frame.with_columns(pl.when(hit).then(6646.344).otherwise(pl.col("value")).alias("value"),
                              pl.when(hit).then(pl.lit("6646.344")).otherwise(pl.col("value_text")).alias("value_text"))


def ge_results(suite: gate.Suite, frame: pl.DataFrame) -> list[gate.CheckResult]:
    """GE itself on the suite (no reuse: straight to `_run_ge`), minus the row-count checks the
    gate evaluates outside GE."""
    rest = dataclasses.replace(suite, checks=tuple(c for c in suite.checks if not gate._is_row_count(c)))
    return gate._run_ge(rest, rest.derive(frame))


def test_the_memo_changes_no_result_and_leaves_ge_as_it_was(walcl, monkeypatch):
    from great_expectations.expectations.expectation import Expectation

    ge_own = Expectation.__dict__["configuration"]
    suite = suites.raw_input_suite(load_registry().get("WALCL"), CLOCK)
    with_memo = [ge_results(suite, f) for f in (walcl, damaged(walcl))]
    assert Expectation.__dict__["configuration"] is ge_own  # GE's property is back after each validation
    monkeypatch.setattr(gate, "_configuration_memo", contextlib.nullcontext)
    without = [ge_results(suite, f) for f in (walcl, damaged(walcl))]
    assert with_memo == without
    assert [r.message() for rs in with_memo for r in rs] == [r.message() for rs in without for r in rs]
    # the damaged file fails where it must, with its row: the comparison is not of empty results
    fails = {r.check: r for r in with_memo[1] if not r.success}
    assert {"value_range", "jump_pct"} <= set(fails)
    assert [str(r["obs_date"])[:10] for r in fails["value_range"].rows] == ["2026-03-11"]


def test_a_validation_that_raises_still_gives_ge_its_property_back(walcl, monkeypatch):
    from great_expectations.datasource.fluent.interfaces import Batch
    from great_expectations.expectations.expectation import Expectation

    ge_own = Expectation.__dict__["configuration"]

    def broken(self, *args, **kwargs):
        assert Expectation.__dict__["configuration"] is not ge_own  # the memo is on inside
        raise RuntimeError("GE failed mid-validation")

    monkeypatch.setattr(Batch, "validate", broken)
    suite = suites.raw_input_suite(load_registry().get("WALCL"), CLOCK)
    with pytest.raises(RuntimeError, match="mid-validation"):
        ge_results(suite, walcl)
    assert Expectation.__dict__["configuration"] is ge_own


def test_no_batch_is_fingerprinted_and_ge_says_the_same(walcl, monkeypatch):
    """GE fingerprints each pandas batch under its HASH_THRESHOLD (a hash of every row, for a
    batch marker nothing reads): the gate turns that off while it hands GE a batch. The
    verdicts, rows and messages are those of GE with its fingerprint, and GE's constant is
    back afterwards."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    own = engine.HASH_THRESHOLD
    suite = suites.raw_input_suite(load_registry().get("WALCL"), CLOCK)
    hashed = []
    real_hash = engine.hash_pandas_dataframe
    monkeypatch.setattr(engine, "hash_pandas_dataframe", lambda df: hashed.append(len(df)) or real_hash(df))
    without = [ge_results(suite, f) for f in (walcl, damaged(walcl))]
    assert hashed == [] and engine.HASH_THRESHOLD == own
    monkeypatch.setattr(gate, "_no_batch_fingerprint", contextlib.nullcontext)
    with_fingerprint = [ge_results(suite, f) for f in (walcl, damaged(walcl))]
    # GE's own path hashes each frame (twice: when the batch is got, and again by validate),
    # so the first check can fail
    assert len(hashed) >= 2 and set(hashed) == {walcl.height}
    assert without == with_fingerprint
    assert [r.message() for rs in without for r in rs] == [r.message() for rs in with_fingerprint for r in rs]
    assert {r.check for r in without[1] if not r.success} >= {"value_range", "jump_pct"}


def test_a_ge_without_the_fingerprint_threshold_is_left_alone(walcl, monkeypatch):
    from great_expectations.execution_engine import pandas_execution_engine as engine

    monkeypatch.delattr(engine, "HASH_THRESHOLD")
    with gate._no_batch_fingerprint():
        assert not hasattr(engine, "HASH_THRESHOLD")
    assert not hasattr(engine, "HASH_THRESHOLD")


def test_two_checks_with_the_same_arguments_each_get_their_result(walcl):
    # (WALCL runs 712,809 to 8,965,487 millions from 2002-12-18; only the damaged row is outside)
    # GE's add_expectation folds an expectation equal to one already added into it; the
    # suite is handed over whole so that each named check keeps its own result
    same = gxe.ExpectColumnValuesToBeBetween(column="value", min_value=500_000, max_value=20_000_000)
    suite = gate.Suite("raw.observations[WALCL]", ("obs_date",),
                       (gate.Check("in_millions", same), gate.Check("in_millions_again", same, blocking=False)))
    results = gate.validate(suite, damaged(walcl)).results
    assert [(r.check, r.success, r.blocking) for r in results] == [
        ("in_millions", False, True), ("in_millions_again", False, False)]
    assert all([str(row["obs_date"])[:10] for row in r.rows] == ["2026-03-11"] for r in results)


def test_the_checks_derived_integers_are_widened_and_ge_says_the_same(walcl):
    """GE's range check runs value by value in Python on anything but 64-bit numbers, so the
    gate widens the integer columns a suite derives (gate.widened). The table's own columns
    keep their types (the schema checks judge them); GE's verdicts, rows and messages are
    the same on the narrow and the widened frame. The flag check fails on the real WALCL weeks
    above 8,000,000 millions, counted here from the CSV with the csv module."""
    derive = lambda f: f.with_columns(  # noqa: E731
        (pl.col("value") > 8_000_000).cast(pl.Int32).alias("above"), pl.len().alias("weeks"))
    above = gxe.ExpectColumnValuesToBeBetween(column="above", min_value=0, max_value=0)
    weeks = gxe.ExpectColumnValuesToBeBetween(column="weeks", min_value=1, max_value=None)
    suite = gate.Suite("raw.observations[WALCL]", ("obs_date",),
                       (gate.Check("below_8tn", above), gate.Check("has_weeks", weeks)), derive)
    narrow = derive(walcl)
    assert (narrow.schema["above"], narrow.schema["weeks"]) == (pl.Int32, pl.UInt32)
    wide = gate.widened(narrow, walcl.columns)
    assert (wide.schema["above"], wide.schema["weeks"]) == (pl.Int64, pl.Int64)
    assert all(wide.schema[c] == narrow.schema[c] for c in walcl.columns)
    assert wide.select("above", "weeks").rows() == narrow.select("above", "weeks").rows()
    on_narrow, on_wide = gate._run_ge(suite, narrow), gate._run_ge(suite, wide)
    assert [(r.check, r.success, r.message()) for r in on_wide] == [(r.check, r.success, r.message()) for r in on_narrow]
    with open(SNAPSHOT_DIR / "fred" / "WALCL.csv", newline="") as handle:
        above_8tn = [row["date"] for row in csv.DictReader(handle)
                     if row["value"] not in ("", ".") and float(row["value"]) > 8_000_000]
    failed = {r.check: r for r in on_wide}["below_8tn"]
    assert not failed.success
    assert f"{len(above_8tn)} offending row(s)" in failed.message()
    assert [str(row["obs_date"])[:10] for row in failed.rows] == above_8tn[:len(failed.rows)]
    assert {r.check: r.success for r in gate.validate(suite, walcl).results} == {"below_8tn": False, "has_weeks": True}


# ------------------------------------------------------------------ checks on the clock's columns
# The clock enters a suite only through derived columns (ages against it). Their checks are
# decided by the gate where GE's report needs no rows, and the GE part is keyed without their
# values, so an unchanged table on a new day needs no GE. Both must leave every result as GE
# gives it: compared here on every published table of the real snapshot (version 1 of
# `netliq run --offline`) and on every raw series, at the run's clock and 400 days later
# (when the stale checks fail).

LATER = dt.timedelta(days=400)


@pytest.fixture(scope="module")
def published(offline_v1) -> tuple[dt.date, dict[str, pl.DataFrame]]:
    import duckdb

    from expectations.tables import PUBLISHED_SUITES

    con = duckdb.connect(str(offline_v1 / "netliq.duckdb"), read_only=True)
    try:
        clock = con.execute("SELECT clock FROM publishes ORDER BY version DESC LIMIT 1").fetchall()[0][0]
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return clock, {n: con.sql(f'SELECT * FROM "{n}"').pl() for n in PUBLISHED_SUITES if n in names}
    finally:
        con.close()


def suites_on_real_data(published, clock: dt.date):
    from expectations.tables import PUBLISHED_SUITES
    from flows.pipeline import _prepare
    from flows.sources import replay

    registry = load_registry()
    _, frames = published
    for name, frame in frames.items():
        yield PUBLISHED_SUITES[name](registry, clock, frame.height), frame
    for spec in registry.used():
        try:
            got = replay.fetch(spec, SNAPSHOT_DIR)
        except replay.NotInReplay:  # registered series the snapshot does not hold (README)
            continue
        yield suites.raw_input_suite(spec, clock), _prepare(spec, got)[0]  # as a run checks it


def by_check(result: gate.SuiteResult) -> dict[str, gate.CheckResult]:
    return {r.check: r for r in result.results}


@pytest.mark.parametrize("later", [False, True], ids=["at the clock", "400 days on"])
def test_the_clock_checks_decided_without_ge_say_what_ge_says(published, monkeypatch, later):
    clock = published[0] + (LATER if later else dt.timedelta(0))
    pairs = list(suites_on_real_data(published, clock))
    fast = [by_check(gate.validate(s, f)) for s, f in pairs]
    decided = sum(1 for s, f in pairs for c in s.checks
                  if gate.reads_the_clock(s, c) and gate._clock_result(s, c, s.derive(f)) is not None)
    # GE alone, as before clock columns existed: every check to GE on the derived frame as is
    monkeypatch.setattr(gate, "_RESULTS", {})
    by_ge = [by_check(gate.validate(dataclasses.replace(s, clock_columns=()), f)) for s, f in pairs]
    assert fast == by_ge
    assert [{k: r.message() for k, r in d.items()} for d in fast] == [{k: r.message() for k, r in d.items()} for d in by_ge]
    assert decided >= 30  # the comparison covers the checks the gate decides (freshness, no_future_dates, ...)
    if later:  # 400 days on, freshness fails somewhere: failures are compared too
        assert any(not r.success and r.check == "freshness" for d in fast for r in d.values())


def test_the_ge_part_of_an_unchanged_table_is_the_same_on_a_later_day(published, monkeypatch):
    # the derived rows GE validates (clock columns blanked) do not change with the day; the
    # suite's own results do: GE's stored result is reused, the ages are judged anew
    clock = published[0]
    monkeypatch.setattr(gate, "_RESULTS", {})
    first = [gate.validate(s, f) for s, f in suites_on_real_data(published, clock)]
    runs = gate.ge_runs
    pairs = list(suites_on_real_data(published, clock + dt.timedelta(days=1)))
    again = [gate.validate(s, f) for s, f in pairs]
    # GE runs on the next day only for a clock check that fails with rows to name (the
    # snapshot's 3350.T is late: asset_prices_daily's freshness), once per such suite
    left_to_ge = {s.table: [c.name for c in s.checks if gate.reads_the_clock(s, c)
                            and gate._clock_result(s, c, s.derive(f)) is None] for s, f in pairs}
    left_to_ge = {t: names for t, names in left_to_ge.items() if names}
    assert left_to_ge == {"asset_prices_daily": ["freshness"]}
    assert gate.ge_runs - runs == len(left_to_ge)
    assert [r.check for x in first for r in x.results] == [r.check for x in again for r in x.results]
    fresh_before = {(x.table, r.check): r.observed for x in first for r in x.results if r.check == "freshness"}
    fresh_after = {(x.table, r.check): r.observed for x in again for r in x.results if r.check == "freshness"}
    changed = [k for k in fresh_before if fresh_before[k] and fresh_before[k] != fresh_after[k]]
    assert changed and all(int(fresh_after[k]) == int(fresh_before[k]) + 1 for k in changed)


def test_every_column_that_moves_with_the_clock_is_declared(published):
    # derived at two clocks, the columns whose values differ are exactly the declared ones
    clock = published[0]
    for (suite, frame), (later, _) in zip(suites_on_real_data(published, clock),
                                          suites_on_real_data(published, clock + LATER), strict=True):
        now, then = suite.derive(frame), later.derive(frame)
        moved = {c for c in now.columns if not now.get_column(c).equals(then.get_column(c))}
        assert moved <= set(suite.clock_columns), f"{suite.table}: {sorted(moved - set(suite.clock_columns))}"
        assert set(suite.clock_columns) <= set(now.columns), suite.table

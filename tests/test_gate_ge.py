"""How the gate drives Great Expectations (expectations/gate.py `_run_ge`): the suite is handed
to GE whole, and GE's expectation `configuration` is built once per expectation within one
validation (`_configuration_memo`). Neither may change a verdict, a row or a message.

Data: the real WALCL snapshot (data/snapshot/fred/WALCL.csv, millions of dollars), and the
same file with 2026-03-11 (6,646,344) sent in billions (6646.344): a constructed damage.
"""

from __future__ import annotations

import contextlib
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

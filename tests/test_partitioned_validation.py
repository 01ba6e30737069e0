"""Partitioned suites (expectations/gate.py, issue 14 goal 6): series_observations' suite is
judged a series' year at a time, so a day's run sends GE the parts that changed, not 25 years
of every series; and the gate says exactly what it says when it validates the whole frame.

The frame is the real one: series_observations as the offline run published it from the
bundled snapshot (tests/conftest.py, offline_v1). "Whole" is the same suite with no partition.
Each test damages a copy in a way written next to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from expectations import gate
from expectations.suites_observations import series_observations_suite
from flows.registry import load_registry
from warehouse import db

REGISTRY = load_registry()
CLOCK = dt.date(2026, 3, 31)  # the snapshot's newest observation (data/snapshot/PROVENANCE.md)


@pytest.fixture(scope="module")
def published(offline_v1) -> pl.DataFrame:
    return db.query_published(db.published_path(offline_v1), "SELECT * FROM series_observations ORDER BY ALL")


@pytest.fixture(autouse=True)
def fresh_gate(monkeypatch):
    """What a new process starts with: nothing validated yet."""
    monkeypatch.setattr(gate, "_RESULTS", {})
    monkeypatch.setattr(gate, "_PARTS_PASSED", set())


@pytest.fixture
def ge_rows(monkeypatch) -> list[int]:
    """The height of every frame handed to GE."""
    seen: list[int] = []
    real = gate._run_ge

    def counting(suite, derived):
        seen.append(derived.height)
        return real(suite, derived)

    monkeypatch.setattr(gate, "_run_ge", counting)
    return seen


def suites(previous_rows: int = 0) -> tuple[gate.Suite, gate.Suite]:
    parted = series_observations_suite(REGISTRY, CLOCK, previous_rows)
    assert parted.partition == ("series_id",) and parted.partition_date == "obs_date"
    return parted, dataclasses.replace(parted, partition=(), partition_date=None)


def said(result: gate.SuiteResult) -> list[tuple]:
    """Everything the gate reports, in its order: verdicts, observed values, rows, messages."""
    return sorted((r.check, r.success, r.blocking, r.expectation, r.observed, r.rows, r.unexpected_count, r.message())
                  for r in result.results)


def one_row(frame: pl.DataFrame, series_id: str, day: str) -> pl.Expr:
    hit = (pl.col("series_id") == series_id) & (pl.col("obs_date") == dt.date.fromisoformat(day))
    assert frame.filter(hit).height == 1, (series_id, day)
    return hit


def damaged(frame: pl.DataFrame) -> pl.DataFrame:
    """Three faults in three series and years, so a batched run meets them in different batches:
    WALCL 2003-01-01's value_bn doubled (value_bn_is_value_times_to_bn); DGS10 1990-01-02
    known a year before it is observed (not_known_before_observed); WTREGEN 2020-01-01 twice
    (unique_key)."""
    walcl = one_row(frame, "WALCL", "2003-01-01")
    dgs10 = one_row(frame, "DGS10", "1990-01-02")
    out = frame.with_columns(
        pl.when(walcl).then(pl.col("value_bn") * 2).otherwise(pl.col("value_bn")).alias("value_bn"),
        pl.when(dgs10).then(pl.col("known_at_utc") - dt.timedelta(days=365)).otherwise(pl.col("known_at_utc"))
        .alias("known_at_utc"),
    )
    twice = out.filter(one_row(out, "WTREGEN", "2020-01-01"))
    return pl.concat([out, twice]).sort("series_id", "obs_date", maintain_order=True)


def fresh(suite: gate.Suite, frame: pl.DataFrame) -> gate.SuiteResult:
    """`suite` on `frame` as a new process validates it (the partitioned and the whole suite
    share their results' fingerprint, so neither may be served from the other)."""
    gate._RESULTS.clear()
    gate._PARTS_PASSED.clear()
    return gate.validate(suite, frame)


def test_a_partitioned_suite_says_what_the_whole_suite_says(published, monkeypatch, ge_rows):
    parted, whole = suites()
    assert fresh(parted, published).passed
    assert said(fresh(parted, published)) == said(fresh(whole, published))

    bad = damaged(published)
    expected = said(fresh(whole, bad))
    failed = {r[0] for r in expected if not r[1]}
    assert failed == {"value_bn_is_value_times_to_bn", "not_known_before_observed", "unique_key"}
    assert said(fresh(parted, bad)) == expected
    # in GE runs of a few thousand rows, each fault in a run of its own: the same report
    monkeypatch.setattr(gate, "PART_BATCH_ROWS", 5_000)
    ge_rows.clear()
    assert said(fresh(parted, bad)) == expected
    assert len(ge_rows) > 3
    assert sum(ge_rows) == bad.height


def test_a_day_validates_the_parts_that_changed(published, ge_rows):
    parted, _ = suites()
    assert gate.validate(parted, published).passed
    assert ge_rows == [published.height]  # the first validation sees every row

    # the next day: one new WALCL week (the 2026-03-25 row again, a week later), value unchanged
    last = published.filter(pl.col("series_id") == "WALCL").tail(1)
    new_week = last.with_columns(pl.col("obs_date") + dt.timedelta(days=7),
                                 pl.col("known_at_utc") + dt.timedelta(days=7))
    next_day = pl.concat([published, new_week]).sort("series_id", "obs_date", maintain_order=True)
    ge_rows.clear()
    assert gate.validate(parted, next_day).passed
    walcl_2026 = next_day.filter((pl.col("series_id") == "WALCL") & (pl.col("obs_date").dt.year() == 2026)).height
    assert ge_rows == [walcl_2026]  # WALCL's 2026 only, with the new week

    # an old value revised: that series' year goes to GE again, and blocks, naming the row
    hit = one_row(next_day, "WALCL", "2003-01-01")
    revised = next_day.with_columns(pl.when(hit).then(pl.col("value_bn") + 1).otherwise(pl.col("value_bn")))
    ge_rows.clear()
    result = gate.validate(parted, revised)
    assert ge_rows == [next_day.filter((pl.col("series_id") == "WALCL") & (pl.col("obs_date").dt.year() == 2003)).height]
    (failure,) = result.blocking_failures
    assert failure.check == "value_bn_is_value_times_to_bn" and failure.unexpected_count == 1
    assert failure.rows[0]["series_id"] == "WALCL" and str(failure.rows[0]["obs_date"])[:10] == "2003-01-01"


def test_other_checks_validate_every_part_again(published, ge_rows):
    parted, _ = suites()
    assert gate.validate(parted, published).passed
    ge_rows.clear()
    # a tighter tolerance is another check: nothing validated under the old one counts
    checks = tuple(dataclasses.replace(c, expectation=gate_between(c)) if c.name == "value_bn_is_value_times_to_bn"
                   else c for c in parted.checks)
    assert gate.validate(dataclasses.replace(parted, checks=checks), published).passed
    assert ge_rows == [published.height]


def gate_between(check: gate.Check):
    from expectations.suites import between

    return between("value_bn_residual", -1e-9, 1e-9)


def test_parts_passed_are_kept_in_the_warehouse_for_the_next_process(published, tmp_path, ge_rows):
    con = db._open(tmp_path / db.WAREHOUSE_FILE, read_only=False)
    db._migrate(con)
    parted, _ = suites()
    with gate.persisted(db.ValidationStore(con)):
        assert gate.validate(parted, published).passed
    stored = con.execute("SELECT count(*) FROM ops.validations WHERE table_name = 'series_observations/parts'"
                         ).fetchall()[0][0]
    assert stored == published.select(pl.struct("series_id", pl.col("obs_date").dt.year()).n_unique()).item()

    gate._RESULTS.clear()  # another process: only the warehouse remembers
    gate._PARTS_PASSED.clear()
    ge_rows.clear()
    dropped = published.filter(~one_row(published, "DGS10", "1990-01-02"))  # a row gone: DGS10's 1990 changed
    with gate.persisted(db.ValidationStore(con)):
        assert gate.validate(parted, dropped).passed
    assert ge_rows == [dropped.filter((pl.col("series_id") == "DGS10") & (pl.col("obs_date").dt.year() == 1990)).height]
    # only the parts of the newest frame are kept: DGS10's old 1990 is forgotten
    after = con.execute("SELECT count(*) FROM ops.validations WHERE table_name = 'series_observations/parts'"
                        ).fetchall()[0][0]
    assert after == stored
    con.close()


def test_a_check_that_reads_across_parts_cannot_be_partitioned(published):
    parted, _ = suites()
    from expectations import expect as gxe

    across = dataclasses.replace(parted, checks=(*parted.checks, gate.Check(
        "mean_value", gxe.ExpectColumnMeanToBeBetween(column="value", min_value=0))))
    with pytest.raises(ValueError, match="mean_value .* is not judged part by part"):
        gate.validate(across, published)
    by_value = dataclasses.replace(parted, partition=("value",))  # a key that spans parts
    with pytest.raises(ValueError, match="unique_key is not judged part by part"):
        gate.validate(by_value, published)

"""A run whose inputs, registry, clock and code are those the current version was built from
knows its tables without building them (flows/same_inputs.py, issue 14 goals 1 and 2), and
says exactly what the full run says. The data is the real snapshot; version 1 and the WALCL
revision of version 2 are tests/conftest.py's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from expectations.tables import PUBLISHED_SUITES
from flows import pipeline, same_inputs
from flows.incremental import described
from flows.registry import load_registry
from warehouse import db

REGISTRY = load_registry()
CLOCK = dt.date(2026, 3, 31)  # the snapshot's newest observation (data/snapshot/PROVENANCE.md)
# what a run says of itself; everything but its id, its timings and where its report went
SAID = ("status", "clock", "version", "published_file", "rows_added", "row_counts", "checks_passed", "stale",
        "unavailable", "late", "revised", "held", "held_tables", "row_changes", "revised_rows")


def _run(root: Path, **kwargs) -> tuple[pipeline.RunSummary, int]:
    """A run on `root` in this process, and how many times it read every stored row to build tables."""
    reads = []
    known = pipeline._known

    def counted(*args):
        reads.append(1)
        return known(*args)

    pipeline._known = counted
    try:
        summary = pipeline.daily(data_dir=str(root), **kwargs)
    finally:
        pipeline._known = known
    return summary, len(reads)


def _said(summary: pipeline.RunSummary) -> dict:
    return {name: getattr(summary, name) for name in SAID}


def _forget_builds(root: Path) -> None:
    with db.connect(root) as con:
        con.execute("DELETE FROM ops.builds")


def test_an_unchanged_run_is_answered_without_building_and_says_what_the_full_run_says(v1_copy: Path):
    known, reads = _run(v1_copy, offline=True)  # version 1's publish recorded its key
    assert (known.status, known.version, reads) == ("unchanged", 1, 0)
    _forget_builds(v1_copy)
    built, reads = _run(v1_copy, offline=True)  # no key: every table built and checked, as before
    assert (built.status, reads) == ("unchanged", 1)
    assert _said(known) == _said(built)
    # the snapshot's stale tables (RPONTSYD not in it, 3350.T late, ...) are said the same
    assert known.stale["bank_credit_weekly"] == "ODSACBW027SBOG not in snapshot"
    assert known.checks_passed > 900
    again, reads = _run(v1_copy, offline=True)  # the full run recorded its key too
    assert (again.status, reads) == ("unchanged", 0) and _said(again) == _said(built)


def test_a_new_value_in_raw_builds_and_publishes(revised_v2_run, tmp_path: Path):
    # version 2's replay revised WALCL 2026-03-18; a run on the snapshot again stores the
    # old value anew: raw grew, the key moved, the tables are built and published
    root = tmp_path / "data"
    shutil.copytree(revised_v2_run[0], root)
    summary, reads = _run(root, offline=True)
    assert (summary.status, summary.version, reads) == ("published", 3, 1)
    assert summary.rows_added["WALCL"] == 1


def test_after_a_rollback_the_next_run_builds_and_publishes_what_its_inputs_give(revised_v2_run, tmp_path: Path):
    # version 2's key is recorded; rollback to 1 makes version 3 (version 1's tables). The
    # same inputs as version 2's are not version 3's tables: built and published as version 4
    root = tmp_path / "data"
    shutil.copytree(revised_v2_run[0], root)
    pipeline.rollback(1, "test: back to version 1", data_dir=str(root))
    summary, reads = _run(root, from_dir=str(revised_v2_run[2]))
    assert (summary.status, summary.version, reads) == ("published", 4, 1)
    with db.connect(root) as con:
        sums = dict(con.execute("SELECT version, checksums FROM ops.publishes").fetchall())
    assert sums[4] == sums[2] != sums[3]
    summary, reads = _run(root, from_dir=str(revised_v2_run[2]))
    assert (summary.status, summary.version, reads) == ("unchanged", 4, 0)


def test_a_deleted_published_file_is_written_again_before_the_key_is_read(v1_copy: Path):
    (v1_copy / db.PUBLISHED_FILE).unlink()
    summary, reads = _run(v1_copy, offline=True)
    assert (summary.status, summary.version, reads) == ("unchanged", 1, 0)
    assert db.file_sha256(v1_copy / db.PUBLISHED_FILE)  # the file is back, version 1 as recorded


# ------------------------------------------------------------------ what the key reads


@pytest.fixture(scope="module")
def warehouse(offline_v1: Path, tmp_path_factory):
    root = tmp_path_factory.mktemp("key") / "data"
    shutil.copytree(offline_v1, root)
    with db.connect(root) as con:
        yield con


def _key(con, **change) -> str:
    args = dict(registry=REGISTRY, used=REGISTRY.used(), clock=CLOCK, late={}, unavailable={}, held={},
                counts=db.current_publish(con)["row_counts"])
    return same_inputs.key(con, **{**args, **change})


def test_the_key_moves_with_everything_the_tables_and_their_checks_depend_on(warehouse):
    con = warehouse
    base = _key(con)
    assert _key(con) == base  # and nothing else
    walcl = REGISTRY.get("WALCL")
    changed = dataclasses.replace(REGISTRY, series={**REGISTRY.series,
                                                    "WALCL": dataclasses.replace(walcl, max_gap_days=walcl.max_gap_days + 1)})
    counts = db.current_publish(con)["row_counts"]
    moved = {
        "the clock": _key(con, clock=CLOCK + dt.timedelta(days=1)),
        "a late series": _key(con, late={"WALCL": "late"}),
        "an unavailable series": _key(con, unavailable={"WALCL": "source failed"}),
        "a held series": _key(con, held={"WALCL": "late"}),
        "a registry entry": _key(con, registry=changed),
        "the previous row counts": _key(con, counts={**counts, "net_liquidity_weekly": 1}),
        "the series read": _key(con, used=REGISTRY.used()[1:]),
    }
    con.execute("BEGIN")
    con.execute("INSERT INTO raw.observations SELECT * REPLACE (now() AS fetched_at) FROM raw.observations "
                "WHERE series_id = 'WALCL' ORDER BY obs_date DESC LIMIT 1")
    moved["a row appended to raw"] = _key(con)
    con.execute("ROLLBACK")
    assert _key(con) == base
    assert [what for what, key in moved.items() if key == base] == []


def test_the_code_fingerprint_moves_with_one_byte_of_a_builder_or_of_the_holiday_calendar(tmp_path: Path):
    for package in same_inputs.CODE_PACKAGES:
        shutil.copytree(same_inputs.PROJECT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    assert same_inputs.code_fingerprint(tmp_path) == same_inputs.code_fingerprint(same_inputs.PROJECT)
    base = same_inputs.code_fingerprint(tmp_path)
    for edited in ("transforms/liquidity.py", "transforms/us_federal_holidays.txt"):
        path = tmp_path / edited
        path.write_bytes(path.read_bytes() + b"\n")
        same_inputs.code_fingerprint.cache_clear()
        assert same_inputs.code_fingerprint(tmp_path) != base, edited
        base = same_inputs.code_fingerprint(tmp_path)
    (tmp_path / "transforms" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "transforms" / "__pycache__" / "liquidity.cpython-311.pyc").write_bytes(b"bytecode")
    same_inputs.code_fingerprint.cache_clear()
    assert same_inputs.code_fingerprint(tmp_path) == base  # compiled bytecode is not the code


def test_the_registry_text_does_not_depend_on_the_processs_string_hashing():
    # frozensets (the overnight facilities) print in hash order; the key sorts them
    assert REGISTRY.overnight
    reordered = dataclasses.replace(REGISTRY, overnight=frozenset(sorted(REGISTRY.overnight, reverse=True)))
    assert same_inputs.registry_text(reordered) == same_inputs.registry_text(REGISTRY)


@pytest.mark.parametrize("name", sorted(PUBLISHED_SUITES))
def test_the_previous_row_counts_only_set_the_minimum_of_rows_not_shrinking(name):
    # why a publish's key is taken with its own row counts (flows/same_inputs.py): the only
    # check the previous rows change is `rows_not_shrinking`, a minimum of rows. N's tables
    # against N's counts pass it; a publish where it warned records no key (the pipeline
    # looks for that check's name)
    few, many = (PUBLISHED_SUITES[name](REGISTRY, CLOCK, rows) for rows in (0, 10**9))
    differ = [(a, b) for a, b in zip(few.checks, many.checks, strict=True)
              if described(a.expectation) != described(b.expectation)]
    assert [a.name for a, _ in differ] == ([] if name in ("catalog", "liquidity_forward_returns")
                                           else ["rows_not_shrinking"])
    for a, b in differ:
        assert a.expectation.type == "ExpectTableRowCountToBeBetween"
        assert (a.expectation.kwargs, b.expectation.kwargs) == ({"min_value": 0}, {"min_value": 10**9})
        assert a.blocking or name == "series_observations"


def test_a_held_table_is_published_once_and_the_runs_after_say_the_same(v1_copy: Path, replay_dir: Path):
    # WTREGEN (policy block) without its 2026 rows: 90 days old against the clock 2026-03-31, so
    # the tables that read it keep version 1 and version 2 publishes the rest (the catalog says
    # why). A held table names the version whose rows it keeps, the same in every run that
    # holds it: before, each such run named the newest version, a new catalog to publish.
    path = replay_dir / "fred/WTREGEN.csv"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("2026")))
    first, _ = _run(v1_copy, from_dir=str(replay_dir))
    assert (first.status, first.version) == ("published", 2)
    assert first.held_tables and first.stale["net_liquidity_weekly"].startswith("held (kept version 1): WTREGEN")
    _forget_builds(v1_copy)
    built, reads = _run(v1_copy, from_dir=str(replay_dir))
    assert (built.status, built.version, reads) == ("unchanged", 2, 1)
    known, reads = _run(v1_copy, from_dir=str(replay_dir))
    assert (known.status, reads) == ("unchanged", 0) and _said(known) == _said(built)
    assert built.stale == first.stale and built.held_tables == first.held_tables


def test_a_key_that_cannot_be_written_costs_the_next_run_a_build_not_this_run_its_publish(
        v1_copy: Path, replay_dir: Path, monkeypatch):
    from tests.conftest import REVISED_WALCL

    path = replay_dir / "fred/WALCL.csv"
    path.write_text(path.read_text().replace(*REVISED_WALCL))

    def full_disk(*args):
        raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setattr(db, "record_build", full_disk)
    summary, _ = _run(v1_copy, from_dir=str(replay_dir))
    assert (summary.status, summary.version) == ("published", 2)
    with db.connect(v1_copy) as con:
        assert con.execute("SELECT status FROM ops.runs ORDER BY started_at DESC LIMIT 1").fetchall() == [("published",)]
    monkeypatch.undo()
    summary, reads = _run(v1_copy, from_dir=str(replay_dir))
    assert (summary.status, summary.version, reads) == ("unchanged", 2, 1)

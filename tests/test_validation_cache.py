"""Validation results persisted in the warehouse (issue 14, goal 3): an unchanged input costs
no validation in a later process, and the gate's decisions stay exactly the same.

"A fresh gate state" below is what another process starts with: the in-process results
(`gate._RESULTS`) emptied, only the warehouse's ops.validations to reuse. GE runs are counted
by `gate.ge_runs`. The data is the real snapshot (WALCL, RRPONTSYD as recorded).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from expectations import gate, suites
from expectations.tables import PUBLISHED_SUITES
from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv
from warehouse import db

D = dt.date.fromisoformat
REGISTRY = load_registry()
CLOCK = D("2026-03-31")  # the snapshot's newest observation (PROVENANCE.md)


@pytest.fixture(scope="module")
def walcl() -> pl.DataFrame:
    return read_fred_csv(SNAPSHOT_DIR / "fred" / "WALCL.csv", "WALCL")


@pytest.fixture
def warehouse(tmp_path: Path):
    """A fresh warehouse; `open_store()` is a new connection to it, as a new process has."""
    cons = []

    def open_store() -> db.ValidationStore:
        for con in cons:
            con.close()
        cons.clear()
        cons.append(db._open(tmp_path / db.WAREHOUSE_FILE, read_only=False))
        db._migrate(cons[0])
        return db.ValidationStore(cons[0])

    yield open_store
    for con in cons:
        con.close()


@pytest.fixture(autouse=True)
def fresh_gate(monkeypatch):
    monkeypatch.setattr(gate, "_RESULTS", {})


def fresh_process(open_store) -> db.ValidationStore:
    gate._RESULTS.clear()
    return open_store()


def run(store, spec, frame: pl.DataFrame, clock: dt.date = CLOCK) -> tuple[gate.SuiteResult, int]:
    """The raw suite of `spec` on `frame` with `store`; and how many times GE ran."""
    before = gate.ge_runs
    with gate.persisted(store):
        result = gate.validate(suites.raw_input_suite(spec, clock), frame)
    return result, gate.ge_runs - before


def verdicts(result: gate.SuiteResult) -> list[tuple]:
    return [(r.check, r.success, r.blocking, r.message()) for r in result.results]


def stored_rows(store: db.ValidationStore) -> list[tuple]:
    return store._con.execute("SELECT table_name, checks FROM ops.validations ORDER BY table_name").fetchall()


# ------------------------------------------------------------------ reuse across processes


def test_an_unchanged_series_is_not_validated_again_in_a_fresh_process(warehouse, walcl):
    spec = REGISTRY.get("WALCL")
    first, ran = run(fresh_process(warehouse), spec, walcl)
    assert first.passed and ran == 1
    store = fresh_process(warehouse)
    # not_empty (a row count) and freshness (a bound on the clock's age column) are not GE's
    assert stored_rows(store) == [("raw.observations[WALCL]", len(first.results) - 2)]
    again, ran = run(store, spec, walcl.clone())
    assert ran == 0
    assert again.results == first.results and verdicts(again) == verdicts(first)


def test_a_changed_value_is_validated_again(warehouse, walcl):
    spec = REGISTRY.get("WALCL")
    run(fresh_process(warehouse), spec, walcl)
    # WALCL 2026-03-18 = 6655939 (millions) in the snapshot; a plausible revision to 6655000
    hit = pl.col("obs_date") == D("2026-03-18")
    assert walcl.filter(hit)["value"][0] == 6655939
    revised = walcl.with_columns(pl.when(hit).then(6655000.0).otherwise(pl.col("value")).alias("value"))
    result, ran = run(fresh_process(warehouse), spec, revised)
    assert ran == 1 and result.passed


def test_a_changed_limit_in_the_suite_is_validated_again_and_decides_anew(warehouse, walcl):
    spec = REGISTRY.get("WALCL")
    first, _ = run(fresh_process(warehouse), spec, walcl)
    assert first.passed
    # the registry limit lowered below WALCL's real values (6.6 million millions in 2026-03)
    lower = dataclasses.replace(spec, valid_max=6_000_000)
    result, ran = run(fresh_process(warehouse), lower, walcl)
    assert ran == 1
    assert "value_range" in {f.check for f in result.blocking_failures}


def test_a_changed_registry_entry_is_validated_again(warehouse, walcl, tmp_path):
    spec = REGISTRY.get("WALCL")
    run(fresh_process(warehouse), spec, walcl)
    # the same entry in an edited registry file (what NETLIQ_REGISTRY points at): WALCL's jump limit
    text = REGISTRY.path.read_text()
    assert text.count("max_change_pct = 30.0\nrelease = \"H.4.1") == 1
    edited = tmp_path / "series.toml"
    walcl_jump = "max_change_pct = 30.0\nrelease = \"H.4.1"
    edited.write_text(text.replace(walcl_jump, walcl_jump.replace("30.0", "25.0")))
    changed = load_registry(edited).get("WALCL")
    assert changed.max_change_pct == 25.0
    result, ran = run(fresh_process(warehouse), changed, walcl)
    assert ran == 1 and result.passed
    # the lateness policy only changes whether freshness blocks; freshness is decided by the
    # gate, outside GE (a bound on the clock's column), so GE's stored part is reused
    warned = dataclasses.replace(spec, lateness="warn")
    result, ran = run(fresh_process(warehouse), warned, walcl)
    assert ran == 0
    assert {r.check: r.blocking for r in result.results}["freshness"] is False
    # an exemption changes what derive computes, so the derived frame and the key
    exempt = dataclasses.replace(spec, exempt_dates=(*spec.exempt_dates, D("2026-03-11")))
    _, ran = run(fresh_process(warehouse), exempt, walcl)
    assert ran == 1


def test_a_changed_registry_asset_list_changes_a_published_tables_key():
    frame = pl.DataFrame({"asset": ["gold"], "date": [CLOCK], "close": [1.0]})
    fewer = dataclasses.replace(REGISTRY, model={**REGISTRY.model, "assets": ["GC=F"]})
    keys = {gate._cache_key(PUBLISHED_SUITES["asset_prices_daily"](r, CLOCK, 0), frame) for r in (REGISTRY, fewer)}
    assert len(keys) == 2  # known_assets_only's value_set follows the registry's assets


def test_a_failing_suite_is_never_served_from_the_store(warehouse, walcl):
    spec = REGISTRY.get("WALCL")
    # WALCL 2026-03-11 = 6646344 (millions) sent in billions: out of range, two jumps
    hit = pl.col("obs_date") == D("2026-03-11")
    bad = walcl.with_columns(pl.when(hit).then(6646.344).otherwise(pl.col("value")).alias("value"),
                             pl.when(hit).then(pl.lit("6646.344")).otherwise(pl.col("value_text")).alias("value_text"))
    first, ran = run(fresh_process(warehouse), spec, bad)
    assert ran == 1 and {f.check for f in first.blocking_failures} == {"value_range", "jump_pct"}
    store = fresh_process(warehouse)
    assert stored_rows(store) == []
    again, ran = run(store, spec, bad)
    assert ran == 1 and verdicts(again) == verdicts(first)


def test_a_warning_is_stored_with_its_message_and_served_identically(warehouse, walcl):
    # a warn-policy copy of WALCL cut at 2026-03-04: 27 days old at the clock (limit 9), so
    # freshness fails without blocking; the suite passes and its results are stored
    spec = dataclasses.replace(REGISTRY.get("WALCL"), lateness="warn")
    old = walcl.filter(pl.col("obs_date") <= D("2026-03-04"))
    first, ran = run(fresh_process(warehouse), spec, old)
    assert ran == 1 and first.passed
    assert [r.check for r in first.results if not r.success] == ["freshness"]
    again, ran = run(fresh_process(warehouse), spec, old)
    assert ran == 0 and verdicts(again) == verdicts(first)


def test_rows_with_dates_and_numpy_values_round_trip_exactly():
    import numpy as np
    import pandas as pd

    rows = ({"obs_date": pd.Timestamp("2026-03-11"), "value": np.float64(6646.344), "n": np.int64(3),
             "day": D("2026-03-11"), "at": dt.datetime(2026, 3, 26, 20, 30), "text": "6646.344", "none": None},)
    result = [gate.CheckResult("t", "freshness", False, False, "expect(...)", observed="27", rows=rows,
                               unexpected_count=1)]
    payload = gate._storable(result)
    assert payload is not None
    assert gate._decode("t", payload) == result
    nan = [dataclasses.replace(result[0], rows=({"value": float("nan")},))]
    assert gate._storable(nan) is None  # not exactly storable: GE runs again next time
    failing = [dataclasses.replace(result[0], blocking=True)]
    assert gate._storable(failing) is None


def test_an_unreadable_stored_result_is_validated_again(warehouse, walcl):
    spec = REGISTRY.get("WALCL")
    run(fresh_process(warehouse), spec, walcl)
    store = fresh_process(warehouse)
    store._con.execute("UPDATE ops.validations SET results = '[{\"unknown\": 1}]'")
    result, ran = run(store, spec, walcl)
    assert ran == 1 and result.passed


def test_the_key_is_computed_without_great_expectations():
    probe = ("import sys, polars as pl; from expectations import gate, suites;"
             "from flows.registry import load_registry;"
             "import datetime as dt; s = suites.raw_input_suite(load_registry().get('WALCL'), dt.date(2026, 3, 31));"
             "gate._cache_key(s, pl.DataFrame({'a': [1]})); print('great_expectations' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ------------------------------------------------------------------ a whole offline run


def _offline_run(root: Path) -> dict:
    """An offline run on `root` in this process with a fresh gate state: every (suite, frame)
    it validated and what it got, and the tables GE itself validated. The warehouse's
    recorded builds are forgotten first, so the run builds and checks every table: the store
    of validations is what is tested here (tests/test_same_inputs.py: a run that need not build)."""
    from flows import pipeline

    with db.connect(root) as con:
        con.execute("DELETE FROM ops.builds")

    seen, ran = [], []
    audit, run_ge = pipeline.audit, gate._run_ge

    def recording(suite, frame):
        result = audit(suite, frame)
        seen.append((suite, frame, result))
        return result

    def counted(suite, derived):
        ran.append(suite.table)
        return run_ge(suite, derived)

    saved, gate._RESULTS = gate._RESULTS, {}
    pipeline.audit, gate._run_ge = recording, counted
    try:
        summary = pipeline.daily(offline=True, data_dir=str(root))
    finally:
        pipeline.audit, gate._run_ge = audit, run_ge
        gate._RESULTS = saved
    return {"summary": summary, "seen": seen, "ge_ran": ran, "root": root}


@pytest.fixture(scope="module")
def unchanged_runs(offline_v1: Path, tmp_path_factory) -> list[dict]:
    """Two unchanged offline runs on a copy of version 1, one after the other."""
    root = tmp_path_factory.mktemp("unchanged") / "data"
    shutil.copytree(offline_v1, root)
    return [_offline_run(root), _offline_run(root)]


def test_after_a_publish_an_unchanged_run_reuses_every_published_tables_validation(unchanged_runs):
    # rows_not_shrinking compares with the published row counts, which the publish changed:
    # evaluated outside GE, so the tables' GE results are reused. The raw inputs need no GE
    # either: after a publish a day's run checks each series' newest row on the clock alone
    # (flows/incremental.py), and the gate decides those checks (freshness) itself.
    first = unchanged_runs[0]
    assert first["summary"].status == "unchanged"
    assert len(first["seen"]) >= 10
    assert first["ge_ran"] == []


def test_an_unchanged_offline_run_validates_nothing_with_great_expectations(unchanged_runs):
    second = unchanged_runs[1]
    assert second["summary"].status == "unchanged"
    assert len(second["seen"]) >= 10  # the raw inputs (in batches) and every published table
    assert second["ge_ran"] == []


def test_the_verdicts_with_and_without_the_store_are_identical_on_the_real_snapshot(unchanged_runs):
    # every suite of the second run was served from the store; GE on the same frames agrees
    seen = unchanged_runs[1]["seen"]
    before = gate.ge_runs
    for suite, frame, served in seen:
        gate._RESULTS.clear()
        fresh = gate.validate(suite, frame)  # no store: GE runs
        assert fresh.results == served.results, suite.table
        assert verdicts(fresh) == verdicts(served), suite.table
    # one GE run per suite with checks of GE's own (not row counts, not on the clock: an
    # unchanged series' newest row is checked on the clock alone), and one more where a check
    # on the clock's columns needs GE to name its rows (the snapshot's late 3350.T:
    # asset_prices_daily's freshness)
    with_ge = [suite.table for suite, _, _ in seen
               if any(not gate._is_row_count(c) and not gate.reads_the_clock(suite, c) for c in suite.checks)]
    to_ge = [suite.table for suite, frame, _ in seen if any(
        gate.reads_the_clock(suite, c) and gate._clock_result(suite, c, suite.derive(frame)) is None for c in suite.checks)]
    assert to_ge == ["asset_prices_daily"]
    assert len(with_ge) >= 15 and len(seen) - len(with_ge) >= 15  # the published tables; the raw series
    assert gate.ge_runs - before == len(with_ge) + len(to_ge)


def test_great_expectations_is_not_imported_by_an_unchanged_run_in_a_fresh_process(unchanged_runs, tmp_path):
    from prefect.settings import PREFECT_API_URL

    root = tmp_path / "data"
    shutil.copytree(unchanged_runs[1]["root"], root)
    probe = ("import json, sys; from flows.pipeline import daily; from expectations import gate;"
             f"s = daily(offline=True, data_dir={str(root)!r});"
             "print(json.dumps({'status': s.status, 'ge_runs': gate.ge_runs,"
             " 'ge_loaded': sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations')[:3]}))")
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "NETLIQ_REPORT": "0"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"status": "unchanged", "ge_runs": 0, "ge_loaded": []}

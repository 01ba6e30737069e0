"""The long tables (flows/long_tables.py): a run rebuilds series_observations and revisions
only from the observation dates raw stored rows for since the current version's were built,
and every table it publishes is the one a build from every stored row gives.

Data: version 1 of the real snapshot (`netliq run --offline`), then a replay of the snapshot
with CONSTRUCTED changes to real files, each a case of the plan:
- WALCL 2026-03-18 revised (conftest's REVISED_WALCL), a series the model tables read whole;
- WDTGAL 2026-03-18 875,833 → 875,000 and CPIAUCSL 2026-02-01 327.46 → 327.5, series only
  the long tables read: rebuilt from those dates on;
- DTWEXBGS' registry entry edited (its native_units text): every row of it rebuilt;
- ECBASSETSW: its newest stored row, 1 higher, written straight into raw with a fetch time a
  second before the one recorded (a value the stored one then revised): every row of it rebuilt;
- every other series unchanged: its rows kept from version 1.
The expectation is computed the long way, from every stored row of every series (the build
before this module: transforms.known over each series' whole history, then the builders),
on the same warehouse after the run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import long_tables
from flows import pipeline
from flows.pipeline import daily, rollback
from flows.registry import REGISTRY_PATH, load_registry
from flows.tables import BUILDERS
from tests.conftest import REVISED_WALCL, copy_snapshot
from transforms import known as pit
from transforms.catalog import TABLES
from warehouse import db


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def full_build(root: Path, clock: dt.date) -> dict[str, pl.DataFrame]:
    """Every table a build from every stored row gives (the path before flows/long_tables.py)."""
    registry = load_registry()
    used = registry.used()
    with db.connect(root, read_only=True) as con:
        histories = db.observation_histories(con, [s.key for s in used])
    known = {s.key: pit.known_rows(histories[s.key], s.release_rule()) for s in used}
    inputs = pipeline._inputs(registry, {k: pit.current(rows) for k, rows in known.items()}, clock, known)
    built, _, _ = pipeline.build_tables.fn(inputs, {}, {}, {})
    return {**built, "revisions": long_tables.revisions_of(known)}


def published(root: Path, name: str) -> pl.DataFrame:
    spec = TABLES[name]
    frame = db.query_published(db.published_path(root), f'SELECT * FROM "{name}"')
    return frame.select(spec.schema.names()).cast(dict(spec.schema)).sort(list(spec.key))


@pytest.fixture
def planned(monkeypatch) -> list[long_tables.Plan]:
    """The plans the runs built their long tables by."""
    plans = []
    real = long_tables.build

    def spy(con, plan, specs, known):
        plans.append(plan)
        return real(con, plan, specs, known)

    monkeypatch.setattr(long_tables, "build", spy)
    return plans


def test_a_run_builds_the_changed_dates_and_publishes_what_every_row_gives(v1_copy: Path, tmp_path: Path,
                                                                          monkeypatch, planned):
    replay = copy_snapshot(tmp_path / "replay")
    _edit(replay / "fred/WALCL.csv", *REVISED_WALCL)
    _edit(replay / "fred/WDTGAL.csv", "2026-03-18,875833", "2026-03-18,875000")
    _edit(replay / "fred/CPIAUCSL.csv", "2026-02-01,327.46", "2026-02-01,327.5")
    registry = tmp_path / "series.toml"
    registry.write_text(REGISTRY_PATH.read_text().replace('native_units = "Index Jan 2006=100"',
                                                          'native_units = "Index, Jan 2006 = 100"'))
    monkeypatch.setenv("NETLIQ_REGISTRY", str(registry))
    with db.connect(v1_copy) as con:
        # version 1 recorded every series raw holds (the snapshot lacks four registered ones)
        stored = set(db.raw_watermarks(con, [s.key for s in load_registry().used()]))
        assert set(db.long_tables_record(con)) == stored and len(stored) == 26
        con.execute("INSERT INTO raw.observations SELECT * REPLACE (fetched_at - INTERVAL 1 SECOND AS fetched_at, value + 1 AS value, "
                    "CAST(value + 1 AS VARCHAR) AS value_text) "
                    "FROM raw.observations WHERE series_id = 'ECBASSETSW' ORDER BY obs_date DESC LIMIT 1")

    summary = daily(from_dir=str(replay), data_dir=str(v1_copy))

    assert summary.status == "published" and summary.version == 2
    [plan] = planned
    assert plan.version == 1
    changed = {k: v for k, v in plan.since.items() if v is not None}
    assert changed == {"WALCL": dt.date(2026, 3, 18), "WDTGAL": dt.date(2026, 3, 18), "CPIAUCSL": dt.date(2026, 2, 1),
                       "DTWEXBGS": long_tables.EVERY_ROW, "ECBASSETSW": long_tables.EVERY_ROW}
    expected = full_build(v1_copy, summary.clock)
    assert set(expected) == {n for n in BUILDERS} | {"revisions"}
    for name, frame in expected.items():
        spec = TABLES[name]
        assert_frame_equal(published(v1_copy, name), frame.select(spec.schema.names()).cast(dict(spec.schema))
                           .sort(list(spec.key)), check_exact=True)
    observations = published(v1_copy, "series_observations")
    assert observations.filter((pl.col("series_id") == "WDTGAL") & (pl.col("obs_date") == dt.date(2026, 3, 18))
                               )["value"].to_list() == [875000.0]
    assert set(observations.filter(pl.col("series_id") == "DTWEXBGS")["native_units"]) == {"Index, Jan 2006 = 100"}
    # the revisions: WALCL's, WDTGAL's and CPIAUCSL's constructed ones, among the snapshot's own
    revisions = published(v1_copy, "revisions")
    assert {"WALCL", "WDTGAL", "CPIAUCSL"} <= set(revisions.filter(pl.col("run_id") == summary.run_id)["series_id"])

    # the record now describes version 2: the same replay again keeps every row
    with db.connect(v1_copy) as con:
        assert {rec[0] for rec in db.long_tables_record(con).values()} == {2}
        again = long_tables.plan(con, load_registry().used(), 2)
        assert again.version == 2 and set(again.since.values()) == {None}


def test_after_a_rollback_or_without_a_record_every_row_is_built(v1_copy: Path):
    used = load_registry().used()
    rollback(1, "test: the record describes version 1, not the rollback", data_dir=str(v1_copy))
    with db.connect(v1_copy) as con:
        after_rollback = long_tables.plan(con, used, db.current_version(con))
        con.execute("DELETE FROM ops.long_table_builds")
        without = long_tables.plan(con, used, 1)
        recorded = db.long_tables_record(con)
    for plan in (after_rollback, without):
        assert plan.version is None and set(plan.since.values()) == {long_tables.EVERY_ROW}
    assert recorded == {}

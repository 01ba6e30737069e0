"""Migration 0006_markets_labels: a warehouse published before issue 12 takes the renamed
real gold price (rescaled to its new units) and the new markets columns, so its next
publish passes the schema guard and every earlier version reads in the new units."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from transforms.markets import TABLE_SPECS
from warehouse import db
from warehouse.migrations import MIGRATIONS

D = dt.date.fromisoformat
SPECS = {spec.name: spec for spec in TABLE_SPECS}
NEW = "0006_markets_labels"


def warehouse_before(root: Path, migration: str = NEW) -> duckdb.DuckDBPyConnection:
    """A warehouse as the release before `migration` left it: every earlier migration applied
    (tests/test_lead_lag_migration.py uses it too)."""
    con = duckdb.connect(str(root / db.WAREHOUSE_FILE))
    con.execute("CREATE SCHEMA ops")
    con.execute("CREATE TABLE ops.migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    names = [name for name, _ in MIGRATIONS]
    for name, sql in MIGRATIONS[: names.index(migration)]:
        sql(con) if callable(sql) else con.execute(sql)
        con.execute("INSERT INTO ops.migrations VALUES (?, now())", [name])
    return con


def _columns(con, name: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'history' AND table_name = ? "
        "AND column_name NOT IN ('valid_from', 'valid_to', 'row_md5') ORDER BY ordinal_position", [name]).fetchall()]


def test_old_gold_ratio_becomes_the_real_price_and_new_columns_are_null(tmp_path: Path):
    # version 1 as the old code published March 2026: CPIAUCNS 2026-03-01 330.213, GC=F
    # 2026-03-31 close 4647.60009765625, gold_cpi_ratio = gold ÷ index = 14.0745...
    con = warehouse_before(tmp_path)
    con.execute("""CREATE TABLE history.gold_cpi_monthly (valid_from INTEGER, valid_to INTEGER, row_md5 UHUGEINT,
                   date DATE, cpi_index DOUBLE, gold_usd_per_oz DOUBLE, gold_close_date DATE, gold_cpi_ratio DOUBLE)""")
    con.execute("INSERT INTO history.gold_cpi_monthly VALUES (1, NULL, 1, DATE '2026-03-01', 330.213, "
                "4647.60009765625, DATE '2026-03-31', 4647.60009765625 / 330.213)")
    con.execute("""CREATE TABLE history.performance_daily (valid_from INTEGER, valid_to INTEGER, row_md5 UHUGEINT,
                   date DATE, asset VARCHAR, value_native DOUBLE, units VARCHAR, base_date DATE, index_100 DOUBLE)""")
    con.execute("INSERT INTO history.performance_daily VALUES (1, NULL, 2, DATE '2026-01-02', 'gold', "
                "4314.39990234375, 'USD per troy ounce', DATE '2026-01-02', 100.0)")
    con.close()

    with db.connect(tmp_path) as con:
        assert (NEW,) in con.execute("SELECT name FROM ops.migrations").fetchall()
        assert _columns(con, "gold_cpi_monthly") == SPECS["gold_cpi_monthly"].schema.names()
        assert _columns(con, "performance_daily") == SPECS["performance_daily"].schema.names()
        real, = con.execute("SELECT gold_real_usd_1982_84_per_oz FROM history.gold_cpi_monthly").fetchone()
        assert real == pytest.approx(4647.60009765625 * 100 / 330.213, rel=1e-12)  # 1,407.455 USD of 1982-84
        # the old version did not record why a row had no index: NULL, not a guess
        assert con.execute("SELECT no_index_reason FROM history.performance_daily").fetchall() == [(None,)]
    # a fresh warehouse (no history yet) takes the same migration without error
    with db.connect(tmp_path / "fresh") as con:
        assert (NEW,) in con.execute("SELECT name FROM ops.migrations").fetchall()

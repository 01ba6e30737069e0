"""Migration 0007_lead_lag_intervals: a warehouse whose liquidity_asset_lead_lag was published
before issue 12 (no interval, best lag by |correlation| alone) takes the new columns, NULL in
its old versions, so its next publish passes the schema guard and old versions still read."""

from __future__ import annotations

from pathlib import Path

from transforms.correlation import LEAD_LAG_TABLE, TABLE_SPECS
from warehouse import db
from tests.test_markets_migration import warehouse_before

NEW = "0007_lead_lag_intervals"
SPEC = next(spec for spec in TABLE_SPECS if spec.name == LEAD_LAG_TABLE)


def test_an_old_lead_lag_history_takes_the_interval_columns(tmp_path: Path):
    con = warehouse_before(tmp_path, NEW)
    # the table as faacec7 published it: seven columns, a best lag with no interval
    con.execute("""CREATE TABLE history.liquidity_asset_lead_lag (valid_from INTEGER, valid_to INTEGER,
                   row_md5 UHUGEINT, asset VARCHAR, lag_weeks INTEGER, correlation DOUBLE, n_obs INTEGER,
                   window_start DATE, window_end DATE, is_best_lag BOOLEAN)""")
    con.execute("INSERT INTO history.liquidity_asset_lead_lag VALUES (1, NULL, 1, 'zcash', -4, -0.212, 155, "
                "DATE '2023-04-05', DATE '2026-03-25', true)")
    con.close()

    with db.connect(tmp_path) as con:
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'history' "
            "AND table_name = ? AND column_name NOT IN ('valid_from', 'valid_to', 'row_md5') "
            "ORDER BY ordinal_position", [LEAD_LAG_TABLE]).fetchall()]
        assert columns == SPEC.schema.names()
        # the old mark stands as it was published; its interval was never computed: NULL
        assert con.execute(f"SELECT is_best_lag, correlation_ci_low, no_best_lag_reason FROM history.{LEAD_LAG_TABLE}"
                           ).fetchall() == [(True, None, None)]

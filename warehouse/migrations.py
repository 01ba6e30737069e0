"""Named schema migrations of the working warehouse, applied in order, each in the same
transaction as the row that records it (sqlite-utils style). A migration is SQL, or a
function of the connection where SQL alone cannot say it."""

from __future__ import annotations

from collections.abc import Callable


def _history_row_ranges(con) -> None:
    """history kept a whole copy of every table per version (a `version` column). Replay those
    versions, oldest first, into one row per distinct row with the versions it belongs to
    (warehouse.db.add_version, the same code a publish uses), so every version reads back the same."""
    from warehouse.db import add_version, create_history_table

    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'history' "
        "AND column_name = 'version' ORDER BY table_name").fetchall()]
    for name in tables:
        copies = f"{name}__full_copies"
        con.execute(f'DROP VIEW IF EXISTS marts."{name}"')
        con.execute(f'ALTER TABLE history."{name}" RENAME TO "{copies}"')
        create_history_table(con, name, f'(SELECT * EXCLUDE (version) FROM history."{copies}")')
        for (version,) in con.execute(f'SELECT DISTINCT version FROM history."{copies}" ORDER BY 1').fetchall():
            con.execute(f'CREATE OR REPLACE TEMP VIEW _copy AS SELECT * EXCLUDE (version) FROM history."{copies}" '
                        f"WHERE version = {int(version)}")
            add_version(con, name, version, "_copy")
        con.execute("DROP VIEW IF EXISTS _copy")
        con.execute(f'DROP TABLE history."{copies}"')


def _history_tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'history'").fetchall()}


def _markets_labels(con) -> None:
    """Issue 12: gold ÷ CPI is published as the real price, gold × 100 ÷ CPI, under a name that
    says so; earlier versions are rescaled with the rename, so every version reads in the
    new column's units (the old values were gold ÷ the index, 100× too small for the label
    they carried). New columns (when CPI and WMTSECL1 became public, where a ratio's
    denominator came from, why a row has no yearly index) are NULL in versions published
    before this: not recorded then."""
    tables = _history_tables(con)
    for name in ("gold_daily", "gold_cpi_monthly"):
        if name in tables:
            con.execute(f'ALTER TABLE history."{name}" RENAME COLUMN gold_cpi_ratio TO gold_real_usd_1982_84_per_oz')
            con.execute(f'UPDATE history."{name}" SET gold_real_usd_1982_84_per_oz = gold_real_usd_1982_84_per_oz * 100')
    added = {
        "gold_daily": (("cpi_known_date", "DATE"), ("foreign_official_treasuries_known_date", "DATE")),
        "asset_ratios_daily": (("denominator_source", "VARCHAR"),),
        "performance_daily": (("no_index_reason", "VARCHAR"),),
    }
    for name, columns in added.items():
        for column, kind in columns:
            if name in tables:
                con.execute(f'ALTER TABLE history."{name}" ADD COLUMN IF NOT EXISTS {column} {kind}')


MIGRATIONS: list[tuple[str, str | Callable]] = [
    (
        "0001_layers",
        """
        CREATE SCHEMA IF NOT EXISTS raw;
        CREATE SCHEMA IF NOT EXISTS staging;
        CREATE SCHEMA IF NOT EXISTS history;
        CREATE SCHEMA IF NOT EXISTS marts;
        CREATE TABLE raw.observations (
            source         VARCHAR NOT NULL,   -- fred | yahoo | replay:<folder>
            series_id      VARCHAR NOT NULL,
            obs_date       DATE NOT NULL,
            value          DOUBLE,
            value_text     VARCHAR,
            open           DOUBLE,
            high           DOUBLE,
            low            DOUBLE,
            volume         DOUBLE,
            realtime_start DATE,
            realtime_end   DATE,
            fetched_at     TIMESTAMPTZ NOT NULL,
            run_id         VARCHAR NOT NULL
        );
        CREATE TABLE raw.series_metadata (
            series_id  VARCHAR NOT NULL,
            source     VARCHAR NOT NULL,
            metadata   JSON NOT NULL,
            fetched_at TIMESTAMPTZ NOT NULL,
            run_id     VARCHAR NOT NULL
        );
        CREATE TABLE ops.runs (
            run_id      VARCHAR PRIMARY KEY,
            started_at  TIMESTAMPTZ NOT NULL,
            ended_at    TIMESTAMPTZ,
            mode        VARCHAR NOT NULL,
            clock       DATE,
            status      VARCHAR NOT NULL,   -- running | published | unchanged | blocked | failed
            message     VARCHAR,
            rows_added  JSON                -- per series, rows appended to raw
        );
        CREATE TABLE ops.publishes (
            version          INTEGER PRIMARY KEY,
            run_id           VARCHAR NOT NULL,
            published_at     TIMESTAMPTZ NOT NULL,
            code_version     VARCHAR NOT NULL,
            clock            DATE NOT NULL,
            row_counts       JSON NOT NULL,
            checksums        JSON NOT NULL,
            check_summary    VARCHAR NOT NULL
        );
        CREATE TABLE ops.quarantine (
            run_id       VARCHAR NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL,
            table_name   VARCHAR NOT NULL,
            check_name   VARCHAR NOT NULL,
            message      VARCHAR NOT NULL,
            staged_path  VARCHAR
        );
        """,
    ),
    (
        "0002_publish_reason",
        """
        ALTER TABLE ops.publishes ADD COLUMN reason VARCHAR;
        ALTER TABLE ops.publishes ADD COLUMN rolled_back_from INTEGER;
        """,
    ),
    (
        # point in time: when each value became public. Versions published before this have
        # NULL there (not recorded then); revisions are keyed by when the new value became public.
        "0003_known_at",
        """
        ALTER TABLE IF EXISTS history.net_liquidity_daily ADD COLUMN IF NOT EXISTS fed_assets_known_at_utc TIMESTAMP;
        ALTER TABLE IF EXISTS history.net_liquidity_daily ADD COLUMN IF NOT EXISTS tga_known_at_utc TIMESTAMP;
        ALTER TABLE IF EXISTS history.net_liquidity_daily ADD COLUMN IF NOT EXISTS rrp_known_at_utc TIMESTAMP;
        ALTER TABLE IF EXISTS history.revisions ADD COLUMN IF NOT EXISTS known_at_utc TIMESTAMP;
        """,
    ),
    (
        # where a run was last heard of: a run that died (kill -9, power) is marked crashed by
        # the next one, with the step it stopped in and when
        "0004_run_step",
        """
        ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS step VARCHAR;
        ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS step_at TIMESTAMPTZ;
        """,
    ),
    # a daily publish stores the rows that changed, not another copy of every table
    ("0005_history_row_ranges", _history_row_ranges),
    ("0006_markets_labels", _markets_labels),
    (
        # issue 12: a best lag only when significant, with its Fisher interval. Versions published
        # before this have NULL there (no interval was computed; their is_best_lag marks stand)
        "0007_lead_lag_intervals",
        """
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS liquidity_autocorrelation_1w DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS asset_autocorrelation_1w DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS n_effective DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS ci_level_pct DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS correlation_ci_low DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS correlation_ci_high DOUBLE;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS is_significant BOOLEAN;
        ALTER TABLE IF EXISTS history.liquidity_asset_lead_lag ADD COLUMN IF NOT EXISTS no_best_lag_reason VARCHAR;
        """,
    ),
    (
        # issue 14: a suite that already passed on the same derived data with the same checks
        # (expectations/gate.py's fingerprint) is not validated again, in any later process.
        # A cache: rebuild does not restore it, and deleting its rows only costs a GE run.
        "0008_validation_results",
        """
        CREATE TABLE IF NOT EXISTS ops.validations (
            key           VARCHAR PRIMARY KEY,     -- sha256 of the derived frame, checks and versions
            table_name    VARCHAR NOT NULL,        -- the suite's table, e.g. raw.observations[WALCL]
            checks        INTEGER NOT NULL,        -- how many GE checks the results hold
            results       JSON NOT NULL,           -- the CheckResults, as expectations/gate.py encodes them
            validated_at  TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # issue 14: a run whose inputs, registry, clock and code are those of a run that
        # published or confirmed the current version knows its tables before building them
        # (flows/same_inputs.py). A cache: rebuild does not restore it; without it a run builds.
        "0009_builds",
        """
        CREATE TABLE IF NOT EXISTS ops.builds (
            key                  VARCHAR PRIMARY KEY,  -- sha256 of what the tables and their checks depend on
            version              INTEGER NOT NULL,     -- the version those tables are
            table_checks_passed  INTEGER NOT NULL,     -- the published suites' checks that passed on them
            stale                JSON NOT NULL,        -- table -> why it is stale ("" = fresh)
            held_tables          JSON NOT NULL,        -- table -> why it was not rebuilt
            recorded_at          TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # issue 14: what raw held of each series when the long tables (series_observations,
        # revisions) of a version were built, so the next build redoes only the observation
        # dates with rows stored since (flows/long_tables.py). A cache: rebuild does not restore
        # it; without it a run builds those tables from every stored row.
        "0010_long_table_builds",
        """
        CREATE TABLE IF NOT EXISTS ops.long_table_builds (
            series_id        VARCHAR PRIMARY KEY,
            version          INTEGER NOT NULL,      -- the version whose long tables hold the series so built
            entry            VARCHAR NOT NULL,      -- sha256 of its registry entry and the code
            raw_rows         BIGINT NOT NULL,       -- rows raw held of it then
            fetched_through  TIMESTAMPTZ NOT NULL   -- the newest fetch among them
        );
        """,
    ),
]

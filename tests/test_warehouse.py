"""warehouse.db called directly on a fresh data dir per test (no Prefect, no flow run).

Inputs are the real snapshot read the way the pipeline reads it (`read_fred_csv`);
every expected count or value is read from the same CSV with Python's `csv` module and
written next to the assertion.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv
from transforms.catalog import TABLES
from transforms.liquidity import in_billions, net_liquidity_weekly
from transforms import known as pit
from warehouse import db
from warehouse.migrations import MIGRATIONS

D = dt.date.fromisoformat
UTC = dt.UTC
FRED = SNAPSHOT_DIR / "fred"
T0 = dt.datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
WEEKLY = "net_liquidity_weekly"


def csv_values(path: Path) -> dict[dt.date, str]:
    """date → the value cell exactly as written (independent of the code under test)."""
    with path.open(newline="") as f:
        return {D(row["date"]): row["value"] for row in csv.DictReader(f)}


WALCL_TXT = csv_values(FRED / "WALCL.csv")
WTREGEN_TXT = csv_values(FRED / "WTREGEN.csv")
SINCE = D("2026-01-01")


def walcl_slice() -> pl.DataFrame:
    """The real WALCL rows of 2026 (Jan 7 .. Mar 25), as the replay source delivers them."""
    return read_fred_csv(FRED / "WALCL.csv", "WALCL").filter(pl.col("obs_date") >= SINCE)


def revise(frame: pl.DataFrame, day: dt.date, text: str) -> pl.DataFrame:
    hit = pl.col("obs_date") == day
    return frame.with_columns(
        pl.when(hit).then(pl.lit(float(text))).otherwise(pl.col("value")).alias("value"),
        pl.when(hit).then(pl.lit(text)).otherwise(pl.col("value_text")).alias("value_text"),
    )


def append(con, frame: pl.DataFrame, *, at: dt.datetime, run_id: str) -> int:
    return db.append_observations(con, frame, source="test", fetched_at=at, run_id=run_id)


def raw_rows(con, day: dt.date) -> list[tuple]:
    return con.execute(
        "SELECT value_text, run_id FROM raw.observations WHERE series_id = 'WALCL' AND obs_date = ? "
        "ORDER BY fetched_at", [day]
    ).fetchall()


# ------------------------------------------------------------------ migrations


def test_migrations_recorded_once_and_not_reapplied(tmp_path: Path):
    with db.connect(tmp_path) as con:
        first = con.execute("SELECT name, applied_at FROM ops.migrations ORDER BY name").fetchall()
        con.execute("INSERT INTO raw.observations (source, series_id, obs_date, fetched_at, run_id) "
                    "VALUES ('t', 'X', DATE '2026-01-01', now(), 'r')")
    assert [name for name, _ in first] == [name for name, _ in MIGRATIONS]
    with db.connect(tmp_path) as con:
        again = con.execute("SELECT name, applied_at FROM ops.migrations ORDER BY name").fetchall()
        kept = con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0]
    assert again == first  # same rows, same applied_at: nothing applied twice
    assert kept == 1  # re-connecting did not recreate (empty) the raw table


def test_failing_migration_is_rolled_back_and_not_recorded(tmp_path: Path, monkeypatch):
    with db.connect(tmp_path):
        pass
    bad = ("0999_bad", "CREATE TABLE raw.half_done (a INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(db, "MIGRATIONS", [*MIGRATIONS, bad])
    with pytest.raises(duckdb.CatalogException, match="no_such_table"), db.connect(tmp_path):
        pass
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with db.connect(tmp_path) as con:
        names = [r[0] for r in con.execute("SELECT name FROM ops.migrations").fetchall()]
        half = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half_done'").fetchall()[0][0]
    assert "0999_bad" not in names
    assert half == 0


# ------------------------------------------------------------------ raw: append-only, idempotent


def test_append_real_rows_then_same_input_adds_nothing(tmp_path: Path):
    frame = walcl_slice()
    # WALCL.csv rows dated 2026-01-01 or later: the Wednesdays 2026-01-07 .. 2026-03-25 = 12
    expected = sum(day >= SINCE for day in WALCL_TXT)
    assert expected == 12
    with db.connect(tmp_path) as con:
        assert append(con, frame, at=T0, run_id="r1") == expected
        assert append(con, frame, at=T0 + dt.timedelta(hours=1), run_id="r2") == 0
        total = con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0]
        assert total == expected
        assert db.last_observation_date(con, "WALCL") == max(WALCL_TXT)  # 2026-03-25


def test_revised_value_adds_one_row_latest_is_revised_raw_keeps_both(tmp_path: Path):
    day = D("2026-03-18")
    original = WALCL_TXT[day]  # "6655939" in WALCL.csv
    revised = str(int(original) + 1000)  # a +1,000 million revision: "6656939"
    frame = walcl_slice()
    with db.connect(tmp_path) as con:
        append(con, frame, at=T0, run_id="r1")
        assert append(con, revise(frame, day, revised), at=T0 + dt.timedelta(days=1), run_id="r2") == 1
        latest = pit.current(db.observation_history(con, "WALCL"))
        assert latest.height == 12  # still one row per date (12 Wednesdays of 2026)
        row = latest.filter(pl.col("obs_date") == day).row(0, named=True)
        assert (row["value"], row["value_text"]) == (float(revised), revised)
        # every other date is untouched
        others = latest.filter(pl.col("obs_date") != day)
        assert others["value_text"].to_list() == [WALCL_TXT[d] for d in others["obs_date"]]
        # append-only: the original row is still there, the revision after it
        assert raw_rows(con, day) == [(original, "r1"), (revised, "r2")]
        # re-sending the revised input is again a no-op
        assert append(con, revise(frame, day, revised), at=T0 + dt.timedelta(days=2), run_id="r3") == 0


def test_a_new_format_of_the_same_number_is_not_a_revision(tmp_path: Path):
    # The real FRED JSON recording carries "6748567.0000000000" and "6743028" in one response:
    # the same number re-formatted ("6657161" → "6657161.0000000000") must not be stored again
    # as a "revision" with an identical value.
    day = D("2026-03-25")
    original = WALCL_TXT[day]  # "6657161"
    reformatted = original + ".0000000000"
    assert float(reformatted) == float(original)
    frame = walcl_slice()
    with db.connect(tmp_path) as con:
        append(con, frame, at=T0, run_id="r1")
        assert append(con, revise(frame, day, reformatted), at=T0 + dt.timedelta(days=1), run_id="r2") == 0
        assert raw_rows(con, day) == [(original, "r1")]
        # a text that is not a number is compared as text
        def not_a_number(text: str) -> pl.DataFrame:
            hit = pl.col("obs_date") == day
            return frame.with_columns(
                pl.when(hit).then(None).otherwise(pl.col("value")).alias("value"),
                pl.when(hit).then(pl.lit(text)).otherwise(pl.col("value_text")).alias("value_text"),
            )

        assert append(con, not_a_number("n/a"), at=T0 + dt.timedelta(days=2), run_id="r3") == 1
        assert append(con, not_a_number("N/A"), at=T0 + dt.timedelta(days=3), run_id="r4") == 1
        assert append(con, not_a_number("N/A"), at=T0 + dt.timedelta(days=4), run_id="r5") == 0


def test_append_bad_frame_raises_and_leaves_raw_unchanged(tmp_path: Path):
    frame = walcl_slice()
    with db.connect(tmp_path) as con:
        append(con, frame.head(3), at=T0, run_id="r1")
        with pytest.raises(duckdb.BinderException, match="value_text"):
            append(con, frame.drop("value_text"), at=T0 + dt.timedelta(hours=1), run_id="r2")
        assert con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0] == 3
        # the transaction was rolled back: the connection still works
        assert append(con, frame, at=T0 + dt.timedelta(hours=2), run_id="r3") == 12 - 3


# ------------------------------------------------------------------ publish


def weekly_table() -> pl.DataFrame:
    registry = load_registry()
    comp = {
        role: in_billions(read_fred_csv(FRED / f"{registry.role(role).id}.csv", registry.role(role).id),
                          registry.role(role).to_bn)
        for role in ("fed_assets", "tga", "rrp")
    }
    return net_liquidity_weekly(comp["fed_assets"], comp["tga"], comp["rrp"],
                                rrp_lookback_days=registry.role("rrp").max_age_days)


# WALCL.csv and WTREGEN.csv share every Wednesday, so the weekly table has one row per
# WALCL date: 1215 data rows in each file (1216 lines with the header).
WEEKLY_ROWS = len(WALCL_TXT.keys() & WTREGEN_TXT.keys())


def comments_for(name: str) -> tuple[str, dict[str, str]]:
    spec = TABLES[name]
    return f"{spec.description} Grain: {spec.grain}.", {c: col.description for c, col in spec.columns.items()}


def publish(con, root: Path, frame: pl.DataFrame, run_id: str) -> int:
    db.stage(con, {WEEKLY: frame})
    sums = db.checksums(con, "staging", [WEEKLY])
    version = db.publish_version(con, [WEEKLY], run_id=run_id, code_version="test", clock=D("2026-03-31"),
                                 check_summary="test", sums=sums)
    db.write_published_file(con, root, [WEEKLY], {WEEKLY: comments_for(WEEKLY)})
    return version


def count(con, sql: str) -> int:
    return con.execute(sql).fetchall()[0][0]


@pytest.fixture(scope="module")
def weekly() -> pl.DataFrame:
    frame = weekly_table()
    assert frame.height == WEEKLY_ROWS == 1215
    return frame


def test_publish_two_versions_history_keeps_both_marts_point_at_newest(tmp_path: Path, weekly):
    v1_frame = weekly.filter(pl.col("date") < D("2026-03-25"))  # one Wednesday fewer
    with db.connect(tmp_path) as con:
        assert publish(con, tmp_path, v1_frame, "run-1") == 1
        assert publish(con, tmp_path, weekly, "run-2") == 2
        by_version = [count(con, f"SELECT count(*) FROM ({db.version_rows(WEEKLY, v)})") for v in (1, 2)]
        assert by_version == [WEEKLY_ROWS - 1, WEEKLY_ROWS]
        # version 2 added one Wednesday: history stores that row, not a second copy of the table
        assert count(con, f"SELECT count(*) FROM history.{WEEKLY}") == WEEKLY_ROWS
        assert count(con, f"SELECT count(*) FROM marts.{WEEKLY}") == WEEKLY_ROWS
        # the newest Wednesday, only in version 2: WALCL 6657161 − WTREGEN 874077 (millions) − RRP 0.777 bn
        net = con.execute(f"SELECT net_liquidity_bn FROM marts.{WEEKLY} WHERE date = DATE '2026-03-25'").fetchall()
        assert net[0][0] == pytest.approx(6657.161 - 874.077 - 0.777, abs=1e-9)
        assert [r[0] for r in con.execute("SELECT run_id FROM ops.publishes ORDER BY version").fetchall()] == [
            "run-1", "run-2"]
        assert db.current_publish(con)["row_counts"] == {WEEKLY: WEEKLY_ROWS}


def test_published_file_has_tables_publishes_and_comments(tmp_path: Path, weekly):
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, weekly, "run-1")
    con = duckdb.connect(str(db.published_path(tmp_path)), read_only=True)
    try:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = {r[0]: r[1] for r in con.execute(
            f"SELECT column_name, comment FROM duckdb_columns() WHERE table_name = '{WEEKLY}'").fetchall()}
        rows = count(con, f"SELECT count(*) FROM {WEEKLY}")
        versions = con.execute("SELECT version, run_id FROM publishes").fetchall()
        storage = con.execute("SELECT tags['storage_version'] FROM duckdb_databases() WHERE NOT internal").fetchall()
    finally:
        con.close()
    assert set(tables) == {WEEKLY, "publishes"}
    assert tables[WEEKLY] == comments_for(WEEKLY)[0]
    assert columns == {c: col.description for c, col in TABLES[WEEKLY].columns.items()}
    assert rows == WEEKLY_ROWS
    assert versions == [(1, "run-1")]
    assert storage[0][0].startswith("v1.0.0")  # README: readable by older DuckDB drivers


def test_published_file_replaced_atomically_old_reader_keeps_old_data(tmp_path: Path, weekly):
    v1_frame = weekly.filter(pl.col("date") < D("2026-03-25"))
    path = db.published_path(tmp_path)
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, v1_frame, "run-1")
        inode = path.stat().st_ino
        reader = duckdb.connect(str(path), read_only=True)
        try:
            assert count(reader, f"SELECT count(*) FROM {WEEKLY}") == WEEKLY_ROWS - 1
            publish(con, tmp_path, weekly, "run-2")
            # the open reader still sees version 1, whole
            assert count(reader, f"SELECT count(*) FROM {WEEKLY}") == WEEKLY_ROWS - 1
            assert reader.execute("SELECT max(version) FROM publishes").fetchall()[0][0] == 1
        finally:
            reader.close()
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not written in place
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # (a fresh reader is opened only after the old one is closed: DuckDB caches one database
    # instance per path inside a process, so a reader opened while the old one is still open
    # in the same process would be handed the old file.)
    assert db.query_published(path, f"SELECT count(*) AS n FROM {WEEKLY}")["n"][0] == WEEKLY_ROWS
    assert db.query_published(path, "SELECT max(version) AS v FROM publishes")["v"][0] == 2


def stage_and_publish_version(con, frame: pl.DataFrame) -> dict[str, str]:
    db.stage(con, {WEEKLY: frame})
    staged = db.checksums(con, "staging", [WEEKLY])
    db.publish_version(con, [WEEKLY], run_id="run-2", code_version="test", clock=D("2026-03-31"),
                       check_summary="test", sums=staged)
    return staged


def test_publish_with_an_extra_column_fails_and_leaves_nothing_half_written(tmp_path: Path, weekly):
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, weekly, "run-1")
        publishes_before = con.execute("SELECT * FROM ops.publishes").fetchall()
        marts_before = db.checksums(con, "marts", [WEEKLY])
        history_before = count(con, f"SELECT count(*) FROM history.{WEEKLY}")
        with pytest.raises(db.WarehouseError, match=r"schema changed.*extra_bn.*nothing was published"):
            stage_and_publish_version(con, weekly.with_columns(pl.lit(1.0).alias("extra_bn")))
        assert con.execute("SELECT * FROM ops.publishes").fetchall() == publishes_before
        assert db.checksums(con, "marts", [WEEKLY]) == marts_before
        assert count(con, f"SELECT count(*) FROM history.{WEEKLY}") == history_before
        assert db.current_version(con) == 1


@pytest.mark.parametrize("change", ["removed_column", "column_type_changed"])
def test_publish_after_schema_change_refuses_or_publishes_exactly_the_staged_rows(tmp_path: Path, weekly, change):
    """A published table whose schema changed between versions must never be published
    altered: either the publish fails and nothing moves, or the new version is exactly
    the staged (checked) rows, i.e. its checksum equals the one recorded in ops.publishes."""
    first, second = weekly, weekly
    if change == "removed_column":
        second = weekly.drop("rrp_obs_date")
    else:  # an earlier version published RRP as whole billions; the new code keeps the decimals
        first = weekly.with_columns(pl.col("rrp_bn").round(0).cast(pl.Int64))
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, first, "run-1")
        publishes_before = con.execute("SELECT * FROM ops.publishes").fetchall()
        marts_before = db.checksums(con, "marts", [WEEKLY])
        try:
            staged = stage_and_publish_version(con, second)
        except db.WarehouseError as refused:
            assert "schema changed" in str(refused) and "migration" in str(refused)
            assert con.execute("SELECT * FROM ops.publishes").fetchall() == publishes_before
            assert db.checksums(con, "marts", [WEEKLY]) == marts_before
            return
        columns = [d[0] for d in con.execute(f"SELECT * FROM marts.{WEEKLY} LIMIT 0").description]
        recorded = json.loads(con.execute("SELECT checksums FROM ops.publishes WHERE version = 2").fetchall()[0][0])
        published = db.checksums(con, "marts", [WEEKLY])
        # e.g. RRP 2026-03-25 = 0.777 bn staged (RRPONTSYD.csv); what did version 2 publish?
        rrp = con.execute(f"SELECT rrp_bn FROM marts.{WEEKLY} WHERE date = DATE '2026-03-25'").fetchall()[0][0]
    assert recorded == staged
    assert published == staged, (
        f"{change}: version 2 was published but differs from the staged table: "
        f"columns {columns}, rrp_bn 2026-03-25 = {rrp!r} (staged 0.777)"
    )


# ------------------------------------------------------------------ checksums


def test_checksum_ignores_row_order_and_sees_a_changed_value(tmp_path: Path, weekly):
    shuffled = weekly.sample(fraction=1.0, shuffle=True, seed=7)
    assert shuffled["date"].to_list() != weekly["date"].to_list()
    # 2026-03-25 net liquidity 5782.307 bn → 5782.308 bn (one million dollars)
    changed = weekly.with_columns(
        pl.when(pl.col("date") == D("2026-03-25")).then(pl.col("net_liquidity_bn") + 0.001)
        .otherwise(pl.col("net_liquidity_bn")).alias("net_liquidity_bn"))
    with db.connect(tmp_path) as con:
        db.stage(con, {"a": weekly, "b": shuffled, "c": changed, "d": weekly.head(0)})
        sums = db.checksums(con, "staging", ["a", "b", "c", "d"])
    assert sums["a"] == sums["b"]
    assert sums["c"] != sums["a"]
    # the format: "x1:" + md5 of "rows:xor of the rows' md5 as numbers"; empty: "0:0"
    assert sums["d"] == "x1:" + hashlib.md5(b"0:0").hexdigest()
    with db.connect(tmp_path) as con:
        db.stage(con, {"twice": pl.concat([weekly, weekly.head(1)])})
        assert db.checksums(con, "staging", ["twice"])["twice"] != sums["a"]  # a row twice is not a change lost


def test_a_version_published_with_the_older_checksum_still_reads_as_unchanged(tmp_path: Path, weekly):
    """A warehouse published before the x1 checksum holds md5(sorted rows as text, newline-joined):
    written here with hashlib from DuckDB's own row texts, compared through same_content."""
    with db.connect(tmp_path) as con:
        db.stage(con, {"a": weekly})
        texts = sorted(r[0] for r in con.execute('SELECT CAST(t AS VARCHAR) FROM staging."a" AS t').fetchall())
        legacy = {"a": hashlib.md5("\n".join(texts).encode()).hexdigest()}
        sums = db.checksums(con, "staging", ["a"])
        assert db.same_content(con, "staging", ["a"], sums, legacy)
        assert db.checksums_like(con, "staging", legacy) == legacy
        changed = weekly.with_columns(pl.col("net_liquidity_bn") + 0.001)
        db.stage(con, {"a": changed})
        assert not db.same_content(con, "staging", ["a"], db.checksums(con, "staging", ["a"]), legacy)
        assert not db.same_content(con, "staging", ["a"], sums, None)


# ------------------------------------------------------------------ bad input


def test_query_published_missing_file_says_how_to_make_one(tmp_path: Path):
    path = db.published_path(tmp_path)
    with pytest.raises(db.WarehouseError) as err:
        db.query_published(path, "SELECT 1")
    assert str(path) in str(err.value)
    assert "netliq run --offline" in str(err.value)
    assert not path.exists()  # a failed query did not create an empty file


def test_read_only_connect_without_warehouse(tmp_path: Path):
    with pytest.raises(db.WarehouseError, match="no warehouse at .*warehouse.duckdb.*netliq run"), \
            db.connect(tmp_path, read_only=True):
        pass
    assert not (tmp_path / db.WAREHOUSE_FILE).exists()


def test_second_writer_from_another_process_is_refused_naming_the_file(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(db, "_WRITER_WAITS_S", 0.5)  # a writer waits this long for a lock to go
    with db.connect(tmp_path):
        pass
    path = tmp_path / db.WAREHOUSE_FILE
    # DuckDB's file lock is per process (a second connect inside one process shares the same
    # database instance and succeeds), so the other writer is a real second process.
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(db.WarehouseError) as err, db.connect(tmp_path):
            pass
        assert str(path) in str(err.value) and "in use" in str(err.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_writer_waits_out_a_reader_that_holds_the_warehouse_for_a_moment(tmp_path: Path):
    # `netliq status` at the moment a run starts must not fail the run
    with db.connect(tmp_path):
        pass
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time, duckdb
            con = duckdb.connect({str(tmp_path / db.WAREHOUSE_FILE)!r}, read_only=True)
            print("reading", flush=True)
            time.sleep(1.5)
            con.close()
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        with db.connect(tmp_path) as con:  # waits for the reader, then writes
            con.execute("CREATE TABLE ops.t AS SELECT 1 AS x")
    finally:
        reader.wait(timeout=30)


def test_bad_sql_in_query_published_is_a_warehouse_error(tmp_path: Path, weekly):
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, weekly.head(3), "run-1")
    path = db.published_path(tmp_path)
    with pytest.raises(db.WarehouseError, match="syntax error"):
        db.query_published(path, "SELEC 1")
    with pytest.raises(db.WarehouseError, match="no_such_table"):
        db.query_published(path, "SELECT * FROM no_such_table")
    # the file is still fine afterwards
    assert db.query_published(path, f"SELECT count(*) AS n FROM {WEEKLY}")["n"][0] == 3


def _warehouse_migrated_to(root: Path, count: int) -> duckdb.DuckDBPyConnection:
    """A warehouse as an older release left it: only the first `count` migrations applied."""
    con = duckdb.connect(str(root / db.WAREHOUSE_FILE))
    con.execute("CREATE SCHEMA ops")
    con.execute("CREATE TABLE ops.migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    for name, sql in MIGRATIONS[:count]:
        con.execute(sql)
        con.execute("INSERT INTO ops.migrations VALUES (?, now())", [name])
    return con


def test_known_at_migration_adds_the_columns_to_a_warehouse_published_before_it(tmp_path: Path):
    # a warehouse as the previous release left it: migrations 0001-0002 and a published
    # net_liquidity_daily and revisions without the point-in-time columns
    con = _warehouse_migrated_to(tmp_path, 2)
    con.execute("CREATE TABLE history.net_liquidity_daily (version INTEGER, date DATE, is_stale BOOLEAN)")
    con.execute("INSERT INTO history.net_liquidity_daily VALUES (1, DATE '2026-03-31', false)")
    con.execute("CREATE TABLE history.revisions (version INTEGER, series_id VARCHAR, run_id VARCHAR)")
    con.close()

    with db.connect(tmp_path) as con:
        daily = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'history' "
            "AND table_name = 'net_liquidity_daily' ORDER BY ordinal_position").fetchall()]
        # (0005 then turned the per-version copies into row ranges)
        assert daily == ["valid_from", "valid_to", "row_md5", "date", "is_stale", "fed_assets_known_at_utc",
                         "tga_known_at_utc", "rrp_known_at_utc"]
        # version 1 did not record when its values became known: NULL, not a guess
        assert con.execute("SELECT fed_assets_known_at_utc FROM history.net_liquidity_daily").fetchall() == [(None,)]
        revisions = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'history' "
            "AND table_name = 'revisions' ORDER BY ordinal_position").fetchall()]
        assert revisions[-1] == "known_at_utc"
    # a fresh warehouse (no history yet) takes the same migration without error
    with db.connect(tmp_path / "fresh") as con:
        assert ("0003_known_at",) in con.execute("SELECT name FROM ops.migrations").fetchall()


def test_vintages_are_appended_once_and_a_clipped_repeat_adds_nothing(tmp_path: Path):
    # WALCL 2025-01-01 = 6,852,491 m (snapshot, real); a CONSTRUCTED second vintage 6,852,000
    D = dt.date.fromisoformat
    schema = {"series_id": pl.String, "obs_date": pl.Date, "value": pl.Float64, "value_text": pl.String,
              "realtime_start": pl.Date, "realtime_end": pl.Date}
    first = pl.DataFrame([("WALCL", D("2025-01-01"), 6852491.0, "6852491", D("2025-01-02"), D("9999-12-31"))],
                         schema=schema, orient="row")
    at = dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc)
    with db.connect(tmp_path) as con:
        assert db.append_vintages(con, first, source="fred", fetched_at=at, run_id="r1") == 1
        assert db.append_vintages(con, first, source="fred", fetched_at=at, run_id="r2") == 0
        # an incremental request from 2025-06-01 repeats the value, clipped, then a revision
        later = pl.DataFrame([
            ("WALCL", D("2025-01-01"), 6852491.0, "6852491.0000000000", D("2025-06-01"), D("2025-06-04")),
            ("WALCL", D("2025-01-01"), 6852000.0, "6852000", D("2025-06-05"), D("9999-12-31")),
        ], schema=schema, orient="row")
        assert db.append_vintages(con, later, source="fred", fetched_at=at, run_id="r3") == 1
        rows = con.execute("SELECT value, realtime_start FROM raw.observations ORDER BY realtime_start").fetchall()
        assert rows == [(6852491.0, D("2025-01-02")), (6852000.0, D("2025-06-05"))]
        assert pit.current(db.observation_history(con, "WALCL"))["value"].to_list() == [6852000.0]
        assert db.last_realtime_start(con, "WALCL") == D("2025-06-05")


def test_history_migration_keeps_every_version_of_a_warehouse_that_stored_full_copies(tmp_path: Path, weekly):
    # a warehouse as releases before 0005 left it: each version a whole copy with a `version`
    # column. v1 lacks the last Wednesday, v2 has it, v3 is a rollback to v1 (the row goes again).
    con = _warehouse_migrated_to(tmp_path, 4)
    v1 = weekly.filter(pl.col("date") < D("2026-03-25"))
    con.register("v1", v1)
    con.register("v2", weekly)
    con.execute(f"CREATE TABLE history.{WEEKLY} AS SELECT 1 AS version, * FROM v1 UNION ALL "
                f"SELECT 2, * FROM v2 UNION ALL SELECT 3, * FROM v1")
    expected = {v: con.execute(f"SELECT md5(string_agg(CAST(t AS VARCHAR), ',' ORDER BY CAST(t AS VARCHAR))) "
                               f"FROM (SELECT * EXCLUDE (version) FROM history.{WEEKLY} WHERE version = {v}) t"
                               ).fetchall()[0][0] for v in (1, 2, 3)}
    con.close()

    with db.connect(tmp_path) as con:
        got = {v: con.execute(f"SELECT md5(string_agg(CAST(t AS VARCHAR), ',' ORDER BY CAST(t AS VARCHAR))) "
                              f"FROM ({db.version_rows(WEEKLY, v)}) t").fetchall()[0][0] for v in (1, 2, 3)}
        assert got == expected
        # one row per distinct row and stretch of versions: v1's rows, plus the last Wednesday for v2 only
        assert count(con, f"SELECT count(*) FROM history.{WEEKLY}") == WEEKLY_ROWS
        assert con.execute(f"SELECT valid_from, valid_to FROM history.{WEEKLY} WHERE date = DATE '2026-03-25'"
                           ).fetchall() == [(2, 3)]
        assert count(con, f"SELECT count(*) FROM marts.{WEEKLY}") == WEEKLY_ROWS - 1  # the newest, v3


def test_a_table_with_two_equal_rows_is_refused(tmp_path: Path, weekly):
    with db.connect(tmp_path) as con:
        with pytest.raises(db.WarehouseError, match=f"{WEEKLY}: 1 row\\(s\\) appear twice"):
            stage_and_publish_version(con, pl.concat([weekly, weekly.head(1)]))
        assert db.current_version(con) is None


def test_many_series_in_one_insert_and_one_read(tmp_path: Path):
    """append_observations_of and current_values_from (a run's one INSERT and one read for
    every series) store and read exactly what the per-series calls do: real WALCL and
    WTREGEN rows of 2026, then WALCL 2026-03-04 revised to a made-up 6650000 (a test value)."""
    walcl = walcl_slice()
    wtregen = read_fred_csv(FRED / "WTREGEN.csv", "WTREGEN").filter(pl.col("obs_date") >= SINCE)
    with db.connect(tmp_path) as con:
        added = db.append_observations_of(con, {"WALCL": walcl, "WTREGEN": wtregen, "EMPTY": walcl.head(0)},
                                          source="test", fetched_at=T0, run_id="r1")
        assert added == {"WALCL": len([d for d in WALCL_TXT if d >= SINCE]),
                         "WTREGEN": len([d for d in WTREGEN_TXT if d >= SINCE])}
        revised = revise(walcl, D("2026-03-04"), "6650000")
        again = db.append_observations_of(con, {"WALCL": revised, "WTREGEN": wtregen}, source="test",
                                          fetched_at=T0 + dt.timedelta(days=1), run_id="r2")
        assert again == {"WALCL": 1, "WTREGEN": 0}

        since = {"WALCL": D("2026-03-01"), "WTREGEN": SINCE, "NEVER": SINCE}
        values, extents = db.current_values_from(con, since)
        for key in ("WALCL", "WTREGEN"):
            whole = db.current_values(con, key)
            assert values[key].equals(whole.filter(pl.col("obs_date") >= since[key]))
            assert extents[key] == (whole.height, whole["obs_date"].max())
        assert values["WALCL"].filter(pl.col("obs_date") == D("2026-03-04"))["value"].item() == 6650000.0
        assert values["NEVER"].height == 0 and extents["NEVER"] == (0, None)


def test_histories_of_many_series_read_at_once_are_each_series_history(tmp_path: Path):
    """observation_histories (one query) gives, per series, exactly observation_history: real
    WALCL and WTREGEN rows of 2026, WALCL 2026-03-04 then revised to a made-up 6650000."""
    walcl, wtregen = walcl_slice(), read_fred_csv(FRED / "WTREGEN.csv", "WTREGEN").filter(pl.col("obs_date") >= SINCE)
    with db.connect(tmp_path) as con:
        db.append_observations_of(con, {"WALCL": walcl, "WTREGEN": wtregen}, source="test", fetched_at=T0, run_id="r1")
        append(con, revise(walcl, D("2026-03-04"), "6650000"), at=T0 + dt.timedelta(days=1), run_id="r2")
        many = db.observation_histories(con, ["WTREGEN", "WALCL", "NEVER"])
        for key in ("WALCL", "WTREGEN"):
            assert many[key].equals(db.observation_history(con, key))
        assert many["WALCL"].height == len([d for d in WALCL_TXT if d >= SINCE]) + 1
        assert many["NEVER"].height == 0 and many["NEVER"].schema == many["WALCL"].schema


def test_the_warehouse_connection_caps_duckdb_memory(tmp_path: Path, monkeypatch):
    """DuckDB's buffer pool would take 80 % of the machine by default; the warehouse asks for
    DEFAULT_MEMORY_LIMIT (1 GB = 953.6 MiB as DuckDB prints it), or NETLIQ_DUCKDB_MEMORY."""
    with db.connect(tmp_path) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "953.6 MiB"
    monkeypatch.setenv("NETLIQ_DUCKDB_MEMORY", "2GB")
    with db.connect(tmp_path) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "1.8 GiB"

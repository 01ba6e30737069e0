"""Point in time: when each value became known, the daily tables joined on it, as-of
rebuilds and the revision log.

Release times below are worked out by hand from the release calendars the registry cites
(H.4.1 Thursday 16:30 ET, reverse repo 13:15 ET, H.8 Friday 16:15 ET, CPI 08:30 ET, BTC's
UTC day closing at 00:00 UTC, Tokyo 15:30 JST); New York is UTC−4 from the second Sunday of
March to the first Sunday of November, UTC−5 otherwise.

The snapshot holds one vintage of each series (the newest found), so no recorded revision
exists: the revisions here are CONSTRUCTED from real values. WALCL 2026-03-18 is really
6,655,939 millions; the tests pretend its first release said 6,655,000 and say so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest

from flows.cli import EXIT_ERROR, main
from flows.pipeline import daily
from warehouse.db import as_of_path
from tests.fake_fred import alfred_xml, first_releases

D = dt.date.fromisoformat
UTC = dt.datetime  # naive datetimes below are UTC
FIRST_RELEASE = 6655000.0  # constructed: the pretended first release of WALCL 2026-03-18
REAL_VALUE = 6655939.0  # data/snapshot/fred/WALCL.csv, 2026-03-18


# --- ALFRED vintages replayed through the whole flow ----------------------------------


@pytest.fixture(scope="module")
def vintage_run(tmp_path_factory, prefect_harness):
    """A replay of the snapshot with WALCL as ALFRED vintages, run once, plus two as-of
    rebuilds (before and after the revision) and a second rebuild of the first date."""
    from tests.conftest import SNAPSHOT, USED_FILES

    folder = tmp_path_factory.mktemp("alfred")
    for rel in USED_FILES:
        if rel != "fred/WALCL.csv":
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes((SNAPSHOT / rel).read_bytes())
    # CONSTRUCTED ALFRED answer (tests/fake_fred.py): the real WALCL values, each first
    # released when the registry's rule says; 2026-03-18 first released as FIRST_RELEASE
    # (pretend) and revised to its real value on 2026-03-26
    revised = {D("2026-03-18"): (f"{FIRST_RELEASE:.0f}", D("2026-03-26"))}
    (folder / "fred" / "WALCL.xml").write_bytes(alfred_xml(first_releases("WALCL"), revised))
    root = tmp_path_factory.mktemp("pit") / "data"
    summary = daily(from_dir=str(folder), data_dir=str(root))
    published_sha = hashlib.sha256((root / "netliq.duckdb").read_bytes()).hexdigest()
    before = daily(from_dir=str(folder), data_dir=str(root), as_of=D("2026-03-20"))
    after = daily(from_dir=str(folder), data_dir=str(root), as_of=D("2026-03-26"))
    first_copy = root / "first.duckdb"
    first_copy.write_bytes(before.published_file.read_bytes())
    again = daily(from_dir=str(folder), data_dir=str(root), as_of=D("2026-03-20"))
    return {"root": root, "summary": summary, "published_sha": published_sha, "before": before,
            "after": after, "again": again, "first_copy": first_copy, "folder": folder}


def _query(path: Path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_todays_table_shows_the_revised_value(vintage_run):
    root = vintage_run["root"]
    assert vintage_run["summary"].status == "published"
    # weekly 2026-03-18: 6,655,939 m → 6655.939 bn (the revision)
    assert _query(root / "netliq.duckdb", "SELECT fed_assets_bn FROM net_liquidity_weekly "
                  "WHERE date = DATE '2026-03-18'")[0][0] == pytest.approx(6655.939)
    # daily: the 03-18 week enters on Thursday 03-19 (its first release), with the revised number
    rows = _query(root / "netliq.duckdb", "SELECT date, fed_assets_obs_date, fed_assets_bn, fed_assets_known_at_utc "
                  "FROM net_liquidity_daily WHERE date BETWEEN DATE '2026-03-18' AND DATE '2026-03-19' ORDER BY date")
    assert rows == [(D("2026-03-18"), D("2026-03-11"), pytest.approx(6646.344), UTC(2026, 3, 12, 20, 30)),
                    (D("2026-03-19"), D("2026-03-18"), pytest.approx(6655.939), UTC(2026, 3, 19, 20, 30))]


def test_revisions_table_says_what_changed_and_when_it_became_public(vintage_run):
    rows = _query(vintage_run["root"] / "netliq.duckdb",
                  "SELECT series_id, obs_date, old_value, new_value, known_at_utc FROM revisions")
    assert rows == [("WALCL", D("2026-03-18"), FIRST_RELEASE, REAL_VALUE, UTC(2026, 3, 26, 20, 30))]
    assert vintage_run["summary"].revised == {"WALCL": 1}


def test_as_of_before_the_revision_shows_the_first_release(vintage_run):
    before = vintage_run["before"]
    assert before.status == "as-of" and before.published_file == as_of_path(vintage_run["root"], D("2026-03-20"))
    path = before.published_file
    # net = 6655.000 − 853.052 (WTREGEN 03-18) − 0.698 (RRP 03-18) on the weekly row
    row = _query(path, "SELECT fed_assets_bn, net_liquidity_bn FROM net_liquidity_weekly WHERE date = DATE '2026-03-18'")
    assert row[0] == pytest.approx((6655.000, 6655.000 - 853.052 - 0.698))
    # nothing later than the evening of 03-20 exists in the rebuild
    assert _query(path, "SELECT max(date) FROM net_liquidity_daily")[0][0] == D("2026-03-20")
    assert _query(path, "SELECT max(date) FROM net_liquidity_weekly")[0][0] == D("2026-03-18")
    # daily 03-20: WALCL 03-18 first release, RRP of 03-20 (0.822, known 13:15 ET that day)
    row = _query(path, "SELECT fed_assets_bn, tga_bn, rrp_bn, net_liquidity_bn FROM net_liquidity_daily "
                       "WHERE date = DATE '2026-03-20'")[0]
    assert row == pytest.approx((6655.000, 853.052, 0.822, 6655.000 - 853.052 - 0.822))
    assert _query(path, "SELECT count(*) FROM revisions")[0][0] == 0  # the revision came later
    assert _query(path, "SELECT as_of_date FROM as_of_build")[0][0] == D("2026-03-20")
    basis = dict(_query(path, "SELECT series_id, known_from FROM as_of_inputs"))
    assert basis["WALCL"] == "ALFRED vintages" and basis["WTREGEN"].startswith("release rule")
    assert basis["CPIAUCNS"].startswith("release calendar (flows/release_dates/bls_cpi.csv)")


def test_as_of_after_the_revision_shows_the_revised_value(vintage_run):
    path = vintage_run["after"].published_file
    rows = _query(path, "SELECT date, fed_assets_obs_date, fed_assets_bn FROM net_liquidity_daily "
                        "WHERE date >= DATE '2026-03-25' ORDER BY date")
    # The table as it looked on the evening of 03-26: the revision (public 03-26 16:30 ET) is in,
    # so the 03-25 row, which carries the 03-18 week, shows the revised number, as today's
    # table does; on 03-26 the new 03-25 week (public that afternoon) takes over.
    assert rows == [(D("2026-03-25"), D("2026-03-18"), pytest.approx(6655.939)),
                    (D("2026-03-26"), D("2026-03-25"), pytest.approx(6657.161))]
    assert _query(path, "SELECT new_value FROM revisions")[0][0] == REAL_VALUE


def test_as_of_rebuilds_leave_the_published_file_alone_and_repeat_exactly(vintage_run):
    root = vintage_run["root"]
    assert hashlib.sha256((root / "netliq.duckdb").read_bytes()).hexdigest() == vintage_run["published_sha"]
    first, again = vintage_run["first_copy"], vintage_run["again"].published_file
    tables = [r[0] for r in _query(first, "SELECT table_name FROM duckdb_tables() WHERE table_name <> 'as_of_build'")]
    assert "net_liquidity_daily" in tables and len(tables) > 10
    for table in tables:
        digest = f"SELECT md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR))) FROM \"{table}\" t"
        assert _query(first, digest) == _query(again, digest), table


def test_no_daily_row_shows_a_value_before_it_was_known(vintage_run):
    for path in (vintage_run["root"] / "netliq.duckdb", vintage_run["before"].published_file,
                 vintage_run["after"].published_file):
        for role in ("fed_assets", "tga", "rrp"):
            early = _query(path, f"""
                SELECT count(*) FROM net_liquidity_daily
                WHERE {role}_known_at_utc IS NOT NULL
                  AND timezone('America/New_York', timezone('UTC', {role}_known_at_utc))::DATE > date""")
            assert early[0][0] == 0, (path, role)


def test_sql_as_of_queries_the_rebuild_and_says_when_there_is_none(vintage_run, capsys):
    root = vintage_run["root"]
    assert main(["--data-dir", str(root), "sql", "--as-of", "2026-03-20",
                 "SELECT fed_assets_bn FROM net_liquidity_weekly WHERE date = DATE '2026-03-18'"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].strip() == "6655"  # 6,655,000 millions (constructed)
    assert main(["--data-dir", str(root), "sql", "--as-of", "2020-01-01", "SELECT 1"]) == EXIT_ERROR
    assert "no as-of rebuild for 2020-01-01" in capsys.readouterr().err


def test_as_of_in_the_future_is_refused(tmp_path, capsys):
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert main(["--data-dir", str(tmp_path / "d"), "run", "--offline", "--as-of", future]) == 2
    assert "in the future" in capsys.readouterr().err
    assert not (tmp_path / "d" / "netliq.duckdb").exists()


def test_status_judges_freshness_by_the_daily_run_not_an_as_of_rebuild(vintage_run, capsys):
    # the last runs were as-of rebuilds (clock 2026-03-20); the daily run's clock is 2026-03-31
    assert main(["--data-dir", str(vintage_run["root"]), "status"]) == 0
    out = capsys.readouterr().out
    assert "against the last run's clock 2026-03-31" in out

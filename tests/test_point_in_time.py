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
import polars as pl
import pytest

from flows.cli import EXIT_ERROR, main
from flows.pipeline import as_of_path, daily
from flows.registry import RegistryError, load_registry
from flows.sources import fred
from flows.sources.schema import SourceError
from transforms import known as pit
from transforms.liquidity import net_liquidity_daily

REGISTRY = load_registry()
D = dt.date.fromisoformat
UTC = dt.datetime  # naive datetimes below are UTC
FIRST_RELEASE = 6655000.0  # constructed: the pretended first release of WALCL 2026-03-18
REAL_VALUE = 6655939.0  # data/snapshot/fred/WALCL.csv, 2026-03-18


def _known(key: str, day: str) -> dt.datetime:
    return pit.rule_known_at(pl.Series([D(day)]), REGISTRY.get(key).release_rule())[0]


# --- release rules, by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "obs", "expected"),
    [
        # H.4.1: Wednesday 2026-03-18 → Thursday 03-19 16:30 EDT = 20:30 UTC
        ("WALCL", "2026-03-18", UTC(2026, 3, 19, 20, 30)),
        # Thanksgiving 2025-11-27: the Wednesday 11-26 week comes out Friday 11-28, 16:30 EST
        ("WALCL", "2025-11-26", UTC(2025, 11, 28, 21, 30)),
        # reverse repo: the operation day itself, 13:15 EDT, holiday or not (lag 0)
        ("RRPONTSYD", "2026-03-25", UTC(2026, 3, 25, 17, 15)),
        # H.8: week ending Wednesday 2026-03-11, out Friday 03-20 16:15 EDT
        ("TOTBKCR", "2026-03-11", UTC(2026, 3, 20, 20, 15)),
        # CPI January 2026: 45 days after 01-01 is Monday 02-16, Presidents' Day → Tuesday 02-17, 08:30 EST
        ("CPIAUCNS", "2026-01-01", UTC(2026, 2, 17, 13, 30)),
        # CPI September 2025, delayed by the shutdown to 2025-10-24 (registry exception), 08:30 EDT
        ("CPIAUCNS", "2025-09-01", UTC(2025, 10, 24, 12, 30)),
        # BTC's UTC day 2026-03-30 closes at 03-31 00:00 UTC
        ("BTC-USD", "2026-03-30", UTC(2026, 3, 31, 0, 0)),
        # Metaplanet closes 15:30 JST = 06:30 UTC the same day
        ("3350.T", "2026-03-30", UTC(2026, 3, 30, 6, 30)),
        # Nasdaq-100 closes 16:00 EDT
        ("^NDX", "2026-03-30", UTC(2026, 3, 30, 20, 0)),
    ],
)
def test_release_rule_gives_the_release_moment(key, obs, expected):
    assert _known(key, obs) == expected


def test_end_of_a_new_york_day_in_utc():
    assert pit.end_of_day_utc(D("2026-03-20")) == UTC(2026, 3, 21, 3, 59, 59, 999999)  # EDT
    assert pit.end_of_day_utc(D("2026-01-05")) == UTC(2026, 1, 6, 4, 59, 59, 999999)  # EST


def _history(rows: list[tuple]) -> pl.DataFrame:
    """(obs_date, value, realtime_start, fetched_at_utc) rows in storage order."""
    return pl.DataFrame(
        {"obs_date": [D(r[0]) for r in rows], "value": [r[1] for r in rows],
         "value_text": [str(r[1]) for r in rows],
         "realtime_start": [D(r[2]) if r[2] else None for r in rows],
         "fetched_at_utc": [r[3] for r in rows], "run_id": ["r"] * len(rows)},
        schema_overrides={"realtime_start": pl.Date, "fetched_at_utc": pl.Datetime("us")},
    )


def test_known_rows_vintage_rule_and_own_fetch():
    rule = REGISTRY.get("WALCL").release_rule()
    fetched = UTC(2026, 11, 26, 12, 0)
    history = _history([
        # first value without a vintage: the rule (Thursday 16:30 ET)
        ("2026-03-11", 6646344.0, None, fetched),
        # two ALFRED vintages of one observation
        ("2026-03-18", FIRST_RELEASE, "2026-03-19", fetched),
        ("2026-03-18", REAL_VALUE, "2026-03-26", fetched),
        # a value netliq saw change itself, without a vintage: known when fetched
        ("2026-03-25", 6657161.0, None, UTC(2026, 3, 27, 0, 0)),
        ("2026-03-25", 6657000.0, None, UTC(2026, 4, 2, 9, 0)),
    ])
    rows = pit.known_rows(history, rule)
    assert rows["row_known_at_utc"].to_list() == [
        UTC(2026, 3, 12, 20, 30), UTC(2026, 3, 19, 20, 30), UTC(2026, 3, 26, 20, 30),
        UTC(2026, 3, 26, 20, 30), UTC(2026, 4, 2, 9, 0),
    ]
    now = pit.current(rows)
    assert now["value"].to_list() == [6646344.0, REAL_VALUE, 6657000.0]
    assert now["known_at_utc"].to_list() == [UTC(2026, 3, 12, 20, 30), UTC(2026, 3, 19, 20, 30),
                                             UTC(2026, 3, 26, 20, 30)]
    then = pit.known_as_of(rows, pit.end_of_day_utc(D("2026-03-20")))
    assert then.select("obs_date", "value").rows() == [(D("2026-03-11"), 6646344.0), (D("2026-03-18"), FIRST_RELEASE)]
    revised = pit.revisions(rows)
    assert revised.select("obs_date", "old_value", "new_value", "known_at_utc").rows() == [
        (D("2026-03-18"), FIRST_RELEASE, REAL_VALUE, UTC(2026, 3, 26, 20, 30)),
        (D("2026-03-25"), 6657161.0, 6657000.0, UTC(2026, 4, 2, 9, 0)),
    ]


def test_a_first_value_fetched_before_the_rule_says_is_known_when_fetched():
    # a live run at Thursday 17:00 ET fetches WALCL before a (hypothetically) later rule time
    late_rule = pit.ReleaseRule.parse("23:00 America/New_York", lag_days=1, business_days=True)
    rows = pit.known_rows(_history([("2026-03-18", REAL_VALUE, None, UTC(2026, 3, 19, 21, 0))]), late_rule)
    assert rows["row_known_at_utc"][0] == UTC(2026, 3, 19, 21, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [("16:30", "HH:MM Area/City"), ("25:00 America/New_York", "between 00:00 and 24:00"),
     ("16h30 America/New_York", "HH:MM"), ("16:30 Mars/Olympus", "Mars/Olympus")],
)
def test_bad_release_time_is_refused(text, message):
    with pytest.raises((ValueError, KeyError), match=message):
        pit.ReleaseRule.parse(text, lag_days=1)


def test_registry_refuses_a_bad_release_time_and_a_release_before_its_observation(tmp_path):
    text = (Path(REGISTRY.path)).read_text()
    bad_time = tmp_path / "time.toml"
    bad_time.write_text(text.replace('release_time = "16:30 America/New_York"', 'release_time = "16:30 Atlantis"', 1))
    with pytest.raises(RegistryError, match="'WALCL': release_time '16:30 Atlantis'"):
        load_registry(bad_time)
    bad_exception = tmp_path / "exception.toml"
    bad_exception.write_text(text.replace('"2025-09-01" = 2025-10-24', '"2025-09-01" = 2025-08-24', 1))
    with pytest.raises(RegistryError, match="released on 2025-08-24, before the observation date"):
        load_registry(bad_exception)


def test_daily_table_refuses_a_component_without_known_at():
    frame = pl.DataFrame({"date": [D("2026-03-18")], "value_bn": [6655.939]})
    components = {"fed_assets": frame, "tga": frame, "rrp": frame}
    with pytest.raises(ValueError, match="component fed_assets needs known_at_utc"):
        net_liquidity_daily(components, max_age_days={"fed_assets": 9, "tga": 9, "rrp": 4}, through=D("2026-03-20"))


# --- ALFRED vintages replayed through the whole flow ----------------------------------


def _alfred_walcl_xml(csv_path: Path) -> bytes:
    """CONSTRUCTED ALFRED response in the real wire format (see
    tests/fixtures/wire/fredapi_fixture_series_observations_SP500.xml) holding the real
    WALCL values of the snapshot, each first released the Thursday after its Wednesday;
    2026-03-18 first released as FIRST_RELEASE (pretend) and revised to its real value on
    2026-03-26."""
    lines = csv_path.read_text().splitlines()[1:]
    rows = []
    for line in lines:
        day, value = line.split(",")
        first = (D(day) + dt.timedelta(days=1)).isoformat()
        if day == "2026-03-18":
            rows.append(f'<observation realtime_start="{first}" realtime_end="2026-03-25" date="{day}" '
                        f'value="{FIRST_RELEASE:.0f}"/>')
            first = "2026-03-26"
        rows.append(f'<observation realtime_start="{first}" realtime_end="9999-12-31" date="{day}" value="{value}"/>')
    head = ('<?xml version="1.0" encoding="utf-8" ?>\n<observations realtime_start="1776-07-04" '
            'realtime_end="9999-12-31" observation_start="1600-01-01" observation_end="9999-12-31" units="lin" '
            f'output_type="2" file_type="xml" order_by="observation_date" sort_order="asc" count="{len(rows)}" '
            'offset="0" limit="100000">\n')
    return (head + "\n".join(rows) + "\n</observations>\n").encode()


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
    (folder / "fred" / "WALCL.xml").write_bytes(_alfred_walcl_xml(SNAPSHOT / "fred" / "WALCL.csv"))
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
    assert "6655.0" in capsys.readouterr().out
    assert main(["--data-dir", str(root), "sql", "--as-of", "2020-01-01", "SELECT 1"]) == EXIT_ERROR
    assert "no as-of rebuild for 2020-01-01" in capsys.readouterr().err


def test_as_of_in_the_future_is_refused(tmp_path, capsys):
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert main(["--data-dir", str(tmp_path / "d"), "run", "--offline", "--as-of", future]) == EXIT_ERROR
    assert "in the future" in capsys.readouterr().err
    assert not (tmp_path / "d" / "netliq.duckdb").exists()


def test_vintage_file_that_is_a_fred_error_names_the_series(tmp_path):
    body = (Path(__file__).parent / "fixtures" / "wire" / "fred_error_429_rate_limit.json").read_bytes()
    with pytest.raises(SourceError, match="WALCL: the vintage file is not XML"):
        fred.read_vintage_xml("WALCL", body)
    with pytest.raises(SourceError, match="WALCL: the vintage file is a FRED error"):
        fred.read_vintage_xml("WALCL", b'<error code="429" message="Too Many Requests."/>')


# --- a revision netliq sees itself (no vintages) ---------------------------------------


def test_revision_seen_between_runs_is_known_from_when_it_was_fetched(tmp_path, prefect_harness):
    from tests.conftest import SNAPSHOT, USED_FILES

    folder = tmp_path / "replay"
    for rel in USED_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes((SNAPSHOT / rel).read_bytes())
    root = tmp_path / "data"
    daily(from_dir=str(folder), data_dir=str(root))
    walcl = folder / "fred" / "WALCL.csv"
    walcl.write_text(walcl.read_text().replace("2026-03-18,6655939", "2026-03-18,6655000"))  # constructed
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    summary = daily(from_dir=str(folder), data_dir=str(root))
    assert summary.revised == {"WALCL": 1}
    (old, new, known_at, revised_at), = _query(
        root / "netliq.duckdb", "SELECT old_value, new_value, known_at_utc, revised_at_utc FROM revisions")
    assert (old, new) == (REAL_VALUE, 6655000.0)
    assert known_at == revised_at and known_at >= started  # public, as far as netliq knows, when it saw it
    # today's tables: the new number; as of the replay's last day, 2026-03-31 (long before
    # netliq saw the change): the old one
    assert _query(root / "netliq.duckdb", "SELECT fed_assets_bn FROM net_liquidity_weekly "
                  "WHERE date = DATE '2026-03-18'")[0][0] == pytest.approx(6655.000)
    rebuilt = daily(from_dir=str(folder), data_dir=str(root), as_of=D("2026-03-31"))
    assert _query(rebuilt.published_file, "SELECT fed_assets_bn FROM net_liquidity_weekly "
                  "WHERE date = DATE '2026-03-18'")[0][0] == pytest.approx(6655.939)

"""`netliq` called in-process (`flows.cli.main`) with capsys. No `run` here: the flow is
tested in tests/test_pipeline.py; the published file these tests read is written directly
with warehouse.db from the real snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from flows.cli import EXIT_BLOCKED, EXIT_ERROR, main
from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, read_fred_csv
from transforms.catalog import TABLES
from transforms.liquidity import in_billions, net_liquidity_weekly
from warehouse import db

WEEKLY = "net_liquidity_weekly"


def one_line(text: str) -> str:
    """argparse wraps help text to the terminal width; compare with whitespace collapsed."""
    return " ".join(text.split())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `netliq argv…`; argparse's own exits (help, usage errors) come back as codes too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_ERROR
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("COLUMNS", "200")
    # never fall back to ./data of the repository
    monkeypatch.setenv("NETLIQ_DATA_DIR", str(tmp_path / "unset-data-dir"))


@pytest.fixture
def published_root(tmp_path: Path) -> Path:
    """A data dir with one published version of net_liquidity_weekly from the real snapshot."""
    registry = load_registry()
    comp = {
        role: in_billions(read_fred_csv(SNAPSHOT_DIR / "fred" / f"{registry.role(role).id}.csv",
                                        registry.role(role).id), registry.role(role).to_bn)
        for role in ("fed_assets", "tga", "rrp")
    }
    weekly = net_liquidity_weekly(comp["fed_assets"], comp["tga"], comp["rrp"],
                                  rrp_lookback_days=registry.role("rrp").max_age_days)
    root = tmp_path / "data"
    spec = TABLES[WEEKLY]
    with db.connect(root) as con:
        walcl = read_fred_csv(SNAPSHOT_DIR / "fred" / "WALCL.csv", "WALCL")
        db.append_observations(con, walcl, source="test", fetched_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
                               run_id="run-1")
        db.stage(con, {WEEKLY: weekly})
        sums = db.checksums(con, "staging", [WEEKLY])
        db.publish_version(con, [WEEKLY], run_id="run-1", code_version="test", clock=dt.date(2026, 3, 31),
                           check_summary="test", sums=sums)
        db.write_published_file(con, root, [WEEKLY], {
            WEEKLY: (spec.description, {c: col.description for c, col in spec.columns.items()})})
    return root


# ------------------------------------------------------------------ help


def test_help_exits_0_and_names_offline_and_the_published_file(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    text = one_line(out)
    assert "netliq run --offline" in text
    assert "netliq.duckdb" in text and "NETLIQ_DATA_DIR" in text
    for command in ("run", "status", "versions", "sql"):
        assert f" {command} " in text


def test_help_mentions_from_dir_and_exit_codes(capsys):
    # The top-level help is where a user looks first: it should say how to replay own files
    # and what the exit codes mean (a scheduler acts on them).
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    text = one_line(out).lower()
    assert "--from-dir" in text
    assert "exit code" in text


def test_run_help_exits_0_and_names_sources_and_exit_codes(capsys):
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0
    text = one_line(out)
    assert "--offline" in text and "--from-dir" in text
    assert "Exit code 0: published or nothing new" in text
    assert f"{EXIT_BLOCKED}: a check blocked the publish" in text
    assert f"{EXIT_ERROR}: other error" in text


def test_run_help_names_the_published_file(capsys):
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0
    assert "netliq.duckdb" in one_line(out), "run --help does not say where the result is published"


# ------------------------------------------------------------------ nothing published yet


def test_sql_without_published_file_says_to_run_offline(capsys, tmp_path: Path):
    root = tmp_path / "empty"
    code, out, err = cli(capsys, "--data-dir", str(root), "sql", "SELECT 1 AS x")
    assert code == EXIT_ERROR
    assert out == ""
    assert "netliq run --offline" in err
    assert str(root / "netliq.duckdb") in err
    assert "Traceback" not in err


def test_sql_reads_netliq_data_dir_from_the_environment(capsys, tmp_path: Path, monkeypatch):
    root = tmp_path / "from-env"
    monkeypatch.setenv("NETLIQ_DATA_DIR", str(root))
    code, _, err = cli(capsys, "sql", "SELECT 1")
    assert code == EXIT_ERROR
    assert str(root / "netliq.duckdb") in err


@pytest.mark.parametrize("command", ["status", "versions"])
def test_status_and_versions_on_empty_data_dir_exit_1_clearly(capsys, tmp_path: Path, command):
    root = tmp_path / "empty"
    code, out, err = cli(capsys, "--data-dir", str(root), command)
    assert code == EXIT_ERROR
    assert out == ""
    assert f"no warehouse at {root / 'warehouse.duckdb'}" in err
    assert "netliq run" in err
    assert "Traceback" not in err


def test_versions_with_warehouse_but_nothing_published(capsys, tmp_path: Path):
    root = tmp_path / "data"
    with db.connect(root):
        pass
    code, out, _ = cli(capsys, "--data-dir", str(root), "versions")
    assert code == 0
    assert "no version published yet" in out


# ------------------------------------------------------------------ with a published file


def test_sql_prints_a_table(capsys, published_root: Path):
    code, out, err = cli(capsys, "--data-dir", str(published_root), "sql", "SELECT 1 AS x")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["x", "-", "1"]  # header, rule, the value


def test_sql_on_the_published_table_shows_real_values(capsys, published_root: Path):
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "sql",
                       f"SELECT date, net_liquidity_bn FROM {WEEKLY} ORDER BY date DESC LIMIT 1")
    assert code == 0
    # 2026-03-25: WALCL 6657161 − WTREGEN 874077 (millions → /1000) − RRPONTSYD 0.777 (bn) = 5782.307
    assert "2026-03-25" in out
    assert f"{6657.161 - 874.077 - 0.777:.3f}" in out


def test_sql_max_rows_limits_what_is_printed(capsys, published_root: Path):
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "sql", "--max-rows", "4",
                       f"SELECT date FROM {WEEKLY} ORDER BY date")
    assert code == 0
    # the first weekly row is the first WALCL Wednesday, 2002-12-18; 1215 rows in all
    lines = out.splitlines()
    assert lines[:2] == ["date", "----------"]
    assert lines[2:6] == ["2002-12-18", "2002-12-25", "2003-01-01", "2003-01-08"]
    assert lines[6] == "(1211 more rows; --max-rows N shows more)"


def test_sql_bad_query_exits_1_with_the_duckdb_error(capsys, published_root: Path):
    code, out, err = cli(capsys, "--data-dir", str(published_root), "sql", "SELECT * FROM no_such_table")
    assert code == EXIT_ERROR
    assert out == ""
    assert err.startswith("netliq sql: ")
    assert "no_such_table" in err and "does not exist" in err
    assert "Traceback" not in err


def test_sql_write_is_refused_and_file_unchanged(capsys, published_root: Path):
    path = published_root / "netliq.duckdb"
    before = (sha256(path), path.stat().st_mtime_ns, path.stat().st_ino)
    code, _, err = cli(capsys, "--data-dir", str(published_root), "sql", "CREATE TABLE t AS SELECT 1")
    assert code == EXIT_ERROR
    assert "read-only" in err
    assert (sha256(path), path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert sorted(p.name for p in published_root.iterdir() if p.name.startswith("netliq")) == ["netliq.duckdb"]
    # and the table was not created anywhere the next query could see it
    code, _, err = cli(capsys, "--data-dir", str(published_root), "sql", "SELECT * FROM t")
    assert code == EXIT_ERROR and "t does not exist" in err


def test_status_shows_version_freshness_and_empty_quarantine(capsys, published_root: Path):
    code, out, err = cli(capsys, "--data-dir", str(published_root), "status")
    assert (code, err) == (0, "")
    assert f"published file: {published_root / 'netliq.duckdb'}" in out
    assert "current version: 1" in out and "by run run-1" in out and "clock 2026-03-31" in out
    # WALCL.csv: last row 2026-03-25, 1215 observations
    walcl = [line for line in out.splitlines() if "WALCL" in line]
    assert len(walcl) == 1 and "2026-03-25" in walcl[0] and "1215" in walcl[0]
    assert out.rstrip().endswith("empty")  # quarantine


def test_versions_lists_the_published_version(capsys, published_root: Path):
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "versions")
    assert code == 0
    assert "run-1" in out and "net_liquidity_weekly" in out


# ------------------------------------------------------------------ bad usage


def test_unknown_command_and_missing_query_are_usage_errors(capsys):
    code, _, err = cli(capsys, "publish")
    assert code != 0 and "invalid choice" in err
    code, _, err = cli(capsys, "sql")
    assert code != 0 and "query" in err
    code, _, err = cli(capsys, "sql", "--max-rows", "many", "SELECT 1")
    assert code != 0 and "many" in err


def test_usage_error_exit_code_is_not_the_blocked_code(capsys):
    # README/run --help: exit 2 means "a check blocked the publish". argparse exits 2 on a
    # usage error (here: --offline and --from-dir together), which a scheduler would then
    # report as a blocked publish.
    code, _, err = cli(capsys, "run", "--offline", "--from-dir", "somewhere")
    assert "not allowed with argument" in err
    assert code != EXIT_BLOCKED

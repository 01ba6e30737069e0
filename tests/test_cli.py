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


# ------------------------------------------------------------------ usage errors: exit 2, one line, nothing heavy

# Runs each argv through flows.cli.main in one fresh process and reports, per call, the exit
# code and stderr, then which heavy packages that process ever imported.
_PROBE = """
import contextlib, io, json, sys
from flows.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    out.append([code, err.getvalue()])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'great_expectations', 'altair', 'vl_convert'})
print(json.dumps({'calls': out, 'heavy': heavy}))
"""


def probe(calls: list[list[str]], cwd: Path | None = None) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(calls)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A folder nobody can write into: a read-only tmpfs where we may mount (root), else a
    folder without write bits (which root would ignore)."""
    import os
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here as root: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_usage_errors_exit_2_in_one_line_before_prefect_starts(published_root: Path, tmp_path: Path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    root = str(published_root)
    cases = {
        "no such --from-dir": (["--data-dir", root, "run", "--from-dir", str(tmp_path / "nowhere")],
                               "no such folder"),
        "a --from-dir without fred/ or prices/": (["--data-dir", root, "run", "--from-dir", str(tmp_path)],
                                                  "neither fred/ nor prices/"),
        "as-of in the future": (["--data-dir", root, "run", "--offline", "--as-of", "2099-01-01"], "in the future"),
        "backfill backwards": (["--data-dir", root, "run", "--offline", "--backfill", "2026-03-31", "2026-03-01"],
                               "is before backfill_start"),
        "data dir is a file": (["--data-dir", str(a_file), "run", "--offline"], "is a file, not a folder"),
        "data dir is a file (status)": (["--data-dir", str(a_file), "status"], "is a file, not a folder"),
        "rollback of a version that never was": (["--data-dir", root, "rollback", "999", "--reason", "x"],
                                                 "no version 999; published versions: 1"),
        "rollback 0": (["--data-dir", root, "rollback", "0", "--reason", "x"], "versions count from 1"),
        "rollback without a reason": (["--data-dir", root, "rollback", "1", "--reason", " "], "needs a reason"),
        "rollback of a non-number": (["--data-dir", root, "rollback", "first"], "invalid int value"),
        "describe an unknown table": (["--data-dir", root, "describe", "no_such_table"], "no table 'no_such_table'"),
        "performance from the future": (["--data-dir", root, "performance", "--base", "2099-01-01"], "in the future"),
        "performance --date before --base": (["--data-dir", root, "performance", "--base", "2025-06-01", "--date",
                                              "2025-01-01"], "is before --base"),
        "sql --max-rows 0": (["--data-dir", root, "sql", "--max-rows", "0", "SELECT 1"], "give 1 or more"),
        "report --year 3000": (["--data-dir", root, "report", "--year", "3000"], "give a year"),
        "an unknown command": (["publish"], "invalid choice"),
        "export without --to": (["--data-dir", root, "export"], "required: --to"),
        "export --to a file": (["--data-dir", root, "export", "--to", str(a_file)], "is a file: give a folder"),
        "export --to inside versions/": (["--data-dir", root, "export", "--to", f"{root}/versions/x"],
                                         "inside the data dir's versions/"),
        "export of a version that never was": (["--data-dir", root, "export", "--to", str(tmp_path / "out"),
                                                "--version", "999"], "no version 999; published versions: 1"),
        "export --version 0": (["--data-dir", root, "export", "--to", str(tmp_path / "out"), "--version", "0"],
                               "versions count from 1"),
    }
    result = probe([argv for argv, _ in cases.values()])
    for (name, (_, message)), (code, err) in zip(cases.items(), result["calls"], strict=True):
        assert code == 2, f"{name}: exit {code}: {err}"
        assert message in err, f"{name}: {err!r}"
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, f"{name}: {err!r}"
    assert result["heavy"] == [], "a usage error started something heavy"
    assert not (tmp_path / "nowhere").exists()


def test_a_read_only_data_dir_is_a_usage_error_for_run_rollback_and_report(published_root: Path,
                                                                           read_only_dir: Path):
    result = probe([["--data-dir", str(read_only_dir), "run", "--offline"],
                    ["--data-dir", str(read_only_dir / "data"), "run", "--offline"],
                    ["--data-dir", str(published_root), "report", "--out", str(read_only_dir)],
                    ["--data-dir", str(read_only_dir), "rollback", "1", "--reason", "x"],
                    ["--data-dir", str(published_root), "export", "--to", str(read_only_dir / "bucket")]])
    for code, err in result["calls"]:
        assert code == 2 and f"{read_only_dir} is not writable" in err and len(err.strip().splitlines()) == 1, err
    assert result["heavy"] == []


def test_read_commands_do_not_import_prefect_or_great_expectations(published_root: Path):
    root = str(published_root)
    result = probe([["--data-dir", root, "sql", "SELECT 1"], ["--data-dir", root, "status"],
                    ["--data-dir", root, "versions"], ["--data-dir", root, "describe"],
                    ["--data-dir", root, "describe", WEEKLY],
                    ["--data-dir", root, "sql", "--as-of", "2025-06-04", "SELECT 1"]])
    assert [code for code, _ in result["calls"]] == [0, 0, 0, 0, 0, EXIT_ERROR]  # no as-of rebuild made
    assert result["heavy"] == []


# ------------------------------------------------------------------ `netliq sql` cannot write


@pytest.mark.parametrize("query", [
    "COPY (SELECT 1 AS x) TO 'out.csv'",
    "COPY (SELECT 'oops') TO '{root}/warehouse.duckdb'",
    "COPY (SELECT 'oops') TO '{root}/netliq.duckdb'",
    "ATTACH '{root}/new.duckdb' (READ_WRITE)",
    "EXPORT DATABASE '{root}/export'",
    "SELECT 1; COPY (SELECT 1 AS x) TO 'out.csv'",
    "SELECT 1; CREATE TABLE t AS SELECT 1",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SELECT * FROM read_csv('/etc/passwd')",
    "CREATE TABLE t AS SELECT 1",
    "DELETE FROM net_liquidity_weekly",
    "CHECKPOINT",
])
def test_sql_cannot_write_anything(capsys, published_root: Path, tmp_path: Path, monkeypatch, query):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    files = [published_root / "netliq.duckdb", published_root / "warehouse.duckdb"]
    before = {p: sha256(p) for p in files}
    listing = sorted(p.name for p in published_root.iterdir())
    code, _, err = cli(capsys, "--data-dir", str(published_root), "sql", query.format(root=published_root))
    assert code in (0, EXIT_ERROR) and "Traceback" not in err
    if query != "CHECKPOINT":  # a no-op on a read-only file
        assert code == EXIT_ERROR, f"DuckDB ran it: {query}"
    assert {p: sha256(p) for p in files} == before
    assert sorted(p.name for p in published_root.iterdir()) == listing
    assert list(workdir.iterdir()) == []


# ------------------------------------------------------------------ status and versions during a run


def test_status_and_versions_work_while_a_run_holds_the_warehouse(capsys, published_root: Path):
    # a process that holds the warehouse as a run does (DuckDB: one writer, nobody else reads)
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from flows.lock import run_lock\n"
         "from warehouse import db\nroot = Path(sys.argv[1])\n"
         "with run_lock(root), db.connect(root):\n    print('holding', flush=True); time.sleep(120)",
         str(published_root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        code, out, err = cli(capsys, "--data-dir", str(published_root), "status")
        assert (code, err) == (0, "")
        assert f"a netliq run (pid {holder.pid}) is in progress" in out
        assert "current version: 1" in out and "by run run-1" in out
        code, out, err = cli(capsys, "--data-dir", str(published_root), "versions")
        assert (code, err) == (0, "") and "in progress" in out and "run-1" in out
    finally:
        holder.kill()
        holder.wait()


def test_status_lists_every_series_the_model_reads_also_those_never_stored(capsys, published_root: Path):
    # published_root stored WALCL only: every other series is listed, with 0 observations
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "status")
    assert code == 0
    for spec in load_registry().used():
        line = next((l for l in out.splitlines() if l.split()[:1] == [spec.key]), None)
        assert line is not None, f"{spec.key} missing from status"
        if spec.key != "WALCL":
            assert "never stored" in line


# ------------------------------------------------------------------ what a user sees


def test_output_fits_the_terminal_and_names_the_columns_left_out(capsys, published_root: Path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "sql",
                       f"SELECT * FROM {WEEKLY} ORDER BY date DESC LIMIT 3")
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = lines[0].split()
    assert header == [c for c in TABLES[WEEKLY].columns if c in header]  # whole names, in order
    shown_or_named = set(header) | {c for c in TABLES[WEEKLY].columns if c in lines[-1]}
    assert shown_or_named == set(TABLES[WEEKLY].columns)


def test_floats_print_as_the_source_wrote_them():
    import polars as pl

    from flows.display import render

    # Yahoo's closes are 32-bit floats: ^NDX 1985-10-01 closed at 112.139999389648 (= float32 112.14)
    # (and a column's plain numbers share one number of decimals, so the points line up)
    frame = pl.DataFrame({"close": [112.13999938964844, 0.1 + 0.2, 6655.939, 1e-9, None]})
    assert render(frame, width=80).splitlines()[2:] == [" 112.140", "   0.300", "6655.939", "   1e-09", "    null"]


def test_describe_publishes_and_the_published_file_comments_it(capsys, published_root: Path):
    code, out, _ = cli(capsys, "--data-dir", str(published_root), "describe", "publishes")
    assert code == 0 and "grain: one row per published version" in out
    with db.connect(published_root) as con:  # write the file as a publish does, with its comments
        db.stage(con, {WEEKLY: con.sql(f"SELECT * FROM marts.{WEEKLY}").pl()})
        from flows.pipeline import _comments

        db.write_published_file(con, published_root, [WEEKLY], _comments([WEEKLY, "publishes"]))
    comments = db.query_published(published_root / "netliq.duckdb",
                                  "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'publishes'")
    assert comments.height == len(TABLES["publishes"].columns)
    assert all(c for c in comments["comment"].to_list()), comments


def test_sql_help_lists_every_published_table(capsys):
    code, out, _ = cli(capsys, "sql", "--help")
    assert code == 0
    for name in TABLES:
        assert name in one_line(out)


def test_a_run_gives_prefects_temporary_server_time_to_start_unless_the_user_set_it():
    # Prefect's 20 s default was too short for a first run on a busy 2-core machine
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as startup
    from prefect.settings import temporary_settings

    from flows.cli import SERVER_STARTUP_TIMEOUT_S, _prefect_settings

    with temporary_settings(restore_defaults={startup}):
        assert startup.value() == 20
        with _prefect_settings():
            assert startup.value() == SERVER_STARTUP_TIMEOUT_S == 300
    with temporary_settings(updates={startup: 45}):  # the user's own choice stands
        with _prefect_settings():
            assert startup.value() == 45

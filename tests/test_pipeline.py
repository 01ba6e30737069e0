"""The whole daily flow under Prefect's test harness: publish, idempotency, versions,
the gate blocking each kind of bad input, and readers that never block a run."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from flows.lock import RunInProgress
from flows.cli import EXIT_BLOCKED, main
from flows.pipeline import GateBlocked, daily
from flows.tables import BUILDERS

pytestmark = pytest.mark.usefixtures("prefect_harness")

TABLES = ("net_liquidity_weekly", "net_liquidity_daily", "asset_prices_daily")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def published(root: Path, sql: str):
    return _rows(root / "netliq.duckdb", sql)


def warehouse(root: Path, sql: str):
    return _rows(root / "warehouse.duckdb", sql)


def test_series_the_snapshot_lacks_are_listed_and_their_tables_say_so(baseline: Path, offline_v1_run):
    # the snapshot has no file for these registry entries (PROVENANCE.md, "Not found / gaps")
    summary = offline_v1_run[1]
    assert summary.unavailable == {
        "RPONTSYD": "not in snapshot",
        "ODSACBW027SBOG": "not in snapshot", "WMTSECL1": "not in snapshot", "BTC-JPY": "not in snapshot",
    }
    # 3350.T ends 2026-02-06 in the snapshot, 53 days before the clock 2026-03-31: late (warn)
    assert "3350.T" in summary.late
    stale = dict(published(baseline, "SELECT DISTINCT table_name, stale_reason FROM catalog WHERE is_stale"))
    assert stale["asset_prices_daily"] == "3350.T late"
    assert "net_liquidity_weekly" not in stale


@pytest.fixture
def baseline(offline_v1: Path) -> Path:
    """One offline run, published once per test process (tests/conftest.py); tests copy it
    instead of re-running it, and only read it in place."""
    return offline_v1


@pytest.fixture
def data_root(v1_copy: Path) -> Path:
    return v1_copy


def test_offline_run_publishes_every_table(baseline: Path):
    names = {r[0] for r in published(baseline, "SELECT table_name FROM information_schema.tables")}
    assert names == {*BUILDERS, "revisions", "catalog", "publishes"}
    assert set(TABLES) <= names
    # WALCL 2026-03-25 = 6,657,161 and WTREGEN = 874,077 (millions, fred/*.csv); RRPONTSYD 2026-03-25 = 0.777 bn
    # → 6657.161 − 874.077 − 0.777 = 5782.307 bn
    row = published(baseline, "SELECT fed_assets_bn, tga_bn, rrp_bn, net_liquidity_bn FROM net_liquidity_weekly "
                              "WHERE date = DATE '2026-03-25'")[0]
    assert row == pytest.approx((6657.161, 874.077, 0.777, 5782.307))
    version = published(baseline, "SELECT version, row_counts, checksums, check_summary FROM publishes")
    assert len(version) == 1 and version[0][0] == 1 and "0 failed" in version[0][3]
    # the default schema holds the tables, with their descriptions as comments for BI tools
    comments = published(baseline, "SELECT comment FROM duckdb_tables() WHERE table_name = 'net_liquidity_weekly'")
    assert "one row per H.4.1 Wednesday" in comments[0][0]


def test_second_run_adds_nothing_and_publishes_nothing(data_root: Path):
    before_raw = warehouse(data_root, "SELECT count(*) FROM raw.observations")[0][0]
    before_file = sha256(data_root / "netliq.duckdb")
    summary = daily(offline=True, data_dir=str(data_root))
    assert summary.status == "unchanged" and summary.version == 1
    assert summary.rows_added == {k: 0 for k in summary.rows_added}
    assert warehouse(data_root, "SELECT count(*) FROM raw.observations")[0][0] == before_raw
    assert sha256(data_root / "netliq.duckdb") == before_file
    assert warehouse(data_root, "SELECT count(*) FROM ops.publishes")[0][0] == 1


def test_revised_value_is_a_new_raw_row_and_a_new_version(revised_v2_run):
    # FRED revises WALCL 2026-03-18 from 6,655,939 to 6,655,000 (millions): the run on a copy of
    # version 1 is tests/conftest.py's revised_v2_run, shared with the tests that start from it
    data_root, summary, replay_dir = revised_v2_run
    assert (replay_dir / "fred/WALCL.csv").read_text().count("2026-03-18,6655000") == 1
    assert summary.status == "published" and summary.version == 2
    assert summary.rows_added["WALCL"] == 1 and summary.rows_added["WTREGEN"] == 0
    rows = warehouse(data_root, "SELECT value, run_id FROM raw.observations WHERE series_id = 'WALCL' "
                                "AND obs_date = DATE '2026-03-18' ORDER BY fetched_at")
    assert [r[0] for r in rows] == [6655939, 6655000] and rows[1][1] == summary.run_id
    # the revision is reported by the run and published in the revisions table
    assert summary.revised == {"WALCL": 1}
    assert published(data_root, "SELECT series_id, obs_date, old_value, new_value, run_id FROM revisions") == [
        ("WALCL", dt.date(2026, 3, 18), 6655939.0, 6655000.0, summary.run_id)]
    assert published(data_root, "SELECT fed_assets_bn FROM net_liquidity_weekly WHERE date = DATE '2026-03-18'")[0][0] \
        == pytest.approx(6655.0)
    # history keeps version 1 unchanged and queryable
    from warehouse.db import version_rows

    old = warehouse(data_root, f"SELECT fed_assets_bn FROM ({version_rows('net_liquidity_weekly', 1)}) "
                               "WHERE date = DATE '2026-03-18'")
    assert old[0][0] == pytest.approx(6655.939)
    assert [r[0] for r in published(data_root, "SELECT version FROM publishes ORDER BY version")] == [1, 2]


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def _replace_last_value(lines, new_value):
    date, _ = lines[-1].split(",", 1)
    return lines[:-1] + [f"{date},{new_value}"]


BAD_INPUTS = {
    # name: (file, edit, table named in the error, check named in the error)
    "walcl_in_billions": ("fred/WALCL.csv", lambda ls: _replace_last_value(ls, "6657.161"),
                          "raw.observations[WALCL]", "value_range"),
    # rows that are not observations are bad values too (a header-only file is unavailable:
    # tests/test_unreadable.py)
    "bad_date_row": ("prices/BTC-USD.csv", lambda ls: ls + ["2026-04-31,1,1,1,1,1"], "raw.observations[BTC-USD]",
                     "date_parses"),
    "row_with_extra_fields": ("fred/WALCL.csv", lambda ls: ls[:-1] + [ls[-1] + ",6657161"], "raw.observations[WALCL]",
                              "row_fields"),
    "date_twice_different_values": ("fred/WTREGEN.csv", lambda ls: ls + ["2026-03-25,900000"],
                                    "raw.observations[WTREGEN]", "unique_key"),
    "negative_reverse_repo": ("fred/RRPONTSYD.csv", lambda ls: _replace_last_value(ls, "-15.782"),
                              "raw.observations[RRPONTSYD]", "value_range"),
    "non_numeric_value": ("prices/^NDX.csv",
                          lambda ls: ls[:-1] + ["2026-03-31,23208.0,23789.6,23198.6,n/a"],
                          "raw.observations[^NDX]", "numeric_value"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_blocks_publish_and_leaves_published_file_identical(case, data_root: Path, replay_dir: Path, capsys):
    rel, edit, table, check = BAD_INPUTS[case]
    _rewrite(replay_dir / rel, edit)
    before = sha256(data_root / "netliq.duckdb")
    raw_before = warehouse(data_root, "SELECT count(*) FROM raw.observations")[0][0]

    code = main(["--data-dir", str(data_root), "run", "--from-dir", str(replay_dir)])

    assert code == EXIT_BLOCKED
    err = capsys.readouterr().err
    assert table in err and f"check {check} failed" in err
    assert sha256(data_root / "netliq.duckdb") == before
    assert sorted(p.name for p in (data_root / "versions").iterdir()) == ["1"]  # no Parquet version either
    assert warehouse(data_root, "SELECT count(*) FROM raw.observations")[0][0] == raw_before
    quarantined = warehouse(data_root, "SELECT table_name, check_name, staged_path FROM ops.quarantine")
    assert (table, check) in {(t, c) for t, c, _ in quarantined}
    staged = Path(quarantined[0][2])
    assert staged.is_dir() and any(staged.glob("*.parquet"))
    status = warehouse(data_root, "SELECT status FROM ops.runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert status == "blocked"


def test_a_late_block_policy_series_holds_only_its_tables(data_root: Path, replay_dir: Path, capsys):
    # WTREGEN (policy block) stops updating at 2025-12-31: 90 days old against the replay's
    # clock 2026-03-31, beyond its 9. Every table that reads it keeps version 1; BTC gets a new
    # last close, so the tables that do not read WTREGEN publish version 2.
    _rewrite(replay_dir / "fred/WTREGEN.csv", lambda ls: [l for l in ls if l[:4] != "2026"])
    _rewrite(replay_dir / "prices/BTC-USD.csv",
             lambda ls: ls[:-1] + [",".join(ls[-1].split(",")[:-2] + ["68000.5", ls[-1].split(",")[-1]])])
    before = published(data_root, "SELECT checksums FROM publishes WHERE version = 1")[0][0]

    code = main(["--data-dir", str(data_root), "run", "--from-dir", str(replay_dir)])

    assert code == EXIT_BLOCKED
    out, err = capsys.readouterr()
    assert "WTREGEN" in err and "freshness" in err and "observed 90" in err
    log = published(data_root, "SELECT version, checksums FROM publishes ORDER BY version")
    assert [v for v, _ in log] == [1, 2]
    old, new = json.loads(before), json.loads(log[1][1])
    reads_tga = ("net_liquidity_weekly", "net_liquidity_daily", "liquidity_regime_weekly",
                 "liquidity_asset_correlation_weekly", "liquidity_asset_lead_lag", "performance_daily")
    for table in reads_tga:
        assert new[table] == old[table], table
    assert new["asset_prices_daily"] != old["asset_prices_daily"]
    assert published(data_root, "SELECT close FROM asset_prices_daily WHERE ticker = 'BTC-USD' "
                                "ORDER BY date DESC LIMIT 1")[0][0] == 68000.5
    held = dict(published(data_root, "SELECT DISTINCT table_name, stale_reason FROM catalog WHERE is_stale"))
    assert held["net_liquidity_daily"].startswith("held (kept version 1): WTREGEN")
    status = warehouse(data_root, "SELECT status FROM ops.runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert status == "published"


def test_blocked_message_names_the_offending_rows(data_root: Path, replay_dir: Path):
    _rewrite(replay_dir / "fred/RRPONTSYD.csv", lambda ls: _replace_last_value(ls, "-15.782"))
    with pytest.raises(GateBlocked) as blocked:
        daily(from_dir=str(replay_dir), data_dir=str(data_root))
    message = str(blocked.value)
    assert "obs_date=2026-03-31" in message and "value_text=-15.782" in message
    assert "the published file is unchanged" in message


def test_reader_holding_the_published_file_does_not_block_a_run(data_root: Path, replay_dir: Path):
    reader = duckdb.connect(str(data_root / "netliq.duckdb"), read_only=True)
    try:
        before = reader.execute("SELECT max(version) FROM publishes").fetchall()[0][0]
        path = replay_dir / "fred/WALCL.csv"
        path.write_text(path.read_text().replace("2026-03-18,6655939", "2026-03-18,6655000"))
        summary = daily(from_dir=str(replay_dir), data_dir=str(data_root))
        assert summary.status == "published" and summary.version == before + 1
        # the open reader keeps its consistent snapshot of the old version
        assert reader.execute("SELECT max(version) FROM publishes").fetchall()[0][0] == before
        assert reader.execute("SELECT fed_assets_bn FROM net_liquidity_weekly WHERE date = DATE '2026-03-18'"
                              ).fetchall()[0][0] == pytest.approx(6655.939)
    finally:
        reader.close()
    assert published(data_root, "SELECT max(version) FROM publishes")[0][0] == before + 1


def test_second_concurrent_run_refuses(data_root: Path, capsys, monkeypatch):
    # another process holds the run lock (as a run in progress does); a second run, by the
    # CLI or the flow itself, refuses at once: the CLI before the flow (and Prefect) starts
    import subprocess
    import sys

    import flows.pipeline

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from flows.lock import run_lock\n"
         "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)", str(data_root)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgress, match=f"another netliq run \\(pid {holder.pid}\\)"):
            daily(offline=True, data_dir=str(data_root))
        monkeypatch.setattr(flows.pipeline, "daily", lambda **_: pytest.fail("the flow started"))
        assert main(["--data-dir", str(data_root), "run", "--offline"]) == 1
        assert f"another netliq run (pid {holder.pid}) is using {data_root}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_performance_from_any_base_date(baseline: Path, capsys):
    # BTC-USD closes (prices/BTC-USD.csv): 2025-01-01 94419.7578125, 2025-12-31 87508.828125
    # → 100 × 87508.828125 / 94419.7578125 = 92.6806…
    code = main(["--data-dir", str(baseline), "performance", "--base", "2025-01-01", "--date", "2025-12-31"])
    assert code == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "bitcoin" in l)
    assert f"{100 * 87508.828125 / 94419.7578125:.6f}"[:8] in line
    # a base after the published data (the snapshot ends 2026-03-31) is a usage error, not an empty table
    assert main(["--data-dir", str(baseline), "performance", "--base", "2026-11-02"]) == 2
    assert "after the published data, which ends 2026-03-31" in capsys.readouterr().err


def test_describe_lists_every_table_with_its_grain(baseline: Path, capsys):
    assert main(["--data-dir", str(baseline), "describe"]) == 0
    out = capsys.readouterr().out
    for name in BUILDERS:
        assert name in out
    assert main(["--data-dir", str(baseline), "describe", "bank_credit_weekly"]) == 0
    out = capsys.readouterr().out
    assert "STALE in this version" in out and "ODSACBW027SBOG not in snapshot" in out and "bank_credit_bn" in out


def test_rollback_republishes_an_earlier_version_with_a_reason(revised_v2_run, tmp_path: Path, capsys):
    # version 2: WALCL 2026-03-18 revised from 6,655,939 to 6,655,000 (tests/conftest.py)
    data_root = tmp_path / "data"
    shutil.copytree(revised_v2_run[0], data_root)
    assert published(data_root, "SELECT max(version) FROM publishes")[0][0] == 2

    assert main(["--data-dir", str(data_root), "rollback", "1", "--reason", "bad WALCL revision"]) == 0
    # version 3 holds version 1's numbers: WALCL 2026-03-18 = 6,655,939 millions → 6655.939 bn
    assert published(data_root, "SELECT fed_assets_bn FROM net_liquidity_weekly WHERE date = DATE '2026-03-18'"
                     )[0][0] == pytest.approx(6655.939)
    log = published(data_root, "SELECT version, reason, rolled_back_from, checksums FROM publishes ORDER BY version")
    assert [(v, r, f) for v, r, f, _ in log] == [(1, None, None), (2, None, None), (3, "bad WALCL revision", 1)]
    assert log[2][3] == log[0][3]  # identical content checksums
    manifest = json.loads((data_root / "versions" / "3" / "manifest.json").read_text())
    assert (manifest["rolled_back_from"], manifest["reason"]) == (1, "bad WALCL revision")
    assert {n: t["content_md5"] for n, t in manifest["tables"].items()} == json.loads(log[0][3])
    capsys.readouterr()
    assert main(["--data-dir", str(data_root), "versions"]) == 0
    assert "bad WALCL revision" in capsys.readouterr().out
    # bad input: an unknown version changes nothing
    before = sha256(data_root / "netliq.duckdb")
    assert main(["--data-dir", str(data_root), "rollback", "9", "--reason", "x"]) == 2
    assert "no version 9; published versions: 1, 2, 3" in capsys.readouterr().err
    assert sha256(data_root / "netliq.duckdb") == before


def test_a_revision_netliq_sees_itself_is_not_in_an_as_of_rebuild_of_before(data_root: Path, replay_dir: Path):
    # CONSTRUCTED revision of a real value: WALCL 2026-03-18 is 6,655,939 m in the snapshot;
    # the replay now says 6,655,000. Without vintages netliq can only say the new value was
    # public when it fetched it (today), so the table as known on 2026-03-31 keeps 6655.939.
    path = replay_dir / "fred/WALCL.csv"
    path.write_text(path.read_text().replace("2026-03-18,6655939", "2026-03-18,6655000"))
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    rebuilt = daily(from_dir=str(replay_dir), data_dir=str(data_root), as_of=dt.date(2026, 3, 31))

    assert rebuilt.status == "as-of" and rebuilt.rows_added["WALCL"] == 1  # ingested first
    assert _rows(rebuilt.published_file, "SELECT fed_assets_bn FROM net_liquidity_weekly "
                 "WHERE date = DATE '2026-03-18'")[0][0] == pytest.approx(6655.939)
    assert _rows(rebuilt.published_file, "SELECT count(*) FROM revisions")[0][0] == 0
    # the warehouse holds both values; the new one recorded now
    rows = warehouse(data_root, "SELECT value, realtime_start, fetched_at FROM raw.observations "
                                "WHERE series_id = 'WALCL' AND obs_date = DATE '2026-03-18' ORDER BY fetched_at")
    assert [(v, r) for v, r, _ in rows] == [(6655939.0, None), (6655000.0, None)]
    assert rows[1][2].replace(tzinfo=None) >= started - dt.timedelta(seconds=1)


def test_backfill_stores_only_its_range(data_root: Path, replay_dir: Path):
    # two CONSTRUCTED revisions of real WALCL values: 2026-03-18 (6,655,939 → 6,655,000), inside
    # the backfill range, and 2025-01-01 (6,852,491 → 6,852,000), outside it
    path = replay_dir / "fred/WALCL.csv"
    path.write_text(path.read_text().replace("2026-03-18,6655939", "2026-03-18,6655000")
                    .replace("2025-01-01,6852491", "2025-01-01,6852000"))

    summary = daily(from_dir=str(replay_dir), data_dir=str(data_root),
                    backfill_start=dt.date(2026, 3, 1), backfill_end=dt.date(2026, 3, 31))

    assert summary.status == "published" and summary.rows_added["WALCL"] == 1
    revised = published(data_root, "SELECT series_id, obs_date, old_value, new_value FROM revisions")
    assert revised == [("WALCL", dt.date(2026, 3, 18), 6655939.0, 6655000.0)]
    assert published(data_root, "SELECT fed_assets_bn FROM net_liquidity_weekly WHERE date = DATE '2025-01-01'"
                     )[0][0] == pytest.approx(6852.491)  # outside the range: untouched


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--backfill", "2026-03-31", "2026-03-01"], "backfill_end 2026-03-01 is before backfill_start 2026-03-31"),
     (["--backfill", "2026-03-01", "yesterday"], "not a date"),
     (["--as-of", "2026-03-01", "--backfill", "2026-03-01", "2026-03-02"], "not allowed with argument")],
)
def test_bad_backfill_or_as_of_arguments_are_refused(data_root: Path, args, message, capsys):
    before = sha256(data_root / "netliq.duckdb")
    try:
        code = main(["--data-dir", str(data_root), "run", "--offline", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2  # a usage error, in one line
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sha256(data_root / "netliq.duckdb") == before

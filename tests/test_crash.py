"""Crashes around the publish: a run killed with SIGKILL at each kill point (warehouse/faults.py),
and published files that are damaged, stale or gone. After each, the published file is a
complete version, and the next normal run brings it to the warehouse's current version by
itself, removes what the killed run half-wrote, and marks the killed run crashed.

Killed runs are real processes (`python -m flows.cli run`) against the test harness's Prefect
server. The new version they publish comes from a CONSTRUCTED revision of a real value: WALCL
2026-03-18 is 6,655,939 millions in the snapshot; the replay says 6,655,000.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import daily
from warehouse import db
from warehouse.faults import POINTS

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, prefect_harness) -> Path:
    root = tmp_path_factory.mktemp("crash-baseline")
    assert daily(offline=True, data_dir=str(root)).version == 1
    return root


@pytest.fixture
def root(baseline: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(baseline, copy)
    return copy


@pytest.fixture
def revised(replay_dir: Path) -> Path:
    path = replay_dir / "fred/WALCL.csv"
    path.write_text(path.read_text().replace("2026-03-18,6655939", "2026-03-18,6655000"))
    return replay_dir


def run_process(root: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k != "NETLIQ_KILL_AT"}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), NETLIQ_REPORT="0")
    if kill_at:
        env["NETLIQ_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "flows.cli", "--data-dir", str(root), "run", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def file_version(path: Path) -> int:
    """The version a published file holds, after checking it is complete: every table's
    content equals the checksums its own publish log records for that version."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        version, = con.execute("SELECT max(version) FROM publishes").fetchone()
        sums = db.checksums(con, "main", list(_recorded(con, version)))
        assert sums == _recorded(con, version), f"{path} is not a complete version {version}"
        return version
    finally:
        con.close()


def _recorded(con, version: int) -> dict:
    import json

    return json.loads(con.execute("SELECT checksums FROM publishes WHERE version = ?", [version]).fetchone()[0])


def warehouse_version(root: Path) -> int:
    with db.connect(root, read_only=True) as con:
        return db.current_version(con)


def stray(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_leaves_a_complete_file_and_the_next_run_repairs(root: Path, revised: Path, point):
    killed = run_process(root, "--from-dir", str(revised), kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # users still read a complete version: the old one
    assert file_version(root / "netliq.duckdb") == 1
    committed = warehouse_version(root)
    assert committed == (1 if point == "after-raw-append" else 2)

    again = daily(from_dir=str(revised), data_dir=str(root))  # the next normal run
    assert again.status == ("published" if point == "after-raw-append" else "unchanged")
    # nothing committed was lost, and the file is the warehouse's current version again
    assert warehouse_version(root) == 2
    assert file_version(root / "netliq.duckdb") == 2
    assert stray(root) == []
    with db.connect(root, read_only=True) as con:
        runs = con.execute("SELECT status, step, message FROM ops.runs ORDER BY started_at").fetchall()
    crashed = [r for r in runs if r[0] == "crashed"]
    assert len(crashed) == 1 and "found by the next run" in crashed[0][2]
    assert crashed[0][1] == ("append raw" if point == "after-raw-append" else "publish")  # where it stopped


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "an older version"])
def test_a_damaged_stale_or_missing_published_file_is_written_again(root: Path, revised: Path, damage):
    path = root / "netliq.duckdb"
    if damage == "an older version":
        old = path.read_bytes()
        assert daily(from_dir=str(revised), data_dir=str(root)).version == 2
        path.write_bytes(old)  # a crash between the history commit and the rename leaves this
    elif damage == "garbage":
        path.write_bytes(os.urandom(path.stat().st_size))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.unlink()
    current = warehouse_version(root)

    summary = daily(from_dir=str(revised) if damage == "an older version" else None, offline=damage != "an older version",
                    data_dir=str(root))
    assert summary.status == "unchanged" and summary.version == current
    assert file_version(path) == current


def test_a_blocked_run_prints_only_the_clean_message(root: Path, replay_dir: Path):
    # a negative reverse repo amount (bad value, blocks): an expected outcome, not a crash
    path = replay_dir / "fred/RRPONTSYD.csv"
    lines = path.read_text().splitlines()
    date = lines[-1].split(",")[0]
    path.write_text("\n".join([*lines[:-1], f"{date},-15.782"]) + "\n")
    before = (root / "netliq.duckdb").read_bytes()
    blocked = run_process(root, "--from-dir", str(replay_dir))
    assert blocked.returncode == 3
    assert "BLOCKED. Publish blocked by 1 failed check(s)" in blocked.stderr
    assert "Traceback" not in blocked.stderr + blocked.stdout
    assert "Encountered exception" not in blocked.stderr + blocked.stdout
    assert (root / "netliq.duckdb").read_bytes() == before


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs to fill: `resize(mb)` sets its size (root only: we mount it)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root to mount")
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")

    def resize(mb: float) -> None:
        subprocess.run(["mount", "-o", f"remount,size={int(mb * 1024)}k", str(folder)], check=True)

    try:
        yield folder, resize
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_fails_in_one_line_and_the_next_run_after_freeing_space_publishes(
        baseline: Path, revised: Path, small_disk):
    disk, resize = small_disk
    root = disk / "data"
    shutil.copytree(baseline, root)
    before = (root / "netliq.duckdb").read_bytes()
    used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
    resize(used + 1)  # 1 MB to spare: less than a new copy of the published file

    full = run_process(root, "--from-dir", str(revised))
    assert full.returncode == 1, full.stderr[-3000:]
    err = full.stderr.strip().splitlines()
    assert err[-1].startswith(f"netliq run failed: no space left on {root} (need about "), err[-5:]
    assert "Traceback" not in full.stderr and "invalidated" not in full.stderr
    assert (root / "netliq.duckdb").read_bytes() == before  # the published file untouched
    assert file_version(root / "netliq.duckdb") == 1

    resize(256)  # space freed
    assert daily(from_dir=str(revised), data_dir=str(root)).version == 2
    assert file_version(root / "netliq.duckdb") == warehouse_version(root) == 2
    assert stray(root) == []


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the processes whose parent is `pid`."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_a_killed_run_leaves_no_prefect_server_behind(root: Path, revised: Path, tmp_path: Path):
    # no PREFECT_API_URL: the run starts its own temporary Prefect server (flows/prefect_server.py)
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(NETLIQ_KILL_AT="after-raw-append", NETLIQ_REPORT="0", PREFECT_HOME=str(tmp_path / "prefect-home"))
    run = subprocess.Popen([sys.executable, "-m", "flows.cli", "--data-dir", str(root), "run", "--from-dir",
                            str(revised)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: set[int] = set()
    while run.poll() is None:
        servers |= {pid for pid, cmd in _children(run.pid).items() if "uvicorn" in cmd}
        time.sleep(0.1)
    assert run.returncode == -signal.SIGKILL
    assert servers, "the run never started its temporary server"
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in servers if Path(f"/proc/{pid}").exists()]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "the temporary Prefect server outlived the killed run"


# ------------------------------------------------------------------ a damaged or lost warehouse


def _everything(root: Path) -> dict:
    """What the warehouse holds that a rebuild must restore: raw, the publish log, every version."""
    with db.connect(root, read_only=True) as con:
        raw = con.execute("SELECT md5(string_agg(CAST(o AS VARCHAR), ',' ORDER BY CAST(o AS VARCHAR))), count(*) "
                          "FROM raw.observations o").fetchall()[0]
        log = con.execute("SELECT version, run_id, checksums, reason, rolled_back_from FROM ops.publishes "
                          "ORDER BY version").fetchall()
        tables = {}
        for version, *_ in log:
            names = list(db.current_publish(con)["row_counts"])
            for name in names:
                tables[(version, name)] = con.execute(
                    f"SELECT md5(string_agg(CAST(t AS VARCHAR), ',' ORDER BY CAST(t AS VARCHAR))) "
                    f"FROM ({db.version_rows(name, version)}) t").fetchall()[0][0]
    return {"raw": raw, "log": log, "tables": tables}


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_damaged_or_deleted_warehouse_is_refused_then_rebuilt_with_its_versions(
        root: Path, revised: Path, capsys, damage):
    from flows.cli import main

    assert daily(from_dir=str(revised), data_dir=str(root)).version == 2  # two versions to keep
    before = _everything(root)
    published_before = (root / "netliq.duckdb").read_bytes()
    warehouse = root / db.WAREHOUSE_FILE
    if damage == "truncated":
        warehouse.write_bytes(warehouse.read_bytes()[: warehouse.stat().st_size // 2])
    else:
        warehouse.unlink()

    # a run refuses, saying what to do; it never starts again at version 1
    assert main(["--data-dir", str(root), "run", "--offline"]) == 1
    assert "netliq rebuild" in capsys.readouterr().err
    assert (root / "netliq.duckdb").read_bytes() == published_before
    assert main(["--data-dir", str(root), "status"]) == 1  # a message, not a traceback
    assert "netliq rebuild" in capsys.readouterr().err

    assert main(["--data-dir", str(root), "rebuild"]) == 0
    out = capsys.readouterr().out
    assert "2 version(s), current version 2" in out
    assert _everything(root) == before
    if damage == "truncated":
        assert any(p.name.startswith("warehouse.duckdb.damaged-") for p in root.iterdir())
    # and the next run carries on from version 2: same data, nothing new
    assert daily(from_dir=str(revised), data_dir=str(root)).status == "unchanged"
    assert main(["--data-dir", str(root), "rollback", "1", "--reason", "after the rebuild"]) == 0
    assert file_version(root / "netliq.duckdb") == 3

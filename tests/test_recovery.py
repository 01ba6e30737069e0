"""The other ways a run can end badly, and the way back: a blocked publish (clean message only),
a full disk (a small tmpfs), a run killed with its temporary Prefect server running, and a
damaged or deleted warehouse restored by `netliq rebuild` with every version.
(Shared fixtures and the revision the runs publish: tests/crashkit.py.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flows.pipeline import daily
from tests.crashkit import baseline, file_version, revised, root, run_process, stray, warehouse_version  # noqa: F401
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_blocked_run_prints_only_the_clean_message(root: Path, replay_dir: Path, capsys, caplog):
    # a negative reverse repo amount (bad value, blocks): an expected outcome, not a crash
    from flows.cli import main

    path = replay_dir / "fred/RRPONTSYD.csv"
    lines = path.read_text().splitlines()
    date = lines[-1].split(",")[0]
    path.write_text("\n".join([*lines[:-1], f"{date},-15.782"]) + "\n")
    before = (root / "netliq.duckdb").read_bytes()
    assert main(["--data-dir", str(root), "run", "--from-dir", str(replay_dir)]) == 3
    err = capsys.readouterr().err
    assert "BLOCKED. Publish blocked by 1 failed check(s)" in err and "Traceback" not in err
    # Prefect logged no traceback: nothing above INFO carries one, and no "Encountered exception"
    assert not [r for r in caplog.records if r.exc_info and r.levelno > 10]
    assert "Encountered exception" not in caplog.text
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
        baseline: Path, revised: Path, small_disk, capsys, caplog):
    from flows.cli import main

    disk, resize = small_disk
    root = disk / "data"
    shutil.copytree(baseline, root)
    before = (root / "netliq.duckdb").read_bytes()
    used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
    resize(used + 1)  # 1 MB to spare: less than a new copy of the published file

    assert main(["--data-dir", str(root), "run", "--from-dir", str(revised)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"netliq run failed: no space left on {root} (need about "), err
    assert "Traceback" not in err and "invalidated" not in err
    assert not [r for r in caplog.records if r.exc_info and r.levelno > 10]
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
        revised_v2_run, revised: Path, tmp_path: Path, capsys, damage):
    from flows.cli import main

    # two versions to keep: version 2 published over version 1 from `revised` (tests/conftest.py)
    root = tmp_path / "data"
    shutil.copytree(revised_v2_run[0], root)
    assert warehouse_version(root) == 2
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

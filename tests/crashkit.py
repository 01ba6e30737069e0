"""What the crash tests share: a published baseline, a revised replay, a run as a real
process against the harness's Prefect server, and checks of the published file.

The new version those runs publish comes from a CONSTRUCTED revision of a real value: WALCL
2026-03-18 is 6,655,939 millions in the snapshot; the replay says 6,655,000.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REVISED_WALCL
from warehouse import db


@pytest.fixture
def baseline(offline_v1: Path) -> Path:
    """Version 1, published once per test process (tests/conftest.py); copied before use."""
    return offline_v1


@pytest.fixture
def root(v1_copy: Path) -> Path:
    """A writable copy of the baseline (tests/conftest.py's v1_copy)."""
    return v1_copy


@pytest.fixture
def revised(replay_dir: Path) -> Path:
    path = replay_dir / "fred/WALCL.csv"
    path.write_text(path.read_text().replace(*REVISED_WALCL))
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
    return json.loads(con.execute("SELECT checksums FROM publishes WHERE version = ?", [version]).fetchone()[0])


def warehouse_version(root: Path) -> int:
    with db.connect(root, read_only=True) as con:
        return db.current_version(con)


def stray(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and ".tmp" in p.name)



"""Shared fixtures: Prefect's test harness once per session, fresh data dirs per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# drawing the charts after every publish takes ~10 s; tests/test_report.py draws them itself
os.environ.setdefault("NETLIQ_REPORT", "0")

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
USED_FILES = tuple(
    str(p.relative_to(SNAPSHOT)) for p in sorted(SNAPSHOT.rglob("*")) if p.is_file() and p.suffix == ".csv"
)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    """A writable copy of the snapshot, for tests that damage one file."""
    folder = tmp_path / "replay"
    for rel in USED_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SNAPSHOT / rel, folder / rel)
    return folder

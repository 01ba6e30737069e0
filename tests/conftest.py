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


@pytest.fixture(scope="session")
def offline_v1(tmp_path_factory, prefect_harness) -> Path:
    """Version 1 of the real snapshot, published once per test process: the data dir that the
    fixtures of several modules copy before a test changes anything (never changed in place)."""
    from flows.pipeline import daily

    root = tmp_path_factory.mktemp("offline-v1") / "data"
    summary = daily(offline=True, data_dir=str(root))
    assert summary.status == "published" and summary.version == 1
    return root


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    """A writable copy of the snapshot, for tests that damage one file."""
    folder = tmp_path / "replay"
    for rel in USED_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SNAPSHOT / rel, folder / rel)
    return folder

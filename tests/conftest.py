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
    from prefect.settings import (
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    # What the harness's server does with the events a run sends (31 task runs, three states
    # each): nothing. Storing them (event persister), building task runs from them (task run
    # recorder) and matching them against automations (triggers) cost the server about 1 s of
    # CPU per run, and no test reads an event or a task run back; flow runs, logs, artifacts
    # and concurrency limits go through the API as before. (The server is started inside
    # these settings, so it gets them; the runs' own code is not affected.)
    off = dict.fromkeys((PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED, PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
                         PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED), False)
    with temporary_settings(updates=off), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def offline_v1_run(tmp_path_factory, prefect_harness):
    """Version 1 of the real snapshot, published once per test process: (the data dir, the
    run's summary). The data dir is what the fixtures of several modules copy before a test
    changes anything (never changed in place)."""
    from flows.pipeline import daily

    root = tmp_path_factory.mktemp("offline-v1") / "data"
    summary = daily(offline=True, data_dir=str(root))
    assert summary.status == "published" and summary.version == 1
    return root, summary


@pytest.fixture(scope="session")
def offline_v1(offline_v1_run) -> Path:
    return offline_v1_run[0]


@pytest.fixture
def v1_copy(offline_v1: Path, tmp_path: Path) -> Path:
    """A writable copy of version 1's data dir, for a test that runs on it."""
    root = tmp_path / "data"
    shutil.copytree(offline_v1, root)
    return root


# CONSTRUCTED revision of a real value: WALCL 2026-03-18 is 6,655,939 millions in the snapshot;
# the replay of REVISED_WALCL says 6,655,000
REVISED_WALCL = ("2026-03-18,6655939", "2026-03-18,6655000")


def copy_snapshot(folder: Path) -> Path:
    """A writable copy of the snapshot's files in `folder`."""
    for rel in USED_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SNAPSHOT / rel, folder / rel)
    return folder


@pytest.fixture(scope="session")
def revised_v2_run(tmp_path_factory, offline_v1: Path):
    """Version 2, published once per test process on a copy of version 1 from a replay that
    revises WALCL 2026-03-18 (REVISED_WALCL): (the data dir, the run's summary, the replay).
    Copied by the tests that need two versions before they start (never changed in place)."""
    from flows.pipeline import daily

    base = tmp_path_factory.mktemp("revised-v2")
    replay = copy_snapshot(base / "replay")
    path = replay / "fred/WALCL.csv"
    path.write_text(path.read_text().replace(*REVISED_WALCL))
    root = base / "data"
    shutil.copytree(offline_v1, root)
    summary = daily(from_dir=str(replay), data_dir=str(root))
    assert summary.status == "published" and summary.version == 2
    return root, summary, replay


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    """A writable copy of the snapshot, for tests that damage one file."""
    return copy_snapshot(tmp_path / "replay")


# The slowest files first (their summed test times in a whole run, 2026-12-01): pytest-xdist
# hands files to its workers in collection order (--no-loadscope-reorder in pyproject.toml), so
# the long ones start at once on both workers and the short ones fill in at the end. Its
# default order, by number of tests, put these few-test, slow files last, where one of them
# kept a worker busy long after the other had finished.
SLOWEST_FIRST = (
    "test_crash.py", "test_report.py", "test_recovery.py", "test_pipeline.py", "test_point_in_time.py",
    "test_validation_cache.py", "test_unreadable.py", "test_prefect_server.py", "test_crash_published.py",
    "test_pipeline_faults.py", "test_incremental_gate.py", "test_notify.py", "test_revision_guard.py",
    "test_correlation.py", "test_late_warn_inputs.py", "test_markets.py", "test_late_warn_fred.py",
    "test_series_observations.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order kept

"""Crashes around the publish: a run killed with SIGKILL at each kill point (warehouse/faults.py).
After each, the published file is a complete version, and the next normal run brings it to
the warehouse's current version by itself, removes what the killed run half-wrote, and marks
the killed run crashed. (Published files that are damaged, stale or gone:
tests/test_crash_published.py, a file of its own so that the two halves run side by side on
two pytest-xdist workers. Shared fixtures and the revision the runs publish: tests/crashkit.py.)
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from flows.pipeline import daily
from tests.crashkit import baseline, file_version, revised, root, run_process, stray, warehouse_version  # noqa: F401
from warehouse import db
from warehouse.faults import POINTS
from warehouse.versions import verify, written as version_folders

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_leaves_a_complete_file_and_the_next_run_repairs(root: Path, revised: Path, point):
    killed = run_process(root, "--from-dir", str(revised), kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # users still read a complete version: the old one
    assert file_version(root / "netliq.duckdb") == 1
    committed = warehouse_version(root)
    assert committed == (1 if point == "after-raw-append" else 2)
    # a version's Parquet folder is there whole or not at all (its own kill point: before-version-rename)
    assert version_folders(root) == ([1, 2] if point == "before-rename" else [1])
    if point == "before-version-rename":  # killed with the whole folder written beside its name
        assert [p.name.split(".")[1] for p in (root / "versions").glob(".*.tmp")] == ["2"]

    again = daily(from_dir=str(revised), data_dir=str(root))  # the next normal run
    assert again.status == ("published" if point == "after-raw-append" else "unchanged")
    # nothing committed was lost, and the file is the warehouse's current version again
    assert warehouse_version(root) == 2
    assert file_version(root / "netliq.duckdb") == 2
    assert stray(root) == []
    assert version_folders(root) == [1, 2]  # the next run wrote the folder the killed one did not
    assert not list((root / "versions").glob(".*"))
    with db.connect(root, read_only=True) as con:
        runs = con.execute("SELECT status, step, message FROM ops.runs ORDER BY started_at").fetchall()
        current = db.current_publish(con)
    # every file against its SHA-256, and the version's content as the warehouse committed it
    manifest = verify(root / "versions" / "2")
    assert {name: t["content_md5"] for name, t in manifest["tables"].items()} == current["checksums"]
    crashed = [r for r in runs if r[0] == "crashed"]
    assert len(crashed) == 1 and "found by the next run" in crashed[0][2]
    assert crashed[0][1] == ("append raw" if point == "after-raw-append" else "publish")  # where it stopped

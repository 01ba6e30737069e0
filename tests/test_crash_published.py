"""Crashes around the publish, continued (tests/test_crash.py has the runs killed at each kill
point): published files that are damaged, stale or gone. After each, the next normal run
writes the published file again as the warehouse's current version.
(Shared fixtures and the revision the runs publish: tests/crashkit.py.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.pipeline import daily
from tests.crashkit import baseline, file_version, revised, root, warehouse_version  # noqa: F401

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "an older version"])
def test_a_damaged_stale_or_missing_published_file_is_written_again(root: Path, baseline: Path, revised: Path,
                                                                    damage, request):
    path = root / "netliq.duckdb"
    if damage == "an older version":
        # version 2 published over version 1 (tests/conftest.py, revised_v2_run: the revision of
        # `revised`), then version 1's file put back: a crash between the history commit and the
        # rename leaves this
        shutil.rmtree(root)
        shutil.copytree(request.getfixturevalue("revised_v2_run")[0], root)
        assert warehouse_version(root) == 2
        path.write_bytes((baseline / "netliq.duckdb").read_bytes())
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

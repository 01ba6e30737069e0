"""The clients BI tools are built on open the published file (bench/bi_clients.py): the Python DuckDB
clients 1.1 and 1.4 LTS, SQLAlchemy + duckdb-engine read-only (Superset), @duckdb/node-api (Evidence)
and harlequin. Slow (first run installs each client from PyPI or npm into ~/.cache/netliq-bi), so
not in the default run: `uv run pytest -n 0 -m slow tests/test_bi_clients.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.tables import BUILDERS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_bi_client_reads_tables_comments_and_a_query_from_the_published_file(offline_v1: Path,
                                                                                    tmp_path: Path):
    out = tmp_path / "bi-clients.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bi_clients.py"), "--file",
                           str(offline_v1 / "netliq.duckdb"), "--json", str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert out.exists(), done.stderr[-3000:]
    report = json.loads(out.read_text())
    results = {r["client"]: r for r in report["results"]}
    assert set(results) == {"duckdb-1.1", "duckdb-1.4", "sqlalchemy", "node", "harlequin"}, done.stdout
    failed = {name: r for name, r in results.items() if not r["ok"]}
    assert not failed, done.stdout
    # what was read: every table with its comment, every column comment, the newest weekly row
    reference = report["reference"]
    tables = len(reference["tables"])
    assert set(reference["tables"]) == {*BUILDERS, "revisions", "catalog", "publishes"}
    assert all(reference["tables"].values())
    for r in results.values():
        assert r["tables"] == r["table_comments"] == f"{tables}/{tables}", r
        assert r["column_comments"] == f"{reference['commented_columns']}/{reference['commented_columns']}", r
    # why the file is written in an old storage format: the 1.x clients cannot open DuckDB 2's default
    assert reference["storage_version"].startswith("v1.0.0")
    for name in ("duckdb-1.1", "duckdb-1.4"):
        assert "default storage: does not open (Trying to read a database file with version number" \
            in results[name]["note"], results[name]
    assert done.returncode == 0, done.stdout

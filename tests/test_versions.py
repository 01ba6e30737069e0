"""Every published version as Parquet with a manifest (warehouse/versions.py) and `netliq export`:
read back with polars and with DuckDB, every file against its SHA-256, every table against the
published file, and one value against the real snapshot. The crash at the new kill point is in
tests/test_crash.py (every point), the blocked publish in tests/test_pipeline.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows.cli import EXIT_ERROR, main
from tests.conftest import SNAPSHOT

pytestmark = pytest.mark.usefixtures("prefect_harness")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--data-dir", str(root), "export", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def exported(offline_v1: Path, tmp_path: Path, capsys) -> Path:
    """Version 1 of the real snapshot, exported (offline_v1 is only read)."""
    dest = tmp_path / "bucket"
    code, out, err = export(capsys, offline_v1, "--to", str(dest))
    assert code == 0, err
    assert "version 1: copied" in out
    return dest / "1"


def test_an_exported_version_reads_back_with_polars_and_duckdb_and_matches_its_checksums(exported: Path,
                                                                                           offline_v1: Path):
    manifest = json.loads((exported / "manifest.json").read_text())
    con = duckdb.connect()
    con.execute(f"ATTACH '{offline_v1 / 'netliq.duckdb'}' AS pub (READ_ONLY)")
    run_id, code_version, counts, sums = con.execute(
        "SELECT run_id, code_version, row_counts, checksums FROM pub.publishes WHERE version = 1").fetchone()
    assert (manifest["version"], manifest["run_id"], manifest["code_version"]) == (1, run_id, code_version)
    published_tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pub' AND table_name <> 'publishes'").fetchall()}
    assert set(manifest["tables"]) == published_tables == set(json.loads(counts))
    assert sorted(p.name for p in exported.iterdir()) == sorted(["manifest.json",
                                                                 *(f"{t}.parquet" for t in published_tables)])
    for name, entry in manifest["tables"].items():
        path = exported / entry["file"]
        assert sha256(path) == entry["sha256"], name
        frame = pl.read_parquet(path)
        assert frame.height == entry["rows"] == json.loads(counts)[name], name
        assert entry["content_md5"] == json.loads(sums)[name], name
        # DuckDB: the file holds exactly the rows of the published table, with its column types
        parquet = f"read_parquet('{path}')"
        for left, right in ((parquet, f'pub.main."{name}"'), (f'pub.main."{name}"', parquet)):
            assert con.execute(f"SELECT count(*) FROM (SELECT * FROM {left} EXCEPT ALL "
                               f"SELECT * FROM {right})").fetchone()[0] == 0, name
        types = con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'pub' "
                            f"AND table_name = '{name}' ORDER BY column_index").fetchall()
        assert [(c, t["type"]) for c, t in entry["columns"].items()] == types, name
        # the units reach a reader of the files alone
        assert entry["grain"] and entry["description"], name
        assert all(c["description"] for c in entry["columns"].values()), name


def test_an_exported_value_is_the_real_one(exported: Path):
    """WALCL 2026-03-18, read with the csv module from the snapshot: millions of USD; the
    exported weekly table carries it in billions."""
    with open(SNAPSHOT / "fred" / "WALCL.csv", newline="") as handle:
        walcl = {row["date"]: float(row["value"]) for row in csv.DictReader(handle)}
    weekly = pl.read_parquet(exported / "net_liquidity_weekly.parquet")
    row = weekly.filter(pl.col("date") == pl.date(2026, 3, 18))
    assert row["fed_assets_bn"].item() == pytest.approx(walcl["2026-03-18"] / 1000)  # 6655.939
    manifest = json.loads((exported / "manifest.json").read_text())
    assert "billions USD" in manifest["tables"]["net_liquidity_weekly"]["columns"]["fed_assets_bn"]["description"]


def test_export_again_skips_what_is_there_and_refuses_a_damaged_file(offline_v1: Path, exported: Path,
                                                                     tmp_path: Path, capsys):
    code, out, _ = export(capsys, offline_v1, "--to", str(exported.parent), "--version", "1")
    assert code == 0 and "version 1: already there" in out
    # a data dir whose file was damaged after it was written: nothing of it is exported
    root = tmp_path / "data"
    shutil.copytree(offline_v1, root)
    damaged = root / "versions" / "1" / "gold_daily.parquet"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    code, out, err = export(capsys, root, "--to", str(tmp_path / "elsewhere"))
    assert code == EXIT_ERROR
    assert "gold_daily.parquet differs from its SHA-256" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "elsewhere" / "1").exists()
    assert [p.name for p in (tmp_path / "elsewhere").iterdir()] == []  # no half-copied version either


def test_a_version_not_yet_written_says_the_next_run_writes_it(offline_v1: Path, tmp_path: Path, capsys):
    root = tmp_path / "data"
    shutil.copytree(offline_v1, root)
    shutil.rmtree(root / "versions")  # a data dir from before the versions/ folders
    code, _, err = export(capsys, root, "--to", str(tmp_path / "out"), "--version", "1")
    assert code == EXIT_ERROR and "next `netliq run` writes the folder" in err

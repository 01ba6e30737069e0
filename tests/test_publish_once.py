"""A publish does each costly pass over its rows once (warehouse/db.py, warehouse/versions.py):
the staged rows are hashed once for the checksum and the history diff, versions/<N>/ is
written from the new published file's sorted tables, and a run start checks the published
file's bytes against what was written instead of hashing every table again. Each shortcut
must give what the long way gives, and must not hide a change.

The tables here are small hand-made frames; every expected value is computed in the test
from the frame itself or by DuckDB's md5 on the rows, independently of the code's shortcuts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse import db
from warehouse import versions as version_files

D = dt.date.fromisoformat
NAME = "sample_daily"
COMMENTS = {NAME: ("A test table. Grain: one row per date.", {"date": "the day", "value_bn": "a value",
                                                                "label": "a label"}),
            "publishes": ("the publish log", {})}


def frame(values: list[float], labels: list[str] | None = None) -> pl.DataFrame:
    days = [D("2026-01-01") + dt.timedelta(days=i) for i in range(len(values))]
    return pl.DataFrame({"date": days, "value_bn": values, "label": labels or [f"row {i}" for i in range(len(values))]})


def direct_checksum(con, relation: str) -> str:
    """The content checksum the long way: md5 of every row's text, XORed, with the row count."""
    rows, xor = con.execute(f"SELECT count(*), bit_xor(md5_number(CAST(t AS VARCHAR))) FROM {relation} AS t"
                            ).fetchall()[0]
    return db.CHECKSUM_FORMAT + hashlib.md5(f"{rows}:{xor or 0}".encode()).hexdigest()


def publish(con, root: Path, table: pl.DataFrame, run_id: str) -> int:
    db.stage(con, {NAME: table})
    sums = db.checksums(con, "staging", [NAME])
    version = db.publish_version(con, [NAME], run_id=run_id, code_version="test", clock=D("2026-01-31"),
                                 check_summary="test", sums=sums)
    db.write_published_file(con, root, [NAME], COMMENTS,
                            before_rename=lambda ordered: version_files.write_version(con, root, version, ordered))
    return version


def test_staged_checksums_are_the_direct_checksums_and_history_holds_each_rows_md5(tmp_path: Path):
    first, second = frame([1.0, 2.0, 3.0]), frame([1.0, 2.5, 3.0, 4.0])
    with db.connect(tmp_path) as con:
        db.stage(con, {NAME: first})
        assert db.checksums(con, "staging", [NAME])[NAME] == direct_checksum(con, f"staging.{NAME}")
        assert publish(con, tmp_path, first, "run-1") == 1
        assert publish(con, tmp_path, second, "run-2") == 2
        # each history row's identity is the md5 of its own text, as a row hashed the long way
        # a staged row's text is the struct of its named columns, as rebuilt from history below
        staged_text = con.execute(f"SELECT CAST(t AS VARCHAR) FROM staging.{NAME} t LIMIT 1").fetchall()[0][0]
        assert staged_text.startswith("{'date':")
        named = con.execute(f"SELECT count(*) FROM history.{NAME} h WHERE row_md5 <> md5_number(CAST("
                            "{'date': h.date, 'value_bn': h.value_bn, 'label': h.label} AS VARCHAR))").fetchall()[0][0]
        assert named == 0
        # version 2 ended the row whose value changed and added it and the new day
        assert con.execute(f"SELECT count(*) FROM history.{NAME}").fetchall()[0][0] == 5
        current = db.current_publish(con)["checksums"][NAME]
        assert current == direct_checksum(con, f"marts.{NAME}")
        assert sorted(con.execute(f"SELECT value_bn FROM marts.{NAME}").fetchall()) == [(1.0,), (2.5,), (3.0,), (4.0,)]


def test_a_table_staged_again_after_its_checksum_is_published_as_staged_last(tmp_path: Path):
    with db.connect(tmp_path) as con:
        db.stage(con, {NAME: frame([1.0, 2.0])})
        stale = db.checksums(con, "staging", [NAME])
        db.stage(con, {NAME: frame([7.0, 8.0, 9.0])})  # staged anew: the hashed rows above are not these
        db.publish_version(con, [NAME], run_id="run-1", code_version="test", clock=D("2026-01-31"),
                           check_summary="test", sums=stale)
        assert sorted(con.execute(f"SELECT value_bn FROM marts.{NAME}").fetchall()) == [(7.0,), (8.0,), (9.0,)]
        bad = con.execute(f"SELECT count(*) FROM history.{NAME} h WHERE row_md5 <> md5_number(CAST("
                          "{'date': h.date, 'value_bn': h.value_bn, 'label': h.label} AS VARCHAR))").fetchall()[0][0]
        assert bad == 0


def test_a_version_folder_written_from_the_published_file_is_the_one_written_from_history(tmp_path: Path):
    table = frame([5.0, 1.0, 3.0, 2.0], ["e", "a", "c", "b"]).sample(fraction=1.0, shuffle=True, seed=3)
    with db.connect(tmp_path) as con:
        version = publish(con, tmp_path, table, "run-1")
        folder = version_files.version_dir(tmp_path, version)
        from_file = pl.read_parquet(folder / f"{NAME}.parquet")
        manifest = version_files.verify(folder)
        shutil.rmtree(folder)
        assert version_files.ensure_written(con, tmp_path) == [version]  # the long way: from history, sorted there
        from_history = pl.read_parquet(folder / f"{NAME}.parquet")
        again = version_files.verify(folder)
    # same rows in the same order (ORDER BY ALL: by date first)
    assert from_file.equals(from_history)
    assert from_file["date"].to_list() == sorted(table["date"].to_list())
    assert from_file["value_bn"].to_list() == [5.0, 1.0, 3.0, 2.0]
    assert manifest["tables"][NAME]["rows"] == again["tables"][NAME]["rows"] == 4
    assert manifest["tables"][NAME]["content_md5"] == again["tables"][NAME]["content_md5"]


def test_the_published_file_as_written_is_not_hashed_again_and_any_change_to_it_is_found(tmp_path: Path,
                                                                                          monkeypatch):
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, frame([1.0, 2.0, 3.0]), "run-1")
        current = db.current_publish(con)
        assert db.published_mismatch(con, tmp_path, current) is None

        def no_rehash(*args, **kwargs):
            raise AssertionError("the file as written was checksummed table by table again")

        with monkeypatch.context() as patched:
            patched.setattr(db, "checksums_like", no_rehash)
            assert db.published_mismatch(con, tmp_path, current) is None
    # changed in place, still a readable file of the same version: found by its tables' checksums
    path = db.published_path(tmp_path)
    edit = duckdb.connect(str(path))
    edit.execute(f"UPDATE {NAME} SET value_bn = 2.5 WHERE value_bn = 2.0")
    edit.close()
    with db.connect(tmp_path) as con:
        assert db.published_mismatch(con, tmp_path, current) == f"its {NAME} differ from version 1"


def test_a_record_of_another_file_does_not_vouch_for_the_file_in_place(tmp_path: Path):
    with db.connect(tmp_path) as con:
        publish(con, tmp_path, frame([1.0, 2.0]), "run-1")
        record = db._written_record(db.published_path(tmp_path))
        first_record = record.read_text()
        publish(con, tmp_path, frame([1.0, 2.0, 3.0]), "run-2")
        current = db.current_publish(con)
        assert db.published_mismatch(con, tmp_path, current) is None
        record.write_text(first_record)  # a record of version 1's file beside version 2's file
        with pytest.MonkeyPatch.context() as patched:
            calls = []
            real = db.checksums_like
            patched.setattr(db, "checksums_like", lambda *a, **k: calls.append(1) or real(*a, **k))
            assert db.published_mismatch(con, tmp_path, current) is None
            assert calls == [1]  # checked table by table, and found to be version 2

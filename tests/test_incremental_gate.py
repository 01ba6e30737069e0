"""A day's run checks the rows that are new or changed (flows/incremental.py), with the
verdicts a check of the whole series would give: a bad new row blocks, a gap or a jump from
the stored history to the new row blocks, and a registry entry that changed re-checks the
whole stored history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from expectations.suites_raw_batch import BATCH_TABLE
from flows import pipeline
from flows.incremental import rows_to_check, suite_fingerprint
from flows.pipeline import GateBlocked, daily
from flows.registry import REGISTRY_PATH, load_registry
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def data_root(v1_copy: Path) -> Path:
    return v1_copy


@pytest.fixture
def checked(monkeypatch) -> dict[str, int]:
    """table → how many rows the run's raw-input suite saw."""
    seen: dict[str, int] = {}
    real = pipeline.audit

    def spy(suite, frame):
        if suite.table == BATCH_TABLE:  # many series in one suite: each one's rows
            for key, rows in frame.group_by("series_id").len().iter_rows():
                seen[f"raw.observations[{key}]"] = rows
        else:
            seen[suite.table] = frame.height
        return real(suite, frame)

    monkeypatch.setattr(pipeline, "audit", spy)
    return seen


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + "\n" + line + "\n")


def test_a_day_checks_the_new_row_and_the_stored_one_before_it(data_root: Path, replay_dir: Path, checked):
    # WALCL's next Wednesday (the snapshot ends 2026-03-25 at 6,657,161 millions)
    _append(replay_dir / "fred/WALCL.csv", "2026-04-01,6660000")
    summary = daily(from_dir=str(replay_dir), data_dir=str(data_root))
    assert summary.status == "published" and summary.rows_added["WALCL"] == 1
    assert checked["raw.observations[WALCL]"] == 2  # 2026-03-25 (stored) and 2026-04-01
    assert checked["raw.observations[WTREGEN]"] == 1  # unchanged: its newest row, for freshness
    assert checked["raw.observations[CPIAUCSL]"] == 1


def test_a_bad_new_row_still_blocks(data_root: Path, replay_dir: Path):
    _append(replay_dir / "fred/RRPONTSYD.csv", "2026-04-01,-15.782")
    with pytest.raises(GateBlocked) as blocked:
        daily(from_dir=str(replay_dir), data_dir=str(data_root))
    assert "raw.observations[RRPONTSYD]: check value_range failed" in str(blocked.value)
    assert "obs_date=2026-04-01" in str(blocked.value)


def test_a_gap_between_the_stored_history_and_the_new_row_is_caught(data_root: Path, replay_dir: Path, checked):
    # WALCL allows 7 days between observations; the new row is 5 weeks after the stored one
    _append(replay_dir / "fred/WALCL.csv", "2026-04-29,6660000")
    with pytest.raises(GateBlocked) as blocked:
        daily(from_dir=str(replay_dir), data_dir=str(data_root))
    assert "raw.observations[WALCL]: check max_gap failed" in str(blocked.value)
    assert checked["raw.observations[WALCL]"] == 2


def test_a_jump_from_the_stored_history_is_caught(data_root: Path, replay_dir: Path):
    # +50 % in a week, beyond WALCL's 30 %
    _append(replay_dir / "fred/WALCL.csv", "2026-04-01,9985741")
    with pytest.raises(GateBlocked) as blocked:
        daily(from_dir=str(replay_dir), data_dir=str(data_root))
    assert "raw.observations[WALCL]: check jump_pct failed" in str(blocked.value)


def test_a_changed_registry_entry_rechecks_the_whole_history(data_root: Path, replay_dir: Path, tmp_path: Path,
                                                             monkeypatch, checked):
    # WALCL's stored history passed 8 million from 2021-06-16 to 2022; a limit of 8 million passes the
    # newest rows, so only a check of the whole stored history finds the 2022 ones
    text = REGISTRY_PATH.read_text()
    entry = text.index("[series.WALCL]")
    limit = text.index("valid_max = 20_000_000", entry)
    registry = tmp_path / "series.toml"
    registry.write_text(text[:limit] + "valid_max = 8_000_000" + text[limit + len("valid_max = 20_000_000"):])
    monkeypatch.setenv("NETLIQ_REGISTRY", str(registry))
    with pytest.raises(GateBlocked) as blocked:
        daily(from_dir=str(replay_dir), data_dir=str(data_root))
    assert "raw.observations[WALCL]: check value_range failed" in str(blocked.value)
    assert "obs_date=2021-06-16" in str(blocked.value)
    assert checked["raw.observations[WALCL]"] > 1000


def test_rows_to_check_falls_back_to_the_whole_frame(data_root: Path):
    spec = load_registry().series["WALCL"]
    with db.connect(data_root) as con:
        stored = db.current_values(con, "WALCL")
        frame = stored.with_columns(pl.lit("WALCL").alias("series_id"), pl.col("value").cast(pl.String).alias(
            "value_text"), *(pl.lit(None, pl.Float64).alias(c) for c in ("open", "high", "low", "volume")))
        fingerprint = suite_fingerprint(spec)
        # identical to what is stored: the newest row alone
        assert rows_to_check(con, spec, frame, fingerprint)["obs_date"].to_list() == [stored["obs_date"].max()]
        # another suite checked the stored history: all of it
        assert rows_to_check(con, spec, frame, "another suite").height == frame.height
        # a date twice: all of it
        twice = pl.concat([frame, frame.tail(1)])
        assert rows_to_check(con, spec, twice, fingerprint).height == twice.height
        # a stored date the source no longer has: checked from the row before it
        hole = dt.date(2026, 3, 11)
        lacking = frame.filter(pl.col("obs_date") != hole)
        assert rows_to_check(con, spec, lacking, fingerprint)["obs_date"].to_list() == [
            dt.date(2026, 3, 4), dt.date(2026, 3, 18), dt.date(2026, 3, 25)]

"""The revision guard (expectations/revisions.py): a run that rewrites stored history far
outside the revision window, or a large share of it, blocks until confirmed.

Cases from real files: MSTR.csv replaced by GLD's history (the wrong file, the audit's case);
TOTBKCR's 2025-11 vintage followed by its 2026-03 one (the H.8's real revisions from 2022-04
on: legitimate, but beyond the window, so confirmed by hand); WALCL's own newest weeks
revised (what a live run sees every week: passes).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from expectations.revisions import REVISED_SHARE_MAX_PCT, revision_check, revised_observations
from flows.cli import EXIT_BLOCKED, EXIT_USAGE, main
from flows.pipeline import REVISION_WINDOW_DAYS
from flows.registry import load_registry

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
FIXTURES = Path(__file__).parent / "fixtures" / "vintages"


def _closes(path: Path, value: str = "Close", date: str = "Date") -> dict[str, float]:
    with path.open(newline="") as f:
        return {row[date]: float(row[value]) for row in csv.DictReader(f)}


def _frame(values: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"obs_date": [dt.date.fromisoformat(d) for d in values], "value": list(values.values())})


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_another_tickers_prices_under_mstr_block_naming_series_count_and_range(registry):
    mstr, gld = _closes(SNAPSHOT / "prices/MSTR.csv"), _closes(SNAPSHOT / "prices/GLD.csv")
    # independently: the dates both files have whose close differs (csv module)
    differ = sorted(d for d in mstr if d in gld and gld[d] != mstr[d])
    assert len(mstr) == 1417 and len(differ) == 1417  # every stored MSTR close would change

    problem = revision_check(registry.get("MSTR"), "raw.observations[MSTR]", _frame(mstr), _frame(gld),
                             window_days=REVISION_WINDOW_DAYS)

    assert problem is not None and problem.blocking and problem.check == "revision_window"
    message = problem.message()
    assert "raw.observations[MSTR]" in message
    assert f"revises 1417 of 1417 stored observations of MSTR (100.0 %) dated {differ[0]} to {differ[-1]}" in message
    assert "--accept-revisions MSTR" in message
    first = problem.rows[0]
    assert (first["obs_date"].isoformat(), first["stored_value"], first["new_value"]) == \
        (differ[0], mstr[differ[0]], gld[differ[0]])


def test_real_h8_revisions_beyond_the_window_need_confirming(registry):
    old = _closes(FIXTURES / "TOTBKCR_2025-11-12.csv", "value", "date")
    new = _closes(SNAPSHOT / "fred/TOTBKCR.csv", "value", "date")
    differ = sorted(d for d in old if d in new and new[d] != old[d])
    assert len(differ) == 2759 - 2572  # the shared data's README: equal on 2572 of 2759 weeks
    window_start = dt.date(2025, 11, 12) - dt.timedelta(days=REVISION_WINDOW_DAYS)
    before = [d for d in differ if dt.date.fromisoformat(d) < window_start]

    problem = revision_check(registry.get("TOTBKCR"), "raw.observations[TOTBKCR]", _frame(old), _frame(new),
                             window_days=REVISION_WINDOW_DAYS)

    assert problem is not None and problem.check == "revision_window"
    assert f"{len(before)} of them before {window_start}" in problem.message()
    assert differ[0].startswith("2022-04")
    # a backfill over those years asked for them: inside its range they are expected, and
    # 187 of 2759 (6.8 %) is still more than the share that passes unconfirmed
    problem = revision_check(registry.get("TOTBKCR"), "t", _frame(old), _frame(new), window_days=REVISION_WINDOW_DAYS,
                             expected=(dt.date(2022, 1, 1), dt.date(2025, 11, 12)))
    assert 100 * len(differ) / 2759 > REVISED_SHARE_MAX_PCT and problem.check == "revision_share"


def test_revisions_inside_the_window_pass(registry):
    walcl = _closes(SNAPSHOT / "fred/WALCL.csv", "value", "date")
    revised = dict(walcl)
    for day in sorted(walcl)[-3:]:  # the newest three weeks revised by a million each
        revised[day] = walcl[day] + 1
    assert revised_observations(_frame(walcl), _frame(revised)).height == 3
    assert revision_check(registry.get("WALCL"), "t", _frame(walcl), _frame(revised),
                          window_days=REVISION_WINDOW_DAYS) is None
    # and a first run (nothing stored) revises nothing
    assert revision_check(registry.get("WALCL"), "t", _frame({}), _frame(walcl), window_days=120) is None


def test_accept_revisions_of_an_unknown_series_is_a_usage_error(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path / "data"), "run", "--offline", "--accept-revisions", "MSTRX"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1 and "MSTRX" in err


@pytest.fixture
def version_1(offline_v1: Path) -> Path:
    return offline_v1  # copied before use


def test_the_wrong_file_blocks_until_confirmed(version_1, replay_dir, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(version_1, root)
    shutil.copyfile(SNAPSHOT / "prices/GLD.csv", replay_dir / "prices/MSTR.csv")
    before = (root / "netliq.duckdb").read_bytes()

    code = main(["--data-dir", str(root), "run", "--from-dir", str(replay_dir)])

    err = capsys.readouterr().err
    assert code == EXIT_BLOCKED
    assert "raw.observations[MSTR]: check revision_window failed" in err and "1417 of 1417" in err
    assert (root / "netliq.duckdb").read_bytes() == before

    # confirmed: the same run publishes, and the revisions table lists them
    code = main(["--data-dir", str(root), "run", "--from-dir", str(replay_dir), "--accept-revisions", "MSTR"])

    out = capsys.readouterr().out
    assert code == 0 and "Published version 2" in out and "MSTR 1417 observation(s)" in out

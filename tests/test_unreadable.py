"""One rule for a file that cannot be read (README, "The gate's rules").

Bad values block: a row whose value is not a number, whose date does not parse, or that has
more fields than the header stops the publish, naming the file and the line. A series that
is missing or cannot be read at all (no file, 0 bytes, a header only, a header that is not
the series' layout, binary) is unavailable: its tables are held under block policy (WALCL,
WTREGEN) and published stale under warn policy (BTC-USD), the same for every series.

The matrix damages copies of the real snapshot files; the two end-to-end runs check that the
verdict is what a run does.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from expectations import suites
from expectations.gate import CheckResult, validate
from flows.cli import EXIT_BLOCKED, main

EXIT_OK = 0
from flows.pipeline import unreadable
from flows.registry import load_registry
from flows.sources import replay
from flows.sources.schema import SourceError

SNAPSHOT = replay.SNAPSHOT_DIR
CLOCK = dt.date(2026, 3, 31)
FOLDERS = {"WALCL": "fred", "WTREGEN": "fred", "BTC-USD": "prices"}


def _faults(text: str) -> dict[str, str]:
    lines = text.splitlines(keepends=True)
    last = lines[-1].rstrip("\n")
    date, rest = last.split(",", 1)
    return {
        # unreadable: nothing usable in the file
        "zero_bytes": "",
        "header_only": lines[0],
        "wrong_header": "when,amount\n" + "".join(lines[1:]),
        "binary": "\x00\x01PK\x03\x04\x00garbage",
        # bad values: a readable file with rows that are not observations
        "bad_value": "".join(lines[:-1]) + date + "," + ",".join(["n/a"] * len(rest.split(","))) + "\n",
        "bad_date": "".join(lines[:-1]) + "2026-02-30," + rest + "\n",
        "extra_fields": "".join(lines[:-1]) + last + ",1,2\n",
    }


UNREADABLE = {"zero_bytes", "header_only", "wrong_header", "binary"}
BAD_ROWS = {"bad_date": "date_parses", "extra_fields": "row_fields"}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.mark.parametrize("fault", sorted(_faults("a,b\n1,2\n")))
@pytest.mark.parametrize("key", sorted(FOLDERS))
def test_one_rule_for_every_series_and_policy(registry, tmp_path: Path, key: str, fault: str):
    spec = registry.get(key)
    sub = FOLDERS[key]
    (tmp_path / sub).mkdir()
    (tmp_path / sub / f"{key}.csv").write_text(_faults((SNAPSHOT / sub / f"{key}.csv").read_text())[fault])
    try:
        got = replay.fetch(spec, tmp_path)
    except SourceError as exc:  # the readers return what they cannot read; they never raise past fetch_series
        got = exc

    verdict = unreadable(spec, got, tmp_path)

    if fault in UNREADABLE:
        # unavailable: the pipeline holds (block) or marks stale (warn) with this reason
        assert isinstance(verdict, str) and str(tmp_path) in verdict, verdict
    elif fault in BAD_ROWS:
        assert isinstance(verdict, CheckResult) and verdict.blocking and verdict.check == BAD_ROWS[fault]
        message = verdict.message()
        assert f"raw.observations[{key}]" in message and f"{key}.csv" in message
        last_line = len((tmp_path / sub / f"{key}.csv").read_text().splitlines())
        assert f"line {last_line}:" in message  # the offending row, by its line in the file
    else:  # bad_value: readable; the gate's numeric_value check blocks and names the row
        assert verdict is None
        failed = validate(suites.raw_input_suite(spec, CLOCK), got.frame).blocking_failures
        assert "numeric_value" in {f.check for f in failed}


def test_a_file_without_one_observation_is_missing_not_a_check_failure(registry, tmp_path: Path):
    # every value "." (FRED's "no observation"): nothing to check, the same as no file
    (tmp_path / "fred").mkdir()
    (tmp_path / "fred/WALCL.csv").write_text("date,value\n2026-03-25,.\n2026-03-18,\n")
    verdict = unreadable(registry.get("WALCL"), replay.fetch(registry.get("WALCL"), tmp_path), tmp_path)
    assert verdict == f"no observations in {tmp_path / 'fred/WALCL.csv'}"


def test_a_backfill_range_without_observations_is_not_unavailable(registry, tmp_path: Path):
    (tmp_path / "fred").mkdir()
    (tmp_path / "fred/WALCL.csv").write_text("date,value\n")
    got = replay.fetch(registry.get("WALCL"), tmp_path)
    assert unreadable(registry.get("WALCL"), got, tmp_path, backfill=True) is None


# ---------------------------------------------------------------- end to end


@pytest.fixture
def version_1(offline_v1: Path) -> Path:
    return offline_v1  # copied before use


@pytest.mark.parametrize("fault", ["header_only"])
def test_a_warn_series_with_an_empty_file_publishes_stale_either_way(version_1, replay_dir, tmp_path, fault, capsys):
    # a header-only BTC-USD.csv is the same thing to a user as a 0-byte one (the matrix above
    # gives both the same verdict): no prices today; it used to block on not_empty
    root = tmp_path / "data"
    shutil.copytree(version_1, root)
    path = replay_dir / "prices/BTC-USD.csv"
    path.write_text(_faults(path.read_text())[fault])

    code = main(["--data-dir", str(root), "run", "--from-dir", str(replay_dir)])

    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "BTC-USD" in out and "stale" in out


def test_a_block_series_with_a_header_only_file_holds_its_tables(version_1, replay_dir, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(version_1, root)
    path = replay_dir / "fred/WALCL.csv"
    path.write_text(_faults(path.read_text())["header_only"])

    code = main(["--data-dir", str(root), "run", "--from-dir", str(replay_dir)])

    err = capsys.readouterr().err
    assert code == EXIT_BLOCKED  # held: the tables that read WALCL keep version 1
    assert "HELD: WALCL" in err and "no observations in" in err

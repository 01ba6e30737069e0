"""A late warn-policy series never blocks a publish: the FRED side (README, "The gate's rules").

tests/test_late_warn_inputs.py holds the markets tables to it. This replay of the real
snapshot makes every other warn-policy FRED series end weeks or months before the run's
clock (2026-03-31; the three net-liquidity terms and the prices are whole), each cut at a real
row of its file, at different dates so that no table can pass by lining them up:

  WRESBAL after Wed 2026-01-28   WSHOMCB after 2025-12-31   TREAST after 2026-02-25
  TOTBKCR after 2025-12-31       TOTLL after 2026-02-04     MORTGAGE30US after Thu 2026-01-15
  DGS10 after 2026-02-27         DTWEXBGS after 2026-01-16  CPIAUCSL after 2025-12-01
  WDTGAL after 2026-01-07        (ECBASSETSW and DTS-TGA end early in the snapshot already)

The run publishes; the tables that read a late series are marked stale with the series named,
and their last rows are the cut's (values read from the CSVs with the csv module).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import daily

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
CUTS = {
    "WRESBAL": "2026-01-28", "WSHOMCB": "2025-12-31", "TREAST": "2026-02-25", "TOTBKCR": "2025-12-31",
    "TOTLL": "2026-02-04", "MORTGAGE30US": "2026-01-15", "DGS10": "2026-02-27", "DTWEXBGS": "2026-01-16",
    "CPIAUCSL": "2025-12-01", "WDTGAL": "2026-01-07",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    folder = tmp_path_factory.mktemp("late_fred")
    shutil.copytree(SNAPSHOT, folder, dirs_exist_ok=True)
    for key, last in CUTS.items():
        lines = (SNAPSHOT / "fred" / f"{key}.csv").read_text().splitlines(keepends=True)
        kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] <= last]
        assert kept[-1].startswith(last), key  # the cut is a real row of the file
        (folder / "fred" / f"{key}.csv").write_text("".join(kept))
    root = tmp_path_factory.mktemp("late_fred_data")
    summary = daily(from_dir=str(folder), data_dir=str(root))
    return summary, root / "netliq.duckdb"


def test_the_run_publishes_with_every_cut_series_late(run):
    summary, _ = run
    assert summary.status == "published" and summary.version == 1
    assert set(CUTS) <= set(summary.late)
    assert not summary.held and not summary.held_tables  # no block-policy series is late


def test_the_tables_that_read_a_late_series_say_so(run):
    summary, published = run
    with duckdb.connect(str(published), read_only=True) as con:
        stale = dict(con.execute("SELECT DISTINCT table_name, stale_reason FROM catalog WHERE is_stale").fetchall())
        last_credit = con.execute("SELECT max(date) FROM bank_credit_weekly WHERE bank_credit_bn IS NOT NULL").fetchone()
        last_mortgage = con.execute("SELECT max(date) FROM mortgage_rate_weekly").fetchone()
    assert "TOTBKCR late" in stale["bank_credit_weekly"] and "TOTLL late" in stale["bank_credit_weekly"]
    assert "MORTGAGE30US late" in stale["mortgage_rate_weekly"]
    # the last rows are the cut's: the real files' rows on those dates
    assert last_credit[0] == dt.date(2025, 12, 31)
    with (SNAPSHOT / "fred/MORTGAGE30US.csv").open(newline="") as f:
        kept = [row["date"] for row in csv.DictReader(f) if row["date"] <= CUTS["MORTGAGE30US"]]
    assert last_mortgage[0] == dt.date.fromisoformat(kept[-1])

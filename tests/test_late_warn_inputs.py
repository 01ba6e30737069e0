"""Issue 12 point 2: a late warn-policy series never blocks a publish.

One replay of the real snapshot in which every warn-policy input of the markets tables ends
weeks or months before the run's clock (2026-03-31, BTC-USD and the liquidity terms are
whole), each cut at a real row of its file:

  GC=F after Fri 2025-11-14     (four months before the newest CPI month, 2026-03)
  CPIAUCNS after 2025-11-01     (four releases missed)
  MSTR after Fri 2026-02-13     ZEC-USD after 2026-02-20     GLD after Fri 2026-01-30
  JPY=X after Fri 2025-12-12    (3350.T goes on into February 2026 without a USD rate)
  GLD shares outstanding end 2025-05-23 in the snapshot already

The policy (flows/series.toml, `lateness` = warn): publish, and mark the tables that read a
late series stale. Expected values are read from the CSVs with the csv module.
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
D = dt.date.fromisoformat
CUTS = {
    "prices/GC=F.csv": "2025-11-14", "fred/CPIAUCNS.csv": "2025-11-01", "prices/MSTR.csv": "2026-02-13",
    "prices/ZEC-USD.csv": "2026-02-20", "prices/GLD.csv": "2026-01-30", "prices/JPY=X.csv": "2025-12-12",
}
MARKETS_TABLES = ("gold_daily", "gold_cpi_monthly", "asset_prices_daily", "asset_ratios_daily", "performance_daily")

pytestmark = pytest.mark.usefixtures("prefect_harness")


def cells(rel: str, column: str) -> dict[dt.date, str]:
    with (SNAPSHOT / rel).open(newline="") as f:
        return {D(row.get("date") or row["Date"]): row[column] for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    folder = tmp_path_factory.mktemp("late_replay")
    for path in SNAPSHOT.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(SNAPSHOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    for rel, last in CUTS.items():
        lines = (SNAPSHOT / rel).read_text().splitlines(keepends=True)
        kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] <= last]
        assert kept[-1].startswith(last), rel  # the cut is a real row of the file
        (folder / rel).write_text("".join(kept))
    root = tmp_path_factory.mktemp("late_data")
    summary = daily(from_dir=str(folder), data_dir=str(root))
    return summary, root / "netliq.duckdb"


def published(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_run_publishes_and_marks_the_markets_tables_stale(run):
    summary, path = run
    assert summary.status == "published" and summary.version == 1 and not summary.held_tables
    assert {"GC=F", "CPIAUCNS", "MSTR", "ZEC-USD", "GLD", "JPY=X"} <= set(summary.late)
    stale = dict(published(path, "SELECT DISTINCT table_name, stale_reason FROM catalog WHERE is_stale"))
    assert set(MARKETS_TABLES) <= set(stale)
    assert "GC=F" in stale["gold_cpi_monthly"] and "JPY=X" in stale["asset_prices_daily"]


def test_gold_cpi_monthly_newest_months_have_no_gold_and_earlier_months_keep_theirs(run):
    _, path = run
    rows = {r[0]: r[1:] for r in published(
        path, "SELECT date, gold_usd_per_oz, gold_close_date, gold_real_usd_1982_84_per_oz FROM gold_cpi_monthly")}
    cpi = cells("fred/CPIAUCNS.csv", "value")
    # every CPI month up to the cut has a row; November 2025 ends after gold's newest close
    # (2025-11-14): no gold, not the 11-14 close carried
    assert sorted(rows) == sorted(m for m in cpi if m <= D(CUTS["fred/CPIAUCNS.csv"]))
    assert rows[D("2025-11-01")] == (None, None, None)
    # September 2025: the last September close, Tue 2025-09-30 3840.800048828125, × 100 / 324.800
    gold = cells("prices/GC=F.csv", "Close")
    assert gold[D("2025-09-30")] == "3840.800048828125" and float(cpi[D("2025-09-01")]) == 324.8
    close, day, real = rows[D("2025-09-01")]
    assert (close, day) == (3840.800048828125, D("2025-09-30"))
    assert real == pytest.approx(3840.800048828125 * 100 / 324.8, rel=1e-12)
    # every month from gold's first (2000-08) to September 2025 has its own month-end close
    for month, (close, day, _) in rows.items():
        if D("2000-08-01") <= month <= D("2025-09-01"):
            assert day.replace(day=1) == month and close == float(gold[day]), month


def test_metaplanet_after_its_usd_rate_ends_keeps_its_close_without_close_usd(run):
    _, path = run
    # JPY=X's last row is Fri 2025-12-12; a rate may be 5 days old, so 3350.T's Tokyo days
    # from 2025-12-18 on have close (JPY) but no close_usd; 2025-12-17 still converts
    rows = dict(((d, (c, u)) for d, c, u in published(
        path, "SELECT date, close, close_usd FROM asset_prices_daily WHERE asset = 'metaplanet'")))
    tse = cells("prices/3350.T.csv", "Close")
    after = [d for d in tse if d > D("2025-12-17")]
    assert after and all(rows[d] == (float(tse[d]), None) for d in after)
    jpy = float(cells("prices/JPY=X.csv", "Close")[D("2025-12-12")])
    assert rows[D("2025-12-17")][1] == pytest.approx(float(tse[D("2025-12-17")]) / jpy, rel=1e-12)


def test_ratios_and_performance_of_late_assets_stop_at_their_last_close(run):
    _, path = run
    last = dict(published(path, "SELECT asset, max(date) FROM performance_daily GROUP BY asset"))
    assert (last["gold"], last["mstr"], last["zcash"], last["gld"]) == (
        D("2025-11-14"), D("2026-02-13"), D("2026-02-20"), D("2026-01-30"))
    ratios = dict(published(path, "SELECT ratio, max(date) FROM asset_ratios_daily GROUP BY ratio"))
    assert (ratios["btc_gold"], ratios["mstr_btc"]) == (D("2025-11-14"), D("2026-02-13"))

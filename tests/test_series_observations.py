"""series_observations: every registered series, published. A test registry (a copy of
flows/series.toml plus one more real series) runs through the whole offline pipeline, and the
new series is found in the published file, described, with the values of its recording.

The added series is MSTR's daily share volume, a column no model table reads, from a real
file of the snapshot (prices/MSTR_yfinance_2018-2025.csv: yfinance's MSTR records with
volume, PROVENANCE.md), read by the generic file source: a registry entry, no code.
Expected values are read from the snapshot's CSV files with Python's `csv` module.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_observations import SUITES
from flows.pipeline import daily
from flows.registry import REGISTRY_PATH, load_registry, registry_path
from flows.sources.replay import SNAPSHOT_DIR
from transforms.observations import SERIES_OBSERVATIONS, series_observations

pytestmark = pytest.mark.usefixtures("prefect_harness")

D = dt.date.fromisoformat
MSTR_FILE = SNAPSHOT_DIR / "prices" / "MSTR_yfinance_2018-2025.csv"

# the entry a user would add; its limits are the recording's (largest day-over-day move of the
# volume 731 % on 2022-11-08, largest gap 4 days, 234,000 to 100,444,000 shares)
EXTRA = """
# test registry only: MSTR's daily share volume from a real recording of the snapshot
[series.MSTR-VOLUME]
provider = "file"
path = "data/snapshot/prices/MSTR_yfinance_2018-2025.csv"
id = "MSTR-VOLUME"
name = "mstr_volume"
date_column = "Date"
value_column = "Volume"
native_units = "Shares"
frequency = "trading_daily"
publication_lag_days = 0
max_age_days = 5
max_gap_days = 7
valid_min = 0
valid_max = 1_000_000_000
max_change_pct = 1000.0
release = "yfinance records of MSTR, Nasdaq trading days (recorded file, PROVENANCE.md)"
release_time = "16:00 America/New_York"
description = "Strategy (MSTR) shares traded per day, as yfinance reported them"
"""


def csv_column(path: Path, date: str, value: str) -> dict[dt.date, float]:
    with path.open(newline="") as f:
        return {D(row[date]): float(row[value]) for row in csv.DictReader(f) if row[value] not in ("", ".")}


VOLUME = csv_column(MSTR_FILE, "Date", "Volume")
WALCL = csv_column(SNAPSHOT_DIR / "fred" / "WALCL.csv", "date", "value")
RRP = csv_column(SNAPSHOT_DIR / "fred" / "RRPONTSYD.csv", "date", "value")


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    folder = tmp_path_factory.mktemp("registry")
    registry_file = folder / "series.toml"
    registry_file.write_text(REGISTRY_PATH.read_text() + EXTRA)
    root = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NETLIQ_REGISTRY", str(registry_file))
        assert registry_path() == registry_file
        summary = daily(offline=True, data_dir=str(root))
    assert summary.status == "published", summary
    return summary, root / "netliq.duckdb"


def query(path: Path, sql: str, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_a_series_added_to_the_registry_is_in_the_published_file(run):
    summary, published = run
    rows = query(published, "SELECT obs_date, value, value_bn, native_units, series_name, source, source_id, vintage_date, "
                            "known_at_utc FROM series_observations WHERE series_id = 'MSTR-VOLUME' ORDER BY obs_date")
    # every row of the recording: 1,933 trading days 2018-01-02 → 2025-09-10
    assert len(rows) == len(VOLUME) == 1933
    assert {r[0]: r[1] for r in rows} == VOLUME
    last = rows[-1]
    # 2025-09-10: 9,622,087 shares (the file's last row); shares are not dollars: no value_bn; a
    # file has no vintages; public at its release time, 16:00 New York (EDT) = 20:00 UTC
    assert last[:8] == (D("2025-09-10"), 9_622_087.0, None, "Shares", "mstr_volume", "file", "MSTR-VOLUME", None)
    assert last[8] == dt.datetime(2025, 9, 10, 20, 0)
    # it ends 2025-09-10, 202 days before the clock 2026-03-31: late (warn), published all the same
    assert "MSTR-VOLUME" in summary.late
    assert summary.row_counts["series_observations"] == sum(
        n for (n,) in query(published, "SELECT count(*) FROM series_observations GROUP BY series_id"))


def test_every_series_with_data_is_there_in_native_units_and_billions(run):
    summary, published = run
    ids = {r[0] for r in query(published, "SELECT DISTINCT series_id FROM series_observations")}
    registry = load_registry(REGISTRY_PATH)
    # every registered series but those the snapshot lacks, plus the added one
    assert ids == set(registry.series) - set(summary.unavailable) | {"MSTR-VOLUME"}
    assert "RPONTSYD" not in ids  # no recording (it comes live from FRED): no rows, never zeros
    # WALCL 2026-03-25: 6,657,161 millions of USD → 6657.161 bn (to_bn 0.001)
    walcl = query(published, "SELECT value, value_bn, native_units FROM series_observations "
                             "WHERE series_id = 'WALCL' AND obs_date = DATE '2026-03-25'")
    assert walcl == [(6_657_161.0, 6657.161, "Millions of U.S. Dollars")]
    counts = dict(query(published, "SELECT series_id, count(*) FROM series_observations GROUP BY series_id"))
    assert counts["WALCL"] == len(WALCL) == 1215 and counts["RRPONTSYD"] == len(RRP) == 3211
    # RRPONTSYD is billions already (to_bn 1): value_bn = value; 2026-03-31 15.782
    assert query(published, "SELECT value, value_bn FROM series_observations WHERE series_id = 'RRPONTSYD' "
                            "AND obs_date = DATE '2026-03-31'") == [(15.782, 15.782)]
    # a price is not a dollar amount of the model: no value_bn
    assert query(published, "SELECT count(value_bn) FROM series_observations WHERE series_id = 'BTC-USD'") == [(0,)]


def test_the_table_is_described_for_bi_tools(run):
    _, published = run
    [(comment,)] = query(published, "SELECT comment FROM duckdb_tables() WHERE table_name = 'series_observations'")
    assert "one row per registered series per observation date" in comment
    columns = dict(query(published, "SELECT column_name, comment FROM duckdb_columns() "
                                    "WHERE table_name = 'series_observations'"))
    assert list(columns) == list(SERIES_OBSERVATIONS.columns) and all(len(c) > 10 for c in columns.values())
    catalog = query(published, "SELECT count(*), min(grain) FROM catalog WHERE table_name = 'series_observations'")
    assert catalog == [(len(SERIES_OBSERVATIONS.columns), SERIES_OBSERVATIONS.grain)]


def test_the_variants_table_is_published_from_the_snapshot(run):
    summary, published = run
    # 3 variants × 8,454 days (2003-02-07 → 2026-03-31)
    assert summary.row_counts["net_liquidity_variants_daily"] == 3 * 8454
    assert query(published, "SELECT variant, count(*) FILTER (WHERE is_available) FROM net_liquidity_variants_daily "
                            "GROUP BY variant ORDER BY variant") == [
        ("daily_tga", 8454 - 2125), ("hayes_2022", 8454), ("hayes_bloomberg", 0)]


# --- the transform and its suite, without the pipeline --------------------------------------


def _series(**overrides) -> pl.DataFrame:
    row = {"series_id": "WALCL", "series_name": "fed_assets", "native_units": "Millions of U.S. Dollars",
           "to_bn": 0.001, "source": "fred", "source_id": "WALCL", **overrides}
    return pl.DataFrame([row], schema={"series_id": pl.String, "series_name": pl.String, "native_units": pl.String,
                                       "to_bn": pl.Float64, "source": pl.String, "source_id": pl.String})


def _stored(values: dict[str, float | None], known: str = "2026-03-26 20:30") -> pl.DataFrame:
    return pl.DataFrame({
        "series_id": ["WALCL"] * len(values), "obs_date": [D(d) for d in values], "value": list(values.values()),
        "known_at_utc": [dt.datetime.fromisoformat(known)] * len(values), "realtime_start": [None] * len(values),
    }, schema={"series_id": pl.String, "obs_date": pl.Date, "value": pl.Float64, "known_at_utc": pl.Datetime("us"),
               "realtime_start": pl.Date})


def test_transform_converts_by_the_registry_factor_and_leaves_out_rows_without_a_number():
    out = series_observations(_stored({"2026-03-18": 6_655_939.0, "2026-03-25": None}), _series())
    assert out.select("obs_date", "value", "value_bn").rows() == [(D("2026-03-18"), 6_655_939.0, 6655.939)]


def test_transform_refuses_bad_input():
    with pytest.raises(ValueError, match="no registry entry for WALCL"):
        series_observations(_stored({"2026-03-18": 1.0}), _series(series_id="WTREGEN"))
    with pytest.raises(ValueError, match="share a series and date, e.g. WALCL 2026-03-18"):
        series_observations(pl.concat([_stored({"2026-03-18": 1.0})] * 2), _series())
    with pytest.raises(ValueError, match="input stored lacks column"):
        series_observations(_stored({"2026-03-18": 1.0}).drop("known_at_utc"), _series())


@pytest.mark.parametrize(("frame", "check"), [
    # units other than the registry's
    (lambda f: f.with_columns(pl.lit("Billions of U.S. Dollars").alias("native_units")), "as_registered"),
    # billions that are not value × to_bn
    (lambda f: f.with_columns((pl.col("value_bn") + 1).alias("value_bn")), "value_bn_is_value_times_to_bn"),
    # public before the day it observes (known 2026-03-10 for 2026-03-18)
    (lambda f: f.with_columns(pl.lit(dt.datetime(2026, 3, 10, 20, 30)).alias("known_at_utc")), "not_known_before_observed"),
    # a series that is not in the registry
    (lambda f: f.with_columns(pl.lit("NOPE").alias("series_id")), "registered_series_only"),
])
def test_suite_fails_on_each_broken_rule(frame, check):
    registry = load_registry(REGISTRY_PATH)
    good = series_observations(_stored({"2026-03-18": 6_655_939.0}), _series())
    suite = SUITES["series_observations"](registry, D("2026-03-31"))
    assert validate(suite, good).passed
    assert check in {r.check for r in validate(suite, frame(good)).blocking_failures}

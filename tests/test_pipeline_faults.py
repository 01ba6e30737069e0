"""The live flow when a source misbehaves, under Prefect's test harness: a request that
times out once, a recorded 429 rate-limit answer, a source that keeps failing (a warn
series: its tables stale, the others publish; a block series: only its tables held).

One FRED series at a time is served live by tests/fake_fred.py at our transport boundary
(constructed ALFRED answers from the snapshot's real values); every other series is
replayed from the snapshot, as in tests/test_pipeline_live.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import shutil
import urllib.error
from pathlib import Path

import duckdb
import pytest

from flows import pipeline
from flows.pipeline import daily
from flows.sources import fred, replay, treasury, yahoo
from tests.fake_fred import WIRE, FakeFred
from tests.fake_treasury import FakeTreasury, recorded_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")

FAKE_KEY = "NETLIQ-FAKE-KEY-faults-31d7"


@pytest.fixture
def live(monkeypatch, tmp_path):
    """Live mode with `serve(key, fake)`: that FRED series through the fake API, the rest replayed.
    Retries wait no time (FredClient's backoff is a setting), so the tests do not sleep. The
    run starts on the evening of the snapshot's last day, 2026-03-31 22:00 UTC (18:00 New
    York), so the real data is as fresh as it was then."""
    monkeypatch.setenv("FRED_API_KEY", FAKE_KEY)
    monkeypatch.setattr(pipeline, "_now", lambda: dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.timezone.utc))
    monkeypatch.setattr(fred, "FredClient", functools.partial(fred.FredClient, backoff_initial=0, backoff_jitter=0))
    monkeypatch.setattr(yahoo, "fetch", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    monkeypatch.setattr(yahoo, "fetch_shares", lambda spec, since, **kw: replay.fetch(spec, replay.SNAPSHOT_DIR))
    # the Treasury's statement from the fake fiscal-data API (rows built from the recorded file)
    monkeypatch.setattr(treasury, "urllib_transport", FakeTreasury(recorded_rows("2025-06-02")))
    real = fred.fetch_vintages

    def serve(key: str, fake: FakeFred) -> None:
        monkeypatch.setattr(fred, "urllib_transport", fake)
        monkeypatch.setattr(fred, "fetch_vintages", lambda spec, client, **kw: (
            real(spec, client, **kw) if spec.key == key else replay.fetch(spec, replay.SNAPSHOT_DIR)))

    return serve


def _rows(path: Path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _http_error(status: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://api.stlouisfed.org/fred/series", status, "error", {}, io.BytesIO(body))


def test_a_request_that_times_out_once_is_retried_and_the_run_publishes(live, tmp_path, caplog):
    fake = FakeFred("WALCL")
    fake.fail(1, lambda: TimeoutError("The read operation timed out"))
    live("WALCL", fake)
    root = tmp_path / "data"

    summary = daily(data_dir=str(root))

    assert summary.status == "published" and summary.version == 1
    assert "attempt 1/4 failed (timed out after 30s" in caplog.text
    # the timed-out series-info request was made twice, then vintage dates and observations once
    assert fake.calls.count("/fred/series") == 2
    # stored as ALFRED vintages: WALCL 2026-03-18 first released Thursday 03-19 (16:30 ET = 20:30 UTC)
    row = _rows(root / "netliq.duckdb", "SELECT fed_assets_bn, fed_assets_known_at_utc FROM net_liquidity_daily "
                                        "WHERE date = DATE '2026-03-19'")[0]
    assert row[0] == pytest.approx(6655.939) and str(row[1]) == "2026-03-19 20:30:00"
    starts = _rows(root / "warehouse.duckdb", "SELECT count(*), count(realtime_start) FROM raw.observations "
                                              "WHERE series_id = 'WALCL'")[0]
    assert starts[0] == starts[1] > 1200  # every WALCL row carries its vintage


def test_a_recorded_429_is_retried(live, tmp_path, caplog):
    fake = FakeFred("WTREGEN")
    fake.fail(1, lambda: _http_error(429, (WIRE / "fred_error_429_rate_limit.json").read_bytes()))
    live("WTREGEN", fake)

    summary = daily(data_dir=str(tmp_path / "data"))

    assert summary.status == "published"
    assert "HTTP 429 (rate limited): FRED error 429: Too Many Requests.  Exceeded Rate Limit" in caplog.text
    assert FAKE_KEY not in caplog.text


@pytest.fixture
def offline_version_1(offline_v1: Path) -> Path:
    return offline_v1  # copied before use


def test_a_warn_series_that_keeps_failing_marks_its_tables_stale_and_the_rest_publish(
        live, offline_version_1, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(offline_version_1, root)
    fake = FakeFred("TOTBKCR")
    fake.fail(100, lambda: _http_error(503, b'<error code="503" message="Service Unavailable"/>'))
    live("TOTBKCR", fake)

    summary = daily(data_dir=str(root))

    assert "HTTP 503" in summary.unavailable["TOTBKCR"] and "after 4 attempts" in summary.unavailable["TOTBKCR"]
    assert fake.calls == ["/fred/series"] * 4  # one request, four attempts, then it gave up
    assert "TOTBKCR source failed" in summary.stale["bank_credit_weekly"]
    assert not summary.held_tables
    # live, the clock is the run's New York date (03-31, as the replay's); the catalog changed
    assert summary.clock == dt.date(2026, 3, 31)
    assert summary.status == "published" and summary.version == 2
    reason = dict(_rows(root / "netliq.duckdb", "SELECT DISTINCT table_name, stale_reason FROM catalog"))
    assert "TOTBKCR source failed" in reason["bank_credit_weekly"]


def test_a_block_series_that_keeps_failing_holds_only_its_tables(live, offline_version_1, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(offline_version_1, root)
    received = []
    monkeypatch.setattr(pipeline.notify, "notify", lambda event, payload, **kw: received.append((event, payload)))
    fake = FakeFred("RRPONTSYD")
    fake.fail(100, lambda: TimeoutError("timed out"))
    live("RRPONTSYD", fake)

    summary = daily(data_dir=str(root))

    assert "timed out" in summary.held["RRPONTSYD"]
    assert set(summary.held_tables) >= {"net_liquidity_weekly", "net_liquidity_daily", "performance_daily"}
    assert "asset_prices_daily" not in summary.held_tables
    before = json.loads(_rows(offline_version_1 / "netliq.duckdb", "SELECT checksums FROM publishes")[0][0])
    after = json.loads(_rows(root / "netliq.duckdb",
                             "SELECT checksums FROM publishes ORDER BY version DESC LIMIT 1")[0][0])
    for table in summary.held_tables:
        assert after[table] == before[table], table  # kept their last good version
    assert ("held", {"run_id": summary.run_id, "clock": summary.clock, "held_series": summary.held,
                     "held_tables": summary.held_tables}) in received

"""Run summaries and webhook notifications, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from flows import notify
from flows.pipeline import GateBlocked, daily


@pytest.fixture
def receiver():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_notify_posts_json(receiver):
    url, received = receiver
    assert notify.notify("late", {"late": {"WALCL": "stale"}}, env={notify.WEBHOOK_ENV: url})
    assert received == [{"event": "late", "late": {"WALCL": "stale"}}]


def test_an_unreachable_webhook_is_logged_not_fatal(caplog):
    # nothing listens on this loopback port: the POST fails at once
    assert not notify.notify("late", {}, env={notify.WEBHOOK_ENV: "http://127.0.0.1:9/hook"})
    assert "webhook notification late failed" in caplog.text


def test_no_webhook_configured_sends_nothing():
    assert notify.notify("late", {}, env={}) is False


def test_summary_markdown_says_what_was_held_revised_and_changed():
    text = notify.summary_markdown(
        run_id="r2", status="published", clock="2026-03-31", version=2, message="published version 2; 1 table(s) held",
        row_counts={"net_liquidity_weekly": 1215, "asset_prices_daily": 33461},
        stale={"net_liquidity_weekly": "held (kept version 1): WTREGEN: check freshness failed"},
        unavailable={}, late={}, failures=[], timings={},
        held={"WTREGEN": "check freshness failed"}, held_tables={"net_liquidity_weekly": "WTREGEN: late"},
        row_changes={"net_liquidity_weekly": 0, "asset_prices_daily": 1}, rows_added={"BTC-USD": 1, "WALCL": 0},
        revised={"WALCL": 1},
        revised_rows=[{"series_id": "WALCL", "obs_date": "2026-03-18", "old_value": 6655000.0,
                       "new_value": 6655939.0, "known_at_utc": "2026-03-26 20:30:00"}])
    for part in ("| asset_prices_daily | 33461 | +1 |", "## Tables held at their last good version",
                 "- net_liquidity_weekly: WTREGEN: late", "held (policy block): WTREGEN", "- BTC-USD: 1",
                 "| WALCL | 2026-03-18 | 6655000.0 | 6655939.0 | 2026-03-26 20:30:00 |"):
        assert part in text
    assert "- WALCL: 0" not in text  # only series that added rows


def test_summary_markdown_names_failures_tables_and_steps():
    text = notify.summary_markdown(
        run_id="r1", status="blocked", clock="2026-03-31", version=None, message="publish blocked",
        row_counts={"net_liquidity_weekly": 1215}, stale={"net_liquidity_weekly": ""}, unavailable={"TOTLL": "not in snapshot"},
        late={"TOTBKCR": "late"}, failures=["raw.observations[WALCL]: check value_range failed"],
        timings={"fetch": 0.5})
    for part in ("# netliq run blocked", "check value_range failed", "| net_liquidity_weekly | 1215 |",
                 "unavailable: TOTLL (not in snapshot)", "late: TOTBKCR", "| fetch | 0.50 |"):
        assert part in text


@pytest.mark.usefixtures("prefect_harness")
def test_blocked_publish_and_late_series_are_notified(receiver, replay_dir: Path, tmp_path: Path, monkeypatch):
    url, received = receiver
    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    root = tmp_path / "data"
    summary = daily(from_dir=str(replay_dir), data_dir=str(root))
    # the snapshot's ECB assets end 2025-05-09, 326 days before the clock 2026-03-31: late (warn)
    late = [m for m in received if m["event"] == "late"]
    assert len(late) == 1 and "ECBASSETSW" in late[0]["late"] and summary.late.keys() == late[0]["late"].keys()

    rrp = replay_dir / "fred/RRPONTSYD.csv"
    rrp.write_text(rrp.read_text().replace("2026-03-31,15.782", "2026-03-31,-15.782"))
    with pytest.raises(GateBlocked):
        daily(from_dir=str(replay_dir), data_dir=str(root))
    blocked = [m for m in received if m["event"] == "blocked"]
    assert len(blocked) == 1 and "check value_range failed" in blocked[0]["failures"][0]
    assert blocked[0]["quarantine"]


def test_the_run_summary_is_a_prefect_artifact(offline_v1_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    summary = offline_v1_run[1]  # an offline run into an empty data dir, against this process's harness
    assert set(summary.timings) == {"fetch", "check inputs", "append raw", "build and check tables"}
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            # this run's (the harness holds every run of this test process by now)
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["netliq-run-summary"]),
                                           flow_run_id=ArtifactFilterFlowRunId(any_=[summary.run_id])))
    mine = [a for a in artifacts if summary.run_id in str(a.data)]
    assert mine and f"version: {summary.version}" in mine[0].data and "## Time per step" in mine[0].data

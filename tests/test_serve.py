"""`netliq serve`: the release-aware deployment, and a clear refusal without a Prefect API."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from flows import serve as served


@pytest.fixture(scope="module")
def deployment():
    [d] = served.deployments(offline=True, data_dir="some/data")
    return d


def test_one_deployment_named_after_the_flow(deployment):
    assert deployment.name == "netliq-daily"
    assert deployment.flow_name == "netliq-daily"
    assert deployment.entrypoint == "flows/pipeline.py:daily"
    assert deployment.work_pool_name is None  # served, not sent to a worker


def test_release_aware_schedules_in_new_york_time(deployment):
    crons = sorted((s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules)
    assert crons == sorted([
        ("30 13 * * 1-5", "America/New_York", True),  # weekdays after RRPONTSYD (~13:15 ET)
        ("0 17 * * 4", "America/New_York", True),  # Thursdays after the H.4.1 (~16:30 ET)
    ])


def test_schedules_fall_after_the_releases(deployment):
    import asyncio
    import datetime as dt
    from zoneinfo import ZoneInfo

    from prefect.server.schemas.schedules import CronSchedule

    ny = ZoneInfo("America/New_York")
    start = dt.datetime(2026, 11, 30, 0, 0, tzinfo=ny)  # a Monday
    runs = []
    for s in deployment.schedules:
        server_side = CronSchedule(cron=s.schedule.cron, timezone=s.schedule.timezone)
        runs += asyncio.run(server_side.get_dates(n=10, start=start))
    week = sorted(r.astimezone(ny) for r in runs if r < start + dt.timedelta(days=7))
    assert [(r.strftime("%a"), r.hour, r.minute) for r in week] == [
        ("Mon", 13, 30), ("Tue", 13, 30), ("Wed", 13, 30),
        ("Thu", 13, 30), ("Thu", 17, 0), ("Fri", 13, 30),
    ]


def test_parameters(deployment):
    assert deployment.parameters == {"offline": True, "data_dir": str(Path("some/data").resolve())}
    [live] = served.deployments(offline=False, data_dir=None)
    assert live.parameters == {"offline": False, "data_dir": None}


@pytest.fixture
def no_prefect_serve(monkeypatch):
    """Fail loudly if anything reaches `prefect.serve` (which would block forever)."""
    import prefect

    def boom(*args, **kwargs):
        raise AssertionError("prefect.serve must not be reached")

    monkeypatch.setattr(prefect, "serve", boom)


def test_serve_without_api_refuses_with_instructions(no_prefect_serve):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    t0 = time.perf_counter()
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(served.ServeError) as err:
            served.serve(offline=True, data_dir="/tmp/x")
    message = str(err.value)
    assert "PREFECT_API_URL is not set" in message
    assert "uv run prefect server start" in message
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in message
    assert "uv run netliq --data-dir /tmp/x serve --offline" in message
    assert time.perf_counter() - t0 < 2


def test_serve_with_an_api_that_does_not_answer_refuses_fast(no_prefect_serve):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    t0 = time.perf_counter()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        with pytest.raises(served.ServeError, match="does not answer"):
            served.serve(offline=True)
    assert time.perf_counter() - t0 < 6


def test_serve_hands_the_deployments_to_prefect(monkeypatch):
    import prefect

    seen = []
    monkeypatch.setattr(served, "check_api", lambda: "http://127.0.0.1:4200/api")
    monkeypatch.setattr(prefect, "serve", lambda *deps, **kw: seen.extend(deps))
    served.serve(offline=True, data_dir="d")
    assert [d.name for d in seen] == ["netliq-daily"]
    assert seen[0].parameters["offline"] is True

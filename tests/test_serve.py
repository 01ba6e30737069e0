"""`netliq serve`: the release-aware deployment, the on-demand backfill and as-of deployments,
prefect.yaml declaring the same, and a clear refusal without a Prefect API."""

from __future__ import annotations

import datetime as dt
import inspect
import socket
import time
from pathlib import Path

import pytest
import yaml

from flows import serve as served

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["netliq-daily", "netliq-backfill", "netliq-as-of"]


@pytest.fixture(scope="module")
def served_deployments():
    return {d.name: d for d in served.deployments(offline=True, data_dir="some/data")}


@pytest.fixture(scope="module")
def deployment(served_deployments):
    return served_deployments["netliq-daily"]


@pytest.fixture(scope="module")
def declared():
    """prefect.yaml's deployments by name, parsed."""
    project = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in project["deployments"]}


def test_one_deployment_named_after_the_flow(deployment):
    assert deployment.name == "netliq-daily"
    assert deployment.flow_name == "netliq-daily"
    assert deployment.entrypoint == "flows/pipeline.py:daily"
    assert deployment.work_pool_name is None  # served, not sent to a worker


def test_three_deployments_of_the_one_flow():
    deployments = served.deployments()
    assert [d.name for d in deployments] == NAMES
    assert [served.DEPLOYMENT, served.BACKFILL_DEPLOYMENT, served.AS_OF_DEPLOYMENT] == NAMES
    for d in deployments:
        assert d.flow_name == "netliq-daily"
        assert d.entrypoint == "flows/pipeline.py:daily"
        assert d.work_pool_name is None


def test_only_the_daily_deployment_is_scheduled(served_deployments):
    assert len(served_deployments["netliq-daily"].schedules) == 2
    assert all(s.schedule.timezone == "America/New_York" for s in served_deployments["netliq-daily"].schedules)
    assert served_deployments["netliq-backfill"].schedules == []
    assert served_deployments["netliq-as-of"].schedules == []


def test_on_demand_deployments_take_their_dates_at_trigger_time(served_deployments):
    resolved = str(Path("some/data").resolve())
    for name in NAMES:
        # the dates are never defaults: each trigger names its own
        assert served_deployments[name].parameters == {"offline": True, "data_dir": resolved}
    assert served.TRIGGER_PARAMETERS == {
        "netliq-backfill": ("backfill_start", "backfill_end"),
        "netliq-as-of": ("as_of",),
    }
    backfill = served_deployments["netliq-backfill"].description
    as_of = served_deployments["netliq-as-of"].description
    assert "prefect deployment run netliq-daily/netliq-backfill -p backfill_start=2025-01-01 -p backfill_end=2025-03-31" in backfill
    assert "prefect deployment run netliq-daily/netliq-as-of -p as_of=2025-06-04" in as_of
    live = {d.name: d for d in served.deployments(offline=False, data_dir=None)}
    assert all(live[n].parameters == {"offline": False, "data_dir": None} for n in NAMES)


def test_trigger_parameters_are_parameters_of_the_flow():
    from flows.pipeline import daily

    signature = inspect.signature(daily.fn)
    wanted = [p for names in served.TRIGGER_PARAMETERS.values() for p in names]
    if not all(p in signature.parameters for p in wanted):
        pytest.skip("flows.pipeline.daily does not take backfill_start/backfill_end/as_of yet")
    for p in wanted:
        assert signature.parameters[p].default is None  # optional: absent means a plain daily run
    # a trigger's "-p as_of=2025-06-04" arrives as text; Prefect coerces it by the schema
    [as_of] = [d for d in served.deployments() if d.name == "netliq-as-of"]
    schema = as_of._parameter_openapi_schema.properties
    assert all(p in schema for p in wanted)


# --- prefect.yaml declares the same deployments --------------------------------------


def test_prefect_yaml_declares_the_served_deployments(served_deployments, declared):
    assert list(declared) == NAMES + ["netliq-offline-demo"]
    for name in NAMES:
        assert declared[name]["entrypoint"] == served_deployments[name].entrypoint
        yaml_crons = sorted((s["cron"], s["timezone"]) for s in declared[name]["schedules"] if s.get("active", True))
        served_crons = sorted((s.schedule.cron, s.schedule.timezone) for s in served_deployments[name].schedules)
        assert yaml_crons == served_crons, name
    assert sorted(s["cron"] for s in declared["netliq-daily"]["schedules"]) == sorted(c for c, _ in served.SCHEDULES)
    assert declared["netliq-offline-demo"]["entrypoint"] == "flows/pipeline.py:daily"
    assert declared["netliq-offline-demo"]["schedules"] == []


def test_prefect_yaml_parameters(declared):
    from flows.pipeline import daily

    accepted = set(inspect.signature(daily.fn).parameters)
    for name, d in declared.items():
        assert set(d["parameters"]) <= accepted, name
        # no dates fixed in the file: a backfill or an as-of run names its own
        assert not set(d["parameters"]) & {"backfill_start", "backfill_end", "as_of"}, name
    assert declared["netliq-daily"]["parameters"] == {"offline": False}
    assert declared["netliq-backfill"]["parameters"] == {"offline": False}
    assert declared["netliq-as-of"]["parameters"] == {"offline": False}
    assert declared["netliq-offline-demo"]["parameters"] == {"offline": True}


def test_prefect_yaml_entrypoint_loads():
    from prefect.flows import load_flow_from_entrypoint

    assert load_flow_from_entrypoint(str(ROOT / "flows/pipeline.py") + ":daily").name == "netliq-daily"


# --- check_backfill ------------------------------------------------------------------------


def test_check_backfill_accepts_dates_and_iso_text():
    assert served.check_backfill("2025-01-01", "2025-03-31") == (dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    day = dt.date(2025, 6, 4)
    assert served.check_backfill(day, day) == (day, day)  # one day is a range


@pytest.mark.parametrize(
    ("start", "end", "complaint"),
    [
        ("2025-03-31", "2025-01-01", "backfill_end 2025-01-01 is before backfill_start 2025-03-31"),
        (dt.date(2025, 1, 2), dt.date(2025, 1, 1), "is before backfill_start"),
        (None, "2025-01-01", "backfill_start missing"),
        ("2025-01-01", None, "backfill_end missing"),
        (None, None, "backfill_start and backfill_end missing"),
        ("2025-13-01", "2025-12-31", "backfill_start must be a date"),
        ("2025-01-01", "yesterday", "backfill_end must be a date"),
        ("2025-01-01", 20250331, "backfill_end must be a date"),
        (dt.datetime(2025, 1, 1, 12), "2025-02-01", "backfill_start must be a date"),
    ],
)
def test_check_backfill_refuses_a_bad_range(start, end, complaint):
    with pytest.raises(ValueError, match=complaint):
        served.check_backfill(start, end)


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
    live = served.deployments(offline=False, data_dir=None)[0]
    assert live.parameters == {"offline": False, "data_dir": None}


@pytest.fixture
def no_prefect_serve(monkeypatch):
    """Fail loudly if anything reaches the runner (`serve_flows`, which would block forever)."""

    def boom(*args, **kwargs):
        raise AssertionError("serve_flows must not be reached")

    monkeypatch.setattr(served, "serve_flows", boom)


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
    from flows import limits
    from flows.pipeline import daily

    seen, order = [], []
    monkeypatch.setattr(served, "check_api", lambda: "http://127.0.0.1:4200/api")
    monkeypatch.setattr(limits, "ensure_limits", lambda *a, **kw: order.append("limits") or {})
    options = {}
    monkeypatch.delenv(served.POLL_ENV, raising=False)
    monkeypatch.setattr(served, "serve_flows", lambda flows, **kw: (order.append("serve"), seen.extend(flows),
                                                                    options.update(kw)))
    served.serve(offline=True, data_dir="d")
    assert [o["name"] for _, o in seen] == NAMES
    assert all(f is daily for f, _ in seen)  # the flow object itself: runs start from it (flows/warm_start.py)
    assert options == {"query_seconds": served.POLL_SECONDS}
    assert all(o["parameters"]["offline"] is True for _, o in seen)
    assert order == ["limits", "serve"]  # the shared rate limits exist before any run starts


def test_the_deployments_are_the_served_flows():
    """What prefect.yaml and the tests read (deployments) is what serve registers (served_flows)."""
    flows = served.served_flows(offline=True, data_dir="d")
    deployments = served.deployments(offline=True, data_dir="d")
    assert [d.name for d in deployments] == [o["name"] for _, o in flows]
    assert [d.parameters for d in deployments] == [o["parameters"] for _, o in flows]
    assert [d.description for d in deployments] == [o["description"] for _, o in flows]


def test_serve_refuses_an_unusable_rate_limit(monkeypatch, no_prefect_serve):
    from flows import limits

    def refuse(*args, **kwargs):
        raise ValueError("Prefect concurrency limit 'netliq-fred' exists without slot decay")

    monkeypatch.setattr(served, "check_api", lambda: "http://127.0.0.1:4200/api")
    monkeypatch.setattr(limits, "ensure_limits", refuse)
    with pytest.raises(served.ServeError, match="netliq-fred' exists without slot decay"):
        served.serve(offline=True)


def test_the_runner_polls_every_second_unless_the_operator_set_it():
    """A triggered run waits for the runner's next poll: Prefect's default is 10 s, netliq's 1 s."""
    assert served.POLL_SECONDS == 1.0
    assert served.runner_options({}) == {"query_seconds": 1.0}
    assert served.runner_options({served.POLL_ENV: "5"}) == {}  # Prefect reads it itself
    assert served.runner_options({served.POLL_ENV: ""}) == {"query_seconds": 1.0}


def test_the_served_flow_module_loads_none_of_the_heavy_optional_packages():
    """What the runner's fresh process imports to run the flow: not the report (Altair,
    vl-convert) and not yfinance (a replay fetches nothing from Yahoo)."""
    import subprocess
    import sys

    code = ("import sys, flows.pipeline\n"
            "loaded = [m for m in ('flows.report', 'altair', 'vl_convert', 'yfinance') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]

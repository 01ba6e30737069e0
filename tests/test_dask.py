"""The fetch fan-out of the daily flow on a Dask cluster of worker processes (the `dask` extra).

One live run on Prefect's default task runner (threads in this process) and one on a
`DaskTaskRunner` connected to a `LocalCluster` of two worker processes with one thread each, the
way a remote cluster is used (`address=`). FRED is tests/fake_fred.py served over loopback HTTP
(tests/fred_http.py), so every request of every process arrives in this one and is logged with
its arrival time and sender. The Dask run
- publishes the same tables as the default run (the content checksums of the published file);
- keeps FRED's shared rate limit, a Prefect global concurrency limit on the test harness's
  server, across both worker processes: no stretch of arrivals at the fake holds more requests
  than the limit's token bucket lets through, and some stretch comes close (the limit paced them);
- survives the worker that fetches RRPONTSYD being killed (SIGKILL) mid-fetch: Dask runs the task
  again on the other worker (with the tasks whose results died with it) and the run publishes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("prefect_dask", reason="the dask extra is not installed (uv sync --extra dask)")

import distributed  # noqa: E402 - after the skip: part of the extra

from flows import limits, pipeline  # noqa: E402
from flows.pipeline import RunSummary, daily  # noqa: E402
from tests import fred_http  # noqa: E402

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

FAKE_KEY = "NETLIQ-FAKE-KEY-dask-5e21"
# The run starts on the evening of the snapshot's last day (as in tests/test_pipeline_faults.py),
# so the real data is as fresh as it was then.
EVENING = dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.timezone.utc)
# FRED's limit during the Dask run: small, so the ~70 requests of a run span several seconds
# and two unshared buckets would let through about twice as many as one shared one.
BURST, PER_SECOND = 2, 2.0
# How much later than the server granted its slot a request may arrive at the fake (the grant
# travelling back, the HTTP request going out), which lets one more request into a stretch of
# arrivals. Not measured: generous for a loaded machine. With one bucket of the same budget per
# worker process instead of the shared one, the worst stretch held ~28 requests too many.
GRANT_TO_ARRIVAL_S = 0.5
# RRPONTSYD is fetched early (little else is lost with its worker) in 2 ALFRED windows: its worker
# dies after the series info and vintage dates were answered, on the first window
KILLED = ("RRPONTSYD", "series/observations")


class FakeSourcesPlugin(distributed.WorkerPlugin):
    """Installs tests/fred_http.py's fakes in every worker process as it starts (again after a kill)."""

    name = "netliq-fake-sources"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def setup(self, worker) -> None:
        fred_http.install(self.base_url)


@contextlib.contextmanager
def _fred_budget_as_found():
    """On leaving, netliq-fred on the harness's server as it was (deleted if it was missing)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_global_concurrency_limit_by_name(limits.FRED.name)
        except ObjectNotFound:
            found = None
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            if found is None:
                client.delete_global_concurrency_limit_by_name(limits.FRED.name)
            else:
                client.update_global_concurrency_limit(limits.FRED.name, GlobalConcurrencyLimitUpdate(
                    limit=found.limit, slot_decay_per_second=found.slot_decay_per_second, active=found.active))


def _fred_budget(burst: int, per_second: float) -> None:
    """netliq-fred on the harness's server set to this token bucket, its slots free (created if missing)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    with get_client(sync_client=True) as client:
        limits.ensure_limits(client, [limits.FRED])
        client.update_global_concurrency_limit(limits.FRED.name, GlobalConcurrencyLimitUpdate(
            limit=burst, slot_decay_per_second=per_second, active=True, active_slots=0))


def _checksums(root: Path) -> dict[str, str]:
    con = duckdb.connect(str(root / "netliq.duckdb"), read_only=True)
    try:
        return json.loads(con.execute("SELECT checksums FROM publishes ORDER BY version DESC LIMIT 1").fetchall()[0][0])
    finally:
        con.close()


def _raw(root: Path, series_id: str) -> list[tuple]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT obs_date, value, realtime_start, realtime_end FROM raw.observations "
                           "WHERE series_id = ? ORDER BY ALL", [series_id]).fetchall()
    finally:
        con.close()


@dataclass(frozen=True)
class Runs:
    default: RunSummary
    default_root: Path
    dask: RunSummary
    dask_root: Path
    requests: list[fred_http.Request]  # what arrived at the fake during the Dask run
    killed: list[fred_http.Request]  # the requests whose sender the fake killed
    workers: set[int]  # the pids of the Dask worker processes at the start
    default_requests: list[fred_http.Request]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness):
    """The default run, then the Dask run (the fake's log restarted between them)."""
    from prefect.settings import PREFECT_API_URL
    from prefect_dask import DaskTaskRunner

    tmp = tmp_path_factory.mktemp("dask")
    with pytest.MonkeyPatch.context() as mp, fred_http.FakeFredServer() as fake, _fred_budget_as_found():
        mp.setenv("FRED_API_KEY", FAKE_KEY)
        mp.setattr(pipeline, "_now", lambda: EVENING)
        fred_http.install(fake.base_url, mp.setattr)
        _fred_budget(1000, 1000.0)  # the default run is the reference, not under test: no waiting
        default_root = tmp / "default"
        default = daily(data_dir=str(default_root))
        default_requests = list(fake.requests)

        fake.clear()
        _fred_budget(BURST, PER_SECOND)
        # the workers reach the same Prefect API (the limits live there) as a remote cluster's
        # must: PREFECT_API_URL in their environment. The key travels with each task (a parameter).
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
            worker_dashboard_address=":0", local_directory=str(tmp / "dask"),
            env={"PREFECT_API_URL": PREFECT_API_URL.value()},
        ) as cluster, distributed.Client(cluster) as client:
            client.register_plugin(FakeSourcesPlugin(fake.base_url))
            workers = set(client.run(os.getpid).values())
            fake.kill_on(*KILLED)
            dask_root = tmp / "dask-run"
            on_dask = daily.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
            dask = on_dask(data_dir=str(dask_root))
        requests, killed = list(fake.requests), list(fake.killed)
    return Runs(default, default_root, dask, dask_root, requests, killed, workers, default_requests)


def test_the_dask_run_publishes_the_same_tables_as_the_default_runner(runs):
    assert runs.default.status == runs.dask.status == "published" and runs.default.version == runs.dask.version == 1
    assert runs.dask.row_counts == runs.default.row_counts
    assert _checksums(runs.dask_root) == _checksums(runs.default_root)
    # the fetches ran in the worker processes, both of them, not in this one
    pids = {r.pid for r in runs.requests}
    assert os.getpid() not in pids and len(pids & runs.workers) == 2


def test_the_fred_rate_limit_holds_across_the_worker_processes(runs):
    requests = sorted(runs.requests, key=lambda r: r.at)
    assert len(requests) > 4 * BURST
    times = [r.at for r in requests]
    # a token bucket of BURST slots refilling PER_SECOND lets through, in any stretch of time
    # from one arrival to another, at most BURST + PER_SECOND * (stretch + lag) requests
    excess = [
        (j - i + 1) - (BURST + PER_SECOND * (times[j] - times[i]))
        for i in range(len(times)) for j in range(i, len(times))
    ]
    worst = max(excess)
    assert worst <= PER_SECOND * GRANT_TO_ARRIVAL_S, f"{worst:.1f} requests more than the shared budget let through"
    # and the budget was what paced them, at least once: else this test could not tell
    assert worst >= -1, f"the FRED requests never came close to the budget (within {-worst:.1f}): nothing tested"
    span = times[-1] - times[0]
    print(f"{len(requests)} FRED requests in {span:.1f}s from {len({r.pid for r in requests})} processes, the worst "
          f"stretch {worst:+.2f} against the bucket (allowed at most {BURST + PER_SECOND * span:.0f} in all); "
          f"load {os.getloadavg()}")


def test_a_worker_killed_mid_fetch_is_retried_and_the_run_publishes(runs):
    requests = runs.requests
    assert len(runs.killed) == 1 and runs.killed[0].pid in runs.workers
    victim = runs.killed[0]
    assert not Path(f"/proc/{victim.pid}").exists()  # really gone (the nanny started a new worker)
    # the series was being fetched: its info and vintage dates answered, its observations not
    before = [r.endpoint for r in requests if r.series_id == "RRPONTSYD" and r.pid == victim.pid and r.at <= victim.at]
    assert before == ["series", "series/vintagedates", "series/observations"]
    # then fetched again from the start by another worker process, every request the default run made
    again = [r for r in requests if r.series_id == "RRPONTSYD" and r.at > victim.at]
    assert again and {r.pid for r in again}.isdisjoint({victim.pid})
    assert [r.endpoint for r in again] == [r.endpoint for r in runs.default_requests if r.series_id == "RRPONTSYD"]
    assert runs.dask.status == "published" and "RRPONTSYD" not in runs.dask.unavailable
    assert _raw(runs.dask_root, "RRPONTSYD") == _raw(runs.default_root, "RRPONTSYD")

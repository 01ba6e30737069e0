"""flows/warm_start.py and flows/serve.serve_flows: a served run is a fresh process forked
from a server that has imported the libraries, and it runs the flow as a spawned one would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def test_the_served_flow_validates_its_parameters_in_a_fresh_interpreter(tmp_path: Path):
    """The runner pickles the flow (cloudpickle) into the run's process, which validates the
    parameters against the function's annotations. They are text in flows/pipeline.py and
    the pickled function keeps only the globals its body reads: unresolved, every served run
    failed with "`DailyModel` is not fully defined" before its first step."""
    import cloudpickle

    from flows.pipeline import daily

    (tmp_path / "flow.pkl").write_bytes(cloudpickle.dumps(daily))
    code = ("import pickle, sys\n"
            "flow = pickle.loads(open(sys.argv[1], 'rb').read())\n"
            "params = flow.validate_parameters({'offline': True, 'as_of': '2025-06-04', 'backfill_start': None})\n"
            "print(type(params['as_of']).__name__, params['offline'])\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "flow.pkl")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["date", "True"]


@pytest.fixture
def prefect_engine_restored(monkeypatch):
    """install() rebinds a name in prefect.flow_engine: give it back after the test."""
    from prefect import flow_engine

    monkeypatch.setattr(flow_engine, "multiprocessing", flow_engine.multiprocessing)
    return flow_engine


def test_a_prefect_that_starts_runs_otherwise_is_left_as_it_is(prefect_engine_restored, monkeypatch):
    engine = prefect_engine_restored

    def run_flow_in_subprocess(flow, flow_run=None):  # a Prefect that starts runs some other way
        return None

    monkeypatch.setattr(engine, "run_flow_in_subprocess", run_flow_in_subprocess)
    before = engine.multiprocessing
    from flows import warm_start

    why = warm_start.install(preload=("json",))
    assert why == "this Prefect does not start flow runs with multiprocessing's spawn context"
    assert engine.multiprocessing is before


def test_installed_the_spawn_context_is_a_forkserver_that_preloaded(prefect_engine_restored):
    import multiprocessing

    from flows import warm_start

    assert warm_start.install(preload=("json",)) is None
    context = prefect_engine_restored.multiprocessing.get_context("spawn")
    assert context.get_start_method() == "forkserver"
    # every other use of multiprocessing in the engine module is the real one
    assert prefect_engine_restored.multiprocessing.get_context("fork") is multiprocessing.get_context("fork")
    assert prefect_engine_restored.multiprocessing.Queue is multiprocessing.Queue


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads process parents from Linux /proc")
def test_a_served_run_is_forked_from_the_warm_server(prefect_harness, tmp_path: Path):
    """netliq serve's path, for real: serve_flows in its own process against the harness's
    API, one run triggered. Its process is a child of the forkserver (not of the serve
    process, as a spawned run is), and Great Expectations was imported before the run's
    own code ran (the server's preload); the run completes. A run whose process is killed
    is reported crashed, and the next run starts and completes as before."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "probe.json"
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
              "from flows.serve import serve_flows\n"
              "from warm_probe import probe\n"
              f"serve_flows([(probe, {{'name': 'probe', 'parameters': {{'out': {str(out)!r}}}}})], query_seconds=1)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=PREFECT_API_URL.value(), PREFECT_HOME=str(tmp_path / "prefect-home"))
    serve = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        banner = []
        while not any("Trigger one with" in line for line in banner):  # registered, warm server started
            assert serve.poll() is None and time.monotonic() < deadline, "".join(banner)[-3000:]
            banner.append(serve.stdout.readline())
        assert "forked from a process that has their libraries imported" in "".join(banner)
        ours = banner[next(i for i, line in enumerate(banner) if line.startswith("Serving")):]
        assert max(len(line.rstrip("\n")) for line in ours) <= 80, ours  # an 80-column terminal
        run = run_deployment("warm-probe/probe", timeout=120, poll_interval=0.5)
        assert run.state.is_completed(), run.state
        seen = json.loads(out.read_text())
        servers = [pid for pid in _children(serve.pid)
                   if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert seen["ppid"] in servers, (seen["ppid"], servers, serve.pid)
        # the server's preload; polars asks not to be forked: each run imports it itself
        assert seen["loaded"] == ["duckdb", "great_expectations"]
        killed = run_deployment("warm-probe/probe", parameters={"kill": True}, timeout=120, poll_interval=0.5)
        assert killed.state.is_crashed(), killed.state
        again = run_deployment("warm-probe/probe", timeout=120, poll_interval=0.5)
        assert again.state.is_completed(), again.state
        assert json.loads(out.read_text())["pid"] not in (seen["pid"], serve.pid)
    finally:
        os.killpg(serve.pid, 9)
        serve.wait(timeout=30)

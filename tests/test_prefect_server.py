"""flows/prefect_server.py: the temporary Prefect server a run starts must not outlive the run.

The server tests use real processes: a child Python process plays netliq (enters
`owned_server`, reports the server's pid and URL to a file), the test process watches. Bounds
are generous (a loaded 2-core machine); the assertions are on the outcome, not on speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from flows import prefect_server
from flows.prefect_server import owned_server, uvicorn_command

ROOT = Path(__file__).resolve().parents[1]
LINUX = prefect_server._prctl is not None
needs_prctl = pytest.mark.skipif(not LINUX, reason="no prctl here: owned_server falls back to Prefect's own server")

# the server's start-up timeout in the children plus the child's own imports
START_BOUND_S = 300 + 120

CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path

    from prefect import flow
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    from flows.prefect_server import owned_server

    out, scenario = Path(sys.argv[1]), sys.argv[2]

    def report(name, **values):
        tmp = out / f"{name}.tmp"
        tmp.write_text(json.dumps(values))
        tmp.replace(out / f"{name}.json")

    def children():
        return sorted(int(pid) for task in Path("/proc/self/task").iterdir()
                      for pid in (task / "children").read_text().split())

    @flow
    def one():
        return 1

    t0 = time.monotonic()
    try:
        with owned_server(300) as server:
            report("server", pid=server.server_process.pid, api_url=server.api_url,
                   start_s=time.monotonic() - t0)
            if scenario == "interrupt":
                raise KeyboardInterrupt
            elif scenario == "flow":
                from prefect import get_client
                state = one(return_state=True)
                with get_client(sync_client=True) as client:
                    stored = client.read_flow_run(state.state_details.flow_run_id)
                report("flow", result=state.result(), stored_state=stored.state.type.value,
                       api_url_setting=PREFECT_API_URL.value(), children=children())
    except KeyboardInterrupt:
        pass
    report("after", api_url_setting=PREFECT_API_URL.value(), children=children(),
           default_server=SubprocessASGIServer._instances.get(None) is not None)
    sys.stdin.read()  # stay alive until the test has looked: the server must be gone by then
""")


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    # one Prefect database for this file's servers, apart from the other engineers' runs
    return tmp_path_factory.mktemp("prefect_home")


@pytest.fixture
def run_child(tmp_path: Path, prefect_home: Path):
    started: list[subprocess.Popen] = []
    servers: list[tuple[int, str]] = []

    def start(scenario: str) -> tuple[subprocess.Popen, Path]:
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        child = subprocess.Popen([sys.executable, str(script), str(tmp_path), scenario], cwd=ROOT, env=env,
                                 stdin=subprocess.PIPE, stdout=(tmp_path / "stdout").open("wb"),
                                 stderr=(tmp_path / "stderr").open("wb"))
        started.append(child)
        return child, tmp_path

    def note_server(pid: int) -> None:
        servers.append((pid, _start_time(pid)))

    start.note_server = note_server
    yield start
    # a failed test must not leave its own processes behind either
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()
    for pid, when in servers:
        if _alive(pid, when):
            os.kill(pid, signal.SIGKILL)


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime: tells a reused pid apart


def _alive(pid: int, start_time: str | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    # a zombie has died; it only waits for whoever adopted it to reap it
    return fields[0] not in ("Z", "X") and fields[19] == start_time


def _wait_report(child: subprocess.Popen, folder: Path, name: str) -> dict:
    deadline = time.monotonic() + START_BOUND_S
    path = folder / f"{name}.json"
    while not path.exists():
        if child.poll() is not None:
            pytest.fail(f"child exited {child.returncode} before reporting {name}:\n"
                        + (folder / "stderr").read_text()[-4000:])
        if time.monotonic() > deadline:
            pytest.fail(f"no {name} report in {START_BOUND_S} s:\n" + (folder / "stderr").read_text()[-4000:])
        time.sleep(0.2)
    return json.loads(path.read_text())


def _answers(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=30).status_code == 200
    except httpx.TransportError:
        return False


# The server dying with a SIGKILLed parent is tested end to end, on a real `netliq run`, in
# tests/test_recovery.py::test_a_killed_run_leaves_no_prefect_server_behind.


@pytest.mark.parametrize("scenario", ["exit", "interrupt"])
def test_leaving_the_block_stops_the_server(run_child, scenario):
    child, folder = run_child(scenario)
    server = _wait_report(child, folder, "server")
    run_child.note_server(server["pid"])
    after = _wait_report(child, folder, "after")

    # the child is still alive: it was the context manager that stopped the server, not PDEATHSIG
    assert child.poll() is None
    assert not _alive(server["pid"], _start_time(server["pid"]))
    assert not _answers(server["api_url"])
    assert after == {"api_url_setting": None, "children": [], "default_server": False}
    child.communicate(timeout=60)
    assert child.returncode == 0


@needs_prctl
def test_a_flow_runs_against_the_owned_server_and_nothing_else_starts(run_child):
    child, folder = run_child("flow")
    server = _wait_report(child, folder, "server")
    run_child.note_server(server["pid"])
    ran = _wait_report(child, folder, "flow")
    after = _wait_report(child, folder, "after")
    child.communicate(timeout=60)

    assert ran["result"] == 1
    assert ran["stored_state"] == "COMPLETED"  # read back from the owned server's database
    assert ran["api_url_setting"] == server["api_url"]
    assert ran["children"] == [server["pid"]]  # Prefect started no second, unowned server
    assert after["children"] == []
    assert child.returncode == 0
    stderr = (folder / "stderr").read_text()
    assert "Traceback" not in stderr and "ConnectError" not in stderr, stderr[-4000:]


def _own_children() -> list[int]:
    return sorted(int(pid) for task in Path("/proc/self/task").iterdir()
                  for pid in (task / "children").read_text().split())


@needs_prctl
def test_a_configured_api_url_starts_nothing():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = _own_children()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        with owned_server(300) as server:
            assert server is None
            assert _own_children() == before
            assert PREFECT_API_URL.value() == "http://127.0.0.1:9/api"


def test_the_command_is_prefects(monkeypatch):
    """The override repeats Prefect's uvicorn command: a Prefect upgrade that changes it lands here."""
    from prefect.server.api import server as prefect_server_module

    seen = {}

    def record(args, env, **kwargs):
        seen.update(args=args, env=env, kwargs=kwargs)

    monkeypatch.setattr(prefect_server_module.subprocess, "Popen", record)
    plain = object.__new__(prefect_server_module.SubprocessASGIServer)
    plain.port = 8123
    prefect_server_module.SubprocessASGIServer._run_uvicorn_command(plain)
    args, env = uvicorn_command(8123)
    assert (seen["args"], seen["env"], seen["kwargs"]) == (args, env, {})


@needs_prctl
def test_the_death_signal_survives_exec_and_a_dead_parent_stops_the_child():
    ask = "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)"
    tied = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, timeout=120,
                          preexec_fn=prefect_server._die_with(os.getpid()))
    assert (tied.returncode, tied.stdout.strip()) == (0, str(int(signal.SIGKILL)))

    # a child whose parent is not the one it was started for (the parent died before prctl)
    # must not go on to exec the server
    orphan = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, text=True, timeout=120,
                            preexec_fn=prefect_server._die_with(os.getppid()))
    assert (orphan.returncode, orphan.stdout) == (1, "")

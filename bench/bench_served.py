"""Latency of a SERVED daily run: trigger -> flow run COMPLETED, and trigger -> published file.

Starts a private `prefect server start` on a free loopback port (own PREFECT_HOME, so own
database), then, for each runner poll frequency asked for (default: Prefect's default and
1 s), a serve process running `flows.serve.deployments(offline=True, data_dir=TMP)` plus a
trivial flow served the same way (same process, same runner). It triggers
`run_deployment(..., timeout=0)` N times per deployment, alternating netliq / trivial, and
polls the API every 0.1 s until the run is final. The state history of each run splits the
latency into:

  wait    trigger -> PENDING      the runner's poll loop finding the scheduled run
  start   PENDING -> RUNNING      spawning a fresh Python process for the run and importing
                                  the flow's module in it (multiprocessing "spawn")
  body    RUNNING -> COMPLETED    the flow itself (netliq: fetch, check, rebuild, publish)
  finish  COMPLETED seen by the poller (up to 0.1 s late)

The first netliq run of each serve process publishes (fresh data dir); later ones find
nothing new. Server and serve processes are always killed (their process groups) at the end.

    uv run python bench/bench_served.py                 # N=5, poll frequencies "default,1"
    uv run python bench/bench_served.py -n 3 --poll 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    # this process is a client of the private server: its settings must be in the environment
    # before prefect is imported, or prefect falls back to a temporary in-process server
    PORT = free_port()
    TMP = Path(tempfile.mkdtemp(prefix="netliq-served-"))
    os.environ["PREFECT_HOME"] = str(TMP / "prefect-home")
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{PORT}/api"

from prefect import flow  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
NETLIQ = "netliq-daily/netliq-daily"
TRIVIAL = "bench-trivial/bench-trivial"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@flow(name="bench-trivial")
def trivial() -> int:
    """The smallest flow, served the same way as netliq-daily, for comparison."""
    return 1


SERVE_SCRIPT = """
import sys
sys.path.insert(0, {bench!r})
from prefect import serve
from flows.serve import check_api, deployments
from bench_served import trivial
check_api()
serve(*deployments(offline=True, data_dir={data!r}), trivial.to_deployment(name="bench-trivial"))
"""


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "w")
    # own session: the whole group (the process and the flow-run children it spawns) is killed at the end
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_health(url: str, proc: subprocess.Popen, timeout: float) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see bench/out/logs/served_server.log")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url}/health did not answer in {timeout:.0f} s")


def wait_deployments(names: list[str], proc: subprocess.Popen, timeout: float) -> float:
    from prefect.client.orchestration import get_client

    t0 = time.perf_counter()
    with get_client(sync_client=True) as client:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"serve process exited with {proc.returncode}; see its log in bench/out/logs/")
            try:
                for name in names:
                    client.read_deployment_by_name(name)
                return time.perf_counter() - t0
            except Exception:
                time.sleep(0.2)
    raise TimeoutError(f"deployments {names} not registered in {timeout:.0f} s")


def one_run(name: str, published: Path | None, timeout: float) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    mtime0 = published.stat().st_mtime_ns if published and published.exists() else None
    t_trigger_wall = time.time()
    t0 = time.perf_counter()
    run = run_deployment(name, timeout=0)
    t_created = time.perf_counter() - t0
    t_published = None
    state = None
    with get_client(sync_client=True) as client:
        while time.perf_counter() - t0 < timeout:
            if published is not None and t_published is None and published.exists():
                if published.stat().st_mtime_ns != mtime0:
                    t_published = time.perf_counter() - t0
            state = client.read_flow_run(run.id).state
            if state is not None and state.type.value in FINAL:
                break
            time.sleep(0.1)
        t_final = time.perf_counter() - t0
        states = client.read_flow_run_states(run.id)
    marks = {}
    for s in states:  # first time each state type was entered, relative to the trigger
        marks.setdefault(s.type.value, s.timestamp.timestamp() - t_trigger_wall)
    return {
        "deployment": name,
        "flow_run_id": str(run.id),
        "final_state": state.type.value if state else None,
        "timed_out": state is None or state.type.value not in FINAL,
        "create_s": round(t_created, 3),
        "to_final_s": round(t_final, 3),
        "to_published_s": None if t_published is None else round(t_published, 3),
        "pending_s": _r(marks.get("PENDING")),
        "running_s": _r(marks.get("RUNNING")),
        "completed_s": _r(marks.get("COMPLETED")),
    }


def _r(x):
    return None if x is None else round(x, 3)


def phases(run: dict) -> dict:
    p, r, c = run["pending_s"], run["running_s"], run["completed_s"]
    return {
        "wait": p,
        "start": None if p is None or r is None else r - p,
        "body": None if r is None or c is None else c - r,
    }


def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="triggers per deployment per poll frequency (default 5)")
    parser.add_argument("--poll", default="default,1",
                        help="PREFECT_RUNNER_POLL_FREQUENCY values, comma-separated; 'default' leaves it unset")
    parser.add_argument("--report", action="store_true", help="let the publish draw the charts (NETLIQ_REPORT unset)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per run before giving up")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    logs = OUT / "logs"
    tmp, port = TMP, PORT
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_HOME=str(tmp / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                GX_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    if not args.report:
        base["NETLIQ_REPORT"] = "0"
    from prefect.settings import get_current_settings  # noqa: E402  (after the env is set)

    default_poll = get_current_settings().runner.poll_frequency
    result = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                          "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
              "api": api, "n": args.n, "default_poll_frequency_s": default_poll,
              "report_drawn": args.report, "modes": []}
    server = serve_proc = None
    try:
        server = start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                        "--port", str(port)], base, logs / "served_server.log")
        result["server_start_s"] = round(wait_health(api, server, 180), 2)
        print(f"server up at {api} in {result['server_start_s']} s")
        for poll in [p.strip() for p in args.poll.split(",") if p.strip()]:
            env = dict(base, PREFECT_API_URL=api)
            if poll != "default":
                env["PREFECT_RUNNER_POLL_FREQUENCY"] = poll
            data = tmp / f"data-poll-{poll}"
            script = SERVE_SCRIPT.format(bench=str(ROOT / "bench"), data=str(data))
            serve_proc = start([sys.executable, "-c", script], env, logs / f"served_serve_poll-{poll}.log")
            t_reg = wait_deployments([NETLIQ, TRIVIAL], serve_proc, 180)
            time.sleep(1)  # let the runner enter its poll loop
            mode = {"poll_frequency_s": default_poll if poll == "default" else float(poll),
                    "poll": poll, "registered_s": round(t_reg, 2), "runs": []}
            published = data / "netliq.duckdb"
            for i in range(args.n):
                for name in (NETLIQ, TRIVIAL):
                    run = one_run(name, published if name == NETLIQ else None, args.timeout)
                    run["index"] = i
                    mode["runs"].append(run)
                    print(f"poll={poll:>7} {name:28} #{i}: {run['final_state']} in {run['to_final_s']} s"
                          + (f", published at {run['to_published_s']} s" if run["to_published_s"] else "")
                          + f"  (pending {run['pending_s']}, running {run['running_s']})", flush=True)
            stop(serve_proc)
            serve_proc = None
            mode["summary"] = summarize(mode["runs"])
            result["modes"].append(mode)
    finally:
        stop(serve_proc)
        stop(server)
    result["machine"]["loadavg_after"] = os.getloadavg()
    table(result)
    (OUT / "bench_served.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {OUT / 'bench_served.json'}; logs in {logs}/served_*.log")
    return 0


def summarize(runs: list[dict]) -> dict:
    out = {}
    for name, key in ((NETLIQ, "netliq"), (TRIVIAL, "trivial")):
        rs = [r for r in runs if r["deployment"] == name and not r["timed_out"]]
        ph = [phases(r) for r in rs]
        out[key] = {
            "ok": sum(r["final_state"] == "COMPLETED" for r in rs), "n": len([r for r in runs if r["deployment"] == name]),
            "to_completed_median_s": med(r["to_final_s"] for r in rs),
            "to_completed_min_s": min((r["to_final_s"] for r in rs), default=None),
            "wait_median_s": med(p["wait"] for p in ph),
            "start_median_s": med(p["start"] for p in ph),
            "body_median_s": med(p["body"] for p in ph),
        }
        if key == "netliq":
            first = [r for r in rs if r["index"] == 0]
            out[key]["first_to_published_s"] = first[0]["to_published_s"] if first else None
            out[key]["first_to_completed_s"] = first[0]["to_final_s"] if first else None
            out[key]["later_to_completed_median_s"] = med(r["to_final_s"] for r in rs if r["index"] > 0)
    n, t = out["netliq"]["to_completed_median_s"], out["trivial"]["to_completed_median_s"]
    out["ratio_netliq_over_trivial"] = round(n / t, 2) if n and t else None
    return out


def table(result: dict) -> None:
    print("\nmedians, seconds from trigger (run_deployment(timeout=0)) | wait = to PENDING (runner poll), "
          "start = PENDING->RUNNING (process spawn + imports), body = RUNNING->COMPLETED")
    head = f"{'poll s':>7} {'flow':8} {'ok/n':>5} {'->done':>7} {'wait':>6} {'start':>6} {'body':>6} {'1st->published':>15}"
    print(head)
    print("-" * len(head))
    for mode in result["modes"]:
        s = mode["summary"]
        for key in ("netliq", "trivial"):
            x = s[key]
            pub = x.get("first_to_published_s")
            print(f"{mode['poll_frequency_s']:>7g} {key:8} {x['ok']:>2}/{x['n']:<2} {_f(x['to_completed_median_s'])} "
                  f"{_f(x['wait_median_s'], 6)} {_f(x['start_median_s'], 6)} {_f(x['body_median_s'], 6)} "
                  f"{_f(pub, 15) if key == 'netliq' else '':>15}")
        print(f"{'':7} ratio served netliq / served trivial (->done medians): {s['ratio_netliq_over_trivial']}")


def _f(x, w=7):
    return f"{x:>{w}.2f}" if isinstance(x, (int, float)) else f"{'-':>{w}}"


if __name__ == "__main__":
    sys.exit(main())

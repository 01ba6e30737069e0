"""Latency of a SERVED daily run: trigger -> flow run COMPLETED, for an unchanged day and for a
day that publishes, with a Prefect server and `netliq serve` already running.

Starts a private `prefect server start` on a free loopback port (own PREFECT_HOME, so own
database), then, for each runner poll frequency asked for (default: netliq serve's own, 1 s;
"10" is Prefect's default), a serve process serving what `netliq serve` serves
(`flows.serve.serve_flows` of `served_flows(offline=True, data_dir=TMP)`, runs forked from the
warm server of flows/warm_start.py) with netliq serve's runner options, plus a trivial flow
served the same way (same process, same runner). Two replay folders, A (the snapshot) and
B (A with the last RRPONTSYD value raised by 1), are given as flow parameters (`offline=False, from_dir=...`):
a run on the folder last published finds nothing new, a run on the other one publishes. The
first run (A, fresh data dir) publishes version 1 and is reported apart. Then each round
triggers, with `run_deployment(..., timeout=0)`, an unchanged netliq run, a publishing
netliq run (switching folders) and the trivial flow, and polls the API every 0.1 s until
each run is final. Before each trigger it waits until the serve process has no flow-run
process left (a run reports COMPLETED, then its process takes 1-2 s more to exit: Prefect's
heartbeat thread, its log and event workers): a daily trigger finds the runner idle. That
wait is printed per run ("the previous run's process exited N s after its end"). The state history of each run splits the latency into:

  wait    trigger -> PENDING      the runner's poll loop finding the scheduled run
  start   PENDING -> RUNNING      forking the run's process from the warm server, which
                                  unpickles the flow and imports netliq's modules and polars
  body    RUNNING -> COMPLETED    the flow itself (netliq: fetch, check, rebuild, publish)

With each poll the run's process is sampled for its peak RSS and its PSS (/proc). Last,
unless --no-imports, a second serve process with PYTHONPROFILEIMPORTTIME=1 runs one
unchanged and one publishing day: the flow-run process's `-X importtime` lines (they go to
the serve log) give what it imported itself and how long each heavy package took, and
whether Great Expectations, Altair or vl-convert loaded (what the warm server imported
once, before any run, is listed apart: flows.warm_start.PRELOAD). Those two runs are not in
the medians.
The load average is recorded before and after. Server and serve processes are always
killed (their process groups) at the end.

    uv run python bench/bench_served.py                 # N=3, netliq serve's poll (1 s); ~3 minutes
    uv run python bench/bench_served.py -n 5 --poll 1,10 --report
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import procs  # bench/procs.py (this script is run from bench/ as a file)
from procs import stop


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

from flows.warm_start import PRELOAD  # noqa: E402

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
from flows.serve import check_api, runner_options, serve_flows, served_flows
from bench_served import trivial
check_api()
serve_flows([*served_flows(offline=True, data_dir={data!r}), (trivial, {{"name": "bench-trivial"}})],
            **runner_options())
"""
SNAPSHOT = ROOT / "data" / "snapshot"
CHANGED_FILE = Path("fred") / "RRPONTSYD.csv"
HEAVY = ("great_expectations", "altair", "vl_convert", "pandas", "scipy", "sqlalchemy", "yfinance", "fredapi",
         "prefect", "polars", "duckdb", "expectations", "transforms", "warehouse", "flows.report")


def replay_folders(tmp: Path) -> tuple[Path, Path]:
    """A: the snapshot as it is; B: the same with the last RRPONTSYD value raised by 1 (a
    revision of the newest observation, inside the revision window: a run on B after A
    publishes, and back)."""
    a, b = tmp / "replay-a", tmp / "replay-b"
    for folder in (a, b):
        if not folder.exists():
            shutil.copytree(SNAPSHOT, folder)
    lines = (a / CHANGED_FILE).read_text().splitlines()
    head, last = lines[0].split(","), lines[-1].split(",")
    col = head.index("value") if "value" in head else len(head) - 1
    last[col] = repr(float(last[col]) + 1.0)
    (b / CHANGED_FILE).write_text("\n".join(lines[:-1] + [",".join(last)]) + "\n")
    return a, b


def import_times(text: str) -> dict:
    """From `-X importtime` lines of one process: cumulative ms of the top-level import of
    each heavy package, and which of them were imported at all."""
    top: dict[str, float] = {}
    seen: set[str] = set()
    for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", text):
        name = m.group(4)
        for pkg in HEAVY:
            if name == pkg or name.startswith(pkg + "."):
                seen.add(pkg)
                if name == pkg:  # a package's own line is its whole (first) import
                    # (the flow's own module is loaded from its entrypoint path, under another name)
                    top[pkg] = max(top.get(pkg, 0.0), int(m.group(2)) / 1000)
    return {"imported": sorted(seen), "not_imported": [p for p in HEAVY if p not in seen],
            "cumulative_ms": {k: round(v) for k, v in sorted(top.items(), key=lambda kv: -kv[1])}}


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # own session: the whole group (the process and the flow-run children it spawns) is killed at the end
    return procs.start(cmd, env, ROOT, log)


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


def memory_kib(pid: int) -> dict[str, int]:
    """A process's peak RSS (VmHWM) and its current proportional set size (Pss: shared pages
    split between the processes sharing them, so a fork's inherited libraries count once
    across the server and its runs), in KiB; {} once it is gone."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0]] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def one_run(name: str, published: Path | None, timeout: float, parameters: dict | None = None,
            serve_pid: int | None = None) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    mtime0 = published.stat().st_mtime_ns if published and published.exists() else None
    t_trigger_wall = time.time()
    t0 = time.perf_counter()
    run = run_deployment(name, timeout=0, parameters=parameters or {})
    t_created = time.perf_counter() - t0
    t_published = None
    state = None
    peak = {"VmHWM": 0, "Pss": 0}  # of the run's process, sampled with each poll
    with get_client(sync_client=True) as client:
        while time.perf_counter() - t0 < timeout:
            for pid in children(serve_pid) if serve_pid else ():
                for key, kib in memory_kib(pid).items():
                    if key in peak:
                        peak[key] = max(peak[key], kib)
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
        "run_peak_rss_mib": round(peak["VmHWM"] / 1024) or None,
        "run_peak_pss_mib": round(peak["Pss"] / 1024) or None,
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
    parser.add_argument("-n", type=int, default=3, help="rounds per poll frequency (default 3): each one "
                        "unchanged run, one publishing run, one trivial run")
    parser.add_argument("--poll", default="netliq",
                        help="runner poll frequencies, comma-separated; 'netliq' = netliq serve's own (1 s), "
                             "a number sets PREFECT_RUNNER_POLL_FREQUENCY (Prefect's default is 10)")
    parser.add_argument("--report", action="store_true",
                        help="let each publish start the report's drawing process (NETLIQ_REPORT unset)")
    parser.add_argument("--no-imports", action="store_true", help="skip the -X importtime pass")
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
    folders = replay_folders(tmp)
    result = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                          "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
              "api": api, "n": args.n, "report_drawn": args.report, "modes": []}
    server = serve_proc = None
    passes = [p.strip() for p in args.poll.split(",") if p.strip()]
    try:
        server = start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                        "--port", str(port)], base, logs / "served_server.log")
        result["server_start_s"] = round(wait_health(api, server, 180), 2)
        print(f"server up at {api} in {result['server_start_s']} s")
        for poll in passes + ([] if args.no_imports else ["imports"]):
            env = dict(base, PREFECT_API_URL=api)
            if poll not in ("netliq", "imports"):
                env["PREFECT_RUNNER_POLL_FREQUENCY"] = poll
            if poll == "imports":
                env["PYTHONPROFILEIMPORTTIME"] = "1"
            data = tmp / f"data-{poll}"
            script = SERVE_SCRIPT.format(bench=str(ROOT / "bench"), data=str(data))
            log = logs / f"served_serve_{poll}.log"
            serve_proc = start([sys.executable, "-c", script], env, log)
            t_reg = wait_deployments([NETLIQ, TRIVIAL], serve_proc, 180)
            time.sleep(1)  # let the runner enter its poll loop
            mode = {"poll": poll, "poll_frequency_s": 1.0 if poll in ("netliq", "imports") else float(poll),
                    "registered_s": round(t_reg, 2), "runs": []}
            published = data / "netliq.duckdb"
            current = 0  # the folder last published

            def trigger(kind: str, index: int) -> dict:
                nonlocal current
                # a daily trigger finds the runner idle: the previous run's process, which
                # reported COMPLETED, may still be exiting; wait for it, and say how long
                settled = settle(serve_proc.pid, args.timeout)
                if kind == "trivial":
                    run = one_run(TRIVIAL, None, args.timeout, serve_pid=serve_proc.pid)
                else:
                    if kind == "publishing":
                        current = 1 - current
                    # data_dir too: a deployment re-registered by the next serve process may
                    # still carry the previous one's defaults when the first trigger arrives
                    params = {"offline": False, "from_dir": str(folders[current]), "data_dir": str(data)}
                    offset = log.stat().st_size
                    run = one_run(NETLIQ, published, args.timeout, params, serve_pid=serve_proc.pid)
                    if poll == "imports":
                        time.sleep(0.5)  # the child's last lines
                        with open(log, errors="replace") as handle:
                            handle.seek(offset)
                            run["imports"] = import_times(handle.read())
                run.update(kind=kind, index=index, previous_exit_s=settled)
                mode["runs"].append(run)
                print(f"{poll:>7} {kind:10} #{index}: {run['final_state']} in {run['to_final_s']} s"
                      + (f", published at {run['to_published_s']} s" if run["to_published_s"] else "")
                      + f"  (pending {run['pending_s']}, running {run['running_s']};"
                      f" the previous run's process exited {settled} s after its end)", flush=True)
                return run

            trigger("first", 0)  # version 1 of a fresh data dir: not a daily run's cost
            rounds = 1 if poll == "imports" else args.n
            for i in range(rounds):
                for kind in ("unchanged", "publishing", "trivial"):
                    trigger(kind, i)
            mode["resident"] = {"serve process": memory_kib(serve_proc.pid)}
            for pid in _children_of(serve_proc.pid):
                if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    mode["resident"]["warm server (flows/warm_start.py)"] = memory_kib(pid)
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


def children(pid: int) -> list[int]:
    """The flow-run processes of the serve process `pid`: its children (Linux /proc), and
    the children of its multiprocessing forkserver (flows/warm_start.py), which forks each
    run; not the forkserver itself nor the resource tracker, which live as long as serve."""
    out = []
    for child in _children_of(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if b"forkserver" in cmdline:
            out += _children_of(child)
        elif b"resource_tracker" not in cmdline:
            out.append(child)
    return out


def _children_of(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def settle(pid: int, timeout: float) -> float:
    """Seconds until the serve process `pid` has no flow-run process left (0 when none)."""
    t0 = time.perf_counter()
    while children(pid) and time.perf_counter() - t0 < timeout:
        time.sleep(0.05)
    return round(time.perf_counter() - t0, 2)


def summarize(runs: list[dict]) -> dict:
    out = {}
    for kind in ("first", "unchanged", "publishing", "trivial"):
        rs = [r for r in runs if r["kind"] == kind and not r["timed_out"]]
        ph = [phases(r) for r in rs]
        out[kind] = {
            "ok": sum(r["final_state"] == "COMPLETED" for r in rs), "n": len([r for r in runs if r["kind"] == kind]),
            "to_completed_median_s": med(r["to_final_s"] for r in rs),
            "to_completed_min_s": min((r["to_final_s"] for r in rs), default=None),
            "to_published_median_s": med(r["to_published_s"] for r in rs),
            "wait_median_s": med(p["wait"] for p in ph),
            "start_median_s": med(p["start"] for p in ph),
            "body_median_s": med(p["body"] for p in ph),
            "previous_exit_median_s": med(r["previous_exit_s"] for r in rs),
            "run_peak_rss_median_mib": med(r.get("run_peak_rss_mib") for r in rs),
            "run_peak_pss_median_mib": med(r.get("run_peak_pss_mib") for r in rs),
        }
        imports = [r["imports"] for r in rs if "imports" in r]
        if imports:
            out[kind]["imports"] = imports[0]
    t = out["trivial"]["to_completed_median_s"]
    for kind in ("unchanged", "publishing"):
        n = out[kind]["to_completed_median_s"]
        out[kind]["ratio_over_trivial"] = round(n / t, 2) if n and t else None
    return out


def table(result: dict) -> None:
    print(f"\nload average before {result['machine']['loadavg_before']}, after {result['machine']['loadavg_after']} "
          f"({result['machine']['cpus']} CPUs)")
    print("medians, seconds from trigger (run_deployment(timeout=0)) | wait = to PENDING (runner poll), "
          "start = PENDING->RUNNING (fork + imports), body = RUNNING->COMPLETED")
    head = (f"{'poll':>7} {'run':10} {'ok/n':>5} {'->done':>7} {'wait':>6} {'start':>6} {'body':>6} "
            f"{'->published':>11} {'/trivial':>8}")
    print(head)
    print("-" * len(head))
    for mode in result["modes"]:
        s = mode["summary"]
        for kind in ("first", "unchanged", "publishing", "trivial"):
            x = s[kind]
            print(f"{mode['poll']:>7} {kind:10} {x['ok']:>2}/{x['n']:<2} {_f(x['to_completed_median_s'])} "
                  f"{_f(x['wait_median_s'], 6)} {_f(x['start_median_s'], 6)} {_f(x['body_median_s'], 6)} "
                  f"{_f(x['to_published_median_s'], 11)} {_f(x.get('ratio_over_trivial'), 8)}")
        print(f"  {mode['poll']}: peak of the run's process, MiB (median RSS / PSS): " + "; ".join(
            f"{kind} {_m(s[kind]['run_peak_rss_median_mib'])} / {_m(s[kind]['run_peak_pss_median_mib'])}"
            for kind in ("unchanged", "publishing", "trivial")))
        for who, kib in mode.get("resident", {}).items():
            print(f"  {mode['poll']}: {who} at the end: RSS {_m(kib.get('VmRSS', 0) / 1024)} MiB, "
                  f"PSS {_m(kib.get('Pss', 0) / 1024)} MiB")
        for kind in ("unchanged", "publishing"):
            imp = s[kind].get("imports")
            if imp:
                print(f"    libraries imported once by the warm server, before any run: {', '.join(PRELOAD)}")
                print(f"  imports of the flow-run process, {kind} day (ms, cumulative, under -X importtime): "
                      + ", ".join(f"{k} {v}" for k, v in imp["cumulative_ms"].items()))
                print(f"    not imported by the run's process: {', '.join(imp['not_imported']) or 'none'}")


def _m(mib) -> str:
    return "-" if not mib else f"{mib:,.0f}"


def _f(x, w=7):
    return f"{x:>{w}.2f}" if isinstance(x, (int, float)) else f"{'-':>{w}}"


if __name__ == "__main__":
    sys.exit(main())

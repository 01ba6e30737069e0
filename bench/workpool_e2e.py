"""The operator's path end to end: prefect.yaml's deployments run by a worker of a process work pool.

1. starts `prefect server start` on a free loopback port, with its own PREFECT_HOME (own database)
   under a temporary directory, which also holds the run's NETLIQ_DATA_DIR: nothing of the user's
   Prefect or netliq data is read or written;
2. creates the process work pool `default` (the pool prefect.yaml names);
3. `prefect --no-prompt deploy --all` from prefect.yaml, in the checkout, and checks that every
   deployment got the checkout pull step (flows/workdir.py);
4. starts `prefect worker start --pool default` in ANOTHER directory (a fresh one under the
   temporary directory, PWD set to it), so the pull step is what finds the checkout;
5. triggers `netliq-daily/netliq-daily` with `offline=true` (the worker has no network: the
   bundled snapshot), waits for it, then `netliq-daily/netliq-as-of` with `offline=true` and
   `as_of` (one after the other: a data dir takes one run at a time);
6. checks the published file (version 1, its tables and row counts against the run's table
   artifact), the as-of file, each run's artifacts (`netliq-run-summary`, `netliq-tables`), and
   that no file under the checkout's own data/ changed.

It reports, per run, trigger -> completed in seconds and where the time went (the worker's poll
finding the run, the flow-run process starting, the flow itself), with the load average before and
after. Server and worker are always stopped (their process groups), on any failure or Ctrl-C too.
Exit 0 when every check passed, 1 otherwise; `--json PATH` writes the figures and checks.

    uv run python bench/workpool_e2e.py                       # ~2-3 minutes on 2 cores
    uv run python bench/workpool_e2e.py --json bench/out/workpool_e2e.json --keep
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import procs  # bench/procs.py (this script is run from bench/ as a file)
from procs import start

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))  # the CLI of this environment, as `uv run prefect`
POOL = "default"
DAILY, AS_OF = "netliq-daily/netliq-daily", "netliq-daily/netliq-as-of"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
PULL = [{"flows.workdir.enter_checkout": {}}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def stop(proc: subprocess.Popen | None) -> None:
    procs.stop(proc, interrupt_wait_s=15)  # a worker finishing a flow run gets longer than serve


def run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> float:
    """Run a CLI step to its end; its seconds. RuntimeError naming the log when it fails."""
    t0 = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[1:])}` exited {done.returncode}; see {log}")
    return time.perf_counter() - t0


def wait_health(api: str, proc: subprocess.Popen, log: Path, timeout: float) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{api}/health did not answer in {timeout:.0f} s; see {log}")


def trigger_and_wait(name: str, parameters: dict, worker: subprocess.Popen, timeout: float) -> dict:
    """Trigger a deployment run, poll it until it is final; trigger -> each state, in seconds."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    t_trigger = time.time()
    flow_run = run_deployment(name, parameters=parameters, timeout=0)
    state = None
    with get_client(sync_client=True) as client:
        while time.time() - t_trigger < timeout:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode} while {name} ran")
            state = client.read_flow_run(flow_run.id).state
            if state is not None and state.type.value in FINAL:
                break
            time.sleep(0.2)
        t_final = time.time() - t_trigger
        states = client.read_flow_run_states(flow_run.id)
    marks: dict[str, float] = {}
    for s in states:  # the first time the run entered each state, from the trigger
        marks.setdefault(s.type.value, round(s.timestamp.timestamp() - t_trigger, 2))
    return {"deployment": name, "parameters": parameters, "flow_run_id": str(flow_run.id),
            "final_state": state.type.value if state else None,
            "state_message": state.message if state else None,
            "seen_final_s": round(t_final, 2), "pending_s": marks.get("PENDING"),
            "running_s": marks.get("RUNNING"), "completed_s": marks.get("COMPLETED")}


def artifacts(flow_run_id: str) -> dict[str, object]:
    """The run's artifacts by key: the markdown text, or the table's rows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
            any_=[flow_run_id])))
    out: dict[str, object] = {}
    for a in found:
        out[a.key] = json.loads(a.data) if a.type == "table" and isinstance(a.data, str) else a.data
    return out


def read_file(path: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def check_published(data: Path, daily: dict, tables: object) -> list[str]:
    """Problems with the published file and the daily run's artifacts (empty: all good)."""
    problems = []
    published = data / "netliq.duckdb"
    if not published.is_file():
        return [f"no published file at {published}"]
    versions = read_file(published, "SELECT version, run_id FROM publishes ORDER BY version")
    if [v for v, _ in versions] != [1] or versions[0][1] != daily["flow_run_id"]:
        problems.append(f"publishes: expected version 1 by run {daily['flow_run_id']}, found {versions}")
    names = {t for (t,) in read_file(published, "SELECT table_name FROM duckdb_tables()")}
    rows = {r["table"]: r["rows"] for r in tables} if isinstance(tables, list) else {}
    if not rows:
        problems.append("the daily run has no netliq-tables artifact")
    for table, n in rows.items():
        got = read_file(published, f'SELECT count(*) FROM "{table}"')[0][0] if table in names else None
        if got != n:
            problems.append(f"{table}: the artifact says {n} rows, the published file has {got}")
    return problems


def checkout_data() -> dict[str, int]:
    """Every file under the checkout's data/ with its mtime: the user's own, which must not change."""
    return {str(p): p.stat().st_mtime_ns for p in sorted((ROOT / "data").rglob("*")) if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", default="2025-06-04", type=dt.date.fromisoformat,
                        help="the as-of run's date (default 2025-06-04)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per step or run before giving up")
    parser.add_argument("--json", type=Path, help="write the figures and checks here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data, Prefect home)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="netliq-workpool-"))
    logs, data, elsewhere = tmp / "logs", tmp / "data", tmp / "elsewhere"
    for folder in (logs, elsewhere):
        folder.mkdir()
    api = f"http://127.0.0.1:{free_port()}/api"
    # the user's Prefect profile, server and netliq data stay out of it: own PREFECT_HOME, own data dir
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NETLIQ_"))}
    env.update(PREFECT_HOME=str(tmp / "prefect-home"), PREFECT_API_URL=api, NETLIQ_DATA_DIR=str(data),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", GX_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
               NETLIQ_REPORT="0")  # the charts are drawn by a process of their own; not this path's concern
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL")})  # this process is a client too
    report: dict = {"load_before": loadavg(), "steps_s": {}, "runs": [], "problems": [], "tmp": str(tmp),
                    "api": api}
    server = worker = None
    users_data = checkout_data()
    try:
        port = api.split(":")[2].split("/")[0]
        server = start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port], env, tmp,
                       logs / "server.log")
        report["steps_s"]["server_healthy"] = round(wait_health(api, server, logs / "server.log", args.timeout), 2)
        report["steps_s"]["work_pool_create"] = round(run(
            [PREFECT, "work-pool", "create", POOL, "--type", "process"], env, ROOT, logs / "pool.log",
            args.timeout), 2)
        report["steps_s"]["deploy_all"] = round(run(
            [PREFECT, "--no-prompt", "deploy", "--all"], env, ROOT, logs / "deploy.log", args.timeout), 2)
        report["problems"] += check_deployments()
        worker_env = {**env, "PWD": str(elsewhere)}
        worker = start([PREFECT, "worker", "start", "--pool", POOL], worker_env, elsewhere, logs / "worker.log")
        for name, parameters in ((DAILY, {"offline": True}), (AS_OF, {"offline": True, "as_of": str(args.as_of)})):
            result = trigger_and_wait(name, parameters, worker, args.timeout)
            result["artifacts"] = artifacts(result["flow_run_id"])
            result["load_after"] = loadavg()
            report["runs"].append(result)
            if result["final_state"] != "COMPLETED":
                report["problems"].append(f"{name}: ended {result['final_state']}: {result['state_message']}")
        report["problems"] += check_runs(report["runs"], data, args.as_of)
        if checkout_data() != users_data:
            report["problems"].append(f"files under {ROOT / 'data'} (the user's data dir) changed")
    except Exception as exc:  # noqa: BLE001 - reported as a failed check, after the teardown below
        report["problems"].append(f"{type(exc).__name__}: {exc}")
    finally:
        stop(worker)
        stop(server)
        report["load_after"] = loadavg()
        report["worker_log_tail"] = _tail(logs / "worker.log")
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if not args.keep and not report["problems"]:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if report["problems"] else 0


def check_deployments() -> list[str]:
    from prefect.client.orchestration import get_client

    problems = []
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if deployment.pull_steps != PULL:
                problems.append(f"deployment {deployment.name}: pull steps {deployment.pull_steps}, not {PULL}")
            if deployment.work_pool_name != POOL:
                problems.append(f"deployment {deployment.name}: work pool {deployment.work_pool_name}, not {POOL}")
    return problems


def check_runs(runs: list[dict], data: Path, as_of: dt.date) -> list[str]:
    problems = []
    by_name = {r["deployment"]: r for r in runs}
    daily, rebuilt = by_name.get(DAILY), by_name.get(AS_OF)
    if daily and daily["final_state"] == "COMPLETED":
        summary = str(daily["artifacts"].get("netliq-run-summary", ""))
        if "published version 1" not in summary:
            problems.append(f"daily run summary artifact does not say 'published version 1': {summary[:200]!r}")
        problems += check_published(data, daily, daily["artifacts"].get("netliq-tables"))
    if rebuilt and rebuilt["final_state"] == "COMPLETED":
        path = data / "as_of" / f"netliq-as-of-{as_of}.duckdb"
        summary = str(rebuilt["artifacts"].get("netliq-run-summary", ""))
        if not path.is_file():
            problems.append(f"no as-of file at {path}")
        elif not read_file(path, "SELECT count(*) FROM net_liquidity_weekly")[0][0]:
            problems.append(f"{path}: net_liquidity_weekly is empty")
        if f"as known at the end of {as_of}" not in summary:
            problems.append(f"as-of run summary artifact does not name {as_of}: {summary[:200]!r}")
        published = read_file(data / "netliq.duckdb", "SELECT max(version) FROM publishes")[0][0]
        if published != 1:
            problems.append(f"the as-of run changed the published file: version {published}")
    return problems


def _tail(path: Path, lines: int = 15) -> list[str]:
    return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []


def print_report(report: dict) -> None:
    print(f"load average before: {report['load_before']}")
    for step, seconds in report["steps_s"].items():
        print(f"  {step:<18} {seconds:7.2f} s")
    for r in report["runs"]:
        print(f"{r['deployment']} {json.dumps(r['parameters'])}: {r['final_state']}, trigger -> completed "
              f"{r['completed_s']} s (pending {r['pending_s']} s: the worker's poll; running {r['running_s']} s: "
              f"the flow-run process started; seen final {r['seen_final_s']} s); load after: {r['load_after']}")
    print(f"load average after: {report['load_after']}")
    if report["problems"]:
        print("PROBLEMS:")
        for p in report["problems"]:
            print(f"  - {p}")
        print(f"logs kept in {report['tmp']}/logs; worker log ends:")
        for line in report["worker_log_tail"]:
            print(f"    {line}")
    else:
        print("all checks passed: deployments, published file, as-of file, artifacts")


if __name__ == "__main__":
    sys.exit(main())

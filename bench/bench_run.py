"""Benchmark (not a test): what does `netliq run --offline` cost next to a trivial Prefect flow?

    uv run python bench/bench_run.py              # 3 rounds, about 3-5 minutes on 2 cores
    uv run python bench/bench_run.py --repeat 5 --budget 600
    uv run python bench/bench_run.py --pyc-check  # also time the imports with a warm bytecode cache
    uv run python bench/bench_run.py --project /tmp/netliq-head   # another checkout, same environment

Each round runs, as separate processes with the same Python, working directory and environment
(so the same ephemeral Prefect server mode):

  1. netliq, publish:   python -m flows.cli --data-dir <fresh tmp dir> run --offline
  2. trivial flow:      python <tmp>/trivial_flow.py   (one flow, one task returning 1)
  3. netliq, unchanged: the same netliq command on the same dir (finds nothing new)

Per process: wall seconds, CPU seconds and peak memory. Peak memory comes two ways:
`os.wait4` rusage ru_maxrss (KiB on Linux; the largest single process among the child and
the descendants it reaped, e.g. the temporary Prefect server), and the peak of the summed RSS
of the whole process tree, sampled from /proc every 0.1 s (client + server together).

Where the time goes: the log lines carry HH:MM:SS.mmm timestamps; netliq's `[1/5]`..`[5/5]`
lines, Prefect's "Starting temporary server", "Beginning flow run" and "Finished in state"
lines cut each run into phases. Before the rounds, one `python -X importtime` process imports
what `netliq run` imports and attributes the import time to prefect, great_expectations,
duckdb and polars.

Results are printed and written to bench/out/bench_run.json (git-ignored); the output of the
last round's processes, and of any failed run, goes to logs/ next to it. Medians only count runs
that ended as expected (published / unchanged / ok); the others are listed as excluded.
A round starts only if it would likely end within --budget seconds (default 280), so the whole
invocation stays under 5 minutes even on a busy machine, at the cost of fewer rounds.
`--project DIR` benchmarks another checkout (e.g. `git archive HEAD | tar -x -C DIR`) with this
environment. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

TRIVIAL_FLOW = '''\
"""Baseline for bench/bench_run.py: the smallest Prefect flow, decorated like netliq's."""
from prefect import flow, task
from prefect.cache_policies import NO_CACHE


@task(cache_policy=NO_CACHE)
def one() -> int:
    return 1


@flow(name="bench-trivial", log_prints=True)
def trivial() -> int:
    return one()


if __name__ == "__main__":
    print(f"trivial flow returned {trivial()}")
'''

# What `netliq run` imports before it starts the flow (flows/cli.py: warehouse.db, then flows.pipeline).
IMPORT_PROBE = (
    "import time; t = time.perf_counter(); import flows.cli, warehouse.db, flows.pipeline; "
    "print(f'IMPORT_WALL {time.perf_counter() - t:.4f}')"
)
IMPORT_TARGETS = ("prefect", "great_expectations", "duckdb", "polars")

LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \| \w+\s*\| (.*)$")
STEP = re.compile(r"^Flow run '[^']*' - \[(\d)/5\]")


# ------------------------------------------------------------------ running one child


def _tree_rss_kib(root_pid: int) -> int:
    """Summed resident memory of root_pid and all its descendants (KiB), from /proc."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        parent[pid] = int(fields[1])  # ppid
        rss[pid] = int(fields[21]) * PAGE_KIB  # rss, in pages
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parent.items():
        children[ppid].append(pid)
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def run_child(cmd: list[str], env: dict[str, str], label: str, cwd: Path, sample_every: float = 0.1) -> dict:
    """Run cmd to completion; return wall/CPU seconds, peak memory and its output lines with arrival times."""
    started_wall = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for raw in iter(proc.stdout.readline, b""):
            lines.append((time.perf_counter() - t0, raw.decode("utf-8", "replace").rstrip("\n")))

    waited: dict = {}
    done = threading.Event()

    def wait() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        waited.update(end=time.perf_counter(), status=status, usage=usage)
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    waiter = threading.Thread(target=wait, daemon=True)
    reader.start()
    waiter.start()
    peak_tree = 0
    while not done.wait(sample_every):
        peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))
    reader.join(timeout=10)  # an orphaned grandchild could hold the pipe open; don't hang on it
    proc.returncode = os.waitstatus_to_exitcode(waited["status"])
    usage = waited["usage"]
    return {
        "label": label,
        "cmd": cmd,
        "started_at": dt.datetime.fromtimestamp(started_wall).isoformat(timespec="milliseconds"),
        "started_wall": started_wall,
        "wall_s": round(waited["end"] - t0, 3),
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_sys_s": round(usage.ru_stime, 3),
        "exit_code": proc.returncode,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        "peak_tree_rss_mib": round(peak_tree / 1024, 1),
        "lines": lines,
    }


# ------------------------------------------------------------------ reading the logs


def _log_offset(match: re.Match, started_wall: float) -> float:
    """Seconds from process start to a log line's HH:MM:SS.mmm (local time, like Prefect's console)."""
    h, m, s, ms = (int(g) for g in match.groups()[:4])
    start = dt.datetime.fromtimestamp(started_wall)
    start_tod = start.hour * 3600 + start.minute * 60 + start.second + start.microsecond / 1e6
    return (h * 3600 + m * 60 + s + ms / 1000 - start_tod) % 86400


def events(run: dict) -> dict[str, float]:
    """Offsets (s from process start) of the landmarks in one run's output."""
    found: dict[str, float] = {"exit": run["wall_s"]}
    if run["lines"]:
        found["first_output"] = run["lines"][0][0]
    for _, text in run["lines"]:
        match = LOG_LINE.match(text)
        if not match:
            continue
        message = match.group(5)
        at = _log_offset(match, run["started_wall"])
        if "Starting temporary server" in message:
            found.setdefault("server_start", at)
        elif "Beginning flow run" in message:
            found.setdefault("flow_begin", at)
        elif message.startswith("Flow run '") and " - Finished in state" in message:
            found.setdefault("flow_end", at)
        elif step := STEP.match(message):
            found.setdefault(f"step{step.group(1)}", at)
    return found


NETLIQ_PHASES = [
    ("python start + imports (to first output)", None, "first_output"),
    ("flow call -> temporary server start (engine)", "first_output", "server_start"),
    ("ephemeral Prefect server startup", "server_start", "flow_begin"),
    ("flow begin -> [1/5] (registry, lock, warehouse open)", "flow_begin", "step1"),
    ("[1/5] fetch series (replay)", "step1", "step2"),
    ("[2/5] check raw inputs (GE) + append raw", "step2", "step3"),
    ("[3/5] build + stage tables", "step3", "step4"),
    ("[4/5] check tables (GE) + publish/compare", "step4", "step5"),
    ("[5/5] -> flow finished (record run, Prefect)", "step5", "flow_end"),
    ("flow finished -> exit (server shutdown)", "flow_end", "exit"),
]
TRIVIAL_PHASES = [
    ("python start + imports (to server start)", None, "server_start"),
    ("ephemeral Prefect server startup", "server_start", "flow_begin"),
    ("flow begin -> flow finished", "flow_begin", "flow_end"),
    ("flow finished -> exit (server shutdown)", "flow_end", "exit"),
]


def phases(run: dict, spec: list[tuple[str, str | None, str]]) -> dict[str, float | None]:
    ev = events(run)
    out: dict[str, float | None] = {}
    for name, start, end in spec:
        a = 0.0 if start is None else ev.get(start)
        b = ev.get(end)
        out[name] = round(b - a, 3) if a is not None and b is not None else None
    return out


def outcome(run: dict) -> str:
    text = "\n".join(t for _, t in run["lines"])
    if run["exit_code"] != 0:
        return f"error (exit {run['exit_code']})"
    if "Published version" in text:
        return "published"
    if "Nothing new" in text:
        return "unchanged"
    if "trivial flow returned 1" in text:
        return "ok"
    return "unknown"


# ------------------------------------------------------------------ import time


def parse_importtime(stderr: str) -> list[tuple[int, str, int, int]]:
    """(depth, module, self_us, cumulative_us) per `-X importtime` line, in output order."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, name.strip(), int(self_us), int(cum_us)))
    return rows


def attribute_imports(rows: list[tuple[int, str, int, int]]) -> dict:
    """Per target package: `inclusive` = cumulative time of its imports entered from outside the
    package (includes dependencies it was first to import), `own` = self time of its own modules.
    Also the heaviest top-level packages by self time (a partition of the total)."""
    # importtime prints children before their parent, indented one level deeper: rebuild the tree.
    nodes = [{"name": n, "self": s, "cum": c, "children": []} for _, n, s, c in rows]
    pending: list[tuple[int, dict]] = []
    for (depth, *_), node in zip(rows, nodes):
        while pending and pending[-1][0] > depth:
            node["children"].insert(0, pending.pop()[1])
        pending.append((depth, node))
    roots = [node for _, node in pending]

    def top(name: str) -> str:
        return name.split(".", 1)[0]

    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    stack = [(r, None) for r in roots]
    while stack:
        node, parent_pkg = stack.pop()
        pkg = top(node["name"])
        own[pkg] += node["self"]
        if pkg != parent_pkg:
            inclusive[pkg] += node["cum"]
        stack.extend((child, pkg) for child in node["children"])
    total_us = sum(r["cum"] for r in roots)
    heaviest = sorted(own.items(), key=lambda kv: -kv[1])[:12]
    return {
        "total_s": round(total_us / 1e6, 3),
        "targets": {t: {"inclusive_s": round(inclusive.get(t, 0) / 1e6, 3), "own_s": round(own.get(t, 0) / 1e6, 3)}
                    for t in IMPORT_TARGETS},
        "heaviest_packages_own_s": {k: round(v / 1e6, 3) for k, v in heaviest},
    }


def import_breakdown(env: dict[str, str], cwd: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORT_PROBE], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    result = attribute_imports(parse_importtime(proc.stderr))
    found = re.search(r"IMPORT_WALL ([\d.]+)", proc.stdout)
    result["import_wall_s"] = float(found.group(1)) if found else None
    result["process_wall_s"] = round(wall, 3)
    return result


def pyc_check(env: dict[str, str], cwd: Path) -> dict:
    """Import time with a private, warm bytecode cache (PYTHONPYCACHEPREFIX), to show what
    compiling every module from source on every run costs. The venv itself is not touched."""
    cache = tempfile.mkdtemp(prefix="netliq-bench-pycache-")
    warm_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    warm_env["PYTHONPYCACHEPREFIX"] = cache
    walls = []
    try:
        for _ in range(2):  # the first fills the cache, the second reads it
            out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=cwd, env=warm_env,
                                 capture_output=True, text=True, check=False)
            found = re.search(r"IMPORT_WALL ([\d.]+)", out.stdout)
            walls.append(float(found.group(1)) if found else None)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"filling_cache_s": walls[0], "warm_cache_s": walls[1]}


# ------------------------------------------------------------------ context


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine(project: Path) -> dict:
    cpu = re.search(r"model name\s*:\s*(.*)", _read("/proc/cpuinfo"))
    mem = re.search(r"MemTotal:\s*(\d+) kB", _read("/proc/meminfo"))
    versions = {}
    for dist in ("netliq", "prefect", "great-expectations", "duckdb", "polars", "pandas", "pyarrow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project, capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                                    text=True, timeout=5, check=False).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", None
    site = Path(metadata.distribution("prefect").locate_file("prefect"))
    pyc = sum(1 for _ in site.rglob("*.pyc")) if site.is_dir() else None
    return {
        "platform": platform.platform(),
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(mem.group(1)) / 1024**2, 1) if mem else None,
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "versions": versions,
        "git_commit": commit + ("-dirty" if dirty else ""),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "pyc_files_in_installed_prefect": pyc,
        "prefect_env_vars": sorted(k for k in os.environ if k.startswith("PREFECT_")),
    }


def loadavg() -> list[float]:
    return [float(x) for x in _read("/proc/loadavg").split()[:3]] if _read("/proc/loadavg") else []


# ------------------------------------------------------------------ main


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def summarise(runs: list[dict], spec, expected: str) -> dict:
    """Medians over the runs that ended as expected; the others are counted and their first error kept."""
    good = [r for r in runs if outcome(r) == expected]
    bad = [r for r in runs if outcome(r) != expected]
    per_phase = [phases(r, spec) for r in good]
    return {
        "n": len(good),
        "excluded": [{"outcome": outcome(r), "wall_s": r["wall_s"], "first_error": _first_error(r)} for r in bad],
        "wall_s": [r["wall_s"] for r in good],
        "median_wall_s": _median([r["wall_s"] for r in good]),
        "median_cpu_s": _median([r["cpu_user_s"] + r["cpu_sys_s"] for r in good]),
        "peak_rss_mib": max((r["peak_rss_mib"] for r in good), default=None),
        "peak_tree_rss_mib": max((r["peak_tree_rss_mib"] for r in good), default=None),
        "outcomes": [outcome(r) for r in runs],
        "median_phase_s": {name: _median([p[name] for p in per_phase]) for name, _, _ in spec},
    }


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Blocked|Interrupt)\b.*")


def _first_error(run: dict) -> str | None:
    """netliq's own BLOCKED/failed line, else the last exception line of a traceback."""
    last = None
    for _, text in run["lines"]:
        if text.startswith(("BLOCKED.", "netliq run failed")):
            return text[:300]
        if EXCEPTION_LINE.match(text):
            last = text[:300]
    return last


def _write_log(path: Path, run: dict) -> None:
    path.write_text("\n".join(f"+{t:8.3f}s  {line}" for t, line in run["lines"]) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--budget", type=float, default=280.0,
                        help="seconds; no new round starts unless it would likely end within this (default 280)")
    parser.add_argument("--pyc-check", action="store_true",
                        help="also time the imports with a private warm bytecode cache (about +20 s)")
    parser.add_argument("--project", default=str(ROOT),
                        help="checkout to run netliq from (default: this one), e.g. a `git archive` export of a commit")
    parser.add_argument("--out", default=str(OUT_DIR / "bench_run.json"), help="JSON output file")
    args = parser.parse_args(argv)

    bench_start = time.perf_counter()
    project = Path(args.project).resolve()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("NETLIQ_DATA_DIR", None)  # --data-dir is passed explicitly
    if env.get("PREFECT_API_URL"):
        print(f"warning: PREFECT_API_URL is set ({env['PREFECT_API_URL']}); runs use that server, "
              "not an ephemeral one", file=sys.stderr)
    info = machine(project)
    info["project"] = str(project)
    load_before = loadavg()
    print(f"netliq bench: {info['cpu']} x{info['cpus_usable']}, {info['memory_gib']} GiB, {info['python']}")
    print(f"prefect {info['versions']['prefect']}, project {project} ({info['git_commit'] or 'no git'}), "
          f"load average {load_before}", flush=True)
    if load_before and load_before[0] > info["cpus_usable"] / 2:
        print(f"warning: load average {load_before[0]} on {info['cpus_usable']} CPUs: something else is running, "
              "figures will be noisy", flush=True)

    print("import breakdown (python -X importtime) ...", flush=True)
    imports = import_breakdown(env, project)

    work = Path(tempfile.mkdtemp(prefix="netliq-bench-"))
    trivial_file = work / "trivial_flow.py"
    trivial_file.write_text(TRIVIAL_FLOW)
    runs: dict[str, list[dict]] = {"publish": [], "trivial": [], "unchanged": []}
    # the --pyc-check imports run after the rounds: keep time for two of them
    reserve = 2.2 * (imports.get("import_wall_s") or 15.0) if args.pyc_check else 0.0
    skipped_note = None
    round_walls: list[float] = []
    try:
        for i in range(args.repeat):
            elapsed = time.perf_counter() - bench_start
            if round_walls and elapsed + 1.1 * max(round_walls) + reserve > args.budget:
                skipped_note = (f"stopped after {i} of {args.repeat} rounds: another round would likely end "
                                f"past the {args.budget:.0f} s budget (elapsed {elapsed:.0f} s, slowest round "
                                f"{max(round_walls):.0f} s); use --budget to allow more")
                print(skipped_note, flush=True)
                break
            round_start = time.perf_counter()
            data_dir = work / f"data-{i + 1}"
            netliq_cmd = [sys.executable, "-m", "flows.cli", "--data-dir", str(data_dir), "run", "--offline"]
            for kind, label, cmd in (
                ("publish", "netliq publish", netliq_cmd),
                ("trivial", "trivial flow", [sys.executable, str(trivial_file)]),
                ("unchanged", "netliq unchanged", netliq_cmd),
            ):
                run = run_child(cmd, env, label, project)
                run["round"] = i + 1
                runs[kind].append(run)
                print(f"  round {i + 1}/{args.repeat} {label:<17} {run['wall_s']:7.2f} s  "
                      f"peak {run['peak_rss_mib']:6.0f} MiB (tree {run['peak_tree_rss_mib']:6.0f})  "
                      f"{outcome(run)}", flush=True)
            round_walls.append(time.perf_counter() - round_start)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pyc = None
    if args.pyc_check:
        print("import time with a warm private bytecode cache ...", flush=True)
        pyc = pyc_check(env, project)

    out = Path(args.out)
    logs = out.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    for kind, bucket in runs.items():
        _write_log(logs / f"{kind}.log", bucket[-1])
        for run in bucket:
            if run["exit_code"] != 0:
                _write_log(logs / f"{kind}-round{run['round']}-failed.log", run)

    publish = summarise(runs["publish"], NETLIQ_PHASES, "published")
    unchanged = summarise(runs["unchanged"], NETLIQ_PHASES, "unchanged")
    trivial = summarise(runs["trivial"], TRIVIAL_PHASES, "ok")
    base = trivial["median_wall_s"]
    for s in (publish, unchanged):
        ok = base and s["median_wall_s"] is not None
        s["ratio_to_trivial"] = round(s["median_wall_s"] / base, 2) if ok else None
        s["extra_over_trivial_s"] = round(s["median_wall_s"] - base, 3) if ok else None
        cpu_ok = trivial["median_cpu_s"] and s["median_cpu_s"] is not None
        s["cpu_ratio_to_trivial"] = round(s["median_cpu_s"] / trivial["median_cpu_s"], 2) if cpu_ok else None

    total = round(time.perf_counter() - bench_start, 1)
    result = {
        "generated_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info,
        "load_average_before": load_before,
        "load_average_after": loadavg(),
        "repeat_requested": args.repeat,
        "rounds_completed": len(runs["trivial"]),
        "note": skipped_note,
        "bench_total_s": total,
        "netliq_publish": publish,
        "netliq_unchanged": unchanged,
        "trivial_flow": trivial,
        "imports": imports,
        "imports_warm_bytecode": pyc,
        "runs": [{k: v for k, v in r.items() if k != "lines"} | {"outcome": outcome(r)}
                 for bucket in runs.values() for r in bucket],
    }
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")

    print(f"\n=== netliq run --offline vs a trivial Prefect flow ({len(runs['trivial'])} round(s), medians) ===")
    print(f"{'':<24}{'n':>3}{'wall s':>9}{'ratio':>7}{'CPU s':>8}{'CPU ratio':>10}{'peak RSS MiB':>14}"
          f"{'tree RSS MiB':>14}")
    for name, s in (("netliq run (publish)", publish), ("netliq run (unchanged)", unchanged),
                    ("trivial flow", trivial)):
        ratio = s.get("ratio_to_trivial", 1.0 if s["n"] else None)
        cpu_ratio = s.get("cpu_ratio_to_trivial", 1.0 if s["n"] else None)
        print(f"{name:<24}{s['n']:>3}{_fmt(s['median_wall_s']):>9}{_fmt(ratio):>7}{_fmt(s['median_cpu_s']):>8}"
              f"{_fmt(cpu_ratio):>10}{_fmt(s['peak_rss_mib'], '.0f'):>14}{_fmt(s['peak_tree_rss_mib'], '.0f'):>14}")
        for bad in s["excluded"]:
            print(f"{'':<24}  excluded: {bad['outcome']} after {bad['wall_s']:.1f} s: {bad['first_error']}")
    print("ratio = median wall / the trivial flow's median wall (CPU ratio: the same with user+sys CPU seconds,\n"
          "steadier on a busy machine). peak RSS = os.wait4 ru_maxrss (largest single process of the run);\n"
          "tree RSS = peak of the summed RSS of the process tree (client + temporary server)")

    print("\n--- where the time goes (median seconds per phase, from log timestamps) ---")
    print(f"{'phase':<52}{'publish':>9}{'unchanged':>11}")
    for name, _, _ in NETLIQ_PHASES:
        print(f"{name:<52}{_fmt(publish['median_phase_s'][name]):>9}{_fmt(unchanged['median_phase_s'][name]):>11}")
    print(f"{'trivial flow phase':<52}{'':>9}{'trivial':>11}")
    for name, _, _ in TRIVIAL_PHASES:
        print(f"{name:<52}{'':>9}{_fmt(trivial['median_phase_s'][name]):>11}")

    print("\n--- imports of `netliq run` (one python -X importtime process) ---")
    if "error" in imports:
        print(f"import probe failed:\n{imports['error']}")
    else:
        print(f"import flows.cli, warehouse.db, flows.pipeline: {imports['import_wall_s']:.2f} s "
              f"(under -X importtime)")
        print(f"{'package':<22}{'inclusive s':>12}{'own s':>8}")
        for pkg, t in imports["targets"].items():
            print(f"{pkg:<22}{t['inclusive_s']:>12.2f}{t['own_s']:>8.2f}")
        print("heaviest packages by own import time (s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in list(imports["heaviest_packages_own_s"].items())[:8]))
    if pyc:
        print(f"same imports without -X importtime, private bytecode cache: filling it "
              f"{_fmt(pyc['filling_cache_s'])} s, warm {_fmt(pyc['warm_cache_s'])} s")
    if info["PYTHONDONTWRITEBYTECODE"] and not info["pyc_files_in_installed_prefect"]:
        print("note: PYTHONDONTWRITEBYTECODE is set and the venv holds no .pyc files: every process "
              "(and the temporary server) compiles every module from source")
    if skipped_note:
        print(f"note: {skipped_note}")
    print(f"\nwrote {out} and {logs}/ (bench took {total:.0f} s; load average before {load_before}, "
          f"after {result['load_average_after']})")
    failed = [r for bucket in runs.values() for r in bucket if r["exit_code"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

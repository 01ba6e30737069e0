"""Benchmark (not a test): how long does each read command take, and what does it import?

    uv run python bench/bench_read.py                      # publishes into a temp dir first (~40 s)
    uv run python bench/bench_read.py --data-dir data      # an existing published data dir
    uv run python bench/bench_read.py --repeat 7

Each read command (`sql`, `sql --as-of`, `status`, `versions`, `describe`, `describe TABLE`,
`performance`) runs --repeat times as a fresh process, two ways: as the console script in the
venv (what `netliq` costs) and through `uv run netliq` (what a user types; uv checks the
environment first). The baseline is `python -c pass` in the same venv, run in the same loop, so
the ratio holds on a busy machine. Per command: median wall seconds, the ratio, peak RSS, and
whether the process imported Prefect or Great Expectations (it must not).

Goal (issue 10): every read command at most 1.5 s. Results: bench/out/bench_read.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
GOAL_S = 1.5

COMMANDS = {
    "sql": ["sql", "SELECT date, net_liquidity_bn FROM net_liquidity_weekly ORDER BY date DESC LIMIT 5"],
    "sql --as-of": ["sql", "--as-of", "2025-06-04", "SELECT 1"],  # no rebuild: says how to make one
    "status": ["status"],
    "versions": ["versions"],
    "describe": ["describe"],
    "describe TABLE": ["describe", "net_liquidity_daily"],
    "performance": ["performance", "--base", "2025-01-01"],
}
HEAVY = ("prefect", "great_expectations", "altair", "vl_convert")
# the command run in-process, reporting the heavy packages it imported
PROBE = ("import sys, contextlib, io; from flows.cli import main\n"
         "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
         "    main(sys.argv[1:])\n"
         f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")


def timed(argv: list[str], env: dict) -> tuple[float, float, int]:
    """Wall seconds, exit code, peak RSS (MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def publish(data_dir: Path, env: dict) -> None:
    print(f"publishing into {data_dir} first (netliq run --offline) ...", flush=True)
    subprocess.run([sys.executable, "-m", "flows.cli", "--data-dir", str(data_dir), "run", "--offline"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**env, "NETLIQ_REPORT": "0"},
                   cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="a data dir with a published file (default: publish into a temp dir)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    tmp = None
    if args.data_dir:
        data_dir = Path(args.data_dir).resolve()
    else:
        tmp = tempfile.TemporaryDirectory(prefix="netliq-bench-read-")
        data_dir = Path(tmp.name) / "data"
        publish(data_dir, env)
    script = str(Path(sys.executable).with_name("netliq"))
    load_before = os.getloadavg()
    baseline = [timed([sys.executable, "-c", "pass"], env) for _ in range(args.repeat)]
    rows = {}
    for name, command in COMMANDS.items():
        argv = ["--data-dir", str(data_dir), *command]
        runs, uv_runs, base = [], [], []
        for _ in range(args.repeat):  # alternate, so background load hits all three alike
            base.append(timed([sys.executable, "-c", "pass"], env))
            runs.append(timed([script, *argv], env))
            uv_runs.append(timed(["uv", "run", "--quiet", "netliq", *argv], env))
        heavy = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env,
                               cwd=ROOT).stdout.strip()
        wall = statistics.median(r[0] for r in runs)
        rows[name] = {
            "wall_s": round(wall, 3), "uv_run_wall_s": round(statistics.median(r[0] for r in uv_runs), 3),
            "python_pass_s": round(statistics.median(b[0] for b in base), 3),
            "ratio_to_python_pass": round(wall / statistics.median(b[0] for b in base), 2),
            "peak_rss_mib": round(max(r[1] for r in runs), 1), "exit_codes": sorted({r[2] for r in runs}),
            "heavy_imports": heavy, "meets_goal": wall <= GOAL_S,
        }
    load_after = os.getloadavg()
    print(f"\nread commands, medians of {args.repeat} (load average {load_before[0]:.2f} -> {load_after[0]:.2f}, "
          f"{os.cpu_count()} CPUs; python -c pass: {statistics.median(b[0] for b in baseline):.3f} s)\n")
    print(f"{'command':16} {'netliq s':>9} {'uv run s':>9} {'÷ pass':>7} {'RSS MiB':>8}  heavy imports  ≤ {GOAL_S} s")
    for name, row in rows.items():
        print(f"{name:16} {row['wall_s']:9.3f} {row['uv_run_wall_s']:9.3f} {row['ratio_to_python_pass']:7.2f} "
              f"{row['peak_rss_mib']:8.1f}  {row['heavy_imports']:13}  {'yes' if row['meets_goal'] else 'NO'}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_read.json").write_text(json.dumps(
        {"repeat": args.repeat, "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
         "max_rss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "commands": rows}, indent=2))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""Benchmark (not a test): what an unchanged `netliq run --offline` costs before and after the
stored validation results (issue 14, goal 3), next to a trivial Prefect flow.

    uv run python bench/bench_validation.py                  # 3 rounds, about 5 minutes on 2 cores
    uv run python bench/bench_validation.py --before f1b59ba --repeat 5

"before" is a `git archive` export of --before (default f1b59ba: in-process reuse only, GE
imported by every suite module); "after" is an export of HEAD. Both run with this environment,
each on its own data dir published once beforehand. Each round then runs, as separate processes,
alternating: the trivial flow of bench/bench_run.py, the before checkout's unchanged run, the
after checkout's unchanged run. Per run: wall seconds, whether great_expectations was in
sys.modules when the process exited, and the seconds between the `[2/5]` and `[5/5]` log lines
(checking inputs, appending, building and checking tables). Figures are medians, as ratios to
the trivial flow's median of the same rounds, with the load average before and after.
Written to bench/out/bench_validation.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import LOG_LINE, STEP, TRIVIAL_FLOW, _median, _log_offset, loadavg, outcome, run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "bench_validation.json"

# flows.cli as `python -m` runs it, saying at exit whether GE was loaded
WRAPPER = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('GE_LOADED', any(m.split('.')[0] == 'great_expectations' for m in sys.modules),"
    " flush=True))\n"
    "sys.argv = ['netliq', *sys.argv[1:]]\n"
    "runpy.run_module('flows.cli', run_name='__main__', alter_sys=True)\n"
)


def export(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def netliq(project: Path, data_dir: Path, env: dict, label: str) -> dict:
    run = run_child([sys.executable, "-c", WRAPPER, "--data-dir", str(data_dir), "run", "--offline"],
                    env, label, cwd=project)
    text = [t for _, t in run["lines"]]
    run["ge_loaded"] = "GE_LOADED True" in text
    steps = {}
    for _, line in run["lines"]:
        match = LOG_LINE.match(line)
        step = STEP.match(match.group(5)) if match else None
        if step:
            steps.setdefault(step.group(1), _log_offset(match, run["started_wall"]))
    run["checks_to_end_s"] = round(steps["5"] - steps["2"], 3) if "2" in steps and "5" in steps else None
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="f1b59ba", help="commit without stored results (default f1b59ba)")
    parser.add_argument("--after", default="HEAD", help="commit with them (default HEAD)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NETLIQ_REPORT": "0"}
    env.pop("NETLIQ_DATA_DIR", None)
    work = Path(tempfile.mkdtemp(prefix="netliq-bench-validation-"))
    load_before = loadavg()
    print(f"load average {load_before}; work dir {work}", flush=True)
    projects = {name: export(commit, work / name) for name, commit in (("before", args.before), ("after", args.after))}
    (work / "trivial_flow.py").write_text(TRIVIAL_FLOW)
    runs: dict[str, list[dict]] = {"trivial": [], "before": [], "after": []}
    try:
        for name, project in projects.items():
            first = netliq(project, work / f"data-{name}", env, f"{name} publish")
            print(f"{name}: publish {first['wall_s']:.1f} s, {outcome(first)}", flush=True)
            if outcome(first) != "published":
                print("\n".join(t for _, t in first["lines"][-30:]))
                return 1
        for i in range(args.repeat):
            trivial = run_child([sys.executable, str(work / "trivial_flow.py")], env, "trivial", cwd=work)
            runs["trivial"].append(trivial)
            for name, project in projects.items():
                runs[name].append(netliq(project, work / f"data-{name}", env, f"{name} unchanged"))
            print(f"round {i + 1}: trivial {trivial['wall_s']:.1f} s, "
                  + ", ".join(f"{n} {runs[n][-1]['wall_s']:.1f} s ({outcome(runs[n][-1])}, GE loaded: "
                              f"{runs[n][-1]['ge_loaded']})" for n in projects), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = _median([r["wall_s"] for r in runs["trivial"] if outcome(r) == "ok"])
    result = {"load_average_before": load_before, "load_average_after": loadavg(), "cpus": os.cpu_count(),
              "commits": {"before": args.before, "after": args.after}, "trivial_median_s": base}
    for name in projects:
        good = [r for r in runs[name] if outcome(r) == "unchanged"]
        wall = _median([r["wall_s"] for r in good])
        result[name] = {
            "n": len(good), "outcomes": [outcome(r) for r in runs[name]], "wall_s": [r["wall_s"] for r in good],
            "median_wall_s": wall, "ratio_to_trivial": round(wall / base, 2) if wall and base else None,
            "median_checks_to_end_s": _median([r["checks_to_end_s"] for r in good]),
            "ge_loaded": [r["ge_loaded"] for r in good],
            "peak_rss_mib": max((r["peak_rss_mib"] for r in good), default=None),
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

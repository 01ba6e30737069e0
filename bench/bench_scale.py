"""Scale: the daily pipeline on 10, 100 and 1,000 SYNTHETIC daily series of 25 years each.

Every synthetic series goes through what a real one does: the registry (a copy of
flows/series.toml plus N entries, read through NETLIQ_REGISTRY), the fetch (a replay folder:
the bundled snapshot plus one fred/SYNTHETIC-nnnn.csv per series), the raw-input gate, the raw
store, the long table of every series (series_observations) and the publish. The synthetic
series are random walks with a fixed seed, labelled SYNTHETIC in their key, id, name and
description, so nothing here can pass for real data.

Per size, three child processes run one after the other, each measured on its own:
  first   `daily(from_dir=...)` on a fresh data folder: the first run (25 years per series)
  next    one new row appended to every synthetic file, the same call again: the next day
  trivial the smallest Prefect flow (one task returning 1), for the ratio
Each child reports wall time, CPU time, peak RSS (ru_maxrss of the flow process, and of the
Prefect server it reaped) and the run's own step timings (RunSummary.timings).

    uv run python bench/bench_scale.py                       # 10, 100, 1000
    uv run python bench/bench_scale.py --sizes 10,100 --profile

Writes bench/out/bench_scale.json (and, with --profile, bench/out/scale_<N>_<run>.pstats).
A benchmark, not a test: nothing in tests/ or CI runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SNAPSHOT = ROOT / "data" / "snapshot"
SEED = 20261201
YEARS = 25

TRIVIAL = """
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

@task(cache_policy=NO_CACHE)
def one():
    return 1

@flow(log_prints=True)
def trivial():
    return one()

print("trivial flow returned", trivial())
"""


def synthetic_key(i: int) -> str:
    return f"SYNTHETIC-{i:04d}"


def registry_text(n: int) -> str:
    """flows/series.toml plus n synthetic daily series (replayed as fred/<id>.csv)."""
    entries = [(ROOT / "flows" / "series.toml").read_text(),
               "\n# ---- SYNTHETIC series written by bench/bench_scale.py\n"]
    for i in range(n):
        key = synthetic_key(i)
        entries.append(f"""
[series.{key}]
provider = "fred"
id = "{key}"
name = "synthetic_{i:04d}"
native_units = "Index (SYNTHETIC)"
frequency = "daily"
publication_lag_days = 0
max_age_days = 5
max_gap_days = 3
valid_min = 0
valid_max = 1_000_000
max_change_pct = 25.0
release = "SYNTHETIC: written by bench/bench_scale.py"
release_time = "17:00 America/New_York"
description = "SYNTHETIC random walk (seed {SEED}, series {i}) for the scale benchmark; not real data"
""")
    return "".join(entries)


def walk(rng: random.Random, days: int) -> list[float]:
    value, out = 100.0, []
    for _ in range(days):
        value *= 1.0 + rng.gauss(0.0, 0.01)
        out.append(value)
    return out


def snapshot_clock() -> dt.date:
    """The newest observation the bundled snapshot replays (the clock of an offline run)."""
    from flows.registry import load_registry
    from flows.sources import replay
    from flows.sources.schema import SourceError

    frames = []
    for spec in load_registry(ROOT / "flows" / "series.toml").used():
        try:
            frames.append(replay.fetch(spec, SNAPSHOT).frame)
        except SourceError:
            continue
    return replay.replay_clock(frames)


def build_folder(base: Path, n: int, end: dt.date) -> tuple[Path, Path]:
    """A replay folder (the snapshot plus n synthetic CSVs ending on `end`) and its registry."""
    folder = base / "replay"
    (folder / "fred").mkdir(parents=True)
    for part in SNAPSHOT.iterdir():
        if part.name != "fred":
            (folder / part.name).symlink_to(part)
    for path in (SNAPSHOT / "fred").iterdir():
        (folder / "fred" / path.name).symlink_to(path)
    days = YEARS * 365 + YEARS // 4
    start = end - dt.timedelta(days=days - 1)
    rng = random.Random(SEED)
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(days)]
    for i in range(n):
        values = walk(rng, days)
        lines = ["date,value"] + [f"{d},{v:.4f}" for d, v in zip(dates, values, strict=True)]
        (folder / "fred" / f"{synthetic_key(i)}.csv").write_text("\n".join(lines) + "\n")
    registry = base / "series.toml"
    registry.write_text(registry_text(n))
    return folder, registry


def append_day(folder: Path, n: int, day: dt.date) -> None:
    """The next day: one new row at the end of every synthetic file."""
    rng = random.Random(SEED + 1)
    for i in range(n):
        path = folder / "fred" / f"{synthetic_key(i)}.csv"
        last = float(path.read_text().rstrip("\n").rsplit("\n", 1)[1].split(",")[1])
        with path.open("a") as f:
            f.write(f"{day.isoformat()},{last * (1 + rng.gauss(0.0, 0.01)):.4f}\n")


# ---------------------------------------------------------------- children


def child(args: argparse.Namespace) -> None:
    """One measured run in this process; its figures as JSON on the last stdout line."""
    begin, cpu0 = time.perf_counter(), os.times()
    out: dict = {}
    if args.child == "trivial":
        subprocess_globals: dict = {}
        exec(compile(TRIVIAL, "trivial_flow", "exec"), subprocess_globals)
    else:
        sys.path.insert(0, str(ROOT))
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        from flows.cli import _prefect_settings
        from flows.pipeline import daily
        from flows.prefect_server import owned_server

        imported = time.perf_counter()
        if profiler:
            profiler.enable()
        flow_begin = time.perf_counter()
        # as `netliq run` calls it: its start-up timeout for the temporary server (Prefect's
        # 20 s failed a first run here, while the server created its database), its own server
        with _prefect_settings(), owned_server():
            state = daily(from_dir=args.folder, data_dir=args.data, return_state=True)
        flow_s = time.perf_counter() - flow_begin
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        result = state.result(raise_on_failure=False)
        out.update(imports_s=imported - begin, flow_s=flow_s, state=state.type.value)
        if hasattr(result, "timings"):
            out.update(status=result.status, version=result.version, timings=result.timings,
                       rows_added=sum(result.rows_added.values()), checks_passed=result.checks_passed,
                       row_counts={k: v for k, v in result.row_counts.items() if k == "series_observations"})
        else:
            out.update(status="error", error=str(result)[:2000])
    cpu1 = os.times()
    out.update(
        wall_s=time.perf_counter() - begin,
        cpu_s=(cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        children_peak_rss_mib=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )
    print("BENCH_SCALE " + json.dumps(out, default=str))


def run_child(kind: str, env: dict, log: Path, max_rss_mib: float = float("inf"), **paths: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    for name, value in paths.items():
        cmd += [f"--{name}", value]
    began = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        killed = None
        while proc.poll() is None:  # the machine is shared: a run past --max-rss-mib is stopped
            if _rss_mib(proc.pid) > max_rss_mib:
                killed = f"stopped at {_rss_mib(proc.pid):.0f} MiB RSS (limit --max-rss-mib {max_rss_mib})"
                for pid in reversed(_tree(proc.pid)):  # its Prefect server too, or it outlives the run
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
            time.sleep(0.5)
    text = log.read_text()
    line = next((ln for ln in reversed(text.splitlines()) if ln.startswith("BENCH_SCALE ")), None)
    if line is None:
        return {"status": "killed" if killed else "crashed", "returncode": proc.returncode,
                "wall_s": time.perf_counter() - began, "error": killed or text[-2000:]}
    return json.loads(line.removeprefix("BENCH_SCALE "))


def _tree(pid: int) -> list[int]:
    """A process and its descendants (the Prefect server it started), parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def _rss_mib(pid: int) -> float:
    """RSS of a process and its descendants, from /proc."""
    total = 0
    for p in _tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            continue
    return total / 2**20


# ---------------------------------------------------------------- the bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--profile", action="store_true", help="cProfile each netliq run (bench/out/*.pstats)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--max-rss-mib", type=float, default=8192,
                        help="stop a run whose process tree passes this RSS (the machine is shared)")
    parser.add_argument("--child", choices=("first", "next", "trivial"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--profile-path", dest="profile_path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.profile = args.profile_path
        return child(args)

    sys.path.insert(0, str(ROOT))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "logs").mkdir(exist_ok=True)
    end = snapshot_clock()
    sizes = [int(s) for s in args.sizes.split(",")]
    report: dict = {"started": dt.datetime.now(dt.timezone.utc).isoformat(), "years": YEARS, "seed": SEED,
                    "snapshot_clock": end.isoformat(), "cpus": os.cpu_count(), "sizes": {}}
    for n in sizes:
        base = Path(tempfile.mkdtemp(prefix=f"netliq-scale-{n}-"))
        try:
            t0 = time.perf_counter()
            folder, registry = build_folder(base, n, end)
            env = {**os.environ, "NETLIQ_REGISTRY": str(registry), "NETLIQ_REPORT": "0",
                   "NETLIQ_DATA_DIR": str(base / "data")}
            figures: dict = {"series": n, "synthetic_rows": n * (YEARS * 365 + YEARS // 4),
                             "write_inputs_s": time.perf_counter() - t0}
            for kind in ("first", "next"):
                if kind == "next":
                    append_day(folder, n, end + dt.timedelta(days=1))
                figures["load_before_" + kind] = os.getloadavg()
                paths = {"folder": str(folder), "data": str(base / "data")}
                if args.profile:
                    paths["profile-path"] = str(OUT / f"scale_{n}_{kind}.pstats")
                figures[kind] = run_child(kind, env, OUT / "logs" / f"scale_{n}_{kind}.log", args.max_rss_mib,
                                          **paths)
                if figures[kind].get("status") in ("killed", "crashed"):
                    print(f"  {n} series, {kind}: {figures[kind]['status']}: {figures[kind]['error'][-300:]}")
                    break
                print(f"  {n} series, {kind}: {figures[kind].get('status')} {figures[kind].get('wall_s', 0):.1f} s "
                      f"(flow {figures[kind].get('flow_s', 0):.1f} s), peak RSS "
                      f"{figures[kind].get('peak_rss_mib', 0):.0f} MiB", flush=True)
            figures["trivial"] = run_child("trivial", env, OUT / "logs" / f"scale_{n}_trivial.log")
            figures["load_after"] = os.getloadavg()
            report["sizes"][str(n)] = figures
        finally:
            if args.keep:
                print(f"  kept {base}")
            else:
                shutil.rmtree(base, ignore_errors=True)
        (OUT / "bench_scale.json").write_text(json.dumps(report, indent=2, default=str))
    print_table(report)


def print_table(report: dict) -> None:
    rows = list(report["sizes"].values())
    print(f"\nsynthetic daily series of {report['years']} years, seed {report['seed']}; "
          f"{report['cpus']} CPUs")
    head = ("series", "run", "status", "wall s", "flow s", "÷trivial", "CPU s", "peak RSS MiB",
            "fetch s", "check inputs s", "append raw→build s", "check tables+publish s", "growth (flow s)", "load")
    print(" | ".join(head))
    previous: dict = {}
    for row in rows:
        trivial = row["trivial"].get("wall_s") or float("nan")
        for kind in ("first", "next"):
            r = row.get(kind, {})
            t = r.get("timings", {})
            growth = ""
            if kind in previous and previous[kind].get("flow_s"):
                growth = f"×{r.get('flow_s', 0) / previous[kind]['flow_s']:.2f}"
            print(" | ".join(str(x) for x in (
                row["series"], kind, r.get("status"), f"{r.get('wall_s', 0):.1f}", f"{r.get('flow_s', 0):.1f}",
                f"{r.get('wall_s', 0) / trivial:.2f}", f"{r.get('cpu_s', 0):.1f}", f"{r.get('peak_rss_mib', 0):.0f}",
                f"{t.get('fetch', 0):.1f}", f"{t.get('check inputs', 0):.1f}", f"{t.get('append raw', 0):.1f}",
                f"{t.get('build and check tables', 0):.1f}",
                growth, "%.1f" % row.get(f"load_before_{kind}", [float("nan")])[0])))
            previous[kind] = r
        print(f"  trivial flow: {trivial:.1f} s")


if __name__ == "__main__":
    main()

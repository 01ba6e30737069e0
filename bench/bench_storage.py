"""Benchmark (not a test): how much does the warehouse grow per published version?

    uv run python bench/bench_storage.py                    # 30 simulated daily publishes
    uv run python bench/bench_storage.py --days 60
    uv run python bench/bench_storage.py --project /tmp/netliq-old   # another checkout's warehouse code

The tables are real: one `netliq run --offline` publishes the snapshot into a temp dir first,
and its published tables are the content. The days are simulated: publish 0 holds every row
dated up to the last day − DAYS, and each of the DAYS publishes after it adds one more day
(tables without a `date` column stay as they are), the way a daily run adds a day's rows.
Each publish goes through warehouse.db.publish_version (the same code a run uses) on a fresh
warehouse, followed by a CHECKPOINT; the file size after each is recorded.

Printed: the size after publish 0, the growth per daily publish (median and mean), the total,
and the wall time per publish. Results: bench/out/bench_storage.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--project", help="import warehouse/ from this checkout instead (e.g. an older commit)")
    args = parser.parse_args()
    if args.project:
        sys.path.insert(0, str(Path(args.project).resolve()))
    import duckdb
    import polars as pl

    from warehouse import db

    tmp = Path(tempfile.mkdtemp(prefix="netliq-bench-storage-"))
    print(f"publishing the snapshot into {tmp / 'source'} (netliq run --offline) ...", flush=True)
    subprocess.run([sys.executable, "-m", "flows.cli", "--data-dir", str(tmp / "source"), "run", "--offline"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                   env={**os.environ, "NETLIQ_REPORT": "0"})
    source = duckdb.connect(str(tmp / "source" / "netliq.duckdb"), read_only=True)
    names = [r[0] for r in source.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name <> 'publishes' ORDER BY table_name").fetchall()]
    tables = {n: source.sql(f'SELECT * FROM "{n}"').pl() for n in names}
    source.close()
    last = max(t["date"].max() for t in tables.values() if "date" in t.columns)

    root = tmp / "sim"
    path = root / db.WAREHOUSE_FILE
    sizes, seconds = [], []
    with db.connect(root) as con:
        for day in range(args.days + 1):
            cut = last - dt.timedelta(days=args.days - day)
            staged = {n: (t.filter(pl.col("date") <= cut) if "date" in t.columns else t) for n, t in tables.items()}
            db.stage(con, staged)
            start = time.perf_counter()
            db.publish_version(con, names, run_id=f"sim-{day}", code_version="bench", clock=cut,
                               check_summary="simulated daily publish", sums=db.checksums(con, "staging", names))
            con.execute("CHECKPOINT")
            seconds.append(time.perf_counter() - start)
            sizes.append(path.stat().st_size)
    growth = [b - a for a, b in zip(sizes, sizes[1:])]
    mib = 1024 * 1024
    result = {
        "days": args.days, "project": args.project or str(ROOT), "last_day": str(last),
        "size_after_first_mib": round(sizes[0] / mib, 2), "size_after_last_mib": round(sizes[-1] / mib, 2),
        "growth_per_publish_median_mib": round(statistics.median(growth) / mib, 3),
        "growth_per_publish_mean_mib": round(statistics.mean(growth) / mib, 3),
        "publish_seconds_median": round(statistics.median(seconds), 3),
        "rows_first": sum(t.height for t in tables.values()), "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_storage.json").write_text(json.dumps({**result, "sizes_bytes": sizes}, indent=2))


if __name__ == "__main__":
    main()

"""`netliq`: run the daily job, see what is published, query it."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from contextlib import contextmanager
from pathlib import Path

DESCRIPTION = """\
netliq tracks US dollar net liquidity (Fed total assets − Treasury General
Account − overnight reverse repo, in billions of USD) against Bitcoin, gold and
the Nasdaq-100.

Each run fetches the series in flows/series.toml, checks them, rebuilds the
tables, checks those, and publishes a new version only if every check passes.
BI tools and `netliq sql` read the published file,
$NETLIQ_DATA_DIR/netliq.duckdb (default ./data/).

start here:
  netliq run --offline       run on the bundled real data (no network or key)
  netliq run --from-dir DIR  run on your own files: DIR/fred/<SERIES_ID>.csv,
                             DIR/prices/<TICKER>.csv
  netliq run                 live FRED + Yahoo (needs FRED_API_KEY)
  netliq sql "SELECT * FROM net_liquidity_weekly ORDER BY date DESC LIMIT 5"
  netliq describe [TABLE]    what each published table and column means
  netliq status              current version, freshness per series, quarantine
  netliq rebuild             restore a damaged or lost warehouse, versions too
  netliq export --to DIR     every version as Parquet with its manifest, e.g.
                             for object storage

exit codes of `netliq run`: 0 published or nothing new; 3 a check blocked the
publish (the published file is unchanged); 2 a usage error; 1 any other error.
"""

# 2 is a usage error (argparse's code); a blocked publish must not look like a typo
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_ERROR = 1
# Prefect gives its temporary server 20 s to start. A first run on a busy 2-core machine (a
# fresh venv, a new Prefect database) was seen to need more than that, so unless the user set
# a value of their own, a netliq run waits up to this long.
SERVER_STARTUP_TIMEOUT_S = 300


class UsageError(ValueError):
    """A bad argument, found before anything heavy starts: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints the whole usage block; one line says more
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def main(argv: list[str] | None = None) -> int:
    # Prefect's local server would try to send usage telemetry; there is no network for it
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parser = _Parser(prog="netliq", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder of the warehouse and the published file "
                        "(default: $NETLIQ_DATA_DIR or ./data)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="fetch, check and publish (the daily job)",
                         description="Fetch every registered series, check, rebuild and publish to "
                         "$NETLIQ_DATA_DIR/netliq.duckdb (default ./data/netliq.duckdb; the path is printed at the end). "
                         "Live runs need FRED_API_KEY. Exit code 0: published or nothing new; "
                         f"{EXIT_BLOCKED}: a check blocked the publish (the published file is unchanged), or a "
                         "late block-policy series held the tables that read it at their last good version "
                         f"while the others published; {EXIT_ERROR}: other error.")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--offline", action="store_true", help="replay the bundled real snapshot (data/snapshot)")
    source.add_argument("--from-dir", metavar="DIR", help="replay DIR/fred/<SERIES_ID>.csv and DIR/prices/<TICKER>.csv")
    when = run.add_mutually_exclusive_group()
    when.add_argument("--as-of", metavar="DATE", type=_date,
                      help="after fetching, rebuild every table as it was known at the end of DATE (New York "
                      "time) into <data dir>/as_of/netliq-as-of-DATE.duckdb; the current published file is "
                      "not touched. Query it with `netliq sql --as-of DATE`")
    when.add_argument("--backfill", nargs=2, metavar=("START", "END"), type=_date,
                      help="fetch the observations dated START..END again from every source, store what "
                      "changed, and publish")
    run.add_argument("--accept-revisions", metavar="SERIES", action="append", default=[],
                     help="store SERIES' revisions even when they reach back beyond the 120-day revision "
                     "window or touch more than 5%% of its history (such a run blocks without it); "
                     "repeat for more series")

    sub.add_parser("status", help="current version, freshness per series, last runs, quarantine")
    sub.add_parser("versions", help="every published version: when, from which run, row counts")
    srv = sub.add_parser("serve", help="keep the daily job scheduled (needs `prefect server start` + PREFECT_API_URL)",
                         description="Serves netliq-daily/netliq-daily on New York time: weekdays 13:30 (after "
                         "the reverse repo release) and Thursdays 17:00 (after the H.4.1). Runs until Ctrl-C.")
    srv.add_argument("--offline", action="store_true", help="serve runs that replay the bundled snapshot")
    rep = sub.add_parser("report", help="the essay's charts: one offline HTML page and a PNG per chart, from the published file",
                         description="Reads only the published file and writes DIR/index.html (self-contained, opens "
                         "offline) and DIR/<chart>.png. Default DIR: $NETLIQ_DATA_DIR/report. Every successful "
                         "publish also writes it (set NETLIQ_REPORT=0 to skip).")
    rep.add_argument("--out", metavar="DIR", help="output folder (default: <data dir>/report)")
    rep.add_argument("--year", type=int, help="year of 'the year in one chart' (default: the last full year of the data)")
    rollback = sub.add_parser("rollback", help="republish an earlier version as a new version, with a reason",
                              description="History is immutable: the rollback publishes version N+1 equal to "
                              "VERSION and records why; `netliq versions` shows it.")
    rollback.add_argument("version", type=int)
    rollback.add_argument("--reason", required=True, help="why (recorded with the new version)")
    sub.add_parser("rebuild", help="restore a damaged or deleted warehouse from the raw/ and history/ files beside it",
                   description="Builds a new warehouse.duckdb from <data dir>/raw (every fetched row, one file per "
                   "run) and <data dir>/history (every published version): the same tables and the same version "
                   "numbers. The damaged file is kept aside as warehouse.duckdb.damaged-<time>, never deleted.")
    export = sub.add_parser("export", help="copy the published versions as Parquet with their manifests to DIR",
                            description="Every publish also writes each table of version N as Parquet into <data "
                            "dir>/versions/N/, with manifest.json (run, code version, time, row counts, SHA-256 per "
                            "file, and every table's grain and column descriptions with units). This copies them to "
                            "DIR/N/ (a folder, or object storage mounted as one), each file checked against its "
                            "SHA-256 and each version renamed into place whole; versions already there are skipped.")
    export.add_argument("--to", required=True, metavar="DIR", help="the folder to copy into (created if missing)")
    export.add_argument("--version", type=int, metavar="N", help="only version N (default: every version)")
    perf = sub.add_parser("performance", help="every asset and net liquidity indexed to 100 from a base date",
                          description="Reads asset_prices_daily and net_liquidity_daily from the published file; "
                          "each series is indexed to 100 on its first observation on or after --base.")
    perf.add_argument("--base", required=True, type=dt.date.fromisoformat, metavar="YYYY-MM-DD")
    perf.add_argument("--date", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                      help="show the index on this day (default: each series' last day)")
    describe = sub.add_parser("describe", help="the data dictionary: tables, grain, columns and units",
                              description="Reads the `catalog` table of the published file (with each table's "
                              "staleness); before the first publish, the dictionary shipped with the code.")
    describe.add_argument("table", nargs="?", help="one table (default: list them all)")
    sql = sub.add_parser("sql", help="read-only SQL on the published file, printed as a table",
                         description="One read-only statement on the published file; DuckDB refuses anything that "
                         "writes (COPY TO, ATTACH, EXPORT, INSTALL, CREATE, …). Tables: " + _table_names() + ".")
    sql.add_argument("query", help='e.g. "SELECT * FROM net_liquidity_weekly ORDER BY date DESC LIMIT 10"')
    sql.add_argument("--max-rows", type=int, default=50, help="rows shown (default 50)")
    sql.add_argument("--as-of", metavar="DATE", type=_date,
                     help="query the as-of rebuild of DATE (made by `netliq run --as-of DATE`) instead")

    args = parser.parse_args(argv)
    from warehouse import db

    root = Path(args.data_dir).resolve() if args.data_dir else db.data_dir()
    try:
        _check_usage(args, root)
        return _dispatch(args, root)
    except UsageError as exc:
        print(f"netliq {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _dispatch(args, root: Path) -> int:
    if args.command == "run":
        return _run(args, root)
    if args.command == "status":
        return _status(root)
    if args.command == "versions":
        return _versions(root)
    if args.command == "serve":
        from flows.serve import ServeError, serve

        try:
            serve(offline=args.offline, data_dir=str(root))
        except ServeError as exc:
            print(exc, file=sys.stderr)
            return EXIT_ERROR
        return 0
    if args.command == "report":
        return _report(root, args.out, args.year)
    if args.command == "rollback":
        return _rollback(root, args.version, args.reason)
    if args.command == "performance":
        return _performance(root, args.base, args.date)
    if args.command == "rebuild":
        return _rebuild(root)
    if args.command == "export":
        return _export(root, Path(args.to).resolve(), args.version)
    if args.command == "describe":
        return _describe(root, args.table)
    return _sql(root, args.query, args.max_rows, args.as_of)


def _table_names() -> str:
    from transforms.catalog import TABLES

    return ", ".join(TABLES)


# ------------------------------------------------------------------ usage, checked before anything starts


def _check_usage(args, root: Path) -> None:
    """Every argument that can be checked without Prefect, the sources or the warehouse's
    writer: a bad one is a UsageError naming it and the fix."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"the data dir {root} is a file, not a folder: give a folder with --data-dir "
                         "or NETLIQ_DATA_DIR (it is created if missing)")
    command = args.command
    if command in ("run", "rollback", "serve", "rebuild"):
        _writable(root, "the data dir")
    if command == "run":
        _check_run(args)
    elif command == "rollback":
        if args.version < 1:
            raise UsageError(f"no version {args.version}: versions count from 1 (see `netliq versions`)")
        if not args.reason.strip():
            raise UsageError('a rollback needs a reason, recorded with the new version: --reason "why"')
    elif command == "report":
        _writable(Path(args.out).resolve() if args.out else root / "report", "the report folder")
        if args.year is not None and not 1900 <= args.year <= dt.date.today().year:
            raise UsageError(f"--year {args.year}: give a year from 1900 to {dt.date.today().year}")
    elif command == "performance":
        today = dt.date.today()
        if args.base > today:
            raise UsageError(f"--base {args.base} is in the future (today is {today}): give a past day")
        if args.date is not None and args.date < args.base:
            raise UsageError(f"--date {args.date} is before --base {args.base}: the index starts at the base")
    elif command == "export":
        from warehouse.versions import versions_dir

        dest = Path(args.to).resolve()
        if dest.exists() and not dest.is_dir():
            raise UsageError(f"--to {args.to} is a file: give a folder (it is created if missing)")
        if dest == versions_dir(root) or versions_dir(root) in dest.parents:
            raise UsageError(f"--to {args.to} is inside the data dir's versions/ folder: give a folder outside it")
        _writable(dest, "the export folder")
        if args.version is not None and args.version < 1:
            raise UsageError(f"--version {args.version}: versions count from 1 (see `netliq versions`)")
    elif command == "sql":
        if args.max_rows < 1:
            raise UsageError(f"--max-rows {args.max_rows}: give 1 or more")


def _check_run(args) -> None:
    from zoneinfo import ZoneInfo

    if args.from_dir:
        folder = Path(args.from_dir).resolve()
        if not folder.is_dir():
            raise UsageError(f"--from-dir {args.from_dir}: no such folder; give a folder holding "
                             "fred/<SERIES_ID>.csv and/or prices/<TICKER>.csv")
        if not any((folder / sub).is_dir() for sub in ("fred", "prices")):
            raise UsageError(f"--from-dir {folder} has neither fred/ nor prices/: put the files in "
                             "fred/<SERIES_ID>.csv and prices/<TICKER>.csv")
    today_ny = dt.datetime.now(ZoneInfo("America/New_York")).date()
    if args.as_of and args.as_of > today_ny:
        raise UsageError(f"--as-of {args.as_of} is in the future (today is {today_ny} in New York): "
                         "nothing was known then yet")
    if args.backfill:
        from flows.serve import check_backfill

        try:
            check_backfill(*args.backfill)
        except ValueError as exc:
            raise UsageError(f"--backfill: {exc}") from None
    if args.accept_revisions:
        from flows.registry import load_registry

        registry = load_registry()
        unknown = [k for k in args.accept_revisions if k not in registry.series]
        if unknown:
            raise UsageError(f"--accept-revisions {' '.join(unknown)}: not in the registry ({registry.path.name}); "
                             f"give a registry key, e.g. {next(iter(registry.series))}")


def _writable(folder: Path, what: str) -> None:
    """Writing into `folder` (or the nearest folder above it that exists, where it would be
    created) works: tried with a real file, since permission bits say nothing for root or a
    read-only mount."""
    import tempfile

    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what} {folder}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UsageError(f"{what} {existing} is not writable ({exc.strerror}): give a writable folder "
                         "with --data-dir (or --out for the report)") from None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _print_frame(frame, max_rows: int = 50) -> None:
    from flows.display import render

    print(render(frame, max_rows=max_rows))


@contextmanager
def _prefect_settings():
    """Prefect as a netliq run needs it: unless the user set a start-up timeout of their own,
    give the temporary server time to start on a busy machine."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as startup
    from prefect.settings import temporary_settings

    if startup.value() != startup.default():
        yield
        return
    with temporary_settings(updates={startup: SERVER_STARTUP_TIMEOUT_S}):
        yield


def _run(args, root: Path) -> int:
    from flows.lock import RunInProgress, run_lock
    from warehouse import db

    mode = "offline snapshot" if args.offline else (f"files in {args.from_dir}" if args.from_dir else "live FRED + Yahoo")
    if args.as_of:
        mode += f"; rebuilding as known at the end of {args.as_of} (New York)"
    if args.backfill:
        mode += f"; backfill {args.backfill[0]} to {args.backfill[1]}"
    try:
        with run_lock(root):  # a second run is refused here, before Prefect starts
            db.check_usable(root)  # a damaged or lost warehouse too
            print(f"netliq run: {mode}; data dir {root}", flush=True)
            return _run_flow(args, root)
    except (RunInProgress, db.WarehouseError) as exc:
        print(f"netliq run: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _run_flow(args, root: Path) -> int:
    from flows.pipeline import GateBlocked, daily
    from flows.prefect_server import owned_server
    from flows.sources.schema import SourceError
    from warehouse.db import DatabaseError, WarehouseError, published_path

    start, end = args.backfill or (None, None)
    try:
        # the temporary Prefect server dies with this process, however it dies (kill -9 too)
        with _prefect_settings(), owned_server():
            summary = daily(offline=args.offline, from_dir=args.from_dir, data_dir=str(root), as_of=args.as_of,
                            backfill_start=start, backfill_end=end, accept_revisions=args.accept_revisions)
    except GateBlocked as exc:
        print(f"\nBLOCKED. {exc}", file=sys.stderr)
        print(f"\nPublished file (unchanged): {published_path(root)}")
        return EXIT_BLOCKED
    except (SourceError, WarehouseError, DatabaseError, ValueError) as exc:
        print(f"\nnetliq run failed: {exc}", file=sys.stderr)
        print(f"\nPublished file (unchanged): {published_path(root)}")
        return EXIT_ERROR
    if summary.status == "as-of":
        print(f"\nRebuilt as known at the end of {summary.as_of} (New York); {summary.checks_passed} checks passed.")
    elif summary.status == "unchanged":
        print(f"\nNothing new: the tables equal version {summary.version}; nothing published.")
    else:
        print(f"\nPublished version {summary.version} (clock {summary.clock}, {summary.checks_passed} checks passed).")
    for name, count in summary.row_counts.items():
        stale = summary.stale.get(name)
        print(f"  {name}: {count} rows" + (f"  [stale: {stale}]" if stale else ""))
    if summary.unavailable:
        print("\nSeries unavailable this run: " + ", ".join(f"{k} ({v})" for k, v in summary.unavailable.items()))
    if summary.late:
        print("Series late against the clock (policy warn): " + ", ".join(summary.late))
    if summary.revised:
        print("Revised since the last run (table revisions): "
              + ", ".join(f"{k} {n} observation(s)" for k, n in summary.revised.items()))
    if summary.report:
        print(f"Report: {summary.report}")
    if summary.as_of:
        print(f"\nAs-of file: {summary.published_file}\n  query it: netliq sql --as-of {summary.as_of} "
              f"\"SELECT * FROM net_liquidity_daily ORDER BY date DESC LIMIT 5\"")
    else:
        print(f"\nPublished file: {summary.published_file}")
    if summary.held_tables:
        print(f"\nHELD: {', '.join(summary.held)} late or failing, registry policy block. These tables were not "
              "rebuilt and keep their last good version:", file=sys.stderr)
        for table, why in summary.held_tables.items():
            print(f"  {table}: {why}", file=sys.stderr)
        return EXIT_BLOCKED
    return 0


def _read_status(root: Path):
    """The status frames; while a run holds the warehouse, those its connection last saved,
    with a line saying so. None (after printing why) when there is nothing to read."""
    from flows.lock import holder
    from warehouse import db

    try:
        frames, saved = db.read_status(root)
    except db.WarehouseError as exc:
        print(exc, file=sys.stderr)
        return None
    if saved:
        print(f"a netliq run (pid {holder(root) or 'unknown'}) is in progress: showing the state saved at "
              f"{saved:%Y-%m-%d %H:%M:%S} UTC\n")
    return frames


def _status(root: Path) -> int:
    import polars as pl

    from flows.registry import load_registry
    from warehouse import db

    frames = _read_status(root)
    if frames is None:
        return EXIT_ERROR
    publishes, runs = frames["publishes"], frames["runs"]
    print(f"published file: {db.published_path(root)}")
    if publishes.height:
        current = publishes.row(-1, named=True)
        print(f"current version: {current['version']} published {current['published_at']:%Y-%m-%d %H:%M %Z} "
              f"by run {current['run_id']} (clock {current['clock']}, code {current['code_version']})")
    else:
        print("current version: none published yet")
    registry = load_registry()
    # an as-of rebuild's clock is a past date: freshness is judged against the last daily run's
    daily_clocks = runs.filter(pl.col("status") != "as-of")["clock"].drop_nulls()
    clock = daily_clocks[0] if daily_clocks.len() else dt.date.today()
    stored = {row["series_id"]: row for row in frames["freshness"].iter_rows(named=True)}
    rows = []
    for spec in registry.used():  # every series the model reads, also those never stored
        row = stored.get(spec.key)
        last = row["last_obs_date"] if row else None
        age = (clock - last).days if last else None
        rows.append({"series_id": spec.key, "last_obs_date": last,
                     "next_release_due": spec.next_release(last) if last else None,
                     "age_days": age, "max_age_days": spec.max_age_days,
                     "is_late": age > spec.max_age_days if last else None, "lateness": spec.lateness,
                     "observations": row["observations"] if row else 0,
                     "note": "" if row else "never stored (not in the snapshot or replay, or not fetched yet)"})
    print(f"\nfreshness per series (against the last run's clock {clock}):")
    _print_frame(pl.DataFrame(rows).sort("series_id"), max_rows=1000)
    print("\nlast runs:")
    _print_frame(runs.select("started_at", "status", "mode", "clock", "run_id", "message"))
    print("\nquarantine (staged data that failed its checks):")
    quarantine = frames["quarantine"]
    if quarantine.height:
        _print_frame(quarantine.select("created_at", "table_name", "check_name", "run_id", "staged_path", "message"))
    else:
        print("  empty")
    return 0


def _versions(root: Path) -> int:
    frames = _read_status(root)
    if frames is None:
        return EXIT_ERROR
    frame = frames["publishes"]
    if frame.height == 0:
        print("no version published yet")
    else:
        _print_frame(frame.select("version", "published_at", "clock", "reason", "rolled_back_from", "check_summary",
                                  "run_id", "code_version", "row_counts"), max_rows=1000)
    return 0


def _report(root: Path, out: str | None, year: int | None) -> int:
    from flows.report import build_report
    from warehouse import db

    out_dir = Path(out).resolve() if out else root / "report"
    try:
        result = build_report(db.published_path(root), out_dir, year=year)
    except db.WarehouseError as exc:  # flows.report.ReportError is one
        print(f"netliq report: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"report of published version {result.version} ({result.seconds:.1f} s): {result.html}")
    for info in result.charts.values():
        print(f"  {info.png.name:24} {info.title} (data to {info.last_date})")
    return 0


def _rollback(root: Path, version: int, reason: str) -> int:
    from flows.lock import RunInProgress, run_lock
    from warehouse import db

    try:
        with run_lock(root):  # before anything heavy: a run in progress refuses at once
            frames, _ = db.read_status(root)
            known = frames["publishes"]["version"].to_list()
            if version not in known:
                raise UsageError(f"no version {version}; published versions: "
                                 f"{', '.join(map(str, known)) or 'none'} (see `netliq versions`)")
            from flows.pipeline import rollback

            summary = rollback(version, reason, data_dir=str(root))
    except UsageError:
        raise
    except (db.WarehouseError, RunInProgress, ValueError) as exc:
        print(f"netliq rollback: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Published version {summary.version}: the tables of version {version} ({reason}).")
    if summary.report:  # drawn by a process of its own: the rollback is done whatever it does
        print(f"Report: {summary.report} (being redrawn at version {summary.version}; "
              f"its log: {summary.report.parent / 'report.log'})")
    print(f"\nPublished file: {summary.published_file}")
    return 0


def _rebuild(root: Path) -> int:
    from flows.lock import RunInProgress, run_lock
    from warehouse import db

    try:
        with run_lock(root):
            restored = db.rebuild(root)
    except (db.WarehouseError, RunInProgress, db.DatabaseError, OSError) as exc:
        print(f"netliq rebuild: {exc}", file=sys.stderr)
        return EXIT_ERROR
    kept = f"; the old file is kept as {restored['kept'].name}" if restored["kept"] else ""
    print(f"rebuilt {root / db.WAREHOUSE_FILE}: {restored['raw_rows']} raw rows, {restored['versions']} version(s), "
          f"current version {restored['current']}{kept}")
    return 0


def _export(root: Path, dest: Path, version: int | None) -> int:
    from warehouse import db, versions

    have = versions.written(root)
    wanted = have if version is None else [version]
    if version is not None and version not in have:
        frames = _read_status(root)
        if frames is None:
            return EXIT_ERROR
        published = frames["publishes"]["version"].to_list()
        if version not in published:
            raise UsageError(f"no version {version}; published versions: {', '.join(map(str, published)) or 'none'} "
                             "(see `netliq versions`)")
        print(f"netliq export: version {version} has no Parquet folder in {versions.versions_dir(root)} yet: the "
              "next `netliq run` writes the folder of every published version", file=sys.stderr)
        return EXIT_ERROR
    if not wanted:
        print(f"netliq export: nothing to export: {versions.versions_dir(root)} holds no version (run `netliq run`; "
              "it writes the folder of every published version)", file=sys.stderr)
        return EXIT_ERROR
    try:
        done = versions.export(root, dest, wanted)
    except (db.WarehouseError, OSError) as exc:
        print(f"netliq export: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for number, what in done:
        print(f"version {number}: {what} ({dest / str(number)})")
    print(f"exported {len(done)} version(s) to {dest}; each holds <table>.parquet and manifest.json")
    return 0


def _performance(root: Path, base: dt.date, day: dt.date | None) -> int:
    import polars as pl

    from transforms.markets import PERFORMANCE_ASSETS, performance_from
    from warehouse import db

    path = db.published_path(root)
    try:
        prices = db.query_published(path, "SELECT asset, date, close AS value FROM asset_prices_daily")
        net = db.query_published(path, "SELECT date, net_liquidity_bn AS value FROM net_liquidity_daily")
    except db.WarehouseError as exc:
        print(f"netliq performance: {exc}", file=sys.stderr)
        return EXIT_ERROR
    last_day = max(prices["date"].max() or base, net["date"].max() or base)
    if base > last_day:
        raise UsageError(f"--base {base} is after the published data, which ends {last_day}: give an earlier base")
    values = {a: prices.filter(pl.col("asset") == a).select("date", "value").sort("date")
              for a in PERFORMANCE_ASSETS if a != "net_liquidity"}
    values = {a: v for a, v in values.items() if v.height}
    values["net_liquidity"] = net.sort("date")
    table = performance_from(values, base)
    shown = table.filter(pl.col("date") <= day) if day else table
    last = shown.sort("date").group_by("asset", maintain_order=True).last().sort("index_100", descending=True)
    print(f"indexed to 100 at each series' first observation on or after {base}"
          + (f", on {day} or the last day before:" if day else ", on each series' last day:"))
    _print_frame(last.select("asset", "index_100", "base_date", "date", "value_native", "units"))
    return 0


def _describe(root: Path, table: str | None) -> int:
    import polars as pl

    from transforms.catalog import TABLES, catalog_frame
    from warehouse import db

    path = db.published_path(root)
    try:
        has_catalog = path.exists() and db.query_published(
            path, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'catalog'")["n"][0] > 0
        if has_catalog:
            catalog = db.query_published(path, "SELECT * FROM catalog ORDER BY table_name, column_position")
            source = f"catalog of {path}"
    except db.WarehouseError as exc:
        print(f"netliq describe: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not has_catalog:
        catalog = catalog_frame(list(TABLES), {}, {})
        source = "the code's data dictionary (nothing published yet, or a file without a catalog)"
    if "publishes" not in catalog["table_name"]:  # a file published before the catalog described it
        catalog = pl.concat([catalog, catalog_frame(["publishes"], {}, {})])
    names = list(dict.fromkeys(catalog["table_name"].to_list()))
    if table is None:
        print(f"published tables ({source}); `netliq describe TABLE` for the columns:\n")
        width = max(map(len, names))
        for name in names:
            row = catalog.filter(pl.col("table_name") == name).row(0, named=True)
            stale = f"  [STALE: {row['stale_reason']}]" if row["is_stale"] else ""
            print(f"{name:{width}}  {row['grain']}{stale}")
        return 0
    if table not in names:
        raise UsageError(f"no table {table!r}; tables: {', '.join(names)}")
    import textwrap

    from flows.display import terminal_width

    wrap = min(terminal_width(), 200)
    rows = catalog.filter(pl.col("table_name") == table)
    first = rows.row(0, named=True)
    print(f"{table}\n  grain: {first['grain']}")
    print(textwrap.fill(first["table_description"], wrap, initial_indent="  ", subsequent_indent="  "))
    if first["inputs"]:
        print(f"  reads: {first['inputs']}")
    if first["is_stale"]:
        print(f"  STALE in this version: {first['stale_reason']}")
    print()
    width = max(len(c) for c in rows["column_name"].to_list())
    indent = " " * (2 + width + 2 + 9 + 2)
    for row in rows.iter_rows(named=True):
        head = f"  {row['column_name']:{width}}  {row['data_type']:9}  "
        print(textwrap.fill(row["column_description"], max(wrap, len(indent) + 20), initial_indent=head,
                            subsequent_indent=indent))
    return 0


def _sql(root: Path, query: str, max_rows: int, as_of: dt.date | None = None) -> int:
    from warehouse import db

    path = db.published_path(root)
    if as_of:
        path = db.as_of_path(root, as_of)
        if not path.exists():
            print(f"netliq sql: no as-of rebuild for {as_of} at {path}: run `netliq run --offline --as-of {as_of}` "
                  "(or without --offline, live) first", file=sys.stderr)
            return EXIT_ERROR
    try:
        frame = db.query_published(path, query)
    except db.WarehouseError as exc:
        print(f"netliq sql: {exc}", file=sys.stderr)
        return EXIT_ERROR
    _print_frame(frame, max_rows=max_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

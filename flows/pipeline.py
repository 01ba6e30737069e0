"""The daily netliq flow: ingest → audit inputs → append raw → transform → audit tables → publish.

This is the only module that wires sources, transforms, the gate and the warehouse
together. Tasks are thin: each does one piece of I/O or calls one pure function.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from expectations import suites
from expectations.gate import CheckResult, SuiteResult, failure, validate
from flows.lock import run_lock
from flows.registry import Registry, SeriesSpec, load_registry
from flows.sources import fred, replay, yahoo
from flows.sources.schema import FetchResult, SourceError, empty_observations
from transforms.catalog import TABLES
from transforms.liquidity import in_billions, net_liquidity_daily, net_liquidity_weekly
from transforms.prices import asset_prices_daily
from warehouse import db

NEW_YORK = ZoneInfo("America/New_York")
# How far back an incremental fetch re-reads, so revised values are seen.
REVISION_WINDOW_DAYS = 120


class GateBlocked(RuntimeError):
    """A blocking check failed: nothing users read changed; the message says what and where."""

    def __init__(self, failures: list[CheckResult], run_id: str, quarantine_dir: Path | None):
        self.failures = failures
        where = f"\nStaged data kept in quarantine: {quarantine_dir}" if quarantine_dir else ""
        body = "\n".join(f"  - {f.message()}" for f in failures)
        super().__init__(
            f"Publish blocked by {len(failures)} failed check(s) (run {run_id}); "
            f"the published file is unchanged.\n{body}{where}"
        )


@dataclass
class RunSummary:
    run_id: str
    status: str  # published | unchanged
    clock: dt.date
    version: int | None
    published_file: Path
    rows_added: dict[str, int] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    checks_passed: int = 0


def code_version() -> str:
    version = importlib_metadata.version("netliq")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+{commit}" if commit else version


def _progress(message: str) -> None:
    get_run_logger().info(message)


# ------------------------------------------------------------------ tasks


@task(cache_policy=NO_CACHE)
def fetch_series(spec: SeriesSpec, folder: Path | None, since: dt.date | None, api_key: fred.Secret | None,
                 today: dt.date) -> FetchResult | SourceError:
    """One series from its source; a source failure is returned, not raised, so the gate reports it."""
    try:
        if folder is not None:
            return replay.fetch(spec, folder)
        if spec.provider == "fred":
            return fred.fetch(spec, fred.FredClient(api_key), since)
        return yahoo.fetch(spec, since, today=today)
    except SourceError as exc:
        return exc


@task(cache_policy=NO_CACHE)
def audit(suite: suites.Suite, frame: pl.DataFrame) -> SuiteResult:
    return validate(suite, frame)


@task(cache_policy=NO_CACHE)
def build_tables(registry: Registry, series: dict[str, pl.DataFrame], clock: dt.date) -> dict[str, pl.DataFrame]:
    roles = ("fed_assets", "tga", "rrp")
    comp = {r: in_billions(series[registry.role(r).key], registry.role(r).to_bn) for r in roles}  # type: ignore[arg-type]
    assets = registry.assets()
    return {
        "net_liquidity_weekly": net_liquidity_weekly(
            comp["fed_assets"], comp["tga"], comp["rrp"], rrp_lookback_days=registry.role("rrp").max_age_days
        ),
        "net_liquidity_daily": net_liquidity_daily(
            comp,
            publication_lag_days={r: registry.role(r).publication_lag_days for r in roles},
            max_age_days={r: registry.role(r).max_age_days for r in roles},
            through=clock,
        ),
        "asset_prices_daily": asset_prices_daily(
            pl.concat([series[s.key] for s in assets]),
            pl.DataFrame({"series_id": [s.id for s in assets], "asset": [s.name for s in assets],
                          "currency": [s.currency for s in assets]}),
        ),
    }


# ------------------------------------------------------------------ helpers


def _quarantine(root: Path, run_id: str, frames: dict[str, pl.DataFrame]) -> Path:
    folder = root / "quarantine" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        frame.write_parquet(folder / f"{re.sub(r'[^A-Za-z0-9_.=-]+', '_', table)}.parquet")
    return folder


def _block(con, root: Path, run_id: str, failures: list[CheckResult], staged: dict[str, pl.DataFrame],
           clock: dt.date | None) -> GateBlocked:
    folder = _quarantine(root, run_id, staged) if staged else None
    db.quarantine(con, run_id, [(f.table, f.check, f.message(), str(folder) if folder else None) for f in failures])
    error = GateBlocked(failures, run_id, folder)
    db.end_run(con, run_id, status="blocked", message=str(error), clock=clock)
    return error


# ------------------------------------------------------------------ the flow


@flow(name="netliq-daily", log_prints=True)
def daily(offline: bool = False, from_dir: str | None = None, data_dir: str | None = None) -> RunSummary:
    """Fetch every registered series, check it, rebuild the published tables, check them,
    and publish a new version if anything changed.

    offline: replay the bundled snapshot (data/snapshot) instead of FRED and Yahoo.
    from_dir: replay this folder (fred/<ID>.csv, prices/<TICKER>.csv).
    data_dir: where the warehouse and the published file live (default $NETLIQ_DATA_DIR or ./data).
    """
    root = Path(data_dir).resolve() if data_dir else db.data_dir()
    folder = replay.SNAPSHOT_DIR if offline else (Path(from_dir).resolve() if from_dir else None)
    registry = load_registry()
    used = registry.used()
    run_id = _run_id()
    started = dt.datetime.now(dt.timezone.utc)
    mode = "offline" if offline else ("replay" if folder else "live")
    source_name = f"replay:{folder}" if folder else None
    api_key = None if folder else fred.load_api_key()

    with run_lock(root), db.connect(root) as con:
        db.start_run(con, run_id, mode=mode, started_at=started)
        try:
            return _run(con, root, registry, used, folder, source_name, api_key, run_id, started)
        except GateBlocked:
            raise
        except Exception as exc:
            db.end_run(con, run_id, status="failed", message=f"{type(exc).__name__}: {exc}")
            raise


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _run(con, root, registry, used, folder, source_name, api_key, run_id, started) -> RunSummary:
    today_ny = started.astimezone(NEW_YORK).date()
    _progress(f"[1/5] fetching {len(used)} series from {'folder ' + str(folder) if folder else 'FRED and Yahoo'}")
    futures = {
        spec.key: fetch_series.submit(
            spec,
            folder,
            None if folder else fred.incremental_start(db.last_observation_date(con, spec.id), REVISION_WINDOW_DAYS),
            api_key,
            # crypto closes at 00:00 UTC, markets in their own zone; today's bar is unfinished either way
            started.date() if spec.frequency == "daily" else today_ny,
        )
        for spec in used
    }
    fetched = {key: future.result() for key, future in futures.items()}
    failures: list[CheckResult] = []
    incoming: dict[str, pl.DataFrame] = {}
    for spec in used:
        got = fetched[spec.key]
        if isinstance(got, SourceError):
            failures.append(failure(suites.raw_table_name(spec), "source", str(got)))
            incoming[spec.key] = empty_observations()
            continue
        incoming[spec.key] = got.frame
        problem = fred.check_units(spec, got.metadata) if spec.provider == "fred" else None
        if problem:
            failures.append(failure(suites.raw_table_name(spec), "units_unchanged", problem))

    clock = replay.replay_clock(list(incoming.values())) if folder else today_ny
    _progress(f"[2/5] checking {len(used)} raw inputs against the run's clock {clock}")
    passed = 0
    for spec in used:
        if any(f.table == suites.raw_table_name(spec) and f.check == "source" for f in failures):
            continue
        # what this run fetched: the whole series from a replay, the revision window when live
        result = audit(suites.raw_input_suite(spec, clock), incoming[spec.key])
        failures += result.blocking_failures
        passed += sum(r.success for r in result.results)
    if failures:
        raise _block(con, root, run_id, failures,
                     {suites.raw_table_name(s): incoming[s.key] for s in used}, clock)

    fetched_at = dt.datetime.now(dt.timezone.utc)
    rows_added = {}
    for spec in used:
        got = fetched[spec.key]
        source = source_name or spec.provider
        rows_added[spec.id] = db.append_observations(con, incoming[spec.key], source=source,
                                                     fetched_at=fetched_at, run_id=run_id)
        db.record_metadata(con, spec.id, "replay" if folder else spec.provider, got.metadata,
                           fetched_at=fetched_at, run_id=run_id)
    _progress(f"[3/5] raw appended: {sum(rows_added.values())} new or revised rows "
              + ", ".join(f"{k}={v}" for k, v in rows_added.items() if v))

    series = {spec.key: db.latest_observations(con, spec.id) for spec in used}
    tables = build_tables(registry, series, clock)
    db.stage(con, tables)
    _progress(f"[4/5] built {len(tables)} tables; checking them")
    previous = db.current_publish(con)
    previous_counts = previous["row_counts"] if previous else {}
    for name, frame in tables.items():
        suite = suites.PUBLISHED_SUITES[name](registry, clock, previous_counts.get(name, 0))
        result = audit(suite, frame)
        failures += result.blocking_failures
        passed += sum(r.success for r in result.results)
    if failures:
        raise _block(con, root, run_id, failures, tables, clock)

    names = list(tables)
    sums = db.checksums(con, "staging", names)
    published = db.published_path(root)
    counts = {name: frame.height for name, frame in tables.items()}
    if previous and previous["checksums"] == sums and published.exists():
        message = f"nothing new: tables identical to version {previous['version']}; nothing published"
        _progress(f"[5/5] {message}")
        db.end_run(con, run_id, status="unchanged", message=message, clock=clock, rows_added=rows_added)
        return RunSummary(run_id, "unchanged", clock, previous["version"], published, rows_added, counts, passed)

    if previous and previous["checksums"] == sums:
        version = previous["version"]  # the file went missing: write the same version again
    else:
        version = db.publish_version(con, names, run_id=run_id, code_version=code_version(), clock=clock,
                                     check_summary=f"{passed} checks passed, 0 failed", sums=sums)
    comments = {
        name: (f"{TABLES[name].description} Grain: {TABLES[name].grain}.",
               {c: col.description for c, col in TABLES[name].columns.items()})
        for name in names
    }
    db.write_published_file(con, root, names, comments)
    message = f"published version {version}"
    _progress(f"[5/5] {message} to {published}")
    db.end_run(con, run_id, status="published", message=message, clock=clock, rows_added=rows_added)
    return RunSummary(run_id, "published", clock, version, published, rows_added, counts, passed)

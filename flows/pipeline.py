"""The daily netliq flow: ingest → audit inputs → append raw → transform → audit tables → publish.

This is the only module that wires sources, transforms, the gate and the warehouse
together. Tasks are thin: each does one piece of I/O or calls one pure function.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
import typing
import uuid
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from expectations import suites
from expectations.gate import CheckResult, SuiteResult, failure, persisted, validate
from expectations.revisions import revision_check
from flows import incremental, limits, long_tables, notify, same_inputs
from flows.lock import run_lock
from flows.registry import SeriesSpec, load_registry
from flows.sources import file as file_source
# yahoo (yfinance, requests: 0.4 s) is imported by the fetch that needs it, never by a replay
from flows.sources import fred, replay, treasury
from flows.sources.schema import OBSERVATIONS, BadRows, FetchResult, SourceError
from expectations.tables import PUBLISHED_SUITES
from flows.tables import BUILDERS, Inputs
from transforms import known as pit
from transforms.catalog import TABLES, catalog_frame
from warehouse import db, faults
from warehouse import versions as version_files

NEW_YORK = ZoneInfo("America/New_York")
# How far back an incremental fetch re-reads, so revised values are seen.
REVISION_WINDOW_DAYS = 120
# revisions listed one by one in the run summary (all are in the published `revisions` table)
REVISIONS_SHOWN = 20
# the tables of every stored series, built from what raw stored since their last build
LONG = ("series_observations",)


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
    stale: dict[str, str] = field(default_factory=dict)  # table → why it is stale ("" = fresh)
    unavailable: dict[str, str] = field(default_factory=dict)  # series → why
    late: dict[str, str] = field(default_factory=dict)  # series → freshness message
    timings: dict[str, float] = field(default_factory=dict)  # step → seconds
    report: Path | None = None  # the charts written after this publish
    revised: dict[str, int] = field(default_factory=dict)  # series → observations revised by this run
    # block-policy series late or failing: series → why; their tables keep their last good version
    held: dict[str, str] = field(default_factory=dict)
    held_tables: dict[str, str] = field(default_factory=dict)  # table → why it was not rebuilt
    as_of: dt.date | None = None  # an as-of rebuild: the New York date whose evening it shows
    row_changes: dict[str, int] = field(default_factory=dict)  # table → rows against the previous version
    revised_rows: list[dict] = field(default_factory=list)  # this run's revisions (first REVISIONS_SHOWN)


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


class _Steps:
    """Logs each step of a run and remembers how long each took (for the run summary)."""

    def __init__(self, record=None) -> None:
        self._marks: list[tuple[str, float]] = []
        self._record = record  # called with each step's name (ops.runs: where a crashed run stopped)

    def start(self, name: str, message: str) -> None:
        self._marks.append((name, time.perf_counter()))
        if self._record:
            self._record(name)
        _progress(message)

    def durations(self) -> dict[str, float]:
        ends = [t for _, t in self._marks[1:]] + [time.perf_counter()]
        return {name: end - begin for (name, begin), end in zip(self._marks, ends, strict=True)}



# ------------------------------------------------------------------ tasks


@task(cache_policy=NO_CACHE)
def fetch_series(spec: SeriesSpec, folder: Path | None, since: dt.date | None, api_key: fred.Secret | None,
                 today: dt.date, realtime_since: dt.date | None = None, stored_metadata: dict | None = None
                 ) -> FetchResult | SourceError:
    """One series from its source; a source failure is returned, not raised, so the gate reports it.

    FRED is fetched with its ALFRED vintages (realtime periods from `realtime_since`, the
    newest stored vintage; None = the whole realtime history), so every value knows when it
    became public; a daily fetch reuses the series info of `stored_metadata` while it is
    recent (flows.sources.fred.INFO_MAX_AGE_DAYS), so it is one request."""
    try:
        if folder is not None:
            return replay.fetch(spec, folder)  # one series (a replay run reads them all in replay_series)
        if spec.provider == "fred":
            client = fred.FredClient(api_key, throttle=limits.fred_throttle)
            return fred.fetch_vintages(spec, client, realtime_start=realtime_since, observation_start=since,
                                       stored_metadata=stored_metadata, today=today)
        if spec.provider == "file":
            return file_source.fetch(spec)
        if spec.provider == "treasury":
            return treasury.fetch(spec, since, throttle=limits.treasury_throttle)
        from flows.sources import yahoo

        if spec.provider == "yahoo_shares":
            return yahoo.fetch_shares(spec, since, throttle=limits.yahoo_throttle)
        return yahoo.fetch(spec, since, today=today, throttle=limits.yahoo_throttle)
    except SourceError as exc:
        return exc
    except limits.ThrottleError as exc:  # no slot in time: this series fails, the run goes on
        return SourceError(f"{spec.key}: {exc}")


@task(cache_policy=NO_CACHE)
def replay_series(specs: list[SeriesSpec], folder: Path) -> dict[str, FetchResult | SourceError]:
    """Every series from a replay folder, in one task: local files need neither retries
    nor rate limits, and a task run per series cost more than reading it (~0.35 s of a
    served run of the snapshot's 30 series, bench/bench_served.py). Read by a few threads
    (the CSV readers release the GIL): 0.16 -> 0.10 s for the snapshot."""
    from concurrent.futures import ThreadPoolExecutor

    def read(spec: SeriesSpec) -> FetchResult | SourceError:
        try:
            return replay.fetch(spec, folder)
        except SourceError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="replay") as pool:
        return dict(zip([s.key for s in specs], pool.map(read, specs), strict=True))


def audit(suite: suites.Suite, frame: pl.DataFrame) -> SuiteResult:
    """One suite on one frame. A plain call, not a Prefect task: a run validates ~45 suites,
    none needs a retry or runs beside another, and each task run cost its round trips to the
    Prefect API (bench/bench_run.py); the run's summary artifact counts the checks."""
    return validate(suite, frame)


@task(cache_policy=NO_CACHE)
def build_tables(inputs: Inputs, late: dict[str, str], unavailable: dict[str, str], held: dict[str, str] | None = None,
                 skip: tuple[str, ...] = ()) -> tuple[dict[str, pl.DataFrame], dict[str, str], dict[str, str]]:
    """Every table whose required inputs are available and none held; per table why it is
    stale ("" when fresh): an input late against the clock, or unavailable; and per table
    not built because an input it reads is held (a block-policy series late or failing).
    A table in `skip` gets its status but is not built (the caller builds it: the long
    tables, flows/long_tables.py)."""
    built, status, blocked = {}, {}, {}
    held = held or {}
    for name, builder in BUILDERS.items():
        required, optional = builder.required(inputs.registry), builder.optional(inputs.registry)
        holding = [k for k in required + optional if k in held]
        if holding:
            blocked[name] = "; ".join(f"{k}: {held[k]}" for k in holding)
            continue
        missing = [k for k in required if inputs.series.get(k) is None]
        reasons = [f"{k} {unavailable.get(k, 'unavailable')}" for k in required + optional
                   if k in unavailable or (k in missing)]
        reasons += [f"{k} late" for k in required + optional if k in late]
        status[name] = "; ".join(dict.fromkeys(reasons))
        if not missing and name not in skip:
            built[name] = builder.build(inputs)
    return built, status, blocked


# ------------------------------------------------------------------ helpers


def _quarantine(root: Path, run_id: str, frames: dict[str, pl.DataFrame]) -> Path:
    folder = root / "quarantine" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        frame.write_parquet(folder / f"{re.sub(r'[^A-Za-z0-9_.=-]+', '_', table)}.parquet")
    return folder


def _comments(names: list[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Table and column descriptions, written into the published file for BI tools."""
    return {
        name: (f"{TABLES[name].description} Grain: {TABLES[name].grain}.",
               {c: col.description for c, col in TABLES[name].columns.items()})
        for name in names
    }


def _block(con, root: Path, run_id: str, failures: list[CheckResult], staged: dict[str, pl.DataFrame],
           clock: dt.date | None, steps: _Steps) -> GateBlocked:
    folder = _quarantine(root, run_id, staged) if staged else None
    db.quarantine(con, run_id, [(f.table, f.check, f.message(), str(folder) if folder else None) for f in failures])
    error = GateBlocked(failures, run_id, folder)
    db.end_run(con, run_id, status="blocked", message=str(error), clock=clock)
    notify.publish_artifacts(notify.summary_markdown(
        run_id=run_id, status="blocked", clock=clock, version=None,
        message="publish blocked: nothing users read changed", row_counts={}, stale={}, unavailable={}, late={},
        failures=[f.message() for f in failures], timings=steps.durations()), {}, {})
    notify.notify("blocked", {"run_id": run_id, "clock": clock, "failures": [f.message() for f in failures],
                              "quarantine": str(folder) if folder else None})
    return error


# ------------------------------------------------------------------ the flow


@flow(name="netliq-daily", log_prints=True)
def daily(offline: bool = False, from_dir: str | None = None, data_dir: str | None = None,
          as_of: dt.date | None = None, backfill_start: dt.date | None = None,
          backfill_end: dt.date | None = None, accept_revisions: list[str] | None = None) -> RunSummary:
    """Fetch every registered series, check it, rebuild the published tables, check them,
    and publish a new version if anything changed.

    offline: replay the bundled snapshot (data/snapshot) instead of FRED and Yahoo.
    from_dir: replay this folder (fred/<ID>.csv, prices/<TICKER>.csv).
    data_dir: where the warehouse and the published file live (default $NETLIQ_DATA_DIR or ./data).
    as_of: after fetching, rebuild every table as it was known at the end of this New York
        date into data/as_of/netliq-as-of-<DATE>.duckdb; the current published file is untouched.
    backfill_start, backfill_end: fetch the observations dated in this range again from every
        source (whatever is stored), store what changed, and publish as a daily run does.
    accept_revisions: registry keys whose revisions this run stores even when they reach
        beyond the revision window or a large share of the history (expectations/revisions.py);
        without it such a run blocks.
    """
    _check_parameters(as_of, backfill_start, backfill_end)
    root = Path(data_dir).resolve() if data_dir else db.data_dir()
    folder = replay.SNAPSHOT_DIR if offline else (Path(from_dir).resolve() if from_dir else None)
    registry = load_registry()
    used = registry.used()
    run_id = _run_id()
    started = _now()
    mode = "offline" if offline else ("replay" if folder else "live")
    mode += " as-of" if as_of else (" backfill" if backfill_start else "")
    api_key = None if folder else fred.load_api_key()
    backfill = (backfill_start, backfill_end) if backfill_start and backfill_end else None
    accepted = frozenset(accept_revisions or ())
    unknown = sorted(accepted - set(registry.series))
    if unknown:
        raise ValueError(f"accept_revisions: {', '.join(unknown)} not in the registry ({registry.path})")

    with run_lock(root):
        db.check_not_lost(root)
        with db.connect(root) as con:
            return _daily(con, root, registry, used, folder, api_key, run_id, started, mode, as_of, backfill,
                          accepted)


# `netliq serve` hands this flow to Prefect's runner, which pickles it (cloudpickle) for the
# run's process. Its function is copied by value (the module's `daily` is the Flow, not the
# function), and a copied function keeps only the globals its body reads, so Prefect could
# not resolve the annotations, which are text here (`from __future__ import annotations`),
# when it validates the parameters there ("`DailyModel` is not fully defined"). Resolved once:
daily.fn.__annotations__ = typing.get_type_hints(daily.fn)


def _daily(con, root, registry, used, folder, api_key, run_id, started, mode, as_of, backfill,
           accepted=frozenset()) -> RunSummary:
    """The run inside its lock and warehouse connection: recover, run, and say how it ended."""
    _recover(con, root)
    db.start_run(con, run_id, mode=mode, started_at=started)
    try:
        with persisted(db.ValidationStore(con)):  # suites that passed on the same data are not validated again
            return _run(con, root, registry, used, folder, api_key, run_id, started, as_of, backfill, accepted)
    except GateBlocked as blocked:
        # an expected outcome, not a crash: the flow run fails with the clean message (a
        # caller of daily() gets the GateBlocked back); the traceback only at debug level
        get_run_logger().debug("publish blocked", exc_info=blocked)
        return Failed(message=str(blocked), data=blocked)
    except Exception as exc:
        try:
            db.end_run(con, run_id, status="failed", message=f"{type(exc).__name__}: {exc}")
        except db.DatabaseError:
            pass  # the warehouse refuses writes after a failed one (a full disk): the next run marks it crashed
        if db.is_disk_full(exc):  # expected on a small disk: one clean message, no traceback
            full = db.DiskFull(root)
            get_run_logger().debug("no space left", exc_info=exc)
            return Failed(message=str(full), data=full)
        raise


def _recover(con, root: Path) -> None:
    """What a run that died left behind, set right before this one starts (under the run lock,
    so nothing else is running): runs still `running` become `crashed`, half-written files go,
    runs and versions without their rebuild files get them, and a published file that is not
    the warehouse's current version (a kill between the history commit and the rename, a full
    disk, a damaged or deleted file) is written again."""
    for run_id in db.mark_crashed(con):
        get_run_logger().warning(f"run {run_id} had died without ending: marked crashed")
    for path in db.remove_stray_files(root):
        _progress(f"removed a half-written file a killed run left: {path.name}")
    runs, versions = db.ensure_exported(con, root)
    if runs or versions:
        _progress(f"wrote the rebuild files of {runs} run(s) and {versions} version(s) that had none")
    if written := version_files.ensure_written(con, root):
        _progress(f"wrote the Parquet folders of {len(written)} version(s), {written[0]} to {written[-1]} (versions/)")
    current = db.current_publish(con)
    why = db.published_mismatch(con, root, current)
    if why:
        names = list(current["row_counts"])
        db.write_published_file(con, root, names, _comments([*names, "publishes"]))
        get_run_logger().warning(f"the published file was not version {current['version']} ({why}): "
                                 f"written again from the warehouse")


def _check_parameters(as_of: dt.date | None, start: dt.date | None, end: dt.date | None) -> None:
    from flows.serve import check_backfill

    today_ny = dt.datetime.now(NEW_YORK).date()
    if as_of and (start or end):
        raise ValueError("as_of and a backfill are separate runs: give one or the other")
    if as_of and as_of > today_ny:
        raise ValueError(f"as_of {as_of} is in the future (today is {today_ny} in New York): nothing was known then yet")
    if start is not None or end is not None:
        check_backfill(start, end)


def _now() -> dt.datetime:
    """The run's start (UTC); a live run's clock is its New York date. Tests move it."""
    return dt.datetime.now(dt.timezone.utc)


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or uuid.uuid4())


def _fetch_all(con, used, folder, api_key, started, backfill) -> dict[str, FetchResult | SourceError]:
    if folder is not None:
        fetched = replay_series(used, folder)
    else:
        fetched = _fetch_live(con, used, api_key, started, backfill)
    return {key: _in_range(got, backfill) for key, got in fetched.items()} if backfill else fetched


def _fetch_live(con, used, api_key, started, backfill) -> dict[str, FetchResult | SourceError]:
    """Every series from its source, a task run each (retries, timeouts, rate limits)."""
    today_ny = started.astimezone(NEW_YORK).date()
    _ensure_rate_limits()

    def since(spec: SeriesSpec) -> dt.date | None:
        if backfill:
            return backfill[0]
        return fred.incremental_start(db.last_observation_date(con, spec.key), REVISION_WINDOW_DAYS)

    futures = {
        spec.key: fetch_series.submit(
            spec,
            None,
            since(spec),
            api_key,
            # crypto closes at 00:00 UTC, markets in their own zone; today's bar is unfinished either way
            started.date() if spec.frequency == "daily" else today_ny,
            None if backfill else db.last_realtime_start(con, spec.key),
            None if backfill or spec.provider != "fred" else db.last_metadata(con, spec.key),
        )
        for spec in used
    }
    return {key: future.result() for key, future in futures.items()}


def _ensure_rate_limits() -> None:
    """FRED's and Yahoo's shared rate limits exist on the Prefect API (every worker of the
    fan-out takes its slots from them). Without them fetches still run, unthrottled: logged."""
    try:
        limits.ensure_limits()
    except Exception as exc:  # noqa: BLE001 - an API without limits must not stop the daily run
        get_run_logger().warning(f"rate limits not set up ({type(exc).__name__}: {exc}); fetching without them")


def _in_range(got: FetchResult | SourceError, backfill: tuple[dt.date, dt.date]) -> FetchResult | SourceError:
    """A backfill stores only the observations dated in its range."""
    if isinstance(got, SourceError):
        return got
    inside = pl.col("obs_date").is_between(*backfill)
    vintages = got.vintages.filter(inside) if got.vintages is not None else None
    return FetchResult(got.series_id, got.frame.filter(inside), got.metadata, vintages, got.vintages_from)


def _prepare(spec: SeriesSpec, got: FetchResult) -> tuple[pl.DataFrame, int]:
    """The fetched rows under the registry key, minus the registry's documented bad rows
    (drop_dates whose value is not a number); returns the frame and how many were dropped."""
    frame = got.frame.with_columns(pl.lit(spec.key).alias("series_id"))
    if not spec.drop_dates:
        return frame, 0
    known_bad = pl.col("obs_date").is_in(list(spec.drop_dates)) & pl.col("value").is_null()
    return frame.filter(~known_bad), int(frame.select(known_bad.sum()).item())


def _ingest(con, root, used, folder, api_key, run_id, started, steps, backfill, accepted=frozenset()):
    """Steps 1–3: fetch, check the raw inputs, append them to raw. Returns the run's clock,
    checks passed, warnings, series late (warn), unavailable and held, rows added."""
    fetched = _fetch_all(con, used, folder, api_key, started, backfill)
    failures: list[CheckResult] = []
    warnings: list[CheckResult] = []
    incoming: dict[str, pl.DataFrame] = {}
    unavailable: dict[str, str] = {}
    held: dict[str, str] = {}
    dropped: dict[str, int] = {}
    for spec in used:
        got = fetched[spec.key]
        verdict = unreadable(spec, got, folder, backfill=bool(backfill))
        if isinstance(verdict, CheckResult):
            failures.append(verdict)
            continue
        if verdict:
            (held if spec.lateness == "block" else unavailable)[spec.key] = verdict
            continue
        assert isinstance(got, FetchResult)
        if backfill and got.frame.height == 0:
            continue  # nothing dated in the backfill's range: what is stored stays as it is
        incoming[spec.key], dropped[spec.key] = _prepare(spec, got)
        problem = fred.check_units(spec, got.metadata) if spec.provider == "fred" else None
        if problem:
            failures.append(failure(suites.raw_table_name(spec), "units_unchanged", problem))

    today_ny = started.astimezone(NEW_YORK).date()
    clock = replay.replay_clock(list(incoming.values())) if folder else today_ny
    # a backfill's inputs end where it ends: their freshness is judged there
    input_clock = min(clock, backfill[1]) if backfill else clock
    steps.start("check inputs", f"[2/5] checking {len(incoming)} raw inputs against the run's clock {input_clock}"
                + (f"; unavailable: {', '.join(f'{k} ({v})' for k, v in unavailable.items())}" if unavailable else ""))
    passed = 0
    late: dict[str, str] = {}
    fingerprints = {spec.key: incremental.suite_fingerprint(spec) for spec in used if spec.key in incoming}
    checking = [s for s in used if s.key in incoming and not any(f.table == suites.raw_table_name(s) for f in failures)]
    # what this run fetched (the whole series from a replay, the revision window when live),
    # less the stored rows that already passed this suite: a day's run checks its new rows
    to_check, unchanged = incremental.all_rows_to_check(con, checking, incoming, fingerprints)
    # series whose every check passed in one batched GE run: their own suites need not run;
    # a series stored as sent is judged on the clock alone, by its own suite (incremental.suite_for)
    for batch, suite, frame in incremental.batches([s for s in checking if s.key not in unchanged], to_check,
                                                   input_clock):
        if all(r.success for r in audit(suite, frame).results):
            passed += sum(len(suites.raw_input_suite(s, input_clock).checks) for s in batch)
            checking = [s for s in checking if s.key not in {b.key for b in batch}]
    for spec in checking:
        suite, passed_before = incremental.suite_for(spec, input_clock, unchanged)
        result = audit(suite, to_check[spec.key])
        passed += passed_before
        blocking = result.blocking_failures
        if blocking and all(f.check == "freshness" for f in blocking):
            # late beyond tolerance, policy block: only the tables that read it are held
            held[spec.key] = "; ".join(f.message() for f in blocking)
            blocking = []
        failures += blocking
        warned = [r for r in result.results if not r.success and not r.blocking]
        warnings += warned
        late.update({spec.key: w.message() for w in warned if w.check == "freshness"})
        passed += sum(r.success for r in result.results)
    failures += _revision_failures(con, used, incoming, failures, backfill, accepted, to_check)
    if failures:
        raise _block(con, root, run_id, failures,
                     {suites.raw_table_name(s): incoming[s.key] for s in used if s.key in incoming}, clock, steps)
    for message in late.values():
        _progress(f"      late (warn): {message}")
    for key, why in held.items():
        _progress(f"      held (policy block): {key}: {why}")

    fetched_at = dt.datetime.now(dt.timezone.utc)
    rows_added = {}
    plain: dict[str, dict[str, pl.DataFrame]] = {}  # source → series → rows, appended in one INSERT each
    records = []
    for spec in used:
        if spec.key not in incoming:
            continue
        source = _source_name(folder, spec)
        got = fetched[spec.key]
        if isinstance(got, FetchResult) and got.vintages is not None:
            # the vintages of the observations that passed (registry drop_dates applied)
            vintages = got.vintages.filter(pl.col("obs_date").is_in(incoming[spec.key]["obs_date"].implode())
                                           ).with_columns(pl.lit(spec.key).alias("series_id"))
            rows_added[spec.key] = db.append_vintages(con, vintages, source=source, fetched_at=fetched_at,
                                                      run_id=run_id)
        else:
            # the rows from the first that differs from raw: those before it are stored as they are
            plain.setdefault(source, {})[spec.key] = to_check.get(spec.key, incoming[spec.key])
        # with the suite this series' stored history has now passed (flows/incremental.py)
        metadata = {**got.metadata, db.CHECKED_WITH: fingerprints[spec.key]}  # type: ignore[union-attr]
        records.append((spec.key, "replay" if folder else spec.provider, metadata))
    for source, frames in plain.items():
        rows_added.update(db.append_observations_of(con, frames, source=source, fetched_at=fetched_at, run_id=run_id))
    rows_added = {spec.key: rows_added.get(spec.key, 0) for spec in used if spec.key in incoming}
    db.record_metadata_of(con, records, fetched_at=fetched_at, run_id=run_id)
    known = {k: v for k, v in dropped.items() if v}
    steps.start("append raw", f"[3/5] raw appended: {sum(rows_added.values())} new or revised rows"
                + (f"; known bad rows dropped (registry drop_dates): {known}" if known else ""))
    faults.point("after-raw-append")
    db.export_raw(con, root, run_id)
    return clock, passed, warnings, late, unavailable, held, rows_added


def _revision_failures(con, used, incoming, failures, backfill, accepted, to_check=None) -> list[CheckResult]:
    """The revision guard (expectations/revisions.py) over each series this run would store,
    except those the user confirmed (accept_revisions) and those already failing. A series'
    rows before its `to_check` rows (flows/incremental.py) are what raw stores, so only the
    stored values from there on are read, for every series in one query."""
    failing = {f.table for f in failures}
    guarded = [s for s in used if s.key in incoming and suites.raw_table_name(s) not in failing]
    frames = {s.key: (to_check or {}).get(s.key, incoming[s.key]) for s in guarded}
    since = {key: frame["obs_date"].min() for key, frame in frames.items() if frame.height}
    stored, extents = db.current_values_from(con, since)
    out = []
    for spec in guarded:
        if spec.key not in since:
            continue
        table = suites.raw_table_name(spec)
        problem = revision_check(spec, table, stored[spec.key], frames[spec.key], window_days=REVISION_WINDOW_DAYS,
                                 expected=backfill, extent=extents[spec.key])
        if problem and spec.key in accepted:
            _progress(f"      accepted (--accept-revisions {spec.key}): {problem.observed.split('. If')[0]}")
        elif problem:
            out.append(problem)
    return out


def unreadable(spec: SeriesSpec, got: FetchResult | SourceError, folder: Path | None, *, backfill: bool = False
               ) -> CheckResult | str | None:
    """The gate's one rule for what a source delivered that cannot be read (README, "The
    gate's rules"): rows that are not observations (BadRows) are bad values and block (a
    failure naming the rows); a series missing, unreadable, or without a single observation
    is unavailable (the reason: its tables are held under block policy, stale under warn);
    None: readable, on to the checks."""
    if isinstance(got, BadRows):
        return failure(suites.raw_table_name(spec), got.check, str(got))
    if isinstance(got, replay.NotInReplay):
        return "not in snapshot" if folder == replay.SNAPSHOT_DIR else "not in replay folder"
    if isinstance(got, SourceError):
        return f"source failed: {got}"
    if got.frame.height == 0 and not backfill:  # a backfill's range may hold nothing: kept as stored
        return f"no observations in {got.metadata.get('file', 'the answer')}"
    return None


def _source_name(folder: Path | None, spec: SeriesSpec) -> str:
    return f"replay:{folder}" if folder else spec.provider


def _known(con, registry, used) -> dict[str, pl.DataFrame]:
    """Every stored row of every series with when its value became known (transforms.known)."""
    histories = db.observation_histories(con, [spec.key for spec in used])
    return {spec.key: pit.known_rows(histories[spec.key], spec.release_rule()) for spec in used}


def _inputs(registry, views: dict[str, pl.DataFrame], clock: dt.date, history: dict[str, pl.DataFrame]) -> Inputs:
    """The transforms' inputs: per series the observations as known, None when there are none,
    and every stored row known by the clock (for values as first published)."""
    return Inputs(registry, {k: (v if v.height else None) for k, v in views.items()}, clock, history)


def _reads(registry, names: list[str]) -> dict[str, list[str]]:
    """Per published table, the series it reads (for the catalog)."""
    return {n: list(BUILDERS[n].required(registry) + BUILDERS[n].optional(registry)) for n in names if n in BUILDERS}


def _run(con, root, registry, used, folder, api_key, run_id, started, as_of, backfill,
         accepted=frozenset()) -> RunSummary:
    steps = _Steps(lambda name: db.run_step(con, run_id, name))
    steps.start("fetch", f"[1/5] fetching {len(used)} series from {'folder ' + str(folder) if folder else 'FRED and Yahoo'}"
                + (f", observations {backfill[0]} to {backfill[1]} (backfill)" if backfill else ""))
    clock, passed, warnings, late, unavailable, held, rows_added = _ingest(
        con, root, used, folder, api_key, run_id, started, steps, backfill, accepted)
    if as_of:
        known = _known(con, registry, used)
        return _rebuild_as_of(con, root, registry, used, known, as_of, run_id, steps, rows_added, unavailable)
    previous = db.current_publish(con)
    published = db.published_path(root)
    previous_counts = previous["row_counts"] if previous else {}
    # the tables' inputs, registry, clock and code as when the current version was built or confirmed
    inputs_key = same_inputs.key(con, registry, used, clock, late, unavailable, held, previous_counts)
    same = db.recorded_build(con, inputs_key) if previous else None
    if same and same["version"] == previous["version"] and published.exists():
        steps.start("build and check tables", f"[4/5] inputs, registry, clock and code as when version "
                    f"{previous['version']} was built: its tables and their checks stand, not rebuilt")
        for name in same["held_tables"]:
            _progress(_held_line(name, same["stale"][name]))
        return _unchanged(con, run_id, previous, published, clock, rows_added, passed + same["table_checks_passed"],
                          steps, stale=same["stale"], unavailable=unavailable, late=late, revised={}, held=held,
                          held_tables=same["held_tables"], row_changes=dict.fromkeys(previous_counts, 0),
                          revised_rows=[])

    # the long tables are built from the rows raw stored since the current version's were
    # (flows/long_tables.py); every other table reads its few series whole
    long_plan = long_tables.plan(con, used, previous["version"] if previous else None)
    modelled = {k for keys in _reads(registry, [n for n in BUILDERS if n not in LONG]).values() for k in keys}
    known = _known(con, registry, [spec for spec in used if spec.key in modelled])
    inputs = _inputs(registry, {k: pit.current(rows) for k, rows in known.items()}, clock, known)
    built, status, held_tables = build_tables(inputs, late, unavailable, held, skip=LONG)
    observations, revised = long_tables.build(con, long_plan, {spec.key: spec for spec in used}, known)
    if "series_observations" in status:  # not held: built
        built["series_observations"] = observations
        built = {name: built[name] for name in BUILDERS if name in built}  # in BUILDERS' order, as before
    del known, inputs, observations
    db.stage(con, built)
    steps.start("build and check tables", f"[4/5] built {len(built)} tables; checking them")
    failures: list[CheckResult] = []
    table_checks_passed = 0
    for name, frame in built.items():
        suite = PUBLISHED_SUITES[name](registry, clock, previous_counts.get(name, 0))
        result = audit(suite, frame)
        failures += result.blocking_failures
        warnings += [r for r in result.results if not r.success and not r.blocking]
        table_checks_passed += sum(r.success for r in result.results)
    if failures:
        raise _block(con, root, run_id, failures, built, clock, steps)

    carried = db.carry_forward(con, [n for n in BUILDERS if n not in built])
    for name, why in held_tables.items():
        # the version whose content it keeps: the last that changed it, the same in every run
        # that holds it (naming the newest version made each such run a new catalog to publish)
        kept = f"kept version {db.last_changed_version(con, name)}" if name in carried else "not published yet"
        status[name] = f"held ({kept}): {why}"
        _progress(_held_line(name, status[name]))
    names = [n for n in BUILDERS if n in built or n in carried]
    built_names = set(built)
    built = frame = None  # staged and checked: the frames are not read again
    db.stage(con, {"revisions": revised})
    result = audit(PUBLISHED_SUITES["revisions"](registry, clock, previous_counts.get("revisions", 0)), revised)
    if result.blocking_failures:
        raise _block(con, root, run_id, result.blocking_failures, {"revisions": revised}, clock, steps)
    table_checks_passed += sum(r.success for r in result.results)
    passed += table_checks_passed
    this_run = revised.filter(pl.col("run_id") == run_id)
    revised_now = dict(this_run.group_by("series_id").len().sort("series_id").iter_rows())
    if revised_now:
        _progress(f"      revised since the last run: {revised_now} (see the revisions table)")
    names.append("revisions")
    names.append("catalog")
    # the catalog describes every table of the published file, the publish log too
    db.stage(con, {"catalog": catalog_frame([*names, "publishes"], _reads(registry, names), status)})
    sums = db.checksums(con, "staging", names)
    counts = db.row_counts(con, "staging", names)
    for name, reason in status.items():
        if reason and name not in held_tables:
            _progress(f"      stale: {name}: {reason}")
    summary_args = dict(stale=status, unavailable=unavailable, late=late, revised=revised_now, held=held,
                        held_tables=held_tables,
                        row_changes={n: c - previous_counts.get(n, 0) for n, c in counts.items()},
                        revised_rows=this_run.head(REVISIONS_SHOWN).select(
                            "series_id", "obs_date", "old_value", "new_value", "known_at_utc").to_dicts())
    unchanged = previous is not None and db.same_content(con, "staging", names, sums, previous["checksums"])
    long_built = "series_observations" in built_names
    if unchanged and published.exists():
        _record_build(con, inputs_key, previous["version"], table_checks_passed, status, held_tables)
        if long_built:
            _record_long_tables(con, long_plan, previous["version"])
        return _unchanged(con, run_id, previous, published, clock, rows_added, passed, steps, **summary_args)

    db.run_step(con, run_id, "publish")
    if unchanged:
        version = previous["version"]  # the file went missing: write the same version again
    else:
        version = db.publish_version(con, names, run_id=run_id, code_version=code_version(), clock=clock,
                                     check_summary=f"{passed} checks passed, 0 failed, {len(warnings)} warnings"
                                     + (f", {len(held_tables)} tables held" if held_tables else ""),
                                     sums=sums)
    faults.point("after-history-commit")
    db.export_version(con, root, version)
    # versions/<N>/ (the version as Parquet, for any engine) from the new file's sorted tables,
    # in place before that file replaces the published one
    db.write_published_file(con, root, names, _comments([*names, "publishes"]),
                            before_rename=lambda ordered: version_files.write_version(con, root, version, ordered))
    message = f"published version {version}" + (f"; {len(held_tables)} table(s) held" if held_tables else "")
    _progress(f"[5/5] {message} to {published}")
    db.end_run(con, run_id, status="published", message=message, clock=clock, rows_added=rows_added)
    # keyed with this version's row counts: the previous rows of the next run's suites
    # (flows/same_inputs.py); a warning that rows shrank would pass in the next run, so then
    # that run builds its tables and records its own key
    if not any(w.check == "rows_not_shrinking" for w in warnings):
        _record_build(con, same_inputs.key(con, registry, used, clock, late, unavailable, held, counts), version,
                      table_checks_passed, status, held_tables)
    if long_built:
        _record_long_tables(con, long_plan, version)
    report = _write_report(published, root)  # after the run is recorded: nothing it does can change it
    return _report(RunSummary(run_id, "published", clock, version, published, rows_added, counts, passed,
                              report=report, **summary_args), message, steps)


def _record_build(con, key: str, version: int, passed: int, status: dict, held_tables: dict) -> None:
    """db.record_build, best effort: a key that cannot be written (a full disk) costs the next
    run a build of its tables, never this run its outcome."""
    try:
        db.record_build(con, key, version, passed, status, held_tables)
    except db.DatabaseError as exc:
        get_run_logger().warning(f"the build key was not recorded ({type(exc).__name__}: {exc}); "
                                 "the next run builds its tables")


def _record_long_tables(con, plan: long_tables.Plan, version: int) -> None:
    """long_tables.record, best effort as _record_build: without it the next run builds every row."""
    try:
        long_tables.record(con, plan, version)
    except db.DatabaseError as exc:
        get_run_logger().warning(f"what the long tables were built from was not recorded ({type(exc).__name__}: "
                                 f"{exc}); the next run builds them from every stored row")


def _held_line(name: str, status: str) -> str:
    """A held table in the run's log: `held: NAME (kept version K): why`."""
    return f"      held: {name} {status.removeprefix('held ')}"


def _unchanged(con, run_id, previous, published, clock, rows_added, passed, steps, **summary_args) -> RunSummary:
    """The end of a run whose tables are the current version's: nothing is published."""
    message = f"nothing new: tables identical to version {previous['version']}; nothing published"
    _progress(f"[5/5] {message}")
    db.end_run(con, run_id, status="unchanged", message=message, clock=clock, rows_added=rows_added)
    return _report(RunSummary(run_id, "unchanged", clock, previous["version"], published, rows_added,
                              previous["row_counts"], passed, **summary_args), message, steps)


def _rebuild_as_of(con, root, registry, used, known, day, run_id, steps, rows_added, unavailable) -> RunSummary:
    """Every table as it was known at the end of `day` (New York), into its own file."""
    through = pit.end_of_day_utc(day)
    views = {k: pit.known_as_of(rows, through) for k, rows in known.items()}
    steps.start("as-of inputs", f"[4/5] rebuilding every table as known at {day} 23:59:59 New York "
                f"({through:%Y-%m-%d %H:%M} UTC)")
    failures: list[CheckResult] = []
    late: dict[str, str] = {}
    held: dict[str, str] = {}
    passed = 0
    for spec in used:
        view = views[spec.key]
        if view.height == 0:
            continue
        result = audit(suites.raw_input_suite(spec, day), view.select(OBSERVATIONS.names()))
        for r in result.results:
            if r.success:
                passed += 1
            elif r.check == "freshness":
                (held if r.blocking else late)[spec.key] = r.message()
            elif r.blocking:
                failures.append(r)
    if failures:
        raise _block(con, root, run_id, failures, {}, day, steps)
    inputs = _inputs(registry, views, day,
                     {k: rows.filter(pl.col("row_known_at_utc") <= through) for k, rows in known.items()})
    built, status, held_tables = build_tables(inputs, late, unavailable, held)
    for name, frame in built.items():
        result = audit(PUBLISHED_SUITES[name](registry, day, 0), frame)
        failures += result.blocking_failures
        passed += sum(r.success for r in result.results)
    if failures:
        raise _block(con, root, run_id, failures, built, day, steps)
    revised = long_tables.revisions_of(known).filter(pl.col("known_at_utc") <= through)
    names = [n for n in BUILDERS if n in built] + ["revisions"]
    status.update({n: f"held (not in this rebuild): {why}" for n, why in held_tables.items()})
    db.stage(con, {**built, "revisions": revised,
                   "catalog": catalog_frame(names + ["catalog"], _reads(registry, names), status)})
    names.append("catalog")
    basis = pl.DataFrame(
        [{"series_id": spec.key, "observations": views[spec.key].height,
          "last_obs_date": views[spec.key]["obs_date"].max() if views[spec.key].height else None,
          "known_from": _known_from(spec, known[spec.key])} for spec in used],
        schema={"series_id": pl.String, "observations": pl.Int64, "last_obs_date": pl.Date, "known_from": pl.String},
    )
    path = db.as_of_path(root, day)
    db.write_as_of_file(con, path, names, _comments(names), as_of=day, known_through_utc=through, run_id=run_id,
                        code_version=code_version(), inputs=basis)
    message = f"rebuilt {len(built)} tables as known at the end of {day} (New York) into {path}"
    _progress(f"[5/5] {message}")
    db.end_run(con, run_id, status="as-of", message=message, clock=day, rows_added=rows_added)
    counts = db.row_counts(con, "staging", names)
    return _report(RunSummary(run_id, "as-of", day, None, path, rows_added, counts, passed, stale=status,
                              unavailable=unavailable, late=late, held=held, held_tables=held_tables, as_of=day),
                   message, steps)


def _known_from(spec: SeriesSpec, rows: pl.DataFrame) -> str:
    """as_of_inputs.known_from: what says when this series' values became public."""
    if rows["realtime_start"].is_not_null().any():
        return "ALFRED vintages"
    if spec.release_calendar:
        return (f"release calendar ({spec.release_calendar}), the release rule for months it does not list; "
                "revisions from when netliq fetched them")
    return "release rule; revisions from when netliq fetched them"


def _write_report(published: Path, root: Path) -> Path | None:
    """The charts, redrawn from the published file after every publish and every rollback,
    by a process of their own that the run does not wait for (flows.report_job: the run's
    process never imports Altair or vl-convert, and a report that fails or hangs changes
    nothing here). Returns the page it will write; NETLIQ_REPORT=0 skips. A drawing that
    cannot even start is a warning: the publish itself has already happened."""
    if os.environ.get("NETLIQ_REPORT", "1") == "0":
        return None
    from flows import report_job

    out = root / "report"
    try:
        report_job.start(published, out)
    except Exception as exc:  # noqa: BLE001 - the charts must never undo a good publish
        message = f"report not drawn: {type(exc).__name__}: {exc}"
        try:
            get_run_logger().warning(message)
        except Exception:  # noqa: BLE001 - outside a flow run (a rollback): the standard logger
            import logging

            logging.getLogger(__name__).warning(message)
        return None
    return out / "index.html"


def _report(summary: RunSummary, message: str, steps: _Steps) -> RunSummary:
    """The run summary as Prefect artifacts; late series go to the webhook too."""
    summary.timings = steps.durations()
    notify.publish_artifacts(notify.summary_markdown(
        run_id=summary.run_id, status=summary.status, clock=summary.clock, version=summary.version,
        message=message, row_counts=summary.row_counts, stale=summary.stale, unavailable=summary.unavailable,
        late=summary.late, failures=[], timings=summary.timings, revised=summary.revised, held=summary.held,
        held_tables=summary.held_tables, row_changes=summary.row_changes, revised_rows=summary.revised_rows,
        rows_added=summary.rows_added), summary.row_counts, summary.stale)
    if summary.held_tables:
        notify.notify("held", {"run_id": summary.run_id, "clock": summary.clock, "held_series": summary.held,
                               "held_tables": summary.held_tables})
    if summary.late:
        notify.notify("late", {"run_id": summary.run_id, "clock": summary.clock, "late": summary.late,
                               "stale_tables": {t: r for t, r in summary.stale.items() if r}})
    return summary


def rollback(version: int, reason: str, data_dir: str | None = None) -> RunSummary:
    """Republish an earlier version, unchanged, as a new version with a reason.

    History stays immutable: the rollback is version N+1 whose tables equal version
    `version`'s; `netliq versions` shows which version it restored and why.
    """
    if not reason.strip():
        raise ValueError("a rollback needs a reason (it is recorded with the new version)")
    root = Path(data_dir).resolve() if data_dir else db.data_dir()
    run_id = f"rollback-{uuid.uuid4()}"
    with run_lock(root), db.connect(root) as con:
        names, restored = db.stage_version(con, version)
        sums = db.checksums(con, "staging", names)
        new = db.publish_version(
            con, names, run_id=run_id, code_version=code_version(), clock=restored["clock"],
            check_summary=f"rollback: tables of version {version}, unchanged (they passed their checks then)",
            sums=sums, reason=reason, rolled_back_from=version,
        )
        db.export_version(con, root, new)
        path = db.write_published_file(con, root, names, _comments([*names, "publishes"]),
                                       before_rename=lambda ordered: version_files.write_version(con, root, new,
                                                                                                 ordered))
        counts = db.row_counts(con, "staging", names)
    # the page showed the version before; now it shows the one restored, as after any publish
    report = _write_report(path, root)
    return RunSummary(run_id, "published", restored["clock"], new, path, row_counts=counts, report=report)

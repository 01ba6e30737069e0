"""`netliq serve`: keep the daily job scheduled, release-aware, with Prefect's `serve`.

Three deployments of the one flow (`netliq-daily`), served together:

* `netliq-daily/netliq-daily`, with two cron schedules in New York time:
  - weekdays 13:30 ET, after the overnight reverse repo figure (RRPONTSYD, out ~13:15 ET);
  - Thursdays 17:00 ET, after the H.4.1 weekly balance sheet (~16:30 ET), so the Fed's
    total assets and the TGA are picked up the same evening.
* `netliq-daily/netliq-backfill`, no schedule: re-fetch every source's observations in a
  date range and publish. The range is given when it is triggered:

      uv run prefect deployment run netliq-daily/netliq-backfill \
          -p backfill_start=2025-01-01 -p backfill_end=2025-03-31

* `netliq-daily/netliq-as-of`, no schedule: rebuild every table as it was known at the end
  of a New York date, into a separate file (the published file is never touched):

      uv run prefect deployment run netliq-daily/netliq-as-of -p as_of=2025-06-04

`offline` and `data_dir` given to `netliq serve` become defaults of all three. Before
serving, the shared request budgets (`flows.limits`: `netliq-fred`, `netliq-yahoo`) are
created on the Prefect API if missing, so every run and worker draws from them.

`serve_flows` registers the deployments with the Prefect API (Prefect's `Runner.add_flow`),
then polls it for due runs and executes each one in a fresh process, forked from a server
that has imported the libraries a run needs (flows/warm_start.py). It polls every
POLL_SECONDS (1 s), not Prefect's default 10 s: a triggered run starts within a second, for
one cheap query a second to a local server (PREFECT_RUNNER_POLL_FREQUENCY, when set, is the
operator's choice and wins). The run's process imports netliq's own modules itself, and
that is on the clock of every run: the pipeline imports what a step needs when it needs it
(the report is drawn by a process of its own, flows.report_job). It needs a *real* API: the
ephemeral server that `netliq run` uses lives only as long as one process and runs no
scheduler, so nothing would ever be scheduled. Choice made here: **refuse clearly** rather
than start a server ourselves. A server started by `netliq serve` would die with it, hiding
its UI and run history from the user, and the port would be ours to manage. Start it once:

    uv run prefect server start          # in another terminal (UI at http://127.0.0.1:4200)
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    uv run netliq serve --offline        # or without --offline, with FRED_API_KEY set

(or `uv run prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` once.)
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

TIMEZONE = "America/New_York"
POLL_SECONDS = 1.0
POLL_ENV = "PREFECT_RUNNER_POLL_FREQUENCY"
DEPLOYMENT = "netliq-daily"
BACKFILL_DEPLOYMENT = "netliq-backfill"
AS_OF_DEPLOYMENT = "netliq-as-of"
# the flow parameters each on-demand deployment expects at trigger time (`-p name=value`)
TRIGGER_PARAMETERS: dict[str, tuple[str, ...]] = {
    BACKFILL_DEPLOYMENT: ("backfill_start", "backfill_end"),
    AS_OF_DEPLOYMENT: ("as_of",),
}
# (cron, why): both on the one deployment, so `netliq-daily/netliq-daily` is the only name to know
SCHEDULES: tuple[tuple[str, str], ...] = (
    ("30 13 * * 1-5", "weekdays after the overnight reverse repo release (RRPONTSYD, ~13:15 ET)"),
    ("0 17 * * 4", "Thursdays after the H.4.1 weekly balance sheet (~16:30 ET)"),
)

NO_API_MESSAGE = """\
netliq serve needs a running Prefect server (or Prefect Cloud): PREFECT_API_URL is not set.
Prefect's temporary in-process server, used by `netliq run`, has no scheduler and would
disappear with this process, so no scheduled run would ever happen.

  1. in another terminal:  uv run prefect server start
  2. then here:            export PREFECT_API_URL=http://127.0.0.1:4200/api
                           uv run netliq {args}

(or once for all shells: uv run prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api)"""

UNREACHABLE_MESSAGE = """\
netliq serve: the Prefect API at {url} does not answer ({error}).
Start it with `uv run prefect server start` (it listens on http://127.0.0.1:4200/api by
default), or point PREFECT_API_URL at the server you use."""


class ServeError(RuntimeError):
    """Serving cannot start; the message says what to do. `netliq serve` exits 2 with it."""


def _date(name: str, value: object) -> dt.date:
    if isinstance(value, dt.datetime):  # a datetime is a date too; a backfill works in days
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), got the datetime {value.isoformat()}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")


def check_backfill(start: dt.date | str | None, end: dt.date | str | None) -> tuple[dt.date, dt.date]:
    """The backfill range as two dates, inclusive; ValueError naming the parameter otherwise.

    Both ends are needed (a backfill with one end open would re-fetch whole histories by
    accident), they are calendar dates (`2025-01-01`, or date objects), and
    backfill_end is not before backfill_start. A one-day range is allowed.
    """
    if start is None or end is None:
        missing = " and ".join(n for n, v in (("backfill_start", start), ("backfill_end", end)) if v is None)
        raise ValueError(
            f"a backfill needs both backfill_start and backfill_end; {missing} missing "
            f"(e.g. -p backfill_start=2025-01-01 -p backfill_end=2025-03-31)"
        )
    first, last = _date("backfill_start", start), _date("backfill_end", end)
    if last < first:
        raise ValueError(f"backfill_end {last} is before backfill_start {first}")
    return first, last


def _trigger_command(name: str) -> str:
    example = {"backfill_start": "2025-01-01", "backfill_end": "2025-03-31", "as_of": "2025-06-04"}
    return f"prefect deployment run netliq-daily/{name} " + " ".join(
        f"-p {p}={example[p]}" for p in TRIGGER_PARAMETERS[name]
    )


def served_flows(offline: bool = False, data_dir: str | None = None) -> list[tuple["Flow", dict]]:
    """The served deployments of the flow `netliq-daily`, as (flow, deployment options).

    `netliq-daily` on the release-aware schedules (New York time); `netliq-backfill` and
    `netliq-as-of` without a schedule, run on demand with their dates given at trigger
    time (TRIGGER_PARAMETERS). All three carry `offline` and `data_dir` as defaults.
    """
    from prefect.schedules import Cron

    from flows.pipeline import daily

    parameters: dict[str, object] = {"offline": bool(offline)}
    # absolute: the flow runs in a child process; the path must not depend on where that starts
    parameters["data_dir"] = str(Path(data_dir).resolve()) if data_dir else None
    schedules = [Cron(cron, timezone=TIMEZONE) for cron, _ in SCHEDULES]
    description = (
        "Daily netliq job (fetch, check, rebuild, publish if every check passes and something "
        "changed). Scheduled in New York time: "
        + "; ".join(f"`{cron}` {why}" for cron, why in SCHEDULES)
        + "."
    )
    mode = ["offline"] if offline else []
    return [
        (daily, dict(
            name=DEPLOYMENT,
            schedules=schedules,
            parameters=dict(parameters),
            description=description,
            tags=["netliq", "daily", "served"] + mode,
        )),
        (daily, dict(
            name=BACKFILL_DEPLOYMENT,
            parameters=dict(parameters),
            description=(
                "On demand: re-fetch every source's observations from backfill_start to "
                "backfill_end (inclusive dates), check, rebuild and publish. Trigger with `"
                + _trigger_command(BACKFILL_DEPLOYMENT) + "`."
            ),
            tags=["netliq", "backfill", "served"] + mode,
        )),
        (daily, dict(
            name=AS_OF_DEPLOYMENT,
            parameters=dict(parameters),
            description=(
                "On demand: rebuild every table as it was known at the end of the New York date "
                "as_of, into a separate file (never the published one). Trigger with `"
                + _trigger_command(AS_OF_DEPLOYMENT) + "`."
            ),
            tags=["netliq", "as-of", "served"] + mode,
        )),
    ]


def deployments(offline: bool = False, data_dir: str | None = None) -> list["RunnerDeployment"]:
    """served_flows as Prefect deployments (what `netliq serve` registers)."""
    return [flow.to_deployment(**options) for flow, options in served_flows(offline, data_dir)]


def runner_options(env: Mapping[str, str] = os.environ) -> dict[str, float]:
    """Keyword arguments for the runner (`serve_flows`): poll every POLL_SECONDS unless the
    operator set PREFECT_RUNNER_POLL_FREQUENCY (then Prefect reads it itself)."""
    return {} if env.get(POLL_ENV) else {"query_seconds": POLL_SECONDS}


def check_api(timeout: float = 5.0) -> str:
    """The configured API URL, after checking that it answers; `ServeError` otherwise (no hang)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ServeError(NO_API_MESSAGE.format(args="serve"))
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise ServeError(UNREACHABLE_MESSAGE.format(url=url, error=type(exc).__name__ + f": {exc}")) from exc
    return url


def serve(offline: bool = False, data_dir: str | None = None) -> None:
    """Register the three deployments, run `netliq-daily` on schedule and the other two when
    triggered, until interrupted (Ctrl-C).

    Raises `ServeError` with instructions, without waiting, if no Prefect API is configured
    or it does not answer. Creates the shared rate limits (`flows.limits.ensure_limits`)
    on that API if they are missing, leaving existing ones as the operator set them. On
    Ctrl-C Prefect pauses the schedules (nothing runs while no one serves them); the next
    `netliq serve` resumes them.
    """
    try:
        check_api()
    except ServeError as exc:
        if "not set" in str(exc):
            args = (f"--data-dir {data_dir} " if data_dir else "") + "serve" + (" --offline" if offline else "")
            raise ServeError(NO_API_MESSAGE.format(args=args)) from None
        raise
    from flows import limits

    try:
        limits.ensure_limits()
    except ValueError as exc:  # an existing limit that cannot work as a rate limit
        raise ServeError(f"netliq serve: {exc}") from exc
    serve_flows(served_flows(offline=offline, data_dir=data_dir), **runner_options())


def serve_flows(served: list[tuple["Flow", dict]], **runner_kwargs) -> None:
    """Prefect's `serve`, with the flow objects: each (flow, deployment options) is given to
    the runner with `Runner.add_flow`, so a run starts from the flow in memory (a process
    forked from the warm server of flows/warm_start.py) instead of a new `python -m
    prefect.engine` that copies the deployment's storage and imports everything again.
    Runs until Ctrl-C; the schedules are then paused (as `prefect.serve` does)."""
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from flows import warm_start

    runner = Runner(pause_on_shutdown=True, **runner_kwargs)
    names = []
    for flow, options in served:
        runner.add_flow(flow, **options)
        names.append(f"{flow.name}/{options['name']}")
    not_warm = warm_start.install()
    print("Serving, and polling for the runs that are due (Ctrl-C stops):")
    for name in names:
        print(f"  {name}")
    print("Runs start " + (f"as Prefect starts them: {not_warm}." if not_warm else
                           "forked from a process that has their libraries imported\n(flows/warm_start.py)."))
    print(f"Trigger one with: uv run prefect deployment run {names[0]}", flush=True)
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        print(f"Received {type(exc).__name__}, shutting down.")

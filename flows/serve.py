"""`netliq serve`: keep the daily job scheduled, release-aware, with Prefect's `serve`.

One deployment, `netliq-daily/netliq-daily`, with two cron schedules in New York time:

* weekdays 13:30 ET, after the overnight reverse repo figure (RRPONTSYD, out ~13:15 ET);
* Thursdays 17:00 ET, after the H.4.1 weekly balance sheet (~16:30 ET), so the Fed's
  total assets and the TGA are picked up the same evening.

`prefect.serve` registers the deployment with the Prefect API, then polls it for due runs
and executes each one in a fresh (spawned) Python process. It needs a *real* API: the
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

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

TIMEZONE = "America/New_York"
DEPLOYMENT = "netliq-daily"
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


def deployments(offline: bool = False, data_dir: str | None = None) -> list["RunnerDeployment"]:
    """The served deployments: `netliq-daily` on the release-aware schedules (New York time)."""
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
    return [
        daily.to_deployment(
            name=DEPLOYMENT,
            schedules=schedules,
            parameters=parameters,
            description=description,
            tags=["netliq", "daily", "served"] + (["offline"] if offline else []),
        )
    ]


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
    """Register `netliq-daily/netliq-daily` and run it on schedule until interrupted (Ctrl-C).

    Raises `ServeError` with instructions, without waiting, if no Prefect API is configured
    or it does not answer. On Ctrl-C Prefect pauses the schedules (nothing runs while no
    one serves them); the next `netliq serve` resumes them.
    """
    try:
        check_api()
    except ServeError as exc:
        if "not set" in str(exc):
            args = (f"--data-dir {data_dir} " if data_dir else "") + "serve" + (" --offline" if offline else "")
            raise ServeError(NO_API_MESSAGE.format(args=args)) from None
        raise
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(offline=offline, data_dir=data_dir))

"""The one normalized shape every source produces, what a fetch returns, and how long it may take."""

from __future__ import annotations

import datetime as dt
import http.client
import math
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

# One row per series per observation date. For prices `value` is the close and
# open/high/low/volume ride along; for FRED they are null. `value_text` keeps the
# source's own text so a value that does not parse can be shown, not guessed.
OBSERVATIONS = pl.Schema(
    {
        "series_id": pl.String,
        "obs_date": pl.Date,
        "value": pl.Float64,
        "value_text": pl.String,
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "volume": pl.Float64,
    }
)


# One row per observation date per vintage (FRED/ALFRED realtime period).
VINTAGES = pl.Schema(
    {
        "series_id": pl.String,
        "obs_date": pl.Date,
        "value": pl.Float64,
        "value_text": pl.String,
        "realtime_start": pl.Date,
        "realtime_end": pl.Date,
    }
)


@dataclass(frozen=True)
class FetchResult:
    series_id: str
    frame: pl.DataFrame  # OBSERVATIONS
    # Provider metadata as fetched (FRED: title, units, frequency, seasonal_adjustment,
    # last_updated). Empty for replayed files, which carry none.
    metadata: dict[str, str] = field(default_factory=dict)
    # ALFRED vintages when the source keeps them (FRED fetched with realtime periods):
    # VINTAGES rows, one per observation date per vintage that changed its value. None
    # when the source has no vintages (prices, replayed files).
    vintages: pl.DataFrame | None = None
    # The realtime_start the vintage request began at. A vintage row starting on this date
    # may have begun earlier (FRED clips realtime periods to the request); None for a
    # request over the whole realtime history (1776-07-04 on), whose starts are true.
    vintages_from: dt.date | None = None


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(schema=OBSERVATIONS)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and order/cast to OBSERVATIONS."""
    cols = [
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in OBSERVATIONS.items()
    ]
    return frame.select(cols)


# A plain decimal number; "NaN", "inf", "#VALUE!" and the like are not observations.
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def parse_number(text: pl.Expr) -> pl.Expr:
    """Text → Float64, null where the text is not a plain number (kept aside by callers)."""
    text = text.str.strip_chars()
    return pl.when(text.str.contains(NUMBER_PATTERN)).then(text.cast(pl.Float64, strict=False))


class SourceError(RuntimeError):
    """A source could not deliver a series; the message names the series and why.

    The gate's rule (README, "The gate's rules"): a series that is missing or cannot be read
    at all holds its tables (block policy) or goes stale (warn policy)."""


class FetchFailure(Exception):
    """One failed request, described without its URL (a URL may carry a key); `transient`
    means worth another try."""

    def __init__(self, description: str, transient: bool) -> None:
        super().__init__(description)
        self.description = description
        self.transient = transient


# A body cut off mid-transfer (the connection dropped after the headers): not an OSError a
# timeout clause would catch, yet the next try usually gets it whole.
CUT_OFF_BODY: tuple[type[BaseException], ...] = (http.client.IncompleteRead,)


def request_failure(exc: BaseException, timeout: float, *, error_detail: Callable[[bytes], str | None],
                    scrub: Callable[[str], str] = str, transient_status: tuple[int, ...] = (429,),
                    cut_off: tuple[type[BaseException], ...] = CUT_OFF_BODY) -> FetchFailure:
    """What one failed request of a source's transport means (the sources' one rule): an
    HTTP status (`transient_status` and 5xx worth another try, other 4xx fail the same way
    every time; the body's message read by `error_detail`), a network error, a timeout, a
    connection dropped or a body cut off (all worth another try), or anything else (a
    transport bug: not retried). Every text passes `scrub` (e.g. to drop an api key)."""
    if isinstance(exc, urllib.error.HTTPError):
        try:
            body = exc.read()
        except Exception:  # noqa: BLE001 - a body we cannot read still leaves the status code
            body = b""
        finally:
            exc.close()
        detail = error_detail(body) or str(exc.reason)
        transient = exc.code in transient_status or 500 <= exc.code < 600
        hint = " (rate limited)" if exc.code == 429 else ""
        return FetchFailure(f"HTTP {exc.code}{hint}: {scrub(detail)}", transient=transient)
    if isinstance(exc, urllib.error.URLError):  # DNS, refused connection, timeout on connect
        return FetchFailure(f"network error: {scrub(str(exc.reason))}", transient=True)
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return FetchFailure(f"timed out after {timeout:.3g}s ({scrub(str(exc))})", transient=True)
    if isinstance(exc, ConnectionError):  # reset/aborted while reading the body
        return FetchFailure(f"connection error: {type(exc).__name__}", transient=True)
    if isinstance(exc, cut_off):
        return FetchFailure(f"response cut off: {type(exc).__name__}: {scrub(str(exc))}", transient=True)
    return FetchFailure(f"{type(exc).__name__}: {scrub(str(exc))}", transient=False)


class BadRows(SourceError):
    """The series was read, but some of its rows are not observations (a date that does not
    parse, a row with more fields than the header): bad values, which block the publish like
    a value out of range. `check` names the check; the message names the file and the rows."""

    def __init__(self, message: str, check: str):
        super().__init__(message)
        self.check = check


# --- the time budget of one series fetch ------------------------------------------------

DEFAULT_DEADLINE_S = 60.0


@dataclass(frozen=True)
class Deadline:
    """How long one series fetch may take in all: every request, retry and backoff wait.

    Without it a dead source costs attempts x (timeout + backoff) per request: over two
    minutes with the defaults (30 s x 4 tries). Waiting for a rate-limit slot is not
    counted (see `Countdown.paused`). `clock` and `sleep` are time.monotonic and
    time.sleep; tests pass fakes so nothing depends on how fast the machine is.
    """

    seconds: float = DEFAULT_DEADLINE_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or not (
            math.isfinite(self.seconds) and self.seconds > 0
        ):
            raise ValueError(f"a deadline must be a finite number of seconds > 0, got {self.seconds!r}")

    @classmethod
    def of(cls, deadline: Deadline | float) -> Deadline:
        """`deadline` as a Deadline: a number is seconds on the real clock."""
        return deadline if isinstance(deadline, Deadline) else cls(deadline)

    def start(self) -> Countdown:
        return Countdown(self)


class Countdown:
    """One running Deadline: the time left and the attempts made under it so far."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.attempts = 0
        self._ends = deadline.clock() + deadline.seconds

    def remaining(self) -> float:
        return self._ends - self.deadline.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def timeout(self, timeout: float) -> float:
        """A request timeout that cannot run past the deadline."""
        return min(timeout, self.remaining())

    def stop_retrying(self, retry_state) -> bool:
        """A tenacity stop condition: stop when the coming backoff wait would use up the time
        left, rather than sleep and then have none for the request."""
        return retry_state.upcoming_sleep >= self.remaining()

    def paused(self, call: Callable[[], None]) -> None:
        """Run `call` without its time counting against the deadline.

        For the rate-limit throttle: that wait is our own queue, bounded by the throttle's
        own timeout, and counting it would fail the last series of a large fan-out for
        waiting their turn rather than for anything the source did.
        """
        started = self.deadline.clock()
        try:
            call()
        finally:
            self._ends += self.deadline.clock() - started

    def exceeded(self, series: str) -> str:
        """What to say when the deadline stopped the fetch of `series`."""
        plural = "" if self.attempts == 1 else "s"
        return (
            f"the {self.deadline.seconds:g}s deadline for {series} was exceeded "
            f"after {self.attempts} attempt{plural}"
        )

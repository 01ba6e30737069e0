"""Shared request budgets for the fetch fan-out: Prefect global concurrency limits used as rate limits.

FRED allows 120 requests a minute per API key; Yahoo publishes no limit but throttles
bursts (it answers with empty frames or HTTP 429). Every fetch task of a run, and every
run on every worker, takes one slot of the matching limit before each request attempt
(retries included), so the budget holds however the fetches are spread: threads, processes,
or a Dask/Ray cluster on several machines. The limits live on the Prefect API, not in this
process, which is what makes them shared: every process talking to the same API draws
from the same bucket.

A Prefect rate limit is a token bucket kept by the server: `limit` slots, of which
`slot_decay_per_second` free up every second; taking a slot when all are occupied waits
(the server answers 423 with a Retry-After) until one has decayed.

* `ensure_limits()` creates the two limits if they are missing. It never changes an
  existing one: an operator's own settings (`prefect gcl update netliq-fred ...`) win.
* `fred_throttle()` / `yahoo_throttle()` take one slot; pass them as `throttle=` to
  `FredClient` and to the Yahoo fetches.

The limit is politeness towards a provider, not a condition for correct data, so a
Prefect API that fails (HTTP 5xx or 429, a dropped connection) must not fail a fetch:
taking the slot is tried again a few times, then this process falls back to a
`LocalBucket` with the same burst and rate for a while (warned once), and asks the API
again afterwards. A limit that answers "no slot" (the budget is spent) is not a
failure: the throttle waits, as it always does.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse

log = logging.getLogger(__name__)

# How long one request may wait for a slot before the fetch fails. Waits are normally
# well under a second (1/rate per queued request); a long one means the limit was set
# to something unusable (limit 0, a decay of one slot an hour), which should fail the
# fetch with a message rather than hang the run.
DEFAULT_WAIT_TIMEOUT_S = 600.0

# Waits between tries when the Prefect API fails to hand out a slot. Short: Prefect's
# client has already retried 429/502/503 itself (with backoff) before we see one.
API_RETRY_WAITS_S: tuple[float, ...] = (0.5, 2.0)
# How long the local bucket stands in once the API has failed, before the API is asked
# again: during an outage every request would otherwise pay the retries above.
LOCAL_FALLBACK_S = 60.0


@dataclass(frozen=True)
class RateLimit:
    """A Prefect global concurrency limit used as a rate limit.

    burst: slots in the bucket (`limit`): requests that may go out at once after a quiet spell.
    per_second: slots freed per second (`slot_decay_per_second`): the sustained rate.
    """

    name: str
    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name or "%" in self.name:
            raise ValueError(f"rate limit name must be a non-empty name without '/' or '%', got {self.name!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"rate limit {self.name!r}: burst must be a whole number >= 1, got {self.burst!r}")
        if (
            isinstance(self.per_second, bool)
            or not isinstance(self.per_second, (int, float))
            or not math.isfinite(self.per_second)
            or self.per_second <= 0
        ):
            raise ValueError(
                f"rate limit {self.name!r}: per_second must be a finite number > 0 "
                f"(a limit without decay never frees a slot), got {self.per_second!r}"
            )

    def worst_minute(self) -> float:
        """The most requests any 60-second window can see: a full bucket, then the refill."""
        return self.burst + 60 * self.per_second


# FRED: 120 requests a minute per key. In any 60 s window a token bucket lets through at
# most burst + 60 * per_second requests (a full bucket spent at once, then the refill).
# Refilling at the full 2.0/s would leave no room for any burst (0 + 120), so the refill is
# 1.75/s (105 a minute) and the bucket holds 15: the first 15 series of a fan-out start at
# once, and the worst minute is 15 + 105 = 120, the budget and not one more.
FRED = RateLimit(name="netliq-fred", burst=15, per_second=1.75)
# Yahoo: no published limit; it throttles bursts. Polite: one request a second, three at once.
YAHOO = RateLimit(name="netliq-yahoo", burst=3, per_second=1.0)
LIMITS: tuple[RateLimit, ...] = (FRED, YAHOO)
# The Treasury's fiscal-data API: keyless, no published limit. One registry series reads it,
# in one task, its pages one after another (two for the whole history), so a bucket in this
# process is the whole budget and it is not a Prefect limit (not in LIMITS): polite, one
# request a second, two at once.
TREASURY = RateLimit(name="netliq-treasury", burst=2, per_second=1.0)
FRED_LIMIT = FRED.name
YAHOO_LIMIT = YAHOO.name


class ThrottleError(RuntimeError):
    """No slot could be taken: the limit is unusable, the wait timed out, or the API failed.

    Not a TimeoutError or ConnectionError on purpose: the source's retry policy must not
    mistake it for a transient network failure and ask again (it would wait again).
    """


def ensure_limits(
    client: "SyncPrefectClient | None" = None, limits: Iterable[RateLimit] = LIMITS
) -> dict[str, "GlobalConcurrencyLimitResponse"]:
    """Create each limit on the Prefect API if it does not exist; the limits as the API has them.

    Idempotent. An existing limit is left as it is (an operator may have tuned it), unless
    it cannot work as a rate limit at all (no slot decay): then ValueError, since every
    throttled request would fail. An inactive limit is kept and only reported: it turns
    the throttle off. Works against whatever API is configured (a real server, the
    ephemeral one, or `prefect_test_harness`). `client`: a sync Prefect client
    (`get_client(sync_client=True)`); one is opened when None.
    """
    wanted = list(limits)
    for spec in wanted:
        if not isinstance(spec, RateLimit):
            raise TypeError(f"limits must be RateLimit instances, got {type(spec).__name__}")
    names = [spec.name for spec in wanted]
    if len(set(names)) != len(names):
        raise ValueError(f"rate limit names must be unique, got {names}")
    if client is None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as opened:
            return ensure_limits(opened, wanted)

    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    found: dict[str, GlobalConcurrencyLimitResponse] = {}
    for spec in wanted:
        try:
            existing = client.read_global_concurrency_limit_by_name(spec.name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=spec.name, limit=spec.burst, slot_decay_per_second=float(spec.per_second)
                    )
                )
                log.info("created Prefect rate limit %s: %d slots, %.2f freed a second",
                         spec.name, spec.burst, spec.per_second)
            except ObjectAlreadyExists:  # another process created it between our read and create
                pass
            existing = client.read_global_concurrency_limit_by_name(spec.name)
        else:
            if (existing.limit, existing.slot_decay_per_second) != (spec.burst, spec.per_second):
                log.info("Prefect rate limit %s exists with its own settings (%d slots, %.2f a second); kept",
                         spec.name, existing.limit, existing.slot_decay_per_second)
        if not existing.slot_decay_per_second > 0:
            raise ValueError(
                f"Prefect concurrency limit {spec.name!r} exists without slot decay, so it cannot be used "
                f"as a rate limit and every throttled request would fail. Give it a rate, e.g. "
                f"`prefect gcl update {spec.name} --slot-decay-per-second {spec.per_second}`, "
                f"or delete it and let netliq create it."
            )
        if not existing.active:
            log.warning("Prefect rate limit %s is inactive: requests through it are not throttled", spec.name)
        found[spec.name] = existing
    return found


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, message: str) -> None:
    """Log `message` once per process per `key`: to the run's logger in a run (it shows in
    the Prefect UI), to this module's otherwise."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().warning(message)
    except MissingContextError:
        log.warning(message)


def _warn_missing_once(name: str) -> None:
    _warn_once(name, (
        f"Prefect rate limit {name!r} does not exist (or is inactive) on this Prefect API: "
        f"requests go out unthrottled. Create it with netliq's flows.limits.ensure_limits() "
        f"(`netliq serve` does) or `prefect gcl create {name} --limit N --slot-decay-per-second R`."
    ))


class LocalBucket:
    """An in-process token bucket with a RateLimit's burst and rate: the stand-in for the
    Prefect limit while its API fails.

    It counts this process's requests only (other workers are not in it) and starts full,
    so while it stands in the worst minute may exceed the budget by about one burst per
    process. `clock` and `sleep` are time.monotonic and time.sleep; tests pass fakes.
    """

    def __init__(
        self, spec: RateLimit, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.spec = spec
        self._clock, self._sleep = clock, sleep
        self._tokens = float(spec.burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self, timeout_seconds: float | None = DEFAULT_WAIT_TIMEOUT_S) -> None:
        """Take one slot, waiting for it as the Prefect limit would; ThrottleError, without
        waiting, when the wait would be longer than `timeout_seconds`."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.spec.burst), self._tokens + (now - self._at) * self.spec.per_second)
            self._at = now
            wait = max(0.0, (1.0 - self._tokens) / self.spec.per_second)
            if timeout_seconds is not None and wait > timeout_seconds:
                raise ThrottleError(
                    f"a slot of the local stand-in for the Prefect rate limit {self.spec.name!r} is {wait:.1f}s "
                    f"away, longer than the {timeout_seconds:g}s allowed"
                )
            # Taken now and paid for by the wait below, outside the lock: callers arriving
            # meanwhile see the debt and queue behind this one.
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)


class _ApiFailure(Exception):
    """The Prefect API failed to answer a slot request (not: answered that there is none)."""


_local_buckets: dict[str, LocalBucket] = {}
_local_until: dict[str, float] = {}  # limit name -> monotonic time the local bucket stands in until
_local_lock = threading.Lock()


def _spec_of(limit: RateLimit | str) -> RateLimit | None:
    """The RateLimit itself, or the one of LIMITS with that name (None: no rate known)."""
    if isinstance(limit, RateLimit):
        return limit
    return next((spec for spec in LIMITS if spec.name == limit), None)


def _local_bucket(spec: RateLimit) -> LocalBucket:
    with _local_lock:
        bucket = _local_buckets.get(spec.name)
        if bucket is None or bucket.spec != spec:
            bucket = _local_buckets[spec.name] = LocalBucket(spec)
        return bucket


def _standing_in(name: str) -> bool:
    with _local_lock:
        return time.monotonic() < _local_until.get(name, -math.inf)


def _fall_back(spec: RateLimit, failure: _ApiFailure) -> LocalBucket:
    """Let the local bucket stand in for `spec` for LOCAL_FALLBACK_S, saying so once."""
    with _local_lock:
        _local_until[spec.name] = time.monotonic() + LOCAL_FALLBACK_S
    _warn_once(f"fallback:{spec.name}", (
        f"the Prefect API failed {len(API_RETRY_WAITS_S) + 1} times to hand out a slot of the rate limit "
        f"{spec.name!r} ({failure}); this process now keeps that limit itself ({spec.burst} at once, "
        f"{spec.per_second:g} a second), not shared with other processes, and asks the API again every "
        f"{LOCAL_FALLBACK_S:g}s"
    ))
    return _local_bucket(spec)


def _api_failed(exc: BaseException) -> bool:
    """Whether `exc` (the cause of a ConcurrencySlotAcquisitionError) is the API failing to
    answer: HTTP 5xx, 429 or 408, or no connection. A 4xx (a limit without decay, a bad
    name) is an answer, and asking again gets the same one."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        return code in (408, 429) or code >= 500
    return isinstance(exc, (httpx.TransportError, OSError))


def _take_prefect_slot(name: str, timeout_seconds: float | None) -> None:
    """One slot of the Prefect limit `name`; _ApiFailure when the API failed to answer.

    Asked of the API directly (`/v2/concurrency_limits/increment`, mode rate_limit), waiting out
    each "locked" answer's Retry-After, within `timeout_seconds` in all. Not through Prefect's
    `rate_limit`: in a Dask worker process its acquisition service once lost a request (the
    slots free on the server, the caller waiting on a future nobody would complete, past any
    timeout), and a fetch must never wait forever. A missing or inactive limit lets requests
    through (the API grants nothing: warned once per process; FRED's own 429s are retried by
    the source). A limit without decay, another refusal, or the wait timing out raises
    ThrottleError naming the limit.
    """
    import httpx
    from prefect.client.orchestration import get_client

    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
        with get_client(sync_client=True) as client:
            while True:
                try:
                    granted = client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit").json()
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 423:  # 423 Locked: no slot free yet; others below
                        raise
                    wait = float(exc.response.headers.get("Retry-After") or 1.0)
                    if deadline is not None and time.monotonic() + wait > deadline:
                        raise ThrottleError(
                            f"waited {timeout_seconds:g}s for a slot of the Prefect rate limit {name!r} without "
                            f"getting one; check its settings with `prefect gcl inspect {name}`") from None
                    time.sleep(wait)
                    continue
                if not granted:
                    _warn_missing_once(name)
                return
    except ThrottleError:
        raise
    except Exception as exc:  # noqa: BLE001 - sorted below: the API not answering, or anything else
        if _api_failed(exc):
            raise _ApiFailure(str(exc).splitlines()[0]) from exc
        detail = f"{exc.response.status_code} {exc.response.text[:200]}" if isinstance(exc, httpx.HTTPStatusError) \
            else str(exc).splitlines()[0]
        raise ThrottleError(f"could not take a slot of the Prefect rate limit {name!r}: {detail}") from exc


def _take_with_retries(name: str, timeout_seconds: float | None) -> _ApiFailure | None:
    """A Prefect slot, asked again after each of API_RETRY_WAITS_S while the API fails to
    answer; None once taken, else the last failure."""
    waits = iter(API_RETRY_WAITS_S)
    while True:
        try:
            _take_prefect_slot(name, timeout_seconds)
            return None
        except _ApiFailure as failure:
            wait = next(waits, None)
            if wait is None:
                return failure
            log.info("Prefect API failed to hand out a slot of %s (%s); asking again in %gs", name, failure, wait)
        time.sleep(wait)


def take_slot(limit: RateLimit | str, *, timeout_seconds: float | None = DEFAULT_WAIT_TIMEOUT_S) -> None:
    """Wait for and take one slot of the Prefect rate limit `limit` (no release: it decays).

    `limit` is a RateLimit or the name of one; a name of LIMITS brings its rate along, which
    is what the local fallback needs. When the Prefect API fails to answer (after the
    retries of `_take_with_retries`), the slot comes from the process's LocalBucket for
    that rate instead, for LOCAL_FALLBACK_S; for a name whose rate is not known there is
    nothing to fall back to, and ThrottleError says why. A missing or inactive limit lets
    requests through (warned once); a limit without decay or a wait longer than
    `timeout_seconds` is ThrottleError naming the limit.
    """
    spec = _spec_of(limit)
    name = spec.name if spec is not None else str(limit)
    if spec is not None and _standing_in(name):
        _local_bucket(spec).take(timeout_seconds)
        return
    failure = _take_with_retries(name, timeout_seconds)
    if failure is None:
        return
    if spec is None:
        raise ThrottleError(
            f"could not take a slot of the Prefect rate limit {name!r}: {failure}; no local stand-in, as its "
            f"rate is not known here (pass the RateLimit rather than its name)"
        ) from failure
    _fall_back(spec, failure).take(timeout_seconds)


def throttle(limit: RateLimit | str, *, timeout_seconds: float | None = DEFAULT_WAIT_TIMEOUT_S) -> Callable[[], None]:
    """A zero-argument callable taking one slot of `limit` per call (picklable for Dask/Ray)."""
    return _Throttle(limit, timeout_seconds)


@dataclass(frozen=True)
class _Throttle:
    limit: RateLimit | str
    timeout_seconds: float | None

    def __call__(self) -> None:
        take_slot(self.limit, timeout_seconds=self.timeout_seconds)


def fred_throttle() -> None:
    """Take one slot of the shared FRED budget (`netliq-fred`); call before every FRED request."""
    take_slot(FRED)


def treasury_throttle() -> None:
    """Take one slot of the polite Treasury budget (this process's bucket); call before every
    fiscal-data API request."""
    _local_bucket(TREASURY).take()


def yahoo_throttle() -> None:
    """Take one slot of the polite Yahoo budget (`netliq-yahoo`); call before every Yahoo request."""
    take_slot(YAHOO)


__all__ = [
    "API_RETRY_WAITS_S", "DEFAULT_WAIT_TIMEOUT_S", "FRED", "FRED_LIMIT", "LIMITS", "LOCAL_FALLBACK_S", "LocalBucket",
    "RateLimit", "ThrottleError", "TREASURY", "YAHOO", "YAHOO_LIMIT", "ensure_limits", "fred_throttle", "take_slot",
    "throttle", "treasury_throttle", "yahoo_throttle",
]

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
"""

from __future__ import annotations

import logging
import math
import threading
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


def _warn_missing_once(name: str) -> None:
    with _warned_lock:
        if name in _warned:
            return
        _warned.add(name)
    message = (
        f"Prefect rate limit {name!r} does not exist (or is inactive) on this Prefect API: "
        f"requests go out unthrottled. Create it with netliq's flows.limits.ensure_limits() "
        f"(`netliq serve` does) or `prefect gcl create {name} --limit N --slot-decay-per-second R`."
    )
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().warning(message)  # in a run: shows in the Prefect UI
    except MissingContextError:
        log.warning(message)


def take_slot(name: str, *, timeout_seconds: float | None = DEFAULT_WAIT_TIMEOUT_S) -> None:
    """Wait for and take one slot of the Prefect rate limit `name` (no release: it decays).

    Why strict=True, caught: with `strict=False` Prefect skips a missing limit silently
    outside a run and warns on *every* request inside one, and its public `rate_limit`
    does not say whether anything was acquired. With strict=True the missing limit is an
    exception we can tell apart from the others, so we warn once per process and go on:
    a rate limit is politeness towards a provider, not a condition for correct data, and
    a run on an API where nobody created the limits should still work (FRED's own 429s
    are retried by the source). Everything else (a limit without decay, the wait timing
    out, the API failing) raises ThrottleError naming the limit.
    """
    from prefect.concurrency.asyncio import (  # re-exported there; raised by the sync API too
        AcquireConcurrencySlotTimeoutError,
        ConcurrencySlotAcquisitionError,
    )
    from prefect.concurrency.sync import rate_limit

    try:
        rate_limit(name, occupy=1, timeout_seconds=timeout_seconds, strict=True)
    except AcquireConcurrencySlotTimeoutError as exc:
        raise ThrottleError(
            f"waited {timeout_seconds:g}s for a slot of the Prefect rate limit {name!r} without getting one; "
            f"check its settings with `prefect gcl inspect {name}`"
        ) from exc
    except ConcurrencySlotAcquisitionError as exc:
        if exc.__cause__ is None:  # raised by Prefect itself: the limit is missing or inactive
            _warn_missing_once(name)
            return
        raise ThrottleError(f"could not take a slot of the Prefect rate limit {name!r}: {exc}") from exc


def throttle(name: str, *, timeout_seconds: float | None = DEFAULT_WAIT_TIMEOUT_S) -> Callable[[], None]:
    """A zero-argument callable taking one slot of `name` per call (picklable for Dask/Ray)."""
    return _Throttle(name, timeout_seconds)


@dataclass(frozen=True)
class _Throttle:
    name: str
    timeout_seconds: float | None

    def __call__(self) -> None:
        take_slot(self.name, timeout_seconds=self.timeout_seconds)


def fred_throttle() -> None:
    """Take one slot of the shared FRED budget (`netliq-fred`); call before every FRED request."""
    take_slot(FRED_LIMIT)


def yahoo_throttle() -> None:
    """Take one slot of the polite Yahoo budget (`netliq-yahoo`); call before every Yahoo request."""
    take_slot(YAHOO_LIMIT)


__all__ = [
    "DEFAULT_WAIT_TIMEOUT_S", "FRED", "FRED_LIMIT", "LIMITS", "RateLimit", "ThrottleError", "YAHOO",
    "YAHOO_LIMIT", "ensure_limits", "fred_throttle", "take_slot", "throttle", "yahoo_throttle",
]

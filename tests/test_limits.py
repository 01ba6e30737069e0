"""Shared rate limits: Prefect global concurrency limits created, kept, and really taken.

Everything runs against Prefect's test harness (a real Prefect server in a subprocess, the
same API a worker would talk to). Nothing asserts how fast anything is: a slot being
occupied is shown by the server refusing the next one (423 Locked, answered at once) until
the slot decays. The local stand-in for a failing API (LocalBucket) runs on a fake clock.
"""

from __future__ import annotations

import logging
import math
import pickle
import uuid

import pytest

from flows import limits
from tests.test_source_faults import FakeClock

pytestmark = pytest.mark.usefixtures("prefect_harness")

# How long a throttle may wait for a slot the server will grant, or for the server's answer
# (a refusal, a missing limit). Generous on purpose: on a 2-core machine at load 10-20, one
# slot request to the harness's server was measured taking up to ~5 s, so a 1 s timeout on
# a call that must get through failed the test for the machine being slow, not for any
# throttle being wrong. A wait that long only happens when something is broken.
ANSWER_WAIT_S = 120.0
# How long a throttle waits for a slot that cannot come (the slots free up once every ~17
# minutes). Any wait is refused; this only bounds how long the test takes.
REFUSED_WAIT_S = 1.0


@pytest.fixture
def client():
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as c:
        yield c


@pytest.fixture
def fresh_name(client):
    """A limit name no other test uses; the limit is deleted afterwards if it was made."""
    from prefect.exceptions import ObjectNotFound

    name = f"netliq-test-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        client.delete_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        pass


def create(client, name: str, limit: int, decay: float, active: bool = True) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    client.create_global_concurrency_limit(
        GlobalConcurrencyLimitCreate(name=name, limit=limit, slot_decay_per_second=decay, active=active)
    )


def update(client, name: str, **fields) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(**fields))


def assert_no_slot_free(client, name: str) -> None:
    """The server refuses one more slot of `name` right now: 423 Locked, no waiting involved."""
    import httpx

    with pytest.raises(httpx.HTTPStatusError) as refused:
        client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit")
    assert refused.value.response.status_code == 423


# --- the budgets themselves -----------------------------------------------------------


def test_fred_budget_holds_in_the_worst_minute():
    # FRED: 120 requests a minute. A full bucket spent at once, then 60 s of refill.
    assert limits.FRED.worst_minute() <= 120
    assert limits.FRED.burst >= 10  # a fan-out's first series start together
    assert limits.YAHOO.per_second <= 1.0 and limits.YAHOO.burst <= 5


# --- ensure_limits ----------------------------------------------------------------------


def test_ensure_limits_creates_both_with_the_stated_settings(client):
    found = limits.ensure_limits()
    assert set(found) == {"netliq-fred", "netliq-yahoo"} == {limits.FRED_LIMIT, limits.YAHOO_LIMIT}
    for spec in limits.LIMITS:
        on_server = client.read_global_concurrency_limit_by_name(spec.name)
        assert (on_server.limit, on_server.slot_decay_per_second, on_server.active) == (
            spec.burst, spec.per_second, True,
        )
        assert found[spec.name].id == on_server.id
    assert (limits.FRED.burst, limits.FRED.per_second) == (15, 1.75)
    assert (limits.YAHOO.burst, limits.YAHOO.per_second) == (3, 1.0)


def test_ensure_limits_is_idempotent(client):
    first = limits.ensure_limits(client)
    second = limits.ensure_limits(client)
    assert {n: l.id for n, l in first.items()} == {n: l.id for n, l in second.items()}
    names = [l.name for l in client.read_global_concurrency_limits(limit=200)]
    assert names.count("netliq-fred") == 1 and names.count("netliq-yahoo") == 1


def test_ensure_limits_keeps_an_operators_settings(client, fresh_name):
    create(client, fresh_name, limit=7, decay=0.5)  # `prefect gcl create ... --limit 7 --slot-decay-per-second 0.5`
    found = limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=2, per_second=3.0)])
    on_server = client.read_global_concurrency_limit_by_name(fresh_name)
    assert (on_server.limit, on_server.slot_decay_per_second) == (7, 0.5)
    assert (found[fresh_name].limit, found[fresh_name].slot_decay_per_second) == (7, 0.5)


def test_ensure_limits_reports_but_keeps_an_inactive_limit(client, fresh_name, caplog):
    create(client, fresh_name, limit=4, decay=1.0, active=False)
    with caplog.at_level(logging.WARNING, logger="flows.limits"):
        found = limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=4, per_second=1.0)])
    assert found[fresh_name].active is False
    assert f"{fresh_name} is inactive" in caplog.text


@pytest.mark.parametrize(
    ("burst", "per_second", "complaint"),
    [
        (5, 0, "per_second must be a finite number > 0"),
        (5, -2.0, "per_second must be a finite number > 0"),
        (5, math.nan, "per_second must be a finite number > 0"),
        (5, math.inf, "per_second must be a finite number > 0"),
        (0, 1.0, "burst must be a whole number >= 1"),
        (2.5, 1.0, "burst must be a whole number >= 1"),
    ],
)
def test_a_bad_limit_configuration_is_a_clear_value_error(client, fresh_name, burst, per_second, complaint):
    with pytest.raises(ValueError, match=complaint) as info:
        limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=burst, per_second=per_second)])
    assert fresh_name in str(info.value)
    names = [l.name for l in client.read_global_concurrency_limits(limit=200)]
    assert fresh_name not in names  # nothing half-made on the server


def test_bad_names_and_duplicates_are_value_errors(client):
    for bad in ("", "  ", "a/b"):
        with pytest.raises(ValueError, match="rate limit name"):
            limits.RateLimit(bad, burst=1, per_second=1.0)
    twice = [limits.RateLimit("netliq-twice", 1, 1.0)] * 2
    with pytest.raises(ValueError, match="must be unique"):
        limits.ensure_limits(client, twice)
    with pytest.raises(TypeError, match="RateLimit"):
        limits.ensure_limits(client, [("netliq-tuple", 1, 1.0)])


def test_an_existing_limit_without_decay_is_refused(client, fresh_name):
    # A plain concurrency limit of the same name cannot rate-limit: Prefect refuses every
    # rate_limit() on it. Say so at setup, with the fix, instead of at every request.
    create(client, fresh_name, limit=10, decay=0.0)
    with pytest.raises(ValueError, match="without slot decay") as info:
        limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=10, per_second=2.0)])
    assert f"prefect gcl update {fresh_name} --slot-decay-per-second 2.0" in str(info.value)
    assert client.read_global_concurrency_limit_by_name(fresh_name).slot_decay_per_second == 0.0  # not touched


# --- throttles really take slots ----------------------------------------------------------


def test_a_throttle_occupies_a_slot_until_it_decays(client, fresh_name):
    # Two slots that free up once every ~17 minutes: the first two calls get through,
    # the third cannot until the slots decay.
    limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=2, per_second=0.001)])
    take = limits.throttle(fresh_name, timeout_seconds=ANSWER_WAIT_S)
    take()
    take()
    assert client.read_global_concurrency_limit_by_name(fresh_name).active_slots == 2  # both taken, none decayed
    assert_no_slot_free(client, fresh_name)  # the server says so itself
    with pytest.raises(limits.ThrottleError, match=f"slot of the Prefect rate limit '{fresh_name}'"):
        limits.throttle(fresh_name, timeout_seconds=REFUSED_WAIT_S)()  # and the throttle reports it
    # What frees the slots is the decay: make it fast and the next call gets through.
    update(client, fresh_name, slot_decay_per_second=1000.0)
    limits.throttle(fresh_name, timeout_seconds=ANSWER_WAIT_S)()
    assert client.read_global_concurrency_limit_by_name(fresh_name).limit == 2


@pytest.mark.parametrize(
    ("throttle", "spec"),
    [(limits.fred_throttle, limits.FRED), (limits.yahoo_throttle, limits.YAHOO)],
    ids=["fred", "yahoo"],
)
def test_the_named_throttles_draw_on_their_own_limit(client, throttle, spec):
    limits.ensure_limits(client)
    other = limits.YAHOO if spec is limits.FRED else limits.FRED
    # An operator shrinks the named limit to one slot that hardly decays ...
    update(client, spec.name, limit=1, slot_decay_per_second=0.001, active_slots=0)
    try:
        throttle()  # ... the named throttle takes that slot ...
        assert_no_slot_free(client, spec.name)  # ... so nothing else gets one,
        with pytest.raises(limits.ThrottleError):
            limits.take_slot(spec.name, timeout_seconds=REFUSED_WAIT_S)
        limits.take_slot(other.name, timeout_seconds=ANSWER_WAIT_S)  # while the other budget is untouched.
    finally:
        update(client, spec.name, limit=spec.burst, slot_decay_per_second=spec.per_second, active_slots=0)


def test_a_missing_limit_warns_once_and_lets_requests_through(monkeypatch, caplog, fresh_name):
    monkeypatch.setattr(limits, "_warned", set())
    take = limits.throttle(fresh_name, timeout_seconds=ANSWER_WAIT_S)
    with caplog.at_level(logging.WARNING, logger="flows.limits"):
        take()
        take()
        take()
    warnings = [r for r in caplog.records if fresh_name in r.getMessage()]
    assert len(warnings) == 1
    assert "does not exist" in warnings[0].getMessage() and "unthrottled" in warnings[0].getMessage()


def test_an_inactive_limit_lets_requests_through(client, fresh_name, monkeypatch):
    monkeypatch.setattr(limits, "_warned", set())
    create(client, fresh_name, limit=1, decay=0.001, active=False)
    take = limits.throttle(fresh_name, timeout_seconds=ANSWER_WAIT_S)
    take()
    take()  # would be refused if the limit counted


def test_a_limit_without_decay_fails_the_throttle_clearly(client, fresh_name, monkeypatch):
    monkeypatch.setattr(limits, "_local_until", {})
    create(client, fresh_name, limit=5, decay=0.0)
    # Passed with its rate, so that mistaking the server's refusal (a 4xx) for the API
    # failing would show: the local stand-in would hand out a slot instead of this error.
    with pytest.raises(limits.ThrottleError, match="slot decay") as info:
        limits.take_slot(limits.RateLimit(fresh_name, burst=5, per_second=1.0), timeout_seconds=ANSWER_WAIT_S)
    assert fresh_name in str(info.value)
    assert not isinstance(info.value, (TimeoutError, ConnectionError))  # never mistaken for a network error
    assert fresh_name not in limits._local_until  # an answer, not an outage: no stand-in


def test_throttles_travel_to_other_processes():
    # Dask/Ray ship the callable to workers by pickling it.
    for throttle in (limits.fred_throttle, limits.yahoo_throttle, limits.throttle("netliq-x", timeout_seconds=3)):
        again = pickle.loads(pickle.dumps(throttle))
        assert callable(again)
    assert pickle.loads(pickle.dumps(limits.throttle("netliq-x", timeout_seconds=3))) == limits.throttle(
        "netliq-x", timeout_seconds=3
    )
    with_rate = limits.throttle(limits.FRED, timeout_seconds=3)  # carries its rate for the local stand-in
    assert pickle.loads(pickle.dumps(with_rate)) == with_rate


# --- the local stand-in for a failing Prefect API ------------------------------------------


def test_the_local_bucket_lets_a_burst_through_then_the_rate():
    clock = FakeClock()
    bucket = limits.LocalBucket(limits.RateLimit("netliq-local", burst=3, per_second=2.0), clock, clock.sleep)
    for _ in range(3):
        bucket.take()
    assert clock.sleeps == []  # the burst: at once
    bucket.take()
    bucket.take()
    assert clock.sleeps == [0.5, 0.5]  # then one every 1/per_second
    clock.now += 10.0  # a quiet spell refills the bucket, never beyond its burst
    for _ in range(3):
        bucket.take()
    assert clock.sleeps == [0.5, 0.5]
    bucket.take()
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_the_local_bucket_queues_waiters_in_turn():
    # Callers arriving while one waits queue behind it: the n-th over the burst waits n/rate.
    clock = FakeClock()
    waits: list[float] = []
    bucket = limits.LocalBucket(limits.RateLimit("netliq-local", burst=1, per_second=4.0), clock, waits.append)
    for _ in range(4):
        bucket.take()  # waits.append does not move the clock: as if all four arrived at once
    assert waits == [0.25, 0.5, 0.75]


def test_the_local_bucket_refuses_a_wait_longer_than_the_timeout_without_waiting():
    clock = FakeClock()
    bucket = limits.LocalBucket(limits.RateLimit("netliq-local", burst=1, per_second=0.1), clock, clock.sleep)
    bucket.take(timeout_seconds=1)
    with pytest.raises(limits.ThrottleError, match=r"'netliq-local' is 10\.0s away, longer than the 1s allowed"):
        bucket.take(timeout_seconds=1)
    assert clock.sleeps == []
    bucket.take(timeout_seconds=None)  # no timeout: waits its turn
    assert clock.sleeps == [10.0]


def test_a_throttle_asks_the_api_itself_not_prefects_acquisition_service(client, fresh_name, monkeypatch):
    """In a Dask worker process Prefect's acquisition service once lost a slot request (free
    slots on the server, the caller waiting forever): the throttle must not go through it."""
    from prefect.concurrency import services

    def lost(*args, **kwargs):
        raise AssertionError("the throttle went through Prefect's acquisition service")

    monkeypatch.setattr(services.ConcurrencySlotAcquisitionService, "instance", lost)
    limits.ensure_limits(client, [limits.RateLimit(fresh_name, burst=2, per_second=0.001)])
    limits.throttle(fresh_name, timeout_seconds=ANSWER_WAIT_S)()
    assert client.read_global_concurrency_limit_by_name(fresh_name).active_slots == 1  # taken on the server

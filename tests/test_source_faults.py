"""Faults a live run meets on the way to its data: the Prefect API failing to hand out a
rate-limit slot, a FRED body cut off mid-transfer, a FRED that never answers.

What is recorded and what is constructed:
- Every FRED body is a recorded fredapi fixture (tests/fixtures/wire/, served by
  tests/test_fred.py's Replay) or the CONSTRUCTED ALFRED answers of tests/fake_fred.py.
- The cut-off body is the recorded XML sent by a local HTTP server with its full
  Content-Length and the connection closed halfway through it. The cut is CONSTRUCTED;
  the exceptions are the ones urllib, urllib3 and requests really raise for it.
- The Prefect API's 503 is CONSTRUCTED: the Prefect client's slot request
  (`PrefectClient.increment_concurrency_slots`) raises what `raise_for_status()` raises
  for an httpx.Response with status 503. Everything else is the harness's real server.
- The dead or slow FRED is CONSTRUCTED: a transport spending its time on a fake clock, so
  the deadline is checked by attempt counts and fake seconds, never by wall time.
"""

from __future__ import annotations

import http.server
import logging
import threading
import urllib.parse
import uuid
from dataclasses import replace

import httpx
import pytest
import requests
import urllib3

from flows import limits
from flows.registry import load_registry
from flows.sources.fred import FredClient, Secret, fetch, fetch_vintages, urllib_transport
from flows.sources.schema import Deadline, SourceError
from tests.fake_fred import FakeFred
from tests.test_fred import KEY, OBS_XML, SERIES_XML, Replay

REGISTRY = load_registry()
# The recorded fredapi fixtures are SP500 / PAYEMS, not registry series: borrow an entry.
SP500 = replace(REGISTRY.get("WALCL"), key="SP500", id="SP500", native_units="Thousands of Persons")


def fred_client(transport, **settings) -> FredClient:
    """A FredClient without backoff waits unless `settings` give some."""
    defaults = {"attempts": 3, "backoff_initial": 0, "backoff_max": 0, "backoff_jitter": 0}
    return FredClient(Secret(KEY), transport=transport, **{**defaults, **settings})


def assert_nothing_leaks(error: BaseException, caplog) -> None:
    assert caplog.records, "the request and its retries are logged"
    for shown in (str(error), repr(error), caplog.text):
        assert KEY not in shown
        assert "api.stlouisfed.org" not in shown and "api_key=" not in shown  # no request URL either


# --- the Prefect API fails to hand out a slot: a local limit stands in ----------------


@pytest.fixture
def fresh_limit(prefect_harness):
    """A rate limit that exists on the harness's server, under a name no other test uses;
    the fallback state of flows.limits starts clean and is put back afterwards."""
    from prefect.client.orchestration import get_client

    spec = limits.RateLimit(f"netliq-test-{uuid.uuid4().hex[:8]}", burst=2, per_second=1000.0)
    with get_client(sync_client=True) as client:
        limits.ensure_limits(client, [spec])
        yield spec
        client.delete_global_concurrency_limit_by_name(spec.name)


@pytest.fixture
def clean_fallback(monkeypatch):
    monkeypatch.setattr(limits, "_warned", set())
    monkeypatch.setattr(limits, "_local_until", {})
    monkeypatch.setattr(limits, "_local_buckets", {})
    monkeypatch.setattr(limits, "API_RETRY_WAITS_S", (0.0, 0.0))  # three tries, no time spent between them


@pytest.fixture
def api_503(monkeypatch, clean_fallback) -> list[list[str]]:
    """Every slot request the Prefect client makes answers HTTP 503; the names asked, per request.
    (flows/limits.py asks with the sync client; the async one is patched too.)"""
    from prefect.client.orchestration import PrefectClient, SyncPrefectClient

    asked: list[list[str]] = []

    def answer_503(self, names):
        asked.append(list(names))
        request = httpx.Request("POST", f"{self.api_url}v2/concurrency_limits/increment")
        httpx.Response(503, request=request, json={"detail": "Service Unavailable"}).raise_for_status()

    async def increment_concurrency_slots(self, names, slots, mode):
        answer_503(self, names)

    def increment_concurrency_slots_sync(self, names, slots, mode):
        answer_503(self, names)

    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots", increment_concurrency_slots)
    monkeypatch.setattr(SyncPrefectClient, "increment_concurrency_slots", increment_concurrency_slots_sync)
    return asked


def fallback_warnings(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and name in r.getMessage()]


def test_a_503_from_the_prefect_api_falls_back_to_a_local_limit_and_the_fetch_completes(fresh_limit, api_503, caplog):
    transport = Replay()
    client = fred_client(transport, throttle=limits.throttle(fresh_limit, timeout_seconds=60))
    with caplog.at_level(logging.INFO, logger="flows.limits"):
        result = fetch(SP500, client, since=None)
        fetch(SP500, client, since=None)  # a second series while the local limit stands in

    assert result.frame["value"].to_list() == [2002.28, 2000.72, 1997.65, 2007.71]  # the recording, whole
    assert len(transport.calls) == 4  # info + observations, twice: every request went out
    # The API was asked three times for the first slot (two retries), then left alone: the
    # local limit stands in for the next LOCAL_FALLBACK_S instead of every request retrying.
    assert api_503 == [[fresh_limit.name]] * 3
    warnings = fallback_warnings(caplog, fresh_limit.name)
    assert len(warnings) == 1
    assert "503" in warnings[0] and "keeps that limit itself" in warnings[0]
    assert "2 at once, 1000 a second" in warnings[0]  # the same rate as the Prefect limit


def test_after_the_stand_in_the_api_is_asked_again(fresh_limit, api_503, monkeypatch, caplog):
    monkeypatch.setattr(limits, "LOCAL_FALLBACK_S", 0.0)  # stand in for no time at all
    take = limits.throttle(fresh_limit, timeout_seconds=60)
    with caplog.at_level(logging.WARNING, logger="flows.limits"):
        take()
        take()
    assert len(api_503) == 6  # three tries for each slot: the API was asked again
    assert len(fallback_warnings(caplog, fresh_limit.name)) == 1  # still warned once


def test_the_named_throttles_fall_back_with_their_own_budgets(prefect_harness, api_503, caplog):
    # fred_throttle / yahoo_throttle name LIMITS' entries, so their rates are known here too.
    with caplog.at_level(logging.WARNING, logger="flows.limits"):
        limits.fred_throttle()
        limits.yahoo_throttle()
    assert "15 at once, 1.75 a second" in " ".join(fallback_warnings(caplog, "netliq-fred"))
    assert "3 at once, 1 a second" in " ".join(fallback_warnings(caplog, "netliq-yahoo"))


def test_a_limit_known_only_by_name_cannot_fall_back(fresh_limit, api_503):
    # Only the name: no rate to keep locally, so the API failure is reported as before.
    with pytest.raises(limits.ThrottleError, match=rf"'{fresh_limit.name}'.*503.*rate is not known") as info:
        limits.take_slot(fresh_limit.name, timeout_seconds=60)
    assert not isinstance(info.value, (TimeoutError, ConnectionError))
    assert len(api_503) == 3


def test_the_stand_in_keeps_a_spent_budget_spent(fresh_limit, api_503):
    # The local limit has the Prefect limit's burst: a third slot at once is as far away as
    # the rate says, and a timeout shorter than that is a ThrottleError, as on the server.
    slow = limits.RateLimit(fresh_limit.name, burst=2, per_second=0.001)
    limits.take_slot(slow, timeout_seconds=60)
    limits.take_slot(slow, timeout_seconds=60)
    with pytest.raises(limits.ThrottleError, match="local stand-in"):
        limits.take_slot(slow, timeout_seconds=60)


# --- a FRED body cut off mid-transfer is retried --------------------------------------


class _CutOffHandler(http.server.BaseHTTPRequestHandler):
    """Serves the recorded fredapi XML by endpoint; the first `server.cut_left` answers stop
    halfway through the body they announced."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.urlsplit(self.path).path
        body = OBS_XML if path.endswith("/series/observations") else SERIES_XML
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with self.server.lock:
            cut = self.server.cut_left > 0
            self.server.cut_left -= cut
        self.wfile.write(body[: len(body) // 2] if cut else body)
        self.close_connection = True

    def log_message(self, format, *args) -> None:  # noqa: A002 - the request line holds the key
        pass


@pytest.fixture
def cut_off_fred():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutOffHandler)
    server.lock, server.cut_left = threading.Lock(), 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _urllib3_get(url: str, timeout: float) -> bytes:
    return urllib3.PoolManager(retries=False).request("GET", url, timeout=timeout).data


def _requests_get(url: str, timeout: float) -> bytes:
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.content


GETS = {
    "urllib (IncompleteRead)": urllib_transport,
    "urllib3 (ProtocolError)": _urllib3_get,
    "requests (ChunkedEncodingError)": _requests_get,
}


def local(server, get):
    """A transport sending FRED's path and query to the local server through `get`."""

    def transport(url: str, timeout: float) -> bytes:
        parts = urllib.parse.urlsplit(url)
        return get(f"http://127.0.0.1:{server.server_port}{parts.path}?{parts.query}", timeout)

    return transport


@pytest.mark.parametrize("get", GETS.values(), ids=GETS.keys())
def test_a_cut_off_body_is_retried(cut_off_fred, get):
    cut_off_fred.cut_left = 1  # the first answer (series info) stops halfway
    result = fetch(SP500, fred_client(local(cut_off_fred, get)), since=None)
    assert result.frame["value"].to_list() == [2002.28, 2000.72, 1997.65, 2007.71]
    assert result.metadata["units"] == "Thousands of Persons"
    assert cut_off_fred.cut_left == 0


@pytest.mark.parametrize("get", GETS.values(), ids=GETS.keys())
def test_a_body_cut_off_every_time_fails_after_the_attempts(cut_off_fred, get, caplog):
    caplog.set_level(logging.DEBUG, logger="flows.sources.fred")  # our request log lines too
    cut_off_fred.cut_left = 99
    with pytest.raises(SourceError) as info:
        fetch(SP500, fred_client(local(cut_off_fred, get), attempts=2), since=None)
    message = str(info.value)
    assert message.startswith("SP500: FRED series request failed after 2 attempts: response cut off")
    assert "not retryable" not in message
    assert cut_off_fred.cut_left == 97
    assert_nothing_leaks(info.value, caplog)


# --- a dead or slow FRED: one deadline over the whole series fetch --------------------


class FakeClock:
    """Monotonic seconds that move only when a fake transport spends them or a wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(seconds, clock=self, sleep=self.sleep)


class DeadFred:
    """CONSTRUCTED: a FRED that never answers. Each request uses its whole timeout, then
    times out as urlopen does (TimeoutError)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timeouts: list[float] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        self.clock.now += timeout
        raise TimeoutError("timed out")


class SlowFred:
    """CONSTRUCTED: tests/fake_fred.py's FRED taking `seconds` to answer each request; a
    request with a shorter timeout times out after it."""

    def __init__(self, clock: FakeClock, seconds: float, key: str = "WALCL") -> None:
        self.clock, self.seconds, self.fred = clock, seconds, FakeFred(key)
        self.timeouts: list[float] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        if timeout < self.seconds:
            self.clock.now += timeout
            raise TimeoutError("timed out")
        self.clock.now += self.seconds
        return self.fred(url, timeout)


def test_the_deadline_stops_the_retries_of_a_dead_fred(caplog):
    caplog.set_level(logging.DEBUG, logger="flows.sources.fred")  # our request log lines too
    clock = FakeClock()
    dead = DeadFred(clock)
    client = fred_client(dead, timeout=2.0, attempts=10, backoff_initial=1.0, backoff_max=1.0,
                         deadline=clock.deadline(5.0))
    with pytest.raises(SourceError) as info:
        fetch(SP500, client, since=None)
    # 0-2 s the first try, 1 s backoff, 3-5 s the second (its timeout cut to the 2 s left);
    # then no time is left for another wait: 2 of the 10 attempts, 5 s on the clock.
    assert dead.timeouts == [2.0, 2.0]
    assert clock.sleeps == [1.0]
    assert clock.now == 5.0
    assert str(info.value) == (
        "SP500: FRED series request failed (the 5s deadline for SP500 was exceeded after 2 attempts): "
        "timed out after 2s (timed out)"
    )
    assert_nothing_leaks(info.value, caplog)


def test_the_default_settings_give_a_dead_fred_60_seconds_not_two_minutes():
    clock = FakeClock()
    dead = DeadFred(clock)
    client = FredClient(Secret(KEY), transport=dead, deadline=clock.deadline(60.0))  # 30 s x 4, backoff 1 s on
    with pytest.raises(SourceError, match=r"the 60s deadline for SP500 was exceeded after 2 attempts"):
        fetch(SP500, client, since=None)
    # Without the deadline: 4 x 30 s of timeouts plus ~7 s of backoff. With it: the second
    # try gets the 28-29 s left after the first try and its backoff, and that is the end.
    assert len(dead.timeouts) == 2 and dead.timeouts[0] == 30.0 and 28.0 <= dead.timeouts[1] <= 29.0
    assert clock.now == pytest.approx(60.0)
    assert client.deadline.seconds == 60.0 == FredClient(Secret(KEY)).deadline.seconds  # the default


def test_all_requests_of_a_series_share_one_deadline():
    # The pipeline's path (fetch_vintages): series info, vintage dates and observations,
    # each answered in 2 s. Every request's timeout is cut to the time left of the 5 s:
    # the third has 1 s, and times out.
    clock = FakeClock()
    slow = SlowFred(clock, seconds=2.0)
    client = fred_client(slow, attempts=4, deadline=clock.deadline(5.0))
    with pytest.raises(SourceError) as info:
        fetch_vintages(REGISTRY.get("WALCL"), client, realtime_start=None, observation_start=None)
    assert slow.timeouts == [5.0, 3.0, 1.0]
    assert slow.fred.calls == ["/fred/series", "/fred/series/vintagedates"]  # the third never got an answer
    assert clock.now == 5.0
    assert str(info.value).startswith(
        "WALCL: FRED series/observations request failed (the 5s deadline for WALCL was exceeded after 3 attempts): "
        "timed out after 1s"
    )


def test_a_fast_enough_fred_is_not_cut_short():
    clock = FakeClock()
    slow = SlowFred(clock, seconds=2.0)
    result = fetch_vintages(REGISTRY.get("WALCL"), fred_client(slow, deadline=clock.deadline(10.0)),
                            realtime_start=None, observation_start=None)
    assert result.vintages is not None and result.vintages.height > 0
    assert clock.now == 6.0 and slow.timeouts == [10.0, 8.0, 6.0]


def test_waiting_for_a_rate_limit_slot_is_not_counted():
    # Our own queue is not FRED's time: a throttle that waits 100 s leaves the 5 s intact.
    clock = FakeClock()
    slow = SlowFred(clock, seconds=2.0)

    def throttle() -> None:
        clock.now += 100.0

    client = fred_client(slow, throttle=throttle, deadline=clock.deadline(5.0))
    with pytest.raises(SourceError, match="the 5s deadline for WALCL was exceeded after 3 attempts"):
        fetch_vintages(REGISTRY.get("WALCL"), client, realtime_start=None, observation_start=None)
    assert slow.timeouts == [5.0, 3.0, 1.0]  # the same cut as without the throttle
    assert clock.now == 305.0  # 300 s of it in the throttle


def test_a_deadline_must_be_a_positive_number():
    for bad in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="deadline"):
            fred_client(Replay(), deadline=bad)

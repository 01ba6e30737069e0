"""FRED source: real recorded responses replayed at the transport boundary, no network."""

from __future__ import annotations

import datetime as dt
import io
import logging
import socket
import urllib.error
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources.fred import (
    FredClient,
    MissingApiKeyError,
    Secret,
    check_units,
    fetch,
    incremental_start,
    load_api_key,
    normalize_json_observations,
    normalize_observations,
)
from flows.sources.schema import OBSERVATIONS, SourceError

WIRE = Path(__file__).parent / "fixtures" / "wire"
KEY = "SECRETKEY-TEST-1234"

SERIES_XML = (WIRE / "fredapi_fixture_series_PAYEMS.xml").read_bytes()
OBS_XML = (WIRE / "fredapi_fixture_series_observations_SP500.xml").read_bytes()
RATE_LIMIT_JSON = (WIRE / "fred_error_429_rate_limit.json").read_bytes()
# FRED's XML error shape (as fredapi expects it); written here, not recorded.
BAD_REQUEST_XML = b'<?xml version="1.0" encoding="utf-8" ?>\n<error code="400" message="Bad Request.  The series does not exist."/>'


def http_error(url: str, code: int, reason: str, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(url, code, reason, {}, io.BytesIO(body))  # type: ignore[arg-type]


class Replay:
    """A transport serving the recorded XML by endpoint; `failures` are raised first, in order.

    A failure is an exception or a callable(url) -> exception (to build an HTTPError
    carrying the real, keyed URL, as urllib's would).
    """

    def __init__(self, *failures) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.calls.append((url, timeout))
        if self.failures:
            failure = self.failures.pop(0)
            raise failure(url) if callable(failure) else failure
        if "/series/observations?" in url:
            return OBS_XML
        if "/series?" in url:
            return SERIES_XML
        raise AssertionError(f"unexpected URL {url}")


def always(make_failure):
    class Always(Replay):
        def __call__(self, url: str, timeout: float) -> bytes:
            self.calls.append((url, timeout))
            raise make_failure(url)

    return Always()


def rate_limited(url: str) -> urllib.error.HTTPError:
    return http_error(url, 429, "Too Many Requests", RATE_LIMIT_JSON)


def bad_request(url: str) -> urllib.error.HTTPError:
    return http_error(url, 400, "Bad Request", BAD_REQUEST_XML)


def client(transport, attempts: int = 3, timeout: float = 30.0) -> FredClient:
    return FredClient(
        Secret(KEY), transport=transport, timeout=timeout, attempts=attempts,
        backoff_initial=0, backoff_max=0, backoff_jitter=0,
    )


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture
def sp500_spec(registry):
    # The recorded fredapi fixtures are SP500 / PAYEMS, not registry series: borrow an entry.
    return replace(registry.get("WALCL"), key="SP500", id="SP500", native_units="Thousands of Persons")


# --- fredapi path ------------------------------------------------------------------


def test_fetch_replays_recorded_fredapi_xml(sp500_spec):
    transport = Replay()
    result = fetch(sp500_spec, client(transport), since=None)

    frame = result.frame
    assert frame.schema == OBSERVATIONS
    assert result.series_id == "SP500"
    # values straight from fredapi_fixture_series_observations_SP500.xml
    assert frame["obs_date"].to_list() == [dt.date(2014, 9, d) for d in (2, 3, 4, 5)]
    assert frame["value"].to_list() == [2002.28, 2000.72, 1997.65, 2007.71]
    assert frame["value_text"].to_list() == ["2002.28", "2000.72", "1997.65", "2007.71"]
    assert frame["series_id"].unique().to_list() == ["SP500"]
    assert frame["open"].null_count() == 4

    # metadata straight from fredapi_fixture_series_PAYEMS.xml
    assert result.metadata == {
        "title": "All Employees: Total Nonfarm Payrolls",
        "units": "Thousands of Persons",
        "frequency": "Monthly",
        "seasonal_adjustment": "Seasonally Adjusted",
        "last_updated": "2015-06-05 08:47:20-05",
        # not from FRED: the day the info was asked (a daily fetch reuses it for a week)
        "info_fetched_on": dt.date.today().isoformat(),
    }
    assert check_units(sp500_spec, result.metadata) is None

    assert len(transport.calls) == 2
    assert all(timeout == 30.0 for _, timeout in transport.calls)
    assert all("series_id=SP500" in url for url, _ in transport.calls)
    assert all("observation_start" not in url for url, _ in transport.calls)


def test_fetch_since_sets_observation_start_and_configured_timeout(sp500_spec):
    transport = Replay()
    fetch(sp500_spec, client(transport, timeout=7.5), since=dt.date(2014, 9, 1))
    obs_urls = [url for url, _ in transport.calls if "/series/observations?" in url]
    assert len(obs_urls) == 1 and "observation_start=2014-09-01" in obs_urls[0]
    assert [timeout for _, timeout in transport.calls] == [7.5, 7.5]


def test_fredapi_path_drops_missing_marker_and_keeps_non_numbers(sp500_spec):
    xml = OBS_XML.replace(b'value="2000.72"', b'value="."').replace(b'value="1997.65"', b'value="n/a"')
    calls = []

    def transport(url: str, timeout: float) -> bytes:
        calls.append(url)
        return SERIES_XML if "/series?" in url else xml

    frame = fetch(sp500_spec, client(transport), since=None).frame
    assert frame["obs_date"].to_list() == [dt.date(2014, 9, d) for d in (2, 4, 5)]
    assert frame["value"].to_list() == [2002.28, None, 2007.71]
    assert frame["value_text"].to_list() == ["2002.28", "n/a", "2007.71"]


def test_normalize_observations_without_texts_uses_float_repr():
    import pandas as pd

    series = pd.Series({pd.Timestamp("2024-01-03"): 7.5, pd.Timestamp("2024-01-02"): float("nan")})
    frame = normalize_observations("X", series)
    assert frame["obs_date"].to_list() == [dt.date(2024, 1, 3)]
    assert frame["value_text"].to_list() == ["7.5"]
    assert normalize_observations("X", pd.Series(dtype=float)).schema == OBSERVATIONS


# --- retries -----------------------------------------------------------------------


def test_429_once_then_success_retries(sp500_spec):
    transport = Replay(rate_limited)
    frame = fetch(sp500_spec, client(transport), since=None).frame
    assert frame.height == 4
    assert len(transport.calls) == 3  # info: 429 + retry; observations: 1
    info_calls = [u for u, _ in transport.calls if "/series?" in u]
    assert len(info_calls) == 2


def test_always_429_gives_up_after_attempts(sp500_spec):
    transport = always(rate_limited)
    with pytest.raises(SourceError) as caught:
        fetch(sp500_spec, client(transport, attempts=3), since=None)
    assert len(transport.calls) == 3
    message = str(caught.value)
    assert "SP500" in message and "429" in message and "rate limit" in message.lower()
    assert "Exceeded Rate Limit" in message  # FRED's JSON error body, not a ParseError
    assert "after 3 attempts" in message


@pytest.mark.parametrize("code", [400, 404])
def test_client_errors_are_not_retried(sp500_spec, code):
    transport = always(lambda url: http_error(url, code, "Bad Request", BAD_REQUEST_XML))
    with pytest.raises(SourceError) as caught:
        fetch(sp500_spec, client(transport, attempts=5), since=None)
    assert len(transport.calls) == 1
    message = str(caught.value)
    assert f"HTTP {code}" in message and "The series does not exist." in message and "SP500" in message


def test_5xx_is_retried(sp500_spec):
    transport = Replay(lambda url: http_error(url, 503, "Service Unavailable", b"<html>down</html>"))
    assert fetch(sp500_spec, client(transport), since=None).frame.height == 4
    assert len(transport.calls) == 3


@pytest.mark.parametrize(
    "failure",
    [
        socket.timeout("timed out"),  # noqa: UP041 - the name urllib/socket users know; same class
        urllib.error.URLError(TimeoutError("timed out")),
        ConnectionResetError(),
    ],
    ids=["socket.timeout", "URLError(timeout)", "connection reset"],
)
def test_network_failure_once_then_success(sp500_spec, failure):
    transport = Replay(failure)
    assert fetch(sp500_spec, client(transport), since=None).frame.height == 4
    assert len(transport.calls) == 3


def test_error_body_served_with_200_is_a_clear_source_error(sp500_spec):
    def transport(url: str, timeout: float) -> bytes:
        return RATE_LIMIT_JSON

    with pytest.raises(SourceError, match=r"SP500.*Too Many Requests\.  Exceeded Rate Limit"):
        fetch(sp500_spec, client(transport), since=None)


# --- secrets -----------------------------------------------------------------------


def _chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize(
    "make_transport",
    [
        lambda: always(rate_limited),
        lambda: always(bad_request),
        lambda: always(lambda url: urllib.error.URLError(f"cannot reach {url}")),
        lambda: always(lambda url: RuntimeError(f"transport bug while fetching {url}")),
    ],
    ids=["429", "400", "URLError naming the URL", "unexpected error naming the URL"],
)
def test_key_never_leaks(sp500_spec, caplog, make_transport):
    caplog.set_level(logging.DEBUG)
    transport = make_transport()
    fred = client(transport, attempts=2)
    with pytest.raises(SourceError) as caught:
        fetch(sp500_spec, fred, since=None)
    assert KEY in transport.calls[0][0]  # it was sent, so there was something to leak

    for exc in _chain(caught.value):
        for shown in (str(exc), repr(exc), repr(exc.args)):
            assert KEY not in shown
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text
    assert KEY not in repr(fred) and KEY not in str(fred)
    assert caplog.records, "the request and the retries should be logged (without the key)"


def test_secret_hides_the_key():
    secret = Secret(KEY)
    assert secret.get_secret_value() == KEY
    for shown in (repr(secret), str(secret), f"{secret}", repr({"k": secret})):
        assert KEY not in shown


def test_load_api_key():
    assert load_api_key({"FRED_API_KEY": f"  {KEY}\n"}).get_secret_value() == KEY
    assert KEY not in repr(load_api_key({"FRED_API_KEY": KEY}))


@pytest.mark.parametrize("env", [{}, {"FRED_API_KEY": ""}, {"FRED_API_KEY": "   "}])
def test_missing_api_key(env):
    with pytest.raises(MissingApiKeyError) as caught:
        load_api_key(env, block=None)  # no Prefect API in this unit test
    assert isinstance(caught.value, SourceError)
    message = str(caught.value)
    assert "FRED_API_KEY" in message and "netliq run --offline" in message


# --- JSON normalize ----------------------------------------------------------------


def test_normalize_json_walcl_recording():
    frame = normalize_json_observations("WALCL", (WIRE / "fred_series_observations_WALCL_desc60.json").read_bytes())
    assert frame.schema == OBSERVATIONS
    assert frame.height == 60
    assert frame["obs_date"].is_sorted()
    assert frame["obs_date"].n_unique() == 60
    # Read by hand from fred_series_observations_WALCL_desc60.json (served sort_order=desc):
    # its last entry is 2025-06-18 "6681056.0", its first 2026-08-05 "6748567.0000000000".
    first, last = frame.row(0, named=True), frame.row(-1, named=True)
    assert (first["obs_date"], first["value"], first["value_text"]) == (dt.date(2025, 6, 18), 6681056.0, "6681056.0")
    assert (last["obs_date"], last["value"], last["value_text"]) == (
        dt.date(2026, 8, 5), 6748567.0, "6748567.0000000000",
    )
    # the real format quirk: both spellings in one response, texts kept verbatim
    by_date = dict(zip(frame["obs_date"].to_list(), frame["value_text"].to_list()))
    assert by_date[dt.date(2026, 7, 15)] == "6743028"
    assert frame["value"].null_count() == 0


def test_normalize_json_drops_fred_missing_marker():
    payload = (WIRE / "fred_series_observations_RRPONTSYD_desc60.json").read_bytes()
    frame = normalize_json_observations("RRPONTSYD", payload)
    # the recording has 3 "." rows (2026-05-25, 2026-06-19, 2026-07-03: no operation)
    assert frame.height == 57
    assert dt.date(2026, 7, 3) not in frame["obs_date"].to_list()
    assert frame["value"].null_count() == 0
    assert frame["obs_date"].is_sorted()


def test_normalize_json_rate_limit_body_raises():
    with pytest.raises(SourceError) as caught:
        normalize_json_observations("WTREGEN", RATE_LIMIT_JSON)
    message = str(caught.value)
    assert "WTREGEN" in message and "429" in message and "Too Many Requests.  Exceeded Rate Limit" in message


def test_normalize_json_keeps_non_numeric_value():
    payload = (
        '{"observations":['
        '{"date":"2026-08-05","value":"6748567.0000000000"},'
        '{"date":"2026-07-29","value":"abc"},'
        '{"date":"2026-07-22","value":"."}]}'
    )
    frame = normalize_json_observations("WALCL", payload)
    assert frame.select("obs_date", "value", "value_text").rows() == [
        (dt.date(2026, 7, 29), None, "abc"),
        (dt.date(2026, 8, 5), 6748567.0, "6748567.0000000000"),
    ]


@pytest.mark.parametrize("payload", ["not json", "[]", '{"count": 0}'])
def test_normalize_json_rejects_non_payloads(payload):
    with pytest.raises(SourceError, match="WALCL"):
        normalize_json_observations("WALCL", payload)


# --- units and incremental start ---------------------------------------------------


def test_check_units(registry):
    walcl = registry.get("WALCL")
    assert check_units(walcl, {"units": "Millions of U.S. Dollars"}) is None
    problem = check_units(walcl, {"units": "Billions of U.S. Dollars"})
    assert problem is not None
    assert "WALCL" in problem and "Millions of U.S. Dollars" in problem and "Billions of U.S. Dollars" in problem
    assert "blocked" in problem
    # replayed files carry no units: nothing to compare
    assert check_units(walcl, {"file": "data/snapshot/fred/WALCL.csv"}) is None


def test_incremental_start():
    assert incremental_start(None) is None
    assert incremental_start(dt.date(2026, 8, 5)) == dt.date(2026, 4, 7)
    assert incremental_start(dt.date(2026, 8, 5), revision_window_days=0) == dt.date(2026, 8, 5)
    with pytest.raises(ValueError):
        incremental_start(dt.date(2026, 8, 5), revision_window_days=-1)


def test_client_rejects_empty_key():
    with pytest.raises(MissingApiKeyError):
        FredClient("")


def test_frames_are_polars():
    frame = normalize_json_observations("M2SL", (WIRE / "fred_series_observations_M2SL_desc60.json").read_bytes())
    assert isinstance(frame, pl.DataFrame) and frame.height == 60


@pytest.mark.parametrize("key", ["RPONTSYD", "ODSACBW027SBOG", "WMTSECL1"])
def test_series_the_snapshot_lacks_go_through_the_recorded_fredapi_path(registry, key):
    # ../shared/data holds no recording of these series; the real fredapi recordings of
    # other series (PAYEMS info, SP500 observations) exercise their request and parse path:
    # the request names the series, and its units check reads the recorded metadata.
    spec = registry.get(key)
    transport = Replay()
    result = fetch(spec, client(transport), since=dt.date(2014, 9, 1))
    assert all(f"series_id={spec.id}" in url for url, _ in transport.calls)
    assert "observation_start=2014-09-01" in transport.calls[-1][0]
    assert result.frame["value"].to_list() == [2002.28, 2000.72, 1997.65, 2007.71]
    problem = check_units(spec, result.metadata)  # PAYEMS is in "Thousands of Persons"
    assert problem and spec.id in problem and "Thousands of Persons" in problem


def test_the_urls_are_fredapis_and_a_replay_imports_neither_fredapi_nor_pandas():
    import subprocess
    import sys

    import fredapi

    from flows.sources import fred

    assert fred.ROOT_URL == fredapi.Fred.root_url
    probe = ("import sys; import flows.pipeline, flows.cli;"
             "print(sorted(m for m in ('fredapi', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

"""Yahoo source: real recorded chart responses replayed at yfinance's HTTP boundary.

yfinance sends every request through one object, the `YfData` singleton, whose
`_session.get` performs the GET. The tests put a fake session there that answers with
real curl_cffi `Response` objects built from the recordings in tests/fixtures/wire/, and
stub the cookie/crumb handshake (fc.yahoo.com, getcrumb) and yfinance's on-disk timezone
cache. yfinance then does all of its own work (timezone lookup, request building,
429 handling, JSON parsing, live-bar merging) on a real Yahoo body, and our normalize
runs on what it returns. Expected numbers are read from the JSON with plain `json`,
independently of yfinance. Everything is undone by monkeypatch after each test.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import polars as pl
import pytest
import yfinance as yf
import yfinance.base
import yfinance.cache
from curl_cffi.requests import Response
from curl_cffi.requests import exceptions as curl_exc
from yfinance.data import YfData

from flows.registry import SeriesSpec
from flows.sources import yahoo
from flows.sources.schema import OBSERVATIONS, Deadline, SourceError
from tests.test_source_faults import FakeClock

# yfinance 1.7 calls pandas methods with inplace=, which pandas 3 flags; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

WIRE = Path(__file__).parent / "fixtures" / "wire"
BTC_FILE = WIRE / "yahoo_v8_chart_BTC-USD_range5y_interval1d.json"
BTC_TEXT = BTC_FILE.read_text()
BTC = json.loads(BTC_TEXT)
BTC_RESULT = BTC["chart"]["result"][0]
BTC_TS = BTC_RESULT["timestamp"]
BTC_CLOSE = BTC_RESULT["indicators"]["quote"][0]["close"]

NOT_FOUND = {"chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}


def utc_day(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


# The recording was taken on the day of its last point, a live bar at 17:28 UTC.
RECORDING_DAY = utc_day(BTC_TS[-1])


def spec(ticker: str = "BTC-USD") -> SeriesSpec:
    return SeriesSpec(
        key=ticker, provider="yahoo", id=ticker, name="bitcoin", native_units="USD",
        frequency="daily", publication_lag_days=0, max_age_days=2, max_gap_days=1,
        valid_min=1, valid_max=10_000_000, release="test", description="test",
        currency="USD", max_change_pct=50.0,
    )


def response(status: int, body: str | dict, url: str) -> Response:
    """A real curl_cffi Response, so .text/.json()/.raise_for_status() are curl_cffi's own."""
    r = Response()
    r.status_code = status
    r.ok = status < 400
    r.reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "")
    r.content = (json.dumps(body) if isinstance(body, dict) else body).encode()
    r.url = url
    return r


class FakeYahoo:
    """Stands in for the curl_cffi Session inside YfData; answers per kind of request.

    tz:       the chart request yfinance makes first to learn the timezone (range=1d).
    history:  the chart request for the prices; answers are used in order, the last one
              repeats. An answer is (status, body), an exception instance to raise, or a
              callable(timeout) giving one of those (to spend time on a fake clock).
    other:    anything else (yfinance's quoteSummary fallback): 404.
    """

    class _Cookies:
        def clear(self) -> None:  # yfinance clears the jar when it toggles cookie strategy
            pass

    def __init__(self) -> None:
        self.cookies = self._Cookies()
        self.tz_answer: tuple[int, str | dict] = (200, BTC_TEXT)
        self.history_answers: list = [(200, BTC_TEXT)]
        self.history_params: list[dict] = []
        self.history_timeouts: list[float] = []
        self.other_urls: list[str] = []

    def get(self, url, params=None, timeout=None, **kwargs):
        params = dict(params or {})
        assert timeout is not None, "every request must carry a timeout"
        if "/v8/finance/chart/" not in urlsplit(url).path:
            self.other_urls.append(url)
            return response(404, NOT_FOUND, url)
        if params.get("range") == "1d":
            return response(*self.tz_answer, url)
        self.history_params.append(params)
        self.history_timeouts.append(timeout)
        answer = self.history_answers[min(len(self.history_params), len(self.history_answers)) - 1]
        if callable(answer):
            answer = answer(timeout)
        if isinstance(answer, BaseException):
            raise answer
        return response(*answer, url)


@pytest.fixture
def fake(monkeypatch) -> FakeYahoo:
    fake = FakeYahoo()
    data = YfData()  # the singleton every yfinance request goes through
    monkeypatch.setattr(data, "_session", fake)
    # Restore the cookie state yfinance toggles on 4xx/429 answers.
    monkeypatch.setattr(data, "_cookie_strategy", data._cookie_strategy)
    monkeypatch.setattr(data, "_cookie", data._cookie)
    monkeypatch.setattr(data, "_crumb", data._crumb)
    # No fc.yahoo.com / getcrumb round trip; the chart endpoint works without a crumb.
    monkeypatch.setattr(YfData, "_get_cookie_and_crumb", lambda self, timeout=30: (None, self._cookie_strategy))
    # No persistent timezone cache (sqlite under ~/.cache): always ask the fake.
    monkeypatch.setattr(yfinance.cache, "get_tz_cache", lambda: yfinance.cache._TzCacheDummy())
    # fetch() switches yfinance to raising; put the setting back afterwards (by hand:
    # yfinance's config objects are dict views that monkeypatch cannot restore).
    hide_exceptions = yf.config.debug.hide_exceptions
    YfData.cache_get.cache_clear()  # yfinance's in-process response cache
    yield fake
    YfData.cache_get.cache_clear()
    yf.config.debug.hide_exceptions = hide_exceptions


@pytest.fixture
def history_calls(monkeypatch) -> list[dict]:
    """Spy on Ticker.history: the kwargs of every call, passed through unchanged."""
    calls: list[dict] = []
    real = yf.Ticker.history

    def spy(self, *args, **kwargs):
        calls.append({"ticker": self.ticker, "args": args, **kwargs})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(yf.Ticker, "history", spy)
    return calls


def btc_chart_without(*, timestamps: bool) -> dict:
    """The recording's meta with no rows, as Yahoo sends for an empty range or when throttling."""
    body = copy.deepcopy(BTC)
    result = body["chart"]["result"][0]
    if timestamps:
        result["timestamp"] = []
        result["indicators"] = {"quote": [{k: [] for k in result["indicators"]["quote"][0]}], "adjclose": [{"adjclose": []}]}
    else:
        del result["timestamp"]
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return body


# --- the real BTC-USD recording end to end ------------------------------------------


def test_btc_recording_normalized(fake, history_calls):
    result = yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0)
    frame = result.frame

    n_null_close = sum(c is None for c in BTC_CLOSE)
    n_live = sum(ts % 86_400 != 0 for ts in BTC_TS)  # bars not stamped at 00:00 UTC
    assert (n_null_close, n_live) == (1, 1)
    assert frame.height == len(BTC_TS) - n_null_close - n_live

    assert frame.schema == OBSERVATIONS
    assert result.series_id == "BTC-USD"
    assert frame["series_id"].unique().to_list() == ["BTC-USD"]
    dates = frame["obs_date"]
    assert dates.is_sorted() and dates.n_unique() == frame.height
    # UTC calendar days: exactly the recording's days with a close, before the recording day.
    expected_days = {utc_day(ts) for ts, c in zip(BTC_TS, BTC_CLOSE) if c is not None and utc_day(ts) < RECORDING_DAY}
    assert set(dates.to_list()) == expected_days
    assert dates.max() == RECORDING_DAY - dt.timedelta(days=1)

    # One day, value for value (the provenance anchor day).
    ts = next(t for t in BTC_TS if utc_day(t) == dt.date(2025, 10, 6))
    i = BTC_TS.index(ts)
    row = frame.filter(pl.col("obs_date") == dt.date(2025, 10, 6)).row(0, named=True)
    quote = BTC_RESULT["indicators"]["quote"][0]
    assert row["value"] == BTC_CLOSE[i] == pytest.approx(124_752.53, abs=0.01)
    assert row["value_text"] == repr(BTC_CLOSE[i])
    assert (row["open"], row["high"], row["low"], row["volume"]) == (quote["open"][i], quote["high"][i], quote["low"][i], quote["volume"][i])

    assert result.metadata == {"currency": "USD", "exchange_timezone": "UTC", "instrument_type": "CRYPTOCURRENCY", "exchange": "CCC"}
    assert len(history_calls) == 1


def test_live_bar_is_what_today_drops(fake):
    # Run a day later and the recording day stays in: yfinance has merged the 17:28 UTC
    # live point into that day's row (whose own close was null), so its "close" is a
    # mid-day price. This is the row fetch() must not store on the recording day.
    result = yahoo.fetch(spec(), None, today=RECORDING_DAY + dt.timedelta(days=1), wait_seconds=0)
    last = result.frame.row(-1, named=True)
    assert last["obs_date"] == RECORDING_DAY
    assert last["value"] == BTC_CLOSE[-1]  # the live point's price
    assert BTC_CLOSE[-2] is None


def test_null_close_row_is_dropped(fake):
    # The recording without its live point: yfinance now returns the recording day's bar
    # with open/high/low but a NaN close (keepna=False only drops all-empty rows).
    body = copy.deepcopy(BTC)
    result = body["chart"]["result"][0]
    result["timestamp"] = result["timestamp"][:-1]
    for series in result["indicators"]["quote"][0].values():
        del series[-1]
    del result["indicators"]["adjclose"][0]["adjclose"][-1]
    fake.tz_answer = fake.history_answers[0] = (200, json.dumps(body))

    raw = yf.Ticker("BTC-USD").history(**yahoo.build_request(None))
    assert raw["Close"].isna().sum() == 1 and raw.index[-1].date() == RECORDING_DAY

    frame = yahoo.normalize_history("BTC-USD", raw)
    assert frame.height == len(raw) - 1
    assert RECORDING_DAY not in frame["obs_date"].to_list()
    assert frame["value"].null_count() == 0 and not frame["value"].is_nan().any()


def test_since_is_sent_as_period1_and_is_inclusive(fake):
    since = dt.date(2026, 3, 1)
    result = yahoo.fetch(spec(), since, today=RECORDING_DAY, wait_seconds=0)
    # BTC-USD's timezone is UTC, so period1 is since at 00:00 UTC.
    period1 = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
    assert fake.history_params[0]["period1"] == period1
    assert fake.history_params[0]["interval"] == "1d"
    assert result.frame["obs_date"].min() == since
    assert result.frame["obs_date"].max() == dt.date(2026, 3, 23)


def test_settings_are_explicit(fake, history_calls):
    yahoo.fetch(spec(), None, timeout=7, today=RECORDING_DAY, wait_seconds=0)
    (call,) = history_calls
    assert call["args"] == ()
    assert call["auto_adjust"] is True  # passed, not left to yfinance's default
    assert call["interval"] == "1d"
    assert call["period"] == "max" and "start" not in call
    assert call["timeout"] == 7
    assert call["repair"] is False and call["back_adjust"] is False
    assert "raise_errors" not in call  # deprecated in 1.x: hide_exceptions is set instead
    assert yf.config.debug.hide_exceptions is False


# --- empty answers, retries, permanent errors -------------------------------------


@pytest.mark.parametrize("timestamps", [False, True], ids=["no-timestamp-key", "empty-arrays"])
def test_empty_answer_retried_then_source_error(fake, history_calls, timestamps):
    fake.history_answers = [(200, json.dumps(btc_chart_without(timestamps=timestamps)))]
    with pytest.raises(SourceError) as info:
        yahoo.fetch(spec(), None, attempts=3, today=RECORDING_DAY, wait_seconds=0)
    message = str(info.value)
    assert "Yahoo returned no rows for BTC-USD after 3 attempts" in message
    assert "(offline, rate-limited, or unknown ticker)" in message
    assert len(history_calls) == 3 and len(fake.history_params) == 3


def test_empty_answer_then_rows_succeeds(fake, history_calls):
    fake.history_answers = [(200, json.dumps(btc_chart_without(timestamps=False))), (200, BTC_TEXT)]
    result = yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0)
    assert result.frame.height == len(BTC_TS) - 2
    assert len(history_calls) == 2


@pytest.mark.parametrize(
    ("first_answers", "seen_as"),
    [
        ([curl_exc.Timeout("Operation timed out after 30001 milliseconds")], "network error: Timeout"),
        ([curl_exc.ConnectionError("Failed to connect to query2.finance.yahoo.com")], "network error: ConnectionError"),
        # yfinance retries a 429 once itself (other cookie strategy), then raises YFRateLimitError.
        ([(429, "Too Many Requests"), (429, "Too Many Requests")], "rate limited by Yahoo (HTTP 429)"),
        # Error pages: yfinance retries the 5xx once, then returns it without checking the
        # status; we see its "Will be right back" check, or a body that is not JSON.
        ([(503, "<html>Will be right back...</html>")] * 2, "Yahoo Finance is down"),
        ([(502, "<html><body>Bad Gateway</body></html>")] * 2, "Yahoo answered with a non-JSON body"),
    ],
    ids=["timeout", "connection", "http429", "http503-down-page", "http502-html"],
)
def test_transient_error_once_then_success(fake, history_calls, first_answers, seen_as, caplog):
    fake.history_answers = [*first_answers, (200, BTC_TEXT)]
    result = yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0)
    assert result.frame.height == len(BTC_TS) - 2
    assert len(history_calls) == 2
    assert f"BTC-USD: Yahoo attempt 1/4 failed ({seen_as}" in caplog.text


def test_transient_error_every_time_gives_up(fake, history_calls):
    fake.history_answers = [curl_exc.Timeout("Operation timed out")]
    with pytest.raises(SourceError, match=r"^BTC-USD: Yahoo request failed after 2 attempts: network error: Timeout") as info:
        yahoo.fetch(spec(), None, attempts=2, today=RECORDING_DAY, wait_seconds=0)
    assert isinstance(info.value.__cause__, curl_exc.Timeout)
    assert len(history_calls) == 2


@pytest.mark.parametrize("info_fallbacks_left", [True, False], ids=["quoteSummary-404", "no-timezone"])
def test_unknown_ticker_fails_at_once(fake, history_calls, monkeypatch, info_fallbacks_left):
    # Yahoo's answer for an unknown symbol: 404 with a chart.error body. yfinance meets it
    # in the timezone lookup; in its first two such failures per process it then asks
    # quoteSummary (404 -> HTTPError), after that it raises YFTzMissingError.
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0 if info_fallbacks_left else 2)
    fake.tz_answer = (404, NOT_FOUND)
    with pytest.raises(SourceError, match=r"^NOSUCH-TICKER: Yahoo request failed \(not retryable\)") as info:
        yahoo.fetch(spec("NOSUCH-TICKER"), None, today=RECORDING_DAY, wait_seconds=0)
    assert ("HTTP 404" in str(info.value)) if info_fallbacks_left else ("unknown or delisted ticker" in str(info.value))
    assert len(history_calls) == 1
    assert fake.history_params == []  # it never got as far as the price request
    assert bool(fake.other_urls) is info_fallbacks_left


def test_yahoo_error_reason_fails_at_once(fake, history_calls):
    bad_range = {"chart": {"result": None, "error": {"code": "Bad Request", "description": "Invalid input - start date cannot be after end date."}}}
    fake.history_answers = [(400, bad_range)]
    with pytest.raises(SourceError, match=r"^BTC-USD: Yahoo request failed \(not retryable\): Yahoo: Invalid input"):
        yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0)
    assert len(history_calls) == 1


# --- the throttle hook (a shared rate limit, flows.limits.yahoo_throttle) -----------------


class Events(list):
    """One ordered record of throttle calls and Ticker.history calls."""

    def throttle(self) -> None:
        self.append("throttle")


@pytest.fixture
def events(monkeypatch) -> Events:
    seen = Events()
    real = yf.Ticker.history

    def spy(self, *args, **kwargs):
        seen.append("history")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(yf.Ticker, "history", spy)
    return seen


def test_throttle_before_every_attempt_including_retries(fake, events):
    # a timeout, an empty answer, then the recording: three attempts, three slots taken
    fake.history_answers = [
        curl_exc.Timeout("Operation timed out"),
        (200, json.dumps(btc_chart_without(timestamps=False))),
        (200, BTC_TEXT),
    ]
    result = yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0, throttle=events.throttle)
    assert result.frame.height == len(BTC_TS) - 2
    assert events == ["throttle", "history"] * 3


def test_throttle_once_when_the_first_attempt_succeeds(fake, events):
    yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0, throttle=events.throttle)
    assert events == ["throttle", "history"]


def test_no_throttle_by_default(fake, events):
    yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0)
    assert events == ["history"]


def test_throttle_failure_is_not_a_yahoo_failure(fake, events):
    # A throttle that cannot get a slot raises its own error: not classified as a
    # network timeout, not retried, and no request goes out without a slot.
    class NoSlot(RuntimeError):
        pass

    def refuse() -> None:
        events.append("throttle")
        raise NoSlot("no slot of netliq-yahoo")

    with pytest.raises(NoSlot):
        yahoo.fetch(spec(), None, today=RECORDING_DAY, wait_seconds=0, throttle=refuse)
    assert events == ["throttle"]
    assert fake.history_params == []


def test_fetch_shares_throttles_every_attempt(monkeypatch):
    calls: list[str] = []
    answers = [
        curl_exc.ConnectionError("Failed to connect"),
        pd.Series([1.0e8, 1.1e8], index=pd.DatetimeIndex(["2025-04-01", "2025-04-02"]).tz_localize("America/New_York")),
    ]

    def get_shares_full(self, start=None, end=None):
        calls.append("get_shares_full")
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(yf.Ticker, "get_shares_full", get_shares_full)
    hide_exceptions = yf.config.debug.hide_exceptions
    try:
        result = yahoo.fetch_shares(spec("GLD"), None, wait_seconds=0, throttle=lambda: calls.append("throttle"))
    finally:
        yf.config.debug.hide_exceptions = hide_exceptions
    assert calls == ["throttle", "get_shares_full"] * 2
    assert result.frame["value"].to_list() == [1.0e8, 1.1e8]


# --- the deadline over all tries ---------------------------------------------------------


def test_the_deadline_stops_retrying_a_yahoo_that_never_answers(fake, caplog):
    # CONSTRUCTED: every chart request uses its whole timeout on a fake clock, then times out.
    clock = FakeClock()

    def never_answers(timeout: float) -> curl_exc.Timeout:
        clock.now += timeout
        return curl_exc.Timeout(f"Operation timed out after {timeout * 1000:.0f} milliseconds")

    fake.history_answers = [never_answers]
    with pytest.raises(SourceError) as info:
        yahoo.fetch(spec(), None, today=RECORDING_DAY, timeout=2.0, attempts=10, wait_seconds=0,
                    deadline=Deadline(5.0, clock=clock, sleep=clock.sleep))
    # 2 s, 2 s, then the 1 s left: three of the ten attempts, and not a second more.
    assert fake.history_timeouts == [2.0, 2.0, 1.0]
    assert clock.now == 5.0
    assert str(info.value).startswith(
        "BTC-USD: Yahoo request failed (the 5s deadline for BTC-USD was exceeded after 3 attempts): network error: Timeout"
    )


def test_the_deadline_bounds_the_shares_retries(monkeypatch):
    clock = FakeClock()

    def get_shares_full(self, start=None, end=None):
        clock.now += 30.0  # CONSTRUCTED: yfinance's own 30 s timeout, spent on the fake clock
        raise curl_exc.ConnectionError("Failed to connect")

    monkeypatch.setattr(yf.Ticker, "get_shares_full", get_shares_full)
    hide_exceptions = yf.config.debug.hide_exceptions
    try:
        with pytest.raises(SourceError, match=r"^GLD: .*the 45s deadline for GLD was exceeded after 2 attempts"):
            yahoo.fetch_shares(spec("GLD"), None, attempts=4, wait_seconds=0,
                               deadline=Deadline(45.0, clock=clock, sleep=clock.sleep))
    finally:
        yf.config.debug.hide_exceptions = hide_exceptions
    assert clock.now == 60.0  # no request can be cut short here (no timeout parameter): the retries are


def test_download_rejects_zero_attempts():
    with pytest.raises(ValueError):
        yahoo.download("BTC-USD", yahoo.build_request(None), attempts=0)


# --- normalize_history, pure ----------------------------------------------------------


@pytest.fixture
def btc_frame(fake) -> pd.DataFrame:
    """yfinance's own frame for the recording (flat columns, as Ticker.history gives)."""
    return yf.Ticker("BTC-USD").history(**yahoo.build_request(None))


def test_normalize_without_close_names_the_ticker(btc_frame):
    with pytest.raises(SourceError, match=r"^BTC-USD: Yahoo history has no Close column"):
        yahoo.normalize_history("BTC-USD", btc_frame.drop(columns=["Close"]))


@pytest.mark.parametrize("order", ["price-ticker", "ticker-price"])
def test_normalize_multiindex_columns(btc_frame, order):
    flat = yahoo.normalize_history("BTC-USD", btc_frame)
    other = btc_frame * 2
    wide = pd.concat({"BTC-USD": btc_frame, "ETH-USD": other}, axis=1)  # (Ticker, Price)
    if order == "price-ticker":  # what yf.download gives: (Price, Ticker)
        wide = wide.swaplevel(axis=1).sort_index(axis=1)
        wide.columns.names = ["Price", "Ticker"]
    assert yahoo.normalize_history("BTC-USD", wide).equals(flat)
    single = wide.loc[:, [c for c in wide.columns if "BTC-USD" in c]]
    assert yahoo.normalize_history("btc-usd", single)["value"].equals(flat["value"])


def test_normalize_multiindex_for_another_ticker_fails(btc_frame):
    wide = pd.concat({"ETH-USD": btc_frame}, axis=1).swaplevel(axis=1)
    with pytest.raises(SourceError, match=r"^BTC-USD: .*not BTC-USD"):
        yahoo.normalize_history("BTC-USD", wide)
    with pytest.raises(SourceError, match=r"^BTC-USD: Yahoo history has no Close column"):
        yahoo.normalize_history("BTC-USD", wide.drop(columns="Close", level=0))


def test_normalize_uses_the_exchange_local_date():
    # A Tokyo bar is stamped at local midnight, 15:00 UTC the day before.
    index = pd.DatetimeIndex(["2025-04-01", "2025-04-02"]).tz_localize("Asia/Tokyo")
    frame = pd.DataFrame({"Close": [1000.0, 1010.5], "Volume": [5, 6]}, index=index)
    rows = yahoo.normalize_history("3350.T", frame)
    assert rows["obs_date"].to_list() == [dt.date(2025, 4, 1), dt.date(2025, 4, 2)]
    assert rows["value_text"].to_list() == ["1000.0", "1010.5"]
    assert rows["open"].null_count() == 2 and rows["volume"].to_list() == [5.0, 6.0]


def test_normalize_rejects_two_rows_on_one_date():
    index = pd.DatetimeIndex(["2025-04-01 00:00", "2025-04-01 17:28"]).tz_localize("UTC")
    frame = pd.DataFrame({"Close": [1.0, 2.0]}, index=index)
    with pytest.raises(SourceError, match=r"^X: Yahoo history has several rows on 2025-04-01"):
        yahoo.normalize_history("X", frame)


def test_normalize_empty_and_all_nan():
    empty = pd.DataFrame({"Close": []}, index=pd.DatetimeIndex([], tz="UTC"))
    assert yahoo.normalize_history("X", empty).schema == OBSERVATIONS
    nan = pd.DataFrame({"Close": [float("nan")]}, index=pd.DatetimeIndex(["2025-01-02"], tz="UTC"))
    assert yahoo.normalize_history("X", nan).is_empty()

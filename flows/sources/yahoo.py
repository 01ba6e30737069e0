"""Yahoo Finance source: daily prices through yfinance, normalized to OBSERVATIONS.

Three steps, kept apart so only one of them touches the network:

1. build the request, pure: `build_request` returns the keyword arguments for
   `yfinance.Ticker(...).history`, every setting that changes the numbers spelled out
   (auto_adjust above all) rather than left to yfinance's defaults.
2. fetch, the only network call: `download` runs `Ticker.history` with retries.
   Transient failures (HTTP 429, 5xx / error pages, timeouts, connection errors) and
   empty answers are retried with exponential backoff and jitter; everything else
   fails at once. All the tries share one `Deadline` (60 s by default, backoff waits
   included). Whatever escapes is a `SourceError` naming the ticker. An optional
   `throttle` (e.g. `flows.limits.yahoo_throttle`, a shared Prefect rate limit) is
   called before every attempt, retries included.
3. normalize, pure: `normalize_history` turns yfinance's pandas frame into the
   OBSERVATIONS polars frame.

`fetch(spec, since, today=...)` strings them together for one registry entry and
drops the bar of the unfinished current day.

yfinance 1.7 behaviours this module is shaped by (see the comments where they bite):

* By default yfinance logs errors and returns an EMPTY frame instead of raising, so
  "offline", "rate-limited" and "no such ticker" all look alike. `raise_errors=True`
  is deprecated in 1.x and does not reach the timezone lookup that precedes every
  `start=`/`period="max"` request (offline, that lookup fails quietly and surfaces as
  YFTzMissingError "possibly delisted"). We set the documented replacement,
  `yfinance.config.debug.hide_exceptions = False`, so the real exception arrives.
* `yf.download` catches every exception per ticker and returns an empty frame, so it
  cannot tell a timeout from an unknown ticker; we use `Ticker.history` instead.
* `Ticker` caches the timezone per instance and `YfData.cache_get` caches responses
  (including error responses) per process; a retry therefore uses a new `Ticker` and
  clears that cache, or it would replay the failure it is retrying.
* yfinance has its own retry loop (`config.network.retries`, default 0); we leave it at
  0 so there is one retry policy, ours.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl
import requests
import tenacity
import yfinance as yf
from yfinance.data import YfData
from yfinance.exceptions import (
    YFDataException,
    YFPricesMissingError,
    YFRateLimitError,
    YFTzMissingError,
)

from flows.registry import SeriesSpec
from flows.sources.schema import (
    DEFAULT_DEADLINE_S,
    Countdown,
    Deadline,
    FetchResult,
    SourceError,
    conform,
    empty_observations,
)

try:  # yfinance's preferred HTTP backend; it falls back to requests without it
    from curl_cffi.requests import exceptions as _curl_exc
except ImportError:  # pragma: no cover - curl_cffi ships with yfinance
    _curl_exc = None

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 4
BACKOFF_MAX_S = 60.0

# History metadata kept in FetchResult.metadata (a downstream check can compare the
# currency with the registry). Only plain keys: reading "tradingPeriods" from
# yfinance's lazy metadata would fire another request.
METADATA_FIELDS = {
    "currency": "currency",
    "exchangeTimezoneName": "exchange_timezone",
    "instrumentType": "instrument_type",
    "exchangeName": "exchange",
}

# Errors in getting a response at all. Both HTTP backends yfinance may use, plus the
# builtins (socket timeouts and resets). curl_cffi's SSLError/DNSError are
# ConnectionErrors: retried too, which costs a few bounded tries when the cause is
# permanent, against failing a run on one dropped connection when it is not.
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
if _curl_exc is not None:
    _NETWORK_ERRORS += (
        _curl_exc.Timeout,
        _curl_exc.ConnectionError,
        _curl_exc.ChunkedEncodingError,
        _curl_exc.IncompleteRead,
    )

_PRICE_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Volume": "volume"}


# --- 1. the request ------------------------------------------------------------------


def build_request(since: dt.date | None, *, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for `yfinance.Ticker(ticker).history(...)`.

    `since` is inclusive and an exchange-local date (yfinance reads `start` as local
    midnight in the ticker's timezone); None fetches the whole history.
    """
    request: dict[str, Any] = {
        "interval": "1d",
        # auto_adjust=True: O/H/L/C come split- and dividend-adjusted (yfinance folds
        # "Adj Close" into them). A stored history must be one consistent series: raw
        # closes jump by the split ratio on a split day, which would read as a crash and
        # trip max_change_pct. It is also how the bundled prices/ snapshot was made, so
        # replayed and live rows agree. Set explicitly because the default has changed
        # between yfinance versions (download() defaulted to False before 0.2.51).
        # For BTC-USD, GC=F and ^NDX (no splits or distributions) adjusted == raw.
        "auto_adjust": True,
        "back_adjust": False,
        # repair=False: yfinance's "price repair" rewrites values heuristically and
        # fetches extra intraday data to do it; we store what Yahoo publishes and let
        # the quality gate judge it.
        "repair": False,
        "prepost": False,
        "actions": False,  # dividends / split columns: not stored
        "timeout": timeout,
    }
    # No `end`: yfinance then asks up to "now" and, unlike a past `end`, does not route
    # the request through its in-process response cache. The unfinished day's bar is
    # dropped by date in fetch(), not by the request.
    if since is None:
        request["period"] = "max"
    else:
        request["start"] = since.isoformat()
    return request


# --- 2. the fetch: the one network call ------------------------------------------------

_TRANSIENT, _EMPTY, _PERMANENT = "transient", "empty", "permanent"


class _Failure(Exception):
    """One failed attempt, classified; `kind` decides whether to try again."""

    def __init__(self, kind: str, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description


def _http_status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, description) for an exception out of yfinance: transient, empty or permanent."""
    if isinstance(exc, YFRateLimitError):
        # yfinance raises this after a 429 survived its own retry with the other
        # cookie strategy.
        return _TRANSIENT, "rate limited by Yahoo (HTTP 429)"
    if isinstance(exc, _NETWORK_ERRORS):
        return _TRANSIENT, f"network error: {type(exc).__name__}: {exc}"
    status = _http_status(exc)  # raise_for_status() on the quoteSummary fallback
    if status is not None:
        kind = _TRANSIENT if status == 429 or status >= 500 else _PERMANENT
        return kind, f"HTTP {status} from Yahoo ({exc})"
    if isinstance(exc, YFPricesMissingError):
        if exc.yahoo_reason:
            # Yahoo said why (chart.error), e.g. "No data found, symbol may be delisted"
            # or an invalid date range: asking again gets the same answer.
            return _PERMANENT, f"Yahoo: {exc.yahoo_reason}"
        # No chart result or an empty quote, without a reason: what a rate-limited or
        # half-answered request looks like, and also what a range without trading days
        # gives. Same treatment as an empty frame.
        return _EMPTY, str(exc)
    if isinstance(exc, YFTzMissingError):
        # The timezone lookup (a range=1d chart request) got an explicit error back:
        # the ticker does not exist or is delisted. Network trouble there raises the
        # network error instead, because hide_exceptions is off.
        return _PERMANENT, "unknown or delisted ticker (Yahoo has no timezone for it)"
    if isinstance(exc, json.JSONDecodeError):
        # The body was not JSON: an HTML error page from Yahoo's edge, usually a 5xx
        # that yfinance returned without checking the status.
        return _TRANSIENT, f"Yahoo answered with a non-JSON body (an error page): {exc}"
    if isinstance(exc, YFDataException) and "DOWN" in str(exc).upper():
        return _TRANSIENT, "Yahoo Finance is down (\"Will be right back\" page)"
    return _PERMANENT, f"{type(exc).__name__}: {exc}"


def _make_yfinance_raise() -> None:
    # Process-wide and idempotent: set, never restored, so concurrent fetches cannot
    # race on a save/restore. Only this module uses yfinance.
    yf.config.debug.hide_exceptions = False


def _forget_cached_responses() -> None:
    # YfData.cache_get is an lru_cache over (url, params) shared by the process. The
    # timezone lookup goes through it, so a 5xx/error response it cached would be
    # replayed to every retry.
    cache_clear = getattr(YfData.cache_get, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def _history_metadata(ticker: yf.Ticker) -> dict[str, str]:
    try:
        meta = ticker.get_history_metadata()
        return {ours: str(meta[theirs]) for theirs, ours in METADATA_FIELDS.items() if theirs in meta}
    except Exception as exc:  # metadata is a nicety; never fail a fetch over it
        log.debug("history metadata unavailable: %s", exc)
        return {}


def download(
    ticker: str,
    request: dict[str, Any],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    wait_seconds: float = 2.0,
    throttle: Callable[[], None] | None = None,
    deadline: Deadline | float = DEFAULT_DEADLINE_S,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Run `Ticker(ticker).history(**request)` with retries; normalized rows and metadata.

    Retried (up to `attempts` tries in all, waits wait_seconds * 2**n plus up to
    wait_seconds of jitter, capped at BACKOFF_MAX_S): rate limits, 5xx / error pages,
    timeouts, connection errors, and EMPTY answers. yfinance gives an empty frame, not
    an exception, when Yahoo sends a chart without rows, which is usually a rate limit
    or a hiccup; but an empty answer can also be the truth (a range without trading
    days), so it shares the same bounded budget and then fails. Anything else (unknown
    ticker, HTTP 4xx, Yahoo's own error reason, a frame we cannot read) fails at once.

    `throttle`, if given, is called once before every attempt (retries included) and may
    block until the shared request budget allows one more; what it raises propagates as
    it is (it is not a Yahoo failure, so it is neither classified nor retried).

    `deadline` (seconds, or a Deadline): all the tries together, each request's timeout
    capped to the time left; once it has passed no try is made and SourceError says so.
    Time waiting in `throttle` is not counted.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    _make_yfinance_raise()
    countdown = Deadline.of(deadline).start()

    def attempt() -> tuple[pl.DataFrame, dict[str, str]]:
        _begin_attempt(countdown, throttle)
        # A new Ticker per try: it caches the timezone (and any failure to get it).
        handle = yf.Ticker(ticker)
        timeout = countdown.timeout(request.get("timeout", DEFAULT_TIMEOUT_S))
        try:
            frame = handle.history(**{**request, "timeout": timeout})
        except Exception as exc:
            kind, description = classify(exc)
            raise _Failure(kind, description) from exc
        # Normalized inside the try so "rows, but not one with a close" counts as empty.
        # A SourceError from normalize (no Close column...) is not retried.
        rows = normalize_history(ticker, frame)
        if rows.is_empty():
            raise _Failure(_EMPTY, f"{len(frame)} rows from yfinance, none with a close")
        return rows, _history_metadata(handle)

    return _with_retries(ticker, attempt, attempts, wait_seconds, countdown)


def _begin_attempt(countdown: Countdown, throttle: Callable[[], None] | None) -> None:
    """Count one try under the deadline (refusing it when no time is left), then take a slot."""
    if countdown.expired():
        raise _Failure(_TRANSIENT, "no time left for another try")
    countdown.attempts += 1
    if throttle is not None:
        countdown.paused(throttle)


def _with_retries(ticker: str, attempt, attempts: int, wait_seconds: float, countdown: Countdown):
    """Run `attempt` under the retry policy of `download` and `countdown`'s deadline;
    failures become SourceError."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: Yahoo attempt %d/%d failed (%s); retrying in %.1fs",
            ticker, state.attempt_number, attempts,
            getattr(failure, "description", failure), state.upcoming_sleep,
        )
        _forget_cached_responses()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_any(tenacity.stop_after_attempt(attempts), countdown.stop_retrying),
        # wait_exponential + wait_random rather than wait_exponential_jitter: its
        # `initial` is deprecated in tenacity 9 and its `multiplier` absent before.
        wait=tenacity.wait_exponential(multiplier=wait_seconds, max=BACKOFF_MAX_S)
        + tenacity.wait_random(0, wait_seconds),
        sleep=countdown.deadline.sleep,
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, _Failure) and e.kind != _PERMANENT),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Failure as failure:
        tries = countdown.attempts
        after = f"after {tries} attempt{'s' if tries > 1 else ''}"
        if failure.kind != _PERMANENT and tries < attempts:  # retryable, attempts left: the deadline stopped it
            message = f"{ticker}: Yahoo request failed ({countdown.exceeded(ticker)}): {failure.description}"
        elif failure.kind == _EMPTY:
            message = (
                f"Yahoo returned no rows for {ticker} {after} "
                f"(offline, rate-limited, or unknown ticker): {failure.description}"
            )
        elif failure.kind == _TRANSIENT:
            message = f"{ticker}: Yahoo request failed {after}: {failure.description}"
        else:
            message = f"{ticker}: Yahoo request failed (not retryable): {failure.description}"
        raise SourceError(message) from failure.__cause__


def fetch(
    spec: SeriesSpec,
    since: dt.date | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    wait_seconds: float = 2.0,
    today: dt.date | None = None,
    throttle: Callable[[], None] | None = None,
    deadline: Deadline | float = DEFAULT_DEADLINE_S,
) -> FetchResult:
    """Daily closes of one Yahoo ticker from `since` (inclusive; None = full history).

    `today` is the run's date (default: the UTC date now; for crypto, whose days are UTC
    days, that is the right day). Rows dated today or later are dropped: Yahoo's last
    bar while a day is still trading is a live intraday bar (in the BTC-USD recording a
    17:28 UTC point that yfinance merges into the day's row), and storing it would keep
    a mid-day price as that day's close. The day is fetched again once it is over.
    Near midnight UTC a US session's bar is already final and dated before the UTC day,
    so the UTC default also suits US-listed tickers.

    An empty frame here means Yahoo answered, but had no finished day since `since`;
    an empty answer from Yahoo itself raises SourceError (see `download`). `throttle`,
    `deadline`: see `download`.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    today = today or dt.datetime.now(dt.UTC).date()
    rows, metadata = download(
        spec.id, build_request(since, timeout=timeout), attempts=attempts, wait_seconds=wait_seconds,
        throttle=throttle, deadline=deadline,
    )
    unfinished = rows.filter(pl.col("obs_date") >= today)
    if not unfinished.is_empty():
        log.info("%s: dropped %d unfinished bar(s) dated >= %s", spec.id, unfinished.height, today)
    rows = rows.filter(pl.col("obs_date") < today)
    if since is not None:
        # Yahoo honours period1; this makes "from `since`" exact whatever it sends.
        rows = rows.filter(pl.col("obs_date") >= since)
    return FetchResult(series_id=spec.id, frame=rows, metadata=metadata)


# --- 3. normalize, pure ------------------------------------------------------------


def _single_ticker_columns(ticker: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Flat price columns. yf.download gives a (Price, Ticker) MultiIndex (or
    (Ticker, Price) with group_by="ticker"); Ticker.history a flat index."""
    columns = frame.columns
    if not isinstance(columns, pd.MultiIndex):
        return frame
    if columns.nlevels != 2:
        raise SourceError(f"{ticker}: Yahoo history has {columns.nlevels} column levels; expected 1 or 2")
    price_level = next((lvl for lvl in (0, 1) if "Close" in columns.get_level_values(lvl)), None)
    if price_level is None:
        raise SourceError(f"{ticker}: Yahoo history has no Close column (columns: {list(columns)})")
    ticker_level = 1 - price_level
    tickers = list(dict.fromkeys(columns.get_level_values(ticker_level)))
    # yfinance upper-cases symbols, so compare without case.
    matching = [t for t in tickers if str(t).upper() == ticker.upper()]
    if not matching:
        raise SourceError(f"{ticker}: Yahoo history holds {tickers}, not {ticker}")
    return frame.xs(matching[0], axis=1, level=ticker_level)


def normalize_history(ticker: str, frame: pd.DataFrame) -> pl.DataFrame:
    """A yfinance daily history frame -> OBSERVATIONS (value = Close), sorted by date.

    obs_date is the trading date in the exchange's own timezone: yfinance stamps a daily
    bar at local midnight (UTC for crypto, America/New_York for ^NDX and GC=F), and
    converting to UTC first would move sessions east of Greenwich to the previous day.
    Rows whose Close is missing are dropped: a close is the value, and Yahoo does send
    null closes (the BTC-USD recording's bar for its current day has one; the live
    point carries the price). Raises SourceError naming the ticker if the frame has no
    Close, no date index, or two rows on one date.
    """
    frame = _single_ticker_columns(ticker, frame)
    if "Close" not in frame.columns:
        raise SourceError(f"{ticker}: Yahoo history has no Close column (columns: {list(frame.columns)})")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise SourceError(f"{ticker}: Yahoo history is not indexed by date (index: {type(frame.index).__name__})")

    close = pd.to_numeric(frame["Close"], errors="coerce").astype("float64")
    keep = close.notna().to_numpy()
    if not keep.any():
        return empty_observations()

    # .date on a tz-aware index is the local date; on a naive one, the date as given.
    columns: dict[str, pl.Series] = {
        "obs_date": pl.Series("obs_date", list(frame.index.date[keep]), dtype=pl.Date),
        "value": pl.Series("value", close.to_numpy()[keep], dtype=pl.Float64),
        # The close as text, as the series' own record of what arrived (float repr).
        "value_text": pl.Series("value_text", [repr(float(x)) for x in close.to_numpy()[keep]], dtype=pl.String),
    }
    for source, target in _PRICE_COLUMNS.items():
        if source in frame.columns:
            values = pd.to_numeric(frame[source], errors="coerce").astype("float64").to_numpy()[keep]
            columns[target] = pl.Series(target, values, dtype=pl.Float64, nan_to_null=True)
    rows = pl.DataFrame(columns).with_columns(pl.lit(ticker, pl.String).alias("series_id"))

    duplicated = rows.filter(pl.col("obs_date").is_duplicated())["obs_date"].unique().sort()
    if not duplicated.is_empty():
        raise SourceError(
            f"{ticker}: Yahoo history has several rows on {', '.join(map(str, duplicated.to_list()[:5]))}"
        )
    return conform(rows).sort("obs_date")


__all__ = ["build_request", "classify", "download", "fetch", "normalize_history"]


# --- shares outstanding (GLD-SHARES and the like) -----------------------------------


def normalize_shares(series_id: str, shares: pd.Series | None) -> pl.DataFrame:
    """yfinance's get_shares_full Series (tz-aware timestamps → shares) → OBSERVATIONS,
    one row per exchange-local date (the last report of a day wins)."""
    if shares is None or len(shares) == 0:
        return conform(pl.DataFrame({"series_id": [], "obs_date": [], "value": []},
                                    schema={"series_id": pl.String, "obs_date": pl.Date, "value": pl.Float64}))
    index = pd.DatetimeIndex(shares.index)
    frame = pl.DataFrame({
        "obs_date": [ts.date() for ts in index],
        "value": [float(v) for v in shares.to_numpy()],
    })
    frame = frame.group_by("obs_date", maintain_order=True).last().sort("obs_date")
    return conform(frame.with_columns(
        pl.lit(series_id).alias("series_id"),
        pl.col("value").map_elements(repr, return_dtype=pl.String).alias("value_text"),
    ))


def fetch_shares(spec: SeriesSpec, since: dt.date | None, *, attempts: int = DEFAULT_ATTEMPTS,
                 wait_seconds: float = 2.0, throttle: Callable[[], None] | None = None,
                 deadline: Deadline | float = DEFAULT_DEADLINE_S) -> FetchResult:
    """Shares outstanding of `spec.id` through yfinance's `get_shares_full`, same retry policy,
    deadline and `throttle` hook (called before every attempt) as `download`. yfinance gives
    this call no timeout parameter, so the deadline bounds the retries, not one request."""
    _make_yfinance_raise()
    countdown = Deadline.of(deadline).start()

    def attempt() -> pl.DataFrame:
        _begin_attempt(countdown, throttle)
        try:
            shares = yf.Ticker(spec.id).get_shares_full(start=since or dt.date(1990, 1, 1))
        except Exception as exc:
            kind, description = classify(exc)
            raise _Failure(kind, description) from exc
        rows = normalize_shares(spec.key, shares)
        if rows.is_empty():
            raise _Failure(_EMPTY, "no shares-outstanding rows from yfinance")
        return rows

    return FetchResult(series_id=spec.key, frame=_with_retries(spec.id, attempt, attempts, wait_seconds, countdown))

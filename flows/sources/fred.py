"""FRED source: fetch one series through fredapi and normalize it to OBSERVATIONS.

Three steps, kept apart so only one of them touches the network:

1. build the request: `load_api_key` reads FRED_API_KEY into a pydantic `SecretStr`; `FredClient`
   holds it with the timeout and retry policy; `incremental_start` picks the
   observation_start of an incremental fetch.
2. fetch the raw payload: `FredClient` lets fredapi build the URLs and parse the XML,
   but routes fredapi's one private fetch through an injectable
   `transport(url, timeout) -> bytes`. That boundary is ours: every request gets a
   timeout, transient failures (HTTP 429, 5xx, timeouts, connection errors, a body cut
   off mid-transfer) are retried with exponential backoff and jitter, all the requests
   of one series share one `Deadline` (60 s by default, retries and waits included),
   and anything that escapes is a `SourceError` naming the series and the reason,
   never the URL (it holds the key).
3. normalize, pure: `normalize_observations` (a fredapi pandas Series) and
   `normalize_json_observations` (a raw `series/observations` JSON response, as saved
   in tests/fixtures/wire/) return the OBSERVATIONS frame; `check_units` compares the
   live metadata with the registry; `vintage_windows` cuts a realtime history into
   requests ALFRED accepts and `merge_vintages` joins their answers.

`fetch(spec, client, since)` strings 2 and 3 together for one registry entry;
`fetch_vintages(spec, client, ...)` does the same with ALFRED's realtime periods, so
every value carries the dates it was known (VINTAGES).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import math
import os
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import polars as pl
import requests
import tenacity
import urllib3
from pydantic import SecretStr

from flows.registry import SeriesSpec
from flows.sources.schema import (
    CUT_OFF_BODY,
    DEFAULT_DEADLINE_S,
    VINTAGES,
    Countdown,
    Deadline,
    FetchFailure,
    FetchResult,
    SourceError,
    conform,
    empty_observations,
    request_failure,
)

if TYPE_CHECKING:
    import pandas as pd  # fredapi's Series, in annotations only: imported by the live fetch

log = logging.getLogger(__name__)

API_KEY_ENV = "FRED_API_KEY"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 4

# FRED's marker for "no observation on this date" (holidays, days without an
# operation, data never collected). It is not a value, so such rows are dropped.
FRED_MISSING = "."

# Metadata fields kept from `fred/series`; the rest (notes, popularity...) is noise here.
METADATA_FIELDS = ("title", "units", "frequency", "seasonal_adjustment", "last_updated")
# when the series info (units, ...) in a metadata record was asked of FRED; a daily fetch asks
# again only when it is older than INFO_MAX_AGE_DAYS (a units change then blocks within a week)
INFO_FETCHED_ON = "info_fetched_on"
INFO_MAX_AGE_DAYS = 7

# What FRED writes for a number ("6743028", "6748567.0000000000", "-0.25", "1.5e3").
# Stricter than float(), which would also take "nan", "inf" or "1_000": a value like
# that is something to show the quality gate, not to convert quietly.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

Transport = Callable[[str, float], bytes]

# A body cut off mid-transfer: urllib raises http.client.IncompleteRead (schema.CUT_OFF_BODY),
# urllib3 its ProtocolError, requests wraps that in ChunkedEncodingError; all retried.
_CUT_OFF_BODY: tuple[type[BaseException], ...] = (
    *CUT_OFF_BODY,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ChunkedEncodingError,
)

# The deadline of the series fetch running in this thread (FredClient.series_deadline):
# a context variable, not an attribute, because one FredClient may serve several
# Prefect tasks on several threads at once.
_SERIES_COUNTDOWN: contextvars.ContextVar[Countdown | None] = contextvars.ContextVar(
    "netliq_fred_series_countdown", default=None
)

# ALFRED refuses a series/observations request whose realtime period holds more vintage
# dates than this ("... This exceeds the maximum number of vintage dates allowed (2000).",
# quoted in mortada/fredapi#48); daily series pass it within a few years.
ALFRED_MAX_VINTAGE_DATES = 2000
# The realtime_end of a period that is still current (fredapi's latest_realtime_end).
REALTIME_OPEN = dt.date(9999, 12, 31)
# The largest page each list endpoint accepts (its `limit` parameter); a larger one is a 400.
OBSERVATIONS_PAGE = 100_000
VINTAGE_DATES_PAGE = 10_000
_VINTAGE_LIMIT = re.compile(r"maximum number of vintage dates|vintage dates allowed", re.IGNORECASE)


# --- 1. the request: key, client settings, incremental start ------------------------


# The key as pydantic's SecretStr: it shows as ********** in repr, str, f-strings and logs;
# `get_secret_value()` gives it (read by FredClient alone, to build a request URL).
Secret = SecretStr


class MissingApiKeyError(SourceError):
    """FRED_API_KEY is not set, so live FRED fetches cannot run."""


class VintageLimitError(SourceError):
    """ALFRED refused a realtime period holding too many vintage dates: ask for less."""


def _source_error(message: str) -> SourceError:
    """A SourceError, the vintage-limit kind when FRED's message says so (callers split)."""
    return VintageLimitError(message) if _VINTAGE_LIMIT.search(message) else SourceError(message)


SECRET_BLOCK = "fred-api-key"


def _from_secret_block(name: str) -> str:
    """The key from a Prefect Secret block (`prefect block create secret`), or "" if none."""
    try:
        from prefect.blocks.system import Secret as SecretBlock

        return str(SecretBlock.load(name).get() or "")
    except Exception:  # no API, no block of that name: the key is simply not there
        return ""


def load_api_key(env: Mapping[str, str] = os.environ, *, block: str | None = SECRET_BLOCK) -> Secret:
    """The FRED API key from FRED_API_KEY, else from the Prefect Secret block `fred-api-key`,
    wrapped so it cannot leak into a log or message."""
    # strip(): a key pasted with a trailing newline (`export K=$(cat file)`) is the same key.
    value = (env.get(API_KEY_ENV) or "").strip() or (_from_secret_block(block).strip() if block else "")
    if not value:
        raise MissingApiKeyError(
            f"{API_KEY_ENV} is not set (or is empty) and no Prefect Secret block {block!r} holds one: "
            f"live FRED fetches need an API key. Set {API_KEY_ENV} to your key (free at https://fred.stlouisfed.org/docs/api/api_key.html), "
            "or run `netliq run --offline` to use the bundled snapshot instead."
        )
    return Secret(value)


def incremental_start(last_obs_date: dt.date | None, revision_window_days: int = 120) -> dt.date | None:
    """observation_start for an incremental fetch; None means fetch the full history.

    FRED revises recent observations (H.4.1 weeks get restated), so an incremental
    fetch starts `revision_window_days` before the last stored observation rather
    than the day after it; the overlap lets revisions replace what is stored.
    """
    if revision_window_days < 0:
        raise ValueError(f"revision_window_days must be >= 0, got {revision_window_days}")
    if last_obs_date is None:
        return None
    return last_obs_date - dt.timedelta(days=revision_window_days)


# --- 2. the fetch: the one network call, behind a transport we own ------------------


def urllib_transport(url: str, timeout: float) -> bytes:
    """The default transport: one GET; urlopen raises HTTPError on any non-2xx status."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _fred_error_message(body: bytes | str) -> str | None:
    """The message of a FRED error body, JSON or XML, or None if the body is not one.

    JSON: {"error_code":429,"error_message":"Too Many Requests.  Exceeded Rate Limit"}
    XML:  <error code="400" message="Bad Request.  The series does not exist."/>
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if isinstance(parsed, dict) and "error_code" in parsed:
            return f"FRED error {parsed.get('error_code')}: {parsed.get('error_message', '(no message)')}"
        return None
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return None
        if root.tag == "error":
            return f"FRED error {root.get('code', '?')}: {root.get('message', '(no message)')}"
    return None


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text.strip()) is not None


def _series_id_of(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query.get("series_id", ["?"])[0]


def _endpoint_of(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return path.split("/fred/", 1)[-1] or path


# fredapi.Fred.root_url (tests/test_fred.py holds them equal): the URLs built here do not
# import fredapi, which imports pandas (0.4 s, ~90 MiB), for a run that replays
ROOT_URL = "https://api.stlouisfed.org/fred"


@cache
def _transport_fred() -> type:
    """_TransportFred, defined when a live fetch first needs it (fredapi imports pandas)."""
    import fredapi

    class _TransportFred(fredapi.Fred):
        """fredapi.Fred whose private fetch goes through FredClient's transport.

        One instance per request (cheap: no I/O), so the raw value texts it captures for
        an observations response belong to that request even when several Prefect tasks
        share one FredClient across threads.
        """

        def __init__(self, client: FredClient) -> None:
            # fredapi.Fred.__init__ is skipped on purpose: it only stores the key (ours is a
            # Secret, read by this class alone) and, when HTTP(S)_PROXY is set, installs a
            # process-wide urllib opener. urlopen honours those variables anyway.
            self.api_key = client._api_key
            self.proxies = None
            self._client = client
            self.value_texts: dict[str, str] = {}

        # Name-mangled override of Fred.__fetch_data, the only place fredapi does I/O.
        def _Fred__fetch_data(self, url: str) -> ET.Element:
            root = self._client._request(url)
            if root.tag == "observations":
                self._keep_value_texts(root)
            return root

        def _keep_value_texts(self, root: ET.Element) -> None:
            # fredapi turns each value into float(value), which raises on text that is not
            # a number and loses the text FRED sent. Keep every text as received, then hand
            # fredapi the missing marker for the non-numbers so it yields NaN for them;
            # normalize_observations tells "." (dropped) from real text (kept, value null).
            for child in root:
                text = child.get("value")
                self.value_texts[child.get("date", "")] = "" if text is None else text
                if text is None or (text != FRED_MISSING and not _is_number(text)):
                    child.set("value", FRED_MISSING)

    return _TransportFred


class FredClient:
    """fredapi behind a transport boundary: timeout, retries with backoff, no key leaks.

    transport      (url, timeout) -> bytes; must raise urllib.error.HTTPError on HTTP
                   errors, like urlopen (default: urllib_transport). Tests inject a
                   replay of recorded responses.
    timeout        seconds, passed to the transport on every request.
    attempts       total tries per request (1 = no retry).
    backoff_*      exponential backoff between tries: initial * 2**n, capped at max,
                   plus up to `jitter` seconds of random jitter so cron jobs that
                   fail together do not retry in lockstep. All 0 in tests.
    throttle       called (no arguments) before every HTTP attempt, retries included:
                   the pipeline's shared rate limiter (FRED allows 120 requests/minute)
                   blocks there until a request may go. None: no throttling.
    deadline       seconds (or a Deadline, whose clock and sleep tests fake) that all
                   the requests of one series fetch may take together, retries, backoff
                   waits and request timeouts included; waiting in `throttle` is not
                   counted. Past it the fetch stops retrying with a SourceError.
    """

    def __init__(
        self,
        api_key: Secret | str,
        *,
        transport: Transport | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        backoff_jitter: float = 1.0,
        throttle: Callable[[], None] | None = None,
        deadline: Deadline | float = DEFAULT_DEADLINE_S,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        if not self._api_key:
            raise MissingApiKeyError(f"FredClient needs a non-empty API key (set {API_KEY_ENV})")
        self._transport = transport
        self._throttle = throttle
        self.timeout = float(timeout)
        self.attempts = attempts
        self.deadline = Deadline.of(deadline)
        # Composed rather than wait_exponential_jitter, whose parameter names changed
        # across tenacity versions.
        self._wait = tenacity.wait_exponential(multiplier=backoff_initial, max=backoff_max) + tenacity.wait_random(
            0, backoff_jitter
        )

    def __repr__(self) -> str:
        return (
            f"FredClient(api_key=***, timeout={self.timeout}, attempts={self.attempts}, "
            f"deadline={self.deadline.seconds:g})"
        )

    @contextlib.contextmanager
    def series_deadline(self) -> Iterator[Countdown]:
        """One deadline over every request made inside: a series fetch (see `fetch`).

        Nested (fetch_vintages falling back to fetch), the outer deadline holds. A request
        made outside any (a direct get_series call) gets a deadline of its own.
        """
        running = _SERIES_COUNTDOWN.get()
        if running is not None:
            yield running
            return
        countdown = self.deadline.start()
        token = _SERIES_COUNTDOWN.set(countdown)
        try:
            yield countdown
        finally:
            _SERIES_COUNTDOWN.reset(token)

    # -- the two calls fetch() needs, in fredapi's own shapes --

    def get_series_info(self, series_id: str) -> dict[str, str]:
        """The `fred/series` attributes (title, units, frequency, ...) as strings."""
        try:
            info = _transport_fred()(self).get_series_info(series_id)
        except ValueError as exc:  # fredapi: "No info exists for series id: ..."
            raise SourceError(f"{series_id}: FRED series info: {self._scrub(str(exc))}") from None
        return {str(k): str(v) for k, v in info.items()}

    def get_series(self, series_id: str, observation_start: dt.date | None = None) -> pd.Series:
        """Observations from fredapi: float values (NaN for FRED's "."), datetime index.

        The texts as received ride along in `series.attrs["value_text"]` (ISO date ->
        text) for normalize_observations.
        """
        fred = _transport_fred()(self)
        try:
            series = fred.get_series(series_id, observation_start=observation_start)
        except ValueError as exc:  # fredapi: "No data exists ...", or a date it cannot parse
            raise SourceError(f"{series_id}: FRED observations: {self._scrub(str(exc))}") from None
        series.attrs["value_text"] = dict(fred.value_texts)
        return series

    # -- ALFRED: vintage dates and realtime periods, through the same transport --

    def get_vintage_dates(self, series_id: str, realtime_start: dt.date | None = None) -> list[dt.date]:
        """The dates a value of the series was released or revised (`series/vintagedates`),
        ascending, from `realtime_start` on (None: all). Every page is fetched."""
        url = f"{ROOT_URL}/series/vintagedates?series_id={series_id}"
        if realtime_start is not None:
            url += f"&realtime_start={realtime_start.isoformat()}"
        items = self._paged(url, "vintage_date", VINTAGE_DATES_PAGE)
        return sorted({_iso_date(series_id, "vintage date", item.text) for item in items})

    def get_vintages(
        self,
        series_id: str,
        realtime_start: dt.date,
        realtime_end: dt.date | None,
        observation_start: dt.date | None = None,
    ) -> pl.DataFrame:
        """VINTAGES rows of one `series/observations` request over realtime
        [realtime_start, realtime_end] (None: still open, 9999-12-31).

        One row per observation date per realtime period, as FRED clips them to the
        request; "." rows dropped. Raises VintageLimitError when the period holds more
        vintage dates than ALFRED serves at once.
        """
        end = realtime_end or REALTIME_OPEN
        url = (
            f"{ROOT_URL}/series/observations?series_id={series_id}"
            f"&realtime_start={realtime_start.isoformat()}&realtime_end={end.isoformat()}"
        )
        if observation_start is not None:
            url += f"&observation_start={observation_start.isoformat()}"
        return normalize_vintage_rows(series_id, self._paged(url, "observation", OBSERVATIONS_PAGE))

    def _paged(self, url: str, item_tag: str, page_limit: int) -> list[ET.Element]:
        """The `item_tag` children of every page of a FRED list response (count/offset/limit)."""
        items: list[ET.Element] = []
        while True:
            # self._request, not fredapi's fetch: _TransportFred rewrites non-numeric
            # observation values, and these rows are parsed here with their texts intact.
            root = self._request(f"{url}&limit={page_limit}&offset={len(items)}")
            page = [child for child in root if child.tag == item_tag]
            items.extend(page)
            total = root.get("count")
            if not page or total is None or not total.isdigit() or len(items) >= int(total):
                return items

    # -- the request itself --

    def _scrub(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        for form in {key, urllib.parse.quote_plus(key)}:
            text = text.replace(form, "***")
        return re.sub(r"api_key=[^&\s'\"]*", "api_key=***", text)

    def _request(self, url: str) -> ET.Element:
        """GET a fredapi URL (without the key) with retries; the parsed XML root."""
        series_id, endpoint = _series_id_of(url), _endpoint_of(url)
        # Logged before the key is appended, and without the host: no log line holds a
        # URL that could be pasted with a key, only what was asked.
        log.debug("%s: FRED GET %s %s (timeout %.0fs)", series_id, endpoint, urllib.parse.urlsplit(url).query,
                  self.timeout)
        keyed_url = f"{url}&api_key={urllib.parse.quote_plus(self._api_key.get_secret_value())}"
        with self.series_deadline() as countdown:
            retrying = self._retrying(countdown, series_id, endpoint)
            tries = 0

            def attempt() -> bytes:
                nonlocal tries
                if countdown.expired():  # earlier requests of the series used up its time
                    raise FetchFailure("no time left for this request", transient=True)
                tries += 1
                countdown.attempts += 1
                return self._attempt(keyed_url, countdown)

            try:
                body = retrying(attempt)
            except FetchFailure as failure:
                how = self._how(failure, tries, countdown, series_id)
                message = f"{series_id}: FRED {endpoint} request failed {how}"
            else:
                return self._parse(body, series_id, endpoint)
        # Raised outside the except block so no urllib exception (which carries the
        # keyed URL in .url / .filename) is chained to it as __context__.
        raise _source_error(self._scrub(message))

    def _retrying(self, countdown: Countdown, series_id: str, endpoint: str) -> tenacity.Retrying:
        """The retry policy of one request: transient failures, up to `attempts` tries,
        stopping early when the next backoff wait would run past the series' deadline."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: FRED %s attempt %d/%d failed (%s); retrying in %.1fs",
                series_id, endpoint, state.attempt_number, self.attempts,
                getattr(failure, "description", "?"), state.upcoming_sleep,
            )

        return tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.attempts), countdown.stop_retrying),
            wait=self._wait,
            sleep=self.deadline.sleep,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, FetchFailure) and e.transient),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _how(self, failure: FetchFailure, tries: int, countdown: Countdown, series_id: str) -> str:
        """How a request ended, after "request failed": the deadline, the attempts, or a permanent error."""
        if failure.transient and tries < self.attempts:  # retryable, attempts left: the deadline stopped it
            return f"({countdown.exceeded(series_id)}): {failure.description}"
        how = f"after {tries} attempt{'s' if tries > 1 else ''}"
        if not failure.transient:
            how += " (not retryable)"
        return f"{how}: {failure.description}"

    def _attempt(self, keyed_url: str, countdown: Countdown) -> bytes:
        if self._throttle is not None:
            countdown.paused(self._throttle)  # every attempt is a request against FRED's rate limit
        timeout = countdown.timeout(self.timeout)
        try:
            # looked up at call time, so a test can replace the module's transport
            return (self._transport or urllib_transport)(keyed_url, timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is described, none with its URL
            failure = request_failure(exc, timeout, error_detail=_fred_error_message, scrub=self._scrub,
                                      cut_off=_CUT_OFF_BODY)
        # Raised here, not inside the except, for the same no-chained-URL reason.
        raise failure


    def _parse(self, body: bytes, series_id: str, endpoint: str) -> ET.Element:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            # e.g. a JSON error body or an HTML page from a proxy, served with status 200
            detail = _fred_error_message(body) or f"not XML: {body[:80]!r}"
            raise SourceError(self._scrub(f"{series_id}: FRED {endpoint} response unusable: {detail}")) from None
        if root.tag == "error":
            raise _source_error(self._scrub(f"{series_id}: FRED {endpoint}: {_fred_error_message(body)}"))
        return root


def fetch(spec: SeriesSpec, client: FredClient, since: dt.date | None) -> FetchResult:
    """Metadata and observations of one FRED registry entry (from `since`, or all history).

    Units are not checked here: call check_units(spec, result.metadata) and block
    publishing on a problem, so the fetched data can still be stored and shown. All its
    requests share the client's deadline.
    """
    with client.series_deadline():
        metadata = _fred_metadata(spec, client)
        series = client.get_series(spec.id, observation_start=since)
    return FetchResult(series_id=spec.id, frame=normalize_observations(spec.id, series), metadata=metadata)


def fetch_vintages(
    spec: SeriesSpec,
    client: FredClient,
    *,
    realtime_start: dt.date | None,
    observation_start: dt.date | None,
    max_per_request: int = ALFRED_MAX_VINTAGE_DATES,
    stored_metadata: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> FetchResult:
    """Metadata, ALFRED vintages and current values of one FRED registry entry.

    A daily (incremental) fetch is one request: the realtime periods from `realtime_start`
    on, in one `series/observations` call. The vintage dates are asked for only when ALFRED
    answers that the span holds too many (then it is split at them, as a first fetch is),
    and the series info only when `stored_metadata` (what the last live fetch recorded) is
    missing or its info is older than INFO_MAX_AGE_DAYS on `today`.

    realtime_start None fetches the whole realtime history; a date fetches the periods
    from that date on (an incremental fetch: rows valid before it come clipped to it).
    Either way the realtime span is cut at the series' vintage dates into requests of at
    most `max_per_request` vintage dates, merged. A series with no vintage dates at all is
    fetched as `fetch` does (current values, `vintages` None). `vintages` is VINTAGES; `frame` is
    OBSERVATIONS holding, per observation date, the value of its latest vintage; units
    are left to check_units as in fetch(). All its requests share the client's deadline.
    """
    with client.series_deadline():
        return _fetch_vintages(spec, client, realtime_start, observation_start, max_per_request,
                               stored_metadata if realtime_start is not None else None, today or dt.date.today())


def _fetch_vintages(
    spec: SeriesSpec,
    client: FredClient,
    realtime_start: dt.date | None,
    observation_start: dt.date | None,
    max_per_request: int,
    stored_metadata: Mapping[str, str] | None,
    today: dt.date,
) -> FetchResult:
    metadata = _stored_info(stored_metadata, today) or _fred_metadata(spec, client, today)
    if realtime_start is not None:
        # incremental: one request from the newest stored vintage; periods begun earlier
        # come clipped to it. Split at the vintage dates only if ALFRED finds it too many.
        try:
            frames = [client.get_vintages(spec.id, realtime_start, None, observation_start)]
        except VintageLimitError as refused:
            dates = client.get_vintage_dates(spec.id, realtime_start=realtime_start)
            frames = _split_window(client, spec.id, realtime_start, REALTIME_OPEN, dates, observation_start, refused)
    else:
        dates = client.get_vintage_dates(spec.id)
        if not dates:
            # a series ALFRED keeps no vintages of: its current values (fredapi get_series),
            # whose times then come from the registry's release rule
            log.info("%s: ALFRED has no vintage dates for %s; fetching current values", spec.key, spec.id)
            return fetch(spec, client, observation_start)
        frames = _fetch_windows(client, spec.id, vintage_windows(dates, max_per_request), dates, observation_start)
    vintages = merge_vintages(frames) if frames else empty_vintages()
    return FetchResult(
        series_id=spec.id,
        frame=current_observations(vintages),
        metadata=metadata,
        vintages=vintages,
        vintages_from=realtime_start,
    )


def _fetch_windows(client: FredClient, series_id: str, windows: list[tuple[dt.date, dt.date]], dates: list[dt.date],
                   observation_start: dt.date | None) -> list[pl.DataFrame]:
    return [frame for start, end in windows
            for frame in _fetch_window(client, series_id, start, end, _dates_within(dates, start, end), observation_start)]


def _fred_metadata(spec: SeriesSpec, client: FredClient, today: dt.date | None = None) -> dict[str, str]:
    if spec.provider != "fred":
        raise SourceError(f"{spec.key}: provider is {spec.provider!r}, not fred")
    info = client.get_series_info(spec.id)
    metadata = {field: info[field] for field in METADATA_FIELDS if field in info}
    if "units" not in metadata:
        # Live metadata without units would make check_units vacuous; refuse instead.
        raise SourceError(f"{spec.key}: FRED series info for {spec.id} has no units field")
    return {**metadata, INFO_FETCHED_ON: (today or dt.date.today()).isoformat()}


def _stored_info(stored: Mapping[str, str] | None, today: dt.date) -> dict[str, str] | None:
    """The series info a live fetch recorded, if it is at most INFO_MAX_AGE_DAYS old on `today`
    and has units (check_units then compares the registry with it again), else None."""
    if not stored or "units" not in stored or INFO_FETCHED_ON not in stored:
        return None
    try:
        age = (today - dt.date.fromisoformat(str(stored[INFO_FETCHED_ON]))).days
    except ValueError:
        return None
    if not 0 <= age <= INFO_MAX_AGE_DAYS:
        return None
    return {field: str(stored[field]) for field in (*METADATA_FIELDS, INFO_FETCHED_ON) if field in stored}


def _dates_within(dates: list[dt.date], start: dt.date, end: dt.date) -> list[dt.date]:
    return [day for day in dates if start <= day <= end]


def _fetch_window(
    client: FredClient,
    series_id: str,
    start: dt.date,
    end: dt.date,
    dates: list[dt.date],
    observation_start: dt.date | None,
) -> list[pl.DataFrame]:
    """VINTAGES frames covering realtime [start, end]; halves the window (at its middle
    vintage date) while ALFRED says it holds too many vintage dates."""
    try:
        return [client.get_vintages(series_id, start, end, observation_start)]
    except VintageLimitError as exc:
        return _split_window(client, series_id, start, end, dates, observation_start, exc)


def _split_window(client: FredClient, series_id: str, start: dt.date, end: dt.date, dates: list[dt.date],
                  observation_start: dt.date | None, refused: VintageLimitError) -> list[pl.DataFrame]:
    """_fetch_window of the two halves of a window ALFRED refused (`refused`), split at its middle
    vintage date of `dates` (those within it)."""
    if len(dates) < 2:  # the floor: a single vintage date cannot be split further
        raise SourceError(f"{refused} (realtime {start}..{end} holds {len(dates)} vintage date(s))") from None
    middle = dates[len(dates) // 2]
    log.info("%s: ALFRED vintage limit for realtime %s..%s; splitting at %s", series_id, start, end, middle)
    before = middle - dt.timedelta(days=1)
    return [
        *_fetch_window(client, series_id, start, before, _dates_within(dates, start, before), observation_start),
        *_fetch_window(client, series_id, middle, end, _dates_within(dates, middle, end), observation_start),
    ]


# --- 3. normalize: pure functions, no I/O ---------------------------------------------


@dataclass(frozen=True)
class _Row:
    obs_date: dt.date
    value: float | None
    value_text: str


def _frame(series_id: str, rows: list[_Row]) -> pl.DataFrame:
    if not rows:
        return empty_observations()
    frame = pl.DataFrame(
        {
            "series_id": [series_id] * len(rows),
            "obs_date": [r.obs_date for r in rows],
            "value": [r.value for r in rows],
            "value_text": [r.value_text for r in rows],
        },
        schema={"series_id": pl.String, "obs_date": pl.Date, "value": pl.Float64, "value_text": pl.String},
    )
    return conform(frame.sort("obs_date", maintain_order=True))


def normalize_observations(series_id: str, series: pd.Series) -> pl.DataFrame:
    """A fredapi observations Series -> OBSERVATIONS, ascending by date.

    value_text is the text FRED sent when the Series carries it (FredClient.get_series
    puts it in series.attrs["value_text"]); otherwise the float's repr. A NaN whose
    text is FRED's "." is dropped: "." means there is no observation that day, not a
    value. A NaN whose text is anything else is kept with value null for the quality
    gate to report.
    """
    texts: Mapping[str, str] = series.attrs.get("value_text") or {}
    rows: list[_Row] = []
    import pandas as pd

    for stamp, raw in series.items():
        day = pd.Timestamp(stamp).date()
        text = texts.get(day.isoformat())
        value = None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else float(raw)
        if value is None:
            if text is None or text == FRED_MISSING:
                continue
            rows.append(_Row(day, None, text))
        else:
            rows.append(_Row(day, value, text if text is not None else repr(value)))
    return _frame(series_id, rows)


def normalize_json_observations(series_id: str, payload: bytes | str) -> pl.DataFrame:
    """A raw FRED `series/observations` JSON response (file_type=json) -> OBSERVATIONS.

    value_text is kept verbatim: FRED mixes "6748567.0000000000" and "6743028" in one
    response. "." rows are dropped (no observation that day); any other text that is
    not a number is kept with value null so the quality gate can name it. Rows come
    out ascending by date whatever sort_order the request used. A FRED error body
    ({"error_code": ..., "error_message": ...}), which a cron job may have saved in
    place of data, raises SourceError.
    """
    try:
        parsed = json.loads(payload)
    except ValueError:
        snippet = payload[:80] if isinstance(payload, str) else payload[:80].decode("utf-8", "replace")
        raise SourceError(f"{series_id}: FRED observations payload is not JSON: {snippet!r}") from None
    if not isinstance(parsed, dict):
        raise SourceError(f"{series_id}: FRED observations payload is a {type(parsed).__name__}, not an object")
    if "error_code" in parsed:
        raise SourceError(
            f"{series_id}: the payload is a FRED error, not data: "
            f"error {parsed.get('error_code')}: {parsed.get('error_message', '(no message)')}"
        )
    observations = parsed.get("observations")
    if not isinstance(observations, list):
        raise SourceError(f"{series_id}: FRED observations payload has no `observations` list")

    rows: list[_Row] = []
    for obs in observations:
        date_text, text = obs.get("date"), obs.get("value")
        try:
            day = dt.date.fromisoformat(str(date_text))
        except ValueError:
            raise SourceError(f"{series_id}: FRED observation with a date that is not YYYY-MM-DD: {obs!r}") from None
        if text == FRED_MISSING:
            continue
        text = "" if text is None else str(text)
        rows.append(_Row(day, float(text) if _is_number(text) else None, text))
    return _frame(series_id, rows)


def _iso_date(series_id: str, what: str, text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise SourceError(f"{series_id}: FRED {what} is not a YYYY-MM-DD date: {text!r}") from None


def empty_vintages() -> pl.DataFrame:
    return pl.DataFrame(schema=VINTAGES)


def normalize_vintage_rows(series_id: str, observations: list[ET.Element]) -> pl.DataFrame:
    """`<observation realtime_start realtime_end date value/>` elements -> VINTAGES,
    sorted by obs_date, realtime_start.

    value_text is the text as received; "." (no observation in that period) is dropped;
    other text that is not a number is kept with value null, as in OBSERVATIONS. A date
    attribute that is not YYYY-MM-DD raises SourceError naming the series.
    """
    columns: dict[str, list] = {name: [] for name in VINTAGES.names()}
    for obs in observations:
        text = obs.get("value")
        if text == FRED_MISSING:
            continue
        text = "" if text is None else text
        columns["obs_date"].append(_iso_date(series_id, "observation date", obs.get("date")))
        columns["realtime_start"].append(_iso_date(series_id, "realtime_start", obs.get("realtime_start")))
        columns["realtime_end"].append(_iso_date(series_id, "realtime_end", obs.get("realtime_end")))
        columns["value"].append(float(text) if _is_number(text) else None)
        columns["value_text"].append(text)
    columns["series_id"] = [series_id] * len(columns["obs_date"])
    return pl.DataFrame(columns, schema=VINTAGES).sort("obs_date", "realtime_start", maintain_order=True)


def read_vintage_xml(series_id: str, payload: bytes) -> tuple[pl.DataFrame, dt.date | None]:
    """A saved `series/observations` XML response with realtime periods (what ALFRED
    returns, and what fredapi parses) -> (VINTAGES, the realtime_start it was asked from:
    None when that is FRED's earliest, 1776-07-04, i.e. the whole realtime history, whose
    starts are true first releases). A FRED error body or anything else raises SourceError."""
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as exc:
        raise SourceError(f"{series_id}: the vintage file is not XML ({exc})") from None
    if root.tag == "error":
        raise SourceError(f"{series_id}: the vintage file is a FRED error, not data: {_fred_error_message(payload)}")
    if root.tag != "observations":
        raise SourceError(f"{series_id}: the vintage file is a <{root.tag}> response, not <observations>")
    asked = _iso_date(series_id, "realtime_start of the request", root.get("realtime_start"))
    vintages = merge_vintages([normalize_vintage_rows(series_id, list(root))])
    return vintages, None if asked <= dt.date(1776, 7, 4) else asked


def vintage_windows(
    vintage_dates: list[dt.date], max_per_request: int = ALFRED_MAX_VINTAGE_DATES
) -> list[tuple[dt.date, dt.date]]:
    """Realtime windows (start, end), inclusive, each holding at most `max_per_request`
    of the vintage dates.

    Consecutive and gapless: the first starts at the first vintage date, each next one
    the day after the previous ends (on a vintage date), the last ends at REALTIME_OPEN
    (9999-12-31: still current). No vintage dates: no windows.
    """
    if max_per_request < 1:
        raise ValueError(f"max_per_request must be >= 1, got {max_per_request}")
    dates = sorted(set(vintage_dates))
    starts = dates[::max_per_request]
    ends = [later - dt.timedelta(days=1) for later in starts[1:]] + [REALTIME_OPEN] if starts else []
    return list(zip(starts, ends, strict=True))


def merge_vintages(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Join the VINTAGES frames of adjacent realtime windows into one VINTAGES frame.

    FRED clips each period to its request, so a value valid across a window boundary
    comes back twice: ending on the window's last day and starting again on the next
    window's first. A row that starts the day after the previous row of the same
    obs_date ends, with the same value (numbers compared as numbers, so "6852491" and
    "6852491.0000000000" agree; null values by their text), is that artefact: it is
    dropped and the previous row's realtime_end extended to its own. A different value
    is a real revision and stays a row. Sorted by obs_date, realtime_start; unique on
    both (a duplicate keeps the later frame's row).
    """
    if not frames:
        return empty_vintages()
    rows = (
        pl.concat([frame.select(VINTAGES.names()).cast(dict(VINTAGES)) for frame in frames])
        .unique(["obs_date", "realtime_start"], keep="last", maintain_order=True)
        .sort("obs_date", "realtime_start", maintain_order=True)
    )
    previous = {name: pl.col(name).shift(1) for name in ("obs_date", "value", "value_text", "realtime_end")}
    same_value = (
        pl.when(pl.col("value").is_not_null() & previous["value"].is_not_null())
        .then(pl.col("value") == previous["value"])
        .otherwise(pl.col("value").is_null() & previous["value"].is_null() & (pl.col("value_text") == previous["value_text"]))
    )
    continues = (
        (pl.col("obs_date") == previous["obs_date"])
        & (pl.col("realtime_start") == previous["realtime_end"] + pl.duration(days=1))
        & same_value
    ).fill_null(False)
    return (
        rows.with_columns(_period=(~continues).cum_sum())
        .group_by("_period", maintain_order=True)
        .agg(pl.exclude("realtime_end").first(), pl.col("realtime_end").last())
        .select(VINTAGES.names())
    )


def current_observations(vintages: pl.DataFrame) -> pl.DataFrame:
    """VINTAGES -> OBSERVATIONS: per obs_date, the row with the latest realtime_start."""
    latest = vintages.sort("obs_date", "realtime_start").group_by("obs_date", maintain_order=True).last()
    return conform(latest.select("series_id", "obs_date", "value", "value_text"))


def check_units(spec: SeriesSpec, metadata: Mapping[str, str]) -> str | None:
    """A problem message when FRED's units differ from the registry's, else None.

    A units change (say millions -> billions) would silently scale net liquidity by
    1000, so it blocks publishing until someone updates the registry (native_units,
    to_bn). Metadata without units (replayed files carry none) has nothing to compare:
    None. Live fetches always have units (fetch() refuses otherwise).
    """
    if spec.provider != "fred" or "units" not in metadata:
        return None
    units = str(metadata["units"]).strip()
    if units == spec.native_units.strip():
        return None
    return (
        f"{spec.key}: units changed at the source: registry says {spec.native_units!r}, "
        f"FRED now says {units!r}; publish blocked until the registry is reviewed"
    )

"""FRED source: fetch one series through fredapi and normalize it to OBSERVATIONS.

Three steps, kept apart so only one of them touches the network:

1. build the request: `load_api_key` reads FRED_API_KEY into a `Secret`; `FredClient`
   holds it with the timeout and retry policy; `incremental_start` picks the
   observation_start of an incremental fetch.
2. fetch the raw payload: `FredClient` lets fredapi build the URLs and parse the XML,
   but routes fredapi's one private fetch through an injectable
   `transport(url, timeout) -> bytes`. That boundary is ours: every request gets a
   timeout, transient failures (HTTP 429, 5xx, timeouts, connection errors) are
   retried with exponential backoff and jitter, and anything that escapes is a
   `SourceError` naming the series and the reason, never the URL (it holds the key).
3. normalize, pure: `normalize_observations` (a fredapi pandas Series) and
   `normalize_json_observations` (a raw `series/observations` JSON response, as saved
   in tests/fixtures/wire/) return the OBSERVATIONS frame; `check_units` compares the
   live metadata with the registry.

`fetch(spec, client, since)` strings 2 and 3 together for one registry entry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import fredapi
import pandas as pd
import polars as pl
import tenacity

from flows.registry import SeriesSpec
from flows.sources.schema import FetchResult, SourceError, conform, empty_observations

log = logging.getLogger(__name__)

API_KEY_ENV = "FRED_API_KEY"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 4

# FRED's marker for "no observation on this date" (holidays, days without an
# operation, data never collected). It is not a value, so such rows are dropped.
FRED_MISSING = "."

# Metadata fields kept from `fred/series`; the rest (notes, popularity...) is noise here.
METADATA_FIELDS = ("title", "units", "frequency", "seasonal_adjustment", "last_updated")

# What FRED writes for a number ("6743028", "6748567.0000000000", "-0.25", "1.5e3").
# Stricter than float(), which would also take "nan", "inf" or "1_000": a value like
# that is something to show the quality gate, not to convert quietly.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

Transport = Callable[[str, float], bytes]


# --- 1. the request: key, client settings, incremental start ------------------------


class Secret:
    """A string that shows as *** in repr, str, f-strings and logs; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)


class MissingApiKeyError(SourceError):
    """FRED_API_KEY is not set, so live FRED fetches cannot run."""


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


class _FetchFailure(Exception):
    """One failed request, already described without the URL; `transient` means retry."""

    def __init__(self, description: str, transient: bool) -> None:
        super().__init__(description)
        self.description = description
        self.transient = transient


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text.strip()) is not None


def _series_id_of(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query.get("series_id", ["?"])[0]


def _endpoint_of(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return path.split("/fred/", 1)[-1] or path


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
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        if not self._api_key:
            raise MissingApiKeyError(f"FredClient needs a non-empty API key (set {API_KEY_ENV})")
        self._transport = transport
        self.timeout = float(timeout)
        self.attempts = attempts
        # Composed rather than wait_exponential_jitter, whose parameter names changed
        # across tenacity versions.
        self._wait = tenacity.wait_exponential(multiplier=backoff_initial, max=backoff_max) + tenacity.wait_random(
            0, backoff_jitter
        )

    def __repr__(self) -> str:
        return f"FredClient(api_key=***, timeout={self.timeout}, attempts={self.attempts})"

    # -- the two calls fetch() needs, in fredapi's own shapes --

    def get_series_info(self, series_id: str) -> dict[str, str]:
        """The `fred/series` attributes (title, units, frequency, ...) as strings."""
        try:
            info = _TransportFred(self).get_series_info(series_id)
        except ValueError as exc:  # fredapi: "No info exists for series id: ..."
            raise SourceError(f"{series_id}: FRED series info: {self._scrub(str(exc))}") from None
        return {str(k): str(v) for k, v in info.items()}

    def get_series(self, series_id: str, observation_start: dt.date | None = None) -> pd.Series:
        """Observations from fredapi: float values (NaN for FRED's "."), datetime index.

        The texts as received ride along in `series.attrs["value_text"]` (ISO date ->
        text) for normalize_observations.
        """
        fred = _TransportFred(self)
        try:
            series = fred.get_series(series_id, observation_start=observation_start)
        except ValueError as exc:  # fredapi: "No data exists ...", or a date it cannot parse
            raise SourceError(f"{series_id}: FRED observations: {self._scrub(str(exc))}") from None
        series.attrs["value_text"] = dict(fred.value_texts)
        return series

    # -- the request itself --

    def _scrub(self, text: str) -> str:
        key = self._api_key.reveal()
        for form in {key, urllib.parse.quote_plus(key)}:
            text = text.replace(form, "***")
        return re.sub(r"api_key=[^&\s'\"]*", "api_key=***", text)

    def _request(self, url: str) -> ET.Element:
        """GET a fredapi URL (without the key) with retries; the parsed XML root."""
        series_id, endpoint = _series_id_of(url), _endpoint_of(url)
        # Logged before the key is appended: the URL in logs never carries it.
        log.debug("FRED GET %s (timeout %.0fs)", url, self.timeout)
        keyed_url = f"{url}&api_key={urllib.parse.quote_plus(self._api_key.reveal())}"

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: FRED %s attempt %d/%d failed (%s); retrying in %.1fs",
                series_id, endpoint, state.attempt_number, self.attempts,
                getattr(failure, "description", "?"), state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, _FetchFailure) and e.transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        tries = 0

        def attempt() -> bytes:
            nonlocal tries
            tries += 1
            return self._attempt(keyed_url)

        try:
            body = retrying(attempt)
        except _FetchFailure as failure:
            how = f"after {tries} attempt{'s' if tries > 1 else ''}"
            if not failure.transient:
                how += " (not retryable)"
            message = f"{series_id}: FRED {endpoint} request failed {how}: {failure.description}"
        else:
            return self._parse(body, series_id, endpoint)
        # Raised outside the except block so no urllib exception (which carries the
        # keyed URL in .url / .filename) is chained to it as __context__.
        raise SourceError(self._scrub(message))

    def _attempt(self, keyed_url: str) -> bytes:
        try:
            # looked up at call time, so a test can replace the module's transport
            return (self._transport or urllib_transport)(keyed_url, self.timeout)
        except urllib.error.HTTPError as exc:
            failure = self._http_failure(exc)
        except urllib.error.URLError as exc:  # DNS, refused connection, timeout on connect
            failure = _FetchFailure(f"network error: {self._scrub(str(exc.reason))}", transient=True)
        except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
            failure = _FetchFailure(f"timed out after {self.timeout:.0f}s ({self._scrub(str(exc))})", transient=True)
        except ConnectionError as exc:  # reset/aborted while reading the body
            failure = _FetchFailure(f"connection error: {type(exc).__name__}", transient=True)
        except Exception as exc:  # noqa: BLE001 - a transport bug or unexpected failure: do not retry
            failure = _FetchFailure(f"{type(exc).__name__}: {self._scrub(str(exc))}", transient=False)
        # Raised here, not inside the except, for the same no-chained-URL reason.
        raise failure

    def _http_failure(self, exc: urllib.error.HTTPError) -> _FetchFailure:
        try:
            body = exc.read()
        except Exception:  # noqa: BLE001 - a body we cannot read still leaves the status code
            body = b""
        finally:
            exc.close()
        detail = _fred_error_message(body) or str(exc.reason)
        # 429 (rate limit) and 5xx are FRED being busy or down: worth another try.
        # 400/404 (bad series id, bad parameter, bad key) fail the same way every time.
        transient = exc.code == 429 or 500 <= exc.code < 600
        hint = " (rate limited)" if exc.code == 429 else ""
        return _FetchFailure(f"HTTP {exc.code}{hint}: {self._scrub(detail)}", transient=transient)

    def _parse(self, body: bytes, series_id: str, endpoint: str) -> ET.Element:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            # e.g. a JSON error body or an HTML page from a proxy, served with status 200
            detail = _fred_error_message(body) or f"not XML: {body[:80]!r}"
            raise SourceError(self._scrub(f"{series_id}: FRED {endpoint} response unusable: {detail}")) from None
        if root.tag == "error":
            raise SourceError(self._scrub(f"{series_id}: FRED {endpoint}: {_fred_error_message(body)}"))
        return root


def fetch(spec: SeriesSpec, client: FredClient, since: dt.date | None) -> FetchResult:
    """Metadata and observations of one FRED registry entry (from `since`, or all history).

    Units are not checked here: call check_units(spec, result.metadata) and block
    publishing on a problem, so the fetched data can still be stored and shown.
    """
    if spec.provider != "fred":
        raise SourceError(f"{spec.key}: provider is {spec.provider!r}, not fred")
    info = client.get_series_info(spec.id)
    metadata = {field: info[field] for field in METADATA_FIELDS if field in info}
    if "units" not in metadata:
        # Live metadata without units would make check_units vacuous; refuse instead.
        raise SourceError(f"{spec.key}: FRED series info for {spec.id} has no units field")
    series = client.get_series(spec.id, observation_start=since)
    return FetchResult(series_id=spec.id, frame=normalize_observations(spec.id, series), metadata=metadata)


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

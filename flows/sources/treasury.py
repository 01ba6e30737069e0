"""Treasury source: the TGA's close each business day, from the Daily Treasury Statement.

The statement's Table I ("Operating Cash Balance") is served by the Treasury's fiscal-data
API, endpoint `v1/accounting/dts/operating_cash_balance`: keyless, paged, JSON. A statement
comes out the next business day about 16:00 New York (the registry's release rule).

Three steps, as in flows/sources/fred.py, only the second touching the network:

1. build the request, pure: `page_url(since, page, page_size)`.
2. fetch the raw payload: `fetch_pages` GETs page 1, 2, … through an injectable
   `transport(url, timeout) -> bytes` (default `urllib_transport`; tests replace it). Every
   request has a timeout; HTTP 429/408/5xx, timeouts, connection errors and a body cut off
   mid-transfer are retried with exponential backoff and jitter; `throttle` (the pipeline
   passes `flows.limits.treasury_throttle`) is called before every attempt; all the pages of
   one fetch share one `Deadline` (60 s by default). Pages are followed through `links.next`
   up to `meta["total-pages"]`, and the rows read must add up to `meta["total-count"]`.
   Whatever goes wrong is a `SourceError` naming the series and the page.
3. normalize, pure: `rows_from_pages` (the JSON pages) or `read_statement_csv` (recorded
   files) give the statement's rows as text; `normalize_rows` picks the TGA close of each day
   (the close rule below) and returns the OBSERVATIONS frame.

`fetch(spec, since)` strings the three together; `read_statement_files(spec, paths)` is the
replay of recorded files (flows/sources/replay.py finds them).

The close rule. The account was renamed twice, and the close moved column:

    account_type                                      value in          dates seen
    Federal Reserve Account                           close_today_bal   ... 2021-09-30
    Treasury General Account (TGA)                    close_today_bal   2021-10-01 .. 2022-04-15
    Treasury General Account (TGA) Closing Balance    open_today_bal    2022-04-18 ...

From 2022-04-18 Table I has four rows a day (opening balance, deposits, withdrawals, closing
balance), all with `close_today_bal` empty ("null"); the closing-balance row carries the close
in `open_today_bal`. A reader that keeps one label loses the other years without a word (one
public tracker shows a TGA of 0 for early 2022 this way). Here a day's close is the one row of
these three labels; a day with none has no observation (never 0), a day with two is an error
naming it, and a closing-balance row whose `close_today_bal` is filled and disagrees is one too.
Older texts carry a pandas ".0" ("332106.0"); they are kept as received in `value_text`.

The API's shape, as documented (found 2026-12-01; no recording of this endpoint's JSON
exists, so tests/fixtures/treasury/ holds responses built from the recorded rows):
- fiscaldata.treasury.gov/api-documentation, as quoted in K-Dense-AI/claude-scientific-skills
  `usfiscaldata/references/response-format.md` and `api-basics.md`: a response is
  {"data": [...], "meta": {...}, "links": {...}}; every value in `data` is a string, a missing
  one the string "null"; `meta` holds `count` (rows on this page), `labels`, `dataTypes`,
  `dataFormats`, `total-count` (rows over all pages) and `total-pages`; `links` holds `self`,
  `first`, `prev`, `next`, `last`, each a query fragment such as
  "&page%5Bnumber%5D=2&page%5Bsize%5D=100", `prev` null on the first page and `next` null on the
  last. An error answers {"error": ..., "message": ...} with a 4xx/5xx status; 429 = rate limited.
  Parameters: fields=a,b; filter=record_date:gte:YYYY-MM-DD; sort=a,-b; page[number]; page[size].
  Leaving a non-numeric field out of `fields` makes the API group by the fields asked and sum
  the numeric ones: the fields asked here keep (record_date, account_type), unique per day in
  the recorded rows (8130 of 8130), so there is nothing to merge.
- A real saved response of another endpoint of the same API (r7lemieux/nc
  src/lib/services/domain/timeFactor/debt0.raw.ts @ 23e36ecac26af0df15d3dd84dc4570b10724b4c8,
  v2/accounting/od/debt_outstanding page 3 of 3) has exactly that shape: meta count 36,
  "total-count": 236, "total-pages": 3 as JSON numbers, links.next null, links.prev
  "&page%5Bnumber%5D=2&page%5Bsize%5D=100".
- Page size: 10,000 rows is the documented maximum per the clients finance-query
  (docs.rs, src/adapters/fiscaldata/client.rs: "FiscalData's documented maximum page size")
  and R's ustfd (`ustfd_all_pages(page_size = 10000L)`). The whole history (from 2005-10-03, the first
  row of a public dump of the endpoint; under 20,000 rows) is two pages.
- No rate limit is published; the throttle is politeness (flows/limits.py, TREASURY).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import tenacity

from flows.registry import SeriesSpec
from flows.sources import file as file_source
from flows.sources.schema import (
    DEFAULT_DEADLINE_S,
    BadRows,
    Countdown,
    Deadline,
    FetchFailure,
    FetchResult,
    SourceError,
    conform,
    parse_number,
    request_failure,
)

log = logging.getLogger(__name__)

BASE_URL = "https://api.fiscaldata.treasury.gov/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance"
ENDPOINT = "v1/accounting/dts/operating_cash_balance"
# src_line_nbr is asked for the sort only: record_date alone leaves the order of a day's rows
# to the server, and a day split across a page boundary could then repeat or lose a row.
FIELDS = ("record_date", "account_type", "close_today_bal", "open_today_bal", "src_line_nbr")
SORT = "record_date,src_line_nbr"
PAGE_SIZE = 10_000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 4

# account_type -> the column that holds that row's close (the close rule, module docstring)
CLOSE_FIELD = {
    "Federal Reserve Account": "close_today_bal",
    "Treasury General Account (TGA)": "close_today_bal",
    "Treasury General Account (TGA) Closing Balance": "open_today_bal",
}
# the API's text for "no value"; the recorded CSV of its rows writes an empty cell instead
NULL_TEXTS = ("null", "")
ROW_COLUMNS = ("record_date", "account_type", "close_today_bal", "open_today_bal")
# the parsed fixed-width statements (USDOS/fms-treasury-statements): its columns -> the API's
STATEMENT_COLUMNS = {"date": "record_date", "account": "account_type", "close_today": "close_today_bal",
                     "open_today": "open_today_bal"}
TABLE_I = "TABLE I Operating Cash Balance"
ROWS_SHOWN = 5

Transport = Callable[[str, float], bytes]



# --- 1. the request ---------------------------------------------------------------------


def page_url(since: dt.date | None, page: int, page_size: int = PAGE_SIZE) -> str:
    """The URL of one page of Table I rows from `since` (None: the whole history), oldest first."""
    params = [("fields", ",".join(FIELDS))]
    if since is not None:
        params.append(("filter", f"record_date:gte:{since.isoformat()}"))
    params += [("sort", SORT), ("page[number]", str(page)), ("page[size]", str(page_size))]
    return f"{BASE_URL}?{urllib.parse.urlencode(params, safe=',:')}"


def page_of(url_or_fragment: str) -> tuple[int | None, int | None]:
    """(page[number], page[size]) of a URL or of a `links` fragment ("&page%5Bnumber%5D=2&…")."""
    query = url_or_fragment.split("?", 1)[-1]
    parsed = urllib.parse.parse_qs(query.lstrip("&"))

    def number(name: str) -> int | None:
        text = parsed.get(name, [""])[0]
        return int(text) if text.isdigit() else None

    return number("page[number]"), number("page[size]")


# --- 2. the fetch: the one network call, behind a transport we own ----------------------


def urllib_transport(url: str, timeout: float) -> bytes:
    """The default transport: one GET; urlopen raises HTTPError on any non-2xx status."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "netliq"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _error_detail(body: bytes) -> str | None:
    """The API's own error text ({"error": ..., "message": ...}), or None."""
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    if isinstance(parsed, dict) and ("error" in parsed or "message" in parsed):
        return ": ".join(str(parsed[k]) for k in ("error", "message") if parsed.get(k))
    return None


class _Pager:
    """The pages of one fetch: one countdown, one retry policy, one throttle."""

    def __init__(self, series: str, transport: Transport | None, timeout: float, attempts: int,
                 wait: tenacity.wait.wait_base, throttle: Callable[[], None] | None, countdown: Countdown) -> None:
        self.series, self.transport, self.timeout, self.attempts = series, transport, timeout, attempts
        self.wait, self.throttle, self.countdown = wait, throttle, countdown

    def get(self, url: str, page: int) -> dict[str, Any]:
        log.debug("%s: Treasury GET %s page %d (timeout %.0fs)", self.series, ENDPOINT, page, self.timeout)
        tries = 0

        def attempt() -> bytes:
            nonlocal tries
            if self.countdown.expired():
                raise FetchFailure("no time left for this request", transient=True)
            tries += 1
            self.countdown.attempts += 1
            return self._attempt(url)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            log.warning("%s: Treasury %s page %d attempt %d/%d failed (%s); retrying in %.1fs", self.series,
                        ENDPOINT, page, state.attempt_number, self.attempts,
                        getattr(failure, "description", "?"), state.upcoming_sleep)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.attempts), self.countdown.stop_retrying),
            wait=self.wait,
            sleep=self.countdown.deadline.sleep,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, FetchFailure) and e.transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            body = retrying(attempt)
        except FetchFailure as failure:
            if failure.transient and tries < self.attempts:
                how = f"({self.countdown.exceeded(self.series)})"
            else:
                how = f"after {tries} attempt{'s' if tries > 1 else ''}" + ("" if failure.transient else
                                                                            " (not retryable)")
            message = f"{self.series}: Treasury {ENDPOINT} page {page} request failed {how}: {failure.description}"
        else:
            return self._parse(body, page)
        raise SourceError(message)

    def _attempt(self, url: str) -> bytes:
        if self.throttle is not None:
            self.countdown.paused(self.throttle)
        timeout = self.countdown.timeout(self.timeout)
        try:
            # looked up at call time, so a test can replace the module's transport
            return (self.transport or urllib_transport)(url, timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is described (flows/sources/schema.py)
            # 408 (request timeout) is busy too, like 429 and 5xx
            failure = request_failure(exc, timeout, error_detail=_error_detail, transient_status=(408, 429))
        raise failure

    def _parse(self, body: bytes, page: int) -> dict[str, Any]:
        where = f"{self.series}: Treasury {ENDPOINT} page {page}"
        try:
            payload = json.loads(body)
        except ValueError:
            raise SourceError(f"{where}: the answer is not JSON: {body[:80]!r}") from None
        if not isinstance(payload, dict):
            raise SourceError(f"{where}: expected a JSON object with data, meta and links")
        meta, links, data = payload.get("meta"), payload.get("links"), payload.get("data")
        if not isinstance(data, list) or not isinstance(meta, dict) or not isinstance(links, dict):
            detail = _error_detail(body)
            raise SourceError(f"{where}: " + (detail or "expected a JSON object with data (a list), meta and links"))
        for key in ("count", "total-count", "total-pages"):
            if isinstance(meta.get(key), bool) or not isinstance(meta.get(key), int):
                raise SourceError(f"{where}: meta[{key!r}] is not a whole number: {meta.get(key)!r}")
        return payload


def fetch_pages(
    series: str,
    since: dt.date | None,
    *,
    transport: Transport | None = None,
    page_size: int = PAGE_SIZE,
    timeout: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
    backoff_jitter: float = 1.0,
    throttle: Callable[[], None] | None = None,
    deadline: Deadline | float = DEFAULT_DEADLINE_S,
) -> list[dict[str, Any]]:
    """Every page of Table I from `since`, as parsed JSON, checked to be whole.

    Page 1 says how many rows and pages there are; each next page is the one `links.next`
    names, until `meta["total-pages"]`. A next link missing before the last page, a page
    whose `data` does not hold `meta.count` rows, a total that changes between pages, or a
    sum of rows other than `meta["total-count"]` is a SourceError (a page missing), and so is
    an answer with no rows at all (the statement has a row every business day).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    wait = tenacity.wait_exponential(multiplier=backoff_initial, max=backoff_max) + tenacity.wait_random(
        0, backoff_jitter)
    pager = _Pager(series, transport, float(timeout), attempts, wait, throttle, Deadline.of(deadline).start())
    where = f"{series}: Treasury {ENDPOINT}"
    pages: list[dict[str, Any]] = []
    page = 1
    while True:
        payload = pager.get(page_url(since, page, page_size), page)
        meta, links, data = payload["meta"], payload["links"], payload["data"]
        if len(data) != meta["count"]:
            raise SourceError(f"{where} page {page}: holds {len(data)} rows, its meta.count says {meta['count']}")
        if pages and (meta["total-count"], meta["total-pages"]) != (total, last):
            raise SourceError(f"{where}: the result changed while it was paged: page 1 said {total} rows on "
                              f"{last} pages, page {page} says {meta['total-count']} on {meta['total-pages']}")
        total, last = meta["total-count"], meta["total-pages"]
        pages.append(payload)
        if page >= last:
            break
        following = page_of(links.get("next") or "")[0]
        if following is None:
            raise SourceError(f"{where}: page {page} of {last} has no links.next: page {page + 1} is missing")
        if following != page + 1:
            raise SourceError(f"{where}: page {page}'s links.next points at page {following}, not {page + 1}")
        page = following
    read = sum(len(p["data"]) for p in pages)
    if read == 0:
        asked = f"from {since}" if since else "for the whole history"
        raise SourceError(f"{where}: the answer holds no rows {asked} (data is an empty list)")
    if read != total:
        raise SourceError(f"{where}: read {read} rows on {len(pages)} page(s), meta total-count says {total}")
    return pages


# --- 3. normalize, pure -----------------------------------------------------------------


def rows_from_pages(series: str, pages: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """The `data` rows of the pages as a text frame of ROW_COLUMNS (the API's "null" kept)."""
    out: dict[str, list[str | None]] = {c: [] for c in ROW_COLUMNS}
    for number, payload in enumerate(pages, 1):
        for row in payload["data"]:
            missing = [c for c in ROW_COLUMNS if not isinstance(row, dict) or c not in row]
            if missing:
                raise SourceError(f"{series}: Treasury {ENDPOINT} page {number}: a row lacks "
                                  f"{', '.join(missing)}: {str(row)[:200]}")
            for column in ROW_COLUMNS:
                value = row[column]
                out[column].append(None if value is None else str(value))
    return pl.DataFrame(out, schema={c: pl.String for c in ROW_COLUMNS})


def read_statement_csv(path: Path, series: str) -> pl.DataFrame:
    """A recorded Table I file as a text frame of ROW_COLUMNS: the API's fields saved as CSV
    (`record_date,account_type,close_today_bal,open_today_bal,…`), or the parsed fixed-width
    statements (`date,…,table,account,…,close_today,open_today,…`, Table I rows only; its
    `table` field has spaces around it)."""
    frame = file_source.read_text_csv(path, series)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if set(ROW_COLUMNS) <= set(frame.columns):
        return frame.select(ROW_COLUMNS)
    if set(STATEMENT_COLUMNS) | {"table"} <= set(frame.columns):
        tables = frame["table"].str.strip_chars()
        return frame.filter(tables == TABLE_I).rename(STATEMENT_COLUMNS).select(ROW_COLUMNS)
    raise SourceError(f"{series}: {path}: not a Table I file: expected the columns {','.join(ROW_COLUMNS)} "
                      f"or {','.join(STATEMENT_COLUMNS)},table; found {','.join(frame.columns)}")


def _shown(frame: pl.DataFrame) -> str:
    lines = [f"    {', '.join('' if v is None else str(v) for v in row)}" for row in frame.head(ROWS_SHOWN).iter_rows()]
    more = f"\n    … and {frame.height - ROWS_SHOWN} more" if frame.height > ROWS_SHOWN else ""
    return "\n".join(lines) + more


def normalize_rows(series: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Table I rows (text, ROW_COLUMNS) → OBSERVATIONS: one row per day that has a TGA close.

    The close rule of the module docstring: the day's one row labelled as in CLOSE_FIELD,
    its value from that label's column. A day without such a row is absent (never 0); a
    day with two, or a closing-balance row whose filled `close_today_bal` differs from its
    `open_today_bal`, is BadRows naming the days. A close whose text is not a number (the
    API's "null" included) is kept with value null so the gate names it.
    """
    candidates = rows.with_columns(pl.col(c).str.strip_chars() for c in ROW_COLUMNS).filter(
        pl.col("account_type").is_in(list(CLOSE_FIELD)))
    moved = pl.col("account_type").replace_strict(CLOSE_FIELD, default=None) == "open_today_bal"
    candidates = candidates.with_columns(
        pl.col("record_date").str.to_date("%Y-%m-%d", strict=False).alias("obs_date"),
        # as received: "null" stays "null" (value null), so the gate shows what was sent
        pl.when(moved).then(pl.col("open_today_bal")).otherwise(pl.col("close_today_bal")).alias("value_text"),
    )
    bad_dates = candidates.filter(pl.col("obs_date").is_null())
    if bad_dates.height:
        raise BadRows(f"{series}: {bad_dates.height} Table I row(s) with a record_date that is not YYYY-MM-DD:\n"
                      f"{_shown(bad_dates.select(ROW_COLUMNS))}", check="date_parses")
    twice = candidates.filter(pl.col("obs_date").is_duplicated()).sort("obs_date")
    if twice.height:
        days = twice["obs_date"].unique().sort().cast(pl.String).to_list()
        raise BadRows(f"{series}: {len(days)} day(s) with more than one TGA close row ({', '.join(days[:ROWS_SHOWN])}"
                      f"{' …' if len(days) > ROWS_SHOWN else ''}); which one is the close cannot be told:\n"
                      f"{_shown(twice.select(ROW_COLUMNS))}", check="unique_key")
    filled = pl.col("close_today_bal").is_not_null() & ~pl.col("close_today_bal").is_in(NULL_TEXTS)
    close, opening = parse_number(pl.col("close_today_bal")), parse_number(pl.col("open_today_bal"))
    differs = close.is_null() | opening.is_null() | (close != opening)
    disagree = candidates.filter(moved & filled & differs)
    if disagree.height:
        raise BadRows(f"{series}: {disagree.height} closing-balance row(s) whose close_today_bal is filled and "
                      f"differs from open_today_bal, the column the close is read from:\n"
                      f"{_shown(disagree.select(ROW_COLUMNS))}", check="close_rule")
    return conform(candidates.select(
        pl.lit(series).alias("series_id"),
        pl.col("obs_date"),
        parse_number(pl.col("value_text")).alias("value"),
        pl.col("value_text"),
    ).sort("obs_date"))


# --- the three together, and the replay -------------------------------------------------


def fetch(spec: SeriesSpec, since: dt.date | None, *, throttle: Callable[[], None] | None = None,
          **settings: Any) -> FetchResult:
    """The TGA close of every day from `since` (None: the whole history) from the live API.
    `settings`: fetch_pages' transport, page_size, timeout, attempts, backoff_*, deadline."""
    pages = fetch_pages(spec.key, since, throttle=throttle, **settings)
    frame = normalize_rows(spec.id, rows_from_pages(spec.key, pages))
    metadata = {"endpoint": ENDPOINT, "pages": str(len(pages)), "rows": str(pages[0]["meta"]["total-count"])}
    return FetchResult(series_id=spec.id, frame=frame, metadata=metadata)


def read_statement_files(spec: SeriesSpec, paths: Sequence[Path]) -> FetchResult:
    """The replay: recorded Table I files (any mix of the two layouts) through the same rule."""
    rows = pl.concat([read_statement_csv(path, spec.key) for path in paths])
    frame = normalize_rows(spec.id, rows)
    return FetchResult(series_id=spec.id, frame=frame, metadata={"file": ", ".join(str(p) for p in paths)})


__all__ = [
    "BASE_URL", "CLOSE_FIELD", "ENDPOINT", "FIELDS", "PAGE_SIZE", "fetch", "fetch_pages", "normalize_rows",
    "page_of", "page_url", "read_statement_csv", "read_statement_files", "rows_from_pages", "urllib_transport",
]

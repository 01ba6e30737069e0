"""ALFRED vintages: windowed realtime requests through the FRED transport, merged.

No network. Responses are replayed at FredClient's transport boundary. The only
recorded vintage response available is fredapi's SP500 fixture (real XML with
realtime_start/realtime_end); every other response below is CONSTRUCTED in FRED's wire
format (the attribute layout of that fixture) around real WALCL values read from
data/snapshot/fred/WALCL.csv, and says so where it is built.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import urllib.error
import urllib.parse
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources.fred import (
    FredClient,
    Secret,
    fetch_vintages,
    merge_vintages,
    vintage_windows,
)
from flows.sources.schema import OBSERVATIONS, VINTAGES, SourceError

ROOT = Path(__file__).resolve().parents[1]
WIRE = Path(__file__).parent / "fixtures" / "wire"
KEY = "FAKEKEY-VINTAGES-0xC0FFEE"  # recognisable, so a leak is easy to spot
OPEN = dt.date(9999, 12, 31)

SP500_OBS_XML = (WIRE / "fredapi_fixture_series_observations_SP500.xml").read_bytes()
SERIES_XML = (WIRE / "fredapi_fixture_series_PAYEMS.xml").read_bytes()

# The ALFRED limit error as FRED words it, quoted in mortada/fredapi#48 (T5YIFR, 2022):
# "Bad Request.  There are 2004 vintage dates in the specified real-time period:
# 1776-07-04 to 9999-12-31.  This exceeds the maximum number of vintage dates allowed (2000)."
LIMIT_MESSAGE = (
    "Bad Request.  There are {n} vintage dates in the specified real-time period: "
    "{start} to {end}.  This exceeds the maximum number of vintage dates allowed ({limit})."
)
# FRED's XML error shape (as fredapi reads it); written here, not recorded.
NO_SERIES_XML = b'<?xml version="1.0" encoding="utf-8" ?>\n<error code="400" message="Bad Request.  The series does not exist."/>'


def _walcl() -> dict[dt.date, str]:
    with (ROOT / "data" / "snapshot" / "fred" / "WALCL.csv").open() as f:
        return {dt.date.fromisoformat(row["date"]): row["value"] for row in csv.DictReader(f)}


WALCL = _walcl()
D = dt.date


def client(transport, *, attempts: int = 3, throttle=None) -> FredClient:
    return FredClient(
        Secret(KEY), transport=transport, attempts=attempts, throttle=throttle,
        backoff_initial=0, backoff_max=0, backoff_jitter=0,
    )


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def http_error(url: str, code: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(url, code, "Bad Request", {}, io.BytesIO(body))  # type: ignore[arg-type]


def observations_xml(start: dt.date, end: dt.date, rows: list[tuple[dt.date, str, dt.date, dt.date]]) -> bytes:
    """CONSTRUCTED series/observations XML in the layout of the recorded SP500 response;
    rows are (date, value text, realtime_start, realtime_end)."""
    body = "".join(
        f'  <observation realtime_start="{rs}" realtime_end="{re}"\n               date="{day}" value="{text}"/>\n'
        for day, text, rs, re in rows
    )
    return (
        f'<?xml version="1.0" encoding="utf-8" ?>\n<observations realtime_start="{start}" realtime_end="{end}"\n'
        f'              observation_start="1600-01-01" observation_end="9999-12-31" units="lin"\n'
        f'              output_type="1" file_type="xml" order_by="observation_date" sort_order="asc"\n'
        f'              count="{len(rows)}" offset="0" limit="100000">\n{body}</observations>'
    ).encode()


def vintagedates_xml(dates: list[dt.date], *, count: int | None = None, offset: int = 0) -> bytes:
    """CONSTRUCTED series/vintagedates XML (root, attributes and children as FRED documents them)."""
    body = "".join(f"  <vintage_date>{day}</vintage_date>\n" for day in dates)
    return (
        '<?xml version="1.0" encoding="utf-8" ?>\n<vintage_dates realtime_start="1776-07-04" '
        f'realtime_end="9999-12-31" order_by="vintage_date" sort_order="asc" '
        f'count="{len(dates) if count is None else count}" offset="{offset}" limit="10000">\n{body}</vintage_dates>'
    ).encode()


@pytest.fixture(scope="module")
def walcl_spec():
    return load_registry().get("WALCL")


# --- (a) the recorded SP500 response through the vintage path ----------------------


def test_recorded_sp500_xml_gives_exact_vintage_rows():
    calls = []

    def transport(url: str, timeout: float) -> bytes:
        calls.append(url)
        return SP500_OBS_XML

    frame = client(transport).get_vintages("SP500", D(2015, 6, 28), D(2015, 6, 28))

    assert frame.schema == VINTAGES
    # read by hand from fredapi_fixture_series_observations_SP500.xml: four observations,
    # each realtime_start = realtime_end = 2015-06-28
    assert frame.rows() == [
        ("SP500", D(2014, 9, 2), 2002.28, "2002.28", D(2015, 6, 28), D(2015, 6, 28)),
        ("SP500", D(2014, 9, 3), 2000.72, "2000.72", D(2015, 6, 28), D(2015, 6, 28)),
        ("SP500", D(2014, 9, 4), 1997.65, "1997.65", D(2015, 6, 28), D(2015, 6, 28)),
        ("SP500", D(2014, 9, 5), 2007.71, "2007.71", D(2015, 6, 28), D(2015, 6, 28)),
    ]
    (url,) = calls
    assert url.startswith("https://api.stlouisfed.org/fred/series/observations?")
    query = params(url)
    assert (query["series_id"], query["realtime_start"], query["realtime_end"]) == ("SP500", "2015-06-28", "2015-06-28")
    assert "observation_start" not in query


def test_missing_marker_dropped_and_non_numbers_kept_in_vintages():
    xml = SP500_OBS_XML.replace(b'value="2000.72"', b'value="."').replace(b'value="1997.65"', b'value="n/a"')
    frame = client(lambda url, timeout: xml).get_vintages("SP500", D(2015, 6, 28), None, D(2014, 9, 1))
    assert frame.select("obs_date", "value", "value_text").rows() == [
        (D(2014, 9, 2), 2002.28, "2002.28"),
        (D(2014, 9, 4), None, "n/a"),
        (D(2014, 9, 5), 2007.71, "2007.71"),
    ]


# --- (b) windows, pure -------------------------------------------------------------


def test_windows_over_4500_business_day_vintages():
    # 4,500 business days (Mon-Fri) from 2008-01-02, counted here without the code
    days, day = [], D(2008, 1, 2)
    while len(days) < 4500:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)

    windows = vintage_windows(days)

    assert windows == [
        (days[0], days[2000] - dt.timedelta(days=1)),
        (days[2000], days[4000] - dt.timedelta(days=1)),
        (days[4000], OPEN),
    ]
    assert [sum(start <= d <= end for d in days) for start, end in windows] == [2000, 2000, 500]
    for (_, end), (next_start, _) in zip(windows, windows[1:], strict=False):
        assert next_start == end + dt.timedelta(days=1)  # no realtime day missed or asked twice


def test_windows_edge_cases():
    assert vintage_windows([]) == []
    assert vintage_windows([D(2025, 1, 9), D(2025, 1, 2)], max_per_request=1) == [
        (D(2025, 1, 2), D(2025, 1, 8)),
        (D(2025, 1, 9), OPEN),
    ]
    with pytest.raises(ValueError):
        vintage_windows([D(2025, 1, 2)], max_per_request=0)


# --- (c) merging windows, on real WALCL values -------------------------------------


def test_merge_across_windows_keeps_revisions_and_joins_clipped_periods(walcl_spec):
    """Two CONSTRUCTED window responses around real WALCL values (H.4.1 weeks published
    the Thursday after their Wednesday): vintages 2025-01-02, -09, -16, asked two per
    request, so realtime 2025-01-02..01-15 and 2025-01-16..9999-12-31.

    - 2025-01-01 is unchanged across the boundary: FRED clips it into two rows, the
      second spelled "6852491.0000000000" (FRED's other spelling of the same number,
      seen in the recorded WALCL JSON). One vintage.
    - 2025-01-08 is revised at 2025-01-16 to its snapshot value. Its first release,
      1,000 lower, is CONSTRUCTED (no recorded WALCL revision is available). Two vintages.
    """
    assert WALCL[D(2025, 1, 1)] == "6852491"  # the README's plausibility anchor
    first_release_0108 = str(int(WALCL[D(2025, 1, 8)]) - 1000)
    vintage_dates = [D(2025, 1, 2), D(2025, 1, 9), D(2025, 1, 16)]
    window_1 = observations_xml(D(2025, 1, 2), D(2025, 1, 15), [
        (D(2025, 1, 1), WALCL[D(2025, 1, 1)], D(2025, 1, 2), D(2025, 1, 15)),
        (D(2025, 1, 8), first_release_0108, D(2025, 1, 9), D(2025, 1, 15)),
    ])
    window_2 = observations_xml(D(2025, 1, 16), OPEN, [
        (D(2025, 1, 1), WALCL[D(2025, 1, 1)] + ".0000000000", D(2025, 1, 16), OPEN),
        (D(2025, 1, 8), WALCL[D(2025, 1, 8)], D(2025, 1, 16), OPEN),
        (D(2025, 1, 15), WALCL[D(2025, 1, 15)], D(2025, 1, 16), OPEN),
    ])
    calls = []

    def transport(url: str, timeout: float) -> bytes:
        calls.append(params(url))
        if "/series/vintagedates?" in url:
            return vintagedates_xml(vintage_dates)
        if "/series?" in url:
            return SERIES_XML
        return {"2025-01-02": window_1, "2025-01-16": window_2}[params(url)["realtime_start"]]

    result = fetch_vintages(walcl_spec, client(transport), realtime_start=None, observation_start=None, max_per_request=2)

    # expected rows written from WALCL.csv: 2025-01-01 6852491, -08 6853554, -15 6834070
    assert result.vintages.schema == VINTAGES
    assert result.vintages.rows() == [
        ("WALCL", D(2025, 1, 1), 6852491.0, "6852491", D(2025, 1, 2), OPEN),
        ("WALCL", D(2025, 1, 8), 6852554.0, "6852554", D(2025, 1, 9), D(2025, 1, 15)),
        ("WALCL", D(2025, 1, 8), 6853554.0, "6853554", D(2025, 1, 16), OPEN),
        ("WALCL", D(2025, 1, 15), 6834070.0, "6834070", D(2025, 1, 16), OPEN),
    ]
    assert result.frame.schema == OBSERVATIONS
    assert result.frame.select("obs_date", "value").rows() == [
        (D(2025, 1, 1), 6852491.0), (D(2025, 1, 8), 6853554.0), (D(2025, 1, 15), 6834070.0),
    ]
    assert result.vintages_from is None
    assert result.metadata["units"] == "Thousands of Persons"  # from the PAYEMS recording
    assert [(c["realtime_start"], c["realtime_end"]) for c in calls if "realtime_end" in c] == [
        ("2025-01-02", "2025-01-15"), ("2025-01-16", "9999-12-31"),
    ]


def test_merge_keeps_same_value_after_a_gap_and_is_order_free():
    def rows(*specs):
        return pl.DataFrame(
            [("WALCL", day, float(text), text, rs, re) for day, text, rs, re in specs], schema=VINTAGES, orient="row",
        )

    value = WALCL[D(2025, 1, 1)]
    # not adjacent (2025-01-09..01-15 had no value for it): the same value again is a new period
    late = rows((D(2025, 1, 1), value, D(2025, 1, 16), OPEN))
    early = rows((D(2025, 1, 1), value, D(2025, 1, 2), D(2025, 1, 8)))
    merged = merge_vintages([late, early])
    assert merged.select("realtime_start", "realtime_end").rows() == [(D(2025, 1, 2), D(2025, 1, 8)), (D(2025, 1, 16), OPEN)]
    assert merge_vintages([]).schema == VINTAGES


# --- (d) the vintage-limit error halves the window ---------------------------------

# A CONSTRUCTED vintage history of four real WALCL weeks, each published the next Thursday
# and never revised; FakeAlfred serves it clipped to each request, as ALFRED does.
HISTORY = [
    (D(2025, 1, 1), WALCL[D(2025, 1, 1)], D(2025, 1, 2), OPEN),
    (D(2025, 1, 8), WALCL[D(2025, 1, 8)], D(2025, 1, 9), OPEN),
    (D(2025, 1, 15), WALCL[D(2025, 1, 15)], D(2025, 1, 16), OPEN),
    (D(2025, 1, 22), WALCL[D(2025, 1, 22)], D(2025, 1, 23), OPEN),
]
HISTORY_VINTAGES = [D(2025, 1, 2), D(2025, 1, 9), D(2025, 1, 16), D(2025, 1, 23)]


class FakeAlfred:
    """A transport answering series, vintagedates and observations from HISTORY, refusing
    (HTTP 400, FRED's limit message) a realtime period with more than `limit` vintage dates."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.windows: list[tuple[str, str]] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        query = params(url)
        start = D.fromisoformat(query.get("realtime_start", "1776-07-04"))
        if "/series/vintagedates?" in url:
            return vintagedates_xml([d for d in HISTORY_VINTAGES if d >= start])
        if "/series?" in url:
            return SERIES_XML
        end = D.fromisoformat(query["realtime_end"])
        self.windows.append((query["realtime_start"], query["realtime_end"]))
        n = sum(start <= d <= end for d in HISTORY_VINTAGES)
        if n > self.limit:
            message = LIMIT_MESSAGE.format(n=n, start=start, end=end, limit=self.limit)
            raise http_error(url, 400, f'<?xml version="1.0" encoding="utf-8" ?>\n<error code="400" message="{message}"/>'.encode())
        clipped = [(d, t, max(rs, start), min(re, end)) for d, t, rs, re in HISTORY if rs <= end and re >= start]
        return observations_xml(start, end, clipped)


def test_vintage_limit_error_splits_the_window(walcl_spec):
    alfred = FakeAlfred(limit=2)
    result = fetch_vintages(walcl_spec, client(alfred), realtime_start=None, observation_start=None)

    assert alfred.windows == [
        ("2025-01-02", "9999-12-31"),  # refused: 4 vintage dates
        ("2025-01-02", "2025-01-15"),  # halves at the middle vintage date, 2 each
        ("2025-01-16", "9999-12-31"),
    ]
    assert result.vintages.select("obs_date", "value_text", "realtime_start", "realtime_end").rows() == HISTORY


def test_incremental_fetch_starts_at_the_asked_realtime_date(walcl_spec):
    alfred = FakeAlfred(limit=2000)
    result = fetch_vintages(walcl_spec, client(alfred), realtime_start=D(2025, 1, 10), observation_start=D(2025, 1, 1))

    assert alfred.windows == [("2025-01-10", "9999-12-31")]
    assert result.vintages_from == D(2025, 1, 10)
    # periods begun before 2025-01-10 come clipped to it (FetchResult.vintages_from says so)
    assert result.vintages.select("obs_date", "realtime_start").rows() == [
        (D(2025, 1, 1), D(2025, 1, 10)), (D(2025, 1, 8), D(2025, 1, 10)),
        (D(2025, 1, 15), D(2025, 1, 16)), (D(2025, 1, 22), D(2025, 1, 23)),
    ]


class CountingAlfred(FakeAlfred):
    """FakeAlfred that also records which endpoint each request asked."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.endpoints: list[str] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.endpoints.append(urllib.parse.urlsplit(url).path.split("/fred/", 1)[-1])
        return super().__call__(url, timeout)


# what the last live fetch recorded (as raw.series_metadata holds it), its info asked on 2025-01-20
STORED = {"title": "Assets: Total Assets", "units": "Millions of U.S. Dollars", "frequency": "Weekly, As of Wednesday",
          "seasonal_adjustment": "Not Seasonally Adjusted", "last_updated": "2025-01-16 16:31:02-06",
          "info_fetched_on": "2025-01-20", "netliq_checked_with": "f00"}


def test_a_daily_fetch_is_one_request_while_the_stored_info_is_recent(walcl_spec):
    alfred = CountingAlfred(limit=2000)
    result = fetch_vintages(walcl_spec, client(alfred), realtime_start=D(2025, 1, 10), observation_start=D(2025, 1, 1),
                            stored_metadata=STORED, today=D(2025, 1, 27))  # 7 days after the info: still reused
    assert alfred.endpoints == ["series/observations"]
    assert result.metadata == {k: v for k, v in STORED.items() if k != "netliq_checked_with"}
    assert len(result.vintages) == 4


@pytest.mark.parametrize("stored, today", [
    (STORED, D(2025, 1, 28)),  # 8 days old: asked again
    ({k: v for k, v in STORED.items() if k != "info_fetched_on"}, D(2025, 1, 21)),  # recorded before the rule
    ({k: v for k, v in STORED.items() if k != "units"}, D(2025, 1, 21)),  # no units to check
    (None, D(2025, 1, 21)),  # never fetched live
])
def test_a_daily_fetch_asks_the_info_again_when_the_stored_one_is_old_or_lacking(walcl_spec, stored, today):
    alfred = CountingAlfred(limit=2000)
    result = fetch_vintages(walcl_spec, client(alfred), realtime_start=D(2025, 1, 10), observation_start=D(2025, 1, 1),
                            stored_metadata=stored, today=today)
    assert alfred.endpoints == ["series", "series/observations"]
    assert result.metadata["units"] == "Thousands of Persons"  # SERIES_XML's, not the stored record's
    assert result.metadata["info_fetched_on"] == today.isoformat()


def test_a_daily_fetch_splits_at_the_vintage_dates_only_when_alfred_refuses_the_span(walcl_spec):
    alfred = CountingAlfred(limit=1)
    result = fetch_vintages(walcl_spec, client(alfred), realtime_start=D(2025, 1, 10), observation_start=None,
                            stored_metadata=STORED, today=D(2025, 1, 21))
    # refused (2 vintage dates from 01-10), then the dates, then one request per vintage date
    assert alfred.endpoints == ["series/observations", "series/vintagedates", "series/observations",
                                "series/observations"]
    assert alfred.windows == [("2025-01-10", "9999-12-31"), ("2025-01-10", "2025-01-22"), ("2025-01-23", "9999-12-31")]
    assert result.vintages.select("obs_date", "realtime_start").rows() == [
        (D(2025, 1, 1), D(2025, 1, 10)), (D(2025, 1, 8), D(2025, 1, 10)),
        (D(2025, 1, 15), D(2025, 1, 16)), (D(2025, 1, 22), D(2025, 1, 23)),
    ]


def test_a_first_fetch_ignores_stored_info(walcl_spec):
    alfred = CountingAlfred(limit=2000)
    fetch_vintages(walcl_spec, client(alfred), realtime_start=None, observation_start=None,
                   stored_metadata=STORED, today=D(2025, 1, 21))
    assert alfred.endpoints == ["series", "series/vintagedates", "series/observations"]


def test_vintage_limit_floor_gives_a_source_error(walcl_spec):
    alfred = FakeAlfred(limit=0)  # refuses everything
    with pytest.raises(SourceError) as caught:
        fetch_vintages(walcl_spec, client(alfred), realtime_start=None, observation_start=None)
    message = str(caught.value)
    assert "WALCL" in message and "maximum number of vintage dates" in message
    # 4 dates -> 2 -> 1, then no further split; a 400 is never retried
    assert alfred.windows == [
        ("2025-01-02", "9999-12-31"), ("2025-01-02", "2025-01-15"), ("2025-01-02", "2025-01-08"),
    ]


def test_vintage_dates_are_paged():
    """CONSTRUCTED two-page vintagedates answer (count 3, served 2 then 1)."""
    offsets = []

    def transport(url: str, timeout: float) -> bytes:
        offset = int(params(url)["offset"])
        offsets.append(offset)
        page = HISTORY_VINTAGES[:3][offset:offset + 2]
        return vintagedates_xml(page, count=3, offset=offset)

    assert client(transport).get_vintage_dates("WALCL") == HISTORY_VINTAGES[:3]
    assert offsets == [0, 2]


# --- (e) the throttle ---------------------------------------------------------------


def test_throttle_runs_before_every_attempt_including_retries():
    events: list[str] = []
    failures = [
        lambda url: http_error(url, 429, b'{"error_code":429,"error_message":"Too Many Requests.  Exceeded Rate Limit"}'),
        lambda url: http_error(url, 503, b"<html>down</html>"),
    ]

    def transport(url: str, timeout: float) -> bytes:
        events.append("request")
        if failures:
            raise failures.pop(0)(url)
        return SP500_OBS_XML

    fred = client(transport, attempts=3, throttle=lambda: events.append("throttle"))
    assert fred.get_vintages("SP500", D(2015, 6, 28), D(2015, 6, 28)).height == 4
    assert events == ["throttle", "request"] * 3


def test_throttle_counts_every_request_of_a_windowed_fetch(walcl_spec):
    alfred = FakeAlfred(limit=2)
    ticks = []
    fetch_vintages(walcl_spec, client(alfred, throttle=lambda: ticks.append(1)), realtime_start=None, observation_start=None)
    # series info, vintagedates, and three observations windows (one refused)
    assert len(ticks) == 2 + 3


# --- (f) bad input: clear errors, never the key -------------------------------------


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


BAD_REALTIME = SP500_OBS_XML.replace(b'<observation realtime_start="2015-06-28"', b'<observation realtime_start="28/06/2015"', 1)


@pytest.mark.parametrize(
    "transport",
    [
        lambda url, timeout: BAD_REALTIME,
        lambda url, timeout: NO_SERIES_XML,  # an error body served with 200
        lambda url, timeout: (_ for _ in ()).throw(http_error(url, 400, NO_SERIES_XML)),
    ],
    ids=["non-date realtime_start", "error body, 200", "error body, HTTP 400"],
)
def test_bad_vintage_responses_name_the_series_never_the_key(caplog, transport):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as caught:
        client(transport).get_vintages("SP500", D(2015, 6, 28), None)
    assert "SP500" in str(caught.value)
    assert "28/06/2015" in str(caught.value) or "The series does not exist." in str(caught.value)
    for exc in _chain(caught.value):
        assert KEY not in str(exc) and KEY not in repr(exc.args)
    assert KEY not in caplog.text


def test_fetch_vintages_refuses_other_providers(walcl_spec):
    with pytest.raises(SourceError, match="not fred"):
        fetch_vintages(replace(walcl_spec, provider="yahoo"), client(FakeAlfred(2000)), realtime_start=None, observation_start=None)


def test_a_series_alfred_keeps_no_vintages_of_is_fetched_as_current_values(walcl_spec):
    # vintagedates answers with no dates; the observations come as the recorded SP500 response
    asked = []

    def transport(url: str, timeout: float) -> bytes:
        asked.append(urllib.parse.urlsplit(url).path)
        if "/series/vintagedates?" in url:
            return vintagedates_xml([])
        return SP500_OBS_XML if "/series/observations?" in url else SERIES_XML

    result = fetch_vintages(walcl_spec, client(transport), realtime_start=None, observation_start=None)

    assert result.vintages is None and result.vintages_from is None
    # the four SP500 rows of the recording (2014-09-02..05), values as written there
    assert result.frame.select("obs_date", "value_text").rows() == [
        (D(2014, 9, 2), "2002.28"), (D(2014, 9, 3), "2000.72"), (D(2014, 9, 4), "1997.65"), (D(2014, 9, 5), "2007.71")]
    assert asked.count("/fred/series/vintagedates") == 1 and "/fred/series/observations" in asked

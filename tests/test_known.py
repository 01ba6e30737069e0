"""When each value became known (transforms.known) and the registry's release rules,
worked out by hand from the release calendars the registry cites (H.4.1 Thursday 16:30 ET,
reverse repo 13:15 ET, H.8 Friday 16:15 ET, CPI 08:30 ET, BTC's UTC day closing at 00:00
UTC, Tokyo 15:30 JST); New York is UTC−4 from the second Sunday of March to the first
Sunday of November, UTC−5 otherwise. Values are the snapshot's real ones; the revision of
WALCL 2026-03-18 (first release 6,655,000) is CONSTRUCTED, as in tests/test_point_in_time.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows.registry import RegistryError, load_registry
from flows.sources import fred
from flows.sources.schema import SourceError
from transforms import known as pit
from transforms.liquidity import net_liquidity_daily

REGISTRY = load_registry()
D = dt.date.fromisoformat
UTC = dt.datetime  # naive datetimes below are UTC
FIRST_RELEASE = 6655000.0  # constructed: the pretended first release of WALCL 2026-03-18
REAL_VALUE = 6655939.0  # data/snapshot/fred/WALCL.csv, 2026-03-18


def _known(key: str, day: str) -> dt.datetime:
    return pit.rule_known_at(pl.Series([D(day)]), REGISTRY.get(key).release_rule())[0]


# --- release rules, by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "obs", "expected"),
    [
        # H.4.1: Wednesday 2026-03-18 → Thursday 03-19 16:30 EDT = 20:30 UTC
        ("WALCL", "2026-03-18", UTC(2026, 3, 19, 20, 30)),
        # Thanksgiving 2025-11-27: the Wednesday 11-26 week comes out Friday 11-28, 16:30 EST
        ("WALCL", "2025-11-26", UTC(2025, 11, 28, 21, 30)),
        # reverse repo: the operation day itself, 13:15 EDT, holiday or not (lag 0)
        ("RRPONTSYD", "2026-03-25", UTC(2026, 3, 25, 17, 15)),
        # H.8: week ending Wednesday 2026-03-11, out Friday 03-20 16:15 EDT
        ("TOTBKCR", "2026-03-11", UTC(2026, 3, 20, 20, 15)),
        # CPI January 2026: out Friday 2026-02-13 (BLS's calendar, flows/release_dates/bls_cpi.csv;
        # scheduled 02-11), 08:30 EST
        ("CPIAUCNS", "2026-01-01", UTC(2026, 2, 13, 13, 30)),
        # CPI September 2025, delayed by the shutdown to 2025-10-24 (the calendar), 08:30 EDT
        ("CPIAUCNS", "2025-09-01", UTC(2025, 10, 24, 12, 30)),
        # BTC's UTC day 2026-03-30 closes at 03-31 00:00 UTC
        ("BTC-USD", "2026-03-30", UTC(2026, 3, 31, 0, 0)),
        # Metaplanet closes 15:30 JST = 06:30 UTC the same day
        ("3350.T", "2026-03-30", UTC(2026, 3, 30, 6, 30)),
        # Nasdaq-100 closes 16:00 EDT
        ("^NDX", "2026-03-30", UTC(2026, 3, 30, 20, 0)),
    ],
)
def test_release_rule_gives_the_release_moment(key, obs, expected):
    assert _known(key, obs) == expected


def test_end_of_a_new_york_day_in_utc():
    assert pit.end_of_day_utc(D("2026-03-20")) == UTC(2026, 3, 21, 3, 59, 59, 999999)  # EDT
    assert pit.end_of_day_utc(D("2026-01-05")) == UTC(2026, 1, 6, 4, 59, 59, 999999)  # EST


def _history(rows: list[tuple]) -> pl.DataFrame:
    """(obs_date, value, realtime_start, fetched_at_utc) rows in storage order."""
    return pl.DataFrame(
        {"obs_date": [D(r[0]) for r in rows], "value": [r[1] for r in rows],
         "value_text": [str(r[1]) for r in rows],
         "realtime_start": [D(r[2]) if r[2] else None for r in rows],
         "fetched_at_utc": [r[3] for r in rows], "run_id": ["r"] * len(rows)},
        schema_overrides={"realtime_start": pl.Date, "fetched_at_utc": pl.Datetime("us")},
    )


def test_known_rows_vintage_rule_and_own_fetch():
    rule = REGISTRY.get("WALCL").release_rule()
    fetched = UTC(2026, 11, 26, 12, 0)
    history = _history([
        # first value without a vintage: the rule (Thursday 16:30 ET)
        ("2026-03-11", 6646344.0, None, fetched),
        # two ALFRED vintages of one observation
        ("2026-03-18", FIRST_RELEASE, "2026-03-19", fetched),
        ("2026-03-18", REAL_VALUE, "2026-03-26", fetched),
        # a value netliq saw change itself, without a vintage: known when fetched
        ("2026-03-25", 6657161.0, None, UTC(2026, 3, 27, 0, 0)),
        ("2026-03-25", 6657000.0, None, UTC(2026, 4, 2, 9, 0)),
    ])
    rows = pit.known_rows(history, rule)
    assert rows["row_known_at_utc"].to_list() == [
        UTC(2026, 3, 12, 20, 30), UTC(2026, 3, 19, 20, 30), UTC(2026, 3, 26, 20, 30),
        UTC(2026, 3, 26, 20, 30), UTC(2026, 4, 2, 9, 0),
    ]
    now = pit.current(rows)
    assert now["value"].to_list() == [6646344.0, REAL_VALUE, 6657000.0]
    assert now["known_at_utc"].to_list() == [UTC(2026, 3, 12, 20, 30), UTC(2026, 3, 19, 20, 30),
                                             UTC(2026, 3, 26, 20, 30)]
    then = pit.known_as_of(rows, pit.end_of_day_utc(D("2026-03-20")))
    assert then.select("obs_date", "value").rows() == [(D("2026-03-11"), 6646344.0), (D("2026-03-18"), FIRST_RELEASE)]
    revised = pit.revisions(rows)
    assert revised.select("obs_date", "old_value", "new_value", "known_at_utc").rows() == [
        (D("2026-03-18"), FIRST_RELEASE, REAL_VALUE, UTC(2026, 3, 26, 20, 30)),
        (D("2026-03-25"), 6657161.0, 6657000.0, UTC(2026, 4, 2, 9, 0)),
    ]


def test_a_first_value_fetched_before_the_rule_says_is_known_when_fetched():
    # a live run at Thursday 17:00 ET fetches WALCL before a (hypothetically) later rule time
    late_rule = pit.ReleaseRule.parse("23:00 America/New_York", lag_days=1, business_days=True)
    rows = pit.known_rows(_history([("2026-03-18", REAL_VALUE, None, UTC(2026, 3, 19, 21, 0))]), late_rule)
    assert rows["row_known_at_utc"][0] == UTC(2026, 3, 19, 21, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [("16:30", "HH:MM Area/City"), ("25:00 America/New_York", "between 00:00 and 24:00"),
     ("16h30 America/New_York", "HH:MM"), ("16:30 Mars/Olympus", "Mars/Olympus")],
)
def test_bad_release_time_is_refused(text, message):
    with pytest.raises((ValueError, KeyError), match=message):
        pit.ReleaseRule.parse(text, lag_days=1)


def test_registry_refuses_a_bad_release_time_and_a_release_before_its_observation(tmp_path):
    text = (Path(REGISTRY.path)).read_text()
    bad_time = tmp_path / "time.toml"
    bad_time.write_text(text.replace('release_time = "16:30 America/New_York"', 'release_time = "16:30 Atlantis"', 1))
    with pytest.raises(RegistryError, match="'WALCL': release_time '16:30 Atlantis'"):
        load_registry(bad_time)
    bad_exception = tmp_path / "exception.toml"
    # (the CPI's shutdown dates now sit in its release calendar: a documented exception on WALCL)
    bad_exception.write_text(text.replace('release_time = "16:30 America/New_York"',
                                          'release_time = "16:30 America/New_York"\n'
                                          'release_exceptions = { "2025-09-01" = 2025-08-24 }', 1))
    with pytest.raises(RegistryError, match="released on 2025-08-24, before the observation date"):
        load_registry(bad_exception)


def test_daily_table_refuses_a_component_without_known_at():
    frame = pl.DataFrame({"date": [D("2026-03-18")], "value_bn": [6655.939]})
    components = {"fed_assets": frame, "tga": frame, "rrp": frame}
    with pytest.raises(ValueError, match="net_liquidity_daily: input fed_assets needs known_at_utc"):
        net_liquidity_daily(components, max_age_days={"fed_assets": 9, "tga": 9, "rrp": 4}, through=D("2026-03-20"))


def test_vintage_file_that_is_a_fred_error_names_the_series(tmp_path):
    body = (Path(__file__).parent / "fixtures" / "wire" / "fred_error_429_rate_limit.json").read_bytes()
    with pytest.raises(SourceError, match="WALCL: the vintage file is not XML"):
        fred.read_vintage_xml("WALCL", body)
    with pytest.raises(SourceError, match="WALCL: the vintage file is a FRED error"):
        fred.read_vintage_xml("WALCL", b'<error code="429" message="Too Many Requests."/>')


@pytest.mark.parametrize("key", ["WALCL", "BTC-USD", "CPIAUCNS"])
def test_a_series_without_revisions_takes_the_short_path_to_the_same_rows(key, monkeypatch):
    """known_rows, current and revisions skip their per-observation windows when no date has a
    second row; what they give is what the windows give. The real snapshot file of each
    series (one row per date; Yahoo's: the Close), fetched once; first without vintages, then each
    with a made-up vintage (its obs_date + 1) to take the ALFRED branch."""
    from flows.sources.replay import SNAPSHOT_DIR

    spec = REGISTRY.get(key)
    path = next(p for p in SNAPSHOT_DIR.rglob("*.csv") if p.stem == key)
    dates, values = [], []
    import csv

    with path.open() as f:
        for row in csv.DictReader(f):
            value = row.get("value", row.get("Close"))  # FRED files: date,value; Yahoo: Date,...,Close,...
            if value not in (None, "", "."):
                dates.append(D((row.get("date") or row["Date"])[:10]))
                values.append(float(value))
    assert len(dates) > 1000, path
    fetched = UTC(2026, 4, 1, 12, 0)
    for vintage in ([None] * len(dates), [(d + dt.timedelta(days=1)).isoformat() for d in dates]):
        history = _history([(d.isoformat(), v, r, fetched) for d, v, r in zip(dates, values, vintage)])
        short = (pit.known_rows(history, spec.release_rule()), )
        short = (short[0], pit.current(short[0]), pit.revisions(short[0]))
        with monkeypatch.context() as m:
            m.setattr(pit, "_one_row_per_observation", lambda frame: False)
            rows = pit.known_rows(history, spec.release_rule())
            windows = (rows, pit.current(rows), pit.revisions(rows))
        for fast, slow in zip(short, windows):
            assert fast.equals(slow), key
        assert short[2].height == 0 and short[1].height == len(dates)

"""A FRED API for tests, answering at our transport boundary (`fred.urllib_transport`).

What it serves is CONSTRUCTED, in the real wire formats:
- `fred/series`: the recorded PAYEMS series-info response (tests/fixtures/wire/
  fredapi_fixture_series_PAYEMS.xml) with its id and units attributes edited to the
  asked series' registry entry;
- `fred/series/vintagedates` and `fred/series/observations`: ALFRED responses built from
  the real values of the snapshot CSV, each observation first released on the day its
  registry release rule says (the snapshot holds one vintage; no real revision history).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import polars as pl

from flows.registry import load_registry
from flows.sources.replay import read_fred_csv
from transforms import known as pit

WIRE = Path(__file__).parent / "fixtures" / "wire"
SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
REGISTRY = load_registry()


def series_info_xml(key: str) -> bytes:
    spec = REGISTRY.get(key)
    text = (WIRE / "fredapi_fixture_series_PAYEMS.xml").read_text()
    return text.replace('id="PAYEMS"', f'id="{spec.id}"').replace(
        'units="Thousands of Persons"', f'units="{spec.native_units}"').encode()


def first_releases(key: str) -> list[tuple[dt.date, str, dt.date]]:
    """(obs_date, value text, first release day by the registry rule) from the snapshot CSV."""
    spec = REGISTRY.get(key)
    frame = read_fred_csv(SNAPSHOT / "fred" / f"{spec.id}.csv", spec.id)
    released = pit.rule_known_at(frame["obs_date"], spec.release_rule())
    # the release day in New York (the rule's times are New York afternoons)
    days = pl.select(pit.known_on(pl.lit(released))).to_series()
    return list(zip(frame["obs_date"].to_list(), frame["value_text"].to_list(), days.to_list(), strict=True))


def alfred_xml(rows: list[tuple[dt.date, str, dt.date]], revised: dict[dt.date, tuple[str, dt.date]] | None = None
               ) -> bytes:
    """An ALFRED `series/observations` response over the whole realtime history.
    revised: obs_date → (the first release's value text, the day the value in `rows` replaced it)."""
    revised = revised or {}
    lines = []
    for obs, text, first in rows:
        if obs in revised:
            old, on = revised[obs]
            lines.append(f'<observation realtime_start="{first}" realtime_end="{on - dt.timedelta(days=1)}" '
                         f'date="{obs}" value="{old}"/>')
            first = on
        lines.append(f'<observation realtime_start="{first}" realtime_end="9999-12-31" date="{obs}" value="{text}"/>')
    head = ('<?xml version="1.0" encoding="utf-8" ?>\n<observations realtime_start="1776-07-04" '
            'realtime_end="9999-12-31" observation_start="1600-01-01" observation_end="9999-12-31" units="lin" '
            f'output_type="2" file_type="xml" order_by="observation_date" sort_order="asc" count="{len(lines)}" '
            'offset="0" limit="100000">\n')
    return (head + "\n".join(lines) + "\n</observations>\n").encode()


def vintage_dates_xml(days: list[dt.date]) -> bytes:
    body = "".join(f"  <vintage_date>{day}</vintage_date>\n" for day in sorted(set(days)))
    return ('<?xml version="1.0" encoding="utf-8" ?>\n<vintage_dates realtime_start="1776-07-04" '
            'realtime_end="9999-12-31" order_by="vintage_date" sort_order="asc" '
            f'count="{len(set(days))}" offset="0" limit="10000">\n{body}</vintage_dates>').encode()


class FakeFred:
    """Answers requests for one series; `fail(n, make)` makes the next n requests raise make()."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.rows = first_releases(key)
        self.calls: list[str] = []
        self._failures: list = []

    def fail(self, times: int, make) -> None:
        self._failures += [make] * times

    def __call__(self, url: str, timeout: float) -> bytes:
        assert timeout > 0
        path = urlparse(url).path
        query = parse_qs(urlparse(url).query)
        assert query["series_id"] == [REGISTRY.get(self.key).id], url
        self.calls.append(path)
        if self._failures:
            raise self._failures.pop(0)()
        if path.endswith("/series/vintagedates"):
            return vintage_dates_xml([first for _, _, first in self.rows])
        if path.endswith("/series/observations"):
            return alfred_xml(self.rows)
        return series_info_xml(self.key)

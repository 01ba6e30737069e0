"""Every series' whole real history, as the snapshot carries it, passes its gate.

FRED serves a first live run the whole history of a series, so the offline snapshot carries
the longest real histories found (data/snapshot/PROVENANCE.md, last section): CPI from 1913,
mortgage rates from 1971, H.8 to 2026-03, WDTGAL, ECB assets, gold monthly since 1833, the
Daily Treasury Statement's TGA since 2005. A real event in a long history is a documented
exemption (registry exempt_dates, each with its reason); these tests hold both sides: the
full history passes, and every exemption is needed (without it, the gate stops on that row).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from expectations import suites
from expectations.gate import validate
from flows.pipeline import _prepare
from flows.registry import load_registry
from flows.sources import replay

SNAPSHOT = replay.SNAPSHOT_DIR
CLOCK = dt.date(2026, 3, 31)  # the snapshot's newest observation: the replay's clock

# Rows, first and last date of each longer history, as the shared data's README states them
# (counted there from the source repositories' files, not by this code).
PROVENANCE = {
    "fred/CPIAUCNS.csv": (1358, "1913-01-01", "2026-03-01"),
    "fred/TOTBKCR.csv": (2778, "1973-01-03", "2026-03-25"),
    "fred/TOTLL.csv": (2778, "1973-01-03", "2026-03-25"),
    "fred/MORTGAGE30US.csv": (2870, "1971-04-02", "2026-03-26"),
    "fred/WDTGAL.csv": (1215, "2002-12-18", "2026-03-25"),
    "fred/ECBASSETSW.csv": (1376, "1999-01-01", "2025-05-09"),
    "prices/3350.T.csv": (2450, "2016-02-05", "2026-02-16"),
    "other/gold_price_monthly_1833_datasets-gold-prices.csv": (2319, "1833-01", "2026-03"),
    "other/tga_daily_close_dts.csv": (4345, "2005-06-09", "2025-09-02"),
}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _fetch(spec):
    got = replay.fetch(spec, SNAPSHOT)
    return _prepare(spec, got)[0]


@pytest.mark.parametrize("name", sorted(PROVENANCE))
def test_the_snapshot_carries_each_longer_history_whole(name):
    with (SNAPSHOT / name).open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert (len(rows), rows[0][0], rows[-1][0]) == PROVENANCE[name]


def test_every_series_whole_history_passes_its_gate(registry):
    failing, late, absent = {}, set(), set()
    for spec in registry.used():
        try:
            frame = _fetch(spec)
        except replay.NotInReplay:
            absent.add(spec.key)
            continue
        result = validate(suites.raw_input_suite(spec, CLOCK), frame)
        blocking = [r.message() for r in result.blocking_failures]
        if blocking:
            failing[spec.key] = blocking
        late |= {spec.key for r in result.results if not r.success and r.check == "freshness"}
    assert failing == {}
    # what policy says instead of a block: these real files end before the clock (warn: stale)
    assert late == {"3350.T", "GLD-SHARES", "ECBASSETSW", "DTS-TGA"}
    assert all(registry.get(k).lateness == "warn" for k in late)
    # no public recording exists of these (PROVENANCE.md, "Not found"): fetched live only
    assert absent == {"RPONTSYD", "ODSACBW027SBOG", "WMTSECL1", "BTC-JPY"}


def test_the_long_histories_reach_back_as_far_as_their_sources(registry):
    first = {key: _fetch(registry.get(key))["obs_date"].min() for key in
             ("CPIAUCNS", "MORTGAGE30US", "TOTLL", "WDTGAL", "ECBASSETSW", "GOLD-MONTHLY", "DTS-TGA")}
    assert first == {
        "CPIAUCNS": dt.date(1913, 1, 1), "MORTGAGE30US": dt.date(1971, 4, 2), "TOTLL": dt.date(1973, 1, 3),
        "WDTGAL": dt.date(2002, 12, 18), "ECBASSETSW": dt.date(1999, 1, 1),
        "GOLD-MONTHLY": dt.date(1833, 1, 1),  # "1833-01" in the file: the month's 1st
        "DTS-TGA": dt.date(2005, 6, 9),
    }


def _exemptions(registry):
    return [(key, day) for key, spec in registry.series.items() for day in spec.exempt_dates]


def test_every_documented_exemption_is_needed(registry):
    """An exemption is a real event on that row, not a limit widened: without it the gate
    stops on exactly that observation."""
    unneeded = []
    for key, day in _exemptions(registry):
        spec = registry.get(key)
        try:
            frame = _fetch(spec)
        except replay.NotInReplay:
            continue
        without = dataclasses.replace(spec, exempt_dates=tuple(d for d in spec.exempt_dates if d != day))
        result = validate(suites.raw_input_suite(without, CLOCK), frame)
        rows = {row.get("obs_date") for r in result.blocking_failures if r.check in ("max_gap", "jump_pct", "jump_abs")
                for row in r.rows}
        if day not in {dt.date.fromisoformat(str(r)[:10]) for r in rows if r is not None}:
            unneeded.append((key, day))
    assert unneeded == []


def test_the_events_of_the_long_histories_are_the_documented_ones(registry):
    # the new exemptions, each checked against the real rows around it (values from the files)
    assert dt.date(1946, 7, 1) in registry.get("CPIAUCNS").exempt_dates  # price controls ended: 18.7 → 19.8
    assert registry.get("WDTGAL").exempt_dates == (dt.date(2022, 4, 20),)  # April tax receipts: 543,536 → 907,526
    assert registry.get("GOLD-MONTHLY").exempt_dates == (dt.date(1933, 1, 1), dt.date(1934, 1, 1), dt.date(1980, 1, 1))
    assert registry.get("DTS-TGA").exempt_dates == (dt.date(2016, 1, 4),)  # no statement found 2013-01-29..2015-12-31
    rows = {r[0]: r[1] for r in csv.reader((SNAPSHOT / "other/gold_price_monthly_1833_datasets-gold-prices.csv").open())}
    assert (rows["1933-12"], rows["1934-01"]) == ("26.330", "34.690")  # the Gold Reserve Act's revaluation
    assert (rows["1979-12"], rows["1980-01"]) == ("455.000", "675.310")


def test_a_limit_is_not_widened_to_fit(registry, tmp_path: Path):
    # a jump beyond the limit on a row that is not exempt still blocks, naming the row:
    # the 1946 CPI jump, moved one month later in a copy of the real file
    text = (SNAPSHOT / "fred/CPIAUCNS.csv").read_text().replace("1946-08-01,20.2", "1946-08-01,21.5")
    (tmp_path / "fred").mkdir()
    (tmp_path / "fred/CPIAUCNS.csv").write_text(text)
    spec = registry.get("CPIAUCNS")
    frame = _prepare(spec, replay.fetch(spec, tmp_path))[0]
    failed = validate(suites.raw_input_suite(spec, CLOCK), frame).blocking_failures
    assert [r.check for r in failed] == ["jump_pct"]
    assert "1946-08-01" in failed[0].message() and "CPIAUCNS" in failed[0].message()

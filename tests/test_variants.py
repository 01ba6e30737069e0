"""net_liquidity_variants_daily (transforms/variants.py, the registry's [variants]) and its
suite, on the real snapshot.

Inputs are built the way the pipeline builds them: each series replayed from
data/snapshot (`flows.sources.replay.fetch`), `known_at_utc` from its registry release rule
(the snapshot holds no vintages, and its fetch time is later than every rule), then
`flows.tables.Inputs`. Expected values never come from that code: each is read from the
snapshot's CSV files with Python's `csv` module and done by hand; dates, raw cells and
method are written beside every literal.

Timing, by the registry's release rules (New York): WALCL/WTREGEN (H.4.1, Wednesday level /
week average) are public Thursday 16:30, so a day's row uses the Wednesday before the last
Thursday release; RRPONTSYD each business day 13:15, so the same day; DTS-TGA (the Daily
Treasury Statement) the next business day 16:00, so the business day before. Units:
WALCL, WTREGEN, WDTGAL, DTS-TGA millions of USD (÷ 1000); RRPONTSYD billions.
RPONTSYD has no recording (it comes live from FRED): where a test needs values it uses
RRPONTSYD, a real series on the same calendar, as a stand-in and says so.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from expectations.gate import validate
from expectations.suites_variants import SUITES
from flows.registry import REGISTRY_PATH, RegistryError, load_registry
from flows.sources import replay
from flows.tables import BUILDERS, Inputs
from transforms import known as pit
from transforms.variants import NET_LIQUIDITY_VARIANTS_DAILY, TermInput, Variant, net_liquidity_variants_daily

D = dt.date.fromisoformat
CLOCK = D("2026-03-31")  # the snapshot's newest observation (RRPONTSYD), the replay's clock
REGISTRY = load_registry()
SNAP = replay.SNAPSHOT_DIR
TOL = 1e-9
TABLE = "net_liquidity_variants_daily"


# --- independent readers: the csv module, nothing from the code under test -------------


def csv_values(rel: str) -> dict[dt.date, float]:
    with (SNAP / rel).open(newline="") as f:
        return {D(row["date"]): float(row["value"]) for row in csv.DictReader(f)}


TXT = {s: csv_values(f"fred/{s}.csv") for s in ("WALCL", "WTREGEN", "WDTGAL", "RRPONTSYD")}
# the statement's daily close, derived by selection from the two recorded DTS files (PROVENANCE.md)
TXT["DTS-TGA"] = csv_values("other/tga_daily_close_dts.csv")


# --- inputs for the code under test, as the pipeline builds them -------------------------


def stored(key: str, replay_key: str | None = None) -> pl.DataFrame:
    """The stored rows of `key` as known (obs_date, value, known_at_utc by its release rule);
    `replay_key`: read that series' recording instead (a labelled stand-in)."""
    spec = REGISTRY.get(key)
    frame = replay.fetch(REGISTRY.get(replay_key or key), SNAP).frame
    return frame.with_columns(pit.rule_known_at(frame["obs_date"], spec.release_rule()).alias("known_at_utc"))


KEYS = ("WALCL", "WTREGEN", "RRPONTSYD", "DTS-TGA", "WDTGAL")
STORED = {key: stored(key) for key in KEYS}


def inputs(registry=REGISTRY, clock: dt.date = CLOCK, **series: pl.DataFrame | None) -> Inputs:
    return Inputs(registry, {**STORED, "RPONTSYD": None, **series}, clock)


def build(registry=REGISTRY, clock: dt.date = CLOCK, **series) -> pl.DataFrame:
    return BUILDERS[TABLE].build(inputs(registry, clock, **series))


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return build()


def row(frame: pl.DataFrame, variant: str, day: str) -> dict:
    rows = frame.filter((pl.col("variant") == variant) & (pl.col("date") == D(day))).to_dicts()
    assert len(rows) == 1, (variant, day, len(rows))
    return rows[0]


def close(a, b, tol: float = TOL) -> bool:
    return a is not None and b is not None and abs(a - b) <= tol


# --- the registry's variants ---------------------------------------------------------------


def test_the_registry_defines_the_three_formulas_with_their_signs():
    v = REGISTRY.variants
    assert list(v) == ["hayes_2022", "hayes_bloomberg", "daily_tga"]
    assert REGISTRY.reference_variant == "hayes_2022"
    assert dict(v["hayes_2022"].terms) == {"WALCL": 1, "RRPONTSYD": -1, "WTREGEN": -1}
    # Hayes' Bloomberg CIX (2022-08-30): FARBAST − RRPQTOON×1000 − CERBTGAN + NYRPVOA: the repo term adds
    assert dict(v["hayes_bloomberg"].terms) == {"WALCL": 1, "RRPONTSYD": -1, "WTREGEN": -1, "RPONTSYD": 1}
    assert dict(v["daily_tga"].terms) == {"WALCL": 1, "RRPONTSYD": -1, "DTS-TGA": -1}
    assert v["hayes_bloomberg"].formula() == "WALCL − RRPONTSYD − WTREGEN + RPONTSYD"
    assert (v["hayes_2022"].since, v["hayes_bloomberg"].since) == (D("2022-08-23"), D("2022-08-30"))


def test_spec_describes_every_column_and_matches_the_table(table):
    assert dict(table.schema) == dict(NET_LIQUIDITY_VARIANTS_DAILY.schema)
    assert all(len(c.description) > 10 for c in NET_LIQUIDITY_VARIANTS_DAILY.columns.values())
    assert "per calendar day" in NET_LIQUIDITY_VARIANTS_DAILY.grain


def test_one_row_per_variant_per_day_from_the_first_available_day_to_the_clock(table):
    # the first day every term of hayes_2022 is public: RRPONTSYD's first operation, 2003-02-07
    # (its row in RRPONTSYD.csv; WALCL and WTREGEN start 2002-12-18); 2003-02-07 → 2026-03-31 is
    # 8,454 days
    days = (CLOCK - D("2003-02-07")).days + 1
    assert days == 8454
    assert table.height == 3 * days
    for variant in REGISTRY.variants:
        dates = table.filter(pl.col("variant") == variant)["date"]
        assert (dates.min(), dates.max(), dates.n_unique()) == (D("2003-02-07"), CLOCK, days)


# --- hayes_2022: the formula of net_liquidity_daily -----------------------------------------


@pytest.mark.parametrize(("day", "walcl_day", "rrp_day", "rrp", "net"), [
    # Thursday after Hayes' "Teach Me Daddy": WALCL 2022-08-24 8,851,436 m − WTREGEN 535,267 m
    # − RRP 2022-08-25 2,187.907 bn = 8851.436 − 535.267 − 2187.907 = 6128.262 bn
    ("2022-08-25", "2022-08-24", "2022-08-25", 2187.907, 6128.262),
    # the snapshot's last H.4.1: WALCL 2026-03-25 6,657,161 − WTREGEN 874,077 − RRP 2026-03-26 0.885
    # = 6657.161 − 874.077 − 0.885 = 5782.199 bn
    ("2026-03-26", "2026-03-25", "2026-03-26", 0.885, 5782.199),
    # no RRP operation 2003-02-08 → 2003-03-18 (RRPONTSYD.csv: 2003-02-07, then 2003-03-19): on
    # 2003-02-20 the last one is 13 days old, beyond the 4-day window, later ones exist: 0
    # outstanding. WALCL 2003-02-19 730,400 − WTREGEN 5,048 − 0 = 725.352 bn
    ("2003-02-20", "2003-02-19", None, 0.0, 725.352),
])
def test_hayes_2022_on_named_thursdays_by_hand(table, day, walcl_day, rrp_day, rrp, net):
    w = D(walcl_day)
    assert close(TXT["WALCL"][w] / 1000 - TXT["WTREGEN"][w] / 1000 - (TXT["RRPONTSYD"][D(rrp_day)] if rrp_day else 0), net)
    r = row(table, "hayes_2022", day)
    assert close(r["net_liquidity_bn"], net) and r["is_available"] and r["unavailable_reason"] is None
    assert (r["fed_assets_obs_date"], r["tga_obs_date"]) == (w, w)
    assert r["rrp_obs_date"] == (D(rrp_day) if rrp_day else None) and close(r["rrp_bn"], rrp)
    assert r["difference_to_reference_bn"] == 0.0 and r["reference_variant"] == "hayes_2022"


def test_hayes_2022_equals_net_liquidity_daily_on_every_day(table):
    daily = BUILDERS["net_liquidity_daily"].build(inputs())
    hayes = table.filter(pl.col("variant") == "hayes_2022")
    joined = hayes.join(daily, on="date", suffix="_daily")
    assert joined.height == daily.height == hayes.height
    assert hayes["is_available"].all()
    for col in ("net_liquidity_bn", "fed_assets_bn", "tga_bn", "rrp_bn"):
        assert (joined[col] - joined[f"{col}_daily"]).abs().max() <= TOL, col
    for col in ("fed_assets_obs_date", "tga_obs_date", "rrp_obs_date"):
        assert joined[col].equals(joined[f"{col}_daily"]), col


# --- daily_tga: the Daily Treasury Statement's close ---------------------------------------


@pytest.mark.parametrize(("day", "walcl_day", "dts_day", "rrp_day", "net"), [
    # Thursday: WALCL 2022-08-24 8,851,436 − DTS close 2022-08-24 530,196 − RRP 2022-08-25 2,187.907
    # = 6133.333 bn (hayes_2022 that day 6128.262: the week average TGA 535,267 is 5.071 bn above the close)
    ("2022-08-25", "2022-08-24", "2022-08-24", "2022-08-25", 6133.333),
    # Wednesday: its own H.4.1 comes Thursday, its own statement Thursday: WALCL 2025-08-20 6,618,415
    # − DTS 2025-08-26 632,894 − RRP 2025-08-27 34.744 = 5950.777 bn
    ("2025-08-27", "2025-08-20", "2025-08-26", "2025-08-27", 5950.777),
    # Saturday: Friday's statement comes Monday: WALCL 2025-08-20 6,618,415 − DTS 2025-08-21 561,249
    # − RRP 2025-08-22 (Friday's operation, carried) 36.275 = 6020.891 bn
    ("2025-08-23", "2025-08-20", "2025-08-21", "2025-08-22", 6020.891),
    # Monday: WALCL 2025-08-20 6,618,415 − DTS 2025-08-22 581,509 − RRP 2025-08-25 47.567 = 5989.339 bn
    ("2025-08-25", "2025-08-20", "2025-08-22", "2025-08-25", 5989.339),
])
def test_daily_tga_on_named_days_by_hand(table, day, walcl_day, dts_day, rrp_day, net):
    w, t, r_ = D(walcl_day), D(dts_day), D(rrp_day)
    assert close(TXT["WALCL"][w] / 1000 - TXT["DTS-TGA"][t] / 1000 - TXT["RRPONTSYD"][r_], net)
    r = row(table, "daily_tga", day)
    assert close(r["net_liquidity_bn"], net) and r["is_available"]
    assert (r["fed_assets_obs_date"], r["tga_daily_close_obs_date"], r["rrp_obs_date"]) == (w, t, r_)
    assert r["tga_bn"] is None and r["tga_obs_date"] is None  # WTREGEN is not a term of daily_tga
    ref = row(table, "hayes_2022", day)["net_liquidity_bn"]
    assert close(r["difference_to_reference_bn"], net - ref)


def test_daily_tga_wednesday_closes_equal_the_h41_wednesday_level_891_of_891(table):
    # PROVENANCE.md: the statement's close equals WDTGAL on every one of their 891 common
    # Wednesdays. Counted here from the CSVs, then found in the table: every Wednesday close
    # the table uses is WDTGAL's level that Wednesday
    common = [d for d in TXT["WDTGAL"] if d in TXT["DTS-TGA"]]
    assert len(common) == 891 and all(TXT["WDTGAL"][d] == TXT["DTS-TGA"][d] for d in common)
    wednesdays = (table.filter((pl.col("variant") == "daily_tga") & (pl.col("tga_daily_close_obs_date").dt.weekday() == 3))
                  .select("tga_daily_close_obs_date", "tga_daily_close_bn").unique())
    assert wednesdays.height == 891
    assert all(close(bn, TXT["WDTGAL"][d] / 1000) for d, bn in wednesdays.iter_rows())


def test_daily_tga_on_thursdays_vs_the_weekly_formula_with_wdtgal(table):
    # Thursday 2025-08-28 uses Wednesday 2025-08-27's H.4.1 and statement: WALCL 6,603,384 −
    # DTS 595,798 − RRP 2025-08-28 31.966 = 5975.620 bn. The weekly formula with the H.4.1
    # Wednesday TGA (WDTGAL 595,798, equal to the close) and that Wednesday's RRP 34.744 gives
    # 6603.384 − 595.798 − 34.744 = 5972.842 bn: the two differ only by the day's RRP, 2.778 bn
    r = row(table, "daily_tga", "2025-08-28")
    assert close(r["net_liquidity_bn"], 5975.620)
    weekly = TXT["WALCL"][D("2025-08-27")] / 1000 - TXT["WDTGAL"][D("2025-08-27")] / 1000 - TXT["RRPONTSYD"][D("2025-08-27")]
    assert close(weekly, 5972.842) and close(r["net_liquidity_bn"] - weekly, 34.744 - 31.966)


def test_daily_tga_is_unavailable_where_the_statement_is_missing_never_zero(table):
    # DTS-TGA (carried at most its max_age_days, 5): before the first statement (2005-06-09, public
    # 2005-06-10 16:00), through the hole 2013-01-29 → 2015-12-31 (no statement found; 2013-01-28 is
    # carried through 2013-02-02; 2016-01-04's is public 2016-01-05), and after the last one
    # (2025-09-02, carried through 2025-09-07). Nowhere else.
    daily = table.filter(pl.col("variant") == "daily_tga")
    off = daily.filter(~pl.col("is_available"))
    spans = [(D("2003-02-07"), D("2005-06-09")), (D("2013-02-03"), D("2016-01-04")), (D("2025-09-08"), CLOCK)]
    expected = {s + dt.timedelta(days=k) for s, e in spans for k in range((e - s).days + 1)}
    assert set(off["date"]) == expected and off.height == 854 + 1066 + 205
    assert off["net_liquidity_bn"].is_null().all() and off["tga_daily_close_bn"].is_null().all()
    # 2014-06-15 − 2013-01-28 = 503 days
    assert row(table, "daily_tga", "2014-06-15")["unavailable_reason"] == (
        "DTS-TGA (tga_daily_close): newest public observation 2013-01-28 is 503 days old, beyond its 5-day carry limit")
    assert row(table, "daily_tga", "2005-06-09")["unavailable_reason"] == "DTS-TGA (tga_daily_close): no observation public yet"
    assert row(table, "daily_tga", "2005-06-10")["tga_daily_close_obs_date"] == D("2005-06-09")
    # the formulas that do not read the statement are available on those days
    assert row(table, "hayes_2022", "2014-06-15")["is_available"]


# --- hayes_bloomberg: the standing repo facility -------------------------------------------


def test_hayes_bloomberg_without_standing_repo_data_is_unavailable_every_day_with_the_reason(table):
    bloomberg = table.filter(pl.col("variant") == "hayes_bloomberg")
    assert bloomberg.height == 8454 and not bloomberg["is_available"].any()
    assert bloomberg["net_liquidity_bn"].is_null().all() and bloomberg["standing_repo_bn"].is_null().all()
    assert bloomberg["difference_to_reference_bn"].is_null().all()
    assert set(bloomberg["unavailable_reason"]) == {
        "RPONTSYD (standing_repo): no observations in this run (the series is unavailable; the catalog's "
        "stale_reason says why)"}
    # the terms that have data are still shown
    assert close(row(table, "hayes_bloomberg", "2026-03-26")["fed_assets_bn"], 6657.161)


def test_hayes_bloomberg_adds_the_standing_repo():
    # stand-in: RRPONTSYD's recording under RPONTSYD (same calendar, same overnight rule). Then
    # WALCL − RRP − WTREGEN + RRP = WALCL − WTREGEN: Thursday 2026-03-26 6657.161 − 874.077 = 5783.038 bn,
    # 0.885 bn (that day's RRP, now also the "standing repo") above hayes_2022
    frame = build(RPONTSYD=stored("RPONTSYD", replay_key="RRPONTSYD"))
    r = row(frame, "hayes_bloomberg", "2026-03-26")
    assert close(r["net_liquidity_bn"], 6657.161 - 874.077) and close(r["standing_repo_bn"], 0.885)
    assert close(r["difference_to_reference_bn"], 0.885) and r["standing_repo_obs_date"] == D("2026-03-26")
    bloomberg = frame.filter(pl.col("variant") == "hayes_bloomberg")
    assert bloomberg["is_available"].all()
    assert ((bloomberg["difference_to_reference_bn"] - bloomberg["standing_repo_bn"]).abs().max()) <= TOL


# --- the carry rules -----------------------------------------------------------------------


def test_a_missed_weekly_release_makes_the_variants_unavailable_after_its_limit_never_filled():
    # drop WALCL 2025-08-20 and 2025-08-27: 2025-08-13 (public 2025-08-14) is carried 9 days
    # (WALCL max_age_days) through 2025-08-22; 2025-09-03's release (public 2025-09-04) ends the hole
    walcl = STORED["WALCL"].filter(~pl.col("obs_date").is_in([D("2025-08-20"), D("2025-08-27")]))
    frame = build(WALCL=walcl)
    assert row(frame, "hayes_2022", "2025-08-22")["fed_assets_obs_date"] == D("2025-08-13")
    off = frame.filter((pl.col("variant") == "hayes_2022") & ~pl.col("is_available"))
    assert (off["date"].min(), off["date"].max(), off.height) == (D("2025-08-23"), D("2025-09-03"), 12)
    assert off["fed_assets_bn"].is_null().all() and off["net_liquidity_bn"].is_null().all()
    assert row(frame, "daily_tga", "2025-08-23")["unavailable_reason"] == (
        "WALCL (fed_assets): newest public observation 2025-08-13 is 10 days old, beyond its 9-day carry limit")
    assert row(frame, "hayes_2022", "2025-09-04")["fed_assets_obs_date"] == D("2025-09-03")


def test_a_reverse_repo_feed_that_ends_is_not_taken_as_zero():
    # keep RRPONTSYD to Friday 2026-03-20: carried 4 days (its window) through 2026-03-24, then
    # unavailable: the series ends, which the overnight rule must not read as "no operation"
    frame = build(RRPONTSYD=STORED["RRPONTSYD"].filter(pl.col("obs_date") <= D("2026-03-20")))
    assert row(frame, "hayes_2022", "2026-03-24")["rrp_obs_date"] == D("2026-03-20")
    r = row(frame, "hayes_2022", "2026-03-25")
    assert not r["is_available"] and r["rrp_bn"] is None
    assert r["unavailable_reason"] == ("RRPONTSYD (rrp): no operation after 2026-03-20 (the series ends there, "
                                       "5 days before this day; not taken as 0 beyond its 4-day window)")


def test_no_value_is_used_before_it_was_public(table):
    # Wednesday 2025-08-27 at 23:59 New York: that day's H.4.1 (Thursday 16:30) and statement
    # (Thursday 16:00) are not out yet; the newest known are WALCL 2025-08-20 and DTS 2025-08-26
    r = row(table, "daily_tga", "2025-08-27")
    assert (r["fed_assets_obs_date"], r["tga_daily_close_obs_date"]) == (D("2025-08-20"), D("2025-08-26"))
    # every row: what it shows became public by the end of its day (New York)
    late = table.filter(pl.col("known_at_utc").is_not_null()).with_columns(
        pit.known_on(pl.col("known_at_utc")).alias("on")).filter(pl.col("on") > pl.col("date"))
    assert late.height == 0


def test_a_variant_the_user_adds_is_published_without_code(tmp_path):
    # a fourth formula in a copy of the registry: the weekly formula with the H.4.1 Wednesday TGA
    # (WDTGAL). Thursday 2025-08-28: WALCL 2025-08-27 6,603,384 − WDTGAL 595,798 − RRP 2025-08-28
    # 31.966 = 5975.620 bn, as daily_tga that day (the close equals WDTGAL on Wednesdays)
    registry = with_variants(tmp_path, VARIANTS + """
[variants.weekly_wdtgal]
terms = { WALCL = 1, WDTGAL = -1, RRPONTSYD = -1 }
since = 2026-12-01
description = "the weekly formula with the Wednesday-level TGA"
""")
    frame = build(registry)
    r = row(frame, "weekly_wdtgal", "2025-08-28")
    assert close(r["net_liquidity_bn"], 5975.620) and close(r["tga_wednesday_bn"], 595.798)
    assert close(r["net_liquidity_bn"], row(frame, "daily_tga", "2025-08-28")["net_liquidity_bn"])
    assert validate(SUITES[TABLE](registry, CLOCK), frame).passed


# --- bad input -----------------------------------------------------------------------------


def _term(key: str, frame: pl.DataFrame | None) -> TermInput:
    spec = REGISTRY.get(key)
    return TermInput(key, spec.name, spec.max_age_days, key in REGISTRY.overnight, frame)


def _bn(key: str) -> pl.DataFrame:
    return Inputs(REGISTRY, STORED, CLOCK).known(key).rename({"value": "value_bn"})  # type: ignore[union-attr]


HAYES = REGISTRY.variants["hayes_2022"]


def test_bad_inputs_raise_naming_the_table_and_the_input():
    terms = {k: _term(k, _bn(k)) for k in ("WALCL", "WTREGEN", "RRPONTSYD")}
    with pytest.raises(ValueError, match="reference variant 'nope'"):
        net_liquidity_variants_daily([HAYES], terms, reference="nope", through=CLOCK)
    with pytest.raises(ValueError, match="no input for term"):
        net_liquidity_variants_daily([HAYES], {k: terms[k] for k in ("WALCL", "WTREGEN")}, reference="hayes_2022", through=CLOCK)
    twice = _bn("WALCL")
    with pytest.raises(ValueError, match="WALCL has duplicate dates"):
        net_liquidity_variants_daily([HAYES], {**terms, "WALCL": _term("WALCL", pl.concat([twice, twice.head(1)]))},
                                     reference="hayes_2022", through=CLOCK)
    with pytest.raises(ValueError, match="input WTREGEN needs known_at_utc"):
        net_liquidity_variants_daily([HAYES], {**terms, "WTREGEN": _term("WTREGEN", _bn("WTREGEN").drop("known_at_utc"))},
                                     reference="hayes_2022", through=CLOCK)
    with pytest.raises(ValueError, match="no variant has observations for every term"):
        net_liquidity_variants_daily([HAYES], {**terms, "WALCL": _term("WALCL", None)}, reference="hayes_2022", through=CLOCK)
    odd = Variant("odd", (("WALCL", 1),), D("2026-01-01"), "", "")
    with pytest.raises(ValueError, match="has no column"):
        net_liquidity_variants_daily([odd], {"WALCL": TermInput("WALCL", "walcl", 9, False, _bn("WALCL"))},
                                     reference="odd", through=CLOCK)


# --- the registry's checks -----------------------------------------------------------------

_TEXT = REGISTRY_PATH.read_text()
HEAD, VARIANTS = _TEXT[:_TEXT.index("\n[variants]\n")], _TEXT[_TEXT.index("\n[variants]\n"):]


def with_variants(tmp_path: Path, section: str):
    path = tmp_path / "series.toml"
    path.write_text(HEAD + section)
    return load_registry(path)


def _one(terms: str, extra: str = 'since = 2026-01-01\ndescription = "x"\n', settings: str = 'reference = "v"\n') -> str:
    return f"\n[variants]\n{settings}\n[variants.v]\nterms = {terms}\n{extra}"


@pytest.mark.parametrize(("section", "message"), [
    (_one("{ WALCL = 1, NOPE = -1 }"), "variant 'v': term 'NOPE' is not a series in the registry"),
    (_one('{ WALCL = 1, "GC=F" = -1 }'), "variant 'v': term GC=F has no to_bn factor"),
    (_one("{ WALCL = 1, WTREGEN = 0 }"), "term WTREGEN has sign 0; a sign is 1 (adds) or -1 (subtracts)"),
    (_one("{ WALCL = 1, WTREGEN = -2 }"), "term WTREGEN has sign -2"),
    (_one("{ WALCL = 1, WTREGEN = -1.0 }"), "term WTREGEN has sign -1.0"),
    (_one("{ WALCL = true }"), "term WALCL has sign True"),
    (_one('{ WALCL = 1, WTREGEN = "-" }'), "term WTREGEN has sign '-'"),
    (_one("{ WALCL = 1, WRESBAL = -1 }"), "term WRESBAL (reserves) has no column in net_liquidity_variants_daily"),
    (_one("{}"), "terms must be a non-empty table"),
    (_one("{ WALCL = 1 }", 'since = "2022"\ndescription = "x"\n'), "since must be a TOML date"),
    (_one("{ WALCL = 1 }", 'description = "x"\n'), "variant 'v' lacks since"),
    (_one("{ WALCL = 1 }", 'since = 2026-01-01\ndescription = "x"\nsings = 1\n'), "variant 'v' has unknown field(s) sings"),
    (_one("{ WALCL = 1 }", settings='reference = "w"\n'), "reference must name one of the variants (v), got 'w'"),
    (_one("{ WALCL = 1 }", settings=""), "reference must name one of the variants (v), got None"),
    (_one("{ WALCL = 1 }", settings='reference = "v"\noverlap = 1\n'), "[variants] has unknown setting(s) overlap"),
    (_one("{ WALCL = 1 }", settings='reference = "v"\novernight = ["NOPE"]\n'), "series 'NOPE' is not in the registry"),
    ('\n[variants]\nreference = "Hayes"\n[variants.Hayes]\nterms = { WALCL = 1 }\nsince = 2026-01-01\ndescription = "x"\n',
     "a variant name is snake_case"),
])
def test_the_registry_refuses_a_bad_variant(tmp_path, section, message):
    with pytest.raises(RegistryError) as raised:
        with_variants(tmp_path, section)
    assert message in str(raised.value)


def test_a_registry_without_variants_publishes_an_empty_table(tmp_path):
    registry = with_variants(tmp_path, "\n")
    assert registry.variants == {} and BUILDERS[TABLE].required(registry) == ()
    frame = build(registry)
    assert frame.height == 0 and validate(SUITES[TABLE](registry, CLOCK), frame).passed


# --- the suite -----------------------------------------------------------------------------


def failed(frame: pl.DataFrame, previous_rows: int = 0) -> set[str]:
    return {r.check for r in validate(SUITES[TABLE](REGISTRY, CLOCK, previous_rows), frame).blocking_failures}


def test_suite_passes_on_the_real_table(table):
    assert failed(table) == set()


def _edit(frame: pl.DataFrame, variant: str, day: str, **values) -> pl.DataFrame:
    at = (pl.col("variant") == variant) & (pl.col("date") == D(day))
    return frame.with_columns(pl.when(at).then(v if isinstance(v, pl.Expr) else pl.lit(v)).otherwise(pl.col(c))
                              .cast(frame.schema[c]).alias(c) for c, v in values.items())


@pytest.mark.parametrize(("edits", "check"), [
    # a net that is not the sum of its signed terms
    (("daily_tga", "2025-08-28", {"net_liquidity_bn": pl.col("net_liquidity_bn") + 1}), "identity_net_liquidity"),
    # a statement older than its 5-day limit carried anyway
    (("daily_tga", "2025-08-28", {"tga_daily_close_obs_date": D("2025-08-20")}), "carry_limit_tga_daily_close"),
    # a value used before the evening it became public
    (("daily_tga", "2025-08-28", {"known_at_utc": pl.col("known_at_utc") + pl.duration(days=2)}), "no_lookahead"),
    # an observation dated after the row's day
    (("hayes_2022", "2025-08-28", {"fed_assets_obs_date": D("2025-08-29")}), "no_observation_after_day"),
    # an unavailable day marked available
    (("hayes_bloomberg", "2025-08-28", {"is_available": True}), "availability_rules"),
    # the missing standing repo silently filled with zero
    (("hayes_bloomberg", "2025-08-28", {"standing_repo_bn": 0.0}), "availability_rules"),
    # a term the variant does not have
    (("hayes_2022", "2025-08-28", {"tga_wednesday_bn": 595.798}), "unused_terms_null"),
    # a weekly value without the observation it came from
    (("hayes_2022", "2025-08-28", {"fed_assets_obs_date": None}), "term_observation_dates"),
    # a difference that is not the reference's
    (("daily_tga", "2025-08-28", {"difference_to_reference_bn": 0.0}), "difference_to_reference"),
    # a formula other than the registry's
    (("daily_tga", "2025-08-28", {"formula": "WALCL − DTS-TGA"}), "definition_as_registered"),
])
def test_suite_fails_on_each_broken_rule(table, edits, check):
    variant, day, values = edits
    assert check in failed(_edit(table, variant, day, **values))


def test_suite_blocks_a_missing_day_and_a_shrinking_table(table):
    dropped = table.filter(~((pl.col("variant") == "daily_tga") & (pl.col("date") == D("2025-08-28"))))
    assert {"every_variant_every_day", "daily_no_gap"} <= failed(dropped)
    assert "rows_not_shrinking" in failed(table, previous_rows=table.height + 1)
    assert "reaches_clock" in failed(table.filter(pl.col("date") < CLOCK))

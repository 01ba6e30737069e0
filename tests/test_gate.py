"""The gate (`expectations.gate.validate`) with the declared suites, on the real snapshot
and on damaged copies of it. No Prefect, no warehouse: frames in, CheckResults out.

Each damage is one realistic mistake; the test asserts the check that must name it and the
offending row(s) in the message a user reads (dates and values taken from the CSVs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from expectations import suites
from expectations.gate import ROWS_SHOWN, CheckResult, SuiteResult, validate
from flows.registry import load_registry
from flows.sources.replay import (
    SNAPSHOT_DIR,
    read_fred_csv,
    read_price_csv,
    replay_clock,
)
from transforms.catalog import TABLES
from transforms.known import with_rule_known_at
from transforms.liquidity import in_billions, net_liquidity_daily, net_liquidity_weekly
from transforms.prices import asset_prices_daily

D = dt.date.fromisoformat
# The registry with the model's three terms and the three assets of the published tables
# (Bitcoin, gold, Nasdaq-100): the six real series these tests run on. Any further assets
# the registry lists are the pipeline tests' business.
THREE_ASSETS = ["BTC-USD", "GC=F", "^NDX"]
_FULL = load_registry()
REGISTRY = dataclasses.replace(_FULL, model={**_FULL.model, "assets": THREE_ASSETS})
SIX = [REGISTRY.role("fed_assets"), REGISTRY.role("tga"), REGISTRY.role("rrp"), *REGISTRY.assets()]
CLOCK = D("2026-03-31")  # every snapshot file is cut at 2026-03-31 (PROVENANCE.md)


def read(spec) -> pl.DataFrame:
    if spec.provider == "fred":
        return read_fred_csv(SNAPSHOT_DIR / "fred" / f"{spec.id}.csv", spec.id)
    return read_price_csv(SNAPSHOT_DIR / "prices" / f"{spec.id}.csv", spec.id)


@pytest.fixture(scope="module")
def raw() -> dict[str, pl.DataFrame]:
    return {spec.key: read(spec) for spec in SIX}


def run_raw(key: str, frame: pl.DataFrame, clock: dt.date = CLOCK) -> SuiteResult:
    return validate(suites.raw_input_suite(REGISTRY.get(key), clock), frame)


def failed(result: SuiteResult) -> dict[str, CheckResult]:
    return {r.check: r for r in result.blocking_failures}


def day_of(value) -> dt.date:
    """A row's date as GE hands it back (a pandas Timestamp) → date."""
    return D(str(value)[:10])


def set_value(frame: pl.DataFrame, day: dt.date, value: float | None, text: str) -> pl.DataFrame:
    hit = pl.col("obs_date") == day
    return frame.with_columns(
        pl.when(hit).then(pl.lit(value, pl.Float64)).otherwise(pl.col("value")).alias("value"),
        pl.when(hit).then(pl.lit(text)).otherwise(pl.col("value_text")).alias("value_text"),
    )


# ------------------------------------------------------------------ raw inputs, real data


def test_clock_of_the_real_snapshot_is_its_newest_observation(raw):
    # RRPONTSYD, BTC-USD, GC=F and ^NDX all end 2026-03-31; WALCL/WTREGEN on Wed 2026-03-25
    assert replay_clock(list(raw.values())) == CLOCK


@pytest.mark.parametrize("key", [s.key for s in SIX])
def test_every_raw_suite_passes_on_the_real_series(raw, key):
    result = run_raw(key, raw[key])
    assert result.passed, "\n".join(f.message() for f in result.blocking_failures)
    names = {r.check for r in result.results}
    assert {"not_empty", "schema", "unique_key", "numeric_value", "value_range", "max_gap", "freshness"} <= names


# ------------------------------------------------------------------ raw inputs, damaged


def test_walcl_in_billions_on_one_date_fails_range_and_jump(raw):
    # WALCL 2026-03-11 = 6646344 (millions); the same number sent in billions: 6646.344
    day = D("2026-03-11")
    result = run_raw("WALCL", set_value(raw["WALCL"], day, 6646.344, "6646.344"))
    fails = failed(result)
    assert set(fails) == {"value_range", "jump_pct"}
    rng = fails["value_range"].message()
    assert "raw.observations[WALCL]: check value_range failed" in rng
    assert "1 offending row(s)" in rng and "value=6646.344, obs_date=2026-03-11, value_text=6646.344" in rng
    # the fall into it (from 6628894 on 03-04) and the climb out of it (to 6655939 on 03-18)
    jump = fails["jump_pct"]
    assert jump.unexpected_count == 2
    assert [day_of(r["obs_date"]) for r in jump.rows] == [day, D("2026-03-18")]
    assert "obs_date=2026-03-11" in jump.message() and "obs_date=2026-03-18" in jump.message()


def test_identical_data_reuses_its_result_and_changed_data_is_validated_again(raw, monkeypatch):
    from expectations import gate

    good = run_raw("WALCL", raw["WALCL"])
    assert good.passed
    # the same rows again: no GE run at all (the batch API would fail if it were called)
    monkeypatch.setattr(gate, "to_pandas", lambda frame: pytest.fail("GE ran on data it had already checked"))
    again = run_raw("WALCL", raw["WALCL"].clone())
    assert [(r.check, r.success) for r in again.results] == [(r.check, r.success) for r in good.results]
    monkeypatch.undo()
    # one value changed (WALCL 2026-03-11 sent in billions): checked afresh, and it fails
    bad = run_raw("WALCL", set_value(raw["WALCL"], D("2026-03-11"), 6646.344, "6646.344"))
    assert set(failed(bad)) == {"value_range", "jump_pct"}


def test_duplicated_date_fails_unique_key(raw):
    frame = raw["WALCL"]
    dup = pl.concat([frame, frame.filter(pl.col("obs_date") == D("2026-03-11"))])
    fails = failed(run_raw("WALCL", dup))
    assert "unique_key" in fails
    assert fails["unique_key"].unexpected_count == 2  # both copies are named
    assert fails["unique_key"].message().count("obs_date=2026-03-11, value_text=6646344") == 2


def test_negative_rrp_fails_value_range(raw):
    # RRPONTSYD 2026-03-31 = 15.782 (bn) in the CSV; sent with the wrong sign
    fails = failed(run_raw("RRPONTSYD", set_value(raw["RRPONTSYD"], CLOCK, -15.782, "-15.782")))
    assert set(fails) == {"value_range"}
    assert "value=-15.782, obs_date=2026-03-31, value_text=-15.782" in fails["value_range"].message()


def test_non_numeric_cell_fails_numeric_value_showing_the_text(raw, tmp_path: Path):
    # a real file with one cell as a spreadsheet export would write it
    path = tmp_path / "WALCL.csv"
    text = (SNAPSHOT_DIR / "fred" / "WALCL.csv").read_text()
    assert "\n2026-03-11,6646344\n" in text
    path.write_text(text.replace("\n2026-03-11,6646344\n", "\n2026-03-11,#N/A\n"))
    frame = read_fred_csv(path, "WALCL")
    fails = failed(run_raw("WALCL", frame))
    assert "numeric_value" in fails
    message = fails["numeric_value"].message()
    assert fails["numeric_value"].unexpected_count == 1
    assert "obs_date=2026-03-11, value_text=#N/A" in message


def test_three_week_hole_fails_max_gap(raw):
    # drop Wed 2026-03-04 and 2026-03-11: 2026-02-25 → 2026-03-18 is 21 days (limit 7)
    frame = raw["WALCL"].filter(~pl.col("obs_date").is_in([D("2026-03-04"), D("2026-03-11")]))
    fails = failed(run_raw("WALCL", frame))
    assert set(fails) == {"max_gap"}
    assert (D("2026-03-18") - D("2026-02-25")).days == 21
    assert "gap_days=21.0, obs_date=2026-03-18" in fails["max_gap"].message()


def test_stale_series_fails_freshness(raw):
    # WALCL stops at 2026-03-04 while the clock is 2026-03-31: 27 days old (limit 9)
    frame = raw["WALCL"].filter(pl.col("obs_date") <= D("2026-03-04"))
    fails = failed(run_raw("WALCL", frame))
    assert set(fails) == {"freshness"}
    assert fails["freshness"].observed == str((CLOCK - D("2026-03-04")).days) == "27"
    assert "max_value=9" in fails["freshness"].message()


def test_value_column_of_integer_type_fails_type_check(raw):
    fails = failed(run_raw("WALCL", raw["WALCL"].with_columns(pl.col("value").cast(pl.Int64))))
    assert set(fails) == {"type_value"}
    assert fails["type_value"].observed == "int64"


def test_missing_column_fails_schema_check(raw):
    fails = failed(run_raw("WALCL", raw["WALCL"].drop("volume")))
    assert "schema" in fails
    assert "volume" in fails["schema"].expectation and "volume" not in fails["schema"].observed


@pytest.mark.parametrize("column", ["value", "obs_date"])
def test_text_column_is_reported_by_the_type_check_not_a_crash(raw, column):
    # e.g. a source that hands the cells over unparsed. The suite declares a type check
    # for every column; the gate must name it, not raise from its own derived columns.
    frame = raw["WALCL"].with_columns(pl.col(column).cast(pl.String))
    fails = failed(run_raw("WALCL", frame))
    # the derived columns cannot be computed from text: the gate blocks with a check that
    # names the table and shows the offending column's type
    assert f"type_{column}" in fails or "derive" in fails
    failure = fails.get(f"type_{column}") or fails["derive"]
    assert failure.blocking and f"'{column}': String" in failure.message()


def test_empty_frame_fails_not_empty(raw):
    fails = failed(run_raw("WALCL", raw["WALCL"].head(0)))
    assert "not_empty" in fails
    assert fails["not_empty"].observed == "0"


# ------------------------------------------------------------------ CheckResult.message


def test_message_lists_at_most_rows_shown_and_counts_the_rest(raw):
    # 8 consecutive Wednesdays (2026-02-04 .. 2026-03-25) sent in billions instead of millions
    frame = raw["WALCL"]
    hit = pl.col("obs_date") >= D("2026-02-04")
    assert frame.filter(hit).height == 8
    damaged = frame.with_columns(pl.when(hit).then(pl.col("value") / 1000).otherwise(pl.col("value")).alias("value"))
    check = failed(run_raw("WALCL", damaged))["value_range"]
    assert check.unexpected_count == 8
    message = check.message()
    shown = [line for line in message.splitlines() if line.strip().startswith("value=")]
    assert len(shown) == ROWS_SHOWN == 5
    assert message.rstrip().endswith(f"and {8 - ROWS_SHOWN} more")


def test_message_without_more_rows_has_no_and_more():
    rows = tuple({"obs_date": D(f"2026-03-{d:02d}"), "value": -1.0}
                 for d in range(1, ROWS_SHOWN + 1))
    exact = CheckResult("t", "value_range", False, True, "expect(...)", rows=rows, unexpected_count=ROWS_SHOWN)
    assert "more" not in exact.message()
    assert exact.message().count("obs_date=2026-03-") == ROWS_SHOWN
    more = CheckResult("t", "value_range", False, True, "expect(...)", rows=rows, unexpected_count=ROWS_SHOWN + 12)
    assert more.message().endswith("and 12 more")
    bare = CheckResult("t", "freshness", False, True, "expect(...)", observed="27")
    assert bare.message() == "t: check freshness failed (expect(...)); observed 27"


# ------------------------------------------------------------------ published tables


@pytest.fixture(scope="module")
def tables(raw) -> dict[str, pl.DataFrame]:
    """The published tables built as flows/pipeline.py:build_tables builds them."""
    roles = ("fed_assets", "tga", "rrp")
    comp = {r: in_billions(raw[REGISTRY.role(r).key], REGISTRY.role(r).to_bn) for r in roles}
    assets = REGISTRY.assets()
    return {
        "net_liquidity_weekly": net_liquidity_weekly(
            comp["fed_assets"], comp["tga"], comp["rrp"], rrp_lookback_days=REGISTRY.role("rrp").max_age_days),
        "net_liquidity_daily": net_liquidity_daily(
            {r: with_rule_known_at(comp[r], REGISTRY.role(r).release_rule()) for r in roles},
            max_age_days={r: REGISTRY.role(r).max_age_days for r in roles},
            through=CLOCK,
        ),
        "asset_prices_daily": asset_prices_daily(
            pl.concat([raw[s.key] for s in assets]),
            pl.DataFrame({"series_id": [s.id for s in assets], "asset": [s.name for s in assets],
                          "currency": [s.currency for s in assets]}),
        ),
    }


def run_table(name: str, frame: pl.DataFrame, previous_rows: int = 0) -> SuiteResult:
    return validate(suites.PUBLISHED_SUITES[name](REGISTRY, CLOCK, previous_rows), frame)


@pytest.mark.parametrize("name", list(suites.PUBLISHED_SUITES))
def test_published_suites_pass_on_the_real_tables(tables, name):
    # with the table's own size as previous_rows: an identical rebuild does not shrink
    result = run_table(name, tables[name], previous_rows=tables[name].height)
    assert result.passed, "\n".join(f.message() for f in result.blocking_failures)


def test_net_liquidity_off_by_one_billion_fails_identity(tables):
    # 2026-03-11: 6646.344 − 838.186 − 0.552 = 5807.606 bn (WALCL, WTREGEN /1000; RRPONTSYD)
    weekly = tables["net_liquidity_weekly"]
    hit = pl.col("date") == D("2026-03-11")
    assert weekly.filter(hit)["net_liquidity_bn"][0] == pytest.approx(6646.344 - 838.186 - 0.552)
    bad = weekly.with_columns(pl.when(hit).then(pl.col("net_liquidity_bn") + 1.0)
                              .otherwise(pl.col("net_liquidity_bn")).alias("net_liquidity_bn"))
    fails = failed(run_table("net_liquidity_weekly", bad))
    assert set(fails) == {"identity_net_liquidity"}
    check = fails["identity_net_liquidity"]
    assert check.unexpected_count == 1
    (row,) = check.rows
    assert day_of(row["date"]) == D("2026-03-11")
    assert row["identity_residual_bn"] == pytest.approx(1.0, abs=1e-6)
    assert "date=2026-03-11" in check.message()


def test_weekly_duplicated_date_fails_unique_key(tables):
    weekly = tables["net_liquidity_weekly"]
    fails = failed(run_table("net_liquidity_weekly", pl.concat([weekly, weekly.filter(pl.col("date") == D("2026-03-11"))])))
    assert "unique_key" in fails
    assert fails["unique_key"].message().count("date=2026-03-11") == 2


def test_weekly_missing_wednesday_fails_weekly_no_gap(tables):
    weekly = tables["net_liquidity_weekly"]
    fails = failed(run_table("net_liquidity_weekly", weekly.filter(pl.col("date") != D("2026-03-11"))))
    assert set(fails) == {"weekly_no_gap"}
    # 2026-03-04 → 2026-03-18: 14 days
    assert "gap_days=14.0, date=2026-03-18" in fails["weekly_no_gap"].message()


def test_weekly_fewer_rows_than_previous_version_fails_rows_not_shrinking(tables):
    weekly = tables["net_liquidity_weekly"]
    fails = failed(run_table("net_liquidity_weekly", weekly, previous_rows=weekly.height + 1))
    assert set(fails) == {"rows_not_shrinking"}
    assert fails["rows_not_shrinking"].observed == str(weekly.height)


def test_daily_observation_used_before_publication_fails_no_lookahead(tables):
    # Wed 2026-03-25: WALCL of that Wednesday is published Thursday 03-26 16:30 ET
    # (20:30 UTC), so the 03-25 row may only carry the 03-18 observation; claim it used
    # 03-25's, known at its real release time.
    day = D("2026-03-25")
    assert day.weekday() == 2  # Wednesday
    daily = tables["net_liquidity_daily"]
    assert daily.filter(pl.col("date") == day)["fed_assets_obs_date"][0] == D("2026-03-18")
    bad = daily.with_columns(
        pl.when(pl.col("date") == day).then(pl.col("date")).otherwise(pl.col("fed_assets_obs_date"))
        .alias("fed_assets_obs_date"),
        pl.when(pl.col("date") == day).then(pl.lit(dt.datetime(2026, 3, 26, 20, 30)))
        .otherwise(pl.col("fed_assets_known_at_utc")).alias("fed_assets_known_at_utc"),
    )
    fails = failed(run_table("net_liquidity_daily", bad))
    assert set(fails) == {"no_lookahead_fed_assets"}
    assert fails["no_lookahead_fed_assets"].unexpected_count == 1
    assert "date=2026-03-25" in fails["no_lookahead_fed_assets"].message()


# The check on the set of asset names: `every_asset_present` (exactly the registry's assets)
# in the original suite, `known_assets_only` (no asset outside the registry) since assets may
# now be unavailable without blocking. Either must catch an asset published under a wrong name.
ASSET_SET_CHECKS = {"every_asset_present", "known_assets_only"}


@pytest.fixture(scope="module")
def gold_renamed(tables) -> SuiteResult:
    # "Gold" is not a registry asset name (the registry says "gold", GC=F)
    prices = tables["asset_prices_daily"]
    assert "gold" in set(prices["asset"])
    renamed = prices.with_columns(pl.col("asset").replace("gold", "Gold"))
    return run_table("asset_prices_daily", renamed)


def test_asset_under_a_wrong_name_fails_the_asset_set_check(gold_renamed):
    suite = suites.PUBLISHED_SUITES["asset_prices_daily"](REGISTRY, CLOCK, 0)
    declared = {c.name for c in suite.checks} & ASSET_SET_CHECKS
    assert len(declared) == 1, declared
    assert set(failed(gold_renamed)) == declared


def test_asset_set_failure_names_the_offending_asset(gold_renamed):
    # The expectation text lists every expected asset; the user needs to see which name is
    # wrong: it must appear in what the check observed or in its rows.
    (check,) = [r for r in gold_renamed.blocking_failures if r.check in ASSET_SET_CHECKS]
    found = check.observed + " " + " ".join(str(r) for r in check.rows)
    assert "Gold" in found, f"message does not say which asset is wrong: {check.message()!r}"


# ------------------------------------------------------------------ the data dictionary


@pytest.mark.parametrize("name", list(TABLES))
def test_every_published_table_is_described(name):
    spec = TABLES[name]
    assert spec.grain.strip() and spec.description.strip()
    assert spec.key and set(spec.key) <= set(spec.columns)
    for column, col in spec.columns.items():
        assert col.description.strip(), f"{name}.{column} has no description"


@pytest.mark.parametrize("name", list(TABLES))
def test_dollar_amounts_in_billions_end_in_bn(name):
    # the rule of the README: every dollar column is in billions of USD and says so in its name
    for column, col in TABLES[name].columns.items():
        if re.search(r"\bbillions?\s+(of\s+)?(USD|U\.?S\.? dollars)\b", col.description, re.IGNORECASE):
            assert column.endswith("_bn"), f"{name}.{column} holds billions but is not named *_bn: {col.description!r}"
        if column.endswith("_bn"):
            assert re.search(r"\b(billions?|bn)\b", col.description, re.IGNORECASE), (
                f"{name}.{column} is named *_bn but its description gives no unit: {col.description!r}")


# ------------------------------------------------------------------ declared expectations


def test_every_declared_check_builds_its_great_expectations_expectation():
    # the suites declare descriptors (expectations/expect.py), built into GE only when GE runs:
    # a misspelt class or argument must still fail here, not on the first day that data changes
    from expectations.tables import PUBLISHED_SUITES

    declared = [suites.raw_input_suite(spec, CLOCK) for spec in _FULL.used()]
    declared += [build(_FULL, CLOCK, 0) for build in PUBLISHED_SUITES.values()]
    for suite in declared:
        for check in suite.checks:
            built = check.expectation.to_ge()
            assert type(built).__name__ == check.expectation.type, (suite.table, check.name)
            assert built.configuration.type == check.expectation.configuration.type
            for name, value in check.expectation.kwargs.items():
                assert getattr(built, name) == value, (suite.table, check.name, name)


def test_a_misspelt_expectation_argument_fails_when_built():
    from expectations import expect as gxe

    with pytest.raises(Exception):
        gxe.ExpectColumnValuesToBeBetween(colum="value", min_value=0).to_ge()
    with pytest.raises(AttributeError):
        gxe.ExpectNoSuchThing(column="value").to_ge()


@pytest.mark.parametrize("dtype, names", suites.PANDAS_TYPES, ids=lambda v: str(v))
def test_the_written_out_pandas_types_are_what_pandas_gives(dtype, names):
    # the suites' type checks name what a column becomes in the pandas frame GE validates;
    # written out so that no suite imports pandas to be built (expectations/suites.py)
    assert list(names) == suites.pandas_types_of(dtype)


def test_every_column_type_a_suite_checks_is_written_out():
    from flows.sources.schema import OBSERVATIONS
    from transforms.catalog import TABLES

    dtypes = {d for spec in TABLES.values() for d in spec.schema.dtypes()} | set(OBSERVATIONS.dtypes())
    written = [d for d, _ in suites.PANDAS_TYPES]
    assert [d for d in dtypes if not any(d == w for w in written)] == []

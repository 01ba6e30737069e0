"""The series registry (flows/series.toml → flows/registry.py).

Bad-input cases write a temp copy of the real series.toml with one edit and load it.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest

from flows.registry import PROVIDERS, REGISTRY_PATH, Registry, RegistryError, SeriesSpec, load_registry

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "data" / "snapshot"
REAL_TEXT = REGISTRY_PATH.read_text()
REQUIRED = (
    "provider", "id", "name", "native_units", "frequency", "publication_lag_days",
    "max_age_days", "max_gap_days", "valid_min", "valid_max", "release", "description",
)
# the documented frequencies (series.toml header)
FREQUENCIES = {"daily", "weekly", "business_daily", "trading_daily", "monthly"}

# The contract, written out: every series the registry holds (registry key = table of that key).
KEYS = {
    # the three net liquidity terms and the TGA alternative
    "WALCL", "WTREGEN", "WDTGAL", "RRPONTSYD",
    # Fed balance sheet, bank credit, rates, prices, FX for the wider model (FRED)
    "WRESBAL", "RPONTSYD", "WSHOMCB", "TREAST", "TOTBKCR", "TOTLL", "ODSACBW027SBOG",
    "MORTGAGE30US", "CPIAUCNS", "CPIAUCSL", "WMTSECL1", "DGS10", "DTWEXBGS",
    # Yahoo closes, the yen rate and GLD's shares outstanding
    "BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "ZEC-USD", "GLD", "JPY=X", "GLD-SHARES", "BTC-JPY",
    # the longer real histories of 2026-12-01: ECB assets (FRED), gold monthly since 1833 and
    # the Daily Treasury Statement's TGA (files)
    "ECBASSETSW", "GOLD-MONTHLY", "DTS-TGA",
}
CORE = ("WALCL", "WTREGEN", "RRPONTSYD")  # fed_assets, tga, rrp
ASSETS = ("BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "ZEC-USD", "GLD")
# Dollar stocks, by unit text: millions → ×0.001, billions → ×1 (checked by hand).
TO_BN = {"Millions of U.S. Dollars": 0.001, "Billions of U.S. Dollars": 1.0}
# Every other unit the registry uses: rates, indexes, prices, a yen rate, a share count → no to_bn.
NOT_DOLLAR_STOCKS = {
    "Percent", "Index 1982-1984=100", "Index Jan 2006=100", "Index points",
    "USD", "USD per troy ounce", "JPY", "JPY per USD", "Shares", "Millions of Euros",
}
DOLLAR_STOCKS = {
    "WALCL", "WTREGEN", "WDTGAL", "RRPONTSYD", "WRESBAL", "RPONTSYD", "WSHOMCB", "TREAST",
    "TOTBKCR", "TOTLL", "ODSACBW027SBOG", "WMTSECL1", "DTS-TGA",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


# --- the real registry ------------------------------------------------------------------


def test_real_registry_loads(registry):
    assert set(registry.series) == KEYS
    assert len(registry.series) == len(KEYS) == 30
    assert all(isinstance(s, SeriesSpec) and s.key == k for k, s in registry.series.items())


def test_providers_are_the_documented_ones():
    assert PROVIDERS == ("fred", "yahoo", "yahoo_shares", "file", "treasury")


def test_every_series_has_required_fields_units_and_description(registry):
    for key, spec in registry.series.items():
        for field in REQUIRED:
            value = getattr(spec, field)
            assert value is not None and value != "", f"{key}: {field} empty"
        assert spec.native_units.strip(), key
        assert len(spec.description.strip()) >= 10, key
        assert spec.provider in PROVIDERS, key
        assert spec.frequency in FREQUENCIES, key
        assert spec.publication_lag_days >= 0 and spec.max_age_days >= 1 and spec.max_gap_days >= 1, key
        assert spec.valid_min < spec.valid_max, key
        assert spec.max_change_pct is not None or spec.max_change_abs is not None, key
        assert spec.lateness in ("block", "warn"), key
        if spec.provider == "file":
            assert spec.path, key
    # each documented frequency and provider family is really in use (the sets are not stale)
    assert {s.frequency for s in registry.series.values()} == FREQUENCIES
    assert {s.provider for s in registry.series.values()} == {"fred", "yahoo", "yahoo_shares", "file", "treasury"}


def test_names_are_unique_and_provider_ids_are_unique(registry):
    specs = list(registry.series.values())
    assert len({s.name for s in specs}) == len(specs)
    # one id may be read two ways (GLD's close and its shares outstanding), never twice the same way
    assert len({(s.provider, s.id) for s in specs}) == len(specs)
    assert registry.get("GLD-SHARES").id == registry.get("GLD").id == "GLD"


def test_named_finds_the_series_by_name(registry):
    for spec in registry.series.values():
        assert registry.named(spec.name) is spec
    assert registry.named("metaplanet").key == "3350.T"
    assert registry.named("gld_shares_outstanding").key == "GLD-SHARES"
    with pytest.raises(RegistryError, match=r"no series named 'nope'.*series\.toml"):
        registry.named("nope")


def test_to_bn_agrees_with_native_units(registry):
    # to_bn exactly for dollar stocks, with the factor their unit text implies
    assert {s.native_units for s in registry.series.values()} <= set(TO_BN) | NOT_DOLLAR_STOCKS
    assert {k for k, s in registry.series.items() if s.native_units in TO_BN} == DOLLAR_STOCKS
    for spec in registry.series.values():
        if spec.native_units in TO_BN:
            assert spec.to_bn == TO_BN[spec.native_units], spec.key
        else:
            assert spec.to_bn is None, spec.key


def test_currency_only_on_prices(registry):
    for spec in registry.series.values():
        if spec.provider == "yahoo":
            assert spec.currency in ("USD", "JPY"), spec.key
        else:
            assert spec.currency is None, spec.key


def test_lateness_blocks_only_for_the_liquidity_terms(registry):
    roles = tuple(registry.role(r).key for r in ("fed_assets", "tga", "rrp"))
    assert roles == CORE
    for key, spec in registry.series.items():
        assert spec.lateness == ("block" if key in CORE else "warn"), key


def test_model_roles_resolve(registry):
    assert registry.role("fed_assets").id == "WALCL"
    assert registry.role("tga").id == "WTREGEN"
    assert registry.role("rrp").id == "RRPONTSYD"
    assert tuple(s.key for s in registry.assets()) == ASSETS
    assert all(s.provider == "yahoo" for s in registry.assets())
    assert {s.key: s.currency for s in registry.assets() if s.currency != "USD"} == {"3350.T": "JPY"}
    assert {c: s.key for c, s in registry.fx().items()} == {"JPY": "JPY=X"}
    assert registry.get("JPY=X").native_units == "JPY per USD"  # units of the currency per USD
    # every non-USD asset has a rate
    assert {s.currency for s in registry.assets()} - {"USD"} <= set(registry.fx())
    # the three terms first, then every other series in registry order (the other TGA too)
    assert [s.key for s in registry.used()] == [
        "WALCL", "WTREGEN", "RRPONTSYD", "WDTGAL",
        "BTC-USD", "GC=F", "^NDX",
        "WRESBAL", "RPONTSYD", "WSHOMCB", "TREAST", "TOTBKCR", "TOTLL", "ODSACBW027SBOG",
        "MORTGAGE30US", "CPIAUCNS", "CPIAUCSL", "WMTSECL1", "DGS10", "DTWEXBGS",
        "MSTR", "3350.T", "JPY=X", "ZEC-USD", "GLD", "GLD-SHARES", "BTC-JPY",
        "ECBASSETSW", "GOLD-MONTHLY", "DTS-TGA",
    ]
    # component names are the ones the transforms' columns use
    assert [registry.role(r).name for r in ("fed_assets", "tga", "rrp")] == ["fed_assets", "tga", "rrp"]


def test_snapshot_file_and_value_column_point_at_a_real_column(registry):
    with_file = {k: s for k, s in registry.series.items() if s.snapshot_file or s.value_column}
    assert set(with_file) == {"GLD-SHARES", "GOLD-MONTHLY"}
    spec = with_file["GLD-SHARES"]
    assert (spec.snapshot_file, spec.value_column) == ("prices/GLD_shares_outstanding_derived.csv", "shares_outstanding")
    with (SNAPSHOT / spec.snapshot_file).open(newline="") as f:
        header = next(csv.reader(f))
    assert header[0] == "date" and spec.value_column in header
    # a file-source series names its own columns, and its path is a file in the repository
    for spec in (s for s in registry.series.values() if s.provider == "file"):
        with (SNAPSHOT.parent.parent / spec.path).open(newline="") as f:
            header = next(csv.reader(f))
        assert (spec.date_column or "date") in header and (spec.value_column or "value") in header, spec.key


def series_sections(text: str) -> list[tuple[str, int, str]]:
    """(registry key, line number, line) for every line of the toml inside a [series.*] table."""
    out, key = [], None
    for number, line in enumerate(text.splitlines(), 1):
        head = re.match(r"""^\[series\.(?:"([^"]+)"|([^\]]+))\]\s*$""", line)
        if head:
            key = head.group(1) or head.group(2)
        elif line.startswith("["):
            key = None
        elif key is not None:
            out.append((key, number, line))
    return out


def test_every_exempt_or_dropped_date_has_a_comment_saying_why(registry):
    lines = REAL_TEXT.splitlines()
    found = set()
    for key, number, line in series_sections(REAL_TEXT):
        field = re.match(r"^(exempt_dates|drop_dates)\s*=", line)
        if not field:
            continue
        found.add((key, field.group(1)))
        above = lines[number - 2]  # the line right above (numbers are 1-based)
        assert above.startswith("#"), f"series.toml:{number}: {key} {field.group(1)} has no comment above it"
        assert len(above.lstrip("#").strip()) >= 20, f"series.toml:{number}: {key}: comment too short to say why"
    # the text scan saw every entry the loader read (and nothing else)
    loaded = {(k, f) for k, s in registry.series.items() for f in ("exempt_dates", "drop_dates") if getattr(s, f)}
    assert found == loaded
    assert ("3350.T", "drop_dates") in loaded and ("CPIAUCNS", "exempt_dates") in loaded


def test_dates_lists_load_as_dates(registry):
    assert registry.get("3350.T").drop_dates == (dt.date(2020, 10, 1),)
    assert registry.get("JPY=X").exempt_dates == (dt.date(2008, 8, 8), dt.date(2008, 8, 26))
    assert registry.get("WALCL").exempt_dates == () and registry.get("WALCL").drop_dates == ()


def test_unknown_series_key_error_is_clear(registry):
    with pytest.raises(RegistryError, match="'NOPE' is not in the registry"):
        registry.get("NOPE")


def source_files() -> list[Path]:
    files = [p for d in ("flows", "transforms", "expectations", "warehouse") for p in (ROOT / d).rglob("*.py")]
    assert len(files) >= 10  # the tree is there
    return files


def test_no_series_id_hard_coded_in_code(registry):
    # Every id (and key) as a quoted string literal, "WALCL" or 'WALCL', in the package code.
    # series.toml is not a .py file, so the registry itself is not searched.
    texts = {p: p.read_text().splitlines() for p in source_files()}
    offenders = []
    for spec in registry.series.values():
        for ident in sorted({spec.id, spec.key}):
            pattern = re.compile(r"""(["'])""" + re.escape(ident) + r"\1")
            offenders += [
                f"{p.relative_to(ROOT)}:{n}: {ident}"
                for p, lines in texts.items() for n, line in enumerate(lines, 1) if pattern.search(line)
            ]
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_id_grep_would_catch_a_literal():
    # The check above is not vacuous: it finds a literal written either way.
    pattern = re.compile(r"""(["'])""" + re.escape("^NDX") + r"\1")
    assert pattern.search("x = '^NDX'") and pattern.search('f("^NDX")')
    assert not pattern.search('"Nasdaq ^NDX index"')


# --- bad input --------------------------------------------------------------------------


def edited(tmp_path: Path, text: str, name: str = "bad_series.toml") -> Path:
    assert text != REAL_TEXT, "the edit did not apply"
    path = tmp_path / name
    path.write_text(text)
    return path


def drop_line_in_section(section: str, line_start: str) -> str:
    """The real toml with the first line starting with `line_start` removed from `[section]`."""
    head = f"[{section}]\n"
    start = REAL_TEXT.index(head)
    end = REAL_TEXT.find("\n[", start + len(head))
    end = len(REAL_TEXT) if end == -1 else end + 1
    body = REAL_TEXT[start:end]
    lines = body.splitlines(keepends=True)
    idx = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    return REAL_TEXT[:start] + "".join(lines[:idx] + lines[idx + 1 :]) + REAL_TEXT[end:]


@pytest.mark.parametrize("field", ["description", "native_units", "max_age_days", "publication_lag_days"])
def test_missing_field(tmp_path, field):
    path = edited(tmp_path, drop_line_in_section("series.WTREGEN", f"{field} ="))
    with pytest.raises(RegistryError, match=rf"bad_series\.toml: series 'WTREGEN' lacks {field}"):
        load_registry(path)


def test_unknown_provider(tmp_path):
    text = REAL_TEXT.replace('[series."GC=F"]\nprovider = "yahoo"', '[series."GC=F"]\nprovider = "bloomberg"')
    with pytest.raises(RegistryError, match=r"'GC=F' has unknown provider 'bloomberg'"):
        load_registry(edited(tmp_path, text))


def test_without_jump_limits(tmp_path):
    path = edited(tmp_path, drop_line_in_section("series.WALCL", "max_change_pct ="))
    with pytest.raises(RegistryError, match=r"'WALCL' needs max_change_pct or max_change_abs"):
        load_registry(path)


def test_model_role_pointing_at_missing_series(tmp_path):
    text = REAL_TEXT.replace('rrp = "RRPONTSYD"\n', 'rrp = "RRPONTSYDX"\n')
    with pytest.raises(RegistryError, match=r"'RRPONTSYDX' is not in the registry"):
        load_registry(edited(tmp_path, text))


def test_model_asset_pointing_at_missing_series(tmp_path):
    text = REAL_TEXT.replace(
        'assets = ["BTC-USD", "GC=F", "^NDX", "MSTR", "3350.T", "ZEC-USD", "GLD"]', 'assets = ["BTC-USD", "ETH-USD"]'
    )
    with pytest.raises(RegistryError, match=r"'ETH-USD' is not in the registry"):
        load_registry(edited(tmp_path, text))


def test_role_without_to_bn(tmp_path):
    path = edited(tmp_path, drop_line_in_section("series.RRPONTSYD", "to_bn ="))
    with pytest.raises(RegistryError, match=r"RRPONTSYD fills rrp but has no to_bn"):
        load_registry(path)


def test_asset_without_currency(tmp_path):
    path = edited(tmp_path, drop_line_in_section('series."^NDX"', "currency ="))
    with pytest.raises(RegistryError, match=r"asset \^NDX has no currency"):
        load_registry(path)


def test_model_can_point_tga_at_the_alternative(tmp_path):
    # Switching [model].tga to WDTGAL (the documented alternative) loads and resolves.
    text = REAL_TEXT.replace('tga = "WTREGEN"\n', 'tga = "WDTGAL"\n')
    reg = load_registry(edited(tmp_path, text))
    assert reg.role("tga").id == "WDTGAL" and reg.role("tga").to_bn == 0.001


# Clear errors for a missing role, an unknown field, a wrong type; messages name the file.


def test_missing_model_role_is_a_clear_error(tmp_path):
    text = REAL_TEXT.replace('rrp = "RRPONTSYD"\n', "")
    with pytest.raises(RegistryError, match=r"model.*rrp|rrp.*model"):
        load_registry(edited(tmp_path, text))


def test_unknown_field_is_a_registry_error(tmp_path):
    text = REAL_TEXT.replace("[series.WALCL]\n", '[series.WALCL]\nunits = "Millions"\n')
    with pytest.raises(RegistryError, match=r"bad_series\.toml: series 'WALCL' has unknown field\(s\) units"):
        load_registry(edited(tmp_path, text))


def test_missing_series_message_names_the_loaded_file(tmp_path):
    text = REAL_TEXT.replace('rrp = "RRPONTSYD"\n', 'rrp = "RRPONTSYDX"\n')
    with pytest.raises(RegistryError, match=r"bad_series\.toml"):
        load_registry(edited(tmp_path, text))


def test_wrong_field_type_is_a_registry_error(tmp_path):
    head = "[series.WALCL]\n"
    i = REAL_TEXT.index(head)
    text = REAL_TEXT[:i] + REAL_TEXT[i:].replace("publication_lag_days = 1\n", 'publication_lag_days = "one"\n', 1)
    with pytest.raises(RegistryError, match=r"'WALCL': publication_lag_days must be a number, got 'one'"):
        load_registry(edited(tmp_path, text))


def replace_in_section(section: str, old: str, new: str) -> str:
    """The real toml with the first `old` inside `[section]` replaced by `new`."""
    head = f"[{section}]\n"
    start = REAL_TEXT.index(head)
    end = REAL_TEXT.find("\n[", start + len(head))
    end = len(REAL_TEXT) if end == -1 else end + 1
    body = REAL_TEXT[start:end]
    assert old in body, (section, old)
    return REAL_TEXT[:start] + body.replace(old, new, 1) + REAL_TEXT[end:]


@pytest.mark.parametrize("value", ['"fail"', '"Block"', '""', "true"])
def test_bad_lateness_value(tmp_path, value):
    text = replace_in_section("series.WALCL", 'lateness = "block"\n', f"lateness = {value}\n")
    with pytest.raises(RegistryError, match=r"bad_series\.toml: series 'WALCL': lateness must be block or warn"):
        load_registry(edited(tmp_path, text))


def test_lateness_defaults_to_warn(tmp_path):
    text = drop_line_in_section("series.WALCL", "lateness =")
    assert load_registry(edited(tmp_path, text)).get("WALCL").lateness == "warn"


@pytest.mark.parametrize(
    ("section", "old", "new", "field"),
    [
        ("series.CPIAUCSL", "exempt_dates = [2025-11-01]", 'exempt_dates = ["2025-11-01"]', "exempt_dates"),
        ("series.CPIAUCSL", "exempt_dates = [2025-11-01]", "exempt_dates = 2025-11-01", "exempt_dates"),
        ("series.CPIAUCSL", "exempt_dates = [2025-11-01]", "exempt_dates = [2025-11-01T00:00:00]", "exempt_dates"),
        ("series.CPIAUCSL", "exempt_dates = [2025-11-01]", "exempt_dates = [2025-11-01, 20251101]", "exempt_dates"),
        ('series."3350.T"', "drop_dates = [2020-10-01]", 'drop_dates = "2020-10-01"', "drop_dates"),
    ],
    ids=["strings", "not-a-list", "datetimes", "one-number", "drop-text"],
)
def test_date_lists_must_be_dates(tmp_path, section, old, new, field):
    text = replace_in_section(section, old, new)
    with pytest.raises(RegistryError, match=rf"bad_series\.toml: series '[^']+': {field} must be a list of TOML dates"):
        load_registry(edited(tmp_path, text))


def test_gap_check_from_must_be_a_date_not_a_datetime(tmp_path):
    text = replace_in_section("series.RRPONTSYD", "gap_check_from = 2013-09-23", "gap_check_from = 2013-09-23T00:00:00")
    with pytest.raises(RegistryError, match=r"'RRPONTSYD': gap_check_from must be a TOML date"):
        load_registry(edited(tmp_path, text))


def test_duplicate_names(tmp_path):
    text = replace_in_section("series.CPIAUCSL", 'name = "cpi_sa"', 'name = "cpi"')
    with pytest.raises(RegistryError, match=r"bad_series\.toml: series names must be unique; repeated: cpi"):
        load_registry(edited(tmp_path, text))


FILE_SERIES = """
[series.M2SL_FILE]
provider = "file"
id = "M2SL"
name = "m2"
native_units = "Billions of U.S. Dollars"
to_bn = 1.0
frequency = "monthly"
publication_lag_days = 30
max_age_days = 70
max_gap_days = 31
valid_min = 0
valid_max = 100_000
max_change_pct = 10.0
release = "a file"
description = "M2 money stock read from a file"
"""


def test_provider_file_without_path(tmp_path):
    with pytest.raises(RegistryError, match=r"bad_series\.toml: series 'M2SL_FILE' has provider file but no path"):
        load_registry(edited(tmp_path, REAL_TEXT + FILE_SERIES))
    empty = REAL_TEXT + FILE_SERIES + 'path = ""\n'
    with pytest.raises(RegistryError, match=r"'M2SL_FILE' has provider file but no path"):
        load_registry(edited(tmp_path, empty))


def test_provider_file_with_path_loads(tmp_path):
    reg = load_registry(edited(tmp_path, REAL_TEXT + FILE_SERIES + 'path = "data/m2.parquet"\n'))
    spec = reg.get("M2SL_FILE")
    assert (spec.provider, spec.path, spec.to_bn) == ("file", "data/m2.parquet", 1.0)
    assert [s.key for s in reg.used()][-1] == "M2SL_FILE"  # a new entry is fetched too


@pytest.mark.parametrize(
    ("key", "last", "due"),
    [
        # H.4.1: Wednesday 2026-03-25 → next Wednesday 04-01, published Thursday 04-02
        ("WALCL", dt.date(2026, 3, 25), dt.date(2026, 4, 2)),
        # reverse repo: Friday 2026-03-27 → Monday 03-30, same day
        ("RRPONTSYD", dt.date(2026, 3, 27), dt.date(2026, 3, 30)),
        # CPI: March 2026 (dated 03-01) → April 2026, out 2026-05-12 by BLS's calendar
        # (flows/release_dates/bls_cpi.csv; the old 45-day rule said Saturday 05-16)
        ("CPIAUCNS", dt.date(2026, 3, 1), dt.date(2026, 5, 12)),
        # crypto trades every day: Saturday → Sunday
        ("BTC-USD", dt.date(2026, 3, 28), dt.date(2026, 3, 29)),
    ],
)
def test_next_release_due(registry, key, last, due):
    assert registry.get(key).next_release(last) == due

"""The series registry (flows/series.toml) loaded into typed, read-only specs."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from transforms.known import ReleaseRule
from transforms.variants import TERM_NAMES, Variant

REGISTRY_PATH = Path(__file__).with_name("series.toml")
REPO_ROOT = Path(__file__).resolve().parents[1]
# fred: FRED via fredapi; yahoo: Yahoo closes via yfinance; yahoo_shares: shares outstanding
# via yfinance get_shares_full; file: a CSV/Parquet file or URL with date and value columns;
# treasury: the Daily Treasury Statement's TGA close from the fiscal-data API (flows/sources/treasury.py)
PROVIDERS = ("fred", "yahoo", "yahoo_shares", "file", "treasury")

_REQUIRED = (
    "provider", "id", "name", "native_units", "frequency", "publication_lag_days",
    "max_age_days", "max_gap_days", "valid_min", "valid_max", "release", "description",
)


@dataclass(frozen=True)
class SeriesSpec:
    key: str
    provider: str
    id: str
    name: str
    native_units: str
    frequency: str
    publication_lag_days: int
    max_age_days: int
    max_gap_days: int
    valid_min: float
    valid_max: float
    release: str
    description: str
    to_bn: float | None = None
    currency: str | None = None
    gap_check_from: dt.date | None = None
    max_change_pct: float | None = None
    max_change_abs: float | None = None
    lateness: str = "warn"
    exempt_dates: tuple[dt.date, ...] = ()
    drop_dates: tuple[dt.date, ...] = ()
    snapshot_file: str | None = None
    value_column: str | None = None
    # replay only, provider treasury: the recorded Table I files under the replay folder, read together
    replay_files: tuple[str, ...] = ()
    date_column: str | None = None  # provider "file": the date column when it is not `date`
    path: str | None = None  # provider "file": a CSV or Parquet path (relative to the repo) or URL
    # when on its release day a value becomes public: "HH:MM Area/City"; "24:00" = end of day
    release_time: str = "24:00 America/New_York"
    # documented late releases: (observation date, the date it was really released)
    release_exceptions: tuple[tuple[dt.date, dt.date], ...] = ()
    # the publisher's real release dates: a CSV (obs_date,release_date,...; "#" comment lines
    # give its sources) relative to the repository; the lag rule is the fallback outside it
    release_calendar: str | None = None
    # loaded from release_calendar (not a registry field): (observation date, release date)
    calendar_dates: tuple[tuple[dt.date, dt.date], ...] = ()

    def release_rule(self) -> ReleaseRule:
        """When each observation becomes known (see transforms.known): on its date in the
        release calendar or the exceptions, else by the lag; scheduled FRED releases falling
        on a weekend or US federal holiday move to the next business day."""
        return ReleaseRule.parse(self.release_time, lag_days=self.publication_lag_days,
                                 business_days=self.provider == "fred" or self.frequency == "business_daily",
                                 release_dates=dict(self.calendar_dates + self.release_exceptions))


    def next_release(self, last_obs: dt.date) -> dt.date:
        """When the observation after `last_obs` is due to be published: the next observation
        date of the series' frequency (weekends skipped for business and trading days), on the
        day its release rule gives (the release calendar's date, else the fallback lag)."""
        if self.frequency == "monthly":
            following = (last_obs.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        elif self.frequency == "weekly":
            following = last_obs + dt.timedelta(days=7)
        else:
            following = last_obs + dt.timedelta(days=1)
            while self.frequency != "daily" and following.weekday() >= 5:
                following += dt.timedelta(days=1)
        return self.release_rule().release_day(following)


@dataclass(frozen=True)
class Registry:
    series: dict[str, SeriesSpec]
    model: dict[str, object]
    path: Path = REGISTRY_PATH
    # [variants]: the net-liquidity formulas by name, the one the others are compared with,
    # and the overnight facilities (no row on days without an operation)
    variants: dict[str, Variant] = field(default_factory=dict)
    reference_variant: str | None = None
    overnight: frozenset[str] = frozenset()

    def get(self, key: str) -> SeriesSpec:
        try:
            return self.series[key]
        except KeyError:
            raise RegistryError(f"series {key!r} is not in the registry ({self.path})") from None

    def named(self, name: str) -> SeriesSpec:
        """The series with this `name` (names are unique; tables refer to series by name)."""
        for spec in self.series.values():
            if spec.name == name:
                return spec
        raise RegistryError(f"no series named {name!r} in the registry ({self.path})")

    def role(self, role: str) -> SeriesSpec:
        """The series that fills a model role: fed_assets, tga or rrp."""
        if role not in self.model:
            raise RegistryError(f"{self.path}: [model] names no series for {role!r}")
        return self.get(str(self.model[role]))

    def assets(self) -> list[SeriesSpec]:
        return [self.get(k) for k in self.model["assets"]]  # type: ignore[union-attr]

    def fx(self) -> dict[str, SeriesSpec]:
        """Quote currency → the series giving units of that currency per USD."""
        return {cur: self.get(key) for cur, key in dict(self.model.get("fx", {})).items()}  # type: ignore[arg-type]

    def used(self) -> list[SeriesSpec]:
        """Every series the published tables read: the liquidity terms first, then the rest
        of the registry (an entry that nothing reads is still fetched and stored)."""
        core = [self.role("fed_assets"), self.role("tga"), self.role("rrp")]
        alternatives = {str(k) for k in self.model.get("unused", [])}  # type: ignore[union-attr]
        rest = [s for s in self.series.values() if s not in core and s.key not in alternatives]
        return core + rest


class RegistryError(ValueError):
    pass


_FIELD_TYPES = {f.name: f.type for f in fields(SeriesSpec)}
_LOADED = {"key", "calendar_dates"}  # filled by the loader, never written in the registry
_DATE_LISTS = {"exempt_dates", "drop_dates"}
_TEXT_LISTS = {"replay_files"}
_NUMERIC = {"publication_lag_days", "max_age_days", "max_gap_days", "valid_min", "valid_max",
            "to_bn", "max_change_pct", "max_change_abs"}


def _check_types(path: Path, key: str, entry: dict) -> None:
    unknown = sorted(set(entry) - (set(_FIELD_TYPES) - _LOADED))
    if unknown:
        raise RegistryError(f"{path.name}: series {key!r} has unknown field(s) {', '.join(unknown)}")
    for name, value in entry.items():
        if name in _NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise RegistryError(f"{path.name}: series {key!r}: {name} must be a number, got {value!r}")
        if name == "gap_check_from" and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            raise RegistryError(f"{path.name}: series {key!r}: gap_check_from must be a TOML date, got {value!r}")
        if name in _DATE_LISTS and not (
            isinstance(value, list) and all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in value)
        ):
            raise RegistryError(f"{path.name}: series {key!r}: {name} must be a list of TOML dates, got {value!r}")
        if name == "release_exceptions":
            if not isinstance(value, dict) or not all(
                isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in value.values()):
                raise RegistryError(f"{path.name}: series {key!r}: release_exceptions must map "
                                    f"\"YYYY-MM-DD\" observation dates to TOML release dates, got {value!r}")
            continue
        if name in _TEXT_LISTS:
            if not (isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)):
                raise RegistryError(f"{path.name}: series {key!r}: {name} must be a list of file names, got {value!r}")
            continue
        if name == "lateness" and value not in ("block", "warn"):
            raise RegistryError(f"{path.name}: series {key!r}: lateness must be block or warn, got {value!r}")
        if name not in _NUMERIC | _DATE_LISTS and name != "gap_check_from" and not isinstance(value, str):
            raise RegistryError(f"{path.name}: series {key!r}: {name} must be text, got {value!r}")


def _release_exceptions(path: Path, key: str, table: dict) -> tuple[tuple[dt.date, dt.date], ...]:
    out = []
    for obs, released in table.items():
        try:
            day = dt.date.fromisoformat(obs)
        except ValueError:
            raise RegistryError(f"{path.name}: series {key!r}: release_exceptions key {obs!r} is not a date") from None
        if released < day:
            raise RegistryError(f"{path.name}: series {key!r}: release_exceptions says {obs} was released "
                                f"on {released}, before the observation date")
        out.append((day, released))
    return tuple(sorted(out))


def _release_calendar(path: Path, key: str, name: str) -> tuple[tuple[dt.date, dt.date], ...]:
    """The release calendar file `name` (relative to the repository): one row per observation
    date with the day it was really released."""
    where = f"{path.name}: series {key!r}: release_calendar {name}"
    file = Path(name) if Path(name).is_absolute() else REPO_ROOT / name
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RegistryError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    if not {"obs_date", "release_date"} <= set(rows.fieldnames or ()):
        raise RegistryError(f"{where}: needs columns obs_date and release_date, has {rows.fieldnames}")
    out: dict[dt.date, dt.date] = {}
    for row in rows:
        try:
            obs, released = dt.date.fromisoformat(row["obs_date"]), dt.date.fromisoformat(row["release_date"])
        except (TypeError, ValueError):
            raise RegistryError(f"{where}: row {row} does not hold two YYYY-MM-DD dates") from None
        if obs in out:
            raise RegistryError(f"{where}: {obs} is listed twice")
        if released < obs:
            raise RegistryError(f"{where}: says {obs} was released on {released}, before the observation date")
        out[obs] = released
    return tuple(sorted(out.items()))


def _check_fallback(path: Path, spec: SeriesSpec) -> None:
    """The lag rule stands in for the dates the calendar does not list, so it must never be
    earlier than a date the calendar knows: a month it missed would otherwise be used before
    it was public."""
    rule = spec.release_rule()
    early = [(obs, released, rule.fallback_day(obs)) for obs, released in spec.calendar_dates
             if rule.fallback_day(obs) < released]
    if early:
        obs, released, fallback = max(early, key=lambda e: (e[1] - e[2], e[0]))
        raise RegistryError(
            f"{path.name}: series {spec.key!r}: publication_lag_days {spec.publication_lag_days} is the fallback "
            f"for dates {spec.release_calendar} does not list and must never be earlier than a real release: "
            f"{len(early)} listed date(s) came later, e.g. {obs} was released on {released}, the fallback says {fallback}")


# [variants]: the settings beside the variant tables, and the fields of one variant
_VARIANT_SETTINGS = {"reference", "overnight"}
_VARIANT_FIELDS = {"terms": "a table of registry key = sign", "since": "a TOML date",
                   "source": "text", "description": "text"}


def _variants(path: Path, registry: Registry, section: object) -> Registry:
    """`registry` with the net-liquidity variants of its `[variants]` section, each checked:
    known series with a to_bn factor and a column in the variants table, signs +1 or −1."""
    where = f"{path.name}: [variants]"
    if not isinstance(section, dict):
        raise RegistryError(f"{where} must be a table")
    settings = {k: v for k, v in section.items() if not isinstance(v, dict)}
    unknown = sorted(set(settings) - _VARIANT_SETTINGS)
    if unknown:
        raise RegistryError(f"{where} has unknown setting(s) {', '.join(unknown)} (settings: "
                            f"{', '.join(sorted(_VARIANT_SETTINGS))}; a variant is a table [variants.<name>])")
    overnight = settings.get("overnight", [])
    if not isinstance(overnight, list) or not all(isinstance(k, str) for k in overnight):
        raise RegistryError(f"{where}: overnight must be a list of registry keys, got {overnight!r}")
    for key in overnight:
        registry.get(key)
    unused = {str(k) for k in registry.model.get("unused", [])}  # type: ignore[union-attr]
    variants = {}
    for name, entry in section.items():
        if not isinstance(entry, dict):
            continue
        at = f"{path.name}: variant {name!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise RegistryError(f"{at}: a variant name is snake_case (a-z, 0-9, _)")
        fields_are = f"(fields: {', '.join(f'{f} ({t})' for f, t in _VARIANT_FIELDS.items())})"
        wrong = sorted(set(entry) - set(_VARIANT_FIELDS))
        if wrong:
            raise RegistryError(f"{at} has unknown field(s) {', '.join(wrong)} {fields_are}")
        lacking = [f for f in ("terms", "since", "description") if f not in entry]
        if lacking:
            raise RegistryError(f"{at} lacks {', '.join(lacking)} {fields_are}")
        terms, since = entry["terms"], entry["since"]
        if not isinstance(terms, dict) or not terms:
            raise RegistryError(f"{at}: terms must be a non-empty table of registry key = sign, got {terms!r}")
        if not isinstance(since, dt.date) or isinstance(since, dt.datetime):
            raise RegistryError(f"{at}: since must be a TOML date, got {since!r}")
        for text in ("source", "description"):
            if not isinstance(entry.get(text, ""), str):
                raise RegistryError(f"{at}: {text} must be text, got {entry[text]!r}")
        for key, sign in terms.items():
            if key not in registry.series:
                raise RegistryError(f"{at}: term {key!r} is not a series in the registry")
            spec = registry.series[key]
            if not isinstance(sign, int) or isinstance(sign, bool) or sign not in (1, -1):
                raise RegistryError(f"{at}: term {key} has sign {sign!r}; a sign is 1 (adds) or -1 (subtracts)")
            if spec.to_bn is None:
                raise RegistryError(f"{at}: term {key} has no to_bn factor (terms are billions of USD)")
            if spec.name not in TERM_NAMES:
                raise RegistryError(f"{at}: term {key} ({spec.name}) has no column in net_liquidity_variants_daily; "
                                    f"a term is one of the series named {', '.join(TERM_NAMES)}")
            if key in unused:
                raise RegistryError(f"{at}: term {key} is listed in [model].unused and never fetched")
        variants[name] = Variant(name=name, terms=tuple((k, int(s)) for k, s in terms.items()), since=since,
                                 source=entry.get("source", ""), description=entry["description"])
    reference = settings.get("reference")
    if variants and reference not in variants:
        raise RegistryError(f"{where}: reference must name one of the variants ({', '.join(variants)}), got {reference!r}")
    return replace(registry, variants=variants, reference_variant=reference, overnight=frozenset(overnight))


def registry_path() -> Path:
    """The registry a run reads: $NETLIQ_REGISTRY when set (a user's own copy), else flows/series.toml."""
    return Path(os.environ["NETLIQ_REGISTRY"]) if os.environ.get("NETLIQ_REGISTRY") else REGISTRY_PATH


def load_registry(path: Path | None = None) -> Registry:
    path = path or registry_path()
    raw = tomllib.loads(path.read_text())
    series = {}
    for key, entry in raw.get("series", {}).items():
        missing = [f for f in _REQUIRED if f not in entry]
        if missing:
            raise RegistryError(f"{path.name}: series {key!r} lacks {', '.join(missing)}")
        if entry["provider"] not in PROVIDERS:
            raise RegistryError(f"{path.name}: series {key!r} has unknown provider {entry['provider']!r}")
        _check_types(path, key, entry)
        if "max_change_pct" not in entry and "max_change_abs" not in entry:
            raise RegistryError(f"{path.name}: series {key!r} needs max_change_pct or max_change_abs")
        if entry["provider"] == "file" and not entry.get("path"):
            raise RegistryError(f"{path.name}: series {key!r} has provider file but no path")
        entry = {k: tuple(v) if k in _DATE_LISTS | _TEXT_LISTS else v for k, v in entry.items()}
        if "release_exceptions" in entry:
            entry["release_exceptions"] = _release_exceptions(path, key, entry["release_exceptions"])
        if entry.get("release_calendar"):
            entry["calendar_dates"] = _release_calendar(path, key, entry["release_calendar"])
            listed, late = dict(entry["calendar_dates"]), dict(entry.get("release_exceptions", ()))
            differ = sorted(obs for obs in listed.keys() & late.keys() if listed[obs] != late[obs])
            if differ:
                raise RegistryError(f"{path.name}: series {key!r}: release_exceptions and {entry['release_calendar']} "
                                    f"give different release dates for {', '.join(map(str, differ))}")
        series[key] = SeriesSpec(key=key, **entry)
        try:
            series[key].release_rule()
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise RegistryError(f"{path.name}: series {key!r}: release_time {entry.get('release_time')!r}: {exc}") from None
        _check_fallback(path, series[key])
    names = [spec.name for spec in series.values()]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RegistryError(f"{path.name}: series names must be unique; repeated: {', '.join(duplicated)}")
    registry = Registry(series=series, model=raw.get("model", {}), path=path)
    for role in ("fed_assets", "tga", "rrp"):
        spec = registry.role(role)
        if spec.to_bn is None:
            raise RegistryError(f"{path.name}: {spec.key} fills {role} but has no to_bn factor")
    for spec in registry.assets():
        if spec.currency is None:
            raise RegistryError(f"{path.name}: asset {spec.key} has no currency")
    return _variants(path, registry, raw.get("variants", {}))

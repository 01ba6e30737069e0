"""The series registry (flows/series.toml) loaded into typed, read-only specs."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from transforms.known import ReleaseRule

REGISTRY_PATH = Path(__file__).with_name("series.toml")
# fred: FRED via fredapi; yahoo: Yahoo closes via yfinance; yahoo_shares: shares outstanding
# via yfinance get_shares_full; file: a CSV/Parquet file or URL with date and value columns
PROVIDERS = ("fred", "yahoo", "yahoo_shares", "file")

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
    date_column: str | None = None  # provider "file": the date column when it is not `date`
    path: str | None = None  # provider "file": a CSV or Parquet path (relative to the repo) or URL
    # when on its release day a value becomes public: "HH:MM Area/City"; "24:00" = end of day
    release_time: str = "24:00 America/New_York"
    # documented late releases: (observation date, the date it was really released)
    release_exceptions: tuple[tuple[dt.date, dt.date], ...] = ()

    def release_rule(self) -> ReleaseRule:
        """When each observation becomes known (see transforms.known): scheduled FRED releases
        falling on a weekend or US federal holiday move to the next business day."""
        return ReleaseRule.parse(self.release_time, lag_days=self.publication_lag_days,
                                 business_days=self.provider == "fred" or self.frequency == "business_daily",
                                 exceptions=dict(self.release_exceptions))


    def next_release(self, last_obs: dt.date) -> dt.date:
        """When the observation after `last_obs` is due to be published: the next observation
        date of the series' frequency plus its publication lag (weekends skipped for business
        and trading days)."""
        if self.frequency == "monthly":
            following = (last_obs.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        elif self.frequency == "weekly":
            following = last_obs + dt.timedelta(days=7)
        else:
            following = last_obs + dt.timedelta(days=1)
            while self.frequency != "daily" and following.weekday() >= 5:
                following += dt.timedelta(days=1)
        return following + dt.timedelta(days=self.publication_lag_days)


@dataclass(frozen=True)
class Registry:
    series: dict[str, SeriesSpec]
    model: dict[str, object]
    path: Path = REGISTRY_PATH

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
_DATE_LISTS = {"exempt_dates", "drop_dates"}
_NUMERIC = {"publication_lag_days", "max_age_days", "max_gap_days", "valid_min", "valid_max",
            "to_bn", "max_change_pct", "max_change_abs"}


def _check_types(path: Path, key: str, entry: dict) -> None:
    unknown = sorted(set(entry) - (set(_FIELD_TYPES) - {"key"}))
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


def load_registry(path: Path = REGISTRY_PATH) -> Registry:
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
        entry = {k: tuple(v) if k in _DATE_LISTS else v for k, v in entry.items()}
        if "release_exceptions" in entry:
            entry["release_exceptions"] = _release_exceptions(path, key, entry["release_exceptions"])
        series[key] = SeriesSpec(key=key, **entry)
        try:
            series[key].release_rule()
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise RegistryError(f"{path.name}: series {key!r}: release_time {entry.get('release_time')!r}: {exc}") from None
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
    return registry

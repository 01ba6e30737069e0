"""File/URL source: a series that no FRED or Yahoo id carries (Swiss gold exports,
central-bank gold reserves, …), from a CSV or Parquet file with a date and a value column.

Adding one is a registry entry, no code:

    [series.CH-GOLD-EXPORTS]
    provider = "file"
    path = "data/extra/swiss_gold_exports.csv"   # relative to the repository, or an http(s) URL
    id = "CH-GOLD-EXPORTS"
    ...
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from flows.registry import SeriesSpec
from flows.sources.schema import FetchResult, SourceError, conform, parse_number

REPO_ROOT = Path(__file__).resolve().parents[2]


def read_series_file(location: str | Path, series_id: str, *, date_column: str = "date",
                     value_column: str = "value") -> pl.DataFrame:
    """A CSV or Parquet with `date_column` and `value_column` → OBSERVATIONS (text kept)."""
    name = str(location)
    try:
        if name.endswith(".parquet"):
            frame = pl.read_parquet(location).with_columns(pl.all().cast(pl.String))
        else:
            frame = pl.read_csv(location, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SourceError(f"{series_id}: cannot read {name}: {exc}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in (date_column, value_column) if c not in frame.columns]
    if missing:
        raise SourceError(f"{series_id}: {name} has no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    text = frame[date_column].str.strip_chars()
    # a monthly file may date its rows "YYYY-MM" (datasets/gold-prices): the month's 1st
    text = pl.select(pl.when(text.str.contains(r"^\d{4}-\d{2}$")).then(text + "-01").otherwise(text)).to_series()
    dates = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if dates.null_count():
        bad = frame.filter(dates.is_null()).row(0)
        raise SourceError(f"{series_id}: {name}: {dates.null_count()} row(s) with a date that is not YYYY-MM-DD, e.g. {bad}")
    return conform(
        frame.select(
            pl.lit(series_id).alias("series_id"),
            dates.alias("obs_date"),
            parse_number(pl.col(value_column)).alias("value"),
            pl.col(value_column).str.strip_chars().alias("value_text"),
        ).sort("obs_date")
    )


def resolve(path: str) -> str | Path:
    if path.startswith(("http://", "https://")):
        return path
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def fetch(spec: SeriesSpec) -> FetchResult:
    if not spec.path:
        raise SourceError(f"{spec.key}: provider file needs a path in the registry")
    location = resolve(spec.path)
    if isinstance(location, Path) and not location.exists():
        raise SourceError(f"{spec.key}: not found: {location}")
    frame = read_series_file(location, spec.key, date_column=spec.date_column or "date",
                             value_column=spec.value_column or "value")
    return FetchResult(series_id=spec.key, frame=frame, metadata={"file": str(location)})

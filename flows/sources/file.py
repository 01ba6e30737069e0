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
from flows.sources.schema import BadRows, FetchResult, SourceError, conform, parse_number

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS_SHOWN = 5


def read_text_csv(path: Path | str, series_id: str) -> pl.DataFrame:
    """A CSV as text columns. A file that is empty or not a table at all is unreadable
    (SourceError); one whose rows do not fit its header is bad rows (BadRows, naming them)."""
    try:
        return pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise SourceError(f"{series_id}: {path}: the file is empty (not even a header)") from None
    except pl.exceptions.ComputeError as exc:
        ragged, rows = _ragged_lines(path) if isinstance(path, Path) else ([], 0)
        if ragged and len(ragged) == rows:  # no row fits: the header is not this file's layout
            raise SourceError(f"{series_id}: {path}: the header does not describe the rows "
                              f"(all {rows} have more fields than it)") from None
        if ragged:
            shown = "\n".join(f"    line {n}: {line}" for n, line in ragged[:ROWS_SHOWN])
            more = f"\n    … and {len(ragged) - ROWS_SHOWN} more" if len(ragged) > ROWS_SHOWN else ""
            raise BadRows(f"{series_id}: {path}: {len(ragged)} row(s) with more fields than the header:\n"
                          f"{shown}{more}", check="row_fields") from None
        raise SourceError(f"{series_id}: cannot read {path}: {str(exc).splitlines()[0]}") from None


def _ragged_lines(path: Path) -> tuple[list[tuple[int, str]], int]:
    """(line number, line) of each row with more fields than the header, and the row count."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            width = len(next(reader, []))
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error):
        return [], 0
    return [(n, ",".join(row)) for n, row in rows if len(row) > width], len(rows)


def parse_dates(frame: pl.DataFrame, column: str, where: Path | str, series_id: str) -> pl.Series:
    """ISO dates ("2026-03-31", a midnight timestamp "2026-03-31 00:00:00", or a month
    "2026-03" = its 1st); a row whose date does not parse is a bad row (BadRows)."""
    text = frame[column].str.strip_chars()
    text = pl.select(
        pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}[ T]")).then(text.str.slice(0, 10))
        .when(text.str.contains(r"^\d{4}-\d{2}$")).then(text + "-01")
        .otherwise(text)
    ).to_series()
    parsed = text.str.to_date("%Y-%m-%d", strict=False)
    bad = frame.with_row_index("line", offset=2).filter(parsed.is_null() & frame[column].is_not_null())
    if bad.height:
        shown = "\n".join(f"    line {row[0]}: " + ",".join("" if v is None else str(v) for v in row[1:])
                          for row in bad.head(ROWS_SHOWN).iter_rows())
        more = f"\n    … and {bad.height - ROWS_SHOWN} more" if bad.height > ROWS_SHOWN else ""
        raise BadRows(f"{series_id}: {where}: {bad.height} row(s) with a date that is not YYYY-MM-DD:\n{shown}{more}",
                      check="date_parses")
    return parsed


def read_series_file(location: str | Path, series_id: str, *, date_column: str = "date",
                     value_column: str = "value") -> pl.DataFrame:
    """A CSV or Parquet with `date_column` and `value_column` → OBSERVATIONS (text kept)."""
    name = str(location)
    try:
        if name.endswith(".parquet"):
            frame = pl.read_parquet(location).with_columns(pl.all().cast(pl.String))
        else:
            frame = read_text_csv(location, series_id)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SourceError(f"{series_id}: cannot read {name}: {exc}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in (date_column, value_column) if c not in frame.columns]
    if missing:
        raise SourceError(f"{series_id}: {name} has no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    # a monthly file may date its rows "YYYY-MM" (datasets/gold-prices): the month's 1st
    dates = parse_dates(frame, date_column, name, series_id)
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

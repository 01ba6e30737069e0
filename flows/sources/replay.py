"""Replay source: series read from files in a folder instead of the network.

Layout (the layout of the bundled snapshot, data/snapshot/):
  DIR/fred/<SERIES_ID>.csv    header `date,value`, or FRED's own download header
                              `observation_date,<SERIES_ID>`; FRED's `.` or an empty
                              cell means "no observation" and the row is skipped
  DIR/fred/<SERIES_ID>.json   a saved FRED API `series/observations` response (file_type=json)
  DIR/fred/<SERIES_ID>.xml    a saved ALFRED `series/observations` response with realtime
                              periods (realtime_start=1776-07-04 for the whole history):
                              replayed as vintages, so every value knows when it was published
  DIR/prices/<TICKER>.csv     Yahoo columns `Date,Open,High,Low,Close[,Adj Close][,Volume]`
  DIR/<replay_files>          provider treasury: the registry's recorded Daily Treasury Statement
                              Table I files (e.g. other/dts_…csv), read together through the
                              source's close rule (flows/sources/treasury.py)

Values are read as text first: a cell that is not a number is kept (value null,
value_text as written) so the quality gate can name it instead of the reader guessing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from flows.registry import SeriesSpec
from flows.sources import file as file_source
from flows.sources import treasury
from flows.sources.schema import FetchResult, SourceError, conform, parse_number


class NotInReplay(SourceError):
    """The replay folder has no file for this series (e.g. "not in snapshot")."""

SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "data" / "snapshot"

_FRED_MISSING = {".", ""}
_PRICE_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "value", "Volume": "volume"}


def read_fred_csv(path: Path, series_id: str) -> pl.DataFrame:
    """A FRED CSV (`date,value`, `observation_date,<ID>` or the older `DATE,<ID>`) → OBSERVATIONS,
    missing rows skipped."""
    frame = file_source.read_text_csv(path, series_id)
    if frame.columns == ["date", "value"]:
        date_col, value_col = "date", "value"
    elif frame.columns in (["observation_date", series_id], ["DATE", series_id]):
        date_col, value_col = frame.columns
    else:
        raise SourceError(
            f"{path}: expected header `date,value` or `observation_date,{series_id}`, found {','.join(frame.columns)}"
        )
    # dates first, on every line, so a bad row is named by its line in the file
    frame = frame.with_columns(pl.col(value_col).fill_null("").str.strip_chars(),
                               file_source.parse_dates(frame, date_col, path, series_id).alias("_obs_date"))
    frame = frame.filter(~pl.col(value_col).is_in(_FRED_MISSING))
    return conform(
        frame.select(
            pl.lit(series_id).alias("series_id"),
            pl.col("_obs_date").alias("obs_date"),
            parse_number(pl.col(value_col)).alias("value"),
            pl.col(value_col).alias("value_text"),
        ).sort("obs_date")
    )


def read_price_csv(path: Path, ticker: str) -> pl.DataFrame:
    """A Yahoo-layout price CSV → OBSERVATIONS (value = Close)."""
    frame = file_source.read_text_csv(path, ticker)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if "Date" not in frame.columns or "Close" not in frame.columns:
        raise SourceError(f"{path}: expected Yahoo columns Date,Open,High,Low,Close[,Adj Close][,Volume], found {','.join(frame.columns)}")
    present = {src: dst for src, dst in _PRICE_COLUMNS.items() if src in frame.columns}
    return conform(
        frame.select(
            pl.lit(ticker).alias("series_id"),
            file_source.parse_dates(frame, "Date", path, ticker).alias("obs_date"),
            *(parse_number(pl.col(src)).alias(dst) for src, dst in present.items()),
            pl.col("Close").str.strip_chars().alias("value_text"),
        ).sort("obs_date")
    )


def locate(spec: SeriesSpec, folder: Path) -> Path | None:
    """The file that holds `spec` in a replay folder, or None when the folder lacks it."""
    if spec.snapshot_file:
        candidates = [folder / spec.snapshot_file]
    elif spec.provider == "fred":
        candidates = [folder / "fred" / f"{spec.id}.{ext}" for ext in ("csv", "json", "xml")]
    else:
        candidates = [folder / "prices" / f"{spec.id}.csv"]
    return next((p for p in candidates if p.is_file()), None)


def fetch(spec: SeriesSpec, folder: Path) -> FetchResult:
    if spec.provider == "file":
        return file_source.fetch(spec)
    if spec.provider == "treasury":
        return _treasury(spec, folder)
    path = locate(spec, folder)
    if path is None:
        raise NotInReplay(f"{spec.key}: not in {folder} (looked for the {spec.provider} file of {spec.id})")
    if spec.value_column:
        frame = file_source.read_series_file(path, spec.key, date_column="date", value_column=spec.value_column)
    elif path.suffix == ".xml":
        from flows.sources.fred import current_observations, read_vintage_xml

        vintages, asked_from = read_vintage_xml(spec.id, path.read_bytes())
        return FetchResult(series_id=spec.id, frame=current_observations(vintages), metadata={"file": str(path)},
                           vintages=vintages, vintages_from=asked_from)
    elif path.suffix == ".json":
        from flows.sources.fred import normalize_json_observations

        frame = normalize_json_observations(spec.id, path.read_bytes())
    elif spec.provider == "fred":
        frame = read_fred_csv(path, spec.id)
    else:
        frame = read_price_csv(path, spec.id)
    # an empty file is returned as an empty frame: the gate's not_empty check names it
    return FetchResult(series_id=spec.id, frame=frame, metadata={"file": str(path)})


def _treasury(spec: SeriesSpec, folder: Path) -> FetchResult:
    """All of the registry's recorded statement files, or none: a folder holding only some
    would replay a history with years missing and say nothing."""
    paths = [folder / name for name in spec.replay_files]
    present = [p for p in paths if p.is_file()]
    if not present:
        raise NotInReplay(f"{spec.key}: not in {folder} (looked for {', '.join(spec.replay_files) or 'replay_files'})")
    if len(present) < len(paths):
        missing = ", ".join(str(p.relative_to(folder)) for p in paths if p not in present)
        raise SourceError(f"{spec.key}: {folder} holds only part of the recorded statements: {missing} missing")
    return treasury.read_statement_files(spec, present)


def replay_clock(frames: list[pl.DataFrame]) -> dt.date:
    """The run's clock for a replay: the newest observation date in the replayed data."""
    newest = [f["obs_date"].max() for f in frames if f.height]
    if not newest:
        raise SourceError("replay: no observations at all")
    return max(newest)  # type: ignore[type-var]

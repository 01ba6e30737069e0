"""The one normalized shape every source produces, and what a fetch returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

# One row per series per observation date. For prices `value` is the close and
# open/high/low/volume ride along; for FRED they are null. `value_text` keeps the
# source's own text so a value that does not parse can be shown, not guessed.
OBSERVATIONS = pl.Schema(
    {
        "series_id": pl.String,
        "obs_date": pl.Date,
        "value": pl.Float64,
        "value_text": pl.String,
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "volume": pl.Float64,
    }
)


# One row per observation date per vintage (FRED/ALFRED realtime period).
VINTAGES = pl.Schema(
    {
        "series_id": pl.String,
        "obs_date": pl.Date,
        "value": pl.Float64,
        "value_text": pl.String,
        "realtime_start": pl.Date,
        "realtime_end": pl.Date,
    }
)


@dataclass(frozen=True)
class FetchResult:
    series_id: str
    frame: pl.DataFrame  # OBSERVATIONS
    # Provider metadata as fetched (FRED: title, units, frequency, seasonal_adjustment,
    # last_updated). Empty for replayed files, which carry none.
    metadata: dict[str, str] = field(default_factory=dict)
    # ALFRED vintages when the source keeps them (FRED fetched with realtime periods):
    # VINTAGES rows, one per observation date per vintage that changed its value. None
    # when the source has no vintages (prices, replayed files).
    vintages: pl.DataFrame | None = None
    # The realtime_start the vintage request began at. A vintage row starting on this date
    # may have begun earlier (FRED clips realtime periods to the request); None for a
    # request over the whole realtime history (1776-07-04 on), whose starts are true.
    vintages_from: dt.date | None = None


def empty_observations() -> pl.DataFrame:
    return pl.DataFrame(schema=OBSERVATIONS)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns as nulls and order/cast to OBSERVATIONS."""
    cols = [
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in OBSERVATIONS.items()
    ]
    return frame.select(cols)


# A plain decimal number; "NaN", "inf", "#VALUE!" and the like are not observations.
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def parse_number(text: pl.Expr) -> pl.Expr:
    """Text → Float64, null where the text is not a plain number (kept aside by callers)."""
    text = text.str.strip_chars()
    return pl.when(text.str.contains(NUMBER_PATTERN)).then(text.cast(pl.Float64, strict=False))


class SourceError(RuntimeError):
    """A source could not deliver a series; the message names the series and why."""

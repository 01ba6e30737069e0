"""The revision guard: a run that rewrites stored history it had no reason to touch blocks.

Sources revise recent values (FRED re-reads a 120-day window on every live run, so that is
where revisions arrive). A run that revises values far outside that window, or a large share
of a series' history, is more likely a wrong file than a revision: another ticker's prices
saved under MSTR.csv rewrite MSTR's whole history. Such a run blocks, naming the series, the
count and the date range, until a user confirms with `netliq run --accept-revisions SERIES`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations.gate import ROWS_SHOWN, CheckResult
from flows.registry import SeriesSpec

# Revisions to more than this share of a series' stored observations need confirming.
REVISED_SHARE_MAX_PCT = 5.0


def revised_observations(stored: pl.DataFrame, incoming: pl.DataFrame) -> pl.DataFrame:
    """The observations `incoming` would change: obs_date, stored_value, new_value (both
    frames carry obs_date and value; `stored` is the current stored value per date)."""
    return (
        incoming.select("obs_date", pl.col("value").alias("new_value"))
        .join(stored.select("obs_date", pl.col("value").alias("stored_value")), on="obs_date", how="inner")
        .filter(pl.col("new_value").ne_missing(pl.col("stored_value")))
        .select("obs_date", "stored_value", "new_value")
        .sort("obs_date")
    )


def revision_check(spec: SeriesSpec, table: str, stored: pl.DataFrame, incoming: pl.DataFrame, *,
                   window_days: int, expected: tuple[dt.date, dt.date] | None = None,
                   extent: tuple[int, dt.date | None] | None = None) -> CheckResult | None:
    """A blocking failure when this run would revise `spec`'s stored history beyond what a
    source revises by itself; None when it does not.

    Two rules, either blocks: `revision_window`, a revised observation dated before the
    revision window (`window_days` before the newest stored observation; a backfill's own
    range, `expected`, counts as inside); `revision_share`, more than REVISED_SHARE_MAX_PCT
    of the stored observations revised. `extent` (how many observations are stored, the
    newest's date) lets `stored` be only the stored values from `incoming`'s first date on;
    without it `stored` is every stored observation."""
    rows, last = extent if extent is not None else (stored.height, stored["obs_date"].max() if stored.height else None)
    if rows == 0 or stored.height == 0:
        return None
    revised = revised_observations(stored, incoming)
    if revised.height == 0:
        return None
    window_start = last - dt.timedelta(days=window_days)  # type: ignore[operator]
    outside = revised.filter(pl.col("obs_date") < window_start)
    if expected:
        outside = outside.filter(~pl.col("obs_date").is_between(*expected))
    share_pct = 100 * revised.height / rows
    if outside.height == 0 and share_pct <= REVISED_SHARE_MAX_PCT:
        return None
    check = "revision_window" if outside.height else "revision_share"
    first, last = revised["obs_date"].min(), revised["obs_date"].max()
    shown = outside if outside.height else revised
    return CheckResult(
        table=table,
        check=check,
        success=False,
        blocking=True,
        expectation=f"revisions only from {window_start} on (the {window_days}-day revision window) and to at "
                    f"most {REVISED_SHARE_MAX_PCT:g} % of the stored observations, unless confirmed",
        observed=f"this run revises {revised.height} of {rows} stored observations of {spec.key} "
                 f"({share_pct:.1f} %) dated {first} to {last}, {outside.height} of them before {window_start}. "
                 f"If the source really revised them: netliq run … --accept-revisions {spec.key}",
        rows=tuple(shown.head(ROWS_SHOWN).to_dicts()),
        unexpected_count=shown.height,
    )

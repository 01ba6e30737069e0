"""What a run checks of a series it already stores: the rows that are new or changed, and
never again the years of history that already passed the same checks.

The raw-input suite (expectations/suites.py, raw_input_suite) judges each row on its own,
except that the gap and jump checks read the row before it, unique_key reads every date, and
freshness reads the newest row. So once the stored history passed the suite, a run reaches
the same verdicts by checking the rows from the first one that differs from what is stored
(warehouse.db.first_differences: new, changed, or a stored date the source no longer has) to
the newest, plus the row before them, so the first new row's gap and jump are measured from
the stored history. When nothing differs it checks the newest row alone, and only with the
checks that read the run's clock (freshness): every other check of that row passed when it was
stored, by this same suite, and a row on its own has no gap, jump or duplicate to find.

It checks the whole frame instead when
- the source delivered a date twice (unique_key must see every row);
- the stored history was not last checked by this same suite: nothing is stored yet, a
  warehouse from before this rule, or a registry entry or a check that changed since.
  Each run that stores a series records the suite's fingerprint with its metadata
  (warehouse.db.CHECKED_WITH), so a tightened limit re-checks all of it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator

import polars as pl

from expectations import suites
from expectations.gate import Suite, on_the_clock
from expectations.suites_raw_batch import batch_frame, batch_suite, looks_failing
from flows.sources.schema import OBSERVATIONS
from flows.registry import SeriesSpec
from warehouse import db

# Any date: the clock enters the suite only through its derived columns (age_days), never
# through a check's configuration, so it does not belong in the fingerprint.
_ANY_CLOCK = dt.date(2000, 1, 1)
# Rows per batched check (expectations/suites_raw_batch.py): GE validates a pandas copy, so a
# first run of 1,000 series of 25 years is checked in parts of about this size.
BATCH_ROWS = 1_000_000


def suite_fingerprint(spec: SeriesSpec) -> str:
    """The raw-input suite of `spec` as checked: its registry entry and each check's name,
    blocking flag and configuration."""
    suite = suites.raw_input_suite(spec, _ANY_CLOCK)
    checks = [(c.name, c.blocking, described(c.expectation)) for c in suite.checks]
    text = json.dumps([repr(spec), checks], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def described(expectation) -> str:
    """A check's type and arguments as canonical JSON (a declared expectation says so itself)."""
    fingerprint = getattr(expectation, "fingerprint", None)
    if callable(fingerprint):
        return fingerprint()
    return json.dumps(expectation.configuration.to_json_dict(), sort_keys=True, default=str)


def rows_to_check(con, spec: SeriesSpec, frame: pl.DataFrame, fingerprint: str) -> pl.DataFrame:
    """The rows of `frame` (what this run would store of `spec`) that the raw-input suite
    must see for the verdict it would give on the whole frame (module docstring)."""
    return all_rows_to_check(con, [spec], {spec.key: frame}, {spec.key: fingerprint})[0][spec.key]


def all_rows_to_check(con, specs: list[SeriesSpec], frames: dict[str, pl.DataFrame], fingerprints: dict[str, str]
                      ) -> tuple[dict[str, pl.DataFrame], set[str]]:
    """rows_to_check of every series in `specs`, with one query to raw for all of them; and
    the series whose rows are all stored as sent (their newest row is checked only on the
    clock: `suite_for`)."""
    recorded = db.checked_with(con)
    out, known = {}, []
    for spec in specs:
        frame = frames[spec.key]
        same_suite = recorded.get(spec.key) == fingerprints[spec.key]
        if frame.height == 0 or frame["obs_date"].is_duplicated().any() or not same_suite:
            out[spec.key] = frame
        else:
            known.append(spec.key)
    ordered = {key: frames[key].sort("obs_date") for key in known}
    firsts = db.first_differences(con, pl.concat([ordered[k].select(OBSERVATIONS.names()) for k in known])
                                  ) if known else {}
    unchanged = set()
    for key in known:
        first = firsts.get(key)
        if first is None:
            out[key] = ordered[key].tail(1)
            unchanged.add(key)
        else:
            start = max(ordered[key]["obs_date"].search_sorted(first, side="left") - 1, 0)
            out[key] = ordered[key].slice(start)
    return out, unchanged


def suite_for(spec: SeriesSpec, clock: dt.date, unchanged: set[str]) -> tuple[Suite, int]:
    """The raw-input suite a run validates `spec`'s rows to check with, and how many of its
    checks pass without being run: for a series stored as sent, its checks on the clock only
    (the others passed when its newest row was stored; module docstring)."""
    suite = suites.raw_input_suite(spec, clock)
    if spec.key not in unchanged:
        return suite, 0
    clocked = on_the_clock(suite)
    return clocked, len(suite.checks) - len(clocked.checks)


def batches(specs: list[SeriesSpec], frames: dict[str, pl.DataFrame], clock: dt.date
            ) -> Iterator[tuple[list[SeriesSpec], Suite, pl.DataFrame]]:
    """Parts of about BATCH_ROWS rows for the batched suite: (series, suite, frame) each.
    A series is in no part, so its own suite checks it, when its frame has another shape
    than OBSERVATIONS or a row of it looks past a limit (suites_raw_batch.looks_failing):
    then its failure is reported as its own suite reports it, and the rest still batch.
    Only GE's verdict counts: a part that fails is checked series by series as well."""
    fit = [s for s in specs if frames[s.key].height and frames[s.key].schema == OBSERVATIONS]
    parts, part, rows = [], [], 0
    for spec in fit:
        part.append(spec)
        rows += frames[spec.key].height
        if rows >= BATCH_ROWS:
            parts.append(part)
            part, rows = [], 0
    if part:
        parts.append(part)
    for part in parts:
        frame = batch_frame(part, frames, clock)
        suspect = set(frame.filter(looks_failing()).get_column("series_id").unique().to_list())
        clean = [s for s in part if s.key not in suspect]
        if clean:
            yield clean, batch_suite(), frame.filter(~pl.col("series_id").is_in(sorted(suspect)))

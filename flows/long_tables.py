"""The long tables, `series_observations` and `revisions`: each run rebuilds only the
observation dates raw stored a row for since the current version's were built.

Both hold rows of every stored series, 9 million at 1,000 series of 25 years, and a row of
either is a function of one series' registry entry, the code, and raw's rows of that series
for that observation date alone (transforms/known.py: when a value became known reads the
rows of its own observation; transforms/observations.py and `pit.revisions` read nothing
else). Raw only grows. So when a version's long tables were built from raw as it stood, a
later build gives the same rows for every observation date that no row was stored for since,
and only the dates from the earliest new one on need building again.

A version whose long tables a run built records, per series, its entry's fingerprint and how
many rows raw held of it and the newest fetch among them (`ops.long_table_builds`). The next
run, while that version is still the current one, keeps the version's rows of a series

- all of them, when raw stored nothing of it since;
- those dated before the earliest observation of its rows stored since, and builds the rest;

and builds every row of a series that has no record, a changed entry or changed code, or
whose rows fetched by the recorded time are not the number recorded (a row stored with an
earlier fetch time than the newest then). Without a record for the current version (a first
run, a rollback, a version that held series_observations back) it builds every row: the
rows kept and built are then exactly those of a build from all stored rows, which
tests/test_long_tables.py holds it to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import polars as pl

from flows import same_inputs
from flows.registry import SeriesSpec
from flows.tables import observations_of
from transforms import known as pit
from transforms.catalog import TABLES
from warehouse import db

# a series whose every row is built (an observation date before any there is)
EVERY_ROW = dt.date.min
# a series kept whole: its rows are kept up to this date, exclusive (after any there is)
_KEEP_ALL = dt.date.max


@dataclass(frozen=True)
class Plan:
    """What a run builds of the long tables. `since`: per stored series, None when the current
    version's rows of it stand, else the first observation date to build (EVERY_ROW: all).
    `version`: the version whose rows are kept (None: nothing kept). `watermarks` and
    `entries`: what the run records if it publishes (or confirms) a version built so."""

    since: dict[str, dt.date | None]
    version: int | None
    watermarks: dict[str, tuple[int, dt.datetime]]
    entries: dict[str, str]

    def built_rows_from(self) -> dict[str, dt.date]:
        return {key: first for key, first in self.since.items() if first is not None}


def entry_fingerprint(spec: SeriesSpec) -> str:
    """A series' registry entry and the code that builds its rows (flows/same_inputs.py)."""
    text = json.dumps([same_inputs.code_fingerprint(), dataclasses.asdict(spec)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan(con, used: list[SeriesSpec], current_version: int | None) -> Plan:
    """Per stored series of `used`, what of it to build (module docstring)."""
    watermarks = db.raw_watermarks(con, [spec.key for spec in used])
    entries = {spec.key: entry_fingerprint(spec) for spec in used if spec.key in watermarks}
    record = db.long_tables_record(con) if current_version is not None else {}
    standing = {key: rec for key, rec in record.items()
                if key in entries and rec[0] == current_version and rec[1] == entries[key]}
    since_record = db.rows_stored_since(con, {key: rec[3] for key, rec in standing.items()})
    since: dict[str, dt.date | None] = {}
    for key in entries:
        rec = standing.get(key)
        counted, first_new = since_record.get(key, (0, None))
        since[key] = first_new if rec is not None and counted == rec[2] else EVERY_ROW
    kept = any(first != EVERY_ROW for first in since.values())
    return Plan(since, current_version if kept else None, watermarks, entries)


def build(con, plan: Plan, specs: dict[str, SeriesSpec], known: dict[str, pl.DataFrame]
          ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """series_observations and revisions: the kept rows of `plan.version` and the rows built
    from raw. `known`: transforms.known's rows of the series the run already read whole (the
    model tables' inputs); the others' rows are read from their first date to build."""
    todo = plan.built_rows_from()
    histories = db.observation_histories_from(con, {k: d for k, d in todo.items() if k not in known})
    rows = {key: pit.known_rows(history, specs[key].release_rule()) for key, history in histories.items()}
    rows.update({key: known[key].filter(pl.col("obs_date") >= first) for key, first in todo.items() if key in known})
    rows = {key: rows[key] for key in todo}  # the plan's order: deterministic frames
    new_observations = observations_of({key: pit.current(r) for key, r in rows.items() if r.height}, specs)
    new_revisions = revisions_of(rows)
    if plan.version is None:
        return new_observations, new_revisions
    keep = pl.DataFrame({"series_id": list(plan.since),
                         "before": [_KEEP_ALL if first is None else first for first in plan.since.values()]},
                        schema={"series_id": pl.String, "before": pl.Date}).filter(pl.col("before") != EVERY_ROW)
    return (_with_kept(con, "series_observations", keep, new_observations, ("series_id", "obs_date")),
            _with_kept(con, "revisions", keep, new_revisions, ("known_at_utc", "series_id", "obs_date")))


def _with_kept(con, name: str, keep: pl.DataFrame, built: pl.DataFrame, order: tuple[str, ...]) -> pl.DataFrame:
    """Table `name`'s rows of the current version that `keep` keeps (per series, those dated
    before its date), with `built`, in the table's order and types."""
    spec = TABLES[name]
    con.register("_keep", keep)
    con.register("_built", built.select(spec.schema.names()))
    try:
        out = con.sql(f"""
            SELECT m.* FROM marts."{name}" m JOIN _keep k ON m.series_id = k.series_id AND m.obs_date < k.before
            UNION ALL SELECT * FROM _built ORDER BY {", ".join(order)}""").pl()
    finally:
        con.unregister("_keep")
        con.unregister("_built")
    return out.select(spec.schema.names()).cast(dict(spec.schema))


def revisions_of(known: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The `revisions` table from the point-in-time rows of each series in `known`."""
    frames = [pit.revisions(rows).with_columns(pl.lit(key).alias("series_id")) for key, rows in known.items()]
    spec = TABLES["revisions"]
    if not frames:
        return pl.DataFrame(schema=spec.schema)
    out = pl.concat(frames).rename({"fetched_at_utc": "revised_at_utc"})
    return out.select(spec.schema.names()).cast(dict(spec.schema)).sort("known_at_utc", "series_id", "obs_date")


def record(con, plan: Plan, version: int) -> None:
    """Version `version`'s long tables are the ones this plan built: the next run builds
    from there. Best effort, as db.record_build: without it the next run builds every row."""
    db.record_long_tables(con, version, {key: (plan.entries[key], *plan.watermarks[key]) for key in plan.entries})

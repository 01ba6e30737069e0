"""Every SQL statement and DuckDB connection of netliq.

Two files live in the data directory:
  warehouse.duckdb  the working warehouse (raw, staging, history, marts, ops); only the
                    pipeline opens it.
  netliq.duckdb     the published file: the current version of every published table and
                    the publish log, in the default schema. It is never written in place:
                    each publish writes a new file beside it and renames it over the old one,
                    so a reader holding it open keeps a consistent view and never blocks a run.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from warehouse import faults
from warehouse.migrations import MIGRATIONS

WAREHOUSE_FILE = "warehouse.duckdb"
PUBLISHED_FILE = "netliq.duckdb"
# What `netliq status` and `netliq versions` read while a run holds the warehouse: the ops
# tables as the pipeline's last connection left them, rewritten (and swapped in) at every close.
STATUS_FILE = "status.duckdb"
# The published file is written in a storage format older DuckDB clients (BI drivers
# lag the Python package) can read.
PUBLISHED_STORAGE_VERSION = "v1.0.0"


class WarehouseError(RuntimeError):
    pass


class DiskFull(WarehouseError):
    """A write found no space left: what was committed before stays, the published file keeps
    its complete version, and the next run after space is freed carries on."""

    def __init__(self, root: Path):
        published = published_path(root)
        # a publish writes a new copy of the published file beside it, and history grows a little
        need_mb = (published.stat().st_size if published.exists() else 0) / 2**20 + 16
        super().__init__(f"no space left on {root} (need about {need_mb:.0f} MB free): free some space and run "
                         "again; the published file is unchanged, and the next run carries on")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (an OSError, or DuckDB's error after a failed write or checkpoint) is a full disk."""
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in str(exc)


def is_damaged(exc: BaseException, path: Path) -> bool:
    """Whether DuckDB failed reading the database file itself (not a full disk, not a query)."""
    text = str(exc)
    if is_disk_full(exc):
        return False
    return isinstance(exc, duckdb.IOException) and str(path) in text or "corrupt" in text.lower()


class WarehouseBusy(WarehouseError):
    """A run holds the warehouse (DuckDB lets one process write, and nobody else read)."""


# What DuckDB raises, for callers that must not import duckdb themselves.
DatabaseError = duckdb.Error


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("NETLIQ_DATA_DIR") or "data").resolve()


def published_path(root: Path) -> Path:
    return root / PUBLISHED_FILE


def as_of_path(root: Path, day: dt.date) -> Path:
    """Where `netliq run --as-of DAY` writes its rebuild."""
    return root / "as_of" / f"netliq-as-of-{day.isoformat()}.duckdb"


@contextmanager
def connect(root: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working warehouse, migrated. A write connection saves the status file (what
    `netliq status` shows while a run holds the warehouse) when it closes."""
    path = root / WAREHOUSE_FILE
    if not read_only:
        root.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        check_not_lost(root)
        raise WarehouseError(f"no warehouse at {path}: run `netliq run` first")
    con = _open(path, read_only)
    try:
        if not read_only:
            _migrate(con)
        yield con
    except duckdb.Error as exc:
        # a file that opens but cannot be read (cut short, overwritten): say what to do
        if is_damaged(exc, path):
            raise WarehouseError(f"the warehouse {path} is damaged ({str(exc).splitlines()[0]}): `netliq rebuild` "
                                 "restores it from the raw/ and history/ files beside it") from None
        raise
    finally:
        try:
            if not read_only:
                save_status(con, root)
        finally:
            con.close()


def check_not_lost(root: Path) -> None:
    """A published file without its warehouse: starting again would publish version 1 over it."""
    published = published_path(root)
    if published.exists() and not (root / WAREHOUSE_FILE).exists():
        raise WarehouseError(f"{root / WAREHOUSE_FILE} is missing but {published} exists: run `netliq rebuild` "
                             "to restore it (with the same version numbers) from the raw/ and history/ files "
                             "beside it; not starting again at version 1")


def check_usable(root: Path) -> None:
    """Before a run starts anything: the warehouse opens (or is new), else a WarehouseError saying
    what to do. A lock held by a reader for a moment is not a problem: the run waits it out."""
    check_not_lost(root)
    if (root / WAREHOUSE_FILE).exists():
        try:
            _open(root / WAREHOUSE_FILE, read_only=True).close()
        except WarehouseBusy:
            pass


# A reader (`netliq status`) holds the warehouse for milliseconds; the run lock already keeps
# a second writer out, so a writer that meets a lock waits for the reader rather than failing.
_WRITER_WAITS_S = 15.0


# DuckDB's buffer pool takes up to 80 % of the machine's memory by default; the warehouse's
# work (staging, history diffs, checksums) spills to disk beyond this instead. NETLIQ_DUCKDB_MEMORY
# sets another limit (DuckDB's syntax: "4GB", "512MB").
DEFAULT_MEMORY_LIMIT = "1GB"


def memory_limit(env: Mapping[str, str] = os.environ) -> str:
    return env.get("NETLIQ_DUCKDB_MEMORY", "").strip() or DEFAULT_MEMORY_LIMIT


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + (0 if read_only else _WRITER_WAITS_S)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit()})
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            if "lock" not in first.lower():
                raise WarehouseError(f"cannot open the warehouse {path} ({first}): if it is damaged, "
                                     "`netliq rebuild` restores it from the raw/ and history/ files beside it") from None
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"{path} is in use by a netliq run ({first})") from None
        time.sleep(0.2)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute("CREATE TABLE IF NOT EXISTS ops.migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    applied = {row[0] for row in con.execute("SELECT name FROM ops.migrations").fetchall()}
    for name, sql in MIGRATIONS:
        if name in applied:
            continue
        con.execute("BEGIN")
        try:
            if callable(sql):
                sql(con)
            else:
                con.execute(sql)
            con.execute("INSERT INTO ops.migrations VALUES (?, now())", [name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


# ------------------------------------------------------------------ raw


# Which stored row of an observation is the newest: the latest fetch; within one fetch of
# vintages, the latest vintage.
_NEWEST = "fetched_at DESC, realtime_start DESC NULLS LAST, value_text"


def observation_history(con: duckdb.DuckDBPyConnection, series_id: str) -> pl.DataFrame:
    """Every stored row of one series, oldest first per observation date: the values it had
    and when each was recorded (`fetched_at_utc`) or, for ALFRED vintages, from when it was
    valid (`realtime_start`). The point-in-time layer (transforms.known) turns this into
    when each value became known."""
    return _query(
        con,
        """
        SELECT series_id, obs_date, value, value_text, open, high, low, volume, realtime_start,
               CAST(timezone('UTC', fetched_at) AS TIMESTAMP) AS fetched_at_utc,
               run_id
        FROM raw.observations WHERE series_id = ?
        ORDER BY obs_date, fetched_at, realtime_start NULLS FIRST, value_text DESC  -- the reverse of _NEWEST
        """,
        [series_id],
    )


def observation_histories(con: duckdb.DuckDBPyConnection, series_ids: list[str]) -> dict[str, pl.DataFrame]:
    """observation_history of many series, read in one query."""
    return observation_histories_from(con, dict.fromkeys(series_ids, dt.date.min))


def observation_histories_from(con, since: dict[str, dt.date]) -> dict[str, pl.DataFrame]:
    """observation_histories of each series of `since`, only its observations dated from
    that date on (every stored row of each), in one query."""
    if not since:
        return {}
    asked = pl.DataFrame({"series_id": list(since), "since": list(since.values())},
                         schema={"series_id": pl.String, "since": pl.Date})
    con.register("_since", asked)
    try:
        frame = _query(con, """
            SELECT o.series_id, obs_date, value, value_text, open, high, low, volume, realtime_start,
                   CAST(timezone('UTC', fetched_at) AS TIMESTAMP) AS fetched_at_utc, run_id
            FROM raw.observations o JOIN _since s ON o.series_id = s.series_id AND o.obs_date >= s.since
            ORDER BY o.series_id, obs_date, fetched_at, realtime_start NULLS FIRST, value_text DESC""")
    finally:
        con.unregister("_since")
    parts = frame.partition_by("series_id", as_dict=True, maintain_order=True)
    empty = frame.clear()
    return {key: parts.get((key,), empty) for key in since}


def current_values(con: duckdb.DuckDBPyConnection, series_id: str) -> pl.DataFrame:
    """The newest stored value of each observation of one series: obs_date, value."""
    return _query(
        con,
        f"""
        SELECT obs_date, value FROM raw.observations WHERE series_id = ?
        QUALIFY row_number() OVER (PARTITION BY obs_date ORDER BY {_NEWEST}) = 1
        ORDER BY obs_date
        """,
        [series_id],
    )


def current_values_from(con: duckdb.DuckDBPyConnection, since: dict[str, dt.date]
                        ) -> tuple[dict[str, pl.DataFrame], dict[str, tuple[int, dt.date | None]]]:
    """For many series in one query each: current_values from each series' date in `since` on,
    and each series' extent (how many observations it stores, the newest's date)."""
    if not since:
        return {}, {}
    asked = pl.DataFrame({"series_id": list(since), "since": list(since.values())},
                         schema={"series_id": pl.String, "since": pl.Date})
    con.register("_since", asked)
    try:
        values = _query(con, f"""
            SELECT o.series_id, o.obs_date, o.value FROM raw.observations o JOIN _since s
              ON o.series_id = s.series_id AND o.obs_date >= s.since
            QUALIFY row_number() OVER (PARTITION BY o.series_id, o.obs_date ORDER BY {_NEWEST}) = 1
            ORDER BY o.series_id, o.obs_date""")
        extents = con.execute("""
            SELECT series_id, count(DISTINCT obs_date), max(obs_date) FROM raw.observations
            WHERE series_id IN (SELECT series_id FROM _since) GROUP BY series_id""").fetchall()
    finally:
        con.unregister("_since")
    parts = {key: frame.drop("series_id") for (key,), frame in values.partition_by("series_id", as_dict=True).items()}
    empty = pl.DataFrame(schema={"obs_date": pl.Date, "value": pl.Float64})
    found = {key: (n, last) for key, n, last in extents}
    return {key: parts.get(key, empty) for key in since}, {key: found.get(key, (0, None)) for key in since}


def last_realtime_start(con: duckdb.DuckDBPyConnection, series_id: str) -> dt.date | None:
    """The newest ALFRED vintage stored for a series (None: never fetched with vintages)."""
    return con.execute("SELECT max(realtime_start) FROM raw.observations WHERE series_id = ?",
                       [series_id]).fetchall()[0][0]


def last_observation_date(con: duckdb.DuckDBPyConnection, series_id: str) -> dt.date | None:
    return con.execute("SELECT max(obs_date) FROM raw.observations WHERE series_id = ?", [series_id]).fetchall()[0][0]


def append_observations(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, source: str, fetched_at: dt.datetime, run_id: str
) -> int:
    """Append the rows that are new or differ from the stored latest value; returns how many.

    Raw is append-only: a revised value is a new row, and the same input twice adds nothing.
    A row differs when its number (or, for text that is not a number, its text) or its
    open/high/low/volume differs: a new format of the same number is not a revision.
    """
    return _insert_counted(
        con, frame,
        f"""
            INSERT INTO raw.observations
            SELECT ?, i.series_id, i.obs_date, i.value, i.value_text, i.open, i.high, i.low, i.volume,
                   NULL, NULL, ?, ?
            FROM incoming i
            LEFT JOIN (
                SELECT series_id, obs_date, value, value_text, open, high, low, volume FROM raw.observations
                WHERE series_id IN (SELECT DISTINCT series_id FROM incoming)
                  -- only the stored rows the incoming ones can meet, not the whole history
                  AND obs_date >= (SELECT min(obs_date) FROM incoming)
                QUALIFY row_number() OVER (PARTITION BY series_id, obs_date ORDER BY {_NEWEST}) = 1
            ) cur USING (series_id, obs_date)
            -- a revision is a different number; FRED re-formatting the same number
            -- ("6748567" / "6748567.0000000000", both seen in one real response) is not
            WHERE cur.obs_date IS NULL
               OR cur.value IS DISTINCT FROM i.value
               OR (i.value IS NULL AND cur.value_text IS DISTINCT FROM i.value_text)
               OR cur.open IS DISTINCT FROM i.open OR cur.high IS DISTINCT FROM i.high
               OR cur.low IS DISTINCT FROM i.low OR cur.volume IS DISTINCT FROM i.volume
            """,
        [source, fetched_at, run_id],
    )


def append_observations_of(
    con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame], *, source: str, fetched_at: dt.datetime,
    run_id: str,
) -> dict[str, int]:
    """append_observations of many series in one INSERT (a run of 1,000 series makes one, not
    1,000); returns the rows added per series (0 for a series with nothing new)."""
    frames = {key: frame for key, frame in frames.items() if frame.height}
    if not frames:
        return {}
    append_observations(con, pl.concat([f.select(_OBSERVATION_COLUMNS) for f in frames.values()], how="vertical_relaxed"),
                        source=source, fetched_at=fetched_at, run_id=run_id)
    added = dict(con.execute(
        "SELECT series_id, count(*) FROM raw.observations WHERE run_id = ? AND fetched_at = ? AND source = ? "
        "GROUP BY series_id", [run_id, fetched_at, source]).fetchall())
    return {key: added.get(key, 0) for key in frames}


def record_metadata_of(con, records: list[tuple[str, str, dict]], *, fetched_at: dt.datetime, run_id: str) -> None:
    """Record the metadata each series was fetched with, (series_id, source, metadata) each, in one INSERT."""
    if not records:
        return
    frame = pl.DataFrame({"series_id": [r[0] for r in records], "source": [r[1] for r in records],
                          "metadata": [json.dumps(r[2], sort_keys=True) for r in records]},
                         schema={"series_id": pl.String, "source": pl.String, "metadata": pl.String})
    con.register("_metadata", frame)
    try:
        con.execute("INSERT INTO raw.series_metadata SELECT series_id, source, metadata, ?, ? FROM _metadata",
                    [fetched_at, run_id])
    finally:
        con.unregister("_metadata")


_OBSERVATION_COLUMNS = ["series_id", "obs_date", "value", "value_text", "open", "high", "low", "volume"]


def first_differences(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> dict[str, dt.date]:
    """Per series of `frame` (OBSERVATIONS, many series), the earliest observation date at
    which it differs from what raw stores: a row new or changed by append_observations' rule,
    or a stored observation dated within that series' range in the frame that the frame
    lacks. A series absent from the answer is, over its dates, exactly what is stored. One
    query; reads only the stored rows from each series' first date in the frame."""
    if frame.height == 0:
        return {}
    con.register("incoming", frame.select(_OBSERVATION_COLUMNS))
    try:
        rows = con.execute(
            f"""
            WITH since AS (SELECT series_id, min(obs_date) AS first_date FROM incoming GROUP BY series_id),
            cur AS (
                SELECT * FROM (
                    SELECT o.* FROM raw.observations o
                    JOIN since s ON o.series_id = s.series_id AND o.obs_date >= s.first_date
                )
                QUALIFY row_number() OVER (PARTITION BY series_id, obs_date ORDER BY {_NEWEST}) = 1
            )
            SELECT series_id, min(obs_date) FROM incoming i FULL OUTER JOIN cur USING (series_id, obs_date)
            WHERE i.obs_date IS NULL OR cur.obs_date IS NULL
               OR cur.value IS DISTINCT FROM i.value
               OR (i.value IS NULL AND cur.value_text IS DISTINCT FROM i.value_text)
               OR cur.open IS DISTINCT FROM i.open OR cur.high IS DISTINCT FROM i.high
               OR cur.low IS DISTINCT FROM i.low OR cur.volume IS DISTINCT FROM i.volume
            GROUP BY series_id
            """
        ).fetchall()
    finally:
        con.unregister("incoming")
    return dict(rows)


def append_vintages(
    con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, source: str, fetched_at: dt.datetime, run_id: str
) -> int:
    """Append ALFRED vintages (VINTAGES rows) that are new; returns how many.

    A vintage is stored when its value differs from the one before it: the newest stored
    value of that observation, then the incoming vintages in realtime order. So a row that
    only continues a stored value (FRED clips realtime periods to the request, so every
    incremental request repeats the current values) adds nothing, and the same response
    twice adds nothing.
    """
    if frame.height == 0:
        return 0
    return _insert_counted(
        con, frame,
        f"""
            INSERT INTO raw.observations
            SELECT ?, series_id, obs_date, value, value_text, NULL, NULL, NULL, NULL,
                   realtime_start, realtime_end, ?, ?
            FROM (
                SELECT *, lag(value) OVER w AS prev_value, lag(value_text) OVER w AS prev_text,
                       lag(obs_date) OVER w AS prev_date
                FROM (
                    SELECT series_id, obs_date, value, value_text, NULL::DATE AS realtime_start,
                           NULL::DATE AS realtime_end, 0 AS incoming
                    FROM raw.observations
                    WHERE series_id IN (SELECT DISTINCT series_id FROM incoming)
                    QUALIFY row_number() OVER (PARTITION BY series_id, obs_date ORDER BY {_NEWEST}) = 1
                    UNION ALL
                    SELECT series_id, obs_date, value, value_text, realtime_start, realtime_end, 1 FROM incoming
                )
                WINDOW w AS (PARTITION BY series_id, obs_date ORDER BY incoming, realtime_start)
            )
            WHERE incoming = 1
              AND (prev_date IS NULL OR prev_value IS DISTINCT FROM value
                   OR (value IS NULL AND prev_text IS DISTINCT FROM value_text))
            """,
        [source, fetched_at, run_id],
    )


def _insert_counted(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, sql: str, params: list) -> int:
    """Run one INSERT into raw.observations reading `frame` as the view `incoming`, in its
    own transaction; returns the rows it added."""
    con.register("incoming", frame)
    try:
        con.execute("BEGIN")
        before = con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0]
        con.execute(sql, params)
        added = con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0] - before
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("incoming")
    return added


# The key under which a run records, with a series' metadata, the fingerprint of the
# raw-input suite its stored history passed (flows/incremental.py).
CHECKED_WITH = "netliq_checked_with"


def checked_with(con) -> dict[str, str]:
    """Per series, the suite fingerprint recorded by the newest run that stored it (one query)."""
    rows = con.execute(
        "SELECT series_id, arg_max(json_extract_string(metadata, ?), fetched_at) FROM raw.series_metadata "
        "GROUP BY series_id", [f"$.{CHECKED_WITH}"]).fetchall()
    return {key: fingerprint for key, fingerprint in rows if fingerprint is not None}


def last_metadata(con, series_id: str) -> dict | None:
    row = con.execute(
        "SELECT metadata FROM raw.series_metadata WHERE series_id = ? AND source <> 'replay' "
        "ORDER BY fetched_at DESC LIMIT 1",
        [series_id],
    ).fetchall()
    return json.loads(row[0][0]) if row else None


def series_freshness(con) -> pl.DataFrame:
    return _query(
        con,
        """
        SELECT series_id, max(obs_date) AS last_obs_date, max(fetched_at) AS last_fetched_at,
               count(DISTINCT obs_date) AS observations
        FROM raw.observations GROUP BY series_id ORDER BY series_id
        """
    )


# ------------------------------------------------------------------ the copy outside the warehouse
#
# Everything committed is also written, once, into immutable Parquet files beside the
# warehouse, so a damaged or deleted warehouse.duckdb can be rebuilt (`netliq rebuild`):
#   raw/<run_id>.parquet, raw/<run_id>.metadata.parquet  the rows one run appended to raw
#   history/<version>/publish.parquet                   the version's ops.publishes row
#   history/<version>/<table>.added.parquet             rows that start at that version
#   history/<version>/<table>.ended.parquet             row_md5 of rows that end there
# Each file (each version folder) is written beside its final name and renamed into place.

RAW_DIR = "raw"
HISTORY_DIR = "history"


def _copy(con, sql: str, path: Path, params: list) -> None:
    con.execute(f"COPY ({sql}) TO {_sql_str(str(path))} (FORMAT parquet)", params)


def _raw_file(root: Path, run_id: str) -> Path:
    return root / RAW_DIR / f"{run_id.replace('/', '_')}.parquet"


def export_raw(con, root: Path, run_id: str) -> None:
    """The raw rows and series metadata a run appended, as its two immutable files."""
    final = _raw_file(root, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    for table, path in (("raw.series_metadata", final.with_suffix(".metadata.parquet")), ("raw.observations", final)):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        _copy(con, f"SELECT * FROM {table} WHERE run_id = ?", tmp, [run_id])
        os.replace(tmp, path)


def export_version(con, root: Path, version: int) -> None:
    """One published version's change to history, as an immutable folder."""
    final = root / HISTORY_DIR / f"{version:06d}"
    if final.is_dir():
        return  # written already: the files are immutable
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _copy(con, "SELECT * FROM ops.publishes WHERE version = ?", tmp / "publish.parquet", [version])
    row_counts = con.execute("SELECT row_counts FROM ops.publishes WHERE version = ?", [version]).fetchall()[0][0]
    for name in json.loads(row_counts):
        _copy(con, f'SELECT * EXCLUDE (valid_from, valid_to) FROM history."{name}" WHERE valid_from = ?',
              tmp / f"{name}.added.parquet", [version])
        _copy(con, f'SELECT row_md5 FROM history."{name}" WHERE valid_to = ?', tmp / f"{name}.ended.parquet", [version])
    os.replace(tmp, final)  # the whole version at once


def ensure_exported(con, root: Path) -> tuple[int, int]:
    """Write the files of every run and version that has none yet (a run killed before it wrote
    them, or a warehouse from before they existed); returns (runs, versions) written."""
    runs = [r[0] for r in con.execute("SELECT DISTINCT run_id FROM raw.observations").fetchall()
            if not _raw_file(root, r[0]).exists()]
    for run_id in runs:
        export_raw(con, root, run_id)
    versions = [v for (v,) in con.execute("SELECT version FROM ops.publishes ORDER BY version").fetchall()
                if not (root / HISTORY_DIR / f"{v:06d}").is_dir()]
    for version in versions:
        export_version(con, root, version)
    return len(runs), len(versions)


def rebuild(root: Path) -> dict:
    """A new warehouse from the files beside it: every raw row, every published version with
    its number, the marts at the newest. The old file, if any, is kept aside, never deleted."""
    path = root / WAREHOUSE_FILE
    kept = None
    if path.exists():
        kept = path.with_name(f"{WAREHOUSE_FILE}.damaged-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}")
        os.replace(path, kept)
        if Path(f"{path}.wal").exists():
            os.replace(f"{path}.wal", f"{kept}.wal")
    raw = sorted((root / RAW_DIR).glob("*.parquet")) if (root / RAW_DIR).is_dir() else []
    versions = sorted(p for p in (root / HISTORY_DIR).glob("[0-9]*") if p.is_dir()) \
        if (root / HISTORY_DIR).is_dir() else []
    try:
        restored = _rebuild_into(root, raw, versions)
    except BaseException:
        for built in (path, Path(f"{path}.wal")):
            built.unlink(missing_ok=True)
        if kept:
            os.replace(kept, path)
            if Path(f"{kept}.wal").exists():
                os.replace(f"{kept}.wal", f"{path}.wal")
        raise
    return {**restored, "kept": kept}


def _rebuild_into(root: Path, raw: list[Path], versions: list[Path]) -> dict:
    with connect(root) as con:
        con.execute("BEGIN")
        for file in raw:
            table = "raw.series_metadata" if file.name.endswith(".metadata.parquet") else "raw.observations"
            con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet({_sql_str(str(file))})")
        for folder in versions:
            publish = _sql_str(str(folder / "publish.parquet"))
            version, row_counts = con.execute(f"SELECT version, row_counts FROM read_parquet({publish})").fetchall()[0]
            for name in json.loads(row_counts):
                added = _sql_str(str(folder / f"{name}.added.parquet"))
                create_history_table(con, name, f"read_parquet({added})", has_md5=True)
                con.execute(f'UPDATE history."{name}" SET valid_to = ? WHERE row_md5 IN (SELECT row_md5 FROM '
                            f"read_parquet({_sql_str(str(folder / f'{name}.ended.parquet'))}))", [version])
                con.execute(f'INSERT INTO history."{name}" BY NAME SELECT ? AS valid_from, NULL AS valid_to, * '
                            f"FROM read_parquet({added})", [version])
                con.execute(f'CREATE OR REPLACE VIEW marts."{name}" AS {version_rows(name, version)}')
            con.execute(f"INSERT INTO ops.publishes BY NAME SELECT * FROM read_parquet({publish})")
        con.execute("COMMIT")
        current = current_publish(con)
        restored = {"raw_rows": con.execute("SELECT count(*) FROM raw.observations").fetchall()[0][0],
                    "versions": len(versions), "current": current["version"] if current else None}
        if current:  # the rebuilt tables must be exactly what the version published
            differ = [n for n, s in checksums_like(con, "marts", current["checksums"]).items()
                      if s != current["checksums"][n]]
            if differ:
                raise WarehouseError(f"rebuilt version {current['version']} differs in {', '.join(differ)}")
    return restored


# ------------------------------------------------------------------ runs and quarantine


def start_run(con, run_id: str, *, mode: str, started_at: dt.datetime) -> None:
    con.execute("INSERT INTO ops.runs (run_id, started_at, mode, status) VALUES (?, ?, ?, 'running')",
                [run_id, started_at, mode])


def run_step(con, run_id: str, step: str) -> None:
    """Where the run is now (what a crashed run is remembered by)."""
    con.execute("UPDATE ops.runs SET step = ?, step_at = now() WHERE run_id = ?", [step, run_id])


def mark_crashed(con) -> list[str]:
    """Runs still `running`: called under the run lock, so their process is gone. Each becomes
    `crashed`, ended when it was last heard of, with the step it stopped in; returns their ids."""
    rows = con.execute(
        "UPDATE ops.runs SET status = 'crashed', ended_at = coalesce(step_at, started_at), "
        "message = 'the process stopped during ' || coalesce('step ' || step, 'its start') || "
        "'; found by the next run' WHERE status = 'running' RETURNING run_id").fetchall()
    return [r[0] for r in rows]


def end_run(con, run_id: str, *, status: str, message: str, clock: dt.date | None = None,
            rows_added: dict | None = None) -> None:
    con.execute(
        "UPDATE ops.runs SET ended_at = now(), status = ?, message = ?, clock = coalesce(?, clock), "
        "rows_added = coalesce(?, rows_added) WHERE run_id = ?",
        [status, message, clock, None if rows_added is None else json.dumps(rows_added), run_id],
    )


def last_runs(con, limit: int = 5) -> pl.DataFrame:
    return _query(
        con,
        "SELECT run_id, started_at, ended_at, mode, clock, status, step, message FROM ops.runs "
        "ORDER BY started_at DESC LIMIT ?", [limit]
    )


def quarantine(con, run_id: str, entries: list[tuple[str, str, str, str | None]]) -> None:
    """entries: (table, check, message, path of the staged data kept for inspection)."""
    con.executemany(
        "INSERT INTO ops.quarantine VALUES (?, now(), ?, ?, ?, ?)",
        [[run_id, table, check, message, path] for table, check, message, path in entries],
    )


def quarantined(con, limit: int = 20) -> pl.DataFrame:
    return _query(
        con,
        "SELECT run_id, created_at, table_name, check_name, staged_path, message FROM ops.quarantine "
        "ORDER BY created_at DESC LIMIT ?", [limit]
    )


# ------------------------------------------------------------------ validation results (a cache)

# Stored results kept per suite table: the newest few, so a table that changes every day does
# not grow ops.validations without end, and a run that goes back to recent data still reuses.
VALIDATIONS_KEPT = 8


def validation_results(con, key: str) -> str | None:
    """The stored results of the validation with this fingerprint (expectations/gate.py), or None."""
    rows = con.execute("SELECT results FROM ops.validations WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def save_validation(con, key: str, table: str, checks: int, results: str) -> None:
    """Store one suite's passing results; older results of the same table beyond
    VALIDATIONS_KEPT go."""
    con.execute("INSERT INTO ops.validations VALUES (?, ?, ?, ?, now()) ON CONFLICT DO NOTHING",
                [key, table, checks, results])
    con.execute(
        "DELETE FROM ops.validations WHERE table_name = ? AND key NOT IN (SELECT key FROM ops.validations "
        "WHERE table_name = ? ORDER BY validated_at DESC, key LIMIT ?)", [table, table, VALIDATIONS_KEPT])


class ValidationStore:
    """The warehouse as the gate's store (gate.persisted): the gate itself never touches duckdb."""

    def __init__(self, con) -> None:
        self._con = con

    def lookup(self, key: str) -> str | None:
        return validation_results(self._con, key)

    def save(self, key: str, table: str, checks: int, payload: str) -> None:
        save_validation(self._con, key, table, checks, payload)

    def passed_parts(self, table: str, fingerprints: list[str]) -> set[str]:
        return passed_parts(self._con, table, fingerprints)

    def save_parts(self, table: str, passed: list[str], current: list[str]) -> None:
        save_parts(self._con, table, passed, current)


# The parts of a partitioned suite (expectations/gate.py, _validate_parts) that passed, one row
# each in ops.validations under the table name "<table>/parts" with no results ([]); only the
# parts of the newest frame validated are kept.
def _parts_table(table: str) -> str:
    return f"{table}/parts"


def passed_parts(con, table: str, fingerprints: list[str]) -> set[str]:
    """Which of these part fingerprints of `table` are stored as passed."""
    con.register("_parts", pl.DataFrame({"key": fingerprints}, schema={"key": pl.String}))
    try:
        rows = con.execute("SELECT v.key FROM ops.validations v JOIN _parts USING (key) WHERE v.table_name = ?",
                           [_parts_table(table)]).fetchall()
    finally:
        con.unregister("_parts")
    return {r[0] for r in rows}


def save_parts(con, table: str, passed: list[str], current: list[str]) -> None:
    """Store the newly passed parts of `table`; forget its parts that the frame of `current`
    (every part fingerprint of the frame just validated) no longer has."""
    name = _parts_table(table)
    con.register("_passed", pl.DataFrame({"key": passed}, schema={"key": pl.String}))
    con.register("_current", pl.DataFrame({"key": current}, schema={"key": pl.String}))
    try:
        con.execute("INSERT INTO ops.validations SELECT key, ?, 0, '[]', now() FROM _passed ON CONFLICT DO NOTHING",
                    [name])
        con.execute("DELETE FROM ops.validations WHERE table_name = ? AND key NOT IN (SELECT key FROM _current)",
                    [name])
    finally:
        con.unregister("_passed")
        con.unregister("_current")


# ------------------------------------------------------------------ builds (what a run's tables were built from)

# the newest keys kept: a run's key changes with its clock, so one day's keys are not read again
BUILDS_KEPT = 8


def raw_extent(con, series_ids: list[str]) -> list[list]:
    """Per series of `series_ids` (sorted) how many rows raw holds and the newest fetch:
    raw only grows (rows are appended, never changed), so an equal extent is equal rows."""
    return [[key, rows, str(through)] for key, (rows, through) in sorted(raw_watermarks(con, series_ids).items())]


def raw_watermarks(con, series_ids: list[str]) -> dict[str, tuple[int, dt.datetime]]:
    """Per series of `series_ids` that raw holds: its rows and its newest fetch."""
    rows = con.execute("SELECT series_id, count(*), max(fetched_at) FROM raw.observations "
                       "WHERE list_contains(?, series_id) GROUP BY series_id", [list(series_ids)]).fetchall()
    return {key: (n, through) for key, n, through in rows}


def record_long_tables(con, version: int, entries: dict[str, tuple[str, int, dt.datetime]]) -> None:
    """The long tables of `version` hold each series of `entries` (series → its registry
    entry's fingerprint, and raw's rows and newest fetch of it that they were built from);
    every earlier record goes."""
    frame = pl.DataFrame(
        {"series_id": list(entries), "entry": [e for e, _, _ in entries.values()],
         "raw_rows": [n for _, n, _ in entries.values()], "fetched_through": [t for _, _, t in entries.values()]},
        schema={"series_id": pl.String, "entry": pl.String, "raw_rows": pl.Int64,
                "fetched_through": pl.Datetime("us", "UTC")})
    con.register("_entries", frame)  # one INSERT: executemany runs a statement per series
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM ops.long_table_builds")
        con.execute("INSERT INTO ops.long_table_builds SELECT series_id, ?, entry, raw_rows, fetched_through "
                    "FROM _entries", [version])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_entries")


def long_tables_record(con) -> dict[str, tuple[int, str, int, dt.datetime]]:
    """What record_long_tables stored: series → (version, entry, raw rows, newest fetch)."""
    return {key: (version, entry, rows, through) for key, version, entry, rows, through in con.execute(
        "SELECT series_id, version, entry, raw_rows, fetched_through FROM ops.long_table_builds").fetchall()}


def rows_stored_since(con, through: dict[str, dt.datetime]) -> dict[str, tuple[int, dt.date | None]]:
    """Per series of `through`: how many of its raw rows were fetched by then, and the
    earliest observation date among the rows fetched after (None: no row since)."""
    if not through:
        return {}
    asked = pl.DataFrame({"series_id": list(through), "through": list(through.values())},
                         schema={"series_id": pl.String, "through": pl.Datetime("us", "UTC")})
    con.register("_through", asked)
    try:
        rows = con.execute("""
            SELECT o.series_id, count(*) FILTER (WHERE o.fetched_at <= t.through),
                   min(o.obs_date) FILTER (WHERE o.fetched_at > t.through)
            FROM raw.observations o JOIN _through t USING (series_id) GROUP BY o.series_id""").fetchall()
    finally:
        con.unregister("_through")
    return {key: (n, first) for key, n, first in rows}


def record_build(con, key: str, version: int, table_checks_passed: int, stale: dict[str, str],
                 held_tables: dict[str, str]) -> None:
    """A run's key (flows/same_inputs.py) gave the tables of `version`, with this many table
    checks passed and these stale and held reasons; keys beyond BUILDS_KEPT go."""
    con.execute("INSERT OR REPLACE INTO ops.builds VALUES (?, ?, ?, ?, ?, now())",
                [key, version, table_checks_passed, json.dumps(stale), json.dumps(held_tables)])
    con.execute("DELETE FROM ops.builds WHERE key NOT IN "
                "(SELECT key FROM ops.builds ORDER BY recorded_at DESC, key LIMIT ?)", [BUILDS_KEPT])


def recorded_build(con, key: str) -> dict | None:
    """What record_build stored under `key`, or None."""
    rows = con.execute("SELECT version, table_checks_passed, stale, held_tables FROM ops.builds WHERE key = ?",
                       [key]).fetchall()
    if not rows:
        return None
    version, passed, stale, held = rows[0]
    return {"version": version, "table_checks_passed": passed, "stale": json.loads(stale),
            "held_tables": json.loads(held)}


# ------------------------------------------------------------------ status (readable during a run)


def _status_readers() -> dict:
    return {"publishes": publishes, "freshness": series_freshness, "runs": last_runs, "quarantine": quarantined}


def status_frames(con) -> dict[str, pl.DataFrame]:
    """What `netliq status` and `netliq versions` show: publishes, series freshness, last runs, quarantine."""
    return {name: read(con) for name, read in _status_readers().items()}


def save_status(con, root: Path) -> None:
    """Copy the status frames into the status file (a new file renamed over the old one).
    Best effort: a status file that could not be written must not fail the run itself."""
    tmp = root / f".{STATUS_FILE}.{os.getpid()}.tmp"
    try:
        frames = status_frames(con)
        tmp.unlink(missing_ok=True)
        out = duckdb.connect(str(tmp))
        try:
            for name, frame in frames.items():
                out.register("_frame", frame)
                out.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
                out.unregister("_frame")
        finally:
            out.close()
        os.replace(tmp, root / STATUS_FILE)
    except (duckdb.Error, OSError):
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)


def read_status(root: Path) -> tuple[dict[str, pl.DataFrame], dt.datetime | None]:
    """The status frames from the warehouse, and None; while a run holds the warehouse, from
    the status file its connection last saved, and when that was (UTC)."""
    try:
        with connect(root, read_only=True) as con:
            return status_frames(con), None
    except WarehouseBusy:
        path = root / STATUS_FILE
        if not path.exists():
            raise
    saved = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: _query(con, f'SELECT * FROM "{name}"') for name in _status_readers()}, saved
    finally:
        con.close()


# ------------------------------------------------------------------ staging, history, publish


def stage(con, tables: dict[str, pl.DataFrame]) -> None:
    for name, frame in tables.items():
        con.register("_frame", frame)
        con.execute(f'CREATE OR REPLACE TABLE staging."{name}" AS SELECT * FROM _frame')
        con.unregister("_frame")


def carry_forward(con, names: list[str]) -> list[str]:
    """Stage the current published content of tables this run could not build (an input
    unavailable), so they keep their last good version; returns the names carried."""
    existing = {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE schema_name = 'marts'").fetchall()}
    carried = [n for n in names if n in existing]
    for name in carried:
        con.execute(f'CREATE OR REPLACE TABLE staging."{name}" AS SELECT * FROM marts."{name}"')
    return carried


def last_changed_version(con, name: str) -> int | None:
    """The newest version that changed table `name`: one that added a row to it or ended
    one (history keeps each row with the versions it belongs to); None before its first."""
    return con.execute(f'SELECT greatest(max(valid_from), max(valid_to)) FROM history."{name}"').fetchall()[0][0]


def row_counts(con, schema: str, names: list[str]) -> dict[str, int]:
    return {n: con.execute(f'SELECT count(*) FROM {schema}."{n}"').fetchall()[0][0] for n in names}


# A content checksum is "x1:" and the md5 of the table's row count and the XOR of its rows' md5
# (each row as text): independent of row order, computed in one pass without sorting or
# concatenating the rows (a sorted concatenation of 9 million rows took gigabytes). A published
# table's rows are unique (add_version), so no two rows cancel; the count tells a table with a
# row twice from one without it. Versions published before it carry the older checksum (md5 of
# the sorted rows' text, no prefix): checksums_like compares with them in their own format.
CHECKSUM_FORMAT = "x1:"


def checksums(con, schema: str, names: list[str]) -> dict[str, str]:
    """Order-independent content checksum of each table (CHECKSUM_FORMAT). A staged table's
    rows are hashed into a temporary table that add_version reads as they are, so a publish
    hashes each row once, not once to compare and again to diff into history (the cast of
    every row to text is most of the cost: 9 million rows at 1,000 series)."""
    out = {}
    for name in names:
        if schema == "staging":
            source = _hashed(con, name)
            rows, xor = con.execute(f'SELECT count(*), bit_xor(row_md5) FROM "{source}"').fetchall()[0]
        else:
            rows, xor = con.execute(f'SELECT count(*), bit_xor(md5_number(CAST(t AS VARCHAR))) FROM {schema}."{name}" AS t'
                                    ).fetchall()[0]
        out[name] = CHECKSUM_FORMAT + hashlib.md5(f"{rows}:{xor or 0}".encode()).hexdigest()
    return out


def _staged_oid(con, name: str) -> int | None:
    """The catalog id of staging.`name`: a new one each time the table is staged again."""
    rows = con.execute("SELECT table_oid FROM duckdb_tables() WHERE schema_name = 'staging' AND table_name = ? "
                       "AND NOT temporary", [name]).fetchall()
    return rows[0][0] if rows else None


def _hashed(con, name: str) -> str:
    """A temporary table of staging.`name`'s rows, each with its row_md5 (add_version's row
    identity, the checksum's terms), written for the staged table as it is now."""
    table = f"_hashed_{name}"
    con.execute(f'CREATE OR REPLACE TEMP TABLE "{table}" AS SELECT md5_number(CAST(s AS VARCHAR)) AS row_md5, * '
                f'FROM staging."{name}" AS s')
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _hashed_of (name VARCHAR PRIMARY KEY, oid BIGINT)")
    con.execute("INSERT OR REPLACE INTO _hashed_of VALUES (?, ?)", [name, _staged_oid(con, name)])
    return table


def _hashed_fresh(con, name: str) -> str | None:
    """The hashed table of staging.`name` if it was written for the table staged now, else None."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = '_hashed_of'"
                       ).fetchall()[0][0]:
        return None
    rows = con.execute("SELECT oid FROM _hashed_of WHERE name = ?", [name]).fetchall()
    oid = _staged_oid(con, name)
    return f"_hashed_{name}" if rows and oid is not None and rows[0][0] == oid else None


def _sorted_text_checksums(con, schema: str, names: list[str]) -> dict[str, str]:
    """The checksum of versions published before CHECKSUM_FORMAT: md5 of the sorted rows as text."""
    out = {}
    for name in names:
        out[name] = con.execute(
            f'SELECT md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), \'\')) '
            f'FROM {schema}."{name}" AS t'
        ).fetchall()[0][0]
    return out


def checksums_like(con, schema: str, reference: dict[str, str]) -> dict[str, str]:
    """The checksums of the tables named in `reference`, each in the format of its reference
    (a version published before CHECKSUM_FORMAT has the older one)."""
    new = [n for n, value in reference.items() if value.startswith(CHECKSUM_FORMAT)]
    old = [n for n in reference if n not in new]
    return {**checksums(con, schema, new), **_sorted_text_checksums(con, schema, old)}


def same_content(con, schema: str, names: list[str], sums: dict[str, str], reference: dict[str, str] | None) -> bool:
    """Whether the tables `names` of `schema`, whose checksums are `sums`, hold what `reference`
    (a version's checksums) records, whatever format it was recorded in."""
    if reference is None or set(reference) != set(names):
        return False
    if all(value.startswith(CHECKSUM_FORMAT) for value in reference.values()):
        return reference == sums
    return checksums_like(con, schema, reference) == reference


def current_version(con) -> int | None:
    return con.execute("SELECT max(version) FROM ops.publishes").fetchall()[0][0]


def current_publish(con) -> dict | None:
    row = con.execute(
        "SELECT version, run_id, published_at, code_version, clock, row_counts, checksums, check_summary "
        "FROM ops.publishes ORDER BY version DESC LIMIT 1"
    ).fetchall()
    if not row:
        return None
    row = row[0]
    keys = ("version", "run_id", "published_at", "code_version", "clock", "row_counts", "checksums", "check_summary")
    out = dict(zip(keys, row, strict=True))
    out["row_counts"] = json.loads(out["row_counts"])
    out["checksums"] = json.loads(out["checksums"])
    return out


def publishes(con) -> pl.DataFrame:
    return _query(
        con,
        "SELECT version, published_at, run_id, clock, code_version, check_summary, reason, rolled_back_from, "
        "row_counts FROM ops.publishes ORDER BY version"
    )


# history keeps each distinct row once, with the versions it belongs to: from valid_from up to,
# not including, valid_to (NULL: still in the newest version of its table). A daily publish that
# changes a few rows stores those rows, not another copy of every table.
_BOOKKEEPING = ("valid_from", "valid_to", "row_md5")


def _in_version(version: int) -> str:
    return f"valid_from <= {int(version)} AND (valid_to IS NULL OR valid_to > {int(version)})"


def version_rows(name: str, version: int) -> str:
    """SQL for table `name` exactly as version `version` published it."""
    return f'SELECT * EXCLUDE ({", ".join(_BOOKKEEPING)}) FROM history."{name}" WHERE {_in_version(version)}'


def stage_version(con, version: int) -> tuple[list[str], dict]:
    """Stage every table of an earlier version exactly as it was published; returns the
    table names and that version's publish row."""
    rows = con.execute("SELECT row_counts, clock FROM ops.publishes WHERE version = ?", [version]).fetchall()
    if not rows:
        known = [r[0] for r in con.execute("SELECT version FROM ops.publishes ORDER BY version").fetchall()]
        raise WarehouseError(f"no version {version} (published versions: {known or 'none'})")
    names = list(json.loads(rows[0][0]))
    for name in names:
        con.execute(f'CREATE OR REPLACE TABLE staging."{name}" AS {version_rows(name, version)}')
    return names, {"clock": rows[0][1]}


def publish_version(
    con, names: list[str], *, run_id: str, code_version: str, clock: dt.date, check_summary: str,
    sums: dict[str, str], reason: str | None = None, rolled_back_from: int | None = None,
) -> int:
    """One transaction: staged tables become version N in history, marts views move to N."""
    for name in names:
        _same_schema(con, name)
    con.execute("BEGIN")
    try:
        version = (current_version(con) or 0) + 1
        counts = {name: add_version(con, name, version, f'staging."{name}"') for name in names}
        con.execute(
            "INSERT INTO ops.publishes VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?)",
            [version, run_id, code_version, clock, json.dumps(counts), json.dumps(sums), check_summary,
             reason, rolled_back_from],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return version


def create_history_table(con, name: str, source: str, *, has_md5: bool = False) -> None:
    """history.`name` with the columns of `source` after the bookkeeping ones, if it does not
    exist (`has_md5`: `source` starts with its row_md5 already, as an exported version does)."""
    md5 = "" if has_md5 else "CAST(NULL AS UHUGEINT) AS row_md5, "
    con.execute(f'CREATE TABLE IF NOT EXISTS history."{name}" AS SELECT CAST(NULL AS INTEGER) AS valid_from, '
                f"CAST(NULL AS INTEGER) AS valid_to, {md5}* FROM {source} WITH NO DATA")


def add_version(con, name: str, version: int, source: str) -> int:
    """Make the rows of `source` (a table or view) version `version` of history.`name`: rows
    the table's newest version had and this one has not end here, rows not there yet start
    here, every other row carries on. Moves marts.`name` to it; returns its row count."""
    create_history_table(con, name, source)
    # the rows as checksums() hashed them for this staged table, else hashed here
    incoming = _hashed_fresh(con, name) if source == f'staging."{name}"' else None
    if incoming is None:
        incoming = "_incoming"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _incoming AS SELECT md5_number(CAST(s AS VARCHAR)) AS row_md5, * "
                    f"FROM {source} AS s")
    rows, distinct = con.execute(f'SELECT count(*), count(DISTINCT row_md5) FROM "{incoming}"').fetchall()[0]
    if rows != distinct:  # the identity of a row is its content: two equal rows would be one
        raise WarehouseError(f"{name}: {rows - distinct} row(s) appear twice; a published table has unique rows")
    con.execute(f'UPDATE history."{name}" SET valid_to = {int(version)} WHERE valid_to IS NULL '
                f'AND row_md5 NOT IN (SELECT row_md5 FROM "{incoming}")')
    con.execute(f'INSERT INTO history."{name}" BY NAME SELECT {int(version)} AS valid_from, NULL AS valid_to, * '
                f'FROM "{incoming}" WHERE row_md5 NOT IN (SELECT row_md5 FROM history."{name}" WHERE valid_to IS NULL)')
    con.execute(f'DROP TABLE "{incoming}"')
    if incoming != "_incoming":
        con.execute("DELETE FROM _hashed_of WHERE name = ?", [name])
    con.execute(f'CREATE OR REPLACE VIEW marts."{name}" AS {version_rows(name, version)}')
    return rows


def _columns(con, schema: str, name: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND NOT list_contains(?, column_name) ORDER BY ordinal_position",
        [schema, name, ["version", *_BOOKKEEPING]]).fetchall()]


def _same_schema(con, name: str) -> None:
    """A published table's columns and types are fixed by its history: a change needs a
    named migration, never a silent NULL-filled or cast insert."""
    history = _columns(con, "history", name)
    if not history:
        return
    staged = _columns(con, "staging", name)
    if staged != history:
        before, after = set(history), set(staged)
        raise WarehouseError(
            f"{name}: the table's schema changed (removed {sorted(before - after)}, added {sorted(after - before)}); "
            "publishing it needs a migration of history.{name}; nothing was published".replace("{name}", name)
        )


def published_mismatch(con, root: Path, current: dict | None) -> str | None:
    """Why the published file is not the warehouse's current version (missing, unreadable, an
    older version, a table whose content differs from the version's checksums); None when it is."""
    path = published_path(root)
    if current is None:
        return None
    if not path.exists():
        return "it is missing"
    try:
        con.execute(f"ATTACH {_sql_str(str(path))} AS _published (READ_ONLY)")
    except duckdb.Error as exc:
        return f"it does not open ({str(exc).splitlines()[0]})"
    try:
        version = con.execute("SELECT max(version) FROM _published.main.publishes").fetchall()[0][0]
        if version != current["version"]:
            return f"it holds version {version}, the warehouse version {current['version']}"
        if _as_written(path, version):
            return None  # the very bytes written from this version: no table needs hashing again
        sums = checksums_like(con, "_published.main", current["checksums"])
        differ = [name for name, sum_ in sums.items() if sum_ != current["checksums"][name]]
        if differ:
            return f"its {', '.join(differ)} differ from version {version}"
        return None
    except duckdb.Error as exc:
        return f"it cannot be read ({str(exc).splitlines()[0]})"
    finally:
        try:
            con.execute("DETACH _published")
        except duckdb.Error:
            pass


def _written_record(path: Path) -> Path:
    """Beside the published file: the SHA-256 of the file as a publish wrote it, and its version."""
    return path.with_name(f".{path.name}.sha256")


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in 1 MiB blocks (the published file; versions/<N>/'s Parquet files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_written(path: Path, written: Path, version: int | None) -> None:
    """Record `written` (the file about to become `path`) as the file of `version`."""
    record = _written_record(path)
    tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": version, "sha256": file_sha256(written)}))
    os.replace(tmp, record)


def _as_written(path: Path, version: int) -> bool:
    """Whether the published file is, byte for byte, the one a publish wrote for `version`: then
    its tables hold what that version's checksums say, as they did when it was written from
    history, and a run start need not checksum 9 million rows again. Any other file (damaged,
    replaced, older, no record) is checked table by table."""
    try:
        record = json.loads(_written_record(path).read_text())
    except (OSError, ValueError):
        return False
    return record.get("version") == version and record.get("sha256") == file_sha256(path)


def remove_stray_files(root: Path) -> list[Path]:
    """Half-written files a killed run left beside the files it writes (called under the run
    lock, so no live run is writing them); returns what was removed."""
    stray = [p for folder in (root, root / "as_of", root / RAW_DIR, root / HISTORY_DIR) if folder.is_dir()
             for p in folder.glob(".*.tmp*")]
    for path in stray:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return stray


def write_published_file(con, root: Path, names: list[str], comments: dict[str, tuple[str, dict[str, str]]],
                         before_rename: Callable[[dict[str, str]], object] | None = None) -> Path:
    """Write the marts and the publish log to a new file and swap it in atomically.

    `comments`: table -> (table description, {column: description}), stored as DuckDB
    comments so BI tools show them; "publishes" describes the publish log. `before_rename` is
    called with table -> its relation in the new file (rows in the file's order) once the file
    is complete and before it replaces the published one (a publish writes versions/<N>/ from
    it: that folder is in place before the file that announces its version)."""
    def publish_log(target: str) -> None:
        con.execute(f"CREATE TABLE {target}.main.publishes AS SELECT * FROM ops.publishes ORDER BY version")
        if "publishes" in comments:
            _comment(con, target, "publishes", comments["publishes"])

    path = published_path(root)
    version = current_version(con)
    # the record names the file it describes by its SHA-256: a record left by a run killed
    # before the rename does not match the file that stays, so that file is checked in full
    return _write_file(con, path, "marts", names, comments, publish_log, before_rename,
                       on_written=lambda tmp: _record_written(path, tmp, version))


def write_as_of_file(con, path: Path, names: list[str], comments: dict[str, tuple[str, dict[str, str]]], *,
                     as_of: dt.date, known_through_utc: dt.datetime, run_id: str, code_version: str,
                     inputs: pl.DataFrame) -> Path:
    """Write the staged tables of an as-of rebuild to `path` (never the published file), with
    an `as_of_build` row saying what it is and `as_of_inputs`, what each series was known from."""
    def describe(target: str) -> None:
        con.execute(
            f"CREATE TABLE {target}.main.as_of_build AS SELECT ?::DATE AS as_of_date, "
            "?::TIMESTAMP AS known_through_utc, now()::TIMESTAMP AS built_at_utc, ? AS run_id, ? AS code_version",
            [as_of, known_through_utc, run_id, code_version],
        )
        con.execute(f"COMMENT ON TABLE {target}.main.as_of_build IS " + _sql_str(
            "What this file is: every table rebuilt from what was known at known_through_utc (the end of "
            "as_of_date in New York). Not the current published file."))
        con.register("_inputs", inputs)
        con.execute(f"CREATE TABLE {target}.main.as_of_inputs AS SELECT * FROM _inputs ORDER BY series_id")
        con.unregister("_inputs")
        con.execute(f"COMMENT ON TABLE {target}.main.as_of_inputs IS " + _sql_str(
            "Per series: observations known by then, the newest observation date, and whether when each "
            "value became known comes from ALFRED vintages or from the registry's release rule."))

    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_file(con, path, "staging", names, comments, describe)


def _comment(con, target: str, name: str, comment: tuple[str, dict[str, str]]) -> None:
    table_doc, column_docs = comment
    con.execute(f'COMMENT ON TABLE {target}.main."{name}" IS {_sql_str(table_doc)}')
    for column, doc in column_docs.items():
        con.execute(f'COMMENT ON COLUMN {target}.main."{name}"."{column}" IS {_sql_str(doc)}')


def _write_file(con, final: Path, schema: str, names: list[str], comments: dict[str, tuple[str, dict[str, str]]],
                extra, before_rename=None, on_written=None) -> Path:
    """Copy `schema`'s tables into a new DuckDB file (the old storage version BI drivers read)
    beside `final`, then rename it over `final`: readers never see a half-written file."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        con.execute(f"ATTACH '{tmp}' AS pub (STORAGE_VERSION '{PUBLISHED_STORAGE_VERSION}')")
        try:
            for name in names:
                con.execute(f'CREATE TABLE pub.main."{name}" AS SELECT * FROM {schema}."{name}" ORDER BY ALL')
                _comment(con, "pub", name, comments[name])
            extra("pub")
            con.execute("CHECKPOINT pub")
            if before_rename is not None:
                before_rename({name: f'pub.main."{name}"' for name in names})
        finally:
            con.execute("DETACH pub")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        if on_written is not None:
            on_written(tmp)
    except BaseException:
        for half in (tmp, Path(f"{tmp}.wal")):
            half.unlink(missing_ok=True)
        raise
    faults.point("before-rename")
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


# duckdb 2 refuses new work on a connection whose last execute() was not read to the end:
# every query here is read whole (fetchall, or a relation's .pl()).
def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A connection that cannot change anything: the file opened read-only, no file system access
# outside it (no COPY TO, ATTACH, EXPORT, INSTALL, read_csv of other files), no extension
# loading, and the configuration locked so a query cannot switch any of that back on.
_READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def query_published(path: Path, sql: str) -> pl.DataFrame:
    """Run one read-only statement against a published (or as-of) file.

    DuckDB itself enforces that nothing is written (see _READ_ONLY_CONFIG); one statement
    per call, so a harmless first statement cannot carry a second one."""
    if not path.exists():
        raise WarehouseError(f"no published file at {path}: run `netliq run --offline` (or `netliq run`) first")
    try:
        con = duckdb.connect(str(path), read_only=True, config=_READ_ONLY_CONFIG)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open the published file {path}: {str(exc).splitlines()[0]}") from None
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            raise WarehouseError(f"one SQL statement per query, got {len(statements)}")
        return _query(con, statements[0].query)
    except duckdb.Error as exc:  # a bad query, or a write DuckDB refused
        raise WarehouseError(str(exc)) from None
    finally:
        con.close()

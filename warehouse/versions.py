"""Every published version as plain Parquet files with a manifest, for users who share versions
through object storage and read them with any engine (DuckDB, MotherDuck, Spark, Trino, polars):

  versions/<N>/<table>.parquet   every table of version N exactly as it was published
  versions/<N>/manifest.json     what the version is: its publish row (run, code version, time,
                                 clock, checks), per file its row count, size and SHA-256, and the
                                 version's own data dictionary (grain, table and column descriptions
                                 with their units), so a reader of the files alone knows the units

A version's folder is written beside its final name, fsynced, and renamed into place: a reader (or
`netliq export`) finds no folder or a complete one, never part of one. The folders are immutable
once there. Each is written from history, so the next run writes one a killed run did not (and
every version of a warehouse from before these files existed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from warehouse import db, faults

VERSIONS_DIR = "versions"
MANIFEST = "manifest.json"
# what a reader checks before trusting the layout below
FORMAT = "netliq-version/1"


class VersionFilesError(db.WarehouseError):
    pass


def versions_dir(root: Path) -> Path:
    return root / VERSIONS_DIR


def version_dir(root: Path, version: int) -> Path:
    return versions_dir(root) / str(int(version))


def written(root: Path) -> list[int]:
    """The versions whose folder is in place, oldest first (half-written ones start with a dot)."""
    folder = versions_dir(root)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def write_version(con, root: Path, version: int, ordered: dict[str, str] | None = None) -> Path:
    """The folder of one published version, from history; one already there is left as it is.

    `ordered`: table → a relation holding exactly that table's rows of this version, already in
    the files' order (ORDER BY ALL): the published file's tables as a publish just wrote them
    (db.write_published_file), so 9 million rows are sorted once, not once per copy."""
    final = version_dir(root, version)
    if final.is_dir():
        return final
    publish = _publish_row(con, version)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tables = {}
        dictionary = _dictionary(con, version)
        for name in publish["row_counts"]:
            path = tmp / f"{name}.parquet"
            rows_sql = (f"SELECT * FROM {ordered[name]}" if ordered and name in ordered
                        else f"{db.version_rows(name, version)} ORDER BY ALL")
            con.execute(f"COPY ({rows_sql}) TO {db._sql_str(str(path))} (FORMAT parquet)")
            rows = con.execute(f"SELECT count(*) FROM read_parquet({db._sql_str(str(path))})").fetchall()[0][0]
            if rows != publish["row_counts"][name]:  # history no longer holds what was published
                raise VersionFilesError(f"version {version} of {name}: {rows} rows in history, "
                                        f"{publish['row_counts'][name]} published")
            tables[name] = {"file": path.name, "rows": publish["row_counts"][name], "bytes": path.stat().st_size,
                            "sha256": db.file_sha256(path), "content_md5": publish["checksums"][name],
                            **dictionary.get(name, {"grain": None, "description": None, "columns": {}})}
        manifest = {"format": FORMAT, "version": version,
                    **{k: publish[k] for k in ("run_id", "code_version", "published_at", "clock", "check_summary",
                                               "reason", "rolled_back_from")},
                    "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "tables": tables}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        for path in (*tmp.iterdir(), tmp):
            _fsync(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    faults.point("before-version-rename")
    os.replace(tmp, final)  # the whole version at once
    _fsync(final.parent)
    return final


def ensure_written(con, root: Path) -> list[int]:
    """Under the run lock, before a run: remove what a killed run half-wrote, and write the folder
    of every published version that has none; returns the versions written."""
    folder = versions_dir(root)
    if folder.is_dir():
        for stray in folder.glob(".*.tmp"):
            shutil.rmtree(stray, ignore_errors=True)
    have = set(written(root))
    missing = [v for (v,) in con.execute("SELECT version FROM ops.publishes ORDER BY version").fetchall()
               if v not in have]
    for version in missing:
        write_version(con, root, version)
    return missing


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VersionFilesError(f"{folder / MANIFEST} cannot be read ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise VersionFilesError(f"{folder / MANIFEST} is not a {FORMAT} manifest")
    return manifest


def verify(folder: Path) -> dict:
    """The folder's manifest after checking every file it lists against its SHA-256 (and no file
    is missing); a VersionFilesError names the first that differs."""
    manifest = read_manifest(folder)
    for name, table in manifest["tables"].items():
        path = folder / table["file"]
        if not path.is_file():
            raise VersionFilesError(f"{path} is missing (table {name} of version {manifest['version']})")
        if db.file_sha256(path) != table["sha256"]:
            raise VersionFilesError(f"{path} differs from its SHA-256 in {folder / MANIFEST}: the file is damaged; "
                                    f"delete {folder} and run `netliq run`, which writes it again from the warehouse")
    return manifest


def export(root: Path, dest: Path, versions: list[int]) -> list[tuple[int, str]]:
    """Copy the folders of `versions` to dest/<N>/, each checked against its manifest first and
    renamed into place whole; a version already at dest with the same manifest is skipped, one
    with another manifest is refused. Returns (version, "copied" | "already there") per version."""
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for version in versions:
        source = version_dir(root, version)
        manifest = verify(source)
        target = dest / str(version)
        if target.exists():
            if (target / MANIFEST).is_file() and read_manifest(target) == manifest:
                done.append((version, "already there"))
                continue
            raise VersionFilesError(f"{target} exists and is not version {version} of {root}: "
                                    "give another --to folder, or remove it")
        tmp = dest / f".{version}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(source, tmp)
            verify(tmp)
            for path in (*tmp.iterdir(), tmp):
                _fsync(path)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(dest)
        done.append((version, "copied"))
    return done


def _publish_row(con, version: int) -> dict:
    keys = ("run_id", "code_version", "published_at", "clock", "check_summary", "reason", "rolled_back_from",
            "row_counts", "checksums")
    rows = con.execute(f"SELECT {', '.join(keys)} FROM ops.publishes WHERE version = ?", [version]).fetchall()
    if not rows:
        raise VersionFilesError(f"no version {version} in the warehouse")
    row = dict(zip(keys, rows[0], strict=True))
    row["published_at"] = row["published_at"].astimezone(dt.UTC).isoformat()
    row["clock"] = row["clock"].isoformat() if row["clock"] else None
    row["row_counts"], row["checksums"] = json.loads(row["row_counts"]), json.loads(row["checksums"])
    return row


def _dictionary(con, version: int) -> dict[str, dict]:
    """Per table, its grain, description and column descriptions as the version's own `catalog`
    published them (the code's dictionary may have changed since)."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'history' "
                       "AND table_name = 'catalog'").fetchall()[0][0]:
        return {}  # a warehouse from before the catalog was published
    rows = con.execute(
        f"SELECT table_name, grain, table_description, column_name, data_type, column_description, is_stale, "
        f"stale_reason FROM ({db.version_rows('catalog', version)}) ORDER BY table_name, column_position").fetchall()
    out: dict[str, dict] = {}
    for table, grain, description, column, data_type, column_description, is_stale, stale_reason in rows:
        entry = out.setdefault(table, {"grain": grain, "description": description, "is_stale": is_stale,
                                       "stale_reason": stale_reason, "columns": {}})
        entry["columns"][column] = {"type": data_type, "description": column_description}
    return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Do the clients BI tools are built on open the published file? Each client runs in an environment
of its own (installed once into a cache folder outside the repository) and opens the file the way
its tool does; per client the report says whether the tables, their comments, the column comments
and a sample query come through, against what the project's own DuckDB reads.

    uv run python bench/bi_clients.py                 # publishes the offline snapshot into a temp dir
    uv run python bench/bi_clients.py --file data/netliq.duckdb [--json out.json]

The clients:
  duckdb-1.1, duckdb-1.4   the Python DuckDB clients of the 1.x line (1.4 is the LTS): what a BI
                           driver pinned to an older DuckDB reads. Each also tries a copy of the file
                           in DuckDB 2's default storage format, to show why the published file is not
  sqlalchemy               SQLAlchemy + duckdb-engine, connect_args={"read_only": True}: what
                           Superset does (table reflection and comments through the inspector)
  node                     @duckdb/node-api from npm, READ_ONLY: what Evidence builds on
  harlequin                the terminal SQL IDE, headless: `harlequin --help`, then its DuckDB adapter
                           (read-only) connects and walks its catalog

Installs need the package registries (PyPI, npm) the first time; the cache folder is
$NETLIQ_BI_CACHE or ~/.cache/netliq-bi. Exit code 0 when every client reads everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from warehouse import db  # noqa: E402 - the project's own reading of the file is the reference

SAMPLE = "SELECT date, net_liquidity_bn FROM net_liquidity_weekly ORDER BY date DESC LIMIT 1"
# the Python interpreter of the client environments (the project's: 3.11)
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
NODE_API = "@duckdb/node-api@1.5.6-r.1"

# What each client environment installs. duckdb-engine's SQLAlchemy is held below 2 as Superset
# holds it, with the DuckDB LTS a Superset image pins.
PYTHON_ENVS = {
    "duckdb-1.1": ["duckdb==1.1.3"],
    "duckdb-1.4": ["duckdb==1.4.*"],
    "sqlalchemy": ["duckdb-engine==0.17.*", "sqlalchemy>=1.4,<2", "duckdb==1.4.*"],
    "harlequin": ["harlequin==2.*"],
}

# Each probe prints one JSON object: driver, tables {name: comment}, columns, commented_columns, sample.
DUCKDB_PROBE = r"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
db = con.execute("SELECT current_database()").fetchone()[0]
tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = ?", [db]).fetchall())
columns, commented = con.execute("SELECT count(*), count(comment) FROM duckdb_columns() WHERE database_name = ?",
                                 [db]).fetchone()
row = con.execute(sys.argv[2]).fetchone()
print(json.dumps({"driver": "duckdb " + duckdb.__version__, "tables": tables, "columns": columns,
                  "commented_columns": commented, "sample": [str(row[0]), row[1]]}))
"""

SQLALCHEMY_PROBE = r"""
import json, sys
import duckdb, duckdb_engine, sqlalchemy
from sqlalchemy import create_engine, inspect, text
engine = create_engine("duckdb:///" + sys.argv[1], connect_args={"read_only": True})
inspector = inspect(engine)
names = inspector.get_table_names()
tables = {name: inspector.get_table_comment(name)["text"] for name in names}
columns = [c for name in names for c in inspector.get_columns(name)]
with engine.connect() as con:
    row = con.execute(text(sys.argv[2])).one()
print(json.dumps({"driver": f"SQLAlchemy {sqlalchemy.__version__}, duckdb-engine {duckdb_engine.__version__}, "
                            f"duckdb {duckdb.__version__}",
                  "tables": tables, "columns": len(columns), "commented_columns": sum(bool(c.get("comment"))
                                                                                      for c in columns),
                  "sample": [str(row[0]), row[1]]}))
"""

NODE_PROBE = r"""
import { DuckDBInstance, version } from '@duckdb/node-api';
const [path, sample] = process.argv.slice(2);
const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
const con = await instance.connect();
const rows = async (sql) => (await con.runAndReadAll(sql)).getRowsJson();
const db = (await rows('SELECT current_database()'))[0][0];
const tables = Object.fromEntries(await rows(
  `SELECT table_name, comment FROM duckdb_tables() WHERE database_name = '${db}'`));
const [[columns, commented]] = await rows(
  `SELECT count(*)::INTEGER, count(comment)::INTEGER FROM duckdb_columns() WHERE database_name = '${db}'`);
const [row] = await rows(sample);
console.log(JSON.stringify({ driver: `@duckdb/node-api, duckdb ${version()}`, tables, columns,
                             commented_columns: commented, sample: [String(row[0]), Number(row[1])] }));
"""

HARLEQUIN_PROBE = r"""
import json, sys
from importlib.metadata import version
import duckdb
from harlequin_duckdb import DuckDbAdapter
conn = DuckDbAdapter(conn_str=(sys.argv[1],), read_only=True, no_init=True).connect()
# the catalog tree harlequin's sidebar shows: database > schema > tables (names and types, no comments)
(database,) = [item for item in conn.get_catalog().items if item.label not in ("temp", "system")]
main = [s for s in database.fetch_children() if s.label == "main"][0]
shown = sorted(t.label for t in main.fetch_children())
def rows(sql):  # harlequin's query pane: the adapter's cursor, fetched as the app fetches (an Arrow table)
    return [tuple(r.values()) for r in conn.execute(sql).fetchall().to_pylist()]
tables = dict(rows("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database()"))
[(columns, commented)] = rows("SELECT count(*), count(comment) FROM duckdb_columns() "
                              "WHERE database_name = current_database()")
[row] = rows(sys.argv[2])
assert shown == sorted(tables), (shown, sorted(tables))
print(json.dumps({"driver": f"harlequin {version('harlequin')}, duckdb {duckdb.__version__}", "tables": tables,
                  "columns": columns, "commented_columns": commented, "sample": [str(row[0]), row[1]],
                  "catalog_tables": len(shown)}))
"""


@dataclass
class Result:
    client: str
    stands_for: str
    driver: str = ""
    opens: bool = False
    tables: str = ""
    table_comments: str = ""
    column_comments: str = ""
    sample: str = ""
    ok: bool = False
    note: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="the published file (default: publish the offline snapshot into "
                        "a temporary data dir)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NETLIQ_BI_CACHE")
                                                           or Path.home() / ".cache" / "netliq-bi"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", action="append", help="run only this client (repeatable)")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="netliq-bi-") as scratch:
        path = args.file.resolve() if args.file else _publish(Path(scratch) / "data")
        if not path.is_file():
            parser.error(f"--file {path}: no such file")
        reference = _reference(path)
        newest = _default_storage_copy(path, Path(scratch) / "default-storage.duckdb")
        clients = {
            "duckdb-1.1": ("Python DuckDB 1.1 (a BI driver on an older DuckDB)",
                           lambda: _duckdb("duckdb-1.1", args.cache, path, newest)),
            "duckdb-1.4": ("Python DuckDB 1.4 LTS", lambda: _duckdb("duckdb-1.4", args.cache, path, newest)),
            "sqlalchemy": ("Superset: SQLAlchemy + duckdb-engine, read_only", lambda: _python_probe(
                "sqlalchemy", args.cache, SQLALCHEMY_PROBE, path)),
            "node": ("Evidence: @duckdb/node-api, READ_ONLY", lambda: _node(args.cache, path)),
            "harlequin": ("harlequin, the terminal SQL IDE", lambda: _harlequin(args.cache, path)),
        }
        results = []
        for name, (stands_for, run) in clients.items():
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            result = Result(name, stands_for)
            try:
                _judge(result, run(), reference)
            except ClientError as exc:
                result.note = str(exc)
            result.note = (result.note + f" ({time.perf_counter() - started:.1f} s)").strip()
            results.append(result)
    _print(path, reference, results)
    if args.json:
        args.json.write_text(json.dumps({"file": str(path), "reference": reference,
                                         "results": [r.__dict__ for r in results]}, indent=1, default=str))
    return 0 if all(r.ok for r in results) else 1


class ClientError(RuntimeError):
    pass


def _judge(result: Result, got: dict, reference: dict) -> None:
    result.opens = True
    result.driver = got["driver"]
    want = reference["tables"]
    result.tables = f"{len(set(got['tables']) & set(want))}/{len(want)}"
    commented = sum(bool(got["tables"].get(t)) and got["tables"][t] == want[t] for t in want)
    result.table_comments = f"{commented}/{len(want)}"
    result.column_comments = f"{got['commented_columns']}/{reference['commented_columns']}"
    same = got["sample"][0] == reference["sample"][0] and abs(got["sample"][1] - reference["sample"][1]) < 1e-9
    result.sample = f"{got['sample'][0]} {got['sample'][1]}" + ("" if same else " (differs)")
    result.ok = (set(got["tables"]) == set(want) and commented == len(want) and same
                 and got["commented_columns"] == reference["commented_columns"])
    result.note = "; ".join(f"{key.replace('_', ' ')}: {got[key]}" for key in ("default_storage", "catalog_tables")
                            if key in got)
    if "default_storage" in got and not got["default_storage"].startswith("does not open"):
        result.ok = False  # the storage pin would be unneeded: say so rather than pass quietly


def _publish(root: Path) -> Path:
    env = {**os.environ, "NETLIQ_REPORT": "0"}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "--data-dir", str(root), "run", "--offline"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"netliq run --offline failed ({done.returncode}): {done.stderr[-2000:]}")
    return db.published_path(root)


def _reference(path: Path) -> dict:
    """What the project's DuckDB reads from the file: the numbers every client must match."""
    tables = db.query_published(path, "SELECT table_name, comment FROM duckdb_tables() "
                                      "WHERE database_name = current_database()")
    cols = db.query_published(path, "SELECT count(*) AS n, count(comment) AS c FROM duckdb_columns() "
                                    "WHERE database_name = current_database()")
    sample = db.query_published(path, SAMPLE).row(0)
    storage = db.query_published(path, "SELECT tags['storage_version'] AS v FROM duckdb_databases() "
                                       "WHERE database_name = current_database()")["v"][0]
    return {"tables": dict(tables.iter_rows()), "columns": cols["n"][0], "commented_columns": cols["c"][0],
            "sample": [str(sample[0]), sample[1]], "storage_version": storage}


def _default_storage_copy(path: Path, out: Path) -> Path:
    """The same tables in the storage format DuckDB 2 writes by default (no STORAGE_VERSION)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
        con.execute(f"ATTACH '{out}' AS out")
        con.execute("COPY FROM DATABASE src TO out")
    finally:
        con.close()
    return out


def _run(cmd: list[str], timeout: float = 600, **kw) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClientError(f"{cmd[0]}: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        errors = [line for line in lines if "Error:" in line] or lines  # a DuckDB message spans lines
        raise ClientError(f"{Path(cmd[0]).name} exited {done.returncode}: {errors[-1] if errors else ''}")
    return done.stdout


def _python_env(name: str, cache: Path) -> Path:
    """The client's own venv, installed once (again when its requirements change)."""
    env, wanted = cache / name, "\n".join(PYTHON_ENVS[name])
    marker = env / ".netliq-requirements"
    if not (marker.is_file() and marker.read_text() == wanted):
        uv = shutil.which("uv") or sys.exit("uv is needed to install the client environments")
        shutil.rmtree(env, ignore_errors=True)
        _run([uv, "venv", "-q", "--python", PYTHON, str(env)])
        _run([uv, "pip", "install", "-q", "--python", str(env / "bin" / "python"), *PYTHON_ENVS[name]])
        marker.write_text(wanted)
    return env / "bin" / "python"


def _python_probe(name: str, cache: Path, probe: str, path: Path) -> dict:
    python = _python_env(name, cache)
    script = cache / f"probe-{name}.py"
    script.write_text(probe)
    return json.loads(_run([str(python), str(script), str(path), SAMPLE], timeout=120).splitlines()[-1])


def _duckdb(name: str, cache: Path, path: Path, newest: Path) -> dict:
    got = _python_probe(name, cache, DUCKDB_PROBE, path)
    try:
        _python_probe(name, cache, DUCKDB_PROBE, newest)
        got["default_storage"] = "opens (the v1.0.0 pin would not be needed)"
    except ClientError as exc:
        got["default_storage"] = f"does not open ({str(exc).split('IO Error: ', 1)[-1]})"
    return got


def _node(cache: Path, path: Path) -> dict:
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        raise ClientError("node and npm are needed (node 20 or later)")
    folder = cache / "node"
    folder.mkdir(exist_ok=True)
    marker = folder / ".netliq-requirements"
    if not (marker.is_file() and marker.read_text() == NODE_API):
        (folder / "package.json").write_text('{"private": true, "type": "module"}\n')
        _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), NODE_API])
        marker.write_text(NODE_API)
    script = folder / "probe.mjs"
    script.write_text(NODE_PROBE)
    return json.loads(_run([node, str(script), str(path), SAMPLE], timeout=120, cwd=folder).splitlines()[-1])


def _harlequin(cache: Path, path: Path) -> dict:
    python = _python_env("harlequin", cache)
    _run([str(python.parent / "harlequin"), "--help"], timeout=120)  # the app itself starts and knows its options
    return _python_probe("harlequin", cache, HARLEQUIN_PROBE, path)


def _print(path: Path, reference: dict, results: list[Result]) -> None:
    print(f"published file: {path} (storage version {reference['storage_version']}; "
          f"{len(reference['tables'])} tables, {reference['commented_columns']} commented columns)")
    print(f"sample query: {SAMPLE}\n  project DuckDB reads: {' '.join(map(str, reference['sample']))}\n")
    heads = ("client", "driver", "opens", "tables", "table comments", "column comments", "sample query", "ok")
    rows = [(r.client, r.driver or "-", "yes" if r.opens else "no", r.tables or "-", r.table_comments or "-",
             r.column_comments or "-", r.sample or "-", "yes" if r.ok else "NO") for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(heads, *rows, strict=True)]
    for row in (heads, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
    print()
    for r in results:
        print(f"{r.client} ({r.stands_for}): {r.note}")


if __name__ == "__main__":
    sys.exit(main())

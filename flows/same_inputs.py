"""Whether a run's tables would be the current version's, known before building them.

A run's tables are a function of what raw holds for the series it reads, the registry, the
run's clock, which series are late, unavailable or held, and the code (builders, suites,
libraries). The gate's verdict on them is a function of the same plus the published suites
(their checks with the previous version's row counts). `key` hashes all of that. A run that
publishes version N, or finds its tables identical to N, records its key with N
(`db.record_build`); a later run with the same key while N is still current knows its tables
are N's and its checks' outcome is N's, without building or checking them again.

Why the outcome is N's: the suites a run checks with differ from those N was checked with in
one parameter, the previous version's row counts, the minimum of `rows_not_shrinking`. The
next run compares N's own tables with N's own counts, which passes; N passed it too (it
blocks) except where it only warns (`series_observations`). So the key of a publish is taken
with N's counts, what the next run checks with, and a publish that warned of shrinking rows
records no key: the next run builds and records its own. tests/test_same_inputs.py holds
each part of this to the full run's answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from functools import cache
from pathlib import Path

from expectations.gate import VERDICT_LIBRARIES, library_versions
from expectations.tables import PUBLISHED_SUITES
from flows.incremental import described
from flows.registry import Registry, SeriesSpec
from warehouse import db

PROJECT = Path(__file__).resolve().parents[1]
# the packages whose code decides a table's rows or its checks
CODE_PACKAGES = ("flows", "transforms", "expectations", "warehouse")
# and the libraries that compute them: those of a check's verdict, and DuckDB
LIBRARIES = (*VERDICT_LIBRARIES, "duckdb")


@cache
def code_fingerprint(root: Path = PROJECT) -> str:
    """sha256 of every file of CODE_PACKAGES under `root` (path and bytes: the modules and
    the data they read, e.g. transforms/us_federal_holidays.txt; not the bytecode) and of the
    versions of LIBRARIES: an edited builder, suite or calendar, or an upgraded library, is new code."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        files = (p for p in (root / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in sorted(files):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name, version in library_versions(LIBRARIES):
        digest.update(f"{name}=={version}\0".encode())
    return digest.hexdigest()


def registry_text(registry: Registry) -> str:
    """The registry as canonical text: every series entry, the model, the variants (a set's
    members sorted: repr of a frozenset follows the process's string hashing)."""
    def plain(value):
        if isinstance(value, (set, frozenset)):
            return sorted(value, key=str)
        return str(value)

    return json.dumps(dataclasses.asdict(registry), sort_keys=True, default=plain)


def suites_fingerprint(registry: Registry, clock: dt.date, counts: dict[str, int]) -> list:
    """Every published suite as the next run checks it: with `counts` (the current version's
    row counts) as the previous rows. No Great Expectations import: the checks are declared."""
    out = []
    for name in sorted(PUBLISHED_SUITES):
        suite = PUBLISHED_SUITES[name](registry, clock, counts.get(name, 0))
        out.append([name, list(suite.key_columns), list(suite.partition), suite.partition_date,
                    list(suite.clock_columns), [[c.name, c.blocking, described(c.expectation)] for c in suite.checks]])
    return out


def key(con, registry: Registry, used: list[SeriesSpec], clock: dt.date, late: dict[str, str],
        unavailable: dict[str, str], held: dict[str, str], counts: dict[str, int]) -> str:
    """The fingerprint of everything a run's tables and their checks depend on (module
    docstring); `counts`: the row counts of the version the run compares with."""
    text = json.dumps({
        "clock": clock.isoformat(),
        "code": code_fingerprint(),
        "registry": registry_text(registry),
        "raw": db.raw_extent(con, [spec.key for spec in used]),
        "late": late, "unavailable": unavailable, "held": held,
        "suites": suites_fingerprint(registry, clock, counts),
    }, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()

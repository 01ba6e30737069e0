"""The generic file/URL source: a registry entry pointing at a CSV or Parquet, no code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources import file as file_source
from flows.sources import replay
from flows.sources.schema import OBSERVATIONS, SourceError

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"

ENTRY = '''
[series.CH-GOLD-EXPORTS]
provider = "file"
path = "{path}"
id = "CH-GOLD-EXPORTS"
name = "swiss_gold_exports"
native_units = "Tonnes"
frequency = "monthly"
publication_lag_days = 30
max_age_days = 70
max_gap_days = 31
valid_min = 0
valid_max = 1000
max_change_pct = 500.0
release = "Swiss customs, monthly"
description = "Swiss gold exports (an example of a series no FRED or Yahoo id carries)"
'''


def _registry_with(tmp_path: Path, path: str):
    text = (Path(load_registry().path)).read_text() + ENTRY.format(path=path)
    toml = tmp_path / "series.toml"
    toml.write_text(text)
    return load_registry(toml)


def test_a_registry_entry_is_enough_csv(tmp_path: Path):
    # real GLD shares rows (the first three of the derived file) stand in for any date,value file
    rows = (SNAPSHOT / "prices/GLD_shares_outstanding_derived.csv").read_text().splitlines()[1:4]
    csv = tmp_path / "extra.csv"
    csv.write_text("date,value\n" + "\n".join(",".join(r.split(",")[:2]) for r in rows) + "\n")
    spec = _registry_with(tmp_path, str(csv)).get("CH-GOLD-EXPORTS")
    got = replay.fetch(spec, SNAPSHOT)  # the file source works in a replay too
    assert got.frame.schema == OBSERVATIONS
    assert got.frame["obs_date"].to_list() == [dt.date(2004, 11, 18), dt.date(2004, 11, 19), dt.date(2004, 11, 22)]
    # the file's rows read: 2004-11-18,2600000 / 2004-11-19,18600000 / 2004-11-22,28000003
    assert got.frame["value"].to_list() == [2_600_000.0, 18_600_000.0, 28_000_003.0]


def test_parquet_and_other_value_column(tmp_path: Path):
    path = tmp_path / "extra.parquet"
    pl.DataFrame({"date": ["2025-01-31", "2025-02-28"], "tonnes": [12.5, 30.0]}).write_parquet(path)
    frame = file_source.read_series_file(path, "X", value_column="tonnes")
    assert frame["value"].to_list() == [12.5, 30.0] and frame["value_text"].to_list() == ["12.5", "30.0"]


def test_relative_paths_resolve_against_the_repository():
    assert file_source.resolve("data/snapshot/PROVENANCE.md") == SNAPSHOT / "PROVENANCE.md"
    assert file_source.resolve("https://example.org/x.csv") == "https://example.org/x.csv"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("day,value\n2025-01-31,1\n", "no column date"),
        ("date,value\n31/01/2025,1\n", "not YYYY-MM-DD"),
    ],
)
def test_bad_files_name_the_series_and_the_problem(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(SourceError, match=message):
        file_source.read_series_file(path, "CH-GOLD-EXPORTS")


def test_a_non_number_is_kept_for_the_gate(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_text("date,value\n2025-01-31,n/a\n")
    frame = file_source.read_series_file(path, "X")
    assert frame["value"].to_list() == [None] and frame["value_text"].to_list() == ["n/a"]


def test_missing_file_is_a_source_error(tmp_path: Path):
    spec = _registry_with(tmp_path, str(tmp_path / "nope.csv")).get("CH-GOLD-EXPORTS")
    with pytest.raises(SourceError, match="not found"):
        file_source.fetch(spec)

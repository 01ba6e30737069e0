"""The folder replay source (flows/sources/replay.py).

Small files are written in tmp_path from real rows of data/snapshot/ (read with the `csv`
module) and real wire responses; expected values are those cells, parsed by hand here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from flows.registry import load_registry
from flows.sources.replay import SNAPSHOT_DIR, fetch, locate, read_fred_csv, read_price_csv, replay_clock
from flows.sources.schema import OBSERVATIONS, SourceError

D = dt.date.fromisoformat
WIRE = Path(__file__).parent / "fixtures" / "wire"
REGISTRY = load_registry()


def snapshot_rows(relpath: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a snapshot CSV, as text (csv module)."""
    with (SNAPSHOT_DIR / relpath).open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def fred_spec(series_id: str):
    """A FRED SeriesSpec with the given id (fields otherwise those of the WALCL entry)."""
    return replace(REGISTRY.get("WALCL"), key=series_id, id=series_id)


def yahoo_spec(ticker: str):
    return replace(REGISTRY.get("BTC-USD"), key=ticker, id=ticker)


# --- FRED CSV ---------------------------------------------------------------------------


def test_fred_date_value_header(tmp_path):
    _, rows = snapshot_rows("fred/WALCL.csv")
    last3 = rows[-3:]  # 2026-03-11 6646344, 2026-03-18 6655939, 2026-03-25 6657161
    assert [r[0] for r in last3] == ["2026-03-11", "2026-03-18", "2026-03-25"]
    out = read_fred_csv(write_csv(tmp_path / "fred" / "WALCL.csv", ["date", "value"], last3), "WALCL")
    assert out.schema == OBSERVATIONS
    assert out["obs_date"].to_list() == [D(r[0]) for r in last3]
    assert out["value"].to_list() == [float(r[1]) for r in last3]
    assert out["value_text"].to_list() == [r[1] for r in last3]
    assert out["series_id"].to_list() == ["WALCL"] * 3
    assert out.select("open", "high", "low", "volume").null_count().row(0) == (3, 3, 3, 3)


def test_fred_download_header_observation_date(tmp_path):
    # FRED's own fredgraph.csv header (`observation_date,<ID>`), over the last 3 snapshot rows of
    # TOTBKCR (PROVENANCE.md): 2026-03-11 19359.351, 2026-03-18 19364.5887, 2026-03-25 19395.5279
    _, rows = snapshot_rows("fred/TOTBKCR.csv")
    last3 = rows[-3:]
    path = write_csv(tmp_path / "TOTBKCR.csv", ["observation_date", "TOTBKCR"], last3)
    out = read_fred_csv(path, "TOTBKCR")
    assert out["obs_date"].to_list() == [D("2026-03-11"), D("2026-03-18"), D("2026-03-25")]
    assert out["value"].to_list() == [19359.351, 19364.5887, 19395.5279]
    assert out["value_text"].to_list() == ["19359.351", "19364.5887", "19395.5279"]


def test_fred_download_header_of_another_series_is_rejected(tmp_path):
    # `observation_date,<ID>` must name the series asked for: a TOTBKCR file is not WALCL.
    _, rows = snapshot_rows("fred/TOTBKCR.csv")
    path = write_csv(tmp_path / "WALCL.csv", ["observation_date", "TOTBKCR"], rows[-3:])
    with pytest.raises(SourceError, match="observation_date,WALCL"):
        read_fred_csv(path, "WALCL")


def test_fred_dot_and_empty_mean_no_observation(tmp_path):
    # How FRED's own download shows RRPONTSYD before 2013: `.` or blank on days without an
    # operation. The real op 2012-11-30 = 1.18 bn is the only row that must survive.
    rows = [["2012-11-29", "."], ["2012-11-30", "1.18"], ["2012-12-03", ""], ["2012-12-04", " . "]]
    out = read_fred_csv(write_csv(tmp_path / "RRPONTSYD.csv", ["observation_date", "RRPONTSYD"], rows), "RRPONTSYD")
    assert out.select("obs_date", "value", "value_text").rows() == [(D("2012-11-30"), 1.18, "1.18")]


def test_fred_non_numeric_value_kept_null_with_text(tmp_path):
    rows = [["2026-03-18", "6655939"], ["2026-03-25", "#N/A"]]
    out = read_fred_csv(write_csv(tmp_path / "WALCL.csv", ["date", "value"], rows), "WALCL")
    assert out.select("obs_date", "value", "value_text").rows() == [
        (D("2026-03-18"), 6655939.0, "6655939"),
        (D("2026-03-25"), None, "#N/A"),
    ]


def test_fred_nan_and_inf_texts_are_not_numbers(tmp_path):
    rows = [["2026-03-18", "NaN"], ["2026-03-25", "inf"]]
    out = read_fred_csv(write_csv(tmp_path / "WALCL.csv", ["date", "value"], rows), "WALCL")
    assert out["value"].to_list() == [None, None]
    assert out["value_text"].to_list() == ["NaN", "inf"]


def test_fred_rows_come_out_ascending(tmp_path):
    _, rows = snapshot_rows("fred/WALCL.csv")
    out = read_fred_csv(write_csv(tmp_path / "WALCL.csv", ["date", "value"], rows[-3:][::-1]), "WALCL")
    assert out["obs_date"].to_list() == [D("2026-03-11"), D("2026-03-18"), D("2026-03-25")]


def test_fred_bad_date_names_the_file(tmp_path):
    path = write_csv(tmp_path / "WALCL.csv", ["date", "value"], [["2026-03-18", "6655939"], ["03/25/2026", "6657161"]])
    with pytest.raises(SourceError, match="not YYYY-MM-DD") as err:
        read_fred_csv(path, "WALCL")
    assert str(path) in str(err.value)
    assert "03/25/2026" in str(err.value)


def test_fred_unknown_header(tmp_path):
    path = write_csv(tmp_path / "WALCL.csv", ["day", "amount"], [["2026-03-25", "6657161"]])
    with pytest.raises(SourceError, match="expected header") as err:
        read_fred_csv(path, "WALCL")
    assert str(path) in str(err.value) and "day,amount" in str(err.value)


# --- Yahoo price CSV --------------------------------------------------------------------


def test_price_with_volume(tmp_path):
    header, rows = snapshot_rows("prices/BTC-USD.csv")
    assert header == ["Date", "Open", "High", "Low", "Close", "Volume"]
    last3 = rows[-3:]
    out = read_price_csv(write_csv(tmp_path / "BTC-USD.csv", header, last3), "BTC-USD")
    assert out.schema == OBSERVATIONS
    assert out.select("obs_date", "open", "high", "low", "value", "volume").rows() == [
        (D(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in last3
    ]
    assert out["value_text"].to_list() == [r[4] for r in last3]
    # 2026-03-31 Close 68233.3125
    assert out["value"][-1] == 68233.3125


def test_price_without_volume(tmp_path):
    header, rows = snapshot_rows("prices/GC=F.csv")
    assert header == ["Date", "Open", "High", "Low", "Close"]
    out = read_price_csv(write_csv(tmp_path / "GC=F.csv", header, rows[-3:]), "GC=F")
    assert out["value"].to_list() == [float(r[4]) for r in rows[-3:]]
    assert out["volume"].null_count() == 3


def test_price_with_adj_close_uses_close(tmp_path):
    # GLD 2025-10-06..08 real rows with an `Adj Close` column inserted in Yahoo's position.
    # Its values are written here (Close − 1) only so the test can tell which column is read.
    header, rows = snapshot_rows("prices/GLD.csv")
    real = [r for r in rows if r[0] in ("2025-10-06", "2025-10-07", "2025-10-08")]
    with_adj = [[*r[:5], str(float(r[4]) - 1), r[5]] for r in real]
    path = write_csv(tmp_path / "GLD.csv", ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"], with_adj)
    out = read_price_csv(path, "GLD")
    # 2025-10-06 Close 364.3800048828125, Volume 17093700
    assert out["value"].to_list() == [float(r[4]) for r in real]
    assert out["value"][0] == 364.3800048828125
    assert out["volume"].to_list() == [float(r[5]) for r in real]


def test_price_leading_spaces_in_headers_and_cells(tmp_path):
    # `, ` separated like the SPDR archive export; rows are real GLD.csv rows.
    _, rows = snapshot_rows("prices/GLD.csv")
    real = [r for r in rows if r[0] in ("2025-10-06", "2025-10-07")]
    path = tmp_path / "GLD.csv"
    path.write_text("Date, Open, High, Low, Close, Volume\n" + "".join(", ".join(r) + "\n" for r in real))
    out = read_price_csv(path, "GLD")
    assert out["obs_date"].to_list() == [D("2025-10-06"), D("2025-10-07")]
    assert out["value"].to_list() == [float(r[4]) for r in real]
    assert out["open"].to_list() == [float(r[1]) for r in real]
    assert out["value_text"].to_list() == [r[4] for r in real]  # stripped text


def test_price_timestamp_dates_and_newest_first(tmp_path):
    # MSTR_strategy_metrics.csv style: `YYYY-MM-DD 00:00:00` timestamps, sorted newest-first.
    _, rows = snapshot_rows("prices/MSTR.csv")
    first3 = rows[:3]  # 2020-08-10 .. 2020-08-12
    stamped = [[f"{r[0]} 00:00:00", *r[1:]] for r in reversed(first3)]
    out = read_price_csv(write_csv(tmp_path / "MSTR.csv", ["Date", "Open", "High", "Low", "Close"], stamped), "MSTR")
    assert out["obs_date"].to_list() == [D(r[0]) for r in first3]
    assert out["value"].to_list() == [float(r[4]) for r in first3]


def test_price_non_numeric_close_kept(tmp_path):
    # 3350.T's real TSE-outage row: `2020-10-01,#VALUE!,#VALUE!,#VALUE!,#VALUE!,0`
    header, rows = snapshot_rows("prices/3350.T.csv")
    outage = [r for r in rows if r[0] == "2020-10-01"]
    assert outage == [["2020-10-01", "#VALUE!", "#VALUE!", "#VALUE!", "#VALUE!", "0"]]
    out = read_price_csv(write_csv(tmp_path / "3350.T.csv", header, outage), "3350.T")
    assert out.select("value", "value_text", "open", "volume").row(0) == (None, "#VALUE!", None, 0.0)


def test_price_bad_date_names_the_file(tmp_path):
    # The SPDR archive's own date format (`22-May-2025`) is not YYYY-MM-DD.
    path = tmp_path / "GLD.csv"
    path.write_text("Date,Open,High,Low,Close\n22-May-2025,303.11,303.11,303.11,303.11\n")
    with pytest.raises(SourceError, match="not YYYY-MM-DD") as err:
        read_price_csv(path, "GLD")
    assert str(path) in str(err.value)


def test_price_unknown_header(tmp_path):
    # The real MSTR_strategy_metrics.csv: lower-case `timestamp,…,close,…`, no Date/Close.
    path = tmp_path / "MSTR.csv"
    shutil.copy(SNAPSHOT_DIR / "prices" / "MSTR_strategy_metrics.csv", path)
    with pytest.raises(SourceError, match="expected Yahoo columns") as err:
        read_price_csv(path, "MSTR")
    assert str(path) in str(err.value)


# --- fetch / locate ---------------------------------------------------------------------


def test_fetch_missing_file_says_not_in(tmp_path):
    with pytest.raises(SourceError, match="not in") as err:
        fetch(REGISTRY.get("WALCL"), tmp_path)
    assert "WALCL" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(SourceError, match="not in"):
        fetch(REGISTRY.get("^NDX"), tmp_path)


def test_fetch_reads_fred_json_api_file(tmp_path):
    src = WIRE / "fred_series_observations_WALCL_desc60.json"
    (tmp_path / "fred").mkdir()
    shutil.copy(src, tmp_path / "fred" / "WALCL.json")
    result = fetch(REGISTRY.get("WALCL"), tmp_path)
    frame = result.frame
    assert result.series_id == "WALCL"
    assert result.metadata == {"file": str(tmp_path / "fred" / "WALCL.json")}
    assert frame.schema == OBSERVATIONS

    # Independently: plain json, the response is newest-first (sort_order desc), 60 obs.
    obs = json.loads(src.read_bytes())["observations"]
    assert len(obs) == 60 and obs[0]["date"] == "2026-08-05" and obs[-1]["date"] == "2025-06-18"
    expected = sorted((D(o["date"]), float(o["value"]), o["value"]) for o in obs)
    assert frame.select("obs_date", "value", "value_text").rows() == expected
    # value_text verbatim, FRED's mixed formatting kept: 2026-08-05 "6748567.0000000000"
    assert frame.filter(pl.col("obs_date") == D("2026-08-05"))["value_text"].item() == "6748567.0000000000"


def test_fred_json_agrees_with_snapshot_csv_where_they_overlap(tmp_path):
    # Two independent copies of WALCL (raw API JSON vs snapshot CSV): identical on common dates.
    obs = {D(o["date"]): float(o["value"]) for o in json.loads((WIRE / "fred_series_observations_WALCL_desc60.json").read_bytes())["observations"]}
    with (SNAPSHOT_DIR / "fred" / "WALCL.csv").open(newline="") as f:
        snap = {D(r["date"]): float(r["value"]) for r in csv.DictReader(f)}
    common = sorted(set(obs) & set(snap))
    assert len(common) >= 30
    assert [obs[d] for d in common] == [snap[d] for d in common]


def test_locate_prefers_csv_over_json(tmp_path):
    _, rows = snapshot_rows("fred/WALCL.csv")
    write_csv(tmp_path / "fred" / "WALCL.csv", ["date", "value"], rows[-3:])
    shutil.copy(WIRE / "fred_series_observations_WALCL_desc60.json", tmp_path / "fred" / "WALCL.json")
    assert locate(REGISTRY.get("WALCL"), tmp_path) == tmp_path / "fred" / "WALCL.csv"
    assert fetch(REGISTRY.get("WALCL"), tmp_path).frame.height == 3


def test_fetch_price_file(tmp_path):
    header, rows = snapshot_rows("prices/^NDX.csv")
    write_csv(tmp_path / "prices" / "^NDX.csv", header, rows[-3:])
    frame = fetch(REGISTRY.get("^NDX"), tmp_path).frame
    # ^NDX 2026-03-31 Close 23740.189453125
    assert frame["value"][-1] == 23740.189453125
    assert frame["series_id"].unique().to_list() == ["^NDX"]


def test_fetch_header_only_file_is_an_empty_frame(tmp_path):
    # An empty file is not a read error: fetch returns an empty OBSERVATIONS frame and the
    # gate's not_empty check names it (replay.fetch).
    write_csv(tmp_path / "fred" / "WALCL.csv", ["date", "value"], [])
    frame = fetch(REGISTRY.get("WALCL"), tmp_path).frame
    assert frame.height == 0 and frame.schema == OBSERVATIONS


def test_fetch_only_missing_values_is_an_empty_frame(tmp_path):
    write_csv(tmp_path / "fred" / "RRPONTSYD.csv", ["date", "value"], [["2012-12-03", "."], ["2012-12-04", ""]])
    frame = fetch(REGISTRY.get("RRPONTSYD"), tmp_path).frame
    assert frame.height == 0 and frame.schema == OBSERVATIONS


def test_fetch_zero_byte_file_is_empty_or_source_error(tmp_path):
    (tmp_path / "fred").mkdir()
    (tmp_path / "fred" / "WALCL.csv").write_bytes(b"")
    try:
        result = fetch(REGISTRY.get("WALCL"), tmp_path)
    except SourceError:
        return
    assert result.frame.height == 0 and result.frame.schema == OBSERVATIONS


def test_fetch_saved_fred_error_body_is_a_source_error(tmp_path):
    (tmp_path / "fred").mkdir()
    shutil.copy(WIRE / "fred_error_429_rate_limit.json", tmp_path / "fred" / "WTREGEN.json")
    with pytest.raises(SourceError, match="429"):
        fetch(REGISTRY.get("WTREGEN"), tmp_path)


# --- replay_clock -----------------------------------------------------------------------


def test_replay_clock_is_newest_observation():
    frames = [read_fred_csv(SNAPSHOT_DIR / "fred" / f"{s}.csv", s) for s in ("WALCL", "WTREGEN", "RRPONTSYD")]
    # newest dates in the files (last CSV rows): WALCL 2026-03-25, WTREGEN 2026-03-25,
    # RRPONTSYD 2026-03-31 → the clock is 2026-03-31
    last = []
    for s in ("WALCL", "WTREGEN", "RRPONTSYD"):
        _, rows = snapshot_rows(f"fred/{s}.csv")
        last.append(max(D(r[0]) for r in rows))
    assert last == [D("2026-03-25"), D("2026-03-25"), D("2026-03-31")]
    assert replay_clock(frames) == D("2026-03-31")


def test_replay_clock_ignores_empty_frames_and_refuses_none():
    _, rows = snapshot_rows("fred/WALCL.csv")
    walcl = read_fred_csv(SNAPSHOT_DIR / "fred" / "WALCL.csv", "WALCL")
    empty = walcl.clear()
    assert replay_clock([empty, walcl]) == D(rows[-1][0]) == D("2026-03-25")
    with pytest.raises(SourceError, match="no observations"):
        replay_clock([empty])
    with pytest.raises(SourceError):
        replay_clock([])

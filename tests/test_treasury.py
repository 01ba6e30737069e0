"""The Treasury source (flows/sources/treasury.py): the TGA close of every business day from the
Daily Treasury Statement, across the account's two renames.

Real data: data/snapshot/other/ (PROVENANCE.md, last section): the API's fields saved as CSV
(2016-01-04..2025-09-02), the parsed fixed-width statements (2005-06-09..2013-01-28), and
tga_daily_close_dts.csv, the close selected from those two files independently of this code
(by the shared data's README, columns date,value,source_account_type,source_field). The API's
JSON is BUILT from the recorded rows (tests/fake_treasury.py, tests/fixtures/treasury/README.md):
no recording of it exists.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import urllib.error

import polars as pl
import pytest

from flows import limits, pipeline
from flows.registry import RegistryError, load_registry
from flows.sources import replay, treasury
from flows.sources.schema import BadRows, Deadline, FetchResult, SourceError
from tests.fake_treasury import FIXTURES, RECORDED, FakeTreasury, build_page, naive_close, recorded_rows
from transforms import known as pit

SNAPSHOT = replay.SNAPSHOT_DIR
D = dt.date.fromisoformat

# The renames, as the recorded rows show them (tga_daily_close_dts.csv's source_account_type).
OLD, INTERIM, CLOSING = treasury.CLOSE_FIELD
# The two windows of the built responses, with the closes the independent selection gives
# (tga_daily_close_dts.csv, millions USD; the "field" column says where each came from).
WINDOWS = {
    "2021-09-28_2021-10-04": {
        "2021-09-28": 172920, "2021-09-29": 173745, "2021-09-30": 215160,  # Federal Reserve Account, close_today_bal
        "2021-10-01": 132452, "2021-10-04": 141318,  # Treasury General Account (TGA), close_today_bal
    },
    "2022-04-13_2022-04-20": {
        "2022-04-13": 543536, "2022-04-14": 602292, "2022-04-15": 578473,  # Treasury General Account (TGA)
        "2022-04-18": 841253, "2022-04-19": 893351, "2022-04-20": 907526,  # … Closing Balance, open_today_bal
    },
}
FAST = {"backoff_initial": 0, "backoff_jitter": 0}


@pytest.fixture(scope="module")
def spec():
    return load_registry().get("DTS-TGA")


def _independent() -> list[dict[str, str]]:
    with (SNAPSHOT / "other" / "tga_daily_close_dts.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _closes(frame: pl.DataFrame) -> dict[str, float]:
    return {str(day): value for day, value in frame.select("obs_date", "value").iter_rows()}


def _window(name: str) -> list[dict[str, str]]:
    return json.loads((FIXTURES / f"built_operating_cash_balance_{name}.json").read_text())["data"]


# --- (a) the replay: both recorded files through the rule ------------------------------


def test_the_replay_equals_the_independent_selection_on_every_day(spec):
    expected = _independent()
    got = replay.fetch(spec, SNAPSHOT).frame
    assert len(expected) == got.height == 4345
    assert [(str(d), v, t) for d, v, t in got.select("obs_date", "value", "value_text").iter_rows()] == [
        (row["date"], float(row["value"]), row["value"]) for row in expected]
    assert (got["obs_date"].min(), got["obs_date"].max()) == (D("2005-06-09"), D("2025-09-02"))
    assert got["value"].min() > 0  # never a 0


def test_each_label_holds_the_close_on_its_documented_dates():
    # what the rule relies on, read from the independent selection (not from this code)
    spans: dict[tuple[str, str], list[str]] = {}
    for row in _independent():
        spans.setdefault((row["source_account_type"], row["source_field"]), []).append(row["date"])
    assert {k: (min(v), max(v), len(v)) for k, v in spans.items()} == {
        (OLD, "close_today"): ("2005-06-09", "2013-01-28", 1917),  # the parsed statements' column name
        (OLD, "close_today_bal"): ("2016-01-04", "2021-09-30", 1446),
        (INTERIM, "close_today_bal"): ("2021-10-01", "2022-04-15", 136),
        (CLOSING, "open_today_bal"): ("2022-04-18", "2025-09-02", 846),
    }
    assert treasury.CLOSE_FIELD == {OLD: "close_today_bal", INTERIM: "close_today_bal", CLOSING: "open_today_bal"}


def test_the_gap_without_statements_is_absent_not_zero(spec):
    frame = replay.fetch(spec, SNAPSHOT).frame
    around = frame.filter(pl.col("obs_date").is_between(D("2013-01-25"), D("2016-01-05")))
    assert [str(d) for d in around["obs_date"]] == ["2013-01-25", "2013-01-28", "2016-01-04", "2016-01-05"]


def test_the_statement_close_equals_h41_wdtgal_on_every_common_wednesday(spec):
    # H.4.1's TGA on Wednesday (FRED WDTGAL, millions) is the statement's close that day:
    # the shared data's README says 891 of 891; counted here with the csv module
    with (SNAPSHOT / "fred" / "WDTGAL.csv").open(newline="") as f:
        wdtgal = {row["date"]: float(row["value"]) for row in csv.DictReader(f)}
    statement = {day: value for day, value in _closes(replay.fetch(spec, SNAPSHOT).frame).items()
                 if D(day).weekday() == 2}
    common = sorted(statement.keys() & wdtgal.keys())
    assert len(common) == 891
    assert [d for d in common if statement[d] != wdtgal[d]] == []


# --- (b) built API responses across the renames -----------------------------------------


def test_the_built_fixtures_are_what_the_recorded_rows_build():
    for name in WINDOWS:
        first, last = name.split("_")
        saved = json.loads((FIXTURES / f"built_operating_cash_balance_{name}.json").read_text())
        assert saved == build_page(recorded_rows(first, last), 1, 100)
    assert "BUILT from the recorded rows, not a recording" in (FIXTURES / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_built_pages_across_a_rename_give_the_close_on_every_day_and_never_zero(spec, name):
    fake = FakeTreasury(_window(name))
    got = treasury.fetch(spec, None, transport=fake, **FAST)
    assert _closes(got.frame) == {day: float(v) for day, v in WINDOWS[name].items()}
    assert 0.0 not in _closes(got.frame).values()
    assert fake.calls == [(1, treasury.PAGE_SIZE)]


def test_a_reader_filtering_on_one_label_loses_the_days_the_rule_keeps():
    rows = _window("2021-09-28_2021-10-04") + _window("2022-04-13_2022-04-20")
    ours = _closes(treasury.normalize_rows("DTS-TGA", pl.DataFrame(rows).select(treasury.ROW_COLUMNS)))
    assert len(ours) == 11 and 0.0 not in ours.values()
    # the old label: nothing from 2021-10-01
    assert sorted(naive_close(rows, OLD)) == ["2021-09-28", "2021-09-29", "2021-09-30"]
    # the interim label: only 2021-10-01..2022-04-15
    assert sorted(naive_close(rows, INTERIM)) == ["2021-10-01", "2021-10-04", "2022-04-13", "2022-04-14",
                                                  "2022-04-15"]
    # the current label read in the column the close used to be in: a TGA of 0
    assert naive_close(rows, CLOSING) == {"2022-04-18": 0.0, "2022-04-19": 0.0, "2022-04-20": 0.0}


def test_early_2022_is_zero_for_a_tracker_that_knows_two_labels_and_never_for_the_rule():
    # a tracker that knows the old and the current label (not the interim one) and charts
    # a missing business day as 0: zero from 2021-10-01 to 2022-04-15, on all 136 days
    rows = recorded_rows()
    tracker = naive_close(rows, OLD) | naive_close(rows, CLOSING, "open_today_bal")
    days = sorted({row["record_date"] for row in rows})
    shown = {day: tracker.get(day, 0.0) for day in days}
    zeros = [day for day, value in shown.items() if value == 0.0]
    assert (len(zeros), zeros[0], zeros[-1]) == (136, "2021-10-01", "2022-04-15")
    ours = _closes(treasury.normalize_rows("DTS-TGA", pl.DataFrame(rows).select(treasury.ROW_COLUMNS)))
    assert sorted(ours) == days and len(days) == 2428
    assert ours["2021-10-01"] == 132452.0 and min(ours[d] for d in zeros) > 0  # the interim label's closes


# --- (c) paging ------------------------------------------------------------------------


def test_a_multi_page_answer_is_followed_to_its_last_page_and_every_row_read(spec):
    rows = recorded_rows()  # all 8130 recorded rows, 2016-01-04..2025-09-02
    fake = FakeTreasury(rows)
    pages = treasury.fetch_pages("DTS-TGA", None, transport=fake, page_size=1000, **FAST)
    assert fake.calls == [(n, 1000) for n in range(1, 10)]  # page 1, then links.next until total-pages 9
    assert [len(p["data"]) for p in pages] == [1000] * 8 + [130]
    assert treasury.rows_from_pages("DTS-TGA", pages).to_dicts() == [
        {k: r[k] for k in treasury.ROW_COLUMNS} for r in rows]
    got = treasury.fetch(spec, None, transport=FakeTreasury(rows), page_size=1000, **FAST)
    assert got.frame.equals(treasury.read_statement_files(spec, [RECORDED]).frame)
    assert got.metadata == {"endpoint": treasury.ENDPOINT, "pages": "9", "rows": "8130"}


def test_the_request_asks_what_the_docs_describe_and_from_since(spec):
    url = treasury.page_url(D("2025-08-01"), 2, 500)
    assert url == (f"{treasury.BASE_URL}?fields=record_date,account_type,close_today_bal,open_today_bal,src_line_nbr"
                   "&filter=record_date:gte:2025-08-01&sort=record_date,src_line_nbr"
                   "&page%5Bnumber%5D=2&page%5Bsize%5D=500")
    assert "filter" not in treasury.page_url(None, 1)
    assert treasury.page_of("&page%5Bnumber%5D=7&page%5Bsize%5D=100") == (7, 100)
    got = treasury.fetch(spec, D("2025-08-28"), transport=FakeTreasury(recorded_rows()), **FAST)
    assert list(_closes(got.frame)) == ["2025-08-28", "2025-08-29", "2025-09-02"]


# --- (d) faults: each a SourceError naming the series ----------------------------------


def _http_error(status: int, body: bytes = b"") -> urllib.error.HTTPError:
    return urllib.error.HTTPError(treasury.BASE_URL, status, "error", {}, io.BytesIO(body))


def test_a_5xx_is_retried_and_the_fetch_succeeds(spec, caplog):
    fake = FakeTreasury(_window("2022-04-13_2022-04-20"))
    fake.fail(1, lambda: _http_error(503, b"<html>Service Unavailable</html>"))
    got = treasury.fetch(spec, None, transport=fake, **FAST)
    assert len(fake.calls) == 2 and got.frame.height == 6
    assert "attempt 1/4 failed (HTTP 503: error)" in caplog.text


def test_a_5xx_that_persists_fails_after_its_attempts(spec):
    fake = FakeTreasury(_window("2022-04-13_2022-04-20"))
    fake.fail(10, lambda: _http_error(502))
    with pytest.raises(SourceError, match=r"^DTS-TGA: Treasury .* page 1 request failed after 4 attempts: HTTP 502"):
        treasury.fetch(spec, None, transport=fake, **FAST)
    assert len(fake.calls) == 4


def test_a_400_is_not_retried_and_its_message_is_shown(spec):
    fake = FakeTreasury(_window("2022-04-13_2022-04-20"))
    body = json.dumps({"error": "Invalid Query Param", "message": "Invalid query parameter 'sort'"}).encode()
    fake.fail(1, lambda: _http_error(400, body))
    with pytest.raises(SourceError, match=r"DTS-TGA: .*after 1 attempt \(not retryable\): HTTP 400: "
                                          r"Invalid Query Param: Invalid query parameter 'sort'"):
        treasury.fetch(spec, None, transport=fake, **FAST)


def test_timeouts_stop_at_the_series_deadline(spec):
    now = [0.0]
    fake = FakeTreasury(_window("2022-04-13_2022-04-20"))

    def slow(url, timeout):
        now[0] += timeout  # each try waits out its whole timeout
        raise TimeoutError("The read operation timed out")

    deadline = Deadline(60, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(SourceError, match=r"DTS-TGA: .*page 1 request failed \(the 60s deadline for DTS-TGA was "
                                          r"exceeded after 2 attempts\): timed out after 30s"):
        treasury.fetch(spec, None, transport=slow, deadline=deadline, **FAST)
    assert fake.calls == []


def test_an_empty_data_list_is_an_error_not_an_empty_series(spec):
    with pytest.raises(SourceError, match=r"DTS-TGA: .*no rows from 2026-01-02 \(data is an empty list\)"):
        treasury.fetch(spec, D("2026-01-02"), transport=FakeTreasury(recorded_rows()), **FAST)


def test_a_page_missing_is_an_error_naming_it(spec):
    rows = recorded_rows("2025-01-01")  # 672 rows: 3 pages of 300
    fake = FakeTreasury(rows)
    fake.edit(2, lambda p: p["links"].update(next=None))  # page 2 of 3 leads nowhere
    with pytest.raises(SourceError, match=r"DTS-TGA: .*page 2 of 3 has no links.next: page 3 is missing"):
        treasury.fetch(spec, None, transport=fake, page_size=300, **FAST)

    # page 2 answers 404 (not retryable): the fetch stops there, naming the page
    fake = FakeTreasury(rows)

    def second_page_gone(url, timeout):
        if treasury.page_of(url)[0] == 2:
            raise _http_error(404, b'{"error": "Not Found", "message": "no such page"}')
        return fake(url, timeout)

    with pytest.raises(SourceError, match=r"DTS-TGA: .*page 2 request failed after 1 attempt \(not retryable\): "
                                          r"HTTP 404: Not Found: no such page"):
        treasury.fetch(spec, None, transport=second_page_gone, page_size=300, **FAST)
    assert fake.calls == [(1, 300)]


def test_a_page_short_of_rows_or_a_total_that_moves_is_an_error(spec):
    rows = recorded_rows("2025-01-01")  # 672 rows: 3 pages of 300
    fake = FakeTreasury(rows)
    fake.edit(2, lambda p: p.update(data=p["data"][:-1]))
    with pytest.raises(SourceError, match=r"DTS-TGA: .*page 2: holds 299 rows, its meta.count says 300"):
        treasury.fetch(spec, None, transport=fake, page_size=300, **FAST)
    fake = FakeTreasury(rows)
    fake.edit(3, lambda p: p["meta"].update({"total-count": p["meta"]["total-count"] + 4}))
    with pytest.raises(SourceError, match=r"DTS-TGA: .*the result changed while it was paged"):
        treasury.fetch(spec, None, transport=fake, page_size=300, **FAST)


@pytest.mark.parametrize(("body", "says"), [
    (b"<html>maintenance</html>", "the answer is not JSON"),
    (b'{"data": [], "links": {}}', "expected a JSON object with data"),
    (b'{"data": [], "meta": {"count": 0, "total-count": "0", "total-pages": 1}, "links": {}}',
     "meta\\['total-count'\\] is not a whole number"),
])
def test_an_answer_not_in_the_documented_shape_is_an_error(spec, body, says):
    with pytest.raises(SourceError, match=f"DTS-TGA: .*page 1: {says}"):
        treasury.fetch(spec, None, transport=lambda url, timeout: body, **FAST)


def test_the_throttle_is_taken_before_every_attempt(spec):
    taken = []
    fake = FakeTreasury(recorded_rows("2025-01-01"))
    fake.fail(1, lambda: _http_error(503))
    treasury.fetch(spec, None, transport=fake, page_size=300, throttle=lambda: taken.append(1), **FAST)
    assert len(taken) == len(fake.calls) == 4  # a retry, then pages 1..3


# --- the rule's bad input ---------------------------------------------------------------


def _rows(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(treasury.ROW_COLUMNS, r)) for r in rows])


def test_a_day_with_two_close_rows_is_an_error_naming_the_day():
    rows = _rows(("2022-04-15", INTERIM, "578473.0", "602292"), ("2022-04-15", CLOSING, "null", "578473"),
                 ("2022-04-18", CLOSING, "null", "841253"))
    with pytest.raises(BadRows, match=r"DTS-TGA: 1 day\(s\) with more than one TGA close row \(2022-04-15\)") as bad:
        treasury.normalize_rows("DTS-TGA", rows)
    assert bad.value.check == "unique_key"


def test_a_closing_row_whose_close_column_disagrees_is_an_error():
    rows = _rows(("2022-04-18", CLOSING, "841000", "841253"))
    with pytest.raises(BadRows, match=r"differs from open_today_bal") as bad:
        treasury.normalize_rows("DTS-TGA", rows)
    assert bad.value.check == "close_rule"
    # filled with the same number, it is the same close
    same = treasury.normalize_rows("DTS-TGA", _rows(("2022-04-18", CLOSING, "841253", "841253")))
    assert same["value"].to_list() == [841253.0]


def test_a_close_that_is_not_a_number_is_kept_for_the_gate_and_a_bad_date_blocks():
    kept = treasury.normalize_rows("DTS-TGA", _rows(("2021-10-01", INTERIM, "null", "215160")))
    assert kept.select("obs_date", "value", "value_text").rows() == [(D("2021-10-01"), None, "null")]
    with pytest.raises(BadRows, match=r"record_date that is not YYYY-MM-DD:\n    10/01/2021") as bad:
        treasury.normalize_rows("DTS-TGA", _rows(("10/01/2021", INTERIM, "132452", "215160")))
    assert bad.value.check == "date_parses"
    # rows of other accounts are not closes: a day with only those is absent
    assert treasury.normalize_rows("DTS-TGA", _rows(("2022-04-18", "Total TGA Deposits (Table II)", "null",
                                                     "284332"))).height == 0


def test_a_row_lacking_a_field_is_an_error():
    page = build_page(recorded_rows("2022-04-18", "2022-04-18"), 1, 100)
    del page["data"][3]["open_today_bal"]
    with pytest.raises(SourceError, match=r"DTS-TGA: .*page 1: a row lacks open_today_bal"):
        treasury.rows_from_pages("DTS-TGA", [page])


def test_the_replay_needs_all_its_files_or_none(spec, tmp_path):
    with pytest.raises(replay.NotInReplay, match="DTS-TGA: not in"):
        replay.fetch(spec, tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / spec.replay_files[1]).write_bytes((SNAPSHOT / spec.replay_files[1]).read_bytes())
    with pytest.raises(SourceError, match=r"DTS-TGA: .* holds only part of the recorded statements: "
                                          r"other/dts_table1_2005-2013_USDOS-fms-parser.csv missing"):
        replay.fetch(spec, tmp_path)
    (tmp_path / spec.replay_files[0]).write_text("date,value\n2005-06-09,4982\n")
    with pytest.raises(SourceError, match="not a Table I file"):
        replay.fetch(spec, tmp_path)


# --- wiring: registry, release rule, the pipeline's dispatch ----------------------------


def test_the_registry_entry_is_the_treasury_source(spec):
    assert (spec.provider, spec.name, spec.native_units, spec.to_bn) == (
        "treasury", "tga_daily_close", "Millions of U.S. Dollars", 0.001)
    assert spec.exempt_dates == (D("2016-01-04"),) and spec.max_change_abs == 300_000
    assert all((SNAPSHOT / name).is_file() for name in spec.replay_files)


def test_replay_files_must_be_a_list_of_names(tmp_path):
    text = load_registry().path.read_text()
    line = next(line for line in text.splitlines() if line.startswith("replay_files = "))
    bad = tmp_path / "bad_series.toml"
    bad.write_text(text.replace(line, 'replay_files = "other/dts_operating_cash_balance_2016-2025.csv"'))
    with pytest.raises(RegistryError, match=r"'DTS-TGA': replay_files must be a list of file names"):
        load_registry(bad)


def test_a_statement_is_known_the_next_business_day_at_16_new_york(spec):
    # Wed → Thu; Fri 2025-08-29 → Tue 09-02 (Labor Day Monday); Wed 2025-12-24 → Fri 12-26
    days = pl.Series([D("2025-08-27"), D("2025-08-29"), D("2025-12-24")])
    known = pit.rule_known_at(days, spec.release_rule())
    assert [str(t) for t in known] == ["2025-08-28 20:00:00", "2025-09-02 20:00:00", "2025-12-26 21:00:00"]


def test_the_pipeline_fetches_a_treasury_series_through_the_source(spec, monkeypatch):
    fake = FakeTreasury(_window("2022-04-13_2022-04-20"))
    taken = []
    monkeypatch.setattr(treasury, "urllib_transport", fake)
    monkeypatch.setattr(limits, "treasury_throttle", lambda: taken.append(1))
    got = pipeline.fetch_series.fn(spec, None, D("2022-04-13"), None, D("2022-04-21"))
    assert isinstance(got, FetchResult) and got.frame.height == 6 and taken == [1]
    # a source failure is returned for the gate, not raised
    fake.fail(1, lambda: _http_error(400, b'{"error": "Invalid Query Param", "message": "bad filter"}'))
    failed = pipeline.fetch_series.fn(spec, None, None, None, D("2022-04-21"))
    assert isinstance(failed, SourceError) and str(failed).startswith("DTS-TGA: Treasury")


def test_other_users_file_series_still_replay_through_the_file_source():
    spec = load_registry().get("GOLD-MONTHLY")
    assert spec.provider == "file"
    got = replay.fetch(spec, SNAPSHOT)
    assert got.frame["obs_date"].min() == D("1833-01-01")

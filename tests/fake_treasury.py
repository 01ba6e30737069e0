"""A fiscal-data API for tests, answering at our transport boundary (`treasury.urllib_transport`).

What it serves is BUILT, not recorded: no recording of this endpoint's JSON exists (PROVENANCE.md,
"Not found"). The rows are the real recorded rows of
data/snapshot/other/dts_operating_cash_balance_2016-2025.csv (the API's fields saved as CSV by
xiaobxj/sarima-method), each as the API writes a row: every value a string, an empty cell the
string "null". Around them, the response shape the API documents (flows/sources/treasury.py's
docstring gives the sources): `data`, `meta` (count, labels, dataTypes, dataFormats,
total-count, total-pages) and `links` (self, first, prev, next, last as query fragments).
The texts of `labels`, `dataTypes` and `dataFormats` are written for the shape, not copied from
a response; nothing reads them.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flows.sources import treasury

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
RECORDED = SNAPSHOT / "other" / "dts_operating_cash_balance_2016-2025.csv"
FIXTURES = Path(__file__).parent / "fixtures" / "treasury"

LABELS = {"record_date": "Record Date", "account_type": "Type of Account", "close_today_bal": "Closing Balance Today",
          "open_today_bal": "Opening Balance Today", "src_line_nbr": "Source Line Number"}
DATA_TYPES = {"record_date": "DATE", "account_type": "STRING", "close_today_bal": "CURRENCY",
              "open_today_bal": "CURRENCY", "src_line_nbr": "INTEGER"}
DATA_FORMATS = {"record_date": "YYYY-MM-DD", "account_type": "String", "close_today_bal": "10.2",
                "open_today_bal": "10.2", "src_line_nbr": "10"}


def recorded_rows(first: str = "0000-00-00", last: str = "9999-99-99") -> list[dict[str, str]]:
    """The recorded CSV rows dated first..last, as the API writes them ("null" for an empty cell)."""
    with RECORDED.open(newline="") as f:
        rows = [row for row in csv.DictReader(f) if first <= row["record_date"] <= last]
    return [{k: row[k] or "null" for k in treasury.FIELDS} for row in rows]


def _fragment(page: int, size: int) -> str:
    return f"&page%5Bnumber%5D={page}&page%5Bsize%5D={size}"


def build_page(rows: list[dict[str, str]], page: int, size: int) -> dict:
    """Page `page` (1-based) of `rows` at `size` rows a page, in the documented shape."""
    pages = max(1, math.ceil(len(rows) / size))
    data = rows[(page - 1) * size: page * size]
    return {
        "data": data,
        "meta": {"count": len(data), "labels": LABELS, "dataTypes": DATA_TYPES, "dataFormats": DATA_FORMATS,
                 "total-count": len(rows), "total-pages": pages},
        "links": {"self": _fragment(page, size), "first": _fragment(1, size),
                  "prev": _fragment(page - 1, size) if page > 1 else None,
                  "next": _fragment(page + 1, size) if page < pages else None,
                  "last": _fragment(pages, size)},
    }


class FakeTreasury:
    """Answers page requests over `rows`; `fail(n, make)` makes the next n requests raise make();
    `edit(page, change)` lets a test damage the payload of one page before it is sent."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows = rows
        self.calls: list[tuple[int, int]] = []  # (page[number], page[size]) asked
        self._failures: list = []
        self._edits: dict[int, object] = {}

    def fail(self, times: int, make) -> None:
        self._failures += [make] * times

    def edit(self, page: int, change) -> None:
        self._edits[page] = change

    def __call__(self, url: str, timeout: float) -> bytes:
        assert timeout > 0
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == treasury.BASE_URL, url
        query = parse_qs(parts.query)
        assert query["fields"] == [",".join(treasury.FIELDS)] and query["sort"] == [treasury.SORT], url
        page, size = int(query["page[number]"][0]), int(query["page[size]"][0])
        self.calls.append((page, size))
        if self._failures:
            raise self._failures.pop(0)()
        rows = self.rows
        for condition in query.get("filter", []):
            field, op, value = condition.split(":", 2)
            assert (field, op) == ("record_date", "gte"), condition
            rows = [r for r in rows if r["record_date"] >= value]
        payload = build_page(rows, page, size)
        if page in self._edits:
            payload = self._edits[page](payload) or payload
        return json.dumps(payload).encode()


def naive_close(rows: list[dict[str, str]], label: str, field: str = "close_today_bal") -> dict[str, float]:
    """What a reader keeping one account label gets: {record_date: value}, an empty ("null")
    field read as 0 (the public tracker's early-2022 zeros). The counter-example to the rule."""
    return {row["record_date"]: 0.0 if row[field] in ("null", "") else float(row[field])
            for row in rows if row["account_type"] == label}

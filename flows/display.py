"""Frames as plain text tables that fit the terminal, for the read commands.

A column is shown whole or not at all: names never break mid-word, and the columns that do
not fit are named below the table. Numbers are right-aligned and printed as the source wrote
them: a float that is exactly a 32-bit float (Yahoo's prices are) prints as its shortest
32-bit form (112.14, not 112.139999), others with 10 significant digits, so arithmetic noise
(0.30000000000000004) does not show either.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import sys
import textwrap

import polars as pl

GAP = "  "
MAX_CELL = 40  # a longer text cell is cut, with "…"


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width; unlimited when the output is not a terminal (a
    file or a pipe gets every column)."""
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return sys.maxsize


def render(frame: pl.DataFrame, *, width: int | None = None, max_rows: int = 50) -> str:
    """`frame` as aligned text at most `width` characters wide (default: the terminal's)."""
    width = width or terminal_width()
    shown = frame.head(max_rows)
    columns = []
    for name in frame.columns:
        numeric = frame.schema[name].is_numeric()
        cells = [_cell(v) for v in shown[name].to_list()]
        if frame.schema[name].is_float():
            cells = _same_decimals(cells)
        columns.append((name, cells, numeric, max([len(name), *map(len, cells)])))
    fitted, used = [], 0
    for column in columns:
        need = column[3] + (len(GAP) if fitted else 0)
        if fitted and used + need > width:
            break
        fitted.append(column)
        used += need
    lines = [GAP.join(name.ljust(w) if not num else name.rjust(w) for name, _, num, w in fitted).rstrip(),
             GAP.join("-" * w for *_, w in fitted)]
    for i in range(shown.height):
        lines.append(GAP.join(cells[i].rjust(w) if num else cells[i].ljust(w)
                              for _, cells, num, w in fitted).rstrip())
    notes = []
    if frame.height > shown.height:
        notes.append(f"({frame.height - shown.height} more rows; --max-rows N shows more)")
    elif frame.height == 0:
        notes.append("(no rows)")
    hidden = [name for name, *_ in columns[len(fitted):]]
    if hidden:
        notes.append(f"({len(hidden)} more column(s) do not fit in {width} characters: {', '.join(hidden)}; "
                     "select fewer columns or widen the terminal)")
    return "\n".join(lines + [textwrap.fill(note, width) if width < sys.maxsize else note for note in notes])


def _same_decimals(cells: list[str]) -> list[str]:
    """Pad a float column's plain numbers to one number of decimals, so the points line up."""
    plain = [c for c in cells if c.replace(".", "", 1).lstrip("-").isdigit()]
    decimals = max((len(c.partition(".")[2]) for c in plain), default=0)
    if not decimals:
        return cells
    return [f"{c}{'' if '.' in c else '.'}{'0' * (decimals - len(c.partition('.')[2]))}" if c in plain else c
            for c in cells]


def _cell(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    try:
        single = struct.pack("<f", value)
    except OverflowError:
        single = None
    if single is not None and struct.unpack("<f", single)[0] == value:
        for digits in range(1, 10):  # the shortest text that reads back as the same 32-bit float
            text = f"{value:.{digits}g}"
            if struct.pack("<f", float(text)) == single:
                return _plain(text)
    return _plain(f"{value:.10g}")


def _plain(text: str) -> str:
    """1e+03 → 1000 where the plain form is short; tiny and huge numbers keep the exponent."""
    if "e" in text:
        number = float(text)
        if 1e-4 <= abs(number) < 1e15:
            return f"{number:f}".rstrip("0").rstrip(".")
    return text

"""The shape of a data-dictionary entry: a published table's grain, key and described columns."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    dtype: pl.DataType
    description: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    grain: str
    description: str
    key: tuple[str, ...]
    columns: dict[str, Column]

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({name: col.dtype for name, col in self.columns.items()})

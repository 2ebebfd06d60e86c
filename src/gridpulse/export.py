"""Query results (Arrow, UTC instants) -> JSON rows, CSV or Parquet, with times in the asked zone."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gridpulse.timeutil import format_ts

__all__ = ["FORMATS", "to_csv", "to_json_chunks", "to_parquet", "with_local_ts"]

FORMATS = ("json", "csv", "parquet")
_TS_COLS = ("ts", "inserted_at")


def with_local_ts(table: pa.Table, tz: str) -> pa.Table:
    """Instant columns rendered as ISO 8601 text in `tz` (e.g. 2024-03-31T00:00:00+01:00)."""
    for name in _TS_COLS:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, format_ts(table.column(name), tz))
    return table


def to_json_chunks(
    head: dict[str, Any], table: pa.Table, tz: str, *, chunk_rows: int = 50_000
) -> Iterator[bytes]:
    """`{...head, "points": [{...}, ...]}` as a stream of byte chunks, so big results never sit whole in memory."""
    head_bytes = orjson.dumps(head)
    yield head_bytes[:-1] + (b',"points":[' if head else b'"points":[')
    first = True
    for off in range(0, table.num_rows, chunk_rows):
        rows = with_local_ts(table.slice(off, chunk_rows), tz).to_pylist()
        body = orjson.dumps(rows)[1:-1]
        if body:
            yield (b"" if first else b",") + body
            first = False
    yield b"]}"


def to_csv(table: pa.Table, tz: str) -> bytes:
    out = io.BytesIO()
    pacsv.write_csv(with_local_ts(table, tz), out)
    return out.getvalue()


def to_parquet(table: pa.Table, tz: str) -> bytes:
    for name in _TS_COLS:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(name).cast(pa.timestamp("us", tz=tz)))
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()

"""Backend-independent preparation of a keyed batch for the write path, all in Arrow.

Every backend needs the same steps before its SQL: find the batch's distinct series keys, map
each row to its series, keep the last row per (series, ts), and split the rows at the series'
high-water mark into those that are certainly new and those that must be compared with what is
stored. Doing them in Arrow keeps per-row Python out and leaves the database one plain append
for the common case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.errors import StoreError
from gridpulse.model import SeriesKey

__all__ = ["PreparedBatch", "distinct_keys", "prepare_batch"]

_SEP = "\x1f"  # unit separator: joins the three parts of a key for hashing, never in real names
NAIVE_TS = pa.timestamp("us")


def distinct_keys(batch: pa.Table) -> tuple[list[SeriesKey], pa.Array]:
    """The batch's distinct series keys, and for each row the index of its key in that list."""
    joined = pc.binary_join_element_wise(
        batch.column("entity_kind"), batch.column("entity_id"), batch.column("metric"), _SEP
    )
    enc = pc.dictionary_encode(joined).combine_chunks()
    keys = []
    for text in enc.dictionary.to_pylist():
        parts = text.split(_SEP)
        if len(parts) != 3:
            raise StoreError(f"series key {text!r} contains the control character U+001F; remove it")
        keys.append(SeriesKey(*parts))
    return keys, enc.indices


@dataclass
class PreparedBatch:
    """Rows ready for SQL (columns series_id, ts naive UTC, value, quality).

    Attributes:
        new: rows above their series' high-water mark: append as version 1.
        old: rows at or below it: compare with the stored row.
        max_ts: series_id, max_ts per series in the batch (the new high-water marks).
        duplicates: rows dropped because a later row of the batch had the same (series, ts).
    """

    new: pa.Table
    old: pa.Table
    max_ts: pa.Table
    duplicates: int


def prepare_batch(
    batch: pa.Table, key_index: pa.Array, series_ids: list[int], hwm: Mapping[int, datetime]
) -> PreparedBatch:
    """Map rows to series ids, keep the last row per (series, ts), split at the high-water marks.

    Args:
        batch: KEYED_BATCH_SCHEMA rows.
        key_index: per row, the index of its key (from distinct_keys).
        series_ids: the id of each distinct key, in distinct_keys order.
        hwm: series id -> newest ts stored (naive UTC); absent for series with no points.
    """
    idx = key_index.cast(pa.int32())
    sid = pa.array(series_ids, pa.int32()).take(idx)
    ts = batch.column("ts").combine_chunks().cast(NAIVE_TS)
    table = pa.Table.from_arrays(
        [sid, ts, batch.column("value").combine_chunks(), batch.column("quality").combine_chunks()],
        names=["series_id", "ts", "value", "quality"],
    )
    per_series = (
        table.group_by("series_id").aggregate([("ts", "max")]).rename_columns(["series_id", "max_ts"])
    )
    unique = table.group_by(["series_id", "ts"]).aggregate([]).num_rows
    duplicates = table.num_rows - unique
    if duplicates:
        # the body's order is the order of events: the last row of a repeated (series, ts) wins
        keep_last = pc.ScalarAggregateOptions(skip_nulls=False)
        table = (
            table.group_by(["series_id", "ts"], use_threads=False)
            .aggregate([("value", "last", keep_last), ("quality", "last", keep_last)])
            .rename_columns(["series_id", "ts", "value", "quality"])
        )
    marks = pa.array([hwm.get(s) for s in series_ids], NAIVE_TS)
    row_mark = (
        marks.take(idx)
        if not duplicates
        else marks.take(pc.index_in(table.column("series_id"), pa.array(series_ids, pa.int32())))
    )
    is_new = pc.fill_null(pc.greater(table.column("ts"), row_mark), True)
    if pc.all(is_new).as_py():
        old = table.slice(0, 0)
        new = table
    else:
        new = table.filter(is_new)
        old = table.filter(pc.invert(is_new))
    return PreparedBatch(new=new, old=old, max_ts=per_series, duplicates=duplicates)

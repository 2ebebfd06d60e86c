"""Backend-independent preparation of a keyed batch for the write path, in Arrow and numpy.

Every backend needs the same steps before its SQL: find the batch's distinct series keys, map
each row to its series, keep the last row per (series, ts), and split the rows at the series'
high-water mark into those that are certainly new and those that must be compared with what is
stored. Doing them here keeps per-row Python out and leaves the database one plain append for
the common case.

The steps run on the single writer thread, so their cost caps every route's throughput: keys
are found per column (each dictionary-encoded once, or taken as they come when a parser already
encoded them) and combined as integers, and (series, ts) pairs are packed into one int64 for the
duplicate check, instead of hashing joined strings and grouping on two columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.errors import StoreError
from gridpulse.model import Quality, SeriesKey

__all__ = ["NAIVE_TS", "PreparedBatch", "distinct_keys", "prepare_batch"]

NAIVE_TS = pa.timestamp("us")
_ESTIMATED = pa.scalar(int(Quality.ESTIMATED), pa.int8())
_KEY_COLUMNS = ("entity_kind", "entity_id", "metric")
_NO_MARK = np.iinfo(np.int64).min


def _encoded(batch: pa.Table, name: str) -> tuple[list[str], np.ndarray]:
    """A key column's distinct values and, per row, the index of its value."""
    col = batch.column(name)
    if col.null_count:
        raise StoreError(f"column {name!r} is empty in a row; every row needs its series key")
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    return enc.dictionary.to_pylist(), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def distinct_keys(batch: pa.Table) -> tuple[list[SeriesKey], np.ndarray]:
    """The batch's distinct series keys, and for each row the index (int32) of its key in that list.

    The three key columns may be plain strings or dictionary-encoded strings.
    """
    (kinds, kind_i), (ids, id_i), (metrics, metric_i) = (_encoded(batch, c) for c in _KEY_COLUMNS)
    n_ids, n_metrics = max(len(ids), 1), max(len(metrics), 1)
    # one integer per (kind, id, metric); the product of three dictionary sizes fits in int64
    code = (kind_i * n_ids + id_i) * n_metrics + metric_i
    enc = pc.dictionary_encode(pa.array(code, pa.int64()))
    uniq = enc.dictionary.to_numpy()
    keys = [
        SeriesKey(kinds[k], ids[e], metrics[m])
        for k, e, m in zip(
            (uniq // (n_ids * n_metrics)).tolist(),
            ((uniq // n_metrics) % n_ids).tolist(),
            (uniq % n_metrics).tolist(),
            strict=True,
        )
    ]
    key_i = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    first: dict[SeriesKey, int] = {}
    same_as = [first.setdefault(k, j) for j, k in enumerate(keys)]
    if len(first) < len(keys):  # a dictionary that repeats a value: one index per key
        order = {j: i for i, j in enumerate(first.values())}
        key_i = np.array([order[j] for j in same_as], dtype=np.int32)[key_i]
        keys = list(first)
    return keys, key_i


@dataclass
class PreparedBatch:
    """Rows ready for SQL (columns series_id, ts naive UTC, value, quality).

    Attributes:
        new: rows above their series' high-water mark: append as version 1.
        old: rows at or below it: compare with the stored row.
        max_ts: series_id, max_ts, min_ts per series in the batch (the new high-water marks, and
            with min_ts the range the batch touched).
        duplicates: rows dropped because a later row of the batch had the same (series, ts).
        span_ids, newest_us, oldest_us: max_ts as numpy arrays (µs since 1970, naive UTC), for
            the writer's per-series bookkeeping without datetime objects.
    """

    new: pa.Table
    old: pa.Table
    max_ts: pa.Table
    duplicates: int
    span_ids: np.ndarray
    newest_us: np.ndarray
    oldest_us: np.ndarray


def _has_duplicates(key_i: np.ndarray, n_keys: int, ts_us: np.ndarray) -> bool:
    """Whether two rows share (series, ts): one int64 per row when the time span allows it, sorted
    (numpy's sort of int64 beats hashing them several times over)."""
    if len(ts_us) < 2:
        return False
    if n_keys <= 1 << 16 and _rising_per_key(key_i, ts_us):
        return False
    lo, hi = int(ts_us.min()), int(ts_us.max())
    shift = 63 - max(n_keys, 1).bit_length()
    if hi - lo >= 1 << shift:  # a span too wide to pack (centuries with many keys): group
        pairs = pa.table({"k": key_i, "t": ts_us}).group_by(["k", "t"]).aggregate([])
        return bool(pairs.num_rows != len(ts_us))
    packed = np.sort((key_i.astype(np.int64) << shift) | (ts_us - lo))
    return bool(np.any(packed[1:] == packed[:-1]))


def _rising_per_key(key_i: np.ndarray, ts_us: np.ndarray) -> bool:
    """Whether each key's rows come in strictly rising time, as a head-end or a file sends them:
    then no (series, ts) repeats. A stable sort of 16-bit keys is numpy's radix sort, O(rows):
    2.3x faster than sorting packed (key, ts) pairs on 100k rows of 1,000 series."""
    order = np.argsort(key_i.astype(np.uint16), kind="stable")
    k, t = key_i[order], ts_us[order]
    return bool(np.all((t[1:] > t[:-1]) | (k[1:] != k[:-1])))


def prepare_batch(
    batch: pa.Table,
    key_index: pa.Array | np.ndarray,
    series_ids: Sequence[int],
    hwm: Mapping[int, int],
) -> PreparedBatch:
    """Map rows to series ids, keep the last row per (series, ts), split at the high-water marks.

    Args:
        batch: KEYED_BATCH_SCHEMA rows.
        key_index: per row, the index of its key (from distinct_keys).
        series_ids: the id of each distinct key, in distinct_keys order.
        hwm: series id -> newest ts stored [µs since 1970, naive UTC]; absent for series with no
            points.
    """
    key_i = np.asarray(key_index, dtype=np.int32)
    ids = np.asarray(series_ids, dtype=np.int32)
    ts = batch.column("ts").combine_chunks().cast(NAIVE_TS)
    ts_us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    value = batch.column("value").combine_chunks()
    quality = batch.column("quality").combine_chunks()
    # the new high-water marks: newest ts per key
    newest = np.full(len(ids), _NO_MARK, dtype=np.int64)
    np.maximum.at(newest, key_i, ts_us)
    oldest = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(oldest, key_i, ts_us)
    max_ts = pa.table(
        {
            "series_id": pa.array(ids),
            "max_ts": pa.array(newest).cast(NAIVE_TS),
            "min_ts": pa.array(oldest).cast(NAIVE_TS),
        }
    )
    marks = np.fromiter((hwm.get(s, _NO_MARK) for s in ids.tolist()), dtype=np.int64, count=len(ids))
    duplicates = 0
    if _has_duplicates(key_i, len(ids), ts_us):
        # the body's order is the order of events: the last row of a repeated (series, ts) wins
        keep_last = pc.ScalarAggregateOptions(skip_nulls=False)
        rows_in = pa.table({"k": key_i, "ts": ts, "value": value, "quality": quality})
        estimated = pc.equal(quality, _ESTIMATED)
        if pc.any(estimated).as_py():
            # except that an estimate never replaces an actual or edited read: estimates go first
            # (a stable sort keeps each group's order), so the last row is a read whenever the
            # batch has one for that (series, ts)
            order = np.argsort(~estimated.to_numpy(zero_copy_only=False), kind="stable")
            rows_in = rows_in.take(order)
        table = rows_in.group_by(["k", "ts"], use_threads=False).aggregate(
            [("value", "last", keep_last), ("quality", "last", keep_last)]
        )
        duplicates = len(key_i) - table.num_rows
        key_i = table.column("k").to_numpy()
        ts = table.column("ts").combine_chunks()
        ts_us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
        value = table.column("value_last").combine_chunks()
        quality = table.column("quality_last").combine_chunks()
    rows = pa.Table.from_arrays(
        [pa.array(ids[key_i]), ts, value, quality], names=["series_id", "ts", "value", "quality"]
    )
    is_new = ts_us > marks[key_i]
    spans = {"max_ts": max_ts, "span_ids": ids, "newest_us": newest, "oldest_us": oldest}
    if is_new.all():
        return PreparedBatch(new=rows, old=rows.slice(0, 0), duplicates=duplicates, **spans)
    mask = pa.array(is_new)
    return PreparedBatch(
        new=rows.filter(mask), old=rows.filter(pc.invert(mask)), duplicates=duplicates, **spans
    )

"""The write path's batch preparation against a plain Python rendering of the same rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA, KEYED_BATCH_SCHEMA, SeriesKey
from gridpulse.store.prepare import distinct_keys, prepare_batch

T0 = datetime(2024, 3, 31, tzinfo=UTC)


def _batch(rng: random.Random, n: int, *, span: timedelta, encoded: bool) -> pa.Table:
    rows = [
        {
            "entity_kind": rng.choice(["meter", "device"]),
            "entity_id": f"e-{rng.randrange(6)}",
            "metric": rng.choice(["kwh", "kw", "soc"]),
            "ts": T0 + span * rng.random() // timedelta(minutes=15) * timedelta(minutes=15),
            "value": rng.choice([None, round(rng.uniform(-5, 5), 3)]),
            "quality": rng.choice([0, 0, 0, 2]),
        }
        for _ in range(n)
    ]
    table = pa.Table.from_pylist(rows, schema=KEYED_BATCH_SCHEMA)
    if not encoded:
        return table
    # a dictionary that repeats values, as a parser may make it: the preparation must not care
    cols = []
    for name in ("entity_kind", "entity_id", "metric"):
        values = table.column(name).to_pylist()
        dictionary = sorted(set(values)) * 2
        idx = [dictionary.index(v) + len(dictionary) // 2 * rng.randrange(2) for v in values]
        cols.append(pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(dictionary)))
    return pa.Table.from_arrays([*cols, *table.columns[3:]], schema=ENCODED_KEYED_BATCH_SCHEMA)


def _expected(
    table: pa.Table, ids: dict[SeriesKey, int], hwm: dict[int, datetime]
) -> tuple[set, set, dict, int]:
    last: dict[tuple[int, datetime], tuple[float | None, int]] = {}
    for r in table.to_pylist():
        sid = ids[SeriesKey(r["entity_kind"], r["entity_id"], r["metric"])]
        last[(sid, r["ts"].replace(tzinfo=None))] = (r["value"], r["quality"])
    new, old, newest = set(), set(), {}
    for (sid, ts), (value, quality) in last.items():
        mark = hwm.get(sid)
        (new if mark is None or ts > mark else old).add((sid, ts, value, quality))
        newest[sid] = max(newest.get(sid, ts), ts)
    return new, old, newest, table.num_rows - len(last)


def _rows(table: pa.Table) -> set:
    return {(r["series_id"], r["ts"], r["value"], r["quality"]) for r in table.to_pylist()}


@pytest.mark.parametrize("encoded", [False, True])
@pytest.mark.parametrize(
    "span", [timedelta(hours=6), timedelta(days=7000 * 365)]
)  # too wide to pack: grouped
@pytest.mark.parametrize("seed", range(4))
def test_prepare_matches_the_rules_written_out(encoded: bool, span: timedelta, seed: int) -> None:
    rng = random.Random(seed)
    table = _batch(rng, 400, span=span, encoded=encoded)
    keys, key_index = distinct_keys(table)
    assert len(set(keys)) == len(keys)
    ids = {k: 100 + i * 7 for i, k in enumerate(keys)}
    # some series have stored points up to somewhere inside the batch, others none
    ts = [t.replace(tzinfo=None) for t in table.column("ts").to_pylist()]
    hwm = {ids[k]: rng.choice(ts) for k in keys if rng.random() < 0.6}
    hwm_us = {sid: (t - datetime(1970, 1, 1)) // timedelta(microseconds=1) for sid, t in hwm.items()}
    prep = prepare_batch(table, key_index, [ids[k] for k in keys], hwm_us)
    new, old, newest, duplicates = _expected(table, ids, hwm)
    assert _rows(prep.new) == new
    assert _rows(prep.old) == old
    assert prep.duplicates == duplicates
    max_ts = prep.max_ts.to_pydict()
    assert dict(zip(max_ts["series_id"], max_ts["max_ts"], strict=True)) == newest
    # the same spans as plain µs, for the writer
    assert prep.span_ids.tolist() == max_ts["series_id"]
    assert prep.newest_us.tolist() == [
        (t - datetime(1970, 1, 1)) // timedelta(microseconds=1) for t in max_ts["max_ts"]
    ]
    assert prep.oldest_us.tolist() == [
        (t - datetime(1970, 1, 1)) // timedelta(microseconds=1) for t in max_ts["min_ts"]
    ]


def test_the_last_of_repeated_rows_wins_whatever_the_order() -> None:
    table = pa.Table.from_pylist(
        [
            {"entity_kind": "meter", "entity_id": "m-1", "metric": "kwh", "ts": T0, "value": v, "quality": 0}
            for v in (1.0, 2.0, 3.0)
        ],
        schema=KEYED_BATCH_SCHEMA,
    )
    _, key_index = distinct_keys(table)
    prep = prepare_batch(table, key_index, [1], {})
    assert prep.duplicates == 2
    assert prep.new.column("value").to_pylist() == [3.0]
    assert np.asarray(key_index).tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("keys", "stamps", "expected"),
    [
        ([0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 2, 2], False),  # a fleet interval by interval: rising per key
        ([0, 1, 0, 1], [1, 1, 0, 0], False),  # falling per key, but no pair repeats
        ([0, 1, 2, 0], [5, 5, 5, 5], True),  # a resend of key 0 far from the first
        ([0, 0], [3, 3], True),
        ([1, 0, 1, 0, 1], [0, 0, 2, 1, 1], False),  # out of order within a key, no repeat
        ([1, 0, 1, 0, 1], [0, 0, 2, 1, 0], True),
    ],
)
def test_duplicate_check_whatever_the_order(keys: list[int], stamps: list[int], expected: bool) -> None:
    from gridpulse.store.prepare import _has_duplicates

    key_i = np.array(keys, dtype=np.int32)
    ts_us = np.array(stamps, dtype=np.int64) * 900_000_000 + 1_700_000_000_000_000
    assert _has_duplicates(key_i, max(keys) + 1, ts_us) is expected


@pytest.mark.parametrize("n_keys", [3, 70_000])  # past 16-bit keys the check sorts packed pairs
def test_duplicate_check_on_many_rows_and_keys(n_keys: int) -> None:
    from gridpulse.store.prepare import _has_duplicates

    rng = np.random.default_rng(7)
    key_i = rng.integers(0, n_keys, 200_000).astype(np.int32)
    ts_us = np.arange(200_000, dtype=np.int64) * 1_000_000  # every row its own instant
    assert _has_duplicates(key_i, n_keys, ts_us) is False
    ts_us[150_000] = ts_us[20]
    key_i[150_000] = key_i[20]
    assert _has_duplicates(key_i, n_keys, ts_us) is True

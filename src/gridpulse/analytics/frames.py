"""Reading a long frame into numpy arrays, and summing and picking over runs of its sorted rows.

A long frame is an Arrow table with a series id (integer), an aware timestamp and a numeric
value column (`series_id`, `ts`, `value` by default; see `base`). In the analytics an instant is
an int64 count of microseconds since 1970-01-01 00:00 UTC, and rows sorted by key arrays fall
into runs of equal keys: `segment_starts` finds where each run starts, numpy's `reduceat` (or
`group_sum`, `first_extreme`) aggregates over the runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.arrays import lexsort_order
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE, Quality

__all__ = [
    "F64",
    "I32",
    "I64",
    "Frame",
    "Mask",
    "as_int64",
    "capacity_per_row",
    "first_extreme",
    "first_repeat",
    "frame_arrays",
    "grid_count",
    "group_sum",
    "group_sums",
    "instant_us",
    "interval_us",
    "null_note",
    "read_frame",
    "row_estimates",
    "row_interval_us",
    "run_lengths",
    "segment_starts",
    "sort_order",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Mask = npt.NDArray[np.bool_]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)


# ------------------------------------------------------------------------------------ reading
def frame_arrays(
    frame: pa.Table, *, series_id: str = "series_id", ts: str = "ts", value: str = "value"
) -> tuple[I32, I64, F64, Mask]:
    """A long frame's columns as numpy, checked, in the frame's row order, every row kept.

    Use `read_frame` for rows sorted by (series_id, ts) with one value per instant; this is for
    analytics that count resent rows or rows without a value themselves.

    Args:
        frame: long table with a series id (integer), an aware timestamp and a numeric value column.
        series_id: name of the series id column.
        ts: name of the timestamp column: aware instants (any zone, truncated to µs).
        value: name of the value column (null and NaN are both "no value").

    Returns:
        (series ids int32, instants [µs since 1970-01-01 UTC], values float64 with NaN where
        null [unit of the series], mask of the rows holding a value).

    Raises:
        QueryError: not a table, a column missing or of the wrong type, `ts` naive, a series id or
            ts null, or a series id beyond int32.
    """
    if not isinstance(frame, pa.Table):
        raise QueryError(f"frame must be a pyarrow Table, got {type(frame).__name__}: use pa.table(...)")
    for param, name in (("series_id", series_id), ("ts", ts), ("value", value)):
        if name not in frame.column_names:
            raise QueryError(
                f"the frame has no column {name!r} (it has {frame.column_names}): rename it or pass "
                f"{param}='<column name>'"
            )
    s_col, t_col, v_col = frame.column(series_id), frame.column(ts), frame.column(value)
    if not pa.types.is_integer(s_col.type):
        raise QueryError(f"column {series_id!r} is {s_col.type}, not an integer series id")
    if not pa.types.is_timestamp(t_col.type) or t_col.type.tz is None:
        raise QueryError(
            f"column {ts!r} is {t_col.type}, not aware timestamps: give it a zone, e.g. "
            "pc.assume_timezone(col, 'UTC') if the values are UTC"
        )
    v_type = v_col.type
    if not (pa.types.is_floating(v_type) or pa.types.is_integer(v_type) or pa.types.is_decimal(v_type)):
        raise QueryError(f"column {value!r} is {v_type}, not a number")
    if s_col.null_count or t_col.null_count:
        raise QueryError(f"columns {series_id!r} and {ts!r} must not hold nulls: drop those rows")
    # each cast and fill only where it changes something: a store read has the types already
    try:
        sid = np.asarray(
            (s_col if s_col.type == pa.int32() else pc.cast(s_col, pa.int32())).to_numpy(), np.int32
        )
    except pa.ArrowInvalid:
        raise QueryError(f"column {series_id!r} holds series ids beyond int32: renumber them") from None
    ts_us = as_int64(t_col if t_col.type.unit == "us" else pc.cast(t_col, TS_TYPE, safe=False))
    values = v_col if v_col.type == pa.float64() else pc.cast(v_col, pa.float64())
    val = np.asarray((values.fill_null(np.nan) if values.null_count else values).to_numpy(), np.float64)
    return sid, ts_us, val, ~np.isnan(val)


def row_estimates(frame: pa.Table, *, quality: str = "quality", estimated: str | None = None) -> I64:
    """How many estimated values each row of the frame stands for, in the frame's row order.

    A row of points is one value, estimated when its quality flag is `Quality.ESTIMATED` (1,
    written by gridpulse.quality's estimation); a bucket the store made stands for several,
    and its `estimated` column counts the non-null ones that are estimates. A frame without
    either column holds no estimates.

    Args:
        frame: a long frame.
        quality: name of the column of quality flags (model.Quality), used when present.
        estimated: name of a column counting each row's estimated values (a bucketed frame);
            when given it is used instead of `quality`.

    Returns:
        One count per row, 0 or more (0 or 1 from quality flags).

    Raises:
        QueryError: `estimated` names a column the frame does not have.
    """
    if estimated is not None:
        if estimated not in frame.column_names:
            raise QueryError(
                f"the frame has no column {estimated!r} (it has {frame.column_names}): pass estimated=None"
            )
        # buckets of expired points rolled up before the store counted estimates say null: none known
        return as_int64(frame.column(estimated).fill_null(0))
    if quality in frame.column_names:
        if not pa.types.is_integer(frame.column(quality).type):
            raise QueryError(f"column {quality!r} is {frame.column(quality).type}, not quality flags (int8)")
        flags = pc.equal(frame.column(quality), int(Quality.ESTIMATED)).fill_null(False)
        return as_int64(pc.cast(flags, pa.int64()))
    return np.zeros(frame.num_rows, np.int64)


@dataclass(frozen=True)
class Frame:
    """A long frame as numpy arrays, sorted by (series_id, ts), null and NaN values dropped.

    Attributes:
        series_id: series of each row (int32).
        ts_us: UTC instant of each row. [µs since 1970-01-01]
        value: the non-null values. [unit of the series]
        nulls: rows dropped because their value was null or NaN.
        estimated: estimated values each row stands for (`row_estimates`): 0 or 1 for points.
    """

    series_id: I32
    ts_us: I64
    value: F64
    nulls: int
    estimated: I64


def read_frame(
    frame: pa.Table,
    *,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
    estimated: str | None = None,
) -> Frame:
    """The frame's rows as sorted numpy arrays, checked, nulls dropped.

    Args:
        frame: long table with a series id (integer), an aware timestamp and a numeric value column.
        series_id: name of the series id column.
        ts: name of the timestamp column: aware instants (any zone, truncated to µs).
        value: name of the value column (null and NaN values are dropped and counted).
        quality, estimated: where each row's estimates are read from (`row_estimates`).

    Returns:
        A Frame sorted by (series_id, ts).

    Raises:
        QueryError: as `frame_arrays`, or one series has two rows at one instant.
    """
    sid, t, val, valid = frame_arrays(frame, series_id=series_id, ts=ts, value=value)
    est = row_estimates(frame, quality=quality, estimated=estimated)
    order = sort_order(sid, t)
    if order is not None:
        sid, t, val, valid, est = sid[order], t[order], val[order], valid[order], est[order]
    dup = first_repeat(sid, t)
    if dup is not None:
        raise QueryError(
            f"series {sid[dup]} has two rows at {pa.scalar(int(t[dup]), TS_TYPE)}: "
            "pass one value per (series_id, ts), e.g. the latest version"
        )
    return Frame(sid[valid], t[valid], val[valid], int((~valid).sum()), est[valid])


def sort_order(series_id: npt.NDArray[np.integer[Any]], ts_us: I64) -> I64 | None:
    """The stable order sorting rows by (series_id, ts_us); None when they are in order already
    (as the store's reads are: one comparison pass, no sort)."""
    if len(series_id) > 1:
        same = series_id[1:] == series_id[:-1]
        if not np.all((series_id[1:] > series_id[:-1]) | (same & (ts_us[1:] >= ts_us[:-1]))):
            return lexsort_order([series_id, ts_us])
    return None


def first_repeat(series_id: npt.NDArray[np.generic], ts_us: I64) -> int | None:
    """The first row whose (series, instant) is also the next row's, in sorted arrays; None if none."""
    dup = np.flatnonzero((series_id[1:] == series_id[:-1]) & (ts_us[1:] == ts_us[:-1]))
    return int(dup[0]) if len(dup) else None


def as_int64(arr: pa.Array | pa.ChunkedArray) -> I64:
    """Timestamps or integers as int64 numpy values (a timestamp's count of its unit since 1970)."""
    chunk = arr.chunk(0) if isinstance(arr, pa.ChunkedArray) and arr.num_chunks == 1 else arr
    if (
        isinstance(chunk, pa.Array)
        and chunk.null_count == 0
        and (pa.types.is_timestamp(chunk.type) or chunk.type == pa.int64())
    ):  # the same 8-byte values: a view, not a cast (a cast cost 20-70 us per column)
        view: I64 = np.asarray(chunk.view(pa.int64()).to_numpy(), dtype=np.int64)
        return view
    out: I64 = np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    return out


def null_note(nulls: int) -> list[str]:
    """The result note for values skipped because they were null: none when there were none."""
    return [f"{nulls} null values skipped"] if nulls else []


# ------------------------------------------------------------------------------ instants in µs
def instant_us(value: datetime, param: str) -> int:
    """An aware datetime as microseconds since 1970-01-01 UTC. [µs]

    Args:
        value: an aware datetime.
        param: the parameter name, for the message.

    Returns:
        The instant. [µs since 1970-01-01 UTC]

    Raises:
        QueryError: naming `param`, when the datetime is naive (no instant is assumed).
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise QueryError(f"{param}={value!r} is naive: pass an aware datetime, e.g. tzinfo=UTC")
    return (value - _EPOCH) // _US


def interval_us(interval: timedelta, param: str = "interval") -> int:
    """A positive duration in whole microseconds.

    Args:
        interval: the duration. [timedelta]
        param: the parameter name, for the message.

    Returns:
        The duration. [µs]

    Raises:
        QueryError: naming `param`, unless `interval` is a positive timedelta.
    """
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise QueryError(f"{param}={interval!r} must be a positive timedelta, e.g. timedelta(minutes=15)")
    return interval // _US


def grid_count(lo: I64, hi: I64, step: int) -> I64:
    """How many instants of the grid (every multiple of `step` since 1970) lie in each [lo, hi).

    Args:
        lo: first instants. [µs]
        hi: instants the ranges end at (exclusive); a range with hi <= lo holds none. [µs]
        step: the grid step. [µs]

    Returns:
        The counts, 0 or more.
    """
    # ceil(x / step) in integers, for negative instants too
    return np.asarray(np.maximum(-((-hi) // step) + (-lo) // step, 0), np.int64)


def row_interval_us(f: Frame, interval: timedelta | None) -> I64:
    """The length of the interval each row covers.

    Args:
        f: a sorted frame.
        interval: the rows' interval, or None for the smallest spacing between a series' rows.

    Returns:
        One length per row. [µs]

    Raises:
        QueryError: interval not positive, or None and a series has a single row.
    """
    if interval is not None:
        return np.full(len(f.ts_us), interval_us(interval), dtype=np.int64)
    if len(f.ts_us) == 0:
        return f.ts_us
    at = segment_starts(f.series_id)
    spacing = np.full(len(f.ts_us), np.iinfo(np.int64).max, dtype=np.int64)
    same = f.series_id[1:] == f.series_id[:-1]
    spacing[:-1][same] = np.diff(f.ts_us)[same]
    smallest = np.minimum.reduceat(spacing, at)
    lone = np.flatnonzero(smallest == np.iinfo(np.int64).max)
    if len(lone):
        raise QueryError(
            f"series {f.series_id[at[lone[0]]]} has one row, so its interval is unknown: "
            "pass interval=timedelta(...)"
        )
    out: I64 = np.repeat(smallest, run_lengths(at, len(f.ts_us)))
    return out


# ------------------------------------------------------------------------ runs of sorted rows
def segment_starts(*keys: npt.NDArray[np.generic]) -> I64:
    """Indices where a run of equal key tuples starts, for arrays sorted by those keys.

    Args:
        keys: equally long arrays, sorted by them together.

    Returns:
        The first index of each run, ascending (empty for empty keys).
    """
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change).astype(np.int64)


def run_lengths(at: I64, n: int) -> I64:
    """Rows in each run, for runs starting at `at` (from `segment_starts`) among `n` rows."""
    return np.diff(np.append(at, n)).astype(np.int64)


def first_extreme(values: F64, at: I64, extreme: np.ufunc) -> tuple[F64, I64]:
    """The extreme of each run of `values` and the index of its first occurrence.

    Args:
        values: the values, in runs. [any unit]
        at: where each run starts (from `segment_starts`).
        extreme: np.maximum or np.minimum.

    Returns:
        (the extreme per run [unit of values], its first index into `values` per run).
    """
    n = len(values)
    if n == 0:
        return values, np.zeros(0, np.int64)
    best = extreme.reduceat(values, at)
    hit = values == np.repeat(best, run_lengths(at, n))
    first: I64 = np.minimum.reduceat(np.where(hit, np.arange(n), n), at)
    return best, first


def group_sum(keys: Sequence[I64], values: F64) -> tuple[list[I64], F64, I64]:
    """Sum `values` per distinct key tuple, in key order, deterministically.

    Sums run one value after another in input order within a group, so a series gives the
    same bits alone or among many, whichever way the groups are found (hash aggregation and
    numpy's pairwise sums do not promise that).

    Args:
        keys: equally long int64 arrays, the most significant first.
        values: the values to add. [any unit]

    Returns:
        (the distinct key arrays, sorted; sums [unit of values]; row counts).
    """
    groups, (sums,), counts = group_sums(keys, [values])
    return groups, sums, counts


#: A key space up to this many times the rows (or `_DENSE_MIN` slots) is counted in place
#: (np.bincount over the combined key) instead of sorted, up to `_DENSE_MAX` slots (128 MiB of
#: float64 per summed column).
_DENSE_PER_ROW: Final = 4
_DENSE_MIN: Final = 1 << 16
_DENSE_MAX: Final = 1 << 24


def group_sums(
    keys: Sequence[I64], columns: Sequence[npt.NDArray[np.number]]
) -> tuple[list[I64], list[F64], I64]:
    """`group_sum` of several value columns over the same keys, grouping once.

    Rows already in key order (as the store reads them) are summed in runs; keys whose combined
    range is small next to the rows (series x slots of a day) are counted into a dense array;
    others are sorted (stable) first. Every path adds a group's values one by one in input
    order, so they give the same bits. (The average-day profile of 720,000 hourly sums, three
    groupings: 200 -> 65 ms, with its keys made small.)

    Args:
        keys: equally long int64 arrays, the most significant first.
        columns: arrays as long as the keys, each summed per key tuple. [any unit]

    Returns:
        (the distinct key arrays, sorted; one float64 array of sums per column; row counts).
    """
    n = len(keys[0]) if keys else 0
    if n == 0:
        empty = [np.asarray(k, np.int64) for k in keys]
        return empty, [np.empty(0, np.float64) for _ in columns], np.empty(0, np.int64)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - lo + 1 for k, lo in zip(keys, lows, strict=True)]
    size = math.prod(spans)
    if size >= 2**62:  # no combined key: sort the tuples
        order = lexsort_order(keys)
        return _run_sums([k[order] for k in keys], [np.asarray(c)[order] for c in columns])
    combined = np.zeros(n, np.int64)
    for k, lo, span in zip(keys, lows, spans, strict=True):
        combined *= span
        combined += k
        combined -= lo
    step = np.diff(combined)
    if bool((step > 0).all()):  # in order, each row its own group
        return [np.asarray(k, np.int64) for k in keys], [np.asarray(c, np.float64) for c in columns], np.ones(
            n, np.int64
        )
    if bool((step >= 0).all()):
        return _run_sums([np.asarray(k, np.int64) for k in keys], list(columns), combined)
    if size <= min(max(_DENSE_PER_ROW * n, _DENSE_MIN), _DENSE_MAX):
        counts = np.bincount(combined, minlength=size)
        present = np.flatnonzero(counts)
        sums = [np.asarray(np.bincount(combined, weights=c, minlength=size)[present], np.float64) for c in columns]
        groups: list[I64] = []
        rest = present
        for span, lo in zip(reversed(spans), reversed(lows), strict=True):
            above = rest // span
            groups.append(rest - above * span + lo)
            rest = above
        return groups[::-1], sums, counts[present].astype(np.int64)
    order = np.argsort(combined, kind="stable")
    return _run_sums(
        [np.asarray(k, np.int64)[order] for k in keys], [np.asarray(c)[order] for c in columns], combined[order]
    )


def _run_sums(
    keys: list[I64], columns: Sequence[npt.NDArray[np.number]], combined: I64 | None = None
) -> tuple[list[I64], list[F64], I64]:
    """`group_sums` of rows sorted by the keys (their combined key, when there is one): each run
    of equal keys summed one value after another (np.bincount), as the dense path sums."""
    n = len(keys[0])
    starts = segment_starts(combined) if combined is not None else segment_starts(*keys)
    counts = run_lengths(starts, n)
    group_of_row = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
    sums = [
        np.asarray(np.bincount(group_of_row, weights=c, minlength=len(starts)), np.float64) for c in columns
    ]
    return [k[starts] for k in keys], sums, counts


def capacity_per_row(series_id: I32, capacity: float | Mapping[int, float], what: str) -> F64:
    """Each row's capacity: one value for all series or one per series id.

    Args:
        series_id: series of each row, sorted.
        capacity: a positive number, or series id -> positive number. [unit of `what`]
        what: the parameter name, for messages.

    Returns:
        One capacity per row. [unit of `what`]

    Raises:
        QueryError: a capacity is not positive or a series has none.
    """
    if not isinstance(capacity, Mapping):
        if not capacity > 0:
            raise QueryError(f"{what}={capacity} must be positive")
        return np.full(len(series_id), float(capacity))
    at = segment_starts(series_id)
    per_series = []
    for sid in series_id[at].tolist():
        if sid not in capacity or not capacity[sid] > 0:
            raise QueryError(f"{what} has no positive value for series {sid}: add {sid}: <capacity>")
        per_series.append(float(capacity[sid]))
    out: F64 = np.repeat(np.asarray(per_series, np.float64), run_lengths(at, len(series_id)))
    return out

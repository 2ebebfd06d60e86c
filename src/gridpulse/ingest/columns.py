"""Raw file columns -> checked Arrow arrays: instants, values, ids, quality flags.

Each function converts a whole column at once and returns the array (null where a row is bad) and
{row index: reason} for the bad rows only. Bad rows are found without per-row Python on the
common path: a failing cast is retried on halves until the failing elements are isolated.

The rules are those of the HTTP routes (`gridpulse.ingest.parse`): a timestamp needs an offset or a
zone, and a wall time a DST change skips or repeats is rejected; null, NaN, NA, "" become NULL
values; anything else that is not a finite number rejects its row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.ingest.parse import NULL_TOKENS
from gridpulse.model import TS_TYPE

__all__ = ["Bad", "const_ids", "to_ids", "to_instants", "to_quality", "to_values"]

#: Row index -> reason, for the rows of one column that were rejected.
Bad = dict[int, str]

# an offset only after the minutes or seconds of a time, so a date's "-01" is not read as one
_OFFSET = r":\d\d(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


@functools.cache
def _null_list() -> pa.Array:
    # built on first use: pa.array() of Python objects imports pandas, ~0.3 s of every CLI start
    return pa.array(sorted(NULL_TOKENS), pa.string())


def _text(arr: pa.Array, i: int) -> str:
    value = arr[i].as_py()
    return str(value)


def _convert_finding_bad(
    arr: pa.Array, convert: Callable[[pa.Array], pa.Array], typ: pa.DataType
) -> tuple[pa.Array, list[int]]:
    """convert(arr), with nulls at the elements it fails on, and their indices.

    Halves a failing slice until the failures are isolated: O(bad × log n) conversions, and only
    one when nothing is bad.
    """
    try:
        return convert(arr), []
    except _CAST_ERRORS:
        pass
    n = len(arr)
    if n <= 32:
        parts, bad = [], []
        for i in range(n):
            try:
                parts.append(convert(arr.slice(i, 1)))
            except _CAST_ERRORS:
                parts.append(pa.nulls(1, typ))
                bad.append(i)
        return pa.concat_arrays(parts), bad
    mid = n // 2
    left, bad_left = _convert_finding_bad(arr.slice(0, mid), convert, typ)
    right, bad_right = _convert_finding_bad(arr.slice(mid), convert, typ)
    return pa.concat_arrays([left, right]), bad_left + [mid + i for i in bad_right]


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _localise(
    local: pa.Array, *, tz: str | None, shift: timedelta | None, texts: pa.Array, bad: Bad
) -> pa.Array:
    """Naive wall times -> UTC instants in `tz`; rows without a zone, or in a DST gap or overlap, go to bad."""
    valid = np.asarray(pc.is_valid(local).to_numpy(zero_copy_only=False), dtype=bool)
    if tz is None:
        for i in np.flatnonzero(valid):
            bad.setdefault(
                int(i),
                f"timestamp {_text(texts, int(i))!r} has no zone offset: add Z or +01:00 to it, "
                "or pass the zone of the file (--tz Europe/Amsterdam)",
            )
        return pa.nulls(len(local), TS_TYPE)
    if shift is not None:
        # hour-ending labels step back on the wall clock, so the hour before a DST change exists
        local = pc.subtract(local, pa.scalar(shift, pa.duration("us")))
    local_us = local.cast(pa.int64()).to_numpy(zero_copy_only=False)
    early = pc.assume_timezone(local, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(local, timezone=tz, ambiguous="latest", nonexistent="latest")
    round_trip = pc.local_timestamp(early).cast(pa.int64()).to_numpy(zero_copy_only=False)
    early_us = early.cast(pa.int64()).to_numpy(zero_copy_only=False)
    late_us = late.cast(pa.int64()).to_numpy(zero_copy_only=False)
    gap = valid & (round_trip != local_us)
    overlap = valid & ~gap & (early_us != late_us)
    for i in np.flatnonzero(gap):
        bad.setdefault(int(i), f"local time {_text(texts, int(i))!r} does not exist in {tz} (DST gap)")
    for i in np.flatnonzero(overlap):
        bad.setdefault(
            int(i),
            f"local time {_text(texts, int(i))!r} occurs twice in {tz} (DST change): give an offset",
        )
    out = early.cast(TS_TYPE)
    if gap.any() or overlap.any():
        out = pc.if_else(pa.array(gap | overlap), pa.scalar(None, TS_TYPE), out)
    return out


def to_instants(
    col: pa.Array | pa.ChunkedArray,
    *,
    fmt: str | None = None,
    tz: str | None = None,
    shift: timedelta | None = None,
) -> tuple[pa.Array, Bad]:
    """Timestamps of one column -> UTC instants (timestamp[us, UTC]) and the reasons of bad rows.

    Args:
        col: strings (ISO 8601, or `fmt`), Arrow timestamps (with or without a zone) or dates.
        fmt: strptime format for strings; None reads ISO 8601 (`2024-01-01T00:15:00Z`,
            `2024-01-01 00:15:00+01:00`, or naive `2024-01-01 00:15`).
        tz: IANA zone for values without an offset; None rejects them.
        shift: subtracted from every value (the interval, for timestamps that end it); naive
            values are shifted on the wall clock before they are placed in `tz`.

    Returns:
        (instants, {row: reason}); rejected rows are null in the array.
    """
    arr = _as_array(col)
    n = len(arr)
    bad: Bad = {}
    typ = arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        if pa.types.is_timestamp(typ) and typ.tz is not None:
            out = arr.cast(TS_TYPE)
            if shift is not None:
                out = pc.subtract(out, pa.scalar(shift, pa.duration("us")))
        else:
            texts = arr.cast(pa.string())
            out = _localise(arr.cast(pa.timestamp("us")), tz=tz, shift=shift, texts=texts, bad=bad)
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        texts = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        texts = pc.if_else(pc.equal(texts, ""), pa.scalar(None, pa.string()), texts)
        if fmt is not None:
            parsed = pc.strptime(texts, format=fmt, unit="us", error_is_null=True)
            wrong = pc.and_(pc.is_null(parsed), pc.is_valid(texts))
            for i in pc.indices_nonzero(wrong).to_pylist():
                bad[i] = f"timestamp {_text(texts, i)!r} does not match the format {fmt!r}"
            if parsed.type.tz is not None:
                out = parsed.cast(TS_TYPE)
                if shift is not None:
                    out = pc.subtract(out, pa.scalar(shift, pa.duration("us")))
            else:
                out = _localise(parsed, tz=tz, shift=shift, texts=texts, bad=bad)
        else:
            out = _iso_instants(texts, tz=tz, shift=shift, bad=bad)
        for i in pc.indices_nonzero(pc.is_null(texts)).to_pylist():
            bad[i] = "missing timestamp"
    else:
        for i in pc.indices_nonzero(pc.is_valid(arr)).to_pylist():
            bad[i] = f"expected a timestamp, got {arr.type} {_text(arr, i)!r}"
        for i in pc.indices_nonzero(pc.is_null(arr)).to_pylist():
            bad[i] = "missing timestamp"
        out = pa.nulls(n, TS_TYPE)
    return out, bad


def _iso_instants(texts: pa.Array, *, tz: str | None, shift: timedelta | None, bad: Bad) -> pa.Array:
    try:
        # the common case: every value carries Z or an offset
        out = texts.cast(TS_TYPE)
        return out if shift is None else pc.subtract(out, pa.scalar(shift, pa.duration("us")))
    except _CAST_ERRORS:
        pass
    has_offset = pc.fill_null(pc.match_substring_regex(texts, _OFFSET), False)
    aware_txt = pc.if_else(has_offset, texts, pa.scalar(None, pa.string()))
    naive_txt = pc.if_else(has_offset, pa.scalar(None, pa.string()), texts)
    aware, bad_aware = _convert_finding_bad(aware_txt, lambda a: a.cast(TS_TYPE), TS_TYPE)
    if shift is not None:
        aware = pc.subtract(aware, pa.scalar(shift, pa.duration("us")))
    naive_type = pa.timestamp("us")
    naive, bad_naive = _convert_finding_bad(naive_txt, lambda a: a.cast(naive_type), naive_type)
    for i in bad_aware + bad_naive:
        bad[i] = (
            f"timestamp {_text(texts, i)!r} is not ISO 8601 (e.g. 2024-01-01T00:15:00Z); "
            "for another layout pass --time-format"
        )
    n_naive = len(naive) - naive.null_count
    if n_naive == 0:
        return aware
    local = _localise(naive, tz=tz, shift=shift, texts=texts, bad=bad)
    return pc.if_else(has_offset, aware, local)


def to_values(col: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, Bad]:
    """Values of one column -> float64 and the reasons of bad rows.

    Numbers pass; NaN, null and the NULL tokens (`""`, NA, NaN, null, none, n/a...) become NULL;
    infinity, booleans and text that is not a number reject the row.
    """
    arr = _as_array(col)
    typ = arr.type
    bad: Bad = {}
    if pa.types.is_null(typ):
        return pa.nulls(len(arr), pa.float64()), bad
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        out = arr.cast(pa.float64())
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        texts = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        is_null_token = pc.is_in(pc.utf8_lower(texts), value_set=_null_list())
        texts = pc.if_else(is_null_token, pa.scalar(None, pa.string()), texts)
        out, wrong = _convert_finding_bad(texts, lambda a: a.cast(pa.float64()), pa.float64())
        for i in wrong:
            bad[i] = f"expected a number, got {_text(texts, i)!r}"
    else:
        shown = "true/false" if pa.types.is_boolean(typ) else str(typ)
        for i in pc.indices_nonzero(pc.is_valid(arr)).to_pylist():
            bad[i] = f"expected a number, got {shown} {_text(arr, i)!r}"
        return pa.nulls(len(arr), pa.float64()), bad
    if out.null_count < len(out):
        inf = pc.fill_null(pc.is_inf(out), False)
        if pc.any(inf).as_py():
            for i in pc.indices_nonzero(inf).to_pylist():
                bad[i] = "value is infinite"
        nan = pc.fill_null(pc.is_nan(out), False)
        if pc.any(pc.or_(nan, inf)).as_py():
            out = pc.if_else(pc.or_(nan, inf), pa.scalar(None, pa.float64()), out)
    return out, bad


def to_ids(col: pa.Array | pa.ChunkedArray, *, what: str = "id") -> tuple[pa.DictionaryArray, Bad]:
    """Entity ids, metric names or kinds -> trimmed, dictionary-encoded strings; empty or missing
    ones reject the row.

    Integers become their decimal text (as on the HTTP routes); other types are rejected. The
    result is dictionary-encoded (a file repeats a few thousand ids over millions of rows): only
    the distinct values are trimmed, and the store takes the encoding as it is.
    """
    arr = _as_array(col)
    typ = arr.type
    bad: Bad = {}
    if pa.types.is_dictionary(typ):
        arr = arr.dictionary_decode() if not pa.types.is_string(typ.value_type) else arr
        typ = arr.type
    if pa.types.is_integer(typ):
        arr, typ = arr.cast(pa.string()), pa.string()
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
        enc = arr if pa.types.is_dictionary(typ) else pc.dictionary_encode(arr.cast(pa.string()))
        names = pc.utf8_trim_whitespace(enc.dictionary.cast(pa.string()))
        empty = np.asarray(pc.equal(names, "").to_numpy(zero_copy_only=False), dtype=bool)
        idx = enc.indices.cast(pa.int32())
        missing = np.asarray(pc.is_null(idx).to_numpy(zero_copy_only=False), dtype=bool)
        codes = np.asarray(pc.fill_null(idx, 0).to_numpy(zero_copy_only=False), dtype=np.int32)
        if len(names):
            missing |= empty[codes]
        out = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=missing), names)
    else:
        if not pa.types.is_null(typ):
            for i in pc.indices_nonzero(pc.is_valid(arr)).to_pylist():
                bad[i] = f"expected a text {what}, got {typ} {_text(arr, i)!r}"
        missing = np.ones(len(arr), dtype=bool)
        out = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(arr), np.int32), mask=missing), pa.array([], pa.string())
        )
    for i in np.flatnonzero(missing).tolist():
        bad.setdefault(i, f"missing {what}")
    return out, bad


def const_ids(value: str | None, n: int) -> pa.DictionaryArray:
    """`n` rows of one id (None: missing), dictionary-encoded like to_ids' output."""
    codes = pa.array(np.zeros(n, np.int32), mask=np.full(n, value is None))
    return pa.DictionaryArray.from_arrays(codes, pa.array([] if value is None else [value], pa.string()))


def to_quality(col: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, Bad]:
    """Quality flags (0 actual, 1 estimated, 2 edited, as numbers or text) -> int8; others reject the row."""
    arr = _as_array(col)
    values, bad = to_values(arr)
    ok = pc.fill_null(pc.is_in(values, value_set=pa.array([0.0, 1.0, 2.0])), False)
    for i in pc.indices_nonzero(pc.invert(ok)).to_pylist():
        bad.setdefault(i, f"quality must be 0 (actual), 1 (estimated) or 2 (edited), got {_text(arr, i)!r}")
    return pc.if_else(ok, values, pa.scalar(None, pa.float64())).cast(pa.int8()), bad

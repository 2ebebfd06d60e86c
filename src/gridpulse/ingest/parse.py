"""Raw JSON records of one route -> a validated Arrow batch (ENCODED_KEYED_BATCH_SCHEMA) plus rejected rows.

Rules, the same for every route:
- a timestamp with `Z` or an offset is stored as its UTC instant; a naive one is rejected unless the
  route has a time zone (config `ingest.timezones.<route>` or `?tz=`), and then an ambiguous or
  non-existent local time (DST) is rejected too;
- null, NaN, NA, NaT, "" and friends become NULL values, and are counted;
- anything else that is not a finite number rejects the row, naming the line and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from gridpulse.errors import RowError
from gridpulse.ingest.flatjson import LABEL, read_flat_block
from gridpulse.ingest.shapes import RouteShape
from gridpulse.ingest.split import RawBatch
from gridpulse.model import (
    ENCODED_KEYED_BATCH_SCHEMA,
    KEYED_BATCH_SCHEMA,
    TS_TYPE,
    Quality,
    SeriesKey,
    SeriesMeta,
)

__all__ = ["NULL_TOKENS", "ParsedBatch", "load_records", "parse_batch", "parse_timestamps"]

#: String values stored as NULL.
NULL_TOKENS = frozenset({"", "nan", "na", "nat", "null", "none", "n/a", "#n/a"})
_OFFSET = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"


@dataclass
class ParsedBatch:
    """A validated batch, the rows it rejected, and how many NULL values it holds.

    `meta` carries what the format itself says about new series (line-protocol tags); routes
    whose rows say nothing leave it empty and the request's default metadata applies.
    """

    table: pa.Table
    errors: list[RowError] = field(default_factory=list)
    nulls: int = 0
    rows: int = 0
    meta: dict[SeriesKey, SeriesMeta] = field(default_factory=dict)
    ignored_fields: int = 0


def load_records(records: Sequence[bytes]) -> list[Any]:
    """Parse every JSON record; a record that is not JSON becomes a ValueError in its place."""
    try:
        return list(orjson.loads(b"[" + b",".join(records) + b"]"))
    except orjson.JSONDecodeError:
        pass
    out: list[Any] = []
    for rec in records:
        try:
            out.append(orjson.loads(rec))
        except orjson.JSONDecodeError as exc:
            try:
                # producers that use Python's json emit bare NaN, which is not JSON but is common
                out.append(json.loads(rec))
            except ValueError:
                out.append(ValueError(f"not valid JSON: {exc}"))
    return out


def parse_timestamps(values: list[Any], *, tz: str | None) -> tuple[pa.Array, dict[int, str]]:
    """Timestamps (ISO 8601 strings) -> UTC instants, and reasons for the indices that failed.

    Args:
        values: raw field values, usually strings.
        tz: IANA zone for naive values, or None to reject them.

    Returns:
        A timestamp[us, UTC] array (null where invalid) and {index: reason}.
    """
    bad: dict[int, str] = {}
    strs: list[str | None] = []
    for i, v in enumerate(values):
        if isinstance(v, str) and v:
            strs.append(v)
        else:
            strs.append(None)
            bad[i] = (
                "missing timestamp" if v in (None, "") else f"timestamp must be an ISO 8601 string, got {v!r}"
            )
    arr, more = _timestamps(pa.array(strs, pa.string()), tz=tz, strs=strs)
    for i, reason in more.items():
        bad.setdefault(i, reason)
    return arr, bad


def _timestamps(
    arr: pa.Array, *, tz: str | None, strs: list[str | None] | None
) -> tuple[pa.Array, dict[int, str]]:
    """The vectorised core of parse_timestamps over a string array (nulls stay null)."""
    bad: dict[int, str] = {}
    try:
        # the common case: every value carries Z or an offset
        return arr.cast(TS_TYPE), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    texts = strs if strs is not None else arr.to_pylist()
    has_offset = pc.fill_null(pc.match_substring_regex(arr, _OFFSET), False)
    aware = pc.if_else(has_offset, arr, pa.scalar(None, pa.string()))
    naive = pc.if_else(has_offset, pa.scalar(None, pa.string()), arr)
    out = _cast_each(aware, TS_TYPE, bad, "is not an ISO 8601 timestamp")
    n_naive = len(naive) - naive.null_count
    if n_naive:
        local = _cast_each(naive, pa.timestamp("us"), bad, "is not an ISO 8601 timestamp")
        if tz is None:
            for i in pc.indices_nonzero(pc.is_valid(local)).to_pylist():
                bad.setdefault(
                    i,
                    f"timestamp {texts[i]!r} has no zone offset; add Z or +01:00, "
                    f"or configure a time zone for this route (?tz=Europe/Amsterdam)",
                )
        else:
            try:
                utc_local = pc.assume_timezone(local, tz, ambiguous="raise", nonexistent="raise")
            except pa.ArrowInvalid:
                utc_local = _assume_each(local, tz, bad, texts)
            out = pc.if_else(has_offset, out, utc_local.cast(TS_TYPE))
    return out, bad


def _cast_each(arr: pa.Array, typ: pa.DataType, bad: dict[int, str], reason: str) -> pa.Array:
    try:
        return arr.cast(typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    vals: list[Any] = []
    for i, s in enumerate(arr.to_pylist()):
        if s is None:
            vals.append(None)
            continue
        try:
            vals.append(pa.array([s]).cast(typ)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad.setdefault(i, f"{s!r} {reason}")
            vals.append(None)
    return pa.array(vals, typ)


def _assume_each(local: pa.Array, tz: str, bad: dict[int, str], strs: list[str | None]) -> pa.Array:
    vals: list[Any] = []
    for i, v in enumerate(local.to_pylist()):
        if v is None:
            vals.append(None)
            continue
        try:
            vals.append(pc.assume_timezone(pa.array([v], pa.timestamp("us")), tz)[0].as_py())
        except pa.ArrowInvalid:
            bad.setdefault(
                i, f"local time {strs[i]!r} is ambiguous or does not exist in {tz} (DST); give an offset"
            )
            vals.append(None)
    return pa.array(vals, TS_TYPE)


def _to_value(v: Any) -> tuple[float | None, str | None]:
    """A raw value -> (float or None, reason when rejected)."""
    if v is None:
        return None, None
    if isinstance(v, bool):
        return None, f"expected a number, got {str(v).lower()}"
    if isinstance(v, (int, float)):
        f = float(v)
        if math.isnan(f):
            return None, None
        if math.isinf(f):
            return None, "value is infinite"
        return f, None
    if isinstance(v, str):
        if v.strip().lower() in NULL_TOKENS:
            return None, None
        try:
            f = float(v)
        except ValueError:
            return None, f"expected a number, got {v!r}"
        if math.isnan(f):
            return None, None
        if math.isinf(f):
            return None, "value is infinite"
        return f, None
    return None, f"expected a number, got {type(v).__name__}"


def _values(raw: list[Any], name: str, bad: dict[int, tuple[str | None, str]]) -> pa.Array:
    # infer first: a bool among numbers must be rejected, not read as 1.0
    try:
        arr = pa.array(raw, from_pandas=True)
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_null(arr.type):
            arr = arr.cast(pa.float64())
            if not pc.any(pc.is_inf(arr)).as_py():
                return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    out: list[float | None] = []
    for i, v in enumerate(raw):
        f, reason = _to_value(v)
        if reason:
            bad.setdefault(i, (name, reason))
        out.append(f)
    return pa.array(out, pa.float64())


def _entity_ids(raw: list[Any], name: str, bad: dict[int, tuple[str | None, str]]) -> list[str | None]:
    out: list[str | None] = []
    for i, v in enumerate(raw):
        if isinstance(v, str) and v.strip():
            out.append(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v))
        else:
            bad.setdefault(i, (name, "missing" if v in (None, "") else f"expected a string id, got {v!r}"))
            out.append(None)
    return out


#: Arrow's JSON reader parses blocks of this size on all cores; the whole body as one block (as
#: before) ran on one core: 250 k rows 113 ms, in 1 MiB blocks 79 ms, in 256 KiB blocks 59 ms. A
#: row longer than a block fails the fast path and takes the careful one.
_JSON_BLOCK_BYTES = 1 << 18


def _fast_fields(shape: RouteShape) -> list[tuple[str, pa.DataType]]:
    """The fields the fast paths read, with their JSON type: strings, and float64 values."""
    fields = [(shape.ts_field, pa.string()), (shape.entity_field, pa.string())]
    if shape.metric_field and shape.value_field:
        return [*fields, (shape.metric_field, pa.string()), (shape.value_field, pa.float64())]
    return fields + [(f, pa.float64()) for f in shape.value_fields]


def _json_columns(records: Sequence[bytes], shape: RouteShape) -> dict[str, pa.Array] | None:
    """The records read by Arrow's JSON reader, or None when any row needs the careful path.

    Only batches where every used field is present, non-null and of the expected JSON type take
    this path, so its results are exactly those of the careful path, without per-row Python.
    """
    fields = _fast_fields(shape)
    # JSON strings cannot hold a raw newline, so a pretty-printed object becomes one line safely
    lines = records if records[0].find(b"\n") < 0 else [r.replace(b"\n", b" ") for r in records]
    try:
        table = pajson.read_json(
            pa.BufferReader(b"\n".join(lines)),
            read_options=pajson.ReadOptions(block_size=_JSON_BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != len(records) or any(col.null_count for col in table.columns):
        return None
    cols = {name: table.column(name).combine_chunks() for name, _ in fields}
    for name, typ in fields:
        col = cols[name]
        if typ == pa.float64():
            # Arrow reads bare NaN / Infinity as floats; the careful path makes them NULL / errors
            if pc.any(pc.or_(pc.is_inf(col), pc.is_nan(col))).as_py():
                return None
        else:
            try:  # the reader passes bytes that are not UTF-8 through; the careful path names the line
                col.validate(full=True)
            except pa.ArrowInvalid:
                return None
    return cols


def _strings(arr: pa.Array) -> pa.Array:
    """The distinct texts of a string column: a dictionary's values, or the column itself."""
    return arr.dictionary if isinstance(arr, pa.DictionaryArray) else arr


def _usable(cols: dict[str, pa.Array], shape: RouteShape) -> bool:
    """Whether no row needs the careful path for what the readers let through: empty metric
    names and blank entity ids are rejected there with their reasons."""
    if shape.metric_field and pc.any(pc.equal(pc.utf8_length(_strings(cols[shape.metric_field])), 0)).as_py():
        return False
    entities = _strings(cols[shape.entity_field])
    return not pc.any(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(entities)), 0)).as_py()


def _fast_timestamps(texts: pa.Array, tz: str | None) -> tuple[pa.Array, dict[int, str]]:
    """_timestamps over a string column; a dictionary's few distinct instants are converted once."""
    if isinstance(texts, pa.DictionaryArray):
        try:
            return texts.dictionary.cast(TS_TYPE).take(texts.indices), {}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            texts = texts.dictionary_decode()
    return _timestamps(texts, tz=tz, strs=None)


def parse_batch(raw: RawBatch, shape: RouteShape, *, tz: str | None) -> ParsedBatch:
    """Validate one batch of raw records of `shape` into a keyed Arrow batch.

    A batch may come as a block of whole lines (NDJSON, raw.block): blocks of flat records
    that are all alike are read without a JSON parser (gridpulse.ingest.flatjson); the rest is
    split into records here.

    Returns:
        ParsedBatch whose table holds only the good rows (melted to one row per metric), the
        rejected rows with line, field and reason, and the number of NULL values kept.
    """
    cols: dict[str, pa.Array] | None = None
    if raw.block is not None:
        # ids and metric names repeat: read dictionary-encoded, checked once per distinct text
        labels = (shape.entity_field, shape.metric_field)
        flat = [(name, LABEL if name in labels else typ) for name, typ in _fast_fields(shape)]
        cols = read_flat_block(raw.block, len(raw.lines), flat)
        if cols is None or not _usable(cols, shape):
            raw, cols = RawBatch(raw.block.split(b"\n"), raw.lines, raw.first_record), None
    n = len(raw.records) if raw.block is None else len(raw.lines)
    if n == 0:
        return ParsedBatch(KEYED_BATCH_SCHEMA.empty_table())
    if cols is None:
        cols = _json_columns(raw.records, shape)
        if cols is not None and not _usable(cols, shape):
            cols = None
    if cols is None:
        return _parse_careful(raw, shape, tz=tz)
    bad: dict[int, tuple[str | None, str]] = {}
    ts_arr, ts_bad = _fast_timestamps(cols[shape.ts_field], tz)
    for i, reason in ts_bad.items():
        bad[i] = (shape.ts_field, reason)
    ent = cols[shape.entity_field]
    if shape.metric_field and shape.value_field:
        parts: list[tuple[pa.Array | None, pa.Array, pa.Array, pa.Array]] = [
            (None, ent, cols[shape.metric_field], cols[shape.value_field])
        ]
    else:
        parts = [(None, ent, pa.repeat(pa.scalar(f, pa.string()), n), cols[f]) for f in shape.value_fields]
    return _assemble(raw, shape, n, ts_arr, parts, bad)


def _parse_careful(raw: RawBatch, shape: RouteShape, *, tz: str | None) -> ParsedBatch:
    """Row by row where needed: lenient values, exact reasons for every bad field."""
    docs = load_records(raw.records)
    n = len(docs)
    bad: dict[int, tuple[str | None, str]] = {}
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(docs):
        if isinstance(d, Exception):
            bad[i] = (None, str(d))
            rows.append({})
        elif not isinstance(d, dict):
            bad[i] = (None, "row is not a JSON object")
            rows.append({})
        else:
            rows.append(d)

    ts_arr, ts_bad = parse_timestamps([r.get(shape.ts_field) for r in rows], tz=tz)
    for i, reason in ts_bad.items():
        bad.setdefault(i, (shape.ts_field, reason))
    entity_bad: dict[int, tuple[str | None, str]] = {}
    entities = _entity_ids([r.get(shape.entity_field) for r in rows], shape.entity_field, entity_bad)

    # one (rows kept mask, entity, metric, value) part per metric; rows of the batch stay aligned
    parts: list[tuple[pa.Array | None, pa.Array, pa.Array, pa.Array]] = []
    value_bad: dict[int, tuple[str | None, str]] = {}
    ent = pa.array(entities, pa.string())
    if shape.metric_field and shape.value_field:
        metrics: list[str | None] = []
        for i, r in enumerate(rows):
            m = r.get(shape.metric_field)
            metrics.append(m if isinstance(m, str) and m.strip() else None)
            if metrics[-1] is None:
                reason = "missing" if m in (None, "") else f"expected a string, got {m!r}"
                value_bad.setdefault(i, (shape.metric_field, reason))
            if r and shape.value_field not in r:
                value_bad.setdefault(i, (shape.value_field, "missing"))
        vals = _values([r.get(shape.value_field) for r in rows], shape.value_field, value_bad)
        parts.append((None, ent, pa.array(metrics, pa.string()), vals))
    else:
        present_any = [False] * n
        for fname in shape.value_fields:
            present = [fname in r for r in rows]
            if shape.required_values:
                for i, p in enumerate(present):
                    if not p and rows[i]:
                        value_bad.setdefault(i, (fname, "missing"))
            present_any = [a or b for a, b in zip(present_any, present, strict=True)]
            vals = _values([r.get(fname) for r in rows], fname, value_bad)
            parts.append((pa.array(present), ent, pa.array([fname] * n, pa.string()), vals))
        for i, p in enumerate(present_any):
            if not p and rows[i]:
                value_bad.setdefault(i, (None, f"row has none of the fields {', '.join(shape.value_fields)}"))
    for src in (entity_bad, value_bad):
        for i, v in src.items():
            bad.setdefault(i, v)

    return _assemble(raw, shape, n, ts_arr, parts, bad)


def _assemble(
    raw: RawBatch,
    shape: RouteShape,
    n: int,
    ts_arr: pa.Array,
    parts: list[tuple[pa.Array | None, pa.Array, pa.Array, pa.Array]],
    bad: dict[int, tuple[str | None, str]],
) -> ParsedBatch:
    """Melt the per-metric parts into one keyed table, dropping the rows in `bad`."""
    ok_np = np.ones(n, dtype=bool)
    if bad:
        ok_np[list(bad)] = False
    ok = pa.array(ok_np)
    quality = pa.repeat(pa.scalar(int(Quality.ACTUAL), pa.int8()), n)
    # key columns dictionary-encoded here, on the parse threads: the single writer would
    # otherwise hash every row's strings (14 % of its time under four NDJSON clients)
    kind = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([shape.entity_kind]))
    encoded: dict[int, pa.Array] = {}
    tables = []
    for present_mask, ent_col, met_col, val_col in parts:
        keep = ok if present_mask is None else pc.and_(ok, present_mask)
        for col in (ent_col, met_col):
            if id(col) not in encoded:
                encoded[id(col)] = pc.dictionary_encode(col)
        t = pa.Table.from_arrays(
            [kind, encoded[id(ent_col)], encoded[id(met_col)], ts_arr, val_col, quality],
            schema=ENCODED_KEYED_BATCH_SCHEMA,
        )
        tables.append(t if bad == {} and present_mask is None else t.filter(keep))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    errors = [
        RowError(raw.lines[i], raw.first_record + i, f, reason) for i, (f, reason) in sorted(bad.items())
    ]
    return ParsedBatch(table=table, errors=errors, nulls=table.column("value").null_count, rows=n)

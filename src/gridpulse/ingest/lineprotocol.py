"""Influx line protocol -> keyed Arrow batches, with the whole grammar and errors naming the line.

    measurement[,tag=value...] field=value[,field=value...] [timestamp]

- escapes: `\\,` and `\\ ` in the measurement; `\\,` `\\=` `\\ ` in tag keys, tag values and field
  keys; `\\"` and `\\\\` inside quoted string field values;
- field values: floats (`1`, `-1.5`, `1e-3`), integers `12i`, unsigned `12u`, booleans
  (t, T, true, True, TRUE, f, F, false, False, FALSE), quoted strings;
- timestamps: integers in the request's precision (ns by default; us, ms, s); absent means the
  server's time when the batch arrived;
- blank lines and lines starting with `#` are skipped.

Series: the measurement and tags name the entity, each field is a metric. A measurement that is
an ingest route (`meter_usage,meter_id=m-1 kwh=1.25`) maps exactly as that route's JSON rows do;
any other measurement becomes the entity kind and its tags the entity id
(`weather,station=ams temp_c=4` -> weather:station=ams/temp_c), with the tags kept on the series.
Numbers and booleans (1.0 / 0.0) are stored; string fields are not numeric series: they are
counted as ignored, never an error.

Lines without a backslash or a quote (nearly all real traffic) take a vectorised path; the rest
are parsed one by one. Both give the same result (tested against each other).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from gridpulse.errors import RowError
from gridpulse.ingest.parse import ParsedBatch
from gridpulse.ingest.shapes import SHAPES, unit_for_metric
from gridpulse.ingest.split import RawBatch
from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA, TS_TYPE, Quality, SeriesKey, SeriesMeta

__all__ = ["PRECISIONS", "LineBatch", "parse_block", "parse_line_batch", "parse_lines", "precision_factor"]

#: precision name -> nanoseconds per unit (Influx v1 and v2 spellings)
PRECISIONS: dict[str, int] = {
    "ns": 1,
    "n": 1,
    "us": 1_000,
    "u": 1_000,
    "µ": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+i")
_UINT = re.compile(r"\d+u")
_TS = re.compile(r"-?\d+")
_NO_TS = np.iinfo(np.int64).min  # a line without a timestamp: server time
_MEASUREMENT = re.compile(r"(?:[^,\s\\]|\\.)+")
_KEY = re.compile(r"(?:[^,=\s\\]|\\.)+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_UNQUOTED = re.compile(r"[^,\s]+")
_UNESCAPE_NAME = re.compile(r"\\([,= \\])")
_UNESCAPE_STR = re.compile(r'\\(["\\])')
_MAX_I64 = 2**63 - 1


def precision_factor(precision: str | None) -> int:
    """Nanoseconds per timestamp unit; ValueError names the accepted spellings."""
    if precision is None or precision == "":
        return 1
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}") from None


#: Parsed lines: the keyed batch, metadata for each series key seen, rejected lines.
LineBatch = ParsedBatch


class _LineError(ValueError):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _unescape(text: str) -> str:
    return _UNESCAPE_NAME.sub(r"\1", text) if "\\" in text else text


# --- series keys --------------------------------------------------------------------------------
def _scan_key(text: str) -> tuple[int, str, list[tuple[str, str]]]:
    """Read 'meas,k=v,k2=v2' at the start of `text`: (where it ends, measurement, [(k, v)]) unescaped."""
    m = _MEASUREMENT.match(text)
    if m is None:
        raise _LineError(None, "missing measurement")
    tags: list[tuple[str, str]] = []
    pos = m.end()
    while pos < len(text) and text[pos] == ",":
        k = _KEY.match(text, pos + 1)
        if k is None or k.end() >= len(text) or text[k.end()] != "=":
            raise _LineError(None, "a tag needs key=value")
        v = _KEY.match(text, k.end() + 1)
        if v is None:
            raise _LineError(_unescape(k.group()), "tag value is empty")
        tags.append((_unescape(k.group()), _unescape(v.group())))
        pos = v.end()
    return pos, _unescape(m.group()), tags


def _split_key(series_key: str) -> tuple[str, list[tuple[str, str]]]:
    """'meas,k=v,k2=v2' (escaped) -> (measurement, [(k, v), ...]) unescaped."""
    end, measurement, tags = _scan_key(series_key)
    if end != len(series_key):
        raise _LineError(None, f"unexpected {series_key[end]!r} after the measurement or a tag")
    return measurement, tags


@dataclass(frozen=True)
class _Entity:
    kind: str
    entity_id: str
    metric_tag: str | None  # narrow layouts: the tag naming the metric (telemetry's metric_name)
    value_field: str | None
    tags: tuple[tuple[str, str], ...]
    units: tuple[tuple[str, str], ...]
    interval: timedelta | None


def _entity_or_none(series_key: str) -> _Entity | None:
    try:
        return _entity(series_key)
    except _LineError:
        return None


# producers repeat the same series keys batch after batch: parse each once
@functools.lru_cache(maxsize=65536)
def _entity(series_key: str) -> _Entity:
    measurement, tags = _split_key(series_key)
    shape = SHAPES.get(measurement)
    tag_map = dict(tags)
    if shape is not None and shape.entity_field in tag_map:
        rest = tuple((k, v) for k, v in tags if k not in (shape.entity_field, shape.metric_field))
        return _Entity(
            shape.entity_kind,
            tag_map[shape.entity_field],
            shape.metric_field,
            shape.value_field,
            rest,
            tuple(shape.value_fields.items()),
            shape.interval,
        )
    entity_id = ",".join(f"{k}={v}" for k, v in sorted(tags)) if tags else measurement
    return _Entity(measurement, entity_id, None, None, tuple(sorted(tags)), (), None)


# the same series batch after batch: their keys and metadata made once (frozen, shared)
@functools.lru_cache(maxsize=65536)
def _key_and_meta(series_key: str, metric: str) -> tuple[SeriesKey, SeriesMeta]:
    ent = _entity(series_key)
    return SeriesKey(ent.kind, ent.entity_id, metric), _meta(ent, metric)


def _meta(ent: _Entity, metric: str) -> SeriesMeta:
    units = dict(ent.units)
    return SeriesMeta(
        unit=units.get(metric, unit_for_metric(metric)),
        interval=ent.interval,
        tags=dict(ent.tags),
        device_id=ent.entity_id if ent.kind == "device" else None,
        channel_id=ent.entity_id if ent.kind == "channel" else None,
    )


# --- the careful path: one line at a time -------------------------------------------------------
def _field_value(raw: str, key: str) -> float | str:
    """A field value -> float (numbers, booleans) or str (string fields, ignored by the caller)."""
    if raw.startswith('"'):
        m = _QUOTED.fullmatch(raw)
        if m is None:
            raise _LineError(key, f"unterminated string value {raw[:40]!r}")
        return _UNESCAPE_STR.sub(r"\1", m.group(1))
    if _INT.fullmatch(raw):
        v = int(raw[:-1])
        if not -(2**63) <= v <= _MAX_I64:
            raise _LineError(key, f"integer {raw!r} is out of the 64-bit range")
        return float(v)
    if _UINT.fullmatch(raw):
        v = int(raw[:-1])
        if v > 2**64 - 1:
            raise _LineError(key, f"unsigned {raw!r} is out of the 64-bit range")
        return float(v)
    if raw in _TRUE:
        return 1.0
    if raw in _FALSE:
        return 0.0
    if _FLOAT.fullmatch(raw):
        f = float(raw)
        if f in (float("inf"), float("-inf")):
            raise _LineError(key, f"value {raw!r} is out of range")
        return f
    raise _LineError(key, f'invalid field value {raw!r} (number, 12i, 12u, true/false or "text")')


def _parse_line(line: str) -> tuple[str, list[tuple[str, float | str]], int | None]:
    """One line -> (escaped series key, [(field, value)], timestamp or None). Raises _LineError."""
    pos, _, _ = _scan_key(line)
    series_key = line[:pos]
    if pos >= len(line) or line[pos] != " ":
        raise _LineError(None, "missing field set (measurement[,tags] field=value [timestamp])")
    while pos < len(line) and line[pos] == " ":
        pos += 1
    fields: list[tuple[str, float | str]] = []
    while True:
        k = _KEY.match(line, pos)
        if k is None:
            raise _LineError(None, "missing field key")
        key = _unescape(k.group())
        if k.end() >= len(line) or line[k.end()] != "=":
            raise _LineError(key, "field needs key=value")
        vpos = k.end() + 1
        vm = _QUOTED.match(line, vpos) if line.startswith('"', vpos) else _UNQUOTED.match(line, vpos)
        if vm is None:
            raise _LineError(
                key, "field value is empty" if not line.startswith('"', vpos) else "unterminated string"
            )
        fields.append((key, _field_value(vm.group(), key)))
        pos = vm.end()
        if pos < len(line) and line[pos] == ",":
            pos += 1
            continue
        break
    rest = line[pos:].strip()
    if not rest:
        return series_key, fields, None
    if pos < len(line) and line[pos] != " ":
        raise _LineError(None, f"unexpected {line[pos]!r} after the fields")
    if not _TS.fullmatch(rest):
        raise _LineError("timestamp", f"timestamp {rest[:40]!r} is not an integer")
    return series_key, fields, int(rest)


# --- assembling ---------------------------------------------------------------------------------
def _to_us(ts: np.ndarray, factor_ns: int, now_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 timestamps in the precision (with a sentinel for absent) -> UTC microseconds, ok mask."""
    with np.errstate(over="ignore"):
        ns = ts.astype(np.float64) * factor_ns
    ok = np.abs(ns) < 9.2e18
    out = np.where(
        ts == _NO_TS,
        now_ns // 1000,
        (ts * factor_ns) // 1000 if factor_ns < 1000 else ts * (factor_ns // 1000),
    )
    return out, ok | (ts == _NO_TS)


def _assemble(
    keys: Sequence[str],
    key_idx: np.ndarray,
    metrics: pa.Array,
    values: np.ndarray,
    ts_us: np.ndarray,
    rows_ok: np.ndarray,
    errors: list[RowError],
    lines: int,
    ignored: int,
) -> LineBatch:
    """Points (one per numeric field) -> keyed batch, resolving each distinct series key once."""
    entities, kinds, entity_ids = _key_columns(tuple(keys))
    key_idx = key_idx.astype(np.int32, copy=False)
    # narrow layouts (telemetry,device_id=..,metric_name=X value=1): the tag names the metric
    tagged = [(j, e) for j, e in enumerate(entities) if e is not None and e.metric_tag is not None]
    if tagged:
        metrics = metrics.cast(pa.string())
        idx = pa.array(key_idx)
        for j, e in tagged:
            name = dict(_split_key(keys[j])[1]).get(e.metric_tag or "")
            if name:
                sel = pc.and_(pc.equal(idx, j), pc.equal(metrics, e.value_field))
                metrics = pc.if_else(sel, pa.scalar(name), metrics)
    metric_dict = metrics if pa.types.is_dictionary(metrics.type) else pc.dictionary_encode(metrics)
    table = pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(kinds[0][key_idx]), kinds[1]),
            pa.DictionaryArray.from_arrays(pa.array(entity_ids[0][key_idx]), entity_ids[1]),
            metric_dict,
            pa.array(ts_us, pa.int64()).cast(pa.timestamp("us")).cast(TS_TYPE),
            pa.array(values, pa.float64()),
            pa.array(np.full(len(values), int(Quality.ACTUAL), dtype=np.int8)),
        ],
        schema=ENCODED_KEYED_BATCH_SCHEMA,
    )
    if not rows_ok.all():
        table = table.filter(pa.array(rows_ok))
    meta: dict[SeriesKey, SeriesMeta] = {}
    names = metric_dict.dictionary.to_pylist()
    # the (series key, metric) pairs present: marked in a table of all of them (a sort of the
    # 50,000 pairs took 1 ms), then each one's key and metadata from the cache
    seen = np.zeros(len(keys) * len(names), dtype=bool)
    seen[key_idx.astype(np.int64) * len(names) + metric_dict.indices.to_numpy(zero_copy_only=False)] = True
    pair = np.flatnonzero(seen)
    for j, m in zip((pair // len(names)).tolist(), (pair % len(names)).tolist(), strict=True):
        if entities[j] is not None:
            key, series_meta = _key_and_meta(keys[j], names[m])
            meta[key] = series_meta
    return ParsedBatch(table=table, errors=errors, nulls=0, rows=lines, meta=meta, ignored_fields=ignored)


_PerKey = tuple[np.ndarray, pa.Array]


# a producer's bodies name the same series keys again and again: their entities and the code of
# each key in the kind and entity columns are worked out once per set of keys (1,000 keys: 1.3 ms);
# a few sets are kept (one per steady writer), each up to a block's keys of memory
@functools.lru_cache(maxsize=32)
def _key_columns(keys: tuple[str, ...]) -> tuple[list[_Entity | None], _PerKey, _PerKey]:
    entities = [_entity_or_none(k) for k in keys]
    return (
        entities,
        _per_key_codes([e.kind if e else "" for e in entities]),
        _per_key_codes([e.entity_id if e else "" for e in entities]),
    )


def _per_key_codes(per_key: list[str]) -> _PerKey:
    """One value per series key -> each key's code and the distinct values (a row column is
    codes[key_idx] over that dictionary)."""
    codes: dict[str, int] = {}
    of_key = np.array([codes.setdefault(v, len(codes)) for v in per_key], dtype=np.int32)
    of_key.flags.writeable = False  # shared by every batch with these keys
    return of_key, pa.array(list(codes), pa.string())


def _parse_careful(
    lines: Sequence[bytes], line_numbers: Sequence[int], factor_ns: int, now_ns: int
) -> LineBatch:
    keys: dict[str, int] = {}
    key_idx: list[int] = []
    metrics: list[str] = []
    values: list[float] = []
    stamps: list[int] = []
    point_line: list[int] = []
    errors: list[RowError] = []
    ignored = 0
    sentinel = int(_NO_TS)
    for n, (raw, line_no) in enumerate(zip(lines, line_numbers, strict=True)):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            series_key, fields, ts = _parse_line(text)
            _entity(series_key)  # a bad tag set is this line's error, not the batch's
        except _LineError as exc:
            errors.append(RowError(line_no, n + 1, exc.field, exc.reason))
            continue
        if ts is not None and abs(ts * factor_ns) >= 2**63:
            errors.append(RowError(line_no, n + 1, "timestamp", f"timestamp {ts} is out of range"))
            continue
        j = keys.setdefault(series_key, len(keys))
        for fname, fval in fields:
            if isinstance(fval, str):
                ignored += 1
                continue
            key_idx.append(j)
            metrics.append(fname)
            values.append(fval)
            stamps.append(sentinel if ts is None else ts)
            point_line.append(line_no)
    ts_arr = np.array(stamps, dtype=np.int64)
    ts_us, ok = _to_us(ts_arr, factor_ns, now_ns)
    return _assemble(
        list(keys),
        np.array(key_idx, dtype=np.int64),
        pa.array(metrics, pa.string()),
        np.array(values, dtype=np.float64),
        ts_us,
        ok,
        errors,
        len(lines),
        ignored,
    )


def parse_lines(
    lines: Sequence[bytes],
    line_numbers: Sequence[int],
    *,
    precision: str | None = None,
    now_ns: int | None = None,
) -> LineBatch:
    """Parse line-protocol lines (without their newlines) into a keyed batch.

    Args:
        lines: raw lines; blank and comment lines are allowed.
        line_numbers: 1-based line number of each, for errors.
        precision: unit of the timestamps (ns default; us, ms, s, and Influx v1 spellings).
        now_ns: server time for lines without a timestamp. [ns since epoch, UTC]

    Returns:
        LineBatch: the good points, the metadata of their series, and one RowError per bad line.
    """
    factor = precision_factor(precision)
    now = time.time_ns() if now_ns is None else now_ns
    if not lines:
        return ParsedBatch(ENCODED_KEYED_BATCH_SCHEMA.empty_table())
    fast = _parse_fast(b"\n".join(lines), len(lines), factor, now)
    return fast if fast is not None else _parse_careful(lines, line_numbers, factor, now)


def parse_block(
    block: bytes, first_line: int, *, precision: str | None = None, now_ns: int | None = None
) -> ParsedBatch:
    """parse_lines over whole lines joined by newlines (no trailing one), numbered from `first_line`.

    The common case never splits the block into Python objects; only a block the vectorised path
    cannot take is split into lines for the careful one.
    """
    factor = precision_factor(precision)
    now = time.time_ns() if now_ns is None else now_ns
    n_lines = int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10)) + 1
    fast = _parse_fast(block, n_lines, factor, now)
    if fast is not None:
        return fast
    lines = block.split(b"\n")
    return _parse_careful(lines, range(first_line, first_line + len(lines)), factor, now)


def _parse_fast(joined: bytes, n_lines: int, factor_ns: int, now_ns: int) -> LineBatch | None:
    """Vectorised parse of lines with no escapes, quotes, comments or blank lines; None otherwise."""
    if b"\\" in joined or b'"' in joined or b"#" in joined or b"\r" in joined:
        return None
    split = _split_csv(joined, n_lines) or _split_lines(joined, n_lines)
    if split is None:
        return None
    keys_col, fields_col, ts_raw = split
    if factor_ns > 1:
        stamped = ts_raw != _NO_TS
        if np.any(np.abs(ts_raw[stamped].astype(np.float64)) * factor_ns >= 2**63):
            return None
    # fields: "k=v,k2=v2" -> one row per field with its line index
    if pc.any(pc.match_substring(fields_col, ",")).as_py():
        flist = pc.split_pattern(fields_col, ",")
        flat = pc.list_flatten(flist)
        parent: np.ndarray | None = pc.list_parent_indices(flist).to_numpy()
    else:  # one field per line, the usual case: no list to flatten
        flat, parent = fields_col, None
    named = _one_field_name(flat)
    if named is not None:
        fkeys, fvals = named
    else:
        kv = pc.split_pattern(flat, "=")
        if not np.all(pc.list_value_length(kv).to_numpy() == 2):
            return None
        fkeys = pc.list_element(kv, 0)
        fvals = pc.list_element(kv, 1)
        if pc.any(pc.equal(pc.utf8_length(fkeys), 0)).as_py():
            return None
    if pc.any(pc.equal(pc.utf8_length(fvals), 0)).as_py():
        return None
    values = _fast_values(fvals)
    if values is None:
        return None
    # series keys: resolve each distinct one once
    dict_keys = keys_col if pa.types.is_dictionary(keys_col.type) else pc.dictionary_encode(keys_col)
    distinct = dict_keys.dictionary.to_pylist()
    if any(_entity_or_none(k) is None for k in distinct):
        return None  # let the careful path name the line
    key_of_line = dict_keys.indices.to_numpy(zero_copy_only=False)
    if parent is not None:
        key_of_line, ts_raw = key_of_line[parent], ts_raw[parent]
    ts_us, ok = _to_us(ts_raw, factor_ns, now_ns)
    return _assemble(distinct, key_of_line, fkeys, values, ts_us, ok, [], n_lines, 0)


def _one_field_name(flat: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """Fields that all have the first one's name (`kwh=...` on every line): names and value texts
    without building a list per field; None when the names differ."""
    if not len(flat):
        return None
    first = flat[0].as_py()
    name, eq, _ = first.partition("=")
    if not name or not eq or not pc.all(pc.starts_with(flat, name + "=")).as_py():
        return None
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(flat), np.int32)), pa.array([name]))
    return names, pc.utf8_slice_codeunits(flat, len(name) + 1)


_CSV_PARSE = pa_csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False)
_CSV_READ = pa_csv.ReadOptions(column_names=["key", "fields", "ts"])
_CSV_CONVERT = pa_csv.ConvertOptions(
    column_types={"key": pa.dictionary(pa.int32(), pa.string()), "fields": pa.string(), "ts": pa.int64()},
    strings_can_be_null=False,
)


def _split_csv(joined: bytes, n_lines: int) -> tuple[pa.Array, pa.Array, np.ndarray] | None:
    """Lines of exactly `key fields timestamp` -> the three columns, split by Arrow's CSV reader.

    The reader cuts the block on all cores and hands back the series keys dictionary-encoded.
    None when any line has no timestamp, a blank line, extra spaces or a non-integer timestamp.
    """
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(joined),
            read_options=_CSV_READ,
            parse_options=_CSV_PARSE,
            convert_options=_CSV_CONVERT,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    ts = table.column("ts")
    if table.num_rows != n_lines or ts.null_count:
        return None
    return (
        table.column("key").combine_chunks(),
        table.column("fields").combine_chunks(),
        ts.to_numpy(),
    )


def _split_lines(joined: bytes, n_lines: int) -> tuple[pa.Array, pa.Array, np.ndarray] | None:
    """Lines of `key fields [timestamp]` -> the three columns (no timestamp: _NO_TS), or None."""
    arr = _lines_array(joined, n_lines)
    if arr is None:
        return None
    # each value is the line plus one trailing space (its newline): 3 parts, or 4 with a timestamp
    parts = pc.split_pattern(arr, " ")
    n_parts = pc.list_value_length(parts).to_numpy()
    if not np.all((n_parts == 3) | (n_parts == 4)):
        return None
    has_ts = n_parts == 4
    ts_raw = np.full(n_lines, _NO_TS, dtype=np.int64)
    if has_ts.any():
        # element 2 is the timestamp, or the empty string after the last space when there is none
        ts_text = pc.list_element(parts, 2)
        if not has_ts.all():
            ts_text = pc.if_else(pa.array(has_ts), ts_text, pa.scalar(None, pa.string()))
        try:
            ts_raw[has_ts] = ts_text.cast(pa.int64()).to_numpy(zero_copy_only=False)[has_ts]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return pc.list_element(parts, 0), pc.list_element(parts, 1), ts_raw


def _lines_array(joined: bytes, n_lines: int) -> pa.Array | None:
    """One Arrow string per line, without copying: the newlines become the values' trailing space.

    None when the text is not valid UTF-8 or a line is empty (the careful path reports those).
    """
    newlines = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == 10)
    data = joined.replace(b"\n", b" ") + b" "
    if len(newlines) != n_lines - 1 or len(data) >= 2**31:
        return None
    offsets = np.empty(n_lines + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:-1] = newlines + 1
    offsets[-1] = len(data)
    if np.any(np.diff(offsets) < 2):
        return None  # an empty line
    arr = pa.StringArray.from_buffers(n_lines, pa.py_buffer(offsets), pa.py_buffer(data))
    if np.frombuffer(data, dtype=np.uint8).max() >= 0x80:  # plain ASCII needs no UTF-8 check
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            return None
    return arr


def _fast_values(fvals: pa.Array) -> np.ndarray | None:
    """Unquoted field values -> float64, or None when any needs the careful path."""
    try:  # plain floats, nearly all traffic: one cast (inf and nan are caught below)
        out = fvals.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _typed_values(fvals)
    return out if np.all(np.isfinite(out)) else None


def _typed_values(fvals: pa.Array) -> np.ndarray | None:
    """Field values with integer (`i`) and unsigned (`u`) suffixes among the floats."""
    last = pc.utf8_slice_codeunits(fvals, -1)
    is_int = pc.equal(last, "i")
    is_uint = pc.equal(last, "u")
    out = np.empty(len(fvals), dtype=np.float64)
    plain = pc.invert(pc.or_(is_int, is_uint))
    try:
        if pc.any(plain).as_py():
            # booleans fail this cast and inf/nan are caught below: both go to the careful path
            txt = fvals if pc.all(plain).as_py() else pc.filter(fvals, plain)
            out[plain.to_numpy(zero_copy_only=False)] = txt.cast(pa.float64()).to_numpy()
        for mask, typ in ((is_int, pa.int64()), (is_uint, pa.uint64())):
            if pc.any(mask).as_py():
                txt = pc.utf8_slice_codeunits(pc.filter(fvals, mask), 0, -1)
                out[mask.to_numpy(zero_copy_only=False)] = txt.cast(typ).cast(pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not np.all(np.isfinite(out)):
        return None
    return out


def parse_line_batch(raw: RawBatch, *, precision: str | None = None) -> ParsedBatch:
    """parse_lines over a splitter's batch, with the batch's record numbering."""
    if raw.block is not None:
        return parse_block(raw.block, raw.first_record, precision=precision)
    batch = parse_lines(raw.records, raw.lines, precision=precision)
    first = raw.first_record - 1
    batch.errors = [RowError(e.line, e.record + first, e.field, e.reason) for e in batch.errors]
    return batch

"""NDJSON blocks of flat, alike records, read column by column without a JSON parser.

Nearly every producer writes each record with the same keys in the same order and no spaces:

    {"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":0.25}

Such a block is a CSV table in disguise. Cut at the commas, column i holds `"key_i":value` on
every line, and checking that each cell is exactly `"key":"text"` (no other quote) or
`"key":number` (JSON's number grammar) proves the line is that JSON object. Arrow's CSV reader
cuts the block and the checks are a few vectorised kernels: 50,000 meter rows took
~10 ms of CPU from bytes to keyed batch, where the per-record split and Arrow's JSON reader took
20 (benchmarks/README.md).

Anything else returns None and the block takes the JSON reader, which gives the same result:
escapes, control characters, whitespace around the tokens, a null, other keys or another key
order, nested values, or a comma inside a string (it splits the line into too many cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

__all__ = ["LABEL", "read_flat_block"]

#: JSON's number grammar (RFC 8259 §6): no sign +, no leading zeros, no bare dot, no inf/nan.
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_JSON_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_NUMBERS = (pa.float64(), pa.int64())
_PARSE = pa_csv.ParseOptions(delimiter=",", quote_char=False, escape_char=False)
#: Strings that repeat (ids, metric names): read dictionary-encoded.
LABEL = pa.dictionary(pa.int32(), pa.string())
#: A string field with at most this many distinct values in a 1 MiB chunk of the block is read
#: dictionary-encoded and checked (and its timestamps converted) once per distinct value: a
#: fleet's body repeats each interval's timestamp once per meter. One meter's history, all
#: distinct, stays plain: encoding it cost 6.6 ms per 60,000 rows against 3.8.
_AUTO_DICT_MAX = 2_000
#: A number field is read dictionary-encoded (and checked once per distinct value) when a sample
#: of the block says its values repeat: meter kWh with three decimals do (the benchmark's 50,000-
#: row bodies hold ~1,300 distinct: 9.3 -> 6.9 ms to read and check the column), all-distinct
#: values read that way cost more (12.0 -> 16.5 ms). The sample is _SAMPLE_WINDOWS pieces of
#: _SAMPLE_BYTES spread over the block (a fleet's body starts with one instant of every meter,
#: so its first lines alone say little), and the block's distinct values are estimated from the
#: repeats in it (k sampled of D >> k distinct repeat about k^2 / 2D times).
_SAMPLE_WINDOWS = 8
_SAMPLE_BYTES = 1 << 13
#: dictionary-encoded when the estimated distinct values are at most this share of the lines
_REPEATING_SHARE = 0.25


def _layout(
    first_line: bytes, fields: Sequence[tuple[str, pa.DataType]]
) -> list[tuple[str, pa.DataType]] | None:
    """The fields in the order the first line has them, or None when its keys or value types
    differ from `fields`."""
    try:
        doc = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return None
    wanted = dict(fields)
    if not isinstance(doc, dict) or len(doc) != len(wanted) or set(doc) != set(wanted):
        return None
    for name, value in doc.items():
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number != (wanted[name] in _NUMBERS) or (not is_number and not isinstance(value, str)):
            return None
    return [(name, wanted[name]) for name in doc]


def _string_cells(col: pa.Array, prefix: str, suffix: str) -> pa.Array | None:
    """`<prefix>"text"<suffix>` cells -> text, or None when any cell is not exactly that."""
    head, tail = prefix + '"', '"' + suffix
    if not (pc.all(pc.starts_with(col, head)).as_py() and pc.all(pc.ends_with(col, tail)).as_py()):
        return None
    # the key's two quotes and the value's two: a third inside the value would end the string early
    if not pc.all(pc.equal(pc.count_substring(col, '"'), 4)).as_py():
        return None
    return pc.utf8_slice_codeunits(col, len(head), -len(tail))


def _number_cells(col: pa.Array, prefix: str, suffix: str, *, integers: bool) -> pa.Array | None:
    """`<prefix>number<suffix>` cells -> float64 (int64 when `integers` and every one is an
    integer), or None when any is not a finite JSON number (or an integer past int64)."""
    pattern = "^" + _escape(prefix) + _JSON_NUMBER + _escape(suffix) + "$"
    if not pc.all(pc.match_substring_regex(col, pattern)).as_py():
        return None
    stop = -len(suffix) if suffix else np.iinfo(np.int32).max
    text = pc.utf8_slice_codeunits(col, len(prefix), stop)
    if integers and pc.all(pc.match_substring_regex(text, "^" + _JSON_INTEGER + "$")).as_py():
        try:
            return text.cast(pa.int64())
        except pa.ArrowInvalid:
            return None
    values = text.cast(pa.float64())
    if not pc.all(pc.is_finite(values)).as_py():  # 1e999 is valid JSON but not a float64
        return None
    return values


def _sampled_rows(block: bytes) -> list[list[bytes]]:
    """The cells (split at commas) of the whole lines in _SAMPLE_WINDOWS pieces of the block,
    cut once per block for every number column's `_repeating`."""
    step = max(len(block) // _SAMPLE_WINDOWS, 1)
    width = min(step, _SAMPLE_BYTES)  # windows never overlap: a line is sampled once
    rows: list[list[bytes]] = []
    for start in range(0, len(block), step):
        rows.extend(line.split(b",") for line in block[start : start + width].split(b"\n")[1:-1])
    return rows


def _repeating(sample: list[list[bytes]], column: int, n_lines: int) -> bool:
    """Whether the values of cell `column` repeat enough over a block of `n_lines` to read it
    dictionary-encoded, judged on the block's `_sampled_rows` (the checks after reading decide
    what the cells are, this only how they are read)."""
    cells = [parts[column] for parts in sample if len(parts) > column]
    k, distinct = len(cells), len(set(cells))
    if not k or distinct == k:
        return False
    # few values sampled again and again; else the birthday estimate of the block's distinct values
    return 2 * distinct <= k or k * k / (2 * (k - distinct)) <= _REPEATING_SHARE * n_lines


def _escape(text: str) -> str:
    return "".join("\\" + c if c in r"\^$.|?*+()[]{}" else c for c in text)


def read_flat_block(
    block: bytes, n_lines: int, fields: Sequence[tuple[str, pa.DataType]]
) -> dict[str, pa.Array] | None:
    """The values of a block of NDJSON records that all have exactly `fields`, in one order.

    Args:
        block: whole lines joined by newlines, no trailing newline, no blank line.
        n_lines: the lines in the block (its newlines + 1).
        fields: every key a record must have, with the type its values come in: float64 (JSON
            numbers), int64 (JSON numbers: int64 when every one is an integer, as Arrow infers
            them, float64 otherwise), dictionary<int32, string> (strings that repeat, such as
            ids) or string (other strings: dictionary-encoded when they repeat, plain otherwise).

    Returns:
        name -> values, or None when any line is not such a record (the JSON reader then takes
        the block).
    """
    if not block or b"\\" in block:
        return None
    raw = np.frombuffer(block, dtype=np.uint8)
    # raw control characters are not allowed in JSON strings; \t \r between tokens take the slow path
    if int(np.count_nonzero(raw < 0x20)) != n_lines - 1:  # the newlines only
        return None
    end = block.find(b"\n")
    layout = _layout(block if end < 0 else block[:end], fields)
    if layout is None:
        return None
    names = [f"c{i}" for i in range(len(layout))]
    sample = _sampled_rows(block) if any(typ in _NUMBERS for _, typ in layout) else []
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(block),
            # on the calling thread: concurrent bodies keep the cores busy, and Arrow's own threads
            # raised peak memory under four writers without raising their rate
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=_PARSE,
            convert_options=pa_csv.ConvertOptions(
                # numbers are read as text, checked against JSON's grammar, then converted; plain
                # strings are left to the reader, which dictionary-encodes those that repeat
                column_types={
                    c: ((LABEL if _repeating(sample, i, n_lines) else pa.string()) if typ in _NUMBERS else typ)
                    for i, (c, (_, typ)) in enumerate(zip(names, layout, strict=True))
                    if typ != pa.string()
                },
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                auto_dict_encode=True,
                auto_dict_max_cardinality=_AUTO_DICT_MAX,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # another cell count on some line, or text that is not UTF-8
    if table.num_rows != n_lines:
        return None
    out: dict[str, pa.Array] = {}
    last = len(layout) - 1
    for i, (name, typ) in enumerate(layout):
        prefix = ("{" if i == 0 else "") + orjson.dumps(name).decode() + ":"
        suffix = "}" if i == last else ""
        col = table.column(i).combine_chunks()
        if col.type not in (pa.string(), LABEL):
            return None  # text that is not UTF-8 is read as binary
        if typ in _NUMBERS and isinstance(col, pa.DictionaryArray):  # checked once per distinct cell
            numbers = _number_cells(col.dictionary, prefix, suffix, integers=typ == pa.int64())
            values = None if numbers is None else numbers.take(col.indices)
        elif typ in _NUMBERS:
            values = _number_cells(col, prefix, suffix, integers=typ == pa.int64())
        elif isinstance(col, pa.DictionaryArray):  # the checks run once per distinct cell
            texts = _string_cells(col.dictionary, prefix, suffix)
            values = None if texts is None else pa.DictionaryArray.from_arrays(col.indices, texts)
        else:
            values = _string_cells(col, prefix, suffix)
        if values is None:
            return None
        out[name] = values
    return out

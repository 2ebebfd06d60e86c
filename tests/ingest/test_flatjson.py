"""NDJSON blocks read column by column (gridpulse.ingest.flatjson) give exactly what the JSON
reader and the careful path give, and anything the cut-at-commas reading cannot prove goes there."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from gridpulse.ingest.flatjson import read_flat_block
from gridpulse.ingest.parse import ParsedBatch, parse_batch
from gridpulse.ingest.shapes import SHAPES
from gridpulse.ingest.split import NdjsonSplitter

METER = [("ts", pa.string()), ("meter_id", pa.dictionary(pa.int32(), pa.string())), ("kwh", pa.float64())]
GOOD = b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}'


def _block(*lines: bytes) -> bytes:
    return b"\n".join(lines)


def test_a_block_of_alike_records_is_read_column_by_column() -> None:
    block = _block(
        GOOD,
        b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-\xc3\xa9 2","kwh":-0.5}',
        b'{"ts":"2024-01-01T00:30:00Z","meter_id":"m-1","kwh":12}',
        b'{"ts":"2024-01-01T00:45:00Z","meter_id":"m:{3}","kwh":1E-3}',
        b'{"ts":"2024-01-01T01:00:00Z","meter_id":"m-1","kwh":-0}',
    )
    cols = read_flat_block(block, 5, METER)
    assert cols is not None
    assert cols["kwh"].to_pylist() == [1.25, -0.5, 12.0, 0.001, 0.0]
    assert cols["meter_id"].to_pylist() == ["m-1", "m-é 2", "m-1", "m:{3}", "m-1"]
    assert isinstance(cols["meter_id"], pa.DictionaryArray)  # the writer gets them encoded
    assert cols["ts"].to_pylist()[1] == "2024-01-01T00:15:00Z"


def test_keys_in_another_order_than_the_shape_are_read_when_every_line_agrees() -> None:
    block = _block(
        b'{"kwh":2.5,"meter_id":"m-1","ts":"2024-01-01T00:00:00Z"}', b'{"kwh":3,"meter_id":"m-2","ts":"x"}'
    )
    cols = read_flat_block(block, 2, METER)
    assert cols is not None
    assert cols["kwh"].to_pylist() == [2.5, 3.0]
    assert cols["ts"].to_pylist() == ["2024-01-01T00:00:00Z", "x"]


# each second line below is valid or invalid JSON the comma cut cannot prove, or a record the
# fast paths leave to the careful one: the block must not be read column by column
NOT_FLAT = {
    "escape in a string": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-\\"2\\"","kwh":1}',
    "space after a colon": b'{"ts": "2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1}',
    "space before the brace": b' {"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1}',
    "space after the brace": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1} ',
    "null value": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":null}',
    "boolean value": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":true}',
    "number as a string": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":"1.5"}',
    "entity as a number": b'{"ts":"2024-01-01T00:15:00Z","meter_id":2,"kwh":1}',
    "leading zero": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":01}',
    "plus sign": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":+1}',
    "trailing dot": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1.}',
    "leading dot": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":.5}',
    "bare NaN": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":NaN}',
    "too large for a float": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1e999}',
    "extra key": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1,"note":"x"}',
    "missing key": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2"}',
    "another key order": b'{"meter_id":"m-2","ts":"2024-01-01T00:15:00Z","kwh":1}',
    "duplicated key": b'{"ts":"2024-01-01T00:15:00Z","ts":"2024-01-01T00:30:00Z","kwh":1}',
    "comma in a string": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m,2","kwh":1}',
    "nested object": b'{"ts":"2024-01-01T00:15:00Z","meter_id":{"id":"m-2"},"kwh":1}',
    "array value": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":[1]}',
    "quote inside a string": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m"2","kwh":1}',
    "carriage return": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1}\r',
    "tab in a string": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m\t2","kwh":1}',
    "not UTF-8": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-\xff","kwh":1}',
    "two closing braces": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1}}',
    "text after the object": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1}x',
    "not an object": b'["2024-01-01T00:15:00Z","m-2",1]',
    "unfinished object": b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":1',
}


@pytest.mark.parametrize("line", NOT_FLAT.values(), ids=NOT_FLAT.keys())
def test_what_the_comma_cut_cannot_prove_goes_to_the_json_reader(line: bytes) -> None:
    assert read_flat_block(_block(GOOD, line), 2, METER) is None
    assert read_flat_block(_block(line, GOOD), 2, METER) is None


def _parse_body(
    body: bytes, shape: str, *, blocks: bool, cut: int, batch_rows: int = 3, tz: str | None = None
) -> list[ParsedBatch]:
    splitter = NdjsonSplitter(batch_rows, blocks=blocks)
    raws = [*splitter.feed(body[:cut]), *splitter.feed(body[cut:]), *splitter.close()]
    return [parse_batch(raw, SHAPES[shape], tz=tz) for raw in raws]


def _outcome(parsed: list[ParsedBatch]) -> tuple[list[object], ...]:
    tables = [p.table for p in parsed if p.table.num_rows]
    rows = pa.concat_tables(tables).cast(tables[0].schema).to_pylist() if tables else []
    errors = [e.as_dict() for p in parsed for e in p.errors]
    return rows, errors, [sum(p.nulls for p in parsed)], [sum(p.rows for p in parsed)]


BODIES = {
    "all alike": _block(GOOD, *(GOOD.replace(b"m-1", b"m-%d" % i) for i in range(7))),
    "a bad timestamp": _block(GOOD, b'{"ts":"yesterday","meter_id":"m-2","kwh":1}', GOOD),
    "a naive timestamp": _block(GOOD, b'{"ts":"2024-01-01T00:15:00","meter_id":"m-2","kwh":1}', GOOD),
    "an empty entity": _block(GOOD, b'{"ts":"2024-01-01T00:15:00Z","meter_id":"  ","kwh":1}', GOOD),
    "blank lines": _block(GOOD, b"", GOOD, b"   ", GOOD, GOOD, b"", GOOD),
    "all naive, a DST gap": _block(
        *(b'{"ts":"2024-03-31T0%d:30:00","meter_id":"m-1","kwh":1}' % h for h in range(5))
    ),
    **{f"then {name}": _block(GOOD, GOOD, line, GOOD, GOOD) for name, line in NOT_FLAT.items()},
}


@pytest.mark.parametrize("tz", [None, "Europe/Amsterdam"])
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_blocks_give_the_same_rows_errors_and_counts_as_records(body: bytes, tz: str | None) -> None:
    """Line and record numbers of rejected rows, NULLs and points are those of the per-record path,
    wherever the chunks of the body break, with or without a zone for naive timestamps."""
    for cut in {0, 1, len(body) // 3, len(body) // 2, len(body) - 1, len(body)}:
        assert _outcome(_parse_body(body, "meter_usage", blocks=True, cut=cut, tz=tz)) == _outcome(
            _parse_body(body, "meter_usage", blocks=False, cut=cut, tz=tz)
        ), cut


def test_narrow_telemetry_blocks_match_the_records_path() -> None:
    rows = [
        b'{"recorded_at":"2024-01-01T00:00:00Z","device_id":"bat-1","metric_name":"%s","value":%s}' % (m, v)
        for m, v in itertools.product([b"soc_pct", b"power_kw"], [b"55.5", b"-3", b"0"])
    ]
    body = _block(
        *rows, b'{"recorded_at":"2024-01-01T00:00:00Z","device_id":"bat-1","metric_name":"","value":1}'
    )
    for b in (body, _block(*rows)):
        fast = _outcome(_parse_body(b, "telemetry", blocks=True, cut=len(b), batch_rows=100))
        assert fast == _outcome(_parse_body(b, "telemetry", blocks=False, cut=len(b), batch_rows=100))
    assert len(_outcome(_parse_body(_block(*rows), "telemetry", blocks=True, cut=0, batch_rows=100))[0]) == 6


def test_a_block_comes_with_its_line_and_record_numbers() -> None:
    body = _block(GOOD, b"", GOOD, GOOD, GOOD, GOOD) + b"\n"
    splitter = NdjsonSplitter(2, blocks=True)
    raws = [*splitter.feed(body[:60]), *splitter.feed(body[60:]), *splitter.close()]
    # the first block holds a blank line (not a record): cut into records; the rest comes in
    # blocks of batch_rows lines, as record batches would (memory follows ingest.batch_rows)
    assert [(list(r.lines), r.first_record, r.block is not None) for r in raws] == [
        ([1], 1, False),
        ([3, 4], 2, True),
        ([5, 6], 4, True),
    ]


def _meter_line(ts: str, meter: int) -> bytes:
    return b'{"ts":"%s","meter_id":"m-%d","kwh":0.5}' % (ts.encode(), meter)


def test_repeating_strings_come_dictionary_encoded_and_distinct_ones_plain() -> None:
    """A fleet's body repeats each timestamp once per meter: checked and converted once each."""
    fleet = [_meter_line(f"2024-01-01T{h:02d}:00:00Z", m) for h in range(24) for m in range(100)]
    history = [  # 3,024 quarter-hours of one meter
        _meter_line(f"2024-01-{d:02d}T{h:02d}:{q:02d}:00Z", 1)
        for d in range(1, 32)
        for h in range(24)
        for q in (0, 15, 30, 45)
    ][:3024]
    for lines, encoded in ((fleet, True), (history, False)):
        cols = read_flat_block(_block(*lines), len(lines), METER)
        assert cols is not None
        assert isinstance(cols["ts"], pa.DictionaryArray) is encoded
        assert cols["ts"].to_pylist() == [line.split(b'"')[3].decode() for line in lines]


def test_a_block_whose_chunks_encode_differently_reads_whole() -> None:
    """Arrow's reader decides per 1 MiB chunk whether to dictionary-encode: a block that repeats its
    timestamps, then stops repeating, still reads as one column."""
    repeat = [_meter_line("2024-01-01T00:00:00Z", m) for m in range(30_000)]
    distinct = [_meter_line(f"2024-01-01T00:00:{s:05d}Z", 1) for s in range(30_000)]
    lines = repeat + distinct
    cols = read_flat_block(_block(*lines), len(lines), METER)
    assert cols is not None
    ts = cols["ts"].to_pylist()
    assert ts[0] == "2024-01-01T00:00:00Z" and ts[-1] == "2024-01-01T00:00:29999Z" and len(ts) == 60_000


# -- file loading: `gridpulse load` reads NDJSON blocks the same way, with any keys -------------------
LOADER_BLOCKS = {
    "meters": [GOOD, GOOD.replace(b"1.25", b"2"), GOOD.replace(b"m-1", b"m-2")],
    "integers stay integers": [b'{"id":7,"ts":"2024-01-01T00:00:00Z","n":3}', b'{"id":8,"ts":"x","n":-0}'],
    "integers and floats": [b'{"id":7,"v":3}', b'{"id":8,"v":2.5}', b'{"id":9,"v":1e3}'],
    "an integer past int64": [b'{"id":7,"v":3}', b'{"id":8,"v":9223372036854775808}'],
    "a null": [b'{"id":7,"v":3}', b'{"id":8,"v":null}'],
    "a boolean": [b'{"id":7,"on":true}', b'{"id":8,"on":false}'],
    "a string then a number": [b'{"id":"7","v":3}', b'{"id":8,"v":4}'],
    "spaces": [b'{"id": 7, "v": 3}', b'{"id": 8, "v": 4}'],
    "wide rows": [b'{"ts":"t%d","a":%d,"b":%d.5,"c":"x","d":"y%d"}' % (i, i, i, i % 3) for i in range(50)],
}


@pytest.mark.parametrize("lines", LOADER_BLOCKS.values(), ids=LOADER_BLOCKS.keys())
def test_loader_blocks_give_the_columns_and_types_of_the_records_path(lines: list[bytes]) -> None:
    from gridpulse.ingest.readers import _json_chunk, _raw_json_chunk
    from gridpulse.ingest.split import RawBatch

    block = _block(*lines)
    numbers = range(3, 3 + len(lines))
    fast = _raw_json_chunk(RawBatch((), numbers, 1, block=block), position=10)
    slow = _json_chunk(lines, list(numbers), position=10)
    assert fast.table.schema == slow.table.schema
    assert fast.table.to_pylist() == slow.table.to_pylist()
    assert fast.lines.tolist() == slow.lines.tolist() == list(numbers)
    assert fast.present is not None and slow.present is not None
    assert {k: v.tolist() for k, v in fast.present.items()} == {
        k: v.tolist() for k, v in slow.present.items()
    }
    assert fast.records == slow.records
    assert (fast.unreadable, fast.position) == (slow.unreadable, slow.position)


def test_loader_reads_alike_meter_lines_without_a_json_parser() -> None:
    from gridpulse.ingest.readers import _flat_json_chunk

    chunk = _flat_json_chunk(_block(GOOD, GOOD.replace(b"m-1", b"m-2")), range(1, 3), position=0)
    assert chunk is not None  # the fast path took it (the test above checks it agrees)
    assert chunk.table.column("meter_id").to_pylist() == ["m-1", "m-2"]


# -- repeating numbers: read dictionary-encoded and checked once per distinct value ----------------
def _fleet_block(values: list[bytes], *extra: bytes) -> list[bytes]:
    """A fleet's body: every meter at each instant, its readings taken from `values` in turn."""
    lines = [
        b'{"ts":"2024-01-01T%02d:00:00Z","meter_id":"m-%d","kwh":%s}' % (h, m, values[(h * 100 + m) % len(values)])
        for h in range(24)
        for m in range(100)
    ]
    return [*lines[:1200], *extra, *lines[1200:]]


def test_numbers_that_repeat_are_checked_once_each_and_read_exactly() -> None:
    from gridpulse.ingest.flatjson import _repeating, _sampled_rows

    values = [b"%d.%03d" % (i // 1000, i % 1000) for i in range(0, 5000, 37)]  # 136 readings
    lines = _fleet_block(values)
    block = _block(*lines)
    assert _repeating(_sampled_rows(block), 2, len(lines))  # this block takes the dictionary path
    cols = read_flat_block(block, len(lines), METER)
    assert cols is not None and cols["kwh"].type == pa.float64()
    assert cols["kwh"].to_pylist() == [float(line.rsplit(b":", 1)[1][:-1]) for line in lines]
    # integers stay int64 when the field is read as integers (the loader's inference)
    ints = _fleet_block([b"%d" % i for i in range(50)])
    typed = [(name, pa.int64() if name == "kwh" else t) for name, t in METER]
    got = read_flat_block(_block(*ints), len(ints), typed)
    assert got is not None and got["kwh"].type == pa.int64()
    assert got["kwh"].to_pylist() == [int(line.rsplit(b":", 1)[1][:-1]) for line in ints]
    # all distinct: read plain
    distinct = _fleet_block([b"%d.%04d" % (i // 10_000, i % 10_000) for i in range(2400)])
    assert not _repeating(_sampled_rows(_block(*distinct)), 2, len(distinct))
    assert read_flat_block(_block(*distinct), len(distinct), METER) is not None


@pytest.mark.parametrize("bad", [b"01", b"+1", b"1.", b".5", b"NaN", b"1e999", b"1,5", b'"1"'])
def test_a_bad_number_among_repeating_ones_still_sends_the_block_to_the_json_reader(bad: bytes) -> None:
    from gridpulse.ingest.flatjson import _repeating, _sampled_rows

    lines = _fleet_block([b"0.25", b"1.5", b"2"], *[b'{"ts":"2024-01-02T00:00:00Z","meter_id":"m-9","kwh":%s}' % bad] * 3)
    block = _block(*lines)
    assert _repeating(_sampled_rows(block), 2, len(lines))
    assert read_flat_block(block, len(lines), METER) is None

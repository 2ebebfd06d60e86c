"""Splitting bodies into records at any chunk boundary, and parsing records into Arrow."""

from __future__ import annotations

import pytest

from gridpulse.errors import IngestError
from gridpulse.ingest.parse import parse_batch
from gridpulse.ingest.shapes import SHAPES
from gridpulse.ingest.split import JsonArraySplitter, NdjsonSplitter, RawBatch

NDJSON = (
    b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}\n'
    b"\n"
    b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.10}\r\n'
    b'{"ts":"2024-01-01T00:30:00Z","meter_id":"m-{1}","kwh":null}'  # no final newline, braces in a string
)
ARRAY = (
    b'[\n  {"ts": "2024-01-01T00:00:00Z", "meter_id": "m-1", "kwh": 1.25},\n'
    b'  {\n    "ts": "2024-01-01T00:15:00Z",\n    "meter_id": "m-\\"1\\"",\n    "kwh": 1.10\n  }\n]\n'
)


def _collect(splitter: NdjsonSplitter | JsonArraySplitter, body: bytes, cut: int) -> list[RawBatch]:
    out = [*splitter.feed(body[:cut]), *splitter.feed(body[cut:])]
    return out + list(splitter.close())


@pytest.mark.parametrize("cut", range(0, len(NDJSON) + 1))
def test_ndjson_records_and_lines_survive_any_chunk_boundary(cut: int) -> None:
    batches = _collect(NdjsonSplitter(batch_rows=2), NDJSON, cut)
    records = [r for b in batches for r in b.records]
    lines = [n for b in batches for n in b.lines]
    assert lines == [1, 3, 4]
    assert [b.first_record for b in batches] == [1, 3]
    assert records[2].endswith(b"null}")


@pytest.mark.parametrize("cut", range(0, len(ARRAY) + 1))
def test_json_array_records_and_lines_survive_any_chunk_boundary(cut: int) -> None:
    batches = _collect(JsonArraySplitter(batch_rows=100), ARRAY, cut)
    (batch,) = batches
    assert batch.lines == [2, 3]
    assert len(batch.records) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"ts": 1}', "not a JSON array"),
        (b'[{"ts": "x"}', "ends inside"),
        (b'[{"ts": "x"}] trailing', "after the closing"),
        (b"[1, 2]", "not a JSON object"),
        (b"", "empty"),
    ],
)
def test_json_array_errors_say_what_is_wrong(body: bytes, reason: str) -> None:
    splitter = JsonArraySplitter(batch_rows=10)
    with pytest.raises(IngestError, match=reason):
        list(splitter.feed(body))
        list(splitter.close())


def test_empty_array_is_accepted() -> None:
    splitter = JsonArraySplitter(batch_rows=10)
    assert [*splitter.feed(b" [ ] "), *splitter.close()] == []


def _parse(records: list[bytes], shape: str = "meter_usage", tz: str | None = None):  # type: ignore[no-untyped-def]
    return parse_batch(RawBatch(records, list(range(1, len(records) + 1)), 1), SHAPES[shape], tz=tz)


def test_offsets_convert_to_utc() -> None:
    p = _parse([b'{"ts":"2024-06-01T02:00:00+02:00","meter_id":"m","kwh":1}',
                b'{"ts":"2024-06-01T00:00:00.5Z","meter_id":"m","kwh":1}'])
    assert [t.isoformat() for t in p.table.column("ts").to_pylist()] == [
        "2024-06-01T00:00:00+00:00", "2024-06-01T00:00:00.500000+00:00"]


@pytest.mark.parametrize("raw", [b"null", b'""', b'"NaN"', b'"NA"', b'"NaT"', b'"nan"', b"NaN"])
def test_null_like_values_become_null_and_are_counted(raw: bytes) -> None:
    p = _parse([b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m","kwh":' + raw + b"}"])
    assert p.errors == []
    assert p.table.column("value").to_pylist() == [None]
    assert p.nulls == 1


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m","kwh":"abc"}', "kwh", "expected a number"),
        (b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m","kwh":true}', "kwh", "expected a number"),
        (b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m","kwh":1e999}', "kwh", "infinite"),
        (b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m"}', "kwh", "missing"),
        (b'{"ts":"2024-01-01T00:00:00Z","kwh":1}', "meter_id", "missing"),
        (b'{"ts":"yesterday","meter_id":"m","kwh":1}', "ts", "not an ISO 8601"),
        (b'{"ts":1704067200,"meter_id":"m","kwh":1}', "ts", "ISO 8601 string"),
        (b'{"ts":"2024-01-01T00:00:00","meter_id":"m","kwh":1}', "ts", "no zone offset"),
        (b'["ts"]', None, "not a JSON object"),
        (b'{"ts":', None, "not valid JSON"),
    ],
)
def test_bad_rows_name_field_and_reason(record: bytes, field: str | None, reason: str) -> None:
    good = b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m","kwh":1}'
    p = _parse([good, record, good])
    (err,) = p.errors
    assert (err.line, err.record, err.field) == (2, 2, field)
    assert reason in err.reason
    assert p.table.num_rows == 2


def test_naive_times_read_in_the_route_zone_and_dst_edges_rejected() -> None:
    p = _parse(
        [
            b'{"ts":"2024-07-01T12:00:00","meter_id":"m","kwh":1}',
            b'{"ts":"2024-03-31T02:30:00","meter_id":"m","kwh":1}',  # does not exist in Amsterdam
            b'{"ts":"2024-10-27T02:30:00","meter_id":"m","kwh":1}',  # exists twice
            b'{"ts":"2024-10-27T02:30:00+01:00","meter_id":"m","kwh":1}',  # offset settles it
        ],
        tz="Europe/Amsterdam",
    )
    assert [e.line for e in p.errors] == [2, 3]
    assert all("DST" in e.reason for e in p.errors)
    assert [t.isoformat() for t in p.table.column("ts").to_pylist()] == [
        "2024-07-01T10:00:00+00:00", "2024-10-27T01:30:00+00:00"]


def test_readings_rows_melt_into_one_point_per_present_field() -> None:
    p = _parse(
        [b'{"channel_id":7,"timestamp":"2024-01-01T00:00:00Z","energy_kwh":1.5,"power_kw":6,"voltage_v":null}',
         b'{"channel_id":"8","timestamp":"2024-01-01T00:00:00Z"}'],
        shape="readings",
    )
    assert [(r["entity_id"], r["metric"], r["value"]) for r in p.table.to_pylist()] == [
        ("7", "energy_kwh", 1.5), ("7", "power_kw", 6.0), ("7", "voltage_v", None)]
    (err,) = p.errors
    assert err.line == 2 and "none of the fields" in err.reason


def test_telemetry_rows_use_metric_name_as_metric() -> None:
    p = _parse([b'{"recorded_at":"2024-01-01T00:00:00Z","device_id":"b-1","metric_name":"StateOfChargePercentage",'
                b'"value":19.5}', b'{"recorded_at":"2024-01-01T00:00:00Z","device_id":"b-1","value":1}'],
               shape="telemetry")
    assert p.table.to_pylist()[0]["metric"] == "StateOfChargePercentage"
    assert p.table.to_pylist()[0]["entity_kind"] == "device"
    assert p.errors[0].field == "metric_name"


@pytest.mark.parametrize(
    "records",
    [
        [b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.5}', b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":2}'],
        [b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":"1.5"}', b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-2","kwh":null}'],
    ],
    ids=["vectorised", "careful"],
)
def test_parsed_keys_come_dictionary_encoded_for_the_writer(records: list[bytes]) -> None:
    """The parse threads encode the key columns, so the single writer does not hash the strings."""
    from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA

    out = parse_batch(RawBatch(records, [1, 2], 1), SHAPES["meter_usage"], tz=None)
    assert out.table.schema == ENCODED_KEYED_BATCH_SCHEMA
    assert out.table.column("entity_id").to_pylist() == ["m-1", "m-2"]
    assert set(out.table.column("entity_kind").to_pylist()) == {"meter"}
    assert set(out.table.column("metric").to_pylist()) == {"kwh"}

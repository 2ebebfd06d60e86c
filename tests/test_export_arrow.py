"""The Arrow answers' naming of series (with_series_names) and their stream (arrow_stream)."""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow as pa
import pytest

from gridpulse import export
from gridpulse.export import arrow_stream, series_names, with_series_names
from gridpulse.model import Series, SeriesKey


def _series(*ids: int) -> list[Series]:
    return [Series(i, SeriesKey("meter", f"m-{i}", "kwh"), "kWh", timedelta(minutes=15), "UTC", {}) for i in ids]


def _names_of(table: pa.Table) -> list[tuple[object, ...]]:
    cols = ("series_id", "entity_kind", "entity_id", "metric")
    return list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


def _expected(ids: list[int | None], known: set[int]) -> list[tuple[object, ...]]:
    return [
        (i, "meter", f"m-{i}", "kwh") if i in known else (i, None, None, None)
        for i in ids
    ]


@pytest.mark.parametrize(
    "repeat", [1, 50, 200], ids=["few rows (named in Python)", "some rows (hash lookup)", "many rows (kept table)"]
)
@pytest.mark.parametrize("id_type", [pa.int32(), pa.int64()])
@pytest.mark.parametrize(
    ("known", "rows"),
    [
        # dense ids (the kept id -> position table), every row a known series
        ([1, 2, 3], [3, 1, 2, 2, 1, 3]),
        # dense ids, a row of an id inside the table's range that is not among them (null names)
        ([1, 2, 4], [4, 3, 1, 2, 0, 1]),
        # a row beyond the table's range: the hash lookup answers
        ([1, 2, 3], [3, 1, 2, 9, 1, 2]),
        # sparse ids (no table is kept)
        ([5, 100_000, 7_000_000], [7_000_000, 5, 100_000, 5]),
        # fewer rows than series (a top 10): dictionaries of the rows' own series
        ([1, 2, 3, 4, 5, 6, 7, 8], [8, 2]),
    ],
)
def test_each_row_is_named_as_its_series(
    known: list[int], rows: list[int], id_type: pa.DataType, repeat: int
) -> None:
    names = series_names(_series(*known))
    rows = rows * repeat
    assert (names.position is None) == (max(known) > 8 * len(known) + 1024)
    half = len(rows) // 2  # two chunks, as a table read in batches has
    column = pa.chunked_array([pa.array(rows[:half], id_type), pa.array(rows[half:], id_type)])
    table = pa.table({"series_id": column, "kwh": [float(i) for i in range(len(rows))]})
    named = with_series_names(table, names)
    assert named.column_names == ["series_id", "entity_kind", "entity_id", "metric", "kwh"]
    assert _names_of(named) == _expected(list(rows), set(known))
    # one type whichever way the rows were looked up: answers of any size concatenate
    for c in ("entity_kind", "entity_id", "metric"):
        assert named.schema.field(c).type == pa.dictionary(pa.int32(), pa.string())
    # the same answer from the series themselves (no kept arrays)
    assert with_series_names(table, _series(*known)).equals(named)


@pytest.mark.parametrize(
    ("known", "rows"),
    [([1, 2, 3], [3, 1, 2, 2, 1, 3]), ([1, 2, 4], [4, 3, None, 2, 0, 1]), ([1, *range(10, 80)], [79, 1, 10])],
)
def test_few_rows_named_in_python_equal_pyarrows_encoding(
    known: list[int], rows: list[int | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python path names each row as pyarrow's compute path does, in the same types; where
    that path encodes the rows' own names (fewer rows than series), with the same dictionaries:
    each name once, in order of first appearance."""
    names = series_names(_series(*known))
    table = pa.table({"series_id": pa.array(rows, pa.int32()), "kwh": [1.0] * len(rows)})
    in_python = with_series_names(table, names)
    monkeypatch.setattr(export, "_FEW_ROWS", 0)
    by_compute = with_series_names(table, names)
    assert in_python.schema == by_compute.schema
    assert _names_of(in_python) == _names_of(by_compute) == _expected(rows, set(known))
    assert in_python.column("entity_kind").chunk(0).dictionary.to_pylist() == ["meter"]
    if len(rows) < len(known):
        assert in_python.equals(by_compute)


def test_null_and_empty_series_ids() -> None:
    names = series_names(_series(1, 2))
    table = pa.table({"series_id": pa.array([2, None, 1], pa.int32())})
    assert _names_of(with_series_names(table, names)) == [(2, "meter", "m-2", "kwh"), (None, None, None, None),
                                                          (1, "meter", "m-1", "kwh")]
    empty = with_series_names(pa.table({"series_id": pa.array([], pa.int32())}), names)
    assert empty.num_rows == 0 and empty.column_names[:4] == ["series_id", "entity_kind", "entity_id", "metric"]
    assert with_series_names(pa.table({"x": [1]}), names).column_names == ["x"]


@pytest.mark.parametrize("rows", [3, 30_000], ids=["small (one pass)", "large (sized, then written)"])
def test_the_stream_holds_the_table_and_its_head(rows: int) -> None:
    ids = pa.array([1 + i % 2 for i in range(rows)], pa.int32())
    table = with_series_names(pa.table({"series_id": ids, "kwh": [i / 2 for i in range(rows)]}), _series(1, 2))
    body = arrow_stream(table, {"analysis": "energy", "units": {"kwh": "kWh"}})
    back = pa.ipc.open_stream(body).read_all()
    assert back.replace_schema_metadata(None).equals(table)
    assert json.loads(back.schema.metadata[b"gridpulse"]) == {"analysis": "energy", "units": {"kwh": "kWh"}}
    # sized exactly: the end-of-stream marker is the last thing, no zeros after it
    assert bytes(body[-8:]) == b"\xff\xff\xff\xff\x00\x00\x00\x00"

"""Loading files into a real DuckDB store: every format, both layouts, rejects, reloads, folders,
the battery layout and reference tables. Every file is written by the test itself."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridpulse.errors import ConfigError, IngestError
from gridpulse.ingest.files import LoadReport, file_stem, load_file, load_paths, plan_paths
from gridpulse.ingest.mapping import Mapping, parse_interval
from gridpulse.ingest.writer import Writer
from gridpulse.model import SeriesKey
from gridpulse.store import open_store
from gridpulse.store.base import REFERENCE_KINDS, ReadingsQuery, Store

ROWS = [
    ("2024-01-01T00:00:00Z", "m-1", 1.25, 0.5),
    ("2024-01-01T00:15:00Z", "m-1", 1.5, 0.25),
    ("2024-01-01T00:00:00Z", "m-2", 2.0, None),
]
#: (entity, metric, ts, value) of ROWS loaded wide with kwh and kvarh.
WIDE_POINTS = {
    ("meter", "m-1", "kwh", "2024-01-01T00:00:00+00:00", 1.25),
    ("meter", "m-1", "kwh", "2024-01-01T00:15:00+00:00", 1.5),
    ("meter", "m-2", "kwh", "2024-01-01T00:00:00+00:00", 2.0),
    ("meter", "m-1", "kvarh", "2024-01-01T00:00:00+00:00", 0.5),
    ("meter", "m-1", "kvarh", "2024-01-01T00:15:00+00:00", 0.25),
    ("meter", "m-2", "kvarh", "2024-01-01T00:00:00+00:00", None),
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Store, Writer]]:
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    writer = Writer(store).start()
    yield store, writer
    writer.stop()
    store.close()


def load(db: tuple[Store, Writer], path: Path, mapping: Mapping | None = None, **kw: Any) -> LoadReport:
    store, writer = db
    return load_file(writer, store, path, mapping or Mapping(), **kw)


def stored(store: Store) -> set[tuple[str, str, str, str, float | None]]:
    out = set()
    for s in store.list_series():
        for row in store.read(ReadingsQuery(s.series_id)).to_pylist():
            out.add((s.key.entity_kind, s.key.entity_id, s.key.metric, row["ts"].isoformat(), row["value"]))
    return out


def rejects_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def csv_text(delimiter: str = ",", *, crlf: bool = False, bom: bool = False) -> str:
    nl = "\r\n" if crlf else "\n"
    lines = [delimiter.join(["ts", "meter_id", "kwh", "kvarh"])]
    lines += [delimiter.join([ts, m, str(k), "" if v is None else str(v)]) for ts, m, k, v in ROWS]
    return ("\ufeff" if bom else "") + nl.join(lines) + nl


def write_format(path: Path, fmt: str, *, gz: bool) -> Path:
    records = [{"ts": ts, "meter_id": m, "kwh": k, "kvarh": v} for ts, m, k, v in ROWS]
    if fmt == "csv":
        data = csv_text().encode()
    elif fmt == "json":
        data = json.dumps(records, indent=2).encode()
    elif fmt == "ndjson":
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    else:
        table = pa.table(
            {
                "ts": pa.array([r["ts"] for r in records]).cast(pa.timestamp("us", tz="UTC")),
                "meter_id": [r["meter_id"] for r in records],
                "kwh": [r["kwh"] for r in records],
                "kvarh": [r["kvarh"] for r in records],
            }
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
    target = path / f"meters.{fmt}{'.gz' if gz else ''}"
    target.write_bytes(gzip.compress(data) if gz else data)
    return target


# ----------------------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "ndjson"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_every_format_plain_or_gzipped_gives_the_same_points(
    db: Any, tmp_path: Path, fmt: str, gz: bool
) -> None:
    report = load(db, write_format(tmp_path, fmt, gz=gz), Mapping(wide=True))
    assert stored(db[0]) == WIDE_POINTS
    assert (report.rows, report.points, report.nulls, report.inserted, report.rejected) == (3, 6, 1, 6, 0)
    assert report.error is None and report.rejects_path is None


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_detected_from_the_header(db: Any, tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "meters.csv"
    path.write_text(csv_text(delimiter))
    load(db, path, Mapping(wide=True))
    assert stored(db[0]) == WIDE_POINTS


def test_delimiter_flag_wins_over_detection(db: Any, tmp_path: Path) -> None:
    # as many commas as semicolons in the header: detection would pick the comma
    path = tmp_path / "odd.csv"
    path.write_text("ts;meter_id;kwh,net,total\n2024-01-01T00:00:00Z;m-1;1.5\n")
    load(db, path, Mapping(delimiter=";", value_columns=(("kwh,net,total", "kwh"),)))
    assert stored(db[0]) == {("meter", "m-1", "kwh", "2024-01-01T00:00:00+00:00", 1.5)}


def test_bom_crlf_and_no_final_newline(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "meters.csv"
    path.write_text(csv_text(";", crlf=True, bom=True).removesuffix("\r\n"), newline="")
    report = load(db, path, Mapping(wide=True))
    assert stored(db[0]) == WIDE_POINTS and report.rows == 3


def test_quoted_fields_keep_delimiters_quotes_and_newlines_and_lines_stay_exact(
    db: Any, tmp_path: Path
) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        "ts,meter_id,note,kwh\n"
        '2024-01-01T00:00:00Z,"m,1","said ""hi""",1\n'
        "\n"
        '2024-01-01T00:15:00Z,"m,1","two\nlines",2\n'
        '2024-01-01T00:30:00Z,"m,1",x,oops\n'
    )
    report = load(db, path, Mapping(value_columns=(("kwh", "kwh"),)))
    assert stored(db[0]) == {
        ("meter", "m,1", "kwh", "2024-01-01T00:00:00+00:00", 1.0),
        ("meter", "m,1", "kwh", "2024-01-01T00:15:00+00:00", 2.0),
    }
    # line 6: the header, a row, a blank line and a row spanning two lines come before it
    [bad] = rejects_of(Path(str(report.rejects_path)))
    assert (bad["line"], bad["column"]) == (6, "kwh")
    assert bad["row"] == {"ts": "2024-01-01T00:30:00Z", "meter_id": "m,1", "note": "x", "kwh": "oops"}


def test_a_row_with_the_wrong_number_of_fields_is_rejected_with_its_line(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        "ts,meter_id,kwh\n2024-01-01T00:00:00Z,m-1,1\n2024-01-01T00:15:00Z,m-1\n2024-01-01T00:30:00Z,m-1,3\n"
    )
    report = load(db, path)
    assert (report.rows, report.points, report.rejected) == (3, 2, 1)
    [bad] = rejects_of(Path(str(report.rejects_path)))
    assert bad["line"] == 3 and bad["column"] is None and "expected 3 fields, got 2" in bad["reason"]
    assert bad["row"] == "2024-01-01T00:15:00Z,m-1"


def test_small_batches_give_the_same_points_and_lines(db: Any, tmp_path: Path) -> None:
    lines = ["ts,meter_id,kwh"] + [f"2024-01-01T{h:02d}:00:00Z,m-1,{h}" for h in range(20)]
    lines[7] = "2024-01-01T06:00:00,m-1,6"  # naive: rejected
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    report = load(db, path, batch_rows=3)
    assert (report.rows, report.points, report.rejected) == (20, 19, 1)
    assert rejects_of(Path(str(report.rejects_path)))[0]["line"] == 8


def test_line_numbers_stay_exact_across_many_gzipped_blocks(db: Any, tmp_path: Path) -> None:
    # pyarrow reads ahead on its own thread while rows are taken: lines must still match
    rows = [
        f"2024-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,m-1,{i}"
        for i in range(200_000)
    ]
    rows[150_000] = '2024-01-01T00:00:00Z,m-1,"not\nnumber"'
    rows[180_000] = "2024-01-01T00:00:00Z,m-1,oops"
    path = tmp_path / "many.csv.gz"
    path.write_bytes(gzip.compress(("ts,meter_id,kwh\n" + "\n".join(rows) + "\n").encode(), compresslevel=1))
    report = load(db, path, batch_rows=2_000)
    assert (report.rows, report.points, report.rejected) == (200_000, 199_998, 2)
    assert [r["line"] for r in rejects_of(Path(str(report.rejects_path)))] == [150_002, 180_003]


# ----------------------------------------------------------------------------------- layouts
def test_narrow_layout_is_detected_from_metric_and_value_columns(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "narrow.csv"
    path.write_text(
        "recorded_at,device_id,metric_name,value\n"
        "2024-01-01T00:00:00Z,b-1,StateOfChargePercentage,55\n"
        "2024-01-01T00:00:00Z,b-1,power_kw,-2.5\n"
    )
    load(db, path)
    assert stored(db[0]) == {
        ("device", "b-1", "StateOfChargePercentage", "2024-01-01T00:00:00+00:00", 55.0),
        ("device", "b-1", "power_kw", "2024-01-01T00:00:00+00:00", -2.5),
    }
    units = {s.key.metric: (s.unit, s.device_id) for s in db[0].list_series()}
    assert units == {"StateOfChargePercentage": ("%", "b-1"), "power_kw": ("kW", "b-1")}


def test_narrow_with_named_columns_and_a_constant_metric(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "reads.csv"
    path.write_text("when,meter,reading\n2024-01-01T00:00:00Z,m-1,4.5\n")
    load(
        db,
        path,
        Mapping(
            time_column="when",
            entity_column="meter",
            entity_kind="meter",
            value_column="reading",
            metric="kwh",
        ),
    )
    assert stored(db[0]) == {("meter", "m-1", "kwh", "2024-01-01T00:00:00+00:00", 4.5)}


def test_wide_value_columns_rename_and_leave_others_out(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("ts,meter_id,kwh,kvarh,comment\n2024-01-01T00:00:00Z,m-1,1,2,fine\n")
    load(db, path, Mapping.from_dict({"value_columns": "kwh=energy_kwh,kvarh"}))
    assert stored(db[0]) == {
        ("meter", "m-1", "energy_kwh", "2024-01-01T00:00:00+00:00", 1.0),
        ("meter", "m-1", "kvarh", "2024-01-01T00:00:00+00:00", 2.0),
    }
    report = load(db, path, Mapping(wide=True, exclude_columns=("comment",)))
    assert report.points == 2 and report.rejected == 0


def test_wide_without_exclusion_rejects_text_columns_naming_them(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("ts,meter_id,kwh,comment\n2024-01-01T00:00:00Z,m-1,1,fine\n")
    with pytest.raises(IngestError, match="field 'comment': expected a number, got 'fine'"):
        load(db, path, Mapping(wide=True))


def test_one_entity_per_file_from_its_name(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "ETTh1.csv.gz"
    path.write_bytes(gzip.compress(b"date,HUFL,OT\n2016-07-01 00:00:00,5.8,30.5\n"))
    load(
        db,
        path,
        Mapping(
            wide=True,
            tz="Asia/Shanghai",
            entity_kind="transformer",
            entity="{stem}",
            units=(("OT", "°C"),),
            interval=timedelta(hours=1),
            tags=(("source", "ett"),),
        ),
    )
    assert stored(db[0]) == {
        ("transformer", "ETTh1", "HUFL", "2016-06-30T16:00:00+00:00", 5.8),
        ("transformer", "ETTh1", "OT", "2016-06-30T16:00:00+00:00", 30.5),
    }
    ot = next(s for s in db[0].list_series() if s.key.metric == "OT")
    assert (ot.unit, ot.interval, ot.tz, ot.tags) == (
        "°C",
        timedelta(hours=1),
        "Asia/Shanghai",
        {"source": "ett"},
    )


def test_mapping_file_gives_what_the_flags_give(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "Prod.txt"
    path.write_text(
        "\ufeffdate;produced_energy_kWh;pv_power_W\r\n01/01/2021 00:10;1.5;\r\n13/01/2021 12:00;2;900\r\n"
    )
    toml = tmp_path / "plant.toml"
    toml.write_text(
        'delimiter = ";"\ntime_column = "date"\ntime_format = "%d/%m/%Y %H:%M"\ntz = "Indian/Reunion"\n'
        'time_label = "end"\ninterval = "10min"\nentity_kind = "plant"\nentity = "enerpos"\n'
        'value_columns = { produced_energy_kWh = "energy_kwh", pv_power_W = "power_w" }\n'
        '[units]\nenergy_kwh = "kWh"\npower_w = "W"\n'
    )
    mapping = Mapping.from_toml(toml)
    flags = Mapping(
        delimiter=";",
        time_column="date",
        time_format="%d/%m/%Y %H:%M",
        tz="Indian/Reunion",
        time_label="end",
        interval=timedelta(minutes=10),
        entity_kind="plant",
        entity="enerpos",
        value_columns=(("produced_energy_kWh", "energy_kwh"), ("pv_power_W", "power_w")),
        units=(("energy_kwh", "kWh"), ("power_w", "W")),
    )
    assert mapping == flags
    assert Mapping.from_dict(mapping.to_dict()) == mapping
    load(db, path, mapping)
    # stamps end their 10 minutes, in UTC+4: 01/01/2021 00:10 -> 2020-12-31T20:00Z
    assert stored(db[0]) == {
        ("plant", "enerpos", "energy_kwh", "2020-12-31T20:00:00+00:00", 1.5),
        ("plant", "enerpos", "power_w", "2020-12-31T20:00:00+00:00", None),
        ("plant", "enerpos", "energy_kwh", "2021-01-13T07:50:00+00:00", 2.0),
        ("plant", "enerpos", "power_w", "2021-01-13T07:50:00+00:00", 900.0),
    }


def test_mapping_errors_name_the_key_column_and_fix(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("ts,meter_id,kwh\n2024-01-01T00:00:00Z,m-1,1\n")
    with pytest.raises(
        ConfigError, match=r"no column 'kw' \(--value-columns\); the header has 'ts', 'meter_id'"
    ):
        load(db, path, Mapping(value_columns=(("kw", "kw"),)))
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        Mapping.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="time_label='end' needs interval"):
        Mapping(time_label="end")
    with pytest.raises(ConfigError, match="IANA"):
        Mapping(tz="Mars/Olympus")
    with pytest.raises(ConfigError, match="pass --format"):
        load(db, tmp_path / "m.dat")
    (tmp_path / "two.csv").write_text("ts,meter_id,site_id,kwh\n")
    with pytest.raises(ConfigError, match="which column holds the entity id"):
        load(db, tmp_path / "two.csv")
    assert parse_interval("PT15M") == parse_interval("15min") == parse_interval(900) == timedelta(minutes=15)
    assert file_stem("a/ETTh1.csv.gz") == "ETTh1"


# ----------------------------------------------------------------------------------- time and values
def test_naive_times_are_rejected_naming_line_and_column_unless_tz_is_given(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("ts,meter_id,kwh\n2024-01-01T00:00:00Z,m-1,1\n2024-01-01 01:00,m-1,2\n")
    report = load(db, path)
    [bad] = rejects_of(Path(str(report.rejects_path)))
    assert (bad["line"], bad["column"]) == (3, "ts")
    assert "has no zone offset" in bad["reason"] and "--tz" in bad["reason"]
    report = load(db, path, Mapping(tz="Europe/Amsterdam"))
    assert (report.points, report.rejected, report.unchanged) == (2, 0, 1)
    assert ("meter", "m-1", "kwh", "2024-01-01T00:00:00+00:00", 2.0) in stored(db[0])


def test_a_file_whose_first_batch_has_no_good_row_fails_naming_the_line(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text("ts,meter_id,kwh\n2024-01-01 00:00,m-1,1\n2024-01-01 01:00,m-1,2\n")
    with pytest.raises(
        IngestError, match=r"line 2, field 'ts': timestamp '2024-01-01 00:00' has no zone offset"
    ):
        load(db, path)
    assert stored(db[0]) == set()


def test_dst_gaps_and_repeats_are_rejected_in_the_given_zone(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "dst.csv"
    path.write_text(
        "ts,meter_id,kwh\n2024-03-31 01:30,m-1,1\n2024-03-31 02:30,m-1,2\n"
        "2024-10-27 02:30,m-1,3\n2024-10-27 02:30+01:00,m-1,4\n"
    )
    report = load(db, path, Mapping(tz="Europe/Amsterdam"))
    reasons = {r["line"]: r["reason"] for r in rejects_of(Path(str(report.rejects_path)))}
    assert "does not exist in Europe/Amsterdam" in reasons[3]
    assert "occurs twice in Europe/Amsterdam" in reasons[4]
    assert {(p[3], p[4]) for p in stored(db[0])} == {
        ("2024-03-31T00:30:00+00:00", 1.0),
        ("2024-10-27T01:30:00+00:00", 4.0),
    }


def test_values_nulls_and_bad_values(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "v.ndjson"
    rows = [
        {"ts": "2024-01-01T00:00:00Z", "meter_id": "m-1", "kwh": "1.5"},
        {"ts": "2024-01-01T00:01:00Z", "meter_id": "m-1", "kwh": "NA"},
        {"ts": "2024-01-01T00:02:00Z", "meter_id": "m-1", "kwh": None},
        {"ts": "2024-01-01T00:03:00Z", "meter_id": "m-1", "kwh": True},
        {"ts": "2024-01-01T00:04:00Z", "meter_id": "m-1", "kwh": "1e999"},
        {"ts": "2024-01-01T00:05:00Z", "meter_id": 7, "kwh": 2},
        {"ts": "2024-01-01T00:06:00Z", "meter_id": "", "kwh": 2},
        {"ts": "2024-01-01T00:07:00Z", "meter_id": "m-1"},
        [1, 2],
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    report = load(db, path, Mapping(wide=True))
    reasons = {r["line"]: (r["column"], r["reason"]) for r in rejects_of(Path(str(report.rejects_path)))}
    assert reasons == {
        4: ("kwh", "expected a number, got 'true'"),
        5: ("kwh", "value is infinite"),
        7: ("meter_id", "missing entity id"),
        8: (None, "row has none of the value columns kwh"),
        9: (None, "row is not a JSON object"),
        10: (None, reasons[10][1]),
    }
    assert reasons[10][1].startswith("not valid JSON")
    assert (report.rows, report.points, report.nulls, report.rejected) == (10, 4, 2, 6)
    assert ("meter", "7", "kwh", "2024-01-01T00:05:00+00:00", 2.0) in stored(db[0])


def test_json_wide_rows_may_carry_different_metrics(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            [
                {
                    "timestamp": "2024-01-01T00:00:00Z",
                    "device_id": "b-1",
                    "StateOfChargePercentage": 80,
                    "power_kw": 1,
                },
                {"timestamp": "2024-01-01T00:05:00Z", "device_id": "b-1", "StateOfChargePercentage": 79},
            ]
        )
    )
    report = load(db, path)
    assert report.points == 3 and report.nulls == 0


# ----------------------------------------------------------------------------------- rejects and reloads
def test_rejects_file_as_csv_with_every_field(db: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("ts,meter_id,kwh\n2024-01-01T00:00:00Z,m-1,1\n2024-01-01T00:15:00Z,m-1,lots\n")
    target = tmp_path / "out" / "bad.csv"
    report = load(db, path, rejects=target)
    assert report.rejects_path == str(target)
    with target.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["file", "line", "column", "reason", "row"],
        [
            str(path),
            "3",
            "kwh",
            "expected a number, got 'lots'",
            '{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":"lots"}',
        ],
    ]


def test_a_clean_load_leaves_no_rejects_file(db: Any, tmp_path: Path) -> None:
    path = write_format(tmp_path, "csv", gz=False)
    load(db, path, Mapping(wide=True))
    assert not list(tmp_path.glob("*.rejects.*"))


def test_loading_the_same_file_twice_changes_nothing(db: Any, tmp_path: Path) -> None:
    path = write_format(tmp_path, "ndjson", gz=False)
    first = load(db, path, Mapping(wide=True))
    second = load(db, path, Mapping(wide=True))
    assert first.inserted == first.points == 6
    assert (second.unchanged, second.inserted, second.revised) == (second.points, 0, 0)
    assert db[0].stats()["points"] == 6
    path.write_text(path.read_text().replace("1.25", "1.3"))
    third = load(db, path, Mapping(wide=True))
    assert (third.revised, third.unchanged) == (1, 5)


# ----------------------------------------------------------------------------------- folders
def test_a_folder_is_read_recursively_in_sorted_order(db: Any, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "b").mkdir(parents=True)
    write_format(folder, "csv", gz=False)
    (folder / "b" / "late.ndjson").write_text('{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":9}\n')
    (folder / "README.md").write_text("notes")
    (folder / "notes.txt").write_text("not data")
    (folder / "meters.csv.rejects.ndjson").write_text("{}\n")
    items = plan_paths([folder], Mapping(wide=True))
    assert [i.path.relative_to(folder).as_posix() for i in items] == ["b/late.ndjson", "meters.csv"]
    store, writer = db
    reports = load_paths(writer, store, [folder], Mapping(wide=True))
    assert [r.points for r in reports] == [1, 6]
    assert LoadReport.total(reports).points == 7
    # the later file wins: m-1 kwh at 00:00 is 1.25, a revision of the 9 loaded first
    assert reports[1].revised == 1


def test_a_failing_file_does_not_stop_the_others(db: Any, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("ts,meter_id,kwh\n2024-01-01 00:00,m-1,1\n")
    write_format(tmp_path, "csv", gz=False)
    store, writer = db
    reports = load_paths(writer, store, [tmp_path / "a.csv", tmp_path / "meters.csv"], Mapping(wide=True))
    assert reports[0].failed and "no zone offset" in str(reports[0].error)
    assert not reports[1].failed and reports[1].points == 6


# ----------------------------------------------------------------------------------- battery layout
def battery_folder(root: Path) -> Path:
    data = root / "data"
    (data / "assets").mkdir(parents=True)
    (data / "telemetry" / "2024").mkdir(parents=True)
    (data / "assets" / "fleet.json").write_text(
        json.dumps(
            [
                {
                    "device_id": "b-1",
                    "name": "Battery 1",
                    "site_id": "s-1",
                    "capacity_kwh": 13.5,
                    "specs": {"chem": "LFP"},
                },
                {"id": "b-2", "name": "Battery 2"},
                {"uuid": "7f1c2d4e-0000-4000-8000-000000000003", "device_type": "battery"},
                {"name": "no id here"},
            ],
            indent=2,
        )
    )
    (data / "assets" / "single.json").write_text('{"id": "b-4", "name": "Battery 4"}')
    # narrow, as the seed's table: recorded_at, device_id, metric_name, value
    (data / "telemetry" / "narrow.json").write_text(
        json.dumps(
            [
                {
                    "recorded_at": "2024-01-01T00:00:00Z",
                    "device_id": "b-1",
                    "metric_name": "StateOfChargePercentage",
                    "value": 55.5,
                },
                {
                    "recorded_at": "2024-01-01T00:00:01Z",
                    "device_id": "b-1",
                    "metric_name": "StateOfChargePercentage",
                    "value": 19,
                },
            ]
        )
    )
    (data / "telemetry" / "2024" / "narrow.ndjson").write_text(
        '{"recorded_at":"2024-01-01T00:00:02Z","device_id":"b-2","metric_name":"StateOfChargePercentage","value":70}\n'
    )
    # wide: one key per metric, under `timestamp` or `recorded_at`
    (data / "telemetry" / "wide.json").write_text(
        json.dumps(
            [
                {
                    "timestamp": "2024-01-01T00:00:00Z",
                    "device_id": "b-4",
                    "StateOfChargePercentage": 80,
                    "power_kw": -3,
                },
            ]
        )
    )
    (data / "telemetry" / "wide.ndjson").write_text(
        '{"recorded_at": "2024-01-01T00:00:00Z", "device_id": "b-2", "StateOfChargePercentage": 71}\n'
    )
    return data


def test_battery_layout_loads_assets_and_narrow_and_wide_telemetry(db: Any, tmp_path: Path) -> None:
    data = battery_folder(tmp_path)
    store, writer = db
    reports = load_paths(writer, store, [data], Mapping())
    by_file = {Path(r.path).relative_to(data).as_posix(): r for r in reports}
    assert list(by_file) == [
        "assets/fleet.json",
        "assets/single.json",
        "telemetry/2024/narrow.ndjson",
        "telemetry/narrow.json",
        "telemetry/wide.json",
        "telemetry/wide.ndjson",
    ]
    assert sum(r.rejected for r in reports) == 1
    assert (by_file["assets/fleet.json"].upserted, by_file["assets/fleet.json"].rejected) == (3, 1)
    [bad] = rejects_of(Path(str(by_file["assets/fleet.json"].rejects_path)))
    assert (bad["line"], bad["reason"]) == (19, "missing device_id (or id or uuid)")
    devices = {d["device_id"]: d for d in store.list_reference("devices")}
    assert set(devices) == {"b-1", "b-2", "7f1c2d4e-0000-4000-8000-000000000003", "b-4"}
    assert devices["b-1"]["capacity_kwh"] == 13.5 and devices["b-1"]["specs"] == {"chem": "LFP"}
    assert devices["b-1"]["site_id"] == "s-1" and devices["b-4"]["name"] == "Battery 4"
    assert stored(store) == {
        ("device", "b-1", "StateOfChargePercentage", "2024-01-01T00:00:00+00:00", 55.5),
        ("device", "b-1", "StateOfChargePercentage", "2024-01-01T00:00:01+00:00", 19.0),
        ("device", "b-2", "StateOfChargePercentage", "2024-01-01T00:00:02+00:00", 70.0),
        ("device", "b-4", "StateOfChargePercentage", "2024-01-01T00:00:00+00:00", 80.0),
        ("device", "b-4", "power_kw", "2024-01-01T00:00:00+00:00", -3.0),
        ("device", "b-2", "StateOfChargePercentage", "2024-01-01T00:00:00+00:00", 71.0),
    }
    assert store.list_series()[0].unit == "%"


# ----------------------------------------------------------------------------------- reference tables
REFERENCE_CSV = {
    "organisations": "organisation_id,name,parent_id\no-1,Utility,\n",
    "sites": "site_id,organisation_id,name,tz,latitude_deg\ns-1,o-1,North,Europe/Amsterdam,52.1\n",
    "devices": "device_id,site_id,name,device_type\nb-1,s-1,Battery,battery\n",
    "channels": "channel_id,device_id,name,tariff_id\nc-1,b-1,Main,t-1\n",
    "meters": "meter_id,site_id,name\n007,s-1,Main meter\n",
    "plants": "plant_id,site_id,name,capacity_mw\np-1,s-1,PV,0.049\n",
    "feeders": "feeder_id,site_id,name\nf-1,s-1,Feeder 1\n",
    "meter_feeder_map": "meter_id,feeder_id,scaling_factor,valid_from,valid_to\n"
    "007,f-1,0.5,2024-01-01T00:00:00+01:00,2024-07-01\n",
}


@pytest.mark.parametrize("kind", list(REFERENCE_KINDS))
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_every_reference_kind_loads_from_csv_and_json(db: Any, tmp_path: Path, kind: str, fmt: str) -> None:
    store, writer = db
    path = tmp_path / f"{kind}.{fmt}"
    if fmt == "csv":
        path.write_text(REFERENCE_CSV[kind])
    else:
        rows = [{k: v for k, v in r.items() if v} for r in csv.DictReader(io.StringIO(REFERENCE_CSV[kind]))]
        path.write_text(json.dumps(rows))
    report = load_file(writer, store, path, Mapping(tz="Europe/Amsterdam"), reference=kind)
    assert (report.rows, report.upserted, report.rejected, report.kind) == (1, 1, 0, f"reference:{kind}")
    [row] = store.list_reference(kind)
    assert row[REFERENCE_KINDS[kind]] == {"meters": "007", "meter_feeder_map": "007"}.get(
        kind, row[REFERENCE_KINDS[kind]]
    )
    if kind == "meter_feeder_map":
        assert row["scaling_factor"] == 0.5
        assert row["valid_from"].isoformat() == "2023-12-31T23:00:00"  # UTC
        assert row["valid_to"].isoformat() == "2024-06-30T22:00:00"  # a date read in --tz
    if kind == "sites":
        assert float(row["latitude_deg"]) == 52.1 and row["tz"] == "Europe/Amsterdam"
    if kind == "plants":
        assert row["capacity_mw"] == 0.049


def test_reference_rows_that_are_bad_are_named_with_line_and_reason(db: Any, tmp_path: Path) -> None:
    store, writer = db
    path = tmp_path / "map.csv"
    path.write_text(
        "meter_id,feeder_id,scaling_factor,valid_from,valid_to\n"
        "m-1,f-1,1,2024-01-01T00:00:00Z,\n"
        "m-2,f-1,half,2024-01-01T00:00:00Z,\n"
        "m-3,f-1,1,2024-01-01 00:00,\n"
        "m-4,,1,2024-01-01T00:00:00Z,\n"
        ",f-1,1,2024-01-01T00:00:00Z,\n"
        "m-5,f-2,,,\n"
        "m-6,f-1,1,2024-02-01T00:00:00Z,2024-01-01T00:00:00Z\n"
    )
    report = load_file(writer, store, path, Mapping(), reference="meter_feeder_map")
    assert (report.rows, report.upserted, report.rejected) == (7, 2, 5)
    reasons = {r["line"]: (r["column"], r["reason"]) for r in rejects_of(Path(str(report.rejects_path)))}
    assert reasons[3] == ("scaling_factor", "scaling_factor must be a number, got 'half'")
    assert reasons[4][0] == "valid_from" and "has no zone offset" in reasons[4][1] and "--tz" in reasons[4][1]
    assert reasons[5] == ("feeder_id", "missing feeder_id")
    assert reasons[6] == ("meter_id", "missing meter_id (or id or uuid)")
    assert reasons[8] == ("valid_to", "valid_to must be after valid_from")
    defaults = next(r for r in store.list_reference("meter_feeder_map") if r["meter_id"] == "m-5")
    assert (defaults["scaling_factor"], defaults["valid_from"].isoformat()) == (1.0, "1970-01-01T00:00:00")


def test_reference_kind_must_be_known(db: Any, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("id\n1\n")
    with pytest.raises(ConfigError, match="unknown reference kind 'gadgets'"):
        load_file(db[1], db[0], tmp_path / "x.csv", Mapping(), reference="gadgets")


def test_series_metadata_in_a_parquet_file_is_used(db: Any, tmp_path: Path) -> None:
    from gridpulse.dataset import Dataset
    from gridpulse.loaders import KEYED_MAPPING, write_keyed_parquet
    from gridpulse.model import KEYED_BATCH_SCHEMA, SeriesMeta

    table = pa.table(
        {
            "entity_kind": ["meter"],
            "entity_id": ["m-1"],
            "metric": ["kw"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "value": [1.0],
            "quality": pa.array([1], pa.int8()),
        },
        schema=KEYED_BATCH_SCHEMA,
    )
    key = SeriesKey("meter", "m-1", "kw")
    ds = Dataset(
        "x", [table], {key: SeriesMeta("kW", timedelta(minutes=30), "Australia/Sydney", {"a": "b"})}, {}
    )
    write_keyed_parquet(ds, tmp_path / "x.parquet")
    load(db, tmp_path / "x.parquet", KEYED_MAPPING)
    [s] = db[0].list_series()
    assert (s.unit, s.interval, s.tz, s.tags) == ("kW", timedelta(minutes=30), "Australia/Sydney", {"a": "b"})
    [row] = db[0].read(ReadingsQuery(s.series_id)).to_pylist()
    assert row["quality"] == 1


def test_rejects_go_beside_the_input_unless_its_folder_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder without write bits is read-only for this purpose even to root (a shared data set)."""
    from gridpulse.ingest.rejects import default_rejects_path

    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    work.mkdir()
    monkeypatch.chdir(work)
    source = data / "meters.csv"
    source.write_text("ts,meter_id,kwh\n")
    assert default_rejects_path(source) == data / "meters.csv.rejects.ndjson"
    data.chmod(0o555)
    try:
        assert default_rejects_path(source) == work / "meters.csv.rejects.ndjson"
    finally:
        data.chmod(0o755)

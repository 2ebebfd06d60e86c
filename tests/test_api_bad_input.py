"""Ingest routes on bad input: each case gets its exact error, and a rejected request stores nothing.

Runs the app in-process on a real DuckDB file; the size-limit cases also run against a real server,
where a chunked body really arrives without a Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import start_server

NAIVE = (
    "timestamp {ts!r} has no zone offset; add Z or +01:00, "
    "or configure a time zone for this route (?tz=Europe/Amsterdam)"
)
DST = "local time {ts!r} is ambiguous or does not exist in Europe/Amsterdam (DST); give an offset"
TOO_LARGE = (
    "request body is over the limit of {limit} bytes (server.max_body_bytes): split it into smaller requests"
)


# ----------------------------------------------------------------------------- helpers


def meter_row(ts: object, kwh: object = 1.0, meter_id: object = "m-1") -> dict[str, object]:
    return {"ts": ts, "meter_id": meter_id, "kwh": kwh}


def ndjson(*rows: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def quarter_hours(n: int, meter_id: str = "m-1", day: str = "2024-01-01") -> list[dict[str, object]]:
    """n rows 15 minutes apart from midnight UTC, kwh = index / 100."""
    return [
        meter_row(f"{day}T{(i * 15) // 60:02d}:{(i * 15) % 60:02d}:00Z", i / 100, meter_id)
        for i in range(n)
    ]


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    """The body as a stream of small pieces: the client sends it chunked, without Content-Length."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


def rejected(reason: str, *, line: int = 1, record: int | None = None, field: str | None = None) -> dict[str, Any]:
    return {"line": line, "record": line if record is None else record, "field": field, "reason": reason}


def error_body(*errors: dict[str, Any], error_count: int | None = None) -> dict[str, Any]:
    """The exact 400 body for these rejected rows."""
    first = errors[0]
    where = f"line {first['line']}" + (f", field '{first['field']}'" if first["field"] else "")
    count = len(errors) if error_count is None else error_count
    more = f" (and {count - 1} more)" if count > 1 else ""
    return {"error": f"{where}: {first['reason']}{more}", "error_count": count, "errors": list(errors), "stored": 0}


def status(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/status")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def points(client: TestClient, **params: object) -> list[dict[str, Any]]:
    r = client.get("/api/v1/readings", params=params)
    assert r.status_code == 200, r.text
    pts: list[dict[str, Any]] = r.json()["points"]
    return pts


def assert_nothing_stored(client: TestClient) -> None:
    st = status(client)
    assert (st["series"], st["points"], st["superseded_versions"]) == (0, 0, 0)


def ok_report(rows: int, *, points: int | None = None, nulls: int = 0, inserted: int | None = None,
              series_created: int = 1, rejected_rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pts = rows if points is None else points
    return {
        "status": "ok", "rows": rows, "points": pts, "nulls": nulls,
        "inserted": pts if inserted is None else inserted, "revised": 0, "unchanged": 0,
        "series_created": series_created, "rejected_count": len(rejected_rows or []),
        "rejected": rejected_rows or [],
    }


ROUTES = {"ndjson": "/ingest/meter_usage/ndjson", "json": "/ingest/meter_usage"}


def encode(fmt: str, rows: list[Any]) -> bytes:
    return ndjson(*rows) if fmt == "ndjson" else json.dumps(rows).encode()


# ----------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_naive_timestamp_is_rejected_naming_line_field_and_zone_offset(client: TestClient, fmt: str) -> None:
    rows = [meter_row("2024-01-01T00:00:00Z"), meter_row("2024-01-01T00:15:00")]
    r = client.post(ROUTES[fmt], content=encode(fmt, rows))
    assert r.status_code == 400
    line = 2 if fmt == "ndjson" else 1  # a compact JSON array is one line
    assert r.json() == error_body(rejected(NAIVE.format(ts="2024-01-01T00:15:00"), line=line, record=2, field="ts"))
    assert_nothing_stored(client)


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_naive_timestamp_with_tz_is_stored_as_its_utc_instant(client: TestClient, fmt: str) -> None:
    # Amsterdam is UTC+1 in winter and UTC+2 in summer
    rows = [meter_row("2024-01-01T00:00:00", 1.5), meter_row("2024-07-01T12:00:00", 2.5)]
    r = client.post(ROUTES[fmt], params={"tz": "Europe/Amsterdam"}, content=encode(fmt, rows))
    assert r.status_code == 200, r.text
    assert r.json() == ok_report(2)
    assert [(p["ts"], p["value"]) for p in points(client, entity="m-1", tz="UTC")] == [
        ("2023-12-31T23:00:00+00:00", 1.5),
        ("2024-07-01T10:00:00+00:00", 2.5),
    ]
    # the series remembers the zone it was posted in
    assert [(p["ts"], p["value"]) for p in points(client, entity="m-1")] == [
        ("2024-01-01T00:00:00+01:00", 1.5),
        ("2024-07-01T12:00:00+02:00", 2.5),
    ]


def test_route_timezone_from_settings_accepts_naive_timestamps_on_that_route_only(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(ingest={"timezones": {"meter_usage": "Europe/Amsterdam"}})
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(meter_row("2024-01-01T00:00:00")))
    assert r.status_code == 200, r.text
    assert points(client, entity="m-1", tz="UTC")[0]["ts"] == "2023-12-31T23:00:00+00:00"
    r = client.post(
        "/ingest/generation_output/ndjson",
        content=ndjson({"ts": "2024-01-01T00:00:00", "plant_id": "p-1", "mw": 3.0}),
    )
    assert r.status_code == 400
    assert r.json() == error_body(rejected(NAIVE.format(ts="2024-01-01T00:00:00"), field="ts"))


def test_local_time_in_fall_back_hour_is_rejected_as_ambiguous(client: TestClient) -> None:
    # 2024-10-27 02:00-03:00 happens twice in Amsterdam; 2024-03-31 02:00-03:00 never happens
    rows = [
        meter_row("2024-10-27T01:30:00"),
        meter_row("2024-10-27T02:30:00"),
        meter_row("2024-10-27T03:30:00"),
        meter_row("2024-03-31T02:30:00"),
    ]
    r = client.post("/ingest/meter_usage/ndjson", params={"tz": "Europe/Amsterdam"}, content=ndjson(*rows))
    assert r.status_code == 400
    assert r.json() == error_body(
        rejected(DST.format(ts="2024-10-27T02:30:00"), line=2, field="ts"),
        rejected(DST.format(ts="2024-03-31T02:30:00"), line=4, field="ts"),
    )
    assert_nothing_stored(client)


def test_offsets_tell_apart_the_two_fall_back_hours(client: TestClient) -> None:
    rows = [meter_row("2024-10-27T02:30:00+02:00", 1.0), meter_row("2024-10-27T02:30:00+01:00", 2.0)]
    r = client.post("/ingest/meter_usage/ndjson", params={"tz": "Europe/Amsterdam"}, content=ndjson(*rows))
    assert r.status_code == 200, r.text
    assert [(p["ts"], p["value"]) for p in points(client, entity="m-1", tz="UTC")] == [
        ("2024-10-27T00:30:00+00:00", 1.0),
        ("2024-10-27T01:30:00+00:00", 2.0),
    ]
    assert [p["ts"] for p in points(client, entity="m-1", tz="Europe/Amsterdam")] == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:30:00+01:00",
    ]


def test_unknown_tz_parameter_is_rejected(client: TestClient) -> None:
    r = client.post(
        "/ingest/meter_usage/ndjson", params={"tz": "Mars/Olympus"}, content=ndjson(meter_row("2024-01-01T00:00:00"))
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "tz='Mars/Olympus' is not an IANA time zone (e.g. Europe/Amsterdam, America/New_York)"
    }
    assert_nothing_stored(client)


def test_unreadable_timestamps_are_rejected(client: TestClient) -> None:
    rows = [
        meter_row("not a time Z"),
        meter_row(1704067200),
        {"meter_id": "m-1", "kwh": 1.0},
        meter_row(""),
    ]
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(*rows))
    assert r.status_code == 400
    assert r.json() == error_body(
        rejected("'not a time Z' is not an ISO 8601 timestamp", line=1, field="ts"),
        rejected("timestamp must be an ISO 8601 string, got 1704067200", line=2, field="ts"),
        rejected("missing timestamp", line=3, field="ts"),
        rejected("missing timestamp", line=4, field="ts"),
    )


# ----------------------------------------------------------------------------- rows and values


def test_malformed_json_line_is_rejected_with_its_line(client: TestClient) -> None:
    body = (
        ndjson(meter_row("2024-01-01T00:00:00Z"))
        + b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.0\n'
        + ndjson(meter_row("2024-01-01T00:30:00Z"))
    )
    r = client.post("/ingest/meter_usage/ndjson", content=body)
    assert r.status_code == 400
    body_json = r.json()
    (err,) = body_json["errors"]
    assert (err["line"], err["record"], err["field"]) == (2, 2, None)
    assert err["reason"].startswith("not valid JSON: ")
    assert body_json["error"] == f"line 2: {err['reason']}"
    assert (body_json["error_count"], body_json["stored"]) == (1, 0)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "expected a number, got 'abc'"),
        ("1,5", "expected a number, got '1,5'"),
        ([1.0], "expected a number, got list"),
        ({"v": 1}, "expected a number, got dict"),
        ("Infinity", "value is infinite"),
        ("-inf", "value is infinite"),
    ],
)
def test_non_numeric_value_is_rejected(client: TestClient, value: object, reason: str) -> None:
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(meter_row("2024-01-01T00:00:00Z", value)))
    assert r.status_code == 400
    assert r.json() == error_body(rejected(reason, field="kwh"))
    assert_nothing_stored(client)


def test_bare_infinity_is_rejected(client: TestClient) -> None:
    body = b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":Infinity}\n'
    r = client.post("/ingest/meter_usage/ndjson", content=body)
    assert r.status_code == 400
    assert r.json() == error_body(rejected("value is infinite", field="kwh"))


def test_numeric_strings_are_stored_as_numbers(client: TestClient) -> None:
    rows = [meter_row("2024-01-01T00:00:00Z", "1.5"), meter_row("2024-01-01T00:15:00Z", " 2 ")]
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(*rows))
    assert r.status_code == 200, r.text
    assert [p["value"] for p in points(client, entity="m-1")] == [1.5, 2.0]


@pytest.mark.parametrize(
    ("route", "row", "field", "reason"),
    [
        ("meter_usage", {"ts": "2024-01-01T00:00:00Z", "meter_id": "m-1"}, "kwh", "missing"),
        ("meter_usage", {"ts": "2024-01-01T00:00:00Z", "kwh": 1.0}, "meter_id", "missing"),
        ("meter_usage", {"ts": "2024-01-01T00:00:00Z", "meter_id": "", "kwh": 1.0}, "meter_id", "missing"),
        ("generation_output", {"ts": "2024-01-01T00:00:00Z", "plant_id": "p-1"}, "mw", "missing"),
        ("telemetry", {"recorded_at": "2024-01-01T00:00:00Z", "device_id": "d-1", "value": 5.0},
         "metric_name", "missing"),
        ("telemetry", {"recorded_at": "2024-01-01T00:00:00Z", "device_id": "d-1", "metric_name": "soc_pct"},
         "value", "missing"),
        ("readings", {"timestamp": "2024-01-01T00:00:00Z", "channel_id": "c-1"}, None,
         "row has none of the fields energy_kwh, power_kw, voltage_v, current_a, power_factor, temperature_c"),
    ],
)
def test_missing_field_is_rejected_naming_it(
    client: TestClient, route: str, row: dict[str, object], field: str | None, reason: str
) -> None:
    r = client.post(f"/ingest/{route}/ndjson", content=ndjson(row))
    assert r.status_code == 400
    assert r.json() == error_body(rejected(reason, field=field))
    assert_nothing_stored(client)


@pytest.mark.parametrize("value", [True, False])
def test_boolean_value_is_rejected(client: TestClient, value: bool) -> None:
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(meter_row("2024-01-01T00:00:00Z", value)))
    assert r.status_code == 400, r.text
    assert r.json() == error_body(rejected(f"expected a number, got {str(value).lower()}", field="kwh"))
    assert_nothing_stored(client)


def test_boolean_among_non_numbers_is_rejected(client: TestClient) -> None:
    # a boolean among other bad values is named too, each on its own line
    rows = [meter_row("2024-01-01T00:00:00Z", "abc"), meter_row("2024-01-01T00:15:00Z", True)]
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(*rows))
    assert r.status_code == 400
    assert r.json() == error_body(
        rejected("expected a number, got 'abc'", line=1, field="kwh"),
        rejected("expected a number, got true", line=2, field="kwh"),
    )


@pytest.mark.parametrize("line", [b"[1, 2]", b'"m-1"', b"42", b"null"])
def test_ndjson_row_that_is_not_an_object_is_rejected(client: TestClient, line: bytes) -> None:
    body = ndjson(meter_row("2024-01-01T00:00:00Z")) + line + b"\n"
    r = client.post("/ingest/meter_usage/ndjson", content=body)
    assert r.status_code == 400
    assert r.json() == error_body(rejected("row is not a JSON object", line=2))
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}',
         rejected("body is not a JSON array; send [{...}, ...] or use the /ndjson route")),
        (b"", rejected("body is empty; send a JSON array of rows")),
        (b"  \n ", rejected("body is empty; send a JSON array of rows", line=1)),
        (b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}',
         rejected("body ends inside the JSON array (missing ] or an unfinished object)", record=2)),
        (b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1},\n{"ts":"2024-01-01T00:15',
         rejected("body ends inside the JSON array (missing ] or an unfinished object)", line=2, record=2)),
        (b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}] trailing',
         rejected("unexpected data after the closing ] of the array", record=2)),
        (b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}, 7]',
         rejected("array element is not a JSON object", record=2)),
        (b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":{"v":1}}]',
         rejected("nested objects are not accepted in a row")),
    ],
    ids=["object", "empty", "blank", "truncated", "truncated-in-row", "trailing-data", "number-element", "nested"],
)
def test_json_array_body_that_is_not_a_flat_array_is_rejected(
    client: TestClient, body: bytes, error: dict[str, Any]
) -> None:
    r = client.post("/ingest/meter_usage", content=body)
    assert r.status_code == 400
    assert r.json() == error_body(error)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1}]',
        b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1},]',
        b'[,{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1}]',
        b'[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1},,{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1}]',
    ],
    ids=["missing-comma", "trailing-comma", "leading-comma", "double-comma"],
)
def test_json_array_with_misplaced_commas_is_rejected(client: TestClient, body: bytes) -> None:
    r = client.post("/ingest/meter_usage", content=body)
    assert r.status_code == 400, r.text
    assert_nothing_stored(client)


def test_unknown_on_error_value_gets_the_usual_error_body(client: TestClient) -> None:
    r = client.post(
        "/ingest/meter_usage/ndjson", params={"on_error": "ignore"}, content=ndjson(meter_row("2024-01-01T00:00:00Z"))
    )
    assert r.status_code == 400
    assert "on_error" in r.json()["error"]


def test_unknown_on_error_value_names_the_parameter_and_the_allowed_values(client: TestClient) -> None:
    r = client.post("/ingest/meter_usage", params={"on_error": "ignore"}, content=b"[]")
    assert (r.status_code, r.json()) == (400, {"error": "on_error='ignore': should be 'reject' or 'skip'"})
    assert_nothing_stored(client)


def test_series_id_that_is_not_a_number_gets_the_usual_error_body(client: TestClient) -> None:
    r = client.get("/api/v1/readings", params={"series": "abc"})
    assert r.status_code == 400
    assert r.json() == {"error": "series='abc': should be a valid integer, unable to parse string as an integer"}


def test_empty_array_and_empty_ndjson_store_nothing_and_say_so(client: TestClient) -> None:
    for route, body in (("/ingest/meter_usage", b"[]"), ("/ingest/meter_usage/ndjson", b"\n\n")):
        r = client.post(route, content=body)
        assert r.status_code == 200, r.text
        assert r.json() == ok_report(0, series_created=0)
    assert_nothing_stored(client)


NULL_LIKE = [
    b"NaN", b'"NaN"', b'"nan"', b'"NA"', b'"NaT"', b"null", b'""', b'"null"', b'"None"', b'"n/a"', b'"#N/A"',
]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_null_like_values_are_stored_as_null_and_counted(client: TestClient, fmt: str) -> None:
    records = [
        b'{"ts":"2024-01-01T%02d:00:00Z","meter_id":"m-1","kwh":%s}' % (i, raw) for i, raw in enumerate(NULL_LIKE)
    ]
    records.append(b'{"ts":"2024-01-01T23:00:00Z","meter_id":"m-1","kwh":4.5}')
    body = b"\n".join(records) + b"\n" if fmt == "ndjson" else b"[" + b",\n".join(records) + b"]"
    r = client.post(ROUTES[fmt], content=body)
    assert r.status_code == 200, r.text
    assert r.json() == ok_report(len(records), nulls=len(NULL_LIKE))
    pts = points(client, entity="m-1")
    assert [p["value"] for p in pts] == [None] * len(NULL_LIKE) + [4.5]
    assert [p["ts"] for p in pts][:2] == ["2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+00:00"]


def test_absent_readings_fields_make_no_point_but_null_ones_are_stored(client: TestClient) -> None:
    row = {"timestamp": "2024-01-01T00:00:00Z", "channel_id": "c-1", "energy_kwh": 1.5, "power_kw": None}
    r = client.post("/ingest/readings/ndjson", content=ndjson(row))
    assert r.status_code == 200, r.text
    assert r.json() == ok_report(1, points=2, nulls=1, series_created=2)
    assert points(client, entity="c-1", metric="energy_kwh")[0]["value"] == 1.5
    assert points(client, entity="c-1", metric="power_kw")[0]["value"] is None
    r = client.get("/api/v1/series", params={"entity": "c-1"})
    assert [s["metric"] for s in r.json()["series"]] == ["energy_kwh", "power_kw"]


# ----------------------------------------------------------------------------- atomicity and skip


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_one_bad_row_among_many_rejects_the_whole_request(
    make_client: Callable[..., TestClient], settings: Any, fmt: str
) -> None:
    # small batches and a tiny spill threshold: good rows were parsed and spilled to disk
    # before the bad one arrived
    client = make_client(ingest={"batch_rows": 100, "spill_bytes": 1000})
    rows: list[Any] = quarter_hours(96, "m-1") + quarter_hours(96, "m-2") + quarter_hours(96, "m-3")
    bad = 250
    good_value = rows[bad]["kwh"]
    rows[bad]["kwh"] = "x"
    r = client.post(ROUTES[fmt], content=encode(fmt, rows))
    assert r.status_code == 400
    line = bad + 1 if fmt == "ndjson" else 1
    assert r.json() == error_body(rejected("expected a number, got 'x'", line=line, record=bad + 1, field="kwh"))
    assert_nothing_stored(client)
    assert list((Path(settings.store.data_dir) / "tmp").glob("*")) == []  # no spill file left behind
    rows[bad]["kwh"] = good_value
    r = client.post(ROUTES[fmt], content=encode(fmt, rows))
    assert r.status_code == 200, r.text
    assert r.json() == ok_report(len(rows), series_created=3)


def test_error_count_counts_every_bad_row_but_lists_at_most_max_listed_rejects(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(ingest={"max_listed_rejects": 3, "batch_rows": 4})
    rows = [meter_row(f"2024-01-01T{h:02d}:00:00Z", "x" if h % 2 else 1.0) for h in range(20)]
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(*rows))
    assert r.status_code == 400
    listed = [rejected("expected a number, got 'x'", line=n, field="kwh") for n in (2, 4, 6)]
    assert r.json() == error_body(*listed, error_count=10)
    r = client.post("/ingest/meter_usage/ndjson", params={"on_error": "skip"}, content=ndjson(*rows))
    assert r.status_code == 200
    body = r.json()
    assert (body["rows"], body["points"], body["rejected_count"], body["rejected"]) == (20, 10, 10, listed)


def test_on_error_skip_stores_good_rows_and_lists_bad_line_numbers(client: TestClient) -> None:
    body = (
        ndjson(meter_row("2024-01-01T00:00:00Z", 1.0))
        + b"\n"  # line 2 is blank
        + ndjson(meter_row("2024-01-01T00:15:00", 2.0))  # line 3: naive
        + b"not json\n"  # line 4
        + ndjson(meter_row("2024-01-01T00:45:00Z", "many"))  # line 5
        + b"   \n"  # line 6 is blank
        + ndjson(meter_row("2024-01-01T01:00:00Z", 5.0))  # line 7
    )
    r = client.post("/ingest/meter_usage/ndjson", params={"on_error": "skip"}, content=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert [(e["line"], e["record"], e["field"]) for e in report["rejected"]] == [
        (3, 2, "ts"), (4, 3, None), (5, 4, "kwh")
    ]
    assert report["rejected"][0]["reason"] == NAIVE.format(ts="2024-01-01T00:15:00")
    assert report["rejected"][1]["reason"].startswith("not valid JSON")
    assert report["rejected"][2]["reason"] == "expected a number, got 'many'"
    assert {k: v for k, v in report.items() if k != "rejected"} == {
        "status": "ok", "rows": 5, "points": 2, "nulls": 0, "inserted": 2, "revised": 0, "unchanged": 0,
        "series_created": 1, "rejected_count": 3,
    }
    assert [(p["ts"], p["value"]) for p in points(client, entity="m-1")] == [
        ("2024-01-01T00:00:00+00:00", 1.0),
        ("2024-01-01T01:00:00+00:00", 5.0),
    ]


def test_on_error_skip_on_json_array_lists_bad_rows(client: TestClient) -> None:
    rows = [meter_row("2024-01-01T00:00:00Z", 1.0), meter_row("2024-01-01T00:15:00Z", "x"),
            meter_row("2024-01-01T00:30:00Z", 3.0)]
    r = client.post("/ingest/meter_usage", params={"on_error": "skip"}, content=json.dumps(rows, indent=1))
    assert r.status_code == 200, r.text
    # indent=1: "[" on line 1, each object spans 5 lines
    assert r.json() == ok_report(
        3, points=2, rejected_rows=[rejected("expected a number, got 'x'", line=7, record=2, field="kwh")]
    )


def test_on_error_skip_with_only_bad_rows_stores_nothing(client: TestClient) -> None:
    r = client.post(
        "/ingest/meter_usage/ndjson", params={"on_error": "skip"}, content=ndjson(meter_row("2024-01-01T00:00:00"))
    )
    assert r.status_code == 200, r.text
    assert r.json()["points"] == 0
    assert r.json()["rejected_count"] == 1
    assert_nothing_stored(client)


# ----------------------------------------------------------------------------- size limit

LIMIT = 1000


def body_of(size: int) -> bytes:
    """An NDJSON body of exactly `size` bytes (valid rows, padded with a blank line)."""
    rows = b""
    i = 0
    while True:
        nxt = ndjson(meter_row(f"2024-01-01T{i // 4:02d}:{(i % 4) * 15:02d}:00Z", float(i)))
        if len(rows) + len(nxt) + 1 > size:
            break
        rows += nxt
        i += 1
    return rows + b" " * (size - len(rows) - 1) + b"\n"


def test_body_of_exactly_the_limit_is_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(server={"max_body_bytes": LIMIT})
    body = body_of(LIMIT)
    assert len(body) == LIMIT
    r = client.post("/ingest/meter_usage/ndjson", content=body)
    assert r.status_code == 200, r.text
    assert r.json()["points"] == body.count(b"{")


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_gets_413_and_stores_nothing(
    make_client: Callable[..., TestClient], streamed: bool
) -> None:
    client = make_client(server={"max_body_bytes": LIMIT})
    body = body_of(LIMIT + 1)
    r = client.post("/ingest/meter_usage/ndjson", content=chunks(body, 100) if streamed else body)
    assert ("content-length" in r.request.headers) is not streamed
    assert r.status_code == 413
    assert r.json() == {"error": TOO_LARGE.format(limit=LIMIT)}
    assert_nothing_stored(client)


def test_body_over_the_limit_on_a_real_server_gets_413_and_stores_nothing(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"GRIDPULSE_SERVER_MAX_BODY_BYTES": str(LIMIT)})
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            body = body_of(3 * LIMIT)
            for route in ("/ingest/meter_usage/ndjson", "/ingest/meter_usage"):
                payload = body if route.endswith("ndjson") else b"[" + body.strip().replace(b"\n", b",") + b"]"
                r = http.post(route, content=payload)
                assert r.status_code == 413, r.text
                assert r.json() == {"error": TOO_LARGE.format(limit=LIMIT)}
                # chunked: no Content-Length, the server finds out while reading
                r = http.post(route, content=chunks(payload, 256))
                assert "content-length" not in r.request.headers
                assert r.status_code == 413, r.text
                assert r.json() == {"error": TOO_LARGE.format(limit=LIMIT)}
            st = http.get("/api/v1/status").json()
            assert (st["series"], st["points"]) == (0, 0)
            r = http.post("/ingest/meter_usage/ndjson", content=chunks(body_of(LIMIT), 256))
            assert r.status_code == 200, r.text
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- auth

TOKENS = {"rw-token": "read,write", "ro-token": "read", "mu-token": "write:meter_usage"}
NO_TOKEN = "this route needs a bearer token: send 'Authorization: Bearer <token>'"
UNKNOWN_TOKEN = "the bearer token is not one this server knows"


def forbidden(scope: str) -> str:
    return f"the bearer token lacks the scope {scope!r} this route needs"


WRITE_ROUTES = [
    ("POST", "/ingest/meter_usage/ndjson", "write:meter_usage"),
    ("POST", "/ingest/meter_usage", "write:meter_usage"),
    ("POST", "/ingest/generation_output/ndjson", "write:generation_output"),
    ("POST", "/ingest/telemetry", "write:telemetry"),
]
READ_ROUTES = [
    ("GET", "/api/v1/readings?entity=m-1", "read"),
    ("GET", "/api/v1/series", "read"),
    ("GET", "/api/v1/latest", "read"),
    ("GET", "/api/v1/status", "read"),
]


def _body_for(path: str, n: int) -> bytes:
    ts = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if "meter_usage" in path:
        row: dict[str, object] = meter_row(ts, float(n))
    elif "generation_output" in path:
        row = {"ts": ts, "plant_id": "p-1", "mw": float(n)}
    else:
        row = {"recorded_at": ts, "device_id": "d-1", "metric_name": "soc_pct", "value": float(n)}
    return ndjson(row) if path.endswith("ndjson") else json.dumps([row]).encode()


def test_tokens_and_scopes_decide_every_route(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": TOKENS})
    r = client.post(
        "/ingest/meter_usage/ndjson", content=ndjson(meter_row("2024-01-01T23:00:00Z")),
        headers={"Authorization": "Bearer rw-token"},
    )
    assert r.status_code == 200, r.text

    expected: dict[tuple[str | None, str], tuple[int, str | None]] = {}
    actual: dict[tuple[str | None, str], tuple[int, str | None]] = {}
    n = 0
    for token in (None, "wrong-token", "rw-token", "ro-token", "mu-token"):
        for method, path, scope in WRITE_ROUTES + READ_ROUTES:
            if token is None:
                want: tuple[int, str | None] = (401, NO_TOKEN)
            elif token == "wrong-token":
                want = (401, UNKNOWN_TOKEN)
            elif token == "rw-token" or (token == "ro-token" and scope == "read") or (token == "mu-token" and scope == "write:meter_usage"):
                want = (200, None)
            else:
                want = (403, forbidden(scope))
            expected[token, path] = want
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            n += 1
            r = client.request(method, path, headers=headers, content=_body_for(path, n) if method == "POST" else None)
            actual[token, path] = (r.status_code, r.json().get("error") if r.status_code != 200 else None)
            if r.status_code == 401:
                assert r.headers.get("www-authenticate") == "Bearer"
    assert actual == expected


def test_refused_writes_store_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": TOKENS})
    for headers in ({}, {"Authorization": "Bearer ro-token"}, {"Authorization": "Bearer nope"}):
        r = client.post("/ingest/meter_usage/ndjson", content=ndjson(meter_row("2024-01-01T00:00:00Z")),
                        headers=headers)
        assert r.status_code in (401, 403)
    st = client.get("/api/v1/status", headers={"Authorization": "Bearer ro-token"}).json()
    assert (st["series"], st["points"]) == (0, 0)


@pytest.mark.parametrize(
    "header", ["Basic cnctdG9rZW46", "Bearer", "Bearer ", "rw-token", "Token rw-token", "Bearer rw-token2"]
)
def test_malformed_authorization_header_is_401(make_client: Callable[..., TestClient], header: str) -> None:
    client = make_client(auth={"tokens": TOKENS})
    r = client.get("/api/v1/series", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json()["error"] in (NO_TOKEN, UNKNOWN_TOKEN)


def test_health_answers_without_a_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": TOKENS})
    assert client.get("/healthz").status_code == 200


# ----------------------------------------------------------------------------- line numbers


@pytest.mark.parametrize("piece", [5, 64, 1 << 20])
def test_ndjson_line_numbers_count_blank_lines_and_crlf(
    make_client: Callable[..., TestClient], piece: int
) -> None:
    client = make_client(ingest={"batch_rows": 2})
    good = json.dumps(meter_row("2024-01-01T00:00:00Z")).encode()
    naive = json.dumps(meter_row("2024-01-01T00:15:00")).encode()
    lines = [b"", good, b"", b"  ", naive, good.replace(b"00:00:00Z", b"00:30:00Z"), b"\t", naive, b"", b"[]", good]
    body = b"\r\n".join(lines)  # no final newline: the last line still counts
    r = client.post("/ingest/meter_usage/ndjson", content=chunks(body, piece))
    assert r.status_code == 400
    assert r.json() == error_body(
        rejected(NAIVE.format(ts="2024-01-01T00:15:00"), line=5, record=2, field="ts"),
        rejected(NAIVE.format(ts="2024-01-01T00:15:00"), line=8, record=4, field="ts"),
        rejected("row is not a JSON object", line=10, record=5),
    )


@pytest.mark.parametrize("piece", [7, 1 << 20])
@pytest.mark.parametrize("indent", [2, None])
def test_json_array_line_numbers_point_at_the_start_of_each_row(
    make_client: Callable[..., TestClient], piece: int, indent: int | None
) -> None:
    client = make_client(ingest={"batch_rows": 3})
    rows: list[dict[str, object]] = quarter_hours(10)
    rows[2]["kwh"] = "bad"
    rows[6]["ts"] = "2024-01-01T01:30:00"
    rows[9]["meter_id"] = None
    if indent is None:
        # a hand-written layout: two rows per line, a row split across lines, blank lines
        parts = [json.dumps(r) for r in rows]
        text = "[\n\n" + ", ".join(parts[:2]) + ",\n" + ",\n".join(parts[2:5]) + ",\n\n"
        text += parts[5].replace(", ", ",\n   ") + ", " + ",\n".join(parts[6:]) + "\n]\n"
    else:
        text = json.dumps(rows, indent=indent)
    # expected line of each row: where its opening brace is, counted independently of the server
    starts = [text.count("\n", 0, i) + 1 for i, ch in enumerate(text) if ch == "{"]
    assert len(starts) == len(rows)
    r = client.post("/ingest/meter_usage", content=chunks(text.encode(), piece))
    assert r.status_code == 400
    assert r.json() == error_body(
        rejected("expected a number, got 'bad'", line=starts[2], record=3, field="kwh"),
        rejected(NAIVE.format(ts="2024-01-01T01:30:00"), line=starts[6], record=7, field="ts"),
        rejected("missing", line=starts[9], record=10, field="meter_id"),
    )

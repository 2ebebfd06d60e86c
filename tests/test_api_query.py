"""Query API: local buckets across DST, as_of, formats, catalogue filters."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient


def ndjson(rows: list[dict[str, object]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


def post_meter(client: TestClient, meter: str, start: datetime, hours: int, kwh: float = 1.0) -> None:
    rows = [
        {"ts": (start + timedelta(minutes=15 * i)).isoformat(), "meter_id": meter, "kwh": kwh}
        for i in range(hours * 4)
    ]
    r = client.post("/ingest/meter_usage/ndjson", content=ndjson(rows))
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == len(rows)


def readings(client: TestClient, **params: object) -> dict:  # type: ignore[type-arg]
    r = client.get("/api/v1/readings", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# (zone, spring-forward local date, fall-back local date) for 2024
DST_2024 = [
    ("Europe/Amsterdam", "2024-03-31", "2024-10-27"),
    ("America/New_York", "2024-03-10", "2024-11-03"),
]


@pytest.mark.parametrize(("tz", "spring", "fall"), DST_2024)
def test_local_days_have_23_and_25_hours_across_dst(client: TestClient, tz: str, spring: str, fall: str) -> None:
    for day in (spring, fall):
        start = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(days=1)
        post_meter(client, "m-dst", start, 72)  # 3 UTC days around the change, 1 kWh per 15 min
    for day, hours in ((spring, 23), (fall, 25)):
        d = datetime.fromisoformat(day)
        body = readings(client, entity="m-dst", resolution="day", tz=tz, start=day,
                        end=(d + timedelta(days=1)).date().isoformat())
        (point,) = body["points"]
        assert point["value"] == hours * 4 * 1.0
        assert point["count"] == hours * 4
        assert point["ts"].startswith(day + "T00:00:00")
        hourly = readings(client, entity="m-dst", resolution="hour", tz=tz, start=day,
                          end=(d + timedelta(days=1)).date().isoformat())
        assert len(hourly["points"]) == hours
        assert all(p["value"] == 4.0 for p in hourly["points"])
        # each local hour label is distinct as an instant even where the wall clock repeats
        assert len({p["ts"] for p in hourly["points"]}) == hours


def test_day_buckets_start_at_local_midnight_with_the_offset_of_that_day(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 3, 29, tzinfo=UTC), 24 * 4)
    body = readings(client, entity="m-1", resolution="day", tz="Europe/Amsterdam",
                    start="2024-03-30", end="2024-04-02")
    assert [p["ts"] for p in body["points"]] == [
        "2024-03-30T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
    ]
    assert [p["value"] for p in body["points"]] == [96.0, 92.0, 96.0]


def test_week_and_month_buckets_are_local(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 10, 20, tzinfo=UTC), 24 * 20, kwh=0.25)
    weeks = readings(client, entity="m-1", resolution="week", tz="Europe/Amsterdam",
                     start="2024-10-21", end="2024-11-04")
    assert [p["ts"] for p in weeks["points"]] == ["2024-10-21T00:00:00+02:00", "2024-10-28T00:00:00+01:00"]
    # the week with the fall-back Sunday has 7 * 24 + 1 hours
    assert weeks["points"][0]["count"] == (7 * 24 + 1) * 4
    months = readings(client, entity="m-1", resolution="month", tz="America/New_York")
    assert [p["ts"][:7] for p in months["points"]] == ["2024-10", "2024-11"]


def test_half_hour_zone_hour_buckets_follow_local_hours(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 4)
    body = readings(client, entity="m-1", resolution="hour", tz="Asia/Kolkata")
    assert body["points"][0]["ts"] == "2024-01-01T05:00:00+05:30"
    assert body["points"][0]["count"] == 2  # 00:00 and 00:15 UTC are 05:30 and 05:45 local
    assert [p["count"] for p in body["points"]] == [2, 4, 4, 4, 2]


def test_default_aggregate_is_sum_for_energy_and_avg_for_power(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 1, kwh=2.0)
    rows = [{"ts": f"2024-01-01T00:{m:02d}:00Z", "plant_id": "p-1", "mw": float(m)} for m in (0, 15, 30, 45)]
    assert client.post("/ingest/generation_output", content=orjson.dumps(rows)).status_code == 200
    assert readings(client, entity="m-1", resolution="hour")["points"][0]["value"] == 8.0
    assert readings(client, entity="p-1", resolution="hour")["points"][0]["value"] == 22.5
    assert readings(client, entity="p-1", resolution="hour", agg="max")["points"][0]["value"] == 45.0


def test_as_of_reads_what_was_known_then(client: TestClient) -> None:
    row = {"ts": "2024-01-01T00:00:00Z", "meter_id": "m-1", "kwh": 1.0}
    client.post("/ingest/meter_usage", content=orjson.dumps([row]))
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    r = client.post("/ingest/meter_usage", content=orjson.dumps([{**row, "kwh": 2.0}]))
    assert r.json()["revised"] == 1
    assert readings(client, entity="m-1")["points"][0]["value"] == 2.0
    assert readings(client, entity="m-1")["points"][0]["version"] == 2
    old = readings(client, entity="m-1", as_of=between)["points"]
    assert (old[0]["value"], old[0]["version"]) == (1.0, 1)


def test_csv_and_parquet_formats(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 1)
    r = client.get("/api/v1/readings", params={"entity": "m-1", "format": "csv", "tz": "Europe/Amsterdam"})
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == '"ts","value","quality","version"'
    assert lines[1] == '"2024-01-01T01:00:00+01:00",1,0,1'
    r = client.get("/api/v1/readings", params={"entity": "m-1", "format": "parquet", "resolution": "hour"})
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("value").to_pylist() == [4.0]
    assert table.column("ts").to_pylist()[0] == datetime(2024, 1, 1, tzinfo=UTC)


def test_query_errors_name_the_parameter(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 1)
    cases = {
        "resolution": ({"entity": "m-1", "resolution": "fortnight"}, 400),
        "agg": ({"entity": "m-1", "agg": "median"}, 400),
        "tz=": ({"entity": "m-1", "tz": "Mars/Olympus"}, 400),
        "start=": ({"entity": "m-1", "start": "2024-01-01T00:00:00"}, 400),
        "format=": ({"entity": "m-1", "format": "xml"}, 400),
        "nope": ({"entity": "nope"}, 404),
    }
    for needle, (params, status) in cases.items():
        r = client.get("/api/v1/readings", params=params)
        assert r.status_code == status, (params, r.text)
        assert needle in r.json()["error"], r.json()


def test_entity_with_several_metrics_needs_metric(client: TestClient) -> None:
    row = {"channel_id": "c-1", "timestamp": "2024-01-01T00:00:00Z", "energy_kwh": 1.0, "power_kw": 4.0}
    assert client.post("/ingest/readings", content=orjson.dumps([row])).status_code == 200
    r = client.get("/api/v1/readings", params={"entity": "c-1"})
    assert r.status_code == 400
    assert "metric=" in r.json()["error"]
    assert readings(client, entity="channel:c-1", metric="power_kw")["points"][0]["value"] == 4.0


def test_series_catalogue_filters_and_latest(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 1)
    tel = [{"recorded_at": "2024-01-01T00:00:00Z", "device_id": "b-1", "metric_name": "StateOfChargePercentage",
            "value": 55.0}]
    assert client.post("/ingest/telemetry", content=orjson.dumps(tel)).status_code == 200
    body = client.get("/api/v1/series", params={"kind": "device"}).json()
    assert body["count"] == 1
    s = body["series"][0]
    assert (s["entity_id"], s["metric"], s["unit"]) == ("b-1", "StateOfChargePercentage", "%")
    latest = client.get("/api/v1/latest", params={"tz": "Europe/Amsterdam"}).json()["latest"]
    by_entity = {r["entity_id"]: r for r in latest}
    assert by_entity["m-1"]["ts"] == "2024-01-01T01:45:00+01:00"
    assert by_entity["b-1"]["value"] == 55.0


def test_latest_as_an_arrow_stream_names_each_series(client: TestClient) -> None:
    post_meter(client, "m-1", datetime(2024, 1, 1, tzinfo=UTC), 2)
    post_meter(client, "m-2", datetime(2024, 1, 1, tzinfo=UTC), 1)
    r = client.get("/api/v1/latest", params={"kind": "meter", "format": "arrow"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    rows = {row["entity_id"]: row for row in table.to_pylist()}
    as_json = {row["entity_id"]: row for row in client.get("/api/v1/latest", params={"kind": "meter"}).json()["latest"]}
    assert rows.keys() == as_json.keys() == {"m-1", "m-2"}
    for entity, row in rows.items():
        assert row["ts"].isoformat() == as_json[entity]["ts"] and row["value"] == as_json[entity]["value"]
        assert (row["entity_kind"], row["metric"]) == ("meter", "kwh")
    bad = client.get("/api/v1/latest", params={"format": "xml"})
    assert (bad.status_code, bad.json()["error"]) == (400, "format='xml' is not one of json, arrow")

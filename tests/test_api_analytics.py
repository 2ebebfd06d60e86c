"""Analytics API: every analysis answers what its analytic gives on the frames the store reads.

The arithmetic is tested in tests/analytics/; here the plumbing is: parameters parsed and
defaulted, series resolved, frames read, the analytic called, the answer rendered. Each
expected answer calls the analytic directly on `store.read_frame(...)` output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from gridpulse.analyses import run_analysis
from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.battery import equivalent_full_cycles, soc_daily, time_below_threshold
from gridpulse.analytics.coverage import coverage, gaps
from gridpulse.analytics.demand import load_duration_curve, load_factor, peak_demand_kw
from gridpulse.analytics.energy import consumption_from_register_kwh, energy_from_power_kwh, energy_kwh
from gridpulse.analytics.feeders import feeder_balance
from gridpulse.analytics.generation import generation_summary
from gridpulse.analytics.summary import summarise
from gridpulse.analytics.tariffs import parse_tariffs
from gridpulse.analytics.tou import average_day_profile, tou_energy_cost
from gridpulse.api.app import create_app
from gridpulse.config import Settings, load_settings
from gridpulse.dataset import SeriesPoints, keyed_batches
from gridpulse.demo import generate_fleet
from gridpulse.model import SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import SeriesFilter, Store, WriteRequest

AMS = "Europe/Amsterdam"
#: seven days ending 2024-10-30: the window holds the fall-back Sunday 2024-10-27 (a 25-hour day)
END = datetime(2024, 10, 30, tzinfo=UTC)
DAYS = 7
M15 = timedelta(minutes=15)

NL_TOU = {
    "tz": AMS,
    "currency": "EUR",
    "holidays": "NL",
    "periods": [
        {"name": "peak", "days": "weekday", "hours": "07:00-23:00", "price_per_kwh": 0.32},
        {"name": "offpeak", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.21},
    ],
}
REGISTER = SeriesKey("meter", "r-01", "register_kwh")


def load_fleet(store: Store) -> None:
    """The synthetic fleet, plus a cumulative register that rolls over at 100,000 kWh."""
    ds = generate_fleet(end=END, days=DAYS)
    store.write_group([WriteRequest(ds.batches, ds.meta_for)])
    for kind, rows in ds.reference.items():
        store.upsert_reference(kind, rows)
    ts = np.arange(48, dtype=np.int64) * 900_000_000 + int(datetime(2024, 10, 28, tzinfo=UTC).timestamp() * 1e6)
    reads = (99_990.0 + 0.5 * np.arange(48)) % 100_000
    meta = SeriesMeta("kWh", M15, AMS, {}, "demo-utility", "ams-noord")
    store.write_group([WriteRequest(keyed_batches([SeriesPoints(REGISTER, ts, reads)]), lambda key: meta)])


def fleet_settings(root: Path) -> Settings:
    return load_settings(env={}).replace(
        store={"data_dir": str(root / "data")},
        server={"port": 0, "extra_ports": []},
        demo={"datasets_dir": str(root / "no-datasets")},
        tariffs={"nl-tou": NL_TOU},
    )


@dataclass
class Fleet:
    store: Store
    client: TestClient
    settings: Settings

    def ids(self, **flt: str) -> list[int]:
        found = self.store.list_series(SeriesFilter(**flt))
        assert found, flt
        return [s.series_id for s in found]

    def frame(self, ids: list[int], start: datetime | None = None, end: datetime | None = None) -> pa.Table:
        return self.store.read_frame(ids, start=start, end=end)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("analytics")
    store = open_store(f"duckdb:///{root / 'store.duckdb'}")
    load_fleet(store)
    settings = fleet_settings(root)
    with TestClient(create_app(settings, store)) as client:
        yield Fleet(store, client, settings)
    store.close()


def get(fleet: Fleet, name: str, **params: object) -> dict[str, Any]:
    r = fleet.client.get(f"/api/v1/analytics/{name}", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def as_json(value: Any) -> Any:
    """A value as the API renders it, worked out independently of the renderer."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def expected_rows(result: AnalyticResult) -> list[dict[str, Any]]:
    return [{k: as_json(v) for k, v in row.items()} for row in result.table.to_pylist()]


def local(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(AMS))


def with_entity(fleet: Fleet, frame: pa.Table) -> pa.Table:
    names = {s.series_id: s.key.entity_id for s in fleet.store.list_series()}
    return frame.append_column("entity_id", pa.array([names[i] for i in frame.column("series_id").to_pylist()]))


def _feeder(fleet: Fleet) -> AnalyticResult:
    mapping = [r for r in fleet.store.list_reference("meter_feeder_map") if r["feeder_id"] == "feeder-1"]
    mapped = {r["meter_id"] for r in mapping}
    meters = [s.series_id for s in fleet.store.list_series(SeriesFilter(entity_kind="meter", metric="kwh"))
              if s.key.entity_id in mapped]
    return feeder_balance(
        with_entity(fleet, fleet.frame(meters)),
        with_entity(fleet, fleet.frame(fleet.ids(entity_id="feeder-1"))),
        mapping, tz=AMS, period="day", interval=M15,
    )


def _gaps(fleet: Fleet) -> AnalyticResult:
    ids = fleet.ids(entity_kind="meter", metric="kwh")
    frame = fleet.frame(ids)
    ts = frame.column("ts").to_pylist()
    return gaps(frame, interval=M15, start=min(ts), end=max(ts) + M15, series_ids=ids)


def _summary(fleet: Fleet) -> AnalyticResult:
    ids = fleet.ids(entity_kind="meter", metric="kwh")
    return summarise(fleet.frame(ids), period="day", tz=AMS, unit="kWh",
                     series_info=dict.fromkeys(ids, "ams-noord"))


def _generation(fleet: Fleet) -> AnalyticResult:
    pv1, pv2 = fleet.ids(entity_id="pv-1")[0], fleet.ids(entity_id="pv-2")[0]
    return generation_summary(fleet.frame([pv1, pv2]), capacity_mw={pv1: 1.2, pv2: 4.0}, period="day", tz=AMS,
                              unit="mw", interval=M15, producing_fraction=0.01)


# (analysis, query parameters, the analytic called directly on the store's frames)
CASES: list[tuple[str, dict[str, str], Callable[[Fleet], AnalyticResult]]] = [
    ("energy", {"entity": "m-01"},
     lambda f: energy_kwh(f.frame(f.ids(entity_id="m-01")), period="day", tz=AMS)),
    ("energy", {"entity": "battery-1", "metric": "power_kw", "period": "hour"},
     lambda f: energy_from_power_kwh(f.frame(f.ids(entity_id="battery-1", metric="power_kw")), period="hour",
                                     tz=AMS, max_gap=timedelta(minutes=5), samples="interval_average")),
    ("register", {"entity": "meter:r-01"},
     lambda f: consumption_from_register_kwh(f.frame(f.ids(entity_id="r-01")))),
    ("peak-demand", {"site": "ams-noord", "window": "30min", "period": "week"},
     lambda f: peak_demand_kw(f.frame(f.ids(entity_kind="meter", metric="kwh")), window=timedelta(minutes=30),
                              tz=AMS, period="week", input_unit="kwh", interval=M15)),
    ("load-factor", {"entity": "m-10", "start": "2024-10-25", "end": "2024-10-29"},
     lambda f: load_factor(f.frame(f.ids(entity_id="m-10"), local("2024-10-25"), local("2024-10-29")),
                           window=M15, tz=AMS, period="day", input_unit="kwh", interval=M15)),
    ("load-duration", {"entity": "m-10", "points": "10", "window": "1h"},
     lambda f: load_duration_curve(f.frame(f.ids(entity_id="m-10")), window=timedelta(hours=1), points=10, tz=AMS,
                                   input_unit="kwh", interval=M15)),
    ("generation", {"kind": "plant", "tz": AMS}, _generation),
    ("soc-daily", {"entity": "battery-3"},
     lambda f: soc_daily(f.frame(f.ids(entity_id="battery-3", metric="StateOfChargePercentage")), tz=AMS)),
    ("cycles", {"entity": "battery-2", "period": "week"},
     lambda f: equivalent_full_cycles(f.frame(ids := f.ids(entity_id="battery-2", metric="power_kw")),
                                      capacity_kwh={ids[0]: 1000.0}, tz=AMS, period="week",
                                      max_gap=timedelta(hours=1))),
    ("time-below", {"entity": "battery-3", "threshold_pct": "15"},
     lambda f: time_below_threshold(f.frame(f.ids(entity_id="battery-3", metric="StateOfChargePercentage")),
                                    threshold_pct=15.0, tz=AMS, period="day", max_gap=timedelta(hours=1))),
    ("summary", {"organisation": "demo-utility", "by": "site"}, _summary),
    ("tou", {"entity": "m-10", "tariff": "nl-tou", "by_day": "true"},
     lambda f: tou_energy_cost(f.frame(f.ids(entity_id="m-10")), tariff=parse_tariffs({"nl-tou": NL_TOU})["nl-tou"],
                               by_day=True)),
    ("profile", {"entity": "m-01", "points": "96", "day_types": "weekday,weekend,sun", "holidays": "NL"},
     lambda f: average_day_profile(f.frame(f.ids(entity_id="m-01")), tz=AMS, points=96,
                                   day_types=("weekday", "weekend", "sun"), holidays="NL")),
    # 24 points: from the store's hourly sums (rollups once refreshed), the fall-back day included
    ("profile", {"kind": "meter", "metric": "kwh", "points": "24", "day_types": "weekday,weekend,sun",
                 "holidays": "NL"},
     lambda f: average_day_profile(f.frame(f.ids(entity_kind="meter", metric="kwh")), tz=AMS, points=24,
                                   day_types=("weekday", "weekend", "sun"), holidays="NL")),
    ("feeder-balance", {"feeder": "feeder-1", "period": "day"}, _feeder),
    ("coverage", {"entity": "m-03", "start": "2024-10-24", "end": "2024-10-30"},
     lambda f: coverage(f.frame(ids := f.ids(entity_id="m-03"), local("2024-10-24"), local("2024-10-30")),
                        interval=M15, start=local("2024-10-24"), end=local("2024-10-30"), tz=AMS, series_ids=ids)),
    ("gaps", {"site": "ams-noord", "kind": "meter", "metric": "kwh"}, _gaps),
]


def _close(rows: list[dict[str, object]], expected: list[dict[str, object]]) -> bool:
    """Equal rows, floats to 1e-9: a sum the store bucketed (rollups) adds in another order."""
    if len(rows) != len(expected):
        return False
    for got, want in zip(rows, expected, strict=True):
        if got.keys() != want.keys():
            return False
        for k, v in got.items():
            w = want[k]
            if isinstance(v, float) and isinstance(w, float):
                if not math.isclose(v, w, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif v != w:
                return False
    return True


@pytest.mark.parametrize(("name", "params", "direct"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_analysis_answers_what_its_analytic_gives_on_the_stored_frames(
    fleet: Fleet, name: str, params: dict[str, str], direct: Callable[[Fleet], AnalyticResult]
) -> None:
    body = get(fleet, name, **params)
    expected = direct(fleet)
    assert expected.table.num_rows > 0, "a case that returns nothing tests nothing"
    assert body["analysis"] == name
    assert body["columns"] == expected.table.column_names
    assert _close(body["rows"], expected_rows(expected))
    assert body["count"] == expected.table.num_rows
    assert (body["units"], body["notes"]) == (expected.units, expected.notes)
    assert "sql" not in body
    assert body["params"]["tz"] == params.get("tz", AMS)
    assert body["params"]["series"], "the answer says which series it read"


def _energy_by(fleet: Fleet, ids: list[int], group_of: dict[int, str], **kw: Any) -> dict[tuple[str, str], float]:
    """Per-series energy from the analytic, summed per group and local date here."""
    out: dict[tuple[str, str], float] = {}
    for row in energy_kwh(fleet.frame(ids), tz=AMS, **kw).table.to_pylist():
        key = (group_of[row["series_id"]], row["local_date"].isoformat())
        out[key] = out.get(key, 0.0) + row["energy_kwh"]
    return out


@pytest.mark.parametrize("by", ["all", "site"])
def test_energy_by_group_sums_the_series_energy(fleet: Fleet, by: str) -> None:
    series = fleet.store.list_series(SeriesFilter(entity_kind="meter", metric="kwh"))
    ids = [s.series_id for s in series]
    group_of = {s.series_id: "all" if by == "all" else (s.site_id or "(no site)") for s in series}
    body = get(fleet, "energy", kind="meter", metric="kwh", by=by, explain="true")
    assert body["columns"] == [
        "group", "start", "local_date", "energy_kwh", "intervals", "estimated_intervals", "estimated_share"
    ]
    got = {(r["group"], r["local_date"]): r["energy_kwh"] for r in body["rows"]}
    want = _energy_by(fleet, ids, group_of, period="day")
    assert got.keys() == want.keys() and len(got) >= DAYS
    assert all(math.isclose(got[k], want[k], rel_tol=1e-9) for k in got)
    assert "GROUP BY" in body["sql"][0]["sql"]  # the store summed the group
    # a kW series is integrated one by one, then summed
    kw = get(fleet, "energy", kind="device", metric="power_kw", by="all")
    per_series = get(fleet, "energy", kind="device", metric="power_kw")
    total: dict[str, float] = {}
    for r in per_series["rows"]:
        total[r["local_date"]] = total.get(r["local_date"], 0.0) + r["energy_kwh"]
    assert {r["local_date"]: r["energy_kwh"] for r in kw["rows"]} == pytest.approx(total, rel=1e-9)
    # shares do not add up: the group's is its estimated hours over its covered hours
    assert kw["columns"][-2:] == ["estimated_h", "estimated_share"]
    assert all(r["estimated_share"] == r["estimated_h"] / r["covered_h"] for r in kw["rows"])


@pytest.mark.parametrize("period", ["hour", "day", "week"])
def test_peak_demand_from_the_rollups_equals_the_windows_of_the_points(fleet: Fleet, period: str) -> None:
    fleet.store.refresh_rollups()
    body = get(fleet, "peak-demand", kind="meter", metric="kwh", window="15min", period=period, explain="true")
    assert "FROM rollups" in body["sql"][0]["sql"] and 'AS "at"' in body["sql"][0]["sql"]
    expected = peak_demand_kw(fleet.frame(fleet.ids(entity_kind="meter", metric="kwh")), window=M15, tz=AMS,
                              period=period, input_unit="kwh", interval=M15)  # type: ignore[arg-type]
    assert body["columns"] == expected.table.column_names
    assert _close(body["rows"], expected_rows(expected))
    assert (body["units"], body["notes"]) == (expected.units, expected.notes)
    # a window of two intervals cannot come from the maxima: the points answer
    body = get(fleet, "peak-demand", kind="meter", metric="kwh", window="30min", period=period, explain="true")
    assert 'AS "at"' not in body["sql"][0]["sql"]


def test_parameters_are_echoed_as_resolved(fleet: Fleet) -> None:
    body = get(fleet, "coverage", entity="m-03", start="2024-10-24")
    p = body["params"]
    assert [s["entity_id"] for s in p["series"]] == ["m-03"]
    assert (p["entity"], p["tz"], p["interval"]) == ("m-03", AMS, "15min")
    # a local date is read as local midnight; the open end comes from the last row
    assert p["start"] == "2024-10-23T22:00:00+00:00"
    assert p["end"] == "2024-10-30T00:00:00+00:00"
    body = get(fleet, "energy", entity="battery-1", metric="power_kw")
    assert (body["params"]["max_gap"], body["params"]["samples"], body["params"]["period"]) == (
        "5min", "interval_average", "day")
    assert get(fleet, "cycles", entity="battery-1")["params"]["capacity_kwh"] == {"battery-1": 500.0}
    assert get(fleet, "cycles", entity="battery-1", capacity_kwh="250")["params"]["capacity_kwh"] == 250.0


def test_local_days_across_the_dst_change_have_25_hours(fleet: Fleet) -> None:
    body = get(fleet, "energy", entity="m-01", start="2024-10-26", end="2024-10-29")
    assert [(r["local_date"], r["start"], r["intervals"]) for r in body["rows"]] == [
        ("2024-10-26", "2024-10-25T22:00:00+00:00", 96),
        ("2024-10-27", "2024-10-26T22:00:00+00:00", 100),
        ("2024-10-28", "2024-10-27T23:00:00+00:00", 96),
    ]


def test_explain_returns_the_sql_that_read_points(fleet: Fleet) -> None:
    body = get(fleet, "energy", entity="m-01", explain="true")
    (stmt,) = body["sql"]
    assert "FROM points" in stmt["sql"] or "FROM rollups" in stmt["sql"]
    (sid,) = fleet.ids(entity_id="m-01")
    # the series is named in the SQL (as an id range) or passed as a list parameter
    assert f"BETWEEN {sid} AND {sid}" in stmt["sql"] or [sid] in stmt["params"]
    balance = get(fleet, "feeder-balance", feeder="feeder-1", explain="true")
    assert len(balance["sql"]) == 2
    assert all("FROM points" in s["sql"] for s in balance["sql"])
    ranged = get(fleet, "peak-demand", entity="m-10", start="2024-10-25T00:00:00Z", explain="1")
    # the store's naive UTC bounds come back as UTC instants
    assert "2024-10-25T00:00:00+00:00" in ranged["sql"][0]["params"]


def test_run_analysis_returns_the_result_with_its_sql(fleet: Fleet) -> None:
    result = run_analysis(fleet.store, fleet.settings, "soc-daily", {"entity": "battery-1"})
    expected = soc_daily(fleet.frame(fleet.ids(entity_id="battery-1", metric="StateOfChargePercentage")), tz=AMS)
    assert result.table.equals(expected.table)
    (stmt,) = result.sql
    assert "FROM points" in stmt[0]


def test_listing_names_every_analysis_with_its_parameters(fleet: Fleet) -> None:
    r = fleet.client.get("/api/v1/analytics")
    assert r.status_code == 200
    analyses = {a["name"]: a for a in r.json()["analyses"]}
    assert set(analyses) == {c[0] for c in CASES}
    period = next(p for p in analyses["energy"]["params"] if p["name"] == "period")
    assert (period["default"], period["choices"]) == ("day", ["hour", "day", "week", "month"])
    threshold = next(p for p in analyses["time-below"]["params"] if p["name"] == "threshold_pct")
    assert (threshold["default"], threshold["unit"], threshold["type"]) == ("20", "%", "float")
    assert analyses["tou"]["analytics"] == ["gridpulse.analytics.tou.tou_energy_cost"]
    for a in analyses.values():
        assert a["description"]
        assert {"start", "end", "tz"} <= {p["name"] for p in a["params"]}
        assert all(p["help"] for p in a["params"]), a["name"]


BAD = [
    ("energy", {"entity": "m-01", "period": "fortnight"}, "period='fortnight' is not one of hour, day, week, month"),
    ("peak-demand", {"entity": "m-01", "window": "20min"}, "window='20min' is not one of 15min, 30min, 60min"),
    ("time-below", {"entity": "battery-1", "threshold_pct": "low"}, "threshold_pct='low' is not a number [%]"),
    ("time-below", {"entity": "battery-1", "threshold_pct": "150"}, "threshold_pct=150.0 must be a percentage"),
    ("cycles", {"entity": "battery-1", "max_gap": "soon"}, "max_gap='soon' is not a positive duration"),
    ("energy", {"entity": "m-01", "start": "2024-13-01"}, "start='2024-13-01' is not an ISO 8601 date"),
    ("energy", {"entity": "m-01", "tz": "Mars/Olympus"}, "tz='Mars/Olympus' is not an IANA time zone"),
    ("energy", {"entity": "m-01", "start": "2024-10-28", "end": "2024-10-27"}, "end='2024-10-27' is not after"),
    ("energy", {"entity": "m-01", "perod": "day"}, "perod is not a parameter of energy: did you mean period?"),
    ("energy", {}, "name the series: entity=<id>"),
    ("energy", {"entity": "m-01", "site": "ams-noord"}, "give one of them"),
    ("tou", {"entity": "m-01", "by_day": "maybe"}, "tariff is required by tou"),
    ("tou", {"entity": "m-01", "tariff": "nl-tou", "by_day": "maybe"}, "by_day='maybe' is not true or false"),
    ("profile", {"entity": "m-01", "points": "48"}, "points='48' is not one of 24, 96"),
    ("profile", {"entity": "m-01", "day_types": "weekday,fri-ish"}, "day_types='weekday,fri-ish' is not one of"),
    ("feeder-balance", {}, "feeder is required by feeder-balance"),
    ("feeder-balance", {"feeder": "feeder-1", "period": "week"}, "period='week' is not one of hour, day"),
    ("soc-daily", {"entity": "m-01"}, "soc-daily needs series in %; meter:m-01/kwh is in kWh"),
    ("generation", {"kind": "plant"}, "several zones (Europe/Amsterdam, Europe/Madrid): pass tz="),
    ("energy", {"entity": "battery-1"}, "entity 'battery-1' has 2 series"),
]


@pytest.mark.parametrize(("name", "params", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_parameters_give_400_naming_the_parameter(
    fleet: Fleet, name: str, params: dict[str, str], message: str
) -> None:
    r = fleet.client.get(f"/api/v1/analytics/{name}", params=params)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_unknown_analysis_series_or_feeder_is_404(fleet: Fleet) -> None:
    r = fleet.client.get("/api/v1/analytics/energie", params={"entity": "m-01"})
    assert r.status_code == 404
    assert r.json()["error"].startswith("no analysis 'energie': did you mean energy? known: energy, register")
    for name, params in (("energy", {"entity": "m-99"}), ("feeder-balance", {"feeder": "feeder-9"}),
                         ("summary", {"site": "nowhere"})):
        r = fleet.client.get(f"/api/v1/analytics/{name}", params=params)
        assert r.status_code == 404, r.text


def test_unknown_tariff_names_the_configured_ones(fleet: Fleet) -> None:
    r = fleet.client.get("/api/v1/analytics/tou", params={"entity": "m-01", "tariff": "be-tou"})
    assert r.status_code == 400
    assert r.json()["error"] == (
        "tariff='be-tou' is not configured (configured tariffs: nl-tou): pick one, "
        "or add a [tariffs.be-tou] table to the config"
    )


def test_csv_has_the_json_rows(fleet: Fleet) -> None:
    body = get(fleet, "peak-demand", entity="m-10", period="day")
    r = fleet.client.get("/api/v1/analytics/peak-demand", params={"entity": "m-10", "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == ",".join(body["columns"])
    assert len(lines) == len(body["rows"]) + 1
    first = body["rows"][0]
    cells = ("true" if v is True else "false" if v is False else str(v) for v in (first[c] for c in body["columns"]))
    assert lines[1] == ",".join(cells)  # JSON booleans are true and false in CSV too


def test_arrow_stream_has_the_json_answer_typed(fleet: Fleet) -> None:
    body = get(fleet, "energy", kind="meter", metric="kwh", explain="true")
    r = fleet.client.get(
        "/api/v1/analytics/energy", params={"kind": "meter", "metric": "kwh", "format": "arrow", "explain": "true"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.num_rows == body["count"]
    assert table.schema.field("start").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("local_date").type == pa.date32()
    # each row names its series; without those columns the rows are the JSON rows
    names = {s["series_id"]: (s["entity_kind"], s["entity_id"], s["metric"]) for s in body["params"]["series"]}
    idents = zip(*(table.column(c).to_pylist() for c in ("series_id", "entity_kind", "entity_id", "metric")),
                 strict=True)
    assert all(names[sid] == tuple(rest) for sid, *rest in idents)
    plain = table.drop_columns(["entity_kind", "entity_id", "metric"])
    assert plain.column_names == body["columns"]
    assert expected_rows(AnalyticResult(plain, {}, [])) == body["rows"]
    head = json.loads(table.schema.metadata[b"gridpulse"])
    assert head["params"] == {k: v for k, v in body["params"].items() if k != "series"}
    assert {k: head[k] for k in ("analysis", "units", "notes", "sql")} == {
        k: body[k] for k in ("analysis", "units", "notes", "sql")}


def test_format_and_explain_are_checked(fleet: Fleet) -> None:
    r = fleet.client.get("/api/v1/analytics/energy", params={"entity": "m-01", "format": "xml"})
    assert (r.status_code, r.json()["error"]) == (400, "format='xml' is not one of json, csv, arrow")
    r = fleet.client.get("/api/v1/analytics/energy", params={"entity": "m-01", "format": "csv", "explain": "true"})
    assert r.status_code == 400
    assert "explain=true needs format=json" in r.json()["error"]
    r = fleet.client.get("/api/v1/analytics/energy?entity=m-01&period=day&period=week")
    assert (r.status_code, r.json()["error"]) == (400, "period is given twice: give it once")


def test_analytics_need_the_read_scope(fleet: Fleet) -> None:
    settings = fleet.settings.replace(auth={"tokens": {"reader": "read", "feeder": "write:meter_usage"}})
    with TestClient(create_app(settings, fleet.store)) as client:
        url = "/api/v1/analytics/energy?entity=m-01"
        assert client.get(url).status_code == 401
        assert client.get("/api/v1/analytics").status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer feeder"}).status_code == 403
        assert client.get(url, headers={"Authorization": "Bearer reader"}).status_code == 200


def test_peak_demand_top_keeps_the_highest_peaks_of_each_day(fleet: Fleet) -> None:
    full = get(fleet, "peak-demand", kind="meter", metric="kwh", period="day")
    top = get(fleet, "peak-demand", kind="meter", metric="kwh", period="day", top="3")
    by_day: dict[str, list[tuple[float, int]]] = {}
    for r in full["rows"]:
        by_day.setdefault(r["local_date"], []).append((-r["peak_kw"], r["series_id"]))
    want = [(day, sid, -kw) for day in sorted(by_day) for kw, sid in sorted(by_day[day])[:3]]
    assert [(r["local_date"], r["series_id"], r["peak_kw"]) for r in top["rows"]] == want
    assert top["params"]["top"] == 3

"""Analyses say how much of each figure rests on estimates, the same whether the store answers
from its rollups or from the points, after late estimates and after a read replaces an estimate;
the API and the CLI hand the columns out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from gridpulse.analyses import run
from gridpulse.analytics.demand import peak_demand_kw
from gridpulse.analytics.energy import energy_kwh
from gridpulse.analytics.summary import summarise
from gridpulse.config import Settings
from gridpulse.model import Quality, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, Store, WriteRequest
from tests.quality.points import Q15, batch, grid, write
from tests.test_cli_forecast import gridpulse, ok

AMS = "Europe/Amsterdam"
#: local midnight starting Saturday 26 October 2024; Sunday 27 October has 25 hours (100 intervals)
T0 = datetime(2024, 10, 25, 22, tzinfo=UTC)
N = 96 + 100 + 96
DAY2, DAY3 = 96, 196  # first interval of the second and third local day
EST = (5, 6, 7, 120, 121, 250)  # m-1's estimated intervals
NULL_EST = 200  # an estimate without a value: neither a value nor an estimated value
LATE = 150  # missing at first, estimated late


def _fill(store: Store) -> None:
    """m-1 (estimates, peaks) and m-2 (all actual), 15-minute kWh over three local days."""
    values: list[float | None] = [1.0] * N
    values[30], values[120], values[260] = 8.0, 9.0, 7.0  # the daily peaks; day 2's is an estimate
    values[NULL_EST] = None
    keep = [i for i in range(N) if i != LATE]
    ts = grid(T0, N)
    quality = [Quality.ESTIMATED if i in EST or i == NULL_EST else Quality.ACTUAL for i in keep]
    write(store, "m-1", [ts[i] for i in keep], [values[i] for i in keep], quality=quality, tz=AMS)
    write(store, "m-2", ts, [2.0] * N, tz=AMS)


@pytest.fixture
def filled(store: Store) -> Store:
    _fill(store)
    return store


def _answer(store: Store, settings: Settings, name: str, **params: str) -> tuple[pa.Table, str]:
    done = run(store, settings, name, {"kind": "meter", "metric": "kwh", **params})
    return done.result.table, " ".join(sql for sql, _ in done.result.sql)


def _estimates(table: pa.Table) -> dict[str, list[Any]]:
    """The estimated columns of a result (counts, shares, flags), keyed by name."""
    return {c: table.column(c).to_pylist() for c in table.column_names if "estimated" in c}


#: analyses the store can answer from its rollups, with the parameters that make it do so
BUCKETED = [
    ("energy", {"period": "day"}),
    ("energy", {"period": "hour"}),
    ("energy", {"period": "week", "by": "all"}),
    ("peak-demand", {"period": "day", "window": "15min"}),
    ("profile", {"points": "24", "day_types": "all"}),
]


def _bucketed(store: Store, settings: Settings) -> dict[str, dict[str, list[Any]]]:
    out = {}
    for name, params in BUCKETED:
        table, _sql = _answer(store, settings, name, **params)
        out[f"{name} {params}"] = _estimates(table)
    return out


def _from_rollups(store: Store, settings: Settings) -> bool:
    return all("FROM rollups" in _answer(store, settings, n, **p)[1] for n, p in BUCKETED)


def _energy_by_day(store: Store, settings: Settings) -> dict[str, list[Any]]:
    return _estimates(_answer(store, settings, "energy", period="day")[0])


def test_energy_per_day_counts_the_estimates_exactly(filled: Store, settings: Settings) -> None:
    got = _energy_by_day(filled, settings)
    # m-1: 3 of 96 on day 1; 2 of 99 on day 2 (LATE missing); 1 of 95 on day 3 (the null estimate
    # is neither); m-2: none
    assert got["estimated_intervals"] == [3, 2, 1, 0, 0, 0]
    assert got["estimated_share"] == [3 / 96, 2 / 99, 1 / 95, 0.0, 0.0, 0.0]


def test_rollups_and_points_agree_after_late_estimates_and_replaced_ones(
    filled: Store, settings: Settings
) -> None:
    points = _bucketed(filled, settings)  # nothing rolled up yet: every series from its points
    assert not _from_rollups(filled, settings)
    filled.refresh_rollups()
    assert _from_rollups(filled, settings)
    assert _bucketed(filled, settings) == points

    # a late estimate fills m-1's missing interval on day 2: m-1 from its points, m-2 from the rollups
    write(filled, "m-1", [grid(T0, N)[LATE]], [1.0], quality=Quality.ESTIMATED, tz=AMS)
    mixed = _bucketed(filled, settings)
    assert _energy_by_day(filled, settings)["estimated_intervals"] == [3, 3, 1, 0, 0, 0]
    filled.refresh_rollups()
    assert _bucketed(filled, settings) == mixed

    # an actual read replaces day 2's estimated peak: the peak moves to an actual interval
    write(filled, "m-1", [grid(T0, N)[120]], [0.5], tz=AMS)
    replaced = _bucketed(filled, settings)
    assert _energy_by_day(filled, settings)["estimated_intervals"] == [3, 2, 1, 0, 0, 0]
    peaks = replaced["peak-demand {'period': 'day', 'window': '15min'}"]["peak_estimated"]
    assert peaks == [False, False, False, False, False, False]
    filled.refresh_rollups()
    assert _bucketed(filled, settings) == replaced


def test_bucketed_answers_equal_the_analytics_on_the_points(filled: Store, settings: Settings) -> None:
    filled.refresh_rollups()
    raw = filled.read_frame([1, 2])  # the points, each with its quality flag
    for period in ("day", "hour"):
        want = energy_kwh(raw, period=period, tz=AMS).table  # type: ignore[arg-type]
        got, sql = _answer(filled, settings, "energy", period=period)
        assert "FROM rollups" in sql
        assert _estimates(got) == _estimates(want)
    want = peak_demand_kw(raw, window=Q15, tz=AMS, period="day", interval=Q15).table
    got, sql = _answer(filled, settings, "peak-demand", period="day", window="15min")
    assert "FROM rollups" in sql
    assert _estimates(got) == _estimates(want)
    assert got.column("peak_estimated").to_pylist() == [False, True, False, False, False, False]


def test_summary_flags_an_estimated_peak_of_the_group(filled: Store, settings: Settings) -> None:
    got, _sql = _answer(filled, settings, "summary", period="day")
    want = summarise(filled.read_frame([1, 2]), period="day", tz=AMS).table
    assert _estimates(got) == _estimates(want)
    # m-1's and m-2's values: 3 of 192, 2 of 199, 1 of 191 estimated; day 2's sum peaks at the estimate
    assert got.column("estimated_values").to_pylist() == [3, 2, 1]
    assert got.column("peak_estimated").to_pylist() == [False, True, False]


def test_a_window_of_two_intervals_from_the_points_flags_its_estimated_peak(
    filled: Store, settings: Settings
) -> None:
    got, sql = _answer(filled, settings, "peak-demand", entity="m-1", period="day", window="30min")
    assert "FROM rollups" not in sql
    assert got.column("peak_estimated").to_pylist() == [False, True, False]


def test_min_and_max_buckets_say_whether_their_extreme_is_an_estimate(filled: Store) -> None:
    q = ReadingsQuery(1, resolution=Resolution.DAY, agg=Agg.MAX, tz=AMS)
    before = filled.read(q)
    filled.refresh_rollups()
    after = filled.read(q)
    flags = before.column("at_estimated").to_pylist()
    assert flags == after.column("at_estimated").to_pylist() == [False, True, False]
    # weeks are combined from day rollups: the week's maximum is day 2's estimated 9 kWh
    week = ReadingsQuery(1, resolution=Resolution.WEEK, agg=Agg.MAX, tz=AMS)
    assert [r["at_estimated"] for r in filled.read(week).to_pylist()] == [True, False]
    lows = filled.read(ReadingsQuery(1, resolution=Resolution.DAY, agg=Agg.MIN, tz=AMS))
    assert lows.column("at_estimated").to_pylist() == [False, False, False]  # the first 1.0 is actual
    assert filled.read(q).column("estimated").to_pylist() == [3, 2, 1]  # the null estimate is not one


# ------------------------------------------------------------------------------- API and CLI
@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> Iterator[TestClient]:
    c = make_client(rollups={"refresh_interval_s": 0})
    st = c.app.state.gridpulse  # type: ignore[attr-defined]
    ts = grid(T0, 96)
    keep = [i for i in range(96) if not 40 <= i < 43]  # a 45-minute gap on 26 October
    meta = SeriesMeta(unit="kWh", interval=Q15, tz=AMS)
    rows = batch("m-1", [ts[i] for i in keep], [1.0] * len(keep))
    st.writer.submit(WriteRequest([rows], lambda _k: meta)).result()
    yield c


def test_the_api_answers_show_what_the_estimation_filled(api: TestClient) -> None:
    est = api.post(
        "/api/v1/quality/estimate", params={"entity": "m-1", "start": "2024-10-26", "end": "2024-10-26"}
    )
    assert est.status_code == 200, est.text
    assert est.json()["estimated"] == 3
    body = api.get("/api/v1/analytics/energy", params={"entity": "m-1", "period": "day"}).json()
    assert body["columns"][-2:] == ["estimated_intervals", "estimated_share"]
    assert body["units"]["estimated_share"] == "1"
    (row,) = body["rows"]
    assert (row["intervals"], row["estimated_intervals"], row["estimated_share"]) == (96, 3, 3 / 96)
    cov = api.get(
        "/api/v1/analytics/coverage", params={"entity": "m-1", "start": "2024-10-26", "end": "2024-10-27"}
    )
    (day,) = cov.json()["rows"]
    assert (day["received"], day["estimated"]) == (96, 3)
    csv = api.get("/api/v1/analytics/energy", params={"entity": "m-1", "format": "csv"}).text.splitlines()
    assert csv[0].endswith(",estimated_intervals,estimated_share")
    assert csv[1].endswith(f",3,{3 / 96}")


def test_the_cli_shows_the_estimated_columns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}")
    try:
        _fill(store)
    finally:
        store.close()
    out = ok(
        gridpulse(
            "analyze", "energy", "-e", "m-1", "-p", "period=day", "-f", "json", cwd=tmp_path, data_dir=data
        )
    )
    body = json.loads(out)
    assert [r["estimated_intervals"] for r in body["rows"]] == [3, 2, 1]
    table = ok(gridpulse("analyze", "peak-demand", "-e", "m-1", cwd=tmp_path, data_dir=data))
    assert "peak_estimated" in table and "True" in table
    table = ok(gridpulse("analyze", "energy", "-e", "m-1", cwd=tmp_path, data_dir=data))
    assert "estimated_share [1]" in table and "estimated_intervals" in table

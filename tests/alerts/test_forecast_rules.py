"""The forecast_drift and forecast_error rule kinds on the app in-process, over a real DuckDB file
with a real webhook receiver: a drift rule fires on a level-shifted series after a monitoring run
and stays quiet on a stable one; for-duration and resolution read the stored checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridpulse.model import ForecastCheck
from gridpulse.store.base import Store
from tests.alerts.receiver import Receiver, firing, resolved
from tests.alerts.test_rule_behaviour import alerts, engine
from tests.jobs.test_forecast_monitoring import drift_fleet
from tests.quality.points import grid, write

STABLE, SHIFTED = "meter:m-stable/kwh", "meter:m-shifted/kwh"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def app_with(make_client: Callable[..., TestClient], receiver: Receiver) -> Callable[..., TestClient]:
    def make(*rules: dict[str, Any]) -> TestClient:
        return make_client(
            alerts={"rules": list(rules), "notify": [f"webhook:{receiver.url}"], "backoff_ms": 10}
        )

    return make


def store_of(client: TestClient) -> Store:
    st: Store = client.app.state.gridpulse.store  # type: ignore[attr-defined]
    return st


def test_drift_rule_fires_on_a_shifted_series_and_stays_quiet_on_a_stable_one(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = app_with({"name": "fc-drift", "kind": "forecast_drift", "threshold": 0.25})
    store = store_of(client)
    ids = drift_fleet(store)
    engine(client).evaluate_scheduled()
    assert alerts(client) == []  # no check yet: nothing to judge
    assert client.post("/api/v1/jobs/forecast-monitor/run").json()["run"]["status"] == "ok"
    engine(client).evaluate_scheduled()
    (a,) = alerts(client)
    (check,) = store.list_forecast_checks([ids["m-shifted"]], newest=True)
    assert (a["rule"], a["kind"], a["state"], a["series"]) == (
        "fc-drift",
        "forecast_drift",
        "firing",
        [SHIFTED],
    )
    assert a["value"] == pytest.approx(check.psi) and a["value"] > 0.25
    assert a["value_ts"] == "2024-02-05T00:00:00+00:00"  # the end of the recent window
    assert a["summary"] == "forecast input drift: PSI >= 0.25"
    (body,) = receiver.wait_for(firing(SHIFTED))
    assert body["rule"] == "fc-drift"
    assert not receiver.matching(firing(STABLE))
    # a later check below the threshold resolves it, and the resolution is notified
    now = datetime.now(UTC)
    store.write_forecast_checks([ForecastCheck(ids["m-shifted"], now, now, now, psi=0.05)])
    engine(client).evaluate_scheduled()
    assert alerts(client)[0]["state"] == "resolved"
    receiver.wait_for(resolved(SHIFTED))


def test_a_drift_rule_without_threshold_uses_the_configured_level(
    make_client: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = make_client(
        alerts={
            "rules": [{"name": "fc-drift", "kind": "forecast_drift"}],
            "notify": [f"webhook:{receiver.url}"],
        },
        forecast={"psi_watch": 0.05, "psi_drift": 0.2},
    )
    store = store_of(client)
    write(store, "m-1", grid(datetime(2024, 1, 1, tzinfo=UTC), 2, timedelta(hours=1)), [1.0, 2.0])
    (s,) = store.list_series()
    now = datetime.now(UTC)
    store.write_forecast_checks([ForecastCheck(s.series_id, now, now, now, psi=0.19)])
    engine(client).evaluate_scheduled()
    assert alerts(client) == []
    store.write_forecast_checks([ForecastCheck(s.series_id, now + timedelta(seconds=1), now, now, psi=0.21)])
    engine(client).evaluate_scheduled()
    assert [a["value"] for a in alerts(client)] == [0.21]


def test_error_rule_needs_its_for_duration_of_checks_and_resolves_below_the_threshold(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = app_with({"name": "fc-mape", "kind": "forecast_error", "threshold": 20, "for": "1h"})
    store = store_of(client)
    write(store, "m-1", grid(datetime(2024, 1, 1, tzinfo=UTC), 2, timedelta(hours=1)), [1.0, 2.0])
    (s,) = store.list_series()
    now = datetime.now(UTC)

    def check(ago_min: float, mape: float | None) -> ForecastCheck:
        at = now - timedelta(minutes=ago_min)
        return ForecastCheck(s.series_id, at, at - timedelta(days=7), at, steps=168, mape=mape)

    # over 20 % for the last 30 minutes only: not yet
    store.write_forecast_checks([check(90, 10.0), check(30, 35.0), check(1, 30.0)])
    engine(client).evaluate_scheduled()
    assert alerts(client) == []
    # the streak now began 2 hours ago (the good check is gone): it fires
    store.write_forecast_checks([], keep_since=now - timedelta(minutes=60))
    store.write_forecast_checks([check(120, 25.0), check(100, 40.0)])
    engine(client).evaluate_scheduled()
    (a,) = alerts(client)
    assert (a["state"], a["value"], a["summary"]) == ("firing", 30.0, "live forecast mape > 20 %")
    receiver.wait_for(firing("meter:m-1/kwh"))
    # a check that could not score anything does not meet the condition: it resolves
    store.write_forecast_checks([check(0, None)])
    engine(client).evaluate_scheduled()
    assert alerts(client)[0]["state"] == "resolved"

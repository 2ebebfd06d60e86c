"""How rules behave, on the app in-process over a real DuckDB file with a real webhook receiver:
for-duration, cooldown, resolution and its clear level, grouping, rate of change, no data,
acknowledgement and silences."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridpulse.alerts.engine import AlertEngine
from tests.alerts.receiver import Receiver, firing, resolved

SOC = "StateOfChargePercentage"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def app_with(make_client: Callable[..., TestClient], receiver: Receiver) -> Callable[..., TestClient]:
    def make(*rules: dict[str, Any], **alerts: Any) -> TestClient:
        return make_client(
            alerts={"rules": list(rules), "notify": [f"webhook:{receiver.url}"], "backoff_ms": 10, **alerts}
        )

    return make


def send(
    client: TestClient, device: str, *rows: tuple[float, float], metric: str = SOC, at: datetime = T0
) -> None:
    """Rows (minutes after `at`, value) of one device, as NDJSON."""
    body = "".join(
        f'{{"recorded_at": "{(at + timedelta(minutes=m)).isoformat()}", "device_id": "{device}", '
        f'"metric_name": "{metric}", "value": {v}}}\n'
        for m, v in rows
    )
    resp = client.post("/ingest/telemetry/ndjson", content=body.encode())
    assert resp.status_code == 200, resp.text


def engine(client: TestClient) -> AlertEngine:
    e = client.app.state.gridpulse.alerts  # type: ignore[attr-defined]
    assert isinstance(e, AlertEngine)
    return e


def settle(client: TestClient) -> None:
    """Wait until the engine has evaluated every commit so far (a call queues behind them)."""
    engine(client).call(lambda: None)


def alerts(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    settle(client)
    got: list[dict[str, Any]] = client.get("/api/v1/alerts", params={"limit": 1000, **params}).json()[
        "alerts"
    ]
    return got


def name(device: str, metric: str = SOC) -> str:
    return f"device:{device}/{metric}"


LOW = {"name": "low-soc", "metric": SOC, "op": "<", "threshold": 20}


def test_for_duration_needs_breaching_readings_spanning_it(app_with: Callable[..., TestClient]) -> None:
    client = app_with({**LOW, "for": "5m"})
    send(client, "b1", (0, 15), (2, 15))
    assert alerts(client) == []
    send(client, "b1", (3, 50), (4, 12), (8, 12))  # the run restarted at minute 4: 4 minutes long
    assert alerts(client) == []
    send(client, "b1", (9, 11))
    (a,) = alerts(client)
    assert a["state"] == "firing"
    assert a["value"] == 11
    assert a["value_ts"] == (T0 + timedelta(minutes=9)).isoformat()


def test_for_duration_counts_a_run_across_commits(app_with: Callable[..., TestClient]) -> None:
    client = app_with({**LOW, "for": 300})
    send(client, "b1", (0, 19))
    send(client, "b1", (3, 18))
    assert alerts(client) == []
    send(client, "b1", (5, 17))
    assert len(alerts(client, state="firing")) == 1


def test_resolution_waits_for_the_clear_level(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = app_with({**LOW, "clear": 25})
    send(client, "b1", (0, 15))
    receiver.wait_for(firing(name("b1")))
    send(client, "b1", (1, 22))  # above the threshold, below the clear level: still firing
    assert [a["state"] for a in alerts(client)] == ["firing"]
    send(client, "b1", (2, 26))
    (a,) = alerts(client)
    assert a["state"] == "resolved"
    (done,) = receiver.wait_for(resolved(name("b1")))
    assert done["resolved_at"] == a["resolved_at"]


def test_cooldown_holds_back_a_second_alert_of_the_same_group(app_with: Callable[..., TestClient]) -> None:
    client = app_with({**LOW, "cooldown": "1h"})
    send(client, "b1", (0, 15))
    send(client, "b1", (1, 50))
    send(client, "b1", (2, 10))  # within the cooldown since it fired: no new alert
    (a,) = alerts(client)
    assert a["state"] == "resolved"
    send(client, "b2", (0, 10))  # another group is not cooling down
    assert sorted(x["series"][0] for x in alerts(client)) == [name("b1"), name("b2")]


def test_without_cooldown_a_group_fires_again_after_resolving(app_with: Callable[..., TestClient]) -> None:
    client = app_with(LOW)
    send(client, "b1", (0, 15))
    send(client, "b1", (1, 50))
    send(client, "b1", (2, 10))
    assert [a["state"] for a in alerts(client)] == ["firing", "resolved"]


def test_grouped_series_share_one_alert_until_all_recover(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = app_with({**LOW, "group_by": ["entity_kind", "metric"]})
    send(client, "b1", (0, 15))
    send(client, "b2", (0, 12))
    (a,) = alerts(client)
    assert a["series"] == [name("b1"), name("b2")]
    assert a["group"] == f"entity_kind=device,metric={SOC}"
    send(client, "b1", (1, 60))
    assert alerts(client)[0]["state"] == "firing"
    send(client, "b2", (1, 60))
    assert alerts(client)[0]["state"] == "resolved"
    receiver.wait_for(lambda b: b["status"] == "resolved")
    assert len(receiver.matching(lambda b: b["status"] == "firing")) == 1
    history = client.get(f"/api/v1/alerts/{a['alert_id']}").json()["history"]
    assert [h["event"] for h in history if h["event"] != "notified"] == ["fired", "series joined", "resolved"]


def test_a_call_returns_only_once_the_alerts_of_its_round_are_stored(
    app_with: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a busy machine: the engine thread is late, so a commit's rows and a caller's `call` land in
    # one round, and it is slow between evaluating the rows and queueing their alerts for storing;
    # the caller must still find the alert in the store once `call` returns
    client = app_with(LOW)
    e = engine(client)
    dispatch = e._dispatch

    def slow_dispatch(changes: Any) -> None:
        time.sleep(0.3)
        dispatch(changes)

    monkeypatch.setattr(e, "_dispatch", slow_dispatch)
    gate = threading.Event()
    e._queue.put(("call", lambda: gate.wait(10), Future()))  # holds the engine thread
    send(client, "b1", (0, 10))  # its rows queue behind the held round
    threading.Timer(0.2, gate.set).start()
    assert [a["series"] for a in alerts(client)] == [[name("b1")]]


def test_a_failing_evaluation_still_answers_the_calls_of_its_round(
    app_with: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_with(LOW)
    e = engine(client)

    def broken(rows: Any) -> Any:
        raise RuntimeError("a rule's bug")

    monkeypatch.setattr(e, "_evaluate_rows", broken)
    gate = threading.Event()
    e._queue.put(("call", lambda: gate.wait(10), Future()))  # holds the engine thread
    send(client, "b1", (0, 10))  # its rows land in the next round, with the call below
    threading.Timer(0.2, gate.set).start()
    started = time.monotonic()
    assert e.call(lambda: "answered", timeout=10) == "answered"
    assert time.monotonic() - started < 5
    assert e.call(lambda: "and the engine goes on", timeout=10) == "and the engine goes on"


def test_rate_of_change_rule_fires_on_a_fast_drop(app_with: Callable[..., TestClient]) -> None:
    client = app_with({"name": "fast-drain", "kind": "rate", "metric": SOC, "op": "<", "threshold": -60})
    send(client, "b1", (0, 80), (10, 75))  # -30 %/h
    assert alerts(client) == []
    send(client, "b1", (11, 70))  # -300 %/h
    (a,) = alerts(client)
    assert a["rule"] == "fast-drain"
    assert a["summary"] == f"rate of {SOC} < -60 per hour"


def test_no_data_rule_fires_on_a_silent_series_and_resolves_when_data_comes(
    app_with: Callable[..., TestClient],
) -> None:
    client = app_with({"name": "soc-silent", "kind": "nodata", "metric": SOC, "minutes": 30})
    now = datetime.now(UTC).replace(microsecond=0)
    send(client, "b1", (0, 50), at=now - timedelta(hours=2))
    send(client, "b2", (0, 50), at=now - timedelta(minutes=5))
    engine(client).evaluate_scheduled()
    (a,) = alerts(client)
    assert a["series"] == [name("b1")]
    send(client, "b1", (0, 51), at=now)
    engine(client).evaluate_scheduled()
    assert alerts(client)[0]["state"] == "resolved"


def test_acknowledged_alert_stays_open_until_it_resolves(app_with: Callable[..., TestClient]) -> None:
    client = app_with(LOW)
    send(client, "b1", (0, 15))
    (a,) = alerts(client)
    resp = client.post(f"/api/v1/alerts/{a['alert_id']}/ack", json={"by": "alice"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "acknowledged"
    assert [x["alert_id"] for x in alerts(client, state="open")] == [a["alert_id"]]
    send(client, "b1", (1, 60))
    (done,) = alerts(client)
    assert (done["state"], done["acknowledged_by"]) == ("resolved", "alice")
    again = client.post(f"/api/v1/alerts/{a['alert_id']}/ack", json={"by": "alice"})
    assert again.status_code == 400
    assert "resolved" in again.json()["error"]
    assert client.post("/api/v1/alerts/999/ack").status_code == 404


def test_silenced_alert_is_stored_but_not_notified(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = app_with(LOW, {"name": "other", "metric": "temperature_c", "op": ">", "threshold": 40})
    resp = client.post(
        "/api/v1/alerts/silences", json={"rule": "low-soc", "series": "device:b-*", "duration": "1h"}
    )
    assert resp.status_code == 201, resp.text
    send(client, "b-1", (0, 10))
    send(client, "x-1", (0, 10))  # outside the silence's series glob
    send(client, "b-1", (0, 45), metric="temperature_c")  # another rule: a marker that deliveries happen
    receiver.wait_for(lambda b: b["rule"] == "other")
    receiver.wait_for(firing(name("x-1")))
    by_series = {a["series"][0]: a for a in alerts(client)}
    assert by_series[name("b-1")]["state"] == "silenced"
    assert by_series[name("b-1")]["silence_id"] == resp.json()["silence_id"]
    assert by_series[name("x-1")]["state"] == "firing"
    assert not receiver.matching(lambda b: name("b-1") in b["series"])


def test_a_new_silence_quiets_open_alerts_it_matches(app_with: Callable[..., TestClient]) -> None:
    client = app_with(LOW)
    send(client, "b1", (0, 10))
    resp = client.post("/api/v1/alerts/silences", json={"rule": "low-*", "until": "2099-01-01T00:00:00Z"})
    assert [a["state"] for a in resp.json()["silenced"]] == ["silenced"]
    assert alerts(client)[0]["state"] == "silenced"
    active = client.get("/api/v1/alerts/silences", params={"active": True}).json()["silences"]
    assert [s["rule"] for s in active] == ["low-*"]


def test_webhook_is_retried_until_the_receiver_takes_it(make_client: Callable[..., TestClient]) -> None:
    with Receiver(fail_first=2) as flaky:
        client = make_client(
            alerts={"rules": [LOW], "notify": [f"webhook:{flaky.url}"], "backoff_ms": 10, "attempts": 4}
        )
        send(client, "b1", (0, 10))
        (body,) = flaky.wait_for(firing(name("b1")))
        assert body["value"] == 10
        assert flaky.posts == 3
        deadline = time.monotonic() + 10
        while (a := alerts(client)[0])["notifications_sent"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        history = client.get(f"/api/v1/alerts/{a['alert_id']}").json()["history"]
        assert [h["event"] for h in history] == ["fired", "notified"]


def test_resolved_never_overtakes_its_firing_while_that_is_retried(
    make_client: Callable[..., TestClient],
) -> None:
    # the firing notification fails twice (backoff 0.2 s, then 0.4 s); the alert resolves at once
    with Receiver(fail_first=2, fail_status="firing") as flaky:
        client = make_client(
            alerts={"rules": [LOW], "notify": [f"webhook:{flaky.url}"], "backoff_ms": 200, "attempts": 4}
        )
        send(client, "b1", (0, 10))
        send(client, "b1", (1, 60))
        flaky.wait_for(resolved(name("b1")))
        assert [b["status"] for b in flaky.bodies] == ["firing", "resolved"]
        assert flaky.posts == 4


def test_a_delivery_that_keeps_failing_is_recorded_in_the_history(
    make_client: Callable[..., TestClient],
) -> None:
    with Receiver(fail_first=100) as down:
        client = make_client(
            alerts={"rules": [LOW], "notify": [f"webhook:{down.url}"], "backoff_ms": 10, "attempts": 2}
        )
        send(client, "b1", (0, 10))
        deadline = time.monotonic() + 10
        events: list[str] = []
        while "notification failed" not in events and time.monotonic() < deadline:
            a = alerts(client)[0]
            events = [h["event"] for h in client.get(f"/api/v1/alerts/{a['alert_id']}").json()["history"]]
            time.sleep(0.02)
        assert events == ["fired", "notification failed"]
        assert down.posts == 2
        assert alerts(client)[0]["notifications_sent"] == 0


def test_rule_with_a_bad_field_is_refused_naming_rule_and_field(app_with: Callable[..., TestClient]) -> None:
    client = app_with()
    resp = client.post("/api/v1/alerts/rules", json={**LOW, "op": "=<"})
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("rule 'low-soc': op='=<' is not one of")
    resp = client.post("/api/v1/alerts/rules", json={**LOW, "notify": ["pager:x"]})
    assert resp.status_code == 400
    assert "notify target 'pager:x'" in resp.json()["error"]
    assert client.post("/api/v1/alerts/rules", json=LOW).status_code == 201
    assert client.post("/api/v1/alerts/rules", json=LOW).status_code == 400  # the name is taken


def test_api_rules_survive_a_restart_and_open_alerts_resolve_after_it(
    make_client: Callable[..., TestClient], receiver: Receiver
) -> None:
    target = [f"webhook:{receiver.url}"]
    first = make_client(alerts={"notify": target})
    assert first.post("/api/v1/alerts/rules", json=LOW).status_code == 201
    send(first, "b1", (0, 10))
    (a,) = alerts(first)
    first.__exit__(None, None, None)
    again = make_client(alerts={"notify": target})
    assert [r["name"] for r in again.get("/api/v1/alerts/rules").json()["rules"]] == ["low-soc"]
    send(again, "b1", (0, 10))  # a resend of what fired it: the alert is open already
    assert [x["alert_id"] for x in alerts(again)] == [a["alert_id"]]
    send(again, "b1", (1, 70))
    (done,) = alerts(again)
    assert (done["alert_id"], done["state"]) == (a["alert_id"], "resolved")


def test_anomaly_rule_fires_on_an_open_anomaly_and_resolves_when_it_is_dismissed(
    app_with: Callable[..., TestClient],
) -> None:
    from gridpulse.model import Anomaly, AnomalyStatus, Severity

    client = app_with({"name": "soc-anomaly", "kind": "anomaly", "metric": SOC, "min_severity": "warning"})
    send(client, "b1", (0, 50))
    send(client, "b2", (0, 50))
    store = engine(client).store
    ids = {s.key.entity_id: s.series_id for s in store.list_series()}
    found = [
        Anomaly(series_id=ids["b1"], start=T0, end=T0 + timedelta(minutes=15), kind="low", score=9.0,
                severity=Severity.CRITICAL, detector="zscore", model_version="test", value=3.0),
        Anomaly(series_id=ids["b2"], start=T0, end=T0 + timedelta(minutes=15), kind="low", score=3.0,
                severity=Severity.INFO, detector="zscore", model_version="test", value=40.0),
    ]  # fmt: skip
    store.write_anomalies(found)
    engine(client).evaluate_scheduled()
    (a,) = alerts(client)
    assert (a["series"], a["value"]) == ([name("b1")], 3.0)
    (stored,) = store.list_anomalies([ids["b1"]])
    assert stored.anomaly_id is not None
    store.set_anomaly_status(stored.anomaly_id, AnomalyStatus.DISMISSED)
    engine(client).evaluate_scheduled()
    assert alerts(client)[0]["state"] == "resolved"


def test_validation_rule_fires_on_a_failed_check_of_the_last_days(
    app_with: Callable[..., TestClient],
) -> None:
    from gridpulse.model import ValidationResult

    client = app_with({"name": "flat-soc", "kind": "validation", "metric": SOC, "check": "flat_line"})
    now = datetime.now(UTC)
    send(client, "b1", (0, 50), at=now - timedelta(hours=1))
    store = engine(client).store
    (sid,) = [s.series_id for s in store.list_series()]
    today = now.date()
    store.write_validation(
        [sid], today, today,
        [ValidationResult(series_id=sid, day=today, rule="flat_line", status="fail", count=12, checked_at=now)],
    )  # fmt: skip
    engine(client).evaluate_scheduled()
    (a,) = alerts(client)
    assert (a["rule"], a["series"], a["value"]) == ("flat-soc", [name("b1")], 12.0)
    assert a["summary"] == f"validation flat_line failed on {SOC}"
    store.write_validation(
        [sid], today, today,
        [ValidationResult(series_id=sid, day=today, rule="flat_line", status="pass", checked_at=now)],
    )  # fmt: skip
    engine(client).evaluate_scheduled()
    assert alerts(client)[0]["state"] == "resolved"

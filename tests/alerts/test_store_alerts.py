"""The alert tables of the DuckDB store: alerts replaced in place with their history appended,
filters, rules, silences, and a read-only store from before alerting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridpulse.errors import QueryError, StoreError
from gridpulse.store import open_store
from gridpulse.store.base import AlertRecord, SilenceRecord

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _alert(rule: str = "low-soc", **kw: object) -> AlertRecord:
    base = AlertRecord(rule=rule, kind="threshold", group_key="series=s", state="firing", severity="warning",
                       started_at=NOW, series=("device:b1/soc",), value=12.5, value_ts=NOW - timedelta(minutes=1),
                       labels={"alertname": rule})  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_alert_is_replaced_in_place_and_keeps_its_history(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    (a,) = store.save_alerts([_alert()], [[("fired", {"value": 12.5})]])
    assert a.alert_id == 1
    (b,) = store.save_alerts(
        [replace(a, state="resolved", resolved_at=NOW + timedelta(hours=1))], [[("resolved", {})]]
    )
    assert b.alert_id == a.alert_id
    (got,) = store.list_alerts()
    assert (got.alert_id, got.state, got.resolved_at, got.value_ts) == (
        1,
        "resolved",
        NOW + timedelta(hours=1),
        a.value_ts,
    )
    assert got.series == ("device:b1/soc",)
    assert [(h["event"], h["detail"]) for h in store.alert_history(1)] == [
        ("fired", {"value": 12.5}),
        ("resolved", {}),
    ]
    store.close()


def test_alerts_are_filtered_by_state_rule_and_id_newest_first(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    store.save_alerts([_alert("a"), _alert("b", state="acknowledged", started_at=NOW + timedelta(1)),
                       _alert("a", state="resolved", started_at=NOW + timedelta(2))])  # fmt: skip
    assert [a.rule for a in store.list_alerts()] == ["a", "b", "a"]
    assert [a.state for a in store.list_alerts(states=["firing", "acknowledged"])] == [
        "acknowledged",
        "firing",
    ]
    assert [a.state for a in store.list_alerts(rule="a")] == ["resolved", "firing"]
    assert [a.rule for a in store.list_alerts(alert_id=2)] == ["b"]
    assert len(store.list_alerts(limit=1)) == 1
    with pytest.raises(QueryError, match="state 'burning' is not one of"):
        store.list_alerts(states=["burning"])
    with pytest.raises(StoreError, match="has no zone offset"):
        store.save_alerts([_alert(started_at=datetime(2026, 1, 1))])
    store.close()


def test_rules_and_silences_are_stored(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    store.save_alert_rule("low-soc", {"name": "low-soc", "op": "<"})
    with pytest.raises(QueryError, match="exists already"):
        store.save_alert_rule("low-soc", {"name": "low-soc"})
    assert store.list_alert_rules() == [{"name": "low-soc", "op": "<"}]
    assert store.delete_alert_rule("low-soc") is True
    assert store.delete_alert_rule("low-soc") is False
    s = store.save_silence(
        SilenceRecord(
            rule="low-*", series="", starts_at=NOW, until=NOW + timedelta(hours=2), created_by="ops"
        )
    )
    assert s.silence_id == 1
    assert [x.silence_id for x in store.list_silences(active_at=NOW + timedelta(hours=1))] == [1]
    assert store.list_silences(active_at=NOW + timedelta(hours=3)) == []
    with pytest.raises(QueryError, match="is not after its start"):
        store.save_silence(SilenceRecord(rule="x", series="", starts_at=NOW, until=NOW))
    store.close()


def test_read_only_store_lists_alerts_and_refuses_writes(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 's.duckdb'}"
    store = open_store(url)
    store.save_alerts([_alert()])
    store.close()
    ro = open_store(url, read_only=True)
    assert [a.rule for a in ro.list_alerts()] == ["low-soc"]
    with pytest.raises(StoreError, match="read-only"):
        ro.save_alerts([_alert()])
    ro.close()

"""`gridpulse alerts list | ack | silence | rules`, on the store file while no server runs and
through the server while one does: the same JSON either way."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gridpulse.store import open_store
from gridpulse.store.base import AlertRecord
from tests.conftest import start_server
from tests.test_cli_forecast import failed, gridpulse, ok

NOW = datetime.now(UTC).replace(microsecond=0)
LOW = {"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<", "threshold": 20}


def _seed(data: Path) -> None:
    store = open_store(f"duckdb:///{(data / 'gridpulse.duckdb').resolve()}")
    base = AlertRecord(rule="low-soc", kind="threshold", group_key="series=device:b1/StateOfChargePercentage",
                       state="firing", severity="warning", started_at=NOW, series=("device:b1/StateOfChargePercentage",),
                       value=12.0, value_ts=NOW)  # fmt: skip
    store.save_alerts(
        [base, replace(base, state="resolved", started_at=NOW - timedelta(hours=1), resolved_at=NOW)]
    )
    store.save_alert_rule("hot", {"name": "hot", "metric": "temperature_c", "op": ">", "threshold": 45})
    store.close()


def test_alert_commands_on_the_store_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _seed(data)
    opened = json.loads(ok(gridpulse("alerts", "list", "-f", "json", cwd=tmp_path, data_dir=data)))["alerts"]
    assert [a["state"] for a in opened] == ["firing"]
    every = json.loads(
        ok(gridpulse("alerts", "list", "--state", "all", "-f", "json", cwd=tmp_path, data_dir=data))
    )
    assert [a["state"] for a in every["alerts"]] == ["firing", "resolved"]
    assert "low-soc" in ok(gridpulse("alerts", "list", cwd=tmp_path, data_dir=data))
    acked = json.loads(ok(gridpulse("alerts", "ack", str(opened[0]["alert_id"]), "--by", "bob", "-f", "json",
                                    cwd=tmp_path, data_dir=data)))  # fmt: skip
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "bob")
    assert "is resolved: only open alerts" in failed(
        gridpulse("alerts", "ack", "2", cwd=tmp_path, data_dir=data)
    )
    sil = json.loads(ok(gridpulse("alerts", "silence", "--rule", "low-soc", "--for", "2h", "-f", "json",
                                  cwd=tmp_path, data_dir=data)))  # fmt: skip
    assert sil["rule"] == "low-soc"
    assert datetime.fromisoformat(sil["until"]) - datetime.fromisoformat(sil["starts_at"]) == timedelta(
        hours=2
    )
    conf = tmp_path / "g.toml"
    conf.write_text(
        '[[alerts.rules]]\nname = "low-soc"\nmetric = "StateOfChargePercentage"\nop = "<"\nthreshold = 20\n'
    )
    rules = json.loads(
        ok(gridpulse("alerts", "rules", "-f", "json", "--config", str(conf), cwd=tmp_path, data_dir=data))
    )
    assert [(r["name"], r["source"]) for r in rules["rules"]] == [("hot", "api"), ("low-soc", "config")]


def test_alert_commands_through_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data, env={"GRIDPULSE_ALERTS_RULES": json.dumps([LOW])})
    try:
        row = {
            "recorded_at": NOW.isoformat(),
            "device_id": "b7",
            "metric_name": "StateOfChargePercentage",
            "value": 9,
        }
        assert httpx.post(srv.url + "/ingest/telemetry", json=[row]).status_code == 200
        alerts: list[dict[str, object]] = []
        for _ in range(200):
            alerts = json.loads(ok(gridpulse("alerts", "list", "-f", "json", cwd=tmp_path, data_dir=data)))[
                "alerts"
            ]
            if alerts:
                break
        (a,) = alerts
        assert a["series"] == ["device:b7/StateOfChargePercentage"]
        acked = json.loads(
            ok(gridpulse("alerts", "ack", str(a["alert_id"]), "-f", "json", cwd=tmp_path, data_dir=data))
        )
        assert acked["acknowledged_by"] == "cli"
        rules = json.loads(ok(gridpulse("alerts", "rules", "-f", "json", cwd=tmp_path, data_dir=data)))[
            "rules"
        ]
        assert [r["source"] for r in rules] == ["config"]
    finally:
        srv.stop()


def test_rules_on_the_store_file_list_the_builtin_source_rule_with_its_condition(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _seed(data)
    conf = tmp_path / "g.toml"
    conf.write_text(
        """
[jobs]
failure_alert_after = 3

[[sources]]
name = "grid-load"
type = "http"
url = "http://127.0.0.1:9/feed.csv"
[sources.mapping]
time_column = "Datetime"
entity = "fr"
metric = "load_mw"
value_column = "Consommation"
"""
    )
    args = ("alerts", "rules", "--config", str(conf))
    rules = json.loads(ok(gridpulse(*args, "-f", "json", cwd=tmp_path, data_dir=data)))["rules"]
    assert [(r["name"], r["source"]) for r in rules] == [("hot", "api"), ("source-failing", "builtin")]
    table = ok(gridpulse(*args, cwd=tmp_path, data_dir=data))
    # every kind has its condition in words, not only threshold rules
    assert "temperature_c > 45" in table
    assert "a source failed" in table

"""deploy/prometheus: the shipped config and rules pass promtool (check and the unit tests), read only
contract metrics, and a real Prometheus (Debian's) scrapes a live gridpulse server with them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.conftest import LiveServer
from tests.deploy.programs import DEPLOY, free_port, program, running, wait_until
from tests.deploy.promql import CONTRACT_SERIES, PROMETHEUS_SERIES, metric_names

PROM = DEPLOY / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULES = PROM / "gridpulse.rules.yml"
RULE_TESTS = PROM / "gridpulse.rules.test.yml"


def promtool(*args: str) -> str:
    binary = program("promtool", "prometheus")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=PROM, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_shipped_config_and_its_rules_file() -> None:
    out = promtool("check", "config", CONFIG.name)
    assert "SUCCESS" in out and RULES.name in out


def test_promtool_accepts_the_shipped_rules() -> None:
    out = promtool("check", "rules", RULES.name)
    assert f"SUCCESS: {len(_rules())} rules found" in out


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", RULE_TESTS.name)


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet"
    recorded = {r["record"] for r in _rules() if "record" in r}
    tested = {
        e["expr"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for e in test.get("promql_expr_test", [])
    }
    assert recorded - tested == set(), "recording rules without a unit test"


def test_rules_read_only_contract_metrics() -> None:
    recorded = {r["record"] for r in _rules() if "record" in r}
    for rule in _rules():
        unknown = metric_names(rule["expr"]) - CONTRACT_SERIES - PROMETHEUS_SERIES - recorded
        assert unknown == set(), (
            f"{rule.get('alert') or rule.get('record')} reads {unknown}, not in the contract"
        )


def test_metric_names_finds_selectors_and_skips_functions_labels_and_durations() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{status=~"5..", le!="x"}[$__rate_interval])))'
        " / on (job) group_left (instance) b_total offset 1h > 15 * 60 and time() - c:d:rate5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c:d:rate5m"}


def _scrape_config(target: str, data: Path) -> Path:
    """The shipped config with the live server as target, a 1 s scrape, the shipped rules, no Alertmanager."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROM / name) for name in config["rule_files"]]
    config.pop("alerting")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "gridpulse"
    job["static_configs"] = [{"targets": [target]}]
    path = data / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _query(api: str, promql: str) -> list[dict[str, Any]]:
    body = httpx.get(api + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@pytest.mark.e2e
def test_prometheus_scrapes_a_live_server_and_evaluates_the_rules(
    live_server: LiveServer, tmp_path: Path
) -> None:
    binary = program("prometheus", "prometheus")
    target = urlsplit(live_server.url).netloc
    config = _scrape_config(target, tmp_path)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    run = httpx.post(live_server.url + "/api/v1/jobs/rollups/run", timeout=60)  # a job metric to find
    assert run.status_code == 200, run.text
    rows = (
        b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}\n'
        b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.1}\n'
    )
    posted = httpx.post(live_server.url + "/ingest/meter_usage/ndjson", content=rows, timeout=60)
    assert posted.status_code == 200, posted.text
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(cmd, log, cwd=tmp_path) as proc:

        def ready() -> bool:
            try:
                return httpx.get(api + "/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "prometheus ready", proc=proc, log=log)
        wait_until(
            lambda: [r["value"][1] for r in _query(api, 'up{job="gridpulse"}')] == ["1"],
            'up{job="gridpulse"} == 1',
            proc=proc,
            log=log,
        )
        # gridpulse's own `job` label arrives as exported_job, as the rules and dashboard expect
        selector = 'gridpulse_job_runs_total{job="gridpulse", exported_job="rollups", status="ok"}'
        wait_until(lambda: bool(_query(api, selector)), selector, proc=proc, log=log)
        (sample,) = _query(api, selector)
        assert sample["metric"]["instance"] == target
        assert float(sample["value"][1]) >= 1
        (build,) = _query(api, 'gridpulse_build_info{job="gridpulse"}')  # the dashboard's instance list
        assert build["metric"]["instance"] == target and build["metric"]["version"]
        (ingested,) = _query(api, 'gridpulse_ingest_rows_total{job="gridpulse", route="ndjson"}')
        assert ingested["value"][1] == "2"
        # the recording rules run on it (a rate of 0: the counter does not move between scrapes)
        recorded = 'instance_route:gridpulse_ingest_rows:rate5m{job="gridpulse", route="ndjson"}'
        wait_until(lambda: bool(_query(api, recorded)), recorded, proc=proc, log=log)

        def rules() -> list[dict[str, Any]]:
            groups = httpx.get(api + "/api/v1/rules", timeout=10).json()["data"]["groups"]
            return [rule for group in groups for rule in group["rules"]]

        # every shipped rule was evaluated on the real data without an error
        wait_until(
            lambda: len(rules()) == len(_rules()) and all(r["health"] != "unknown" for r in rules()),
            "every rule evaluated",
            proc=proc,
            log=log,
        )
        assert {r["name"]: r["health"] for r in rules()} == {
            r.get("alert") or r["record"]: "ok" for r in _rules()
        }
        # a healthy server with no sources raises none of them
        assert {r["name"]: r["state"] for r in rules() if r["type"] == "alerting"} == {
            r["alert"]: "inactive" for r in _rules() if "alert" in r
        }

"""deploy/grafana: the dashboards are Grafana dashboard JSON whose queries read only contract metrics,
and the provisioning files load them from the folder the docs install them in, on the provisioned
Prometheus datasource. (Grafana is not a Debian package: nothing here runs it.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.deploy.programs import DEPLOY
from tests.deploy.promql import CONTRACT_SERIES, COUNTERS, GAUGES, HISTOGRAMS, PROMETHEUS_SERIES, metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "gridpulse.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "gridpulse.yml"
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*[a-zA-Z_]\w*\s*\)\s*$", re.S)


def _load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def _datasource_uid() -> str:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uid: str = source["uid"]
    return uid


def _queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL text of a dashboard: panel targets and query variables (label_values' selector)."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = LABEL_VALUES.match(query)
            exprs.append(match["expr"] if match else query)
    return exprs


def test_there_is_an_overview_dashboard() -> None:
    assert GRAFANA / "dashboards" / "gridpulse-overview.json" in DASHBOARDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_grafana_dashboard_json(path: Path) -> None:
    d = _load(path)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]), "Grafana uids are at most 40 of [A-Za-z0-9_-]"
    assert isinstance(d["title"], str) and d["title"]
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert "id" not in d or d["id"] is None, "a provisioned dashboard carries no database id"
    panels = d["panels"]
    assert panels
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "hwxy") and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] == "row":
            assert not p.get("targets")
            continue
        assert p["title"] and p["targets"], p
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
        assert all(t["expr"].strip() for t in p["targets"]), p["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_read_only_contract_metrics(path: Path) -> None:
    for expr in _queries(_load(path)):
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert names - CONTRACT_SERIES - PROMETHEUS_SERIES == set(), (
            f"{expr!r} reads a metric outside the contract"
        )


def test_dashboards_show_every_contract_metric() -> None:
    used = {name for path in DASHBOARDS for expr in _queries(_load(path)) for name in metric_names(expr)}
    families = {c: {f"{c}_total"} for c in COUNTERS} | {g: {g} for g in GAUGES}
    families |= {h: {f"{h}_bucket", f"{h}_count", f"{h}_sum"} for h in HISTOGRAMS}
    assert sorted(f for f, series in families.items() if not series & used) == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_go_to_the_provisioned_datasource(path: Path) -> None:
    d = _load(path)
    (var,) = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    assert var["query"] == "prometheus"
    assert var["current"]["value"] == _datasource_uid()
    ref = {"type": "prometheus", "uid": "${" + var["name"] + "}"}
    for p in d["panels"]:
        if p["type"] != "row":
            assert p["datasource"] == ref and all(t["datasource"] == ref for t in p["targets"]), p["title"]


def test_dashboard_uids_are_unique() -> None:
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_datasource_provisioning_is_a_prometheus_datasource() -> None:
    doc = yaml.safe_load(DATASOURCES.read_text())
    assert doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"].startswith("http")
    # $__rate_interval is computed from it: the scrape interval of the shipped Prometheus config
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_dashboard_provider_loads_the_folder_the_docs_install_the_dashboards_in() -> None:
    doc = yaml.safe_load(PROVIDERS.read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert path.startswith("/")
    docs = (REPO / "docs" / "deploy.md").read_text()
    # the install command in the docs copies deploy/grafana/dashboards/*.json into that folder
    assert f"deploy/grafana/dashboards/*.json {path}" in docs

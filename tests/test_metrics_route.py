"""GET /metrics: the registry of gridpulse.metrics in Prometheus' text format, behind the read scope."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_a_job_run_in_prometheus_text(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    before = _samples(client.get("/metrics").text)
    run = client.post("/api/v1/jobs/rollups/run")  # the rollup refresh: a job of every server
    assert run.status_code == 200, run.text
    job = run.json()["run"]["job"]
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    after = _samples(resp.text)
    key = ("gridpulse_job_runs_total", (("job", job), ("status", "ok")))
    assert after[key] == before.get(key, 0.0) + 1, sorted(k for k in after if k[0].startswith("gridpulse_job"))


def test_metrics_need_a_read_token_when_tokens_are_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": {"r3ad": "read", "w": "write"}})
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"authorization": "Bearer w"}).status_code == 403
    ok = client.get("/metrics", headers={"authorization": "Bearer r3ad"})
    assert ok.status_code == 200 and "gridpulse_job_runs" in ok.text

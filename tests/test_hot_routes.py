"""The hot routes (api/hot_routes.py): GET /api/v1/analytics/{name} and GET /api/v1/latest served
by plain Starlette routes ahead of FastAPI's, answering exactly as the FastAPI routes do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from gridpulse.api.app import create_app
from gridpulse.api.hot_routes import HOT_ENDPOINTS
from gridpulse.config import load_settings
from gridpulse.demo import generate_fleet
from gridpulse.metrics import REGISTRY
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest

END = datetime(2024, 10, 30, tzinfo=UTC)

#: (path, params): answers and refusals of both endpoints, each format
REQUESTS: list[tuple[str, dict[str, str | list[str]]]] = [
    ("/api/v1/analytics/energy", {"kind": "meter", "metric": "kwh", "period": "day", "tz": "Europe/Amsterdam"}),
    ("/api/v1/analytics/energy", {"kind": "meter", "metric": "kwh", "format": "arrow"}),
    ("/api/v1/analytics/energy", {"kind": "meter", "metric": "kwh", "format": "csv"}),
    ("/api/v1/analytics/energy", {"entity": "m-01", "explain": "TRUE"}),
    (
        "/api/v1/analytics/peak-demand",
        {"kind": "meter", "metric": "kwh", "window": "15min", "period": "day", "top": "3", "format": "arrow",
         "explain": "on"},
    ),
    ("/api/v1/analytics/energy", {"kind": "meter", "explain": "maybe"}),
    ("/api/v1/analytics/energy", {"kind": "meter", "format": "xml"}),
    ("/api/v1/analytics/energy", {"kind": "meter", "format": "csv", "explain": "1"}),
    ("/api/v1/analytics/energy", {"kind": ["meter", "device"]}),
    ("/api/v1/analytics/no-such-analysis", {}),
    ("/api/v1/latest", {}),
    ("/api/v1/latest", {"kind": "meter", "tz": "Europe/Amsterdam"}),
    ("/api/v1/latest", {"entity": "meter:m-01"}),
    ("/api/v1/latest", {"kind": "meter", "format": "arrow"}),
    ("/api/v1/latest", {"tag": ["site:nowhere"]}),
    ("/api/v1/latest", {"tag": ["no-separator"]}),
    ("/api/v1/latest", {"tz": "Mars/Olympus"}),
    ("/api/v1/latest", {"format": "parquet"}),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("hot")
    s = open_store(f"duckdb:///{root / 'store.duckdb'}")
    ds = generate_fleet(end=END, days=3)
    s.write_group([WriteRequest(ds.batches, ds.meta_for)])
    yield s
    s.close()


def _client(store: Store, root: Path, *, hot: bool) -> TestClient:
    settings = load_settings(env={}).replace(
        store={"data_dir": str(root / "data")}, demo={"datasets_dir": str(root / "no-datasets")}
    )
    app = create_app(settings, store)
    if not hot:
        app.router.routes[:] = [r for r in app.router.routes if not _hot(r)]
    return TestClient(app)


def _hot(route: object) -> bool:
    """A hot route: the FastAPI routes of the same paths have endpoints of their own."""
    return getattr(route, "endpoint", None) in HOT_ENDPOINTS.values()


def test_the_hot_routes_come_first_and_answer_as_the_fastapi_routes(store: Store, tmp_path: Path) -> None:
    with _client(store, tmp_path, hot=True) as hot, _client(store, tmp_path, hot=False) as plain:
        assert [_hot(r) for r in hot.app.router.routes[:2]] == [True, True]  # type: ignore[attr-defined]
        assert not any(_hot(r) for r in plain.app.router.routes)  # type: ignore[attr-defined]
        statuses = set()
        for path, params in REQUESTS:
            a, b = hot.get(path, params=params), plain.get(path, params=params)
            assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"]), path
            if a.headers["content-type"] == "application/vnd.apache.arrow.stream":
                assert pa.ipc.open_stream(a.content).read_all().equals(
                    pa.ipc.open_stream(b.content).read_all(), check_metadata=True
                ), (path, params)
            else:
                assert a.content == b.content, (path, params, a.text[:300])
            statuses.add(a.status_code)
        assert statuses == {200, 400, 404}  # the list holds answers and both kinds of refusal


def test_refusals_name_the_parameter(store: Store, tmp_path: Path) -> None:
    with _client(store, tmp_path, hot=True) as client:
        r = client.get("/api/v1/analytics/energy", params={"kind": "meter", "explain": "maybe"})
        assert (r.status_code, r.json()["error"]) == (400, "explain='maybe' is not true or false")
        r = client.get("/api/v1/latest", params={"format": "parquet"})
        assert (r.status_code, r.json()["error"]) == (400, "format='parquet' is not one of json, arrow")


def test_the_fastapi_routes_still_document_the_parameters(store: Store, tmp_path: Path) -> None:
    with _client(store, tmp_path, hot=True) as client:
        paths = client.get("/openapi.json").json()["paths"]
    analysis = {p["name"]: p for p in paths["/api/v1/analytics/{name}"]["get"]["parameters"]}
    assert analysis.keys() == {"name", "explain", "format"}
    assert analysis["explain"]["schema"] == {"type": "boolean", "default": False}
    latest = {p["name"]: p for p in paths["/api/v1/latest"]["get"]["parameters"]}
    assert latest.keys() == {"kind", "entity", "metric", "tag", "tz", "format"}
    assert latest["tag"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert all(p["in"] == "query" and p["description"] for name, p in latest.items())


def _served(route: str) -> float:
    """GET requests answered 200 on `route`, as the HTTP latency metric counts them."""
    labels = {"method": "GET", "route": route, "status": "200"}
    return REGISTRY.get_sample_value("gridpulse_http_request_duration_seconds_count", labels) or 0.0


def test_the_latency_metric_labels_hot_routes_by_their_template(store: Store, tmp_path: Path) -> None:
    routes = ("/api/v1/analytics/{name}", "/api/v1/latest", "unmatched")
    before = {r: _served(r) for r in routes}
    with _client(store, tmp_path, hot=True) as client:
        assert client.get("/api/v1/analytics/energy", params={"kind": "meter"}).status_code == 200
        assert client.get("/api/v1/latest").status_code == 200
    assert {r: _served(r) - before[r] for r in routes} == {routes[0]: 1, routes[1]: 1, "unmatched": 0}

"""Liveness, readiness and the landing page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from gridpulse import __version__
from gridpulse.api.deps import state
from gridpulse.api.responses import JSON

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> JSON:
    return JSON({"status": "ok", "version": __version__})


@router.get("/readyz", summary="The store answers and the writer runs")
def readyz(request: Request) -> JSON:
    st = state(request)
    st.store.get_meta("schema")
    return JSON({"status": "ready", "demo": st.demo_status})


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>gridpulse</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
code,pre{{background:#f3f3f3;padding:.1rem .3rem}}pre{{padding:.6rem;overflow:auto}}</style></head>
<body><h1>gridpulse {version}</h1>
<p>Interval data for utilities: ingest, revisions, queries in your time zone.</p>
<ul><li><a href="/docs">API reference (OpenAPI)</a></li>
<li><a href="/api/v1/series">Series catalogue</a></li>
<li><a href="/api/v1/latest">Latest value per series</a></li>
<li><a href="/api/v1/status">Store status</a> (demo data: {demo})</li></ul>
<h2>Post readings</h2><pre>curl -sS -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- \\
  {base}/ingest/meter_usage/ndjson &lt;&lt;'EOF'
{{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}}
EOF</pre>
<h2>Read them back</h2><pre>curl -sS '{base}/api/v1/readings?entity=m-1&amp;metric=kwh&amp;tz=Europe/Amsterdam'</pre>
</body></html>"""


@router.get("/", include_in_schema=False)
def index(request: Request) -> HTMLResponse:
    base = str(request.base_url).rstrip("/")
    return HTMLResponse(_PAGE.format(version=__version__, demo=state(request).demo_status, base=base))

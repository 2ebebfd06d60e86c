"""The read endpoints that programs and dashboards call most, served by plain Starlette routes
placed ahead of FastAPI's: GET /api/v1/analytics/{name} and GET /api/v1/latest.

Why: measured on a request that arrives after a pause (a dashboard's refresh or a script's
call, not a warm loop), FastAPI's route matching and request handling cost about 0.4 ms. A
peak-demand answer took 5.5 ms in all. These routes call the same functions as the FastAPI
routes, which stay declared: /docs and /openapi.json describe the endpoints from those, and an
app without these routes answers the same way (tests/test_hot_routes.py checks both).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route

from gridpulse.api.routes.analytics import serve_analysis
from gridpulse.api.routes.series import serve_latest

__all__ = ["HOT_ENDPOINTS", "install_hot_routes"]

#: the functions the hot routes call, by path
HOT_ENDPOINTS = {"/api/v1/analytics/{name}": serve_analysis, "/api/v1/latest": serve_latest}


def install_hot_routes(app: FastAPI) -> None:
    """Put the hot routes first in `app`'s routes. Their functions are sync: Starlette runs them
    in its worker threads, as FastAPI would, so store reads never block the event loop. The
    latency metric finds their path templates as for any plain route (api/observe.py)."""
    app.router.routes[0:0] = [Route(path, endpoint, methods=["GET"]) for path, endpoint in HOT_ENDPOINTS.items()]

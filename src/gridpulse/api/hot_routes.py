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
from starlette.types import Receive, Scope, Send

from gridpulse.api.routes.analytics import serve_analysis
from gridpulse.api.routes.series import serve_latest

__all__ = ["HotRoute", "install_hot_routes"]


class HotRoute(Route):
    """A Starlette route that sets scope["route"] itself, as FastAPI's router does only for its
    own routes: the HTTP latency metric labels requests by that route's path template without
    looking for it again (api/observe.py `route_template`)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


def install_hot_routes(app: FastAPI) -> None:
    """Put the hot routes first in `app`'s routes. Their functions are sync: Starlette runs them
    in its worker threads, as FastAPI would, so store reads never block the event loop."""
    app.router.routes[0:0] = [
        HotRoute("/api/v1/analytics/{name}", serve_analysis, methods=["GET"]),
        HotRoute("/api/v1/latest", serve_latest, methods=["GET"]),
    ]

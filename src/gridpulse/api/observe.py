"""The middleware that observes every HTTP request: its id, its latency and one access-log line.

A pure ASGI middleware (Starlette's BaseHTTPMiddleware runs the app in a second task and costs
throughput). Per request it:
- takes the id from an incoming `X-Request-ID` header when it is sane (1-128 characters of
  letters, digits and `._:/+=@-`: it ends up in logs), else makes one (32 hex digits), sets
  gridpulse.logs.REQUEST_ID for everything the request runs, and returns it in `X-Request-ID`;
- observes gridpulse_http_request_duration_seconds{method, route, status}, where route is the
  matched route's path template (`/api/v1/series/{series_id}`, a mount's prefix such as
  `/static`), or `unmatched`, so the number of series stays bounded whatever paths clients try;
- logs one line on `gridpulse.access`: method, route, path (never the query string: Influx
  clients may send their token in it), status, duration_ms and the request id.

The duration runs until the app returned, i.e. the last byte of the response was handed to the
server. A request whose handler raised counts as status 500; when nothing was sent yet, the
middleware answers the 500 itself so that it carries the id too, then lets the exception go on
to the server, which logs its traceback (with the id).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridpulse.logs import REQUEST_ID
from gridpulse.metrics import HTTP_REQUEST_SECONDS

__all__ = ["REQUEST_ID_HEADER", "ObserveMiddleware"]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()
_SANE_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
# any other method is counted as "other": a client must not be able to mint label values
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("gridpulse.access")


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID when sane, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            if _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


def route_template(scope: Scope, path: str | None = None, root_path: str = "") -> str:
    """The path template of the route that handled the request, or "unmatched".

    FastAPI's router names only its own routes in scope["route"]; a plain Starlette route or a
    mount (/openapi.json, /docs, /static) is found again among the router's routes from `path`
    and `root_path`, the request's as it came in (a mount rewrites the scope's). A request
    refused before routing (no scope["router"]) stays "unmatched"."""
    found = getattr(scope.get("route"), "path", None)
    if found is None and path is not None and "router" in scope:
        probe: Scope = {"type": "http", "path": path, "root_path": root_path, "method": scope.get("method", "GET")}
        partial = None  # the path matched but not the method (a 405), as the router picks it
        for route in getattr(scope["router"], "routes", ()):
            match = route.matches(dict(probe))[0]
            if match is Match.FULL:
                found = getattr(route, "path", None)
                break
            if match is Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        found = found if found is not None else partial
    return found if isinstance(found, str) and found else "unmatched"


async def _internal_error(send: Send, request_id: str) -> None:
    body = orjson.dumps(
        {"error": f"internal server error: the server's log has the details under request id {request_id}"}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ObserveMiddleware:
    """See the module docstring; `app.add_middleware(ObserveMiddleware)`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        path_in, root_path_in = scope.get("path"), scope.get("root_path", "")
        header = (_HEADER_KEY, request_id.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            failed = True
            if not status:  # nothing sent yet: the 500 carries the id (Starlette then sends nothing more)
                with contextlib.suppress(Exception):  # the client may be gone; the original error matters
                    await _internal_error(send_with_id, request_id)
            raise
        finally:
            status = status or 500
            seconds = time.perf_counter() - start
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = route_template(scope, path_in, root_path_in)
            HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                duration_ms = round(seconds * 1000, 3)
                path = scope.get("path", "")
                access_log.info(
                    "%s %s %d %.1f ms",
                    method,
                    path,
                    status,
                    duration_ms,
                    extra={"method": method, "route": route, "path": path, "status": status,
                           "duration_ms": duration_ms},
                )  # fmt: skip
            # after a failure the id stays set: the server logs the traceback in this same context
            # (a task of its own per request), so that line carries the id too
            if not failed:
                REQUEST_ID.reset(token)

"""Error class -> HTTP status, in one table, and the JSON body every error gets."""

from __future__ import annotations

from fastapi import FastAPI, Request

from gridpulse.api.responses import JSON
from gridpulse.errors import (
    AuthError,
    ConfigError,
    ForbiddenError,
    GridpulseError,
    IngestError,
    NotFound,
    PayloadTooLarge,
    QueryError,
    StoreUnavailable,
)

__all__ = ["STATUS", "error_body", "install_error_handlers", "status_for"]

#: Most specific class first.
STATUS: list[tuple[type[GridpulseError], int]] = [
    (PayloadTooLarge, 413),
    (IngestError, 400),
    (ForbiddenError, 403),
    (AuthError, 401),
    (NotFound, 404),
    (QueryError, 400),
    (ConfigError, 400),
    (StoreUnavailable, 503),
    (GridpulseError, 500),
]


def status_for(exc: GridpulseError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def error_body(exc: GridpulseError) -> dict[str, object]:
    body: dict[str, object] = {"error": str(exc)}
    if isinstance(exc, IngestError) and not isinstance(exc, PayloadTooLarge):
        body["error_count"] = exc.error_count
        body["errors"] = [e.as_dict() for e in exc.errors]
        body["stored"] = 0
    return body


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSON:
        assert isinstance(exc, GridpulseError)
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if isinstance(exc, AuthError) and not isinstance(exc, ForbiddenError)
            else None
        )
        return JSON(error_body(exc), status_code=status_for(exc), headers=headers)

    app.add_exception_handler(GridpulseError, handle)

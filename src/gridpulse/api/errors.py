"""Error class -> HTTP status, in one table, and the JSON body every error gets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

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

__all__ = ["STATUS", "error_body", "install_error_handlers", "status_for", "validation_message"]

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


def _one_problem(err: Mapping[str, Any]) -> str:
    """`on_error='ignore': should be 'reject' or 'skip'` from one of FastAPI's validation errors."""
    loc = [str(part) for part in err.get("loc", ())]
    # the first part says where (query, path, header, body); the rest names the parameter
    name = ".".join(loc[1:]) or (loc[0] if loc else "request")
    if err.get("type") == "missing":
        return f"{name} is required"
    reason = str(err.get("msg", "is not valid"))
    reason = reason.removeprefix("Input ")
    if "input" not in err:
        return f"{name}: {reason}"
    return f"{name}={err['input']!r}: {reason}"


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line naming each parameter FastAPI refused, its value and what it accepts."""
    return "; ".join(_one_problem(e) for e in errors) or "the request is not valid"


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSON:
        assert isinstance(exc, GridpulseError)
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if isinstance(exc, AuthError) and not isinstance(exc, ForbiddenError)
            else None
        )
        return JSON(error_body(exc), status_code=status_for(exc), headers=headers)

    async def handle_validation(request: Request, exc: Exception) -> JSON:
        # parameters FastAPI checks itself (enums, ints) get the same 400 and body as ours
        assert isinstance(exc, RequestValidationError)
        return JSON({"error": validation_message(exc.errors())}, status_code=400)

    app.add_exception_handler(GridpulseError, handle)
    app.add_exception_handler(RequestValidationError, handle_validation)

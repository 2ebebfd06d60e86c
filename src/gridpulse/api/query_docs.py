"""OpenAPI entries for the query parameters of a route that reads them from the request itself
(api/hot_routes.py serves such routes without FastAPI's parameter handling)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["QueryDoc", "query_params"]


@dataclass(frozen=True)
class QueryDoc:
    """One optional query parameter: its name, what it does, its JSON schema type and default;
    `repeatable` for one given several times (?tag=a:b&tag=c:d)."""

    name: str
    description: str
    kind: str = "string"
    default: object = None
    repeatable: bool = False


def query_params(*docs: QueryDoc) -> dict[str, Any]:
    """The route's `openapi_extra`: FastAPI appends these to the parameters it documents itself."""
    parameters: list[dict[str, Any]] = []
    for doc in docs:
        schema: dict[str, Any] = (
            {"type": "array", "items": {"type": doc.kind}} if doc.repeatable else {"type": doc.kind}
        )
        if doc.default is not None:
            schema["default"] = doc.default
        parameters.append(
            {"name": doc.name, "in": "query", "required": False, "description": doc.description, "schema": schema}
        )
    return {"parameters": parameters}

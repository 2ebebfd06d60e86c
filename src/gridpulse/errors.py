"""Every error gridpulse raises on purpose, one tree under GridpulseError.

    GridpulseError
    ├── ConfigError            a setting is missing or malformed (names key and value)
    ├── IngestError            input rejected (names line, field and reason)
    │   └── PayloadTooLarge    the body is over the configured limit
    ├── AuthError              no or unknown bearer token
    │   └── ForbiddenError     a valid token without the scope the route needs
    ├── StoreError             the store failed
    │   ├── StoreUnavailable   cannot be opened or reached (locked, down)
    │   └── SchemaMismatch     the file is from a newer gridpulse
    ├── QueryError             a query asks for something impossible or unknown
    │   └── NotFound           the series or entity does not exist
    └── ServerUnreachable      the CLI found a server record but could not talk to it

Messages name the thing and the fix. The API maps classes to HTTP status in one table
(`gridpulse.api.errors`); the CLI turns any of them into one line and exit code 1.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ForbiddenError",
    "GridpulseError",
    "IngestError",
    "NotFound",
    "PayloadTooLarge",
    "QueryError",
    "RowError",
    "SchemaMismatch",
    "ServerUnreachable",
    "StoreError",
    "StoreUnavailable",
]


class GridpulseError(Exception):
    """Base of every deliberate gridpulse error."""


class ConfigError(GridpulseError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class RowError:
    """One rejected input row: where it is and why.

    Attributes:
        line: 1-based line of the body where the row starts.
        record: 1-based index of the record in the body (equals `line` for NDJSON without blanks).
        field: the offending field, or None when the whole row is unreadable.
        reason: what is wrong and what would be accepted.
    """

    line: int
    record: int
    field: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "record": self.record, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.reason}"


class IngestError(GridpulseError):
    """Input was rejected; `errors` lists the rows (first ones) and `error_count` all of them."""

    def __init__(self, errors: list[RowError], error_count: int | None = None) -> None:
        self.errors = errors
        self.error_count = error_count if error_count is not None else len(errors)
        first = str(errors[0]) if errors else "input rejected"
        more = f" (and {self.error_count - 1} more)" if self.error_count > 1 else ""
        super().__init__(first + more)


class PayloadTooLarge(IngestError):
    """The request body exceeds `server.max_body_bytes`."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        GridpulseError.__init__(
            self,
            f"request body is over the limit of {limit_bytes} bytes (server.max_body_bytes): "
            "split it into smaller requests",
        )
        self.errors = []
        self.error_count = 0


class AuthError(GridpulseError):
    """No bearer token, or one that is not configured."""


class ForbiddenError(AuthError):
    """A configured token without the scope this route needs."""


class StoreError(GridpulseError):
    """The store failed to do what was asked."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or reached."""


class SchemaMismatch(StoreError):
    """The store's schema is newer than this gridpulse understands."""


class QueryError(GridpulseError):
    """A query asks for something impossible or malformed."""


class NotFound(QueryError):
    """The named series or entity does not exist."""


class ServerUnreachable(GridpulseError):
    """A server record exists but the server does not answer."""

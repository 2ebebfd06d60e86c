"""Optional bearer tokens with scopes: read, write, or write:<route>.

With no tokens configured every route is open (and the server refuses to bind beyond loopback).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from gridpulse.config import Settings
from gridpulse.errors import AuthError, ForbiddenError

__all__ = ["TokenCheck"]


class TokenCheck:
    """Checks `Authorization: Bearer <token>` against the configured tokens and their scopes."""

    def __init__(self, settings: Settings) -> None:
        self.tokens = {
            tok: frozenset(s.strip() for s in scopes.split(",") if s.strip())
            for tok, scopes in settings.auth.tokens.items()
        }

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def check(self, request: Request, scope: str) -> None:
        """Raise AuthError without a known token, ForbiddenError without `scope`."""
        if not self.tokens:
            return
        header = request.headers.get("authorization", "")
        kind, _, given = header.partition(" ")
        if kind.lower() != "bearer" or not given.strip():
            raise AuthError("this route needs a bearer token: send 'Authorization: Bearer <token>'")
        scopes = next(
            (
                s
                for tok, s in self.tokens.items()
                if hmac.compare_digest(tok.encode(), given.strip().encode())
            ),
            None,
        )
        if scopes is None:
            raise AuthError("the bearer token is not one this server knows")
        if scope in scopes or (scope.startswith("write:") and "write" in scopes):
            return
        raise ForbiddenError(f"the bearer token lacks the scope {scope!r} this route needs")

    def dependency(self, scope: str | Callable[[Request], str]) -> Callable[[Request], None]:
        """A FastAPI dependency requiring `scope` (or a scope computed from the request)."""

        def dep(request: Request) -> None:
            self.check(request, scope(request) if callable(scope) else scope)

        return dep

"""Optional bearer tokens with scopes: read, write, or write:<route>.

With no tokens configured every route is open (and the server refuses to bind beyond loopback).
"""

from __future__ import annotations

import hmac

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
        self.check_token(given.strip(), scope, noun="bearer token")

    def check_token(self, token: str, scope: str, *, noun: str = "token") -> None:
        """Raise AuthError for an unknown token, ForbiddenError when it lacks `scope`."""
        scopes = next(
            (s for tok, s in self.tokens.items() if hmac.compare_digest(tok.encode(), token.encode())),
            None,
        )
        if scopes is None:
            raise AuthError(f"the {noun} is not one this server knows")
        if scope in scopes or (scope.startswith("write:") and "write" in scopes):
            return
        raise ForbiddenError(f"the {noun} lacks the scope {scope!r} this route needs")

"""Optional bearer tokens with scopes: read, write, or write:<route>.

With no tokens configured every route is open to this machine only: the server refuses to bind
beyond loopback, and `LocalOnly` refuses requests a reverse proxy on this machine forwards from
elsewhere (Caddy, nginx: the client uvicorn takes from X-Forwarded-For is not loopback).
"""

from __future__ import annotations

import hmac
import ipaddress

import orjson
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gridpulse.config import Settings
from gridpulse.errors import AuthError, ForbiddenError

__all__ = ["LocalOnly", "TokenCheck", "is_loopback"]


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


_FORWARDED = (b"x-forwarded-for", b"forwarded")


def is_loopback(host: str) -> bool:
    """Whether `host` ("localhost" or an IP address) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalOnly:
    """Without tokens: a request a proxy forwarded (X-Forwarded-For or Forwarded) is answered
    only when the client behind the proxy is this machine; any other gets 403 naming what to do.

    Behind a proxy every request arrives from 127.0.0.1, so the bind-address rule alone would
    open every route to whoever reaches the proxy. uvicorn has already replaced the peer by the
    forwarded client (`forwarded_allow_ips`, 127.0.0.1 by default) when this runs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k in _FORWARDED for k, _ in scope.get("headers", ())):
            client = scope.get("client")
            host = str(client[0]) if client else ""
            if not is_loopback(host):
                body = orjson.dumps(
                    {
                        "error": f"this request came through a proxy from {host or 'an unknown client'}, and "
                        "gridpulse has no auth tokens, so it answers this machine only: configure [auth] "
                        "tokens (docs/configuration.md, docs/deploy.md) before making it reachable"
                    }
                )
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

"""GET with the manners a vendor API expects: auth header, retries with exponential backoff,
`Retry-After` honoured on 429 and 503, a pause between requests, and a stop flag obeyed in waits.

Retried: connection errors, timeouts, 408, 429, 500, 502, 503 and 504. Any other 4xx fails at
once with the status and the start of the body (a 401 says to check the token variable). The
waits between attempts grow as backoff_s, 2 x backoff_s, 4 x ... up to max_backoff_s, with up
to a quarter of jitter; a `Retry-After` (seconds or an HTTP date) replaces the computed wait,
capped at max_retry_after_s so a vendor cannot park a run for a day.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gridpulse.sources.base import Keys, SourceError

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpFetcher", "HttpOptions", "RetryableStatus", "read_http_options"]

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpOptions:
    """How a source talks HTTP (keys of its `[[sources]]` table).

    Attributes:
        token_env: environment variable holding the API token (never the token in the file).
        auth_header, auth_prefix: the token goes as `<auth_header>: <auth_prefix><token>`.
        headers: more headers sent with every request.
        timeout_s: per-request timeout. [s]
        max_attempts: tries per request, the first included. [count]
        backoff_s, max_backoff_s: first wait between tries, doubling up to the max. [s]
        max_retry_after_s: longest Retry-After obeyed. [s]
        min_interval_s: least time between two requests (the vendor's rate limit). [s]
        verify_tls: check the server's certificate.
    """

    token_env: str = ""
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0
    min_interval_s: float = 0.0
    verify_tls: bool = True


def read_http_options(keys: Keys) -> HttpOptions:
    d = HttpOptions()
    return HttpOptions(
        token_env=keys.text("token_env", d.token_env),
        auth_header=keys.text("auth_header", d.auth_header),
        auth_prefix=keys.text("auth_prefix", d.auth_prefix),
        headers=keys.text_table("headers", {}),
        timeout_s=keys.number("timeout_s", d.timeout_s, min=0.001),
        max_attempts=keys.integer("max_attempts", d.max_attempts, min=1),
        backoff_s=keys.number("backoff_s", d.backoff_s, min=0),
        max_backoff_s=keys.number("max_backoff_s", d.max_backoff_s, min=0),
        max_retry_after_s=keys.number("max_retry_after_s", d.max_retry_after_s, min=0),
        min_interval_s=keys.number("min_interval_s", d.min_interval_s, min=0),
        verify_tls=keys.flag("verify_tls", d.verify_tls),
    )


class RetryableStatus(Exception):
    """A response worth trying again (429, 5xx), with the wait the server asked for, if any."""

    def __init__(self, status: int, url: str, retry_after_s: float | None, body: str) -> None:
        super().__init__(f"HTTP {status} from {url}" + (f": {body}" if body else ""))
        self.status = status
        self.retry_after_s = retry_after_s


class _Stopped(Exception):
    pass


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpFetcher:
    """One HTTP client for a source's run; counts requests, retries and 429s for its report."""

    def __init__(self, options: HttpOptions, *, where: str, stop: threading.Event | None = None) -> None:
        import httpx

        self.options = options
        self.where = where
        self.stop = stop or threading.Event()
        headers = dict(options.headers)
        if options.token_env:
            token = os.environ.get(options.token_env)
            if not token:
                raise SourceError(
                    f"{where}: environment variable {options.token_env} is empty or not set; "
                    "export the API token there before starting gridpulse"
                )
            headers[options.auth_header] = f"{options.auth_prefix}{token}"
        self._client = httpx.Client(
            headers=headers, timeout=options.timeout_s, verify=options.verify_tls, follow_redirects=True
        )
        self._last_request = 0.0
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.server_errors = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stop.wait(seconds):
            raise _Stopped

    def _once(self, url: str, params: Any, headers: dict[str, str] | None) -> httpx.Response:
        gap = self.options.min_interval_s - (time.monotonic() - self._last_request)
        self._sleep(gap)
        self._last_request = time.monotonic()
        self.requests += 1
        resp = self._client.get(url, params=params, headers=headers)
        if resp.status_code in _RETRY_STATUS:
            if resp.status_code == 429:
                self.rate_limited += 1
            elif resp.status_code >= 500:
                self.server_errors += 1
            raise RetryableStatus(
                resp.status_code, str(resp.request.url), _retry_after(resp.headers.get("retry-after")), resp.text[:200]
            )
        if resp.status_code >= 400 and resp.status_code != 304:
            hint = (
                f"; check the token in {self.options.token_env or 'token_env'}"
                if resp.status_code in (401, 403)
                else ""
            )
            raise SourceError(f"HTTP {resp.status_code} from {resp.request.url}: {resp.text[:200]}{hint}")
        return resp

    def get(self, url: str, *, params: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET `url`, retrying what is worth retrying; a 304 is returned, not raised.

        Raises:
            SourceError: a status that is not retried, every attempt failed (names the last
                cause and the number of attempts), or the server is stopping.
        """
        import httpx
        from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

        o = self.options

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableStatus) and exc.retry_after_s is not None:
                return min(exc.retry_after_s, o.max_retry_after_s)
            base = min(o.max_backoff_s, o.backoff_s * 2.0 ** (int(state.attempt_number) - 1))
            return float(base * (1 + 0.25 * _jitter()))

        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1

        retrying = Retrying(
            stop=stop_after_attempt(o.max_attempts),
            wait=wait,
            retry=retry_if_exception_type((RetryableStatus, httpx.TransportError)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, url, params, headers)
        except _Stopped:
            raise SourceError(f"{self.where}: stopped while waiting to retry {url} (the server is shutting down)") from None
        except RetryableStatus as exc:
            raise SourceError(f"{exc} after {o.max_attempts} attempt(s)") from exc
        except httpx.TransportError as exc:
            raise SourceError(
                f"{type(exc).__name__} on {url} after {o.max_attempts} attempt(s): {exc or 'no detail'}"
            ) from exc


def _jitter() -> float:
    import random

    return random.random()

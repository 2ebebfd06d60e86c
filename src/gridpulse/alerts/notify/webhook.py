"""`webhook:<url>`: the event as JSON (AlertEvent.as_dict) in a POST, retried with backoff.

A connection error, a timeout, 429 or a 5xx answer is retried (tenacity: exponential backoff
from NotifyOptions.backoff_s, NotifyOptions.attempts tries in all); another 4xx is not, since the
same body would be refused again.
"""

from __future__ import annotations

import httpx
import orjson
from tenacity import RetryError, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity import Retrying as _Retrying

from gridpulse.alerts.notify.base import AlertEvent, NotifyError, NotifyOptions

__all__ = ["WebhookNotifier", "post_with_retries"]


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 429, 5xx)."""


def post_with_retries(client: httpx.Client, url: str, body: bytes, options: NotifyOptions, what: str) -> int:
    """POST `body` (JSON) to `url`, retrying transient failures; returns the attempts it took.

    Raises:
        NotifyError: naming `what` and the last failure.
    """
    attempts = 0

    def once() -> None:
        nonlocal attempts
        attempts += 1
        try:
            resp = client.post(url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retryable(f"answered {resp.status_code}")
        if resp.status_code >= 400:
            raise NotifyError(f"{what} {url} refused the alert: {resp.status_code} {resp.text[:200]}")

    retrying = _Retrying(
        stop=stop_after_attempt(max(1, options.attempts)),
        wait=wait_exponential(multiplier=options.backoff_s, min=options.backoff_s, max=30.0),
        retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
        reraise=False,
    )
    try:
        retrying(once)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise NotifyError(f"{what} {url} failed after {attempts} attempt(s): {last}") from None
    return attempts


class WebhookNotifier:
    """POSTs each event's JSON to one URL."""

    def __init__(self, url: str, options: NotifyOptions) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotifyError(
                f"webhook target {url!r} is not an http(s) URL: write webhook:http://host:port/path"
            )
        self.target = f"webhook:{url}"
        self.url = url
        self.options = options
        self._client = httpx.Client(timeout=options.timeout_s)

    def send(self, event: AlertEvent) -> None:
        post_with_retries(self._client, self.url, orjson.dumps(event.as_dict()), self.options, "webhook")

    def close(self) -> None:
        self._client.close()

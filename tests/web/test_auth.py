"""A server with tokens: the dashboard asks for one before it reads anything, then sends it as a
bearer header on every API request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, start_server
from tests.web.conftest import Tab

pytestmark = pytest.mark.e2e

TOKEN = "web-read-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("web-auth") / "data"
    srv = start_server(data, env={"GRIDPULSE_AUTH_TOKENS": f"{TOKEN}=read"})
    yield srv
    srv.stop()


def test_the_page_asks_for_a_token_and_sends_it_as_a_bearer_header(
    guarded: LiveServer, open_tab: Callable[..., Tab], tmp_path: Path
) -> None:
    tab = open_tab(guarded)
    sent: dict[str, str | None] = {}
    tab.page.on(
        "request",
        lambda r: sent.__setitem__(r.url.split("?")[0], r.headers.get("authorization"))
        if "/api/v1/" in r.url else None,
    )
    tab.page.goto(guarded.url + "/")
    tab.page.wait_for_selector("#token-panel:not([hidden])")
    assert "Waiting for a token" in tab.page.inner_text("#page")
    assert not any("/api/v1/" in url for url in tab.requests)  # nothing read without a token
    tab.page.fill("#token-input", TOKEN)
    tab.page.click("#token-form button[type=submit]")
    tab.page.wait_for_selector("body[data-ready='overview']")
    tab.shot("laptop-auth-overview")
    assert tab.page.evaluate("document.body.dataset.error || ''") == ""
    assert sent[guarded.url + "/api/v1/status"] == f"Bearer {TOKEN}"
    assert sent and set(sent.values()) == {f"Bearer {TOKEN}"}
    assert tab.page.inner_text("#card-series .card-value") == "0"  # an empty store, read with the token
    assert tab.errors == []

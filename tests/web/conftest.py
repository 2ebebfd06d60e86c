"""The dashboard in a real browser: Debian's chromium driven by Playwright against a real
`gridpulse serve --demo` process on loopback (one server and one browser per module).

Screenshots go to test-artifacts/web/ at the repository root (git-ignored).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, LiveServer, skip_or_fail, start_server

CHROMIUM = Path(os.environ.get("GRIDPULSE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "web"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
#: every page of the dashboard: hash route -> the name the shell marks it ready with
PAGES = {
    "": "overview",
    "explorer": "explorer",
    "forecast": "forecast",
    "load": "load",
    "coverage": "coverage",
    "alerts": "alerts",
    "status": "status",
}


def wait_for_demo(url: str, timeout: float = 60) -> dict[str, Any]:
    """The server's status once the demo fleet is loaded (polls with a deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = httpx.get(url + "/api/v1/status").json()
        if status["demo"] == "loaded":
            return status
        assert not str(status["demo"]).startswith("failed"), status
        time.sleep(0.2)
    raise AssertionError(f"demo data not loaded within {timeout} s")


def poll(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """The first truthy result of `check`, polled until a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`gridpulse serve --demo` with the synthetic fleet loaded."""
    srv = start_server(tmp_path_factory.mktemp("web") / "data", "--demo")
    try:
        wait_for_demo(srv.url)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (no sandbox: tests run as root in containers)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        skip_or_fail(f"no chromium at {CHROMIUM}: `make test-deps` installs Debian's chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Tab:
    """A page with what it logged: console errors, uncaught exceptions, failed requests, and
    every request it made."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, route: str) -> None:
        """Go to `#/route` and wait until the shell says the page has rendered."""
        name = PAGES[route.split("?")[0]]
        self.page.goto(f"{self.base}/#/{route}")
        self.page.wait_for_selector(f"body[data-ready='{name}']", timeout=30_000)

    def charts(self) -> dict[str, list[list[float | None]]]:
        """The data each chart on the page holds: [xs, ys1, ...] per chart name."""
        data: dict[str, list[list[float | None]]] = self.page.evaluate(
            "Object.fromEntries(Object.entries(window.gridpulse.charts).map(([k, c]) => [k, c.data]))"
        )
        return data

    def axis_labels(self) -> dict[str, list[str]]:
        """The axis captions of each chart (drawn on the canvas, so read from the chart)."""
        labels: dict[str, list[str]] = self.page.evaluate(
            "Object.fromEntries(Object.entries(window.gridpulse.charts).map(([k, c]) => [k, c.axes.map(a => a.label)]))"
        )
        return labels

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    """Open a fresh browser context (its own local storage) on a server, laptop size unless told."""
    contexts: list[Any] = []

    def make(server: LiveServer, viewport: dict[str, int] = LAPTOP) -> Tab:
        ctx = browser.new_context(viewport=viewport)
        contexts.append(ctx)
        page = ctx.new_page()
        tab = Tab(page, server.url)
        page.on("console", lambda m: tab.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: tab.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: tab.errors.append(f"request failed: {r.url} {r.failure}")
                if "ERR_ABORTED" not in str(r.failure) else None)
        page.on("response", lambda r: tab.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.on("request", lambda r: tab.requests.append(r.url))
        return tab

    yield make
    for ctx in contexts:
        ctx.close()


def iso_now(offset_s: float = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()

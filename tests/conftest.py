"""Shared fixtures: real DuckDB files, the app in-process, a real server process on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gridpulse.api.app import create_app
from gridpulse.config import Settings, load_settings
from gridpulse.store import BACKENDS, open_store
from gridpulse.store.base import Store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip with a clear reason, except under CI where a missing prerequisite is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must be present)")
    pytest.skip(reason)


@pytest.fixture
def shared_datasets() -> Path:
    path = SHARED / "datasets"
    if not path.is_dir():
        skip_or_fail(f"public datasets not found at {path} (they live in ../shared beside the repo)")
    return path


def store_url(backend: str, tmp_path: Path) -> str:
    if backend == "duckdb":
        return f"duckdb:///{tmp_path / 'store.duckdb'}"
    raise AssertionError(f"no test URL for backend {backend}")


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every registered backend, each on a fresh real database."""
    s = open_store(store_url(request.param, tmp_path))
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = load_settings(env={})
    return base.replace(
        store={"data_dir": str(tmp_path / "data")},
        server={"port": 0, "extra_ports": []},
        demo={"datasets_dir": str(tmp_path / "no-datasets")},
    )


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Build an in-process client (lifespan run: writer started, store opened) with changed settings."""
    clients: list[TestClient] = []

    def make(**sections: dict[str, object]) -> TestClient:
        c = TestClient(create_app(settings.replace(**sections) if sections else settings))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> LiveServer:
    """Start `gridpulse serve` as a real process on a free loopback port and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "server.json").unlink(missing_ok=True)
    log = data_dir.parent / f"server-{time.monotonic_ns()}.log"
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("GRIDPULSE_DEMO_DATASETS_DIR", str(data_dir / "no-datasets"))
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridpulse", "serve", "--data-dir", str(data_dir), "--port", "0",
             "--no-extra-ports", "--ilp-port", "0", *args],
            stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=data_dir.parent,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            url = json.loads((data_dir / "server.json").read_text())["url"]
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return LiveServer(url, proc, data_dir, log)
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not answer within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()

"""Delivery to a real Prometheus Alertmanager (Debian's prometheus-alertmanager), started by the
test on a free loopback port with a temporary config and storage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.alerts.test_rule_behaviour import LOW, alerts, send
from tests.conftest import skip_or_fail

BINARY = "prometheus-alertmanager"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists() else None)
    if binary is None:
        skip_or_fail(f"{BINARY} is not installed (make test installs the Debian package)")
    assert binary is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"alertmanager exited: {(tmp_path / 'alertmanager.log').read_text()}")
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("alertmanager did not get ready in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _am_alerts(url: str, **params: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = httpx.get(url + "/api/v2/alerts", params=params).json()
    return got


def _wait(pred: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s")
        time.sleep(0.05)


def test_low_soc_alert_appears_in_alertmanager_and_resolves_there(
    make_client: Callable[..., TestClient], alertmanager: str
) -> None:
    client = make_client(
        alerts={"rules": [LOW], "notify": ["alertmanager:"], "alertmanager_url": alertmanager}
    )
    send(client, "b1", (0, 12.5))
    _wait(
        lambda: any(a["labels"].get("alertname") == "low-soc" for a in _am_alerts(alertmanager)),
        "the alert in Alertmanager",
    )
    (am,) = [a for a in _am_alerts(alertmanager) if a["labels"]["alertname"] == "low-soc"]
    assert am["labels"]["severity"] == "warning"
    assert am["labels"]["series"] == "device:b1/StateOfChargePercentage"
    assert am["annotations"]["value"] == "12.5"
    assert am["status"]["state"] == "active"
    (ours,) = alerts(client)
    assert am["annotations"]["alert_id"] == str(ours["alert_id"])
    send(client, "b1", (1, 40))
    # a resolved alert (endsAt in the past) is no longer active in Alertmanager
    _wait(lambda: not _am_alerts(alertmanager, active="true"), "the resolution in Alertmanager")
    assert alerts(client)[0]["state"] == "resolved"

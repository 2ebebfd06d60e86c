"""The low state-of-charge alert from a reading that came by MQTT (the shared Mosquitto on
127.0.0.1:1883): the subscriber hands it to the same writer, so the same tap sees it."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.alerts.receiver import Receiver, firing
from tests.conftest import skip_or_fail

SOC = "StateOfChargePercentage"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _publish_line(port: int, topic: str, payload: bytes) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"alert-test-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        info = pub.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_low_soc_over_mqtt_fires_the_webhook(make_client: Callable[..., TestClient]) -> None:
    if not _port_open(1883):
        skip_or_fail("no MQTT broker on 127.0.0.1:1883 (Mosquitto)")
    prefix = f"gridpulse-alert-test/{uuid.uuid4().hex[:8]}"
    with Receiver() as receiver:
        rule = {"name": "low-soc", "metric": SOC, "op": "<", "threshold": 20}
        client = make_client(
            sources=[
                {
                    "name": "bms",
                    "type": "mqtt",
                    "port": 1883,
                    "topics": [f"{prefix}/#"],
                    "payload": "line",
                    "interval_s": 3600,
                    "max_reconnect_delay_s": 1,
                    "client_id": f"gridpulse-{uuid.uuid4().hex[:8]}",
                }
            ],
            alerts={"rules": [rule], "notify": [f"webhook:{receiver.url}"]},
            rollups={"refresh_interval_s": 0},
        )
        deadline = time.monotonic() + 30
        while not all(r.source.connected for r in client.app.state.gridpulse_sources[1].values()):  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the MQTT source did not connect"
            time.sleep(0.05)
        ts_ns = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 10**9
        _publish_line(1883, f"{prefix}/bms", f"telemetry,device_id=b-mqtt {SOC}=14.5 {ts_ns}".encode())
        (body,) = receiver.wait_for(firing(f"device:b-mqtt/{SOC}"), timeout=30)
        assert (body["rule"], body["value"]) == ("low-soc", 14.5)

"""An MQTT subscriber: device fleets publish readings, gridpulse commits them as they arrive.

The client (paho-mqtt 2) subscribes to `topics` (wildcards `+` and `#` allowed) with QoS 1 in a
persistent session (`clean_session = false`, a fixed client id), so the broker keeps what is
published while gridpulse is away. Messages are acknowledged to the broker only after their rows
are committed (manual acks): a crash before the commit means the broker sends them again, and
the store's dedup drops what was already stored. A lost connection is retried with a growing
delay (1 s up to `max_reconnect_delay_s`) and the topics are subscribed again on every connect.

Payloads:
- `payload = "json"`: an object or an array of objects. The time is `ts_field` (ISO 8601 with
  an offset, or epoch seconds; with `arrival_time = true` a message without one takes the time
  it arrived). The entity is the topic's `{entity_id}` segment when `topic_pattern` has one,
  else the payload's `entity_field`. The metric is the topic's `{metric}` (the value then is
  `value_field`, or the whole payload when it is a bare number), else the payload's
  `metric_field` with `value_field`, else every other numeric field is a metric of its own.
- `payload = "line"`: Influx line protocol, one or more lines; measurement, tags and fields as
  the line-protocol routes read them.
Rows are validated by the ingest parsers (a bad message is counted as rejected and logged, never
retried) and committed in groups of up to `batch_messages` messages or every `flush_interval_s`.

The source's scheduled run (every `interval_s`, default 60 s) reports what arrived since the last
one: rows, rejects, failed commits, and whether the broker is reachable (a run during which the
client was disconnected the whole time fails, so a broker outage shows in the job history).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from gridpulse import metrics
from gridpulse.errors import GridpulseError, RowError
from gridpulse.ingest.lineprotocol import parse_line_batch
from gridpulse.ingest.parse import ParsedBatch
from gridpulse.ingest.shapes import RouteShape, unit_for_metric
from gridpulse.ingest.split import RawBatch
from gridpulse.model import KEYED_BATCH_SCHEMA, SeriesKey, SeriesMeta, WriteResult
from gridpulse.sources.base import Keys, SourceContext, SourceError, SourceReport, SourceSpec, SourceType
from gridpulse.sources.feed import newest_by_series, parse_records, save_series_marks, write_parsed

__all__ = ["MQTT", "MqttOptions", "MqttSource"]

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^\{(entity_id|entity_kind|metric)\}$")
_COMMIT_TRIES = 3
#: no message for this long ends a batch. [s]
_LULL_S = 0.005
_LOGGED_REJECTS = 20


@dataclass(frozen=True)
class MqttOptions:
    """Keys of a `type = "mqtt"` source (see the module docstring)."""

    topics: list[str]
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    username: str = ""
    password_env: str = ""
    qos: int = 1
    clean_session: bool = False
    keepalive_s: int = 30
    max_reconnect_delay_s: int = 30
    payload: str = "json"
    topic_pattern: str = ""
    entity_kind: str = "device"
    entity_field: str = "entity_id"
    ts_field: str = "ts"
    metric_field: str = "metric"
    value_field: str = "value"
    arrival_time: bool = False
    tz: str = ""
    units: dict[str, str] = field(default_factory=dict)
    batch_messages: int = 5000
    flush_interval_s: float = 0.2
    ack_after_commit: bool = True


def check_options(keys: Keys) -> MqttOptions:
    d = MqttOptions(topics=[])
    topics = keys.texts("topics")
    if not topics:
        raise keys.error("topics", "is empty: name at least one topic, e.g. ['meters/+/kwh']")
    pattern = keys.text("topic_pattern", "")
    for seg in pattern.split("/") if pattern else []:
        if "{" in seg and not _SEGMENT.match(seg):
            raise keys.error("topic_pattern", f"segment {seg!r} is not {{entity_id}}, {{entity_kind}} or {{metric}}")
    return MqttOptions(
        topics=topics,
        host=keys.text("host", d.host),
        port=keys.integer("port", d.port, min=1),
        client_id=keys.text("client_id", ""),
        username=keys.text("username", ""),
        password_env=keys.text("password_env", ""),
        qos=keys.integer("qos", d.qos, min=0),
        clean_session=keys.flag("clean_session", d.clean_session),
        keepalive_s=keys.integer("keepalive_s", d.keepalive_s, min=5),
        max_reconnect_delay_s=keys.integer("max_reconnect_delay_s", d.max_reconnect_delay_s, min=1),
        payload=keys.choice("payload", ("json", "line"), d.payload),
        topic_pattern=pattern,
        entity_kind=keys.text("entity_kind", d.entity_kind),
        entity_field=keys.text("entity_field", d.entity_field),
        ts_field=keys.text("ts_field", d.ts_field),
        metric_field=keys.text("metric_field", d.metric_field),
        value_field=keys.text("value_field", d.value_field),
        arrival_time=keys.flag("arrival_time", d.arrival_time),
        tz=keys.text("tz", ""),
        units=keys.text_table("units", {}),
        batch_messages=keys.integer("batch_messages", d.batch_messages, min=1),
        flush_interval_s=keys.number("flush_interval_s", d.flush_interval_s, min=0.001),
        ack_after_commit=keys.flag("ack_after_commit", d.ack_after_commit),
    )


@dataclass
class _Window:
    """What happened since the last scheduled run."""

    messages: int = 0
    rows: int = 0
    rejects: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    result: WriteResult = field(default_factory=WriteResult)
    newest: dict[str, datetime] = field(default_factory=dict)
    connected_at_all: bool = False


@dataclass
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    arrived: datetime


class MqttSource:
    """Subscribes while the server runs; see the module docstring."""

    def __init__(self, spec: SourceSpec, options: MqttOptions) -> None:
        self.spec = spec
        self.options = options
        self._client: Any = None
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._window = _Window()
        self.connected = False
        self.connects = 0
        self.disconnects = 0
        self.last_disconnect_reason = ""
        self._ctx: SourceContext | None = None
        self._logged_rejects = 0
        self._shapes: dict[str, RouteShape] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self, ctx: SourceContext) -> None:
        """Connect (in the background: a broker that is down is retried, the server starts anyway)."""
        import os

        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        o = self.options
        self._ctx = ctx
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=o.client_id or f"gridpulse-{self.spec.name}",
            clean_session=o.clean_session,
            manual_ack=o.ack_after_commit,
        )
        if o.username:
            password = os.environ.get(o.password_env) if o.password_env else None
            if o.password_env and not password:
                raise SourceError(f"{self.spec.where}: environment variable {o.password_env} is empty or not set")
            client.username_pw_set(o.username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=o.max_reconnect_delay_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._worker = threading.Thread(target=self._work, name=f"gridpulse-mqtt-{self.spec.name}", daemon=True)
        self._worker.start()
        client.connect_async(o.host, o.port, keepalive=o.keepalive_s)
        client.loop_start()

    def close(self) -> None:
        """Commit and acknowledge what arrived, then disconnect."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    # ------------------------------------------------------------------ paho callbacks (its thread)
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self.last_disconnect_reason = f"connection refused: {reason_code}"
            log.warning("%s: broker %s:%d refused the connection: %s", self.spec.where, self.options.host, self.options.port, reason_code)
            return
        self.connected = True
        self.connects += 1
        with self._lock:
            self._window.connected_at_all = True
        client.subscribe([(t, self.options.qos) for t in self.options.topics])
        log.info("%s: connected to %s:%d, subscribed to %s", self.spec.where, self.options.host, self.options.port, ", ".join(self.options.topics))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if self.connected:
            self.disconnects += 1
        self.connected = False
        self.last_disconnect_reason = str(reason_code)
        if not self._stop.is_set():
            log.warning("%s: lost the broker (%s); reconnecting", self.spec.where, reason_code)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._queue.put(_Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, datetime.now(UTC)))

    # ------------------------------------------------------------------ committing (worker thread)
    def _work(self) -> None:
        o = self.options
        while True:
            batch: list[_Message] = []
            try:
                batch.append(self._queue.get(timeout=o.flush_interval_s))
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            # commit at the first lull, or after flush_interval_s of steady arrivals: the broker sends
            # only a few unacknowledged messages at a time (Mosquitto: max_inflight_messages, 20),
            # and they are acknowledged after their commit, so waiting longer only adds latency
            deadline = time.monotonic() + o.flush_interval_s
            while len(batch) < o.batch_messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=min(left, _LULL_S)))
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Message]) -> None:
        received_at = time.monotonic()  # the batch is cut: ingest-to-commit latency starts here
        metrics.INGEST_BYTES.labels("mqtt").inc(sum(len(m.payload) for m in batch))
        parsed = self._parse(batch)
        ctx = self._ctx
        assert ctx is not None
        result: WriteResult | None = None
        error: str | None = None
        for attempt in range(_COMMIT_TRIES):
            try:
                result = write_parsed(ctx.writer, parsed, self._meta_for, received_at=received_at)
                error = None
                break
            except GridpulseError as exc:
                error = str(exc)
                log.warning("%s: commit of %d messages failed (try %d): %s", self.spec.where, len(batch), attempt + 1, exc)
                if self._stop.wait(0.5 * 2**attempt):
                    break
        with self._lock:
            w = self._window
            w.messages += len(batch)
            w.rejects += len(parsed.errors)
            if error is None:
                w.rows += parsed.table.num_rows
                if result is not None:
                    w.result = w.result + result
                for name, ts in newest_by_series([parsed.table]).items():
                    if name not in w.newest or ts > w.newest[name]:
                        w.newest[name] = ts
            else:
                w.failures += 1
                w.errors.append(f"commit of {len(batch)} messages failed: {error}")
        client = self._client
        if client is None:
            return
        if not self.options.ack_after_commit:
            return  # paho acknowledged each message as it arrived
        if error is None:
            for m in batch:
                if m.qos:
                    client.ack(m.mid, m.qos)
        elif not self._stop.is_set():
            # unacknowledged: a new connection of the persistent session makes the broker resend them
            client.reconnect()

    def _parse(self, batch: list[_Message]) -> ParsedBatch:
        o = self.options
        if o.payload == "line":
            block = b"\n".join(m.payload.strip(b"\n") for m in batch)
            parsed = parse_line_batch(RawBatch([], [], 1, block=block))
        else:
            by_kind: dict[str, list[dict[str, Any]]] = {}
            early: list[RowError] = []
            for m in batch:
                try:
                    for rec in self._records(m):
                        by_kind.setdefault(rec.pop("kind"), []).append(rec)
                except ValueError as exc:
                    early.append(RowError(0, 0, None, f"topic {m.topic}: {exc}"))
            parts = [parse_records(recs, self._shape(kind), tz=o.tz or None) for kind, recs in by_kind.items()]
            tables = [p.table for p in parts if p.table.num_rows]
            parsed = ParsedBatch(
                pa.concat_tables(tables) if tables else KEYED_BATCH_SCHEMA.empty_table(),
                errors=early + [e for p in parts for e in p.errors],
                nulls=sum(p.nulls for p in parts),
                rows=sum(p.rows for p in parts),
            )
        for err in parsed.errors:
            if self._logged_rejects < _LOGGED_REJECTS:
                log.warning("%s: rejected: %s", self.spec.where, err)
            self._logged_rejects += 1
        return parsed

    def _shape(self, kind: str) -> RouteShape:
        """Narrow rows (ts, entity_id, metric, value) of one entity kind, for the JSON parser."""
        shape = self._shapes.get(kind)
        if shape is None:
            shape = RouteShape(f"source:{self.spec.name}", "ts", "entity_id", kind, metric_field="metric", value_field="value")
            self._shapes[kind] = shape
        return shape

    def _topic_parts(self, topic: str) -> dict[str, str]:
        pattern = self.options.topic_pattern
        if not pattern:
            return {}
        want, got = pattern.split("/"), topic.split("/")
        if len(want) != len(got):
            raise ValueError(f"does not match topic_pattern {pattern!r}")
        out: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            m = _SEGMENT.match(w)
            if m:
                out[m.group(1)] = g
            elif w not in ("+", g):
                raise ValueError(f"does not match topic_pattern {pattern!r}")
        return out

    def _records(self, m: _Message) -> list[dict[str, Any]]:
        """One message -> narrow rows {ts, entity_id, entity_kind, metric, value}.

        Raises:
            ValueError: the payload is not JSON, or names no entity.
        """
        o = self.options
        parts = self._topic_parts(m.topic)
        try:
            body = orjson.loads(m.payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"payload is not JSON: {exc}") from None
        docs = body if isinstance(body, list) else [body]
        out: list[dict[str, Any]] = []
        for doc in docs:
            if not isinstance(doc, dict):
                doc = {o.value_field: doc}
            entity = parts.get("entity_id") or doc.get(o.entity_field)
            if entity in (None, ""):
                raise ValueError(f"no entity: put {{entity_id}} in topic_pattern or {o.entity_field!r} in the payload")
            ts = doc.get(o.ts_field)
            if ts is None and o.arrival_time:
                ts = m.arrived.isoformat()
            elif isinstance(ts, (int, float)) and not isinstance(ts, bool):
                ts = datetime.fromtimestamp(ts / 1000.0 if abs(ts) > 1e11 else ts, UTC).isoformat()
            base = {"ts": ts, "entity_id": str(entity), "kind": parts.get("entity_kind") or o.entity_kind}
            if "metric" in parts:
                out.append({**base, "metric": parts["metric"], "value": doc.get(o.value_field)})
            elif o.metric_field in doc:
                out.append({**base, "metric": doc[o.metric_field], "value": doc.get(o.value_field)})
            else:
                skip = {o.ts_field, o.entity_field}
                for key, value in doc.items():
                    if key not in skip and not isinstance(value, (dict, list, str, bool)):
                        out.append({**base, "metric": key, "value": value})
        return out

    def _meta_for(self, key: SeriesKey) -> SeriesMeta:
        return SeriesMeta(
            unit=self.options.units.get(key.metric) or unit_for_metric(key.metric),
            tz=self.options.tz or "UTC",
            tags={"source": self.spec.name},
            device_id=key.entity_id if key.entity_kind == "device" else None,
            channel_id=key.entity_id if key.entity_kind == "channel" else None,
        )

    # ------------------------------------------------------------------ the scheduled run
    def run(self, ctx: SourceContext) -> SourceReport:
        """What arrived since the last run (the subscriber itself runs all the time)."""
        if self._client is None:
            raise SourceError(
                f"{self.spec.where}: an MQTT source listens only inside `gridpulse serve`; start the server"
            )
        with self._lock:
            w, self._window = self._window, _Window(connected_at_all=self.connected)
        report = SourceReport(rows=w.rows, rejects=w.rejects, failures=w.failures, errors=w.errors, result=w.result)
        report.parts_ok = w.messages - w.failures
        report.detail.update(
            messages=w.messages, connected=self.connected, connects=self.connects, disconnects=self.disconnects,
            broker=f"{self.options.host}:{self.options.port}", queued=self._queue.qsize(),
        )
        if not w.connected_at_all and not self.connected:
            report.fatal = True
            report.fail(
                f"not connected to the broker {self.options.host}:{self.options.port} "
                f"({self.last_disconnect_reason or 'connecting'}); retrying in the background"
            )
        save_series_marks(ctx.store, self.spec.name, w.newest, datetime.now(UTC))
        return report


def _build(spec: SourceSpec, options: Any) -> MqttSource:
    return MqttSource(spec, options)


MQTT = SourceType(
    "mqtt",
    check_options,
    _build,
    default_interval_s=60.0,
    summary="subscribes to MQTT topics (QoS 1, persistent session) and commits JSON or line-protocol payloads",
)

"""AlertEngine: rules, state, evaluation and delivery while the server runs.

One thread (`gridpulse-alerts`) owns every rule's state. The writer's tap hands it the committed
rows of watched metrics (a queue put on the writer thread, nothing more); it evaluates them and
submits the notifications to a small delivery pool at once. The alerts are stored by a thread of
their own (`gridpulse-alerts-store`: one transaction per batch of changes, under the writer's
lock, as forecasts are written), so evaluation never waits for a commit in progress. API
operations (new rule, acknowledge, silence) and the scheduled evaluation run on the evaluation
thread through `call`, which returns once their changes are stored; nothing needs a lock.
Delivery outcomes come back through the queue and are added to each alert's history.
The notifications of one alert to one target go out one after the other, in the order they were
made: a `firing` still being retried is never overtaken by its `resolved`, which would leave the
receiver believing a resolved alert still fires.

Source rules (alerts/source_failures.py) are scheduled rules too: they read the job history of
the `[[sources]]` the engine was given; the built-in one, `source-failing`, gives way to a
config or API rule of its name and comes back when that API rule is deleted.
Forecast rules (alerts/forecast_checks.py) read the forecast monitoring checks the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from gridpulse.alerts.evaluate import MetricSelector, Reading, newest_readings
from gridpulse.alerts.forecast_checks import forecast_states
from gridpulse.alerts.notify import NOTIFIERS, AlertEvent, Notifier, NotifyError, NotifyOptions, make_notifier
from gridpulse.alerts.rules import FORECAST_KINDS, Rule, RuleKind, parse_rule, series_name
from gridpulse.alerts.source_failures import (
    SourceFailure,
    WatchedSource,
    builtin_source_rule,
    failing_sources,
    source_summary,
    watched_sources,
)
from gridpulse.alerts.state import Change, RuleBook, _us
from gridpulse.errors import ConfigError, GridpulseError, NotFound, QueryError
from gridpulse.model import AnomalyStatus, Severity
from gridpulse.store.base import OPEN_ALERT_STATES, AlertRecord, JobRun, SeriesFilter, SilenceRecord, Store

if TYPE_CHECKING:
    from gridpulse.config import Settings
    from gridpulse.ingest.writer import Writer

__all__ = ["AlertEngine"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_STOP = object()
#: alerts read back at start-up to restore state (open ones, cooldowns, newest readings seen)
_RESTORE_LIMIT = 10_000
_LABEL_KEYS = ("organisation_id", "site_id", "device_id", "channel_id")


@dataclass(frozen=True)
class _Delivered:
    alert_id: int
    target: str
    status: str
    ok: bool
    error: str


class AlertEngine:
    """Evaluates alert rules in the ingest path and on a schedule, and notifies.

    Args:
        store: where rules made through the API, alerts and silences are kept.
        config_rules: rules from the settings (read-only).
        default_notify: targets of rules that name none.
        options: delivery options (timeouts, attempts, backoff, Alertmanager URL).
        delivery_threads: deliveries in flight at once.
        sources: the configured `[[sources]]` by name, which source rules watch.
        builtin_rules: rules gridpulse makes (`source-failing`), each in force unless a config or
            API rule has its name.
        psi_drift: the PSI a forecast_drift rule without a threshold fires at (`[forecast]
            psi_drift`). [1]
    """

    def __init__(
        self,
        store: Store,
        *,
        config_rules: Sequence[Rule] = (),
        default_notify: Sequence[str] = ("log:",),
        options: NotifyOptions | None = None,
        delivery_threads: int = 4,
        sources: Mapping[str, WatchedSource] | None = None,
        builtin_rules: Sequence[Rule] = (),
        psi_drift: float = 0.25,
    ) -> None:
        self.store = store
        self.sources = dict(sources or {})
        self._builtin = {r.name: r for r in builtin_rules}
        self.psi_drift = psi_drift
        self.options = options or NotifyOptions()
        self.default_notify = tuple(default_notify)
        self.selector = MetricSelector()
        self._config_rules = list(config_rules)
        self._rules: dict[str, Rule] = {}
        self._books: dict[str, RuleBook] = {}
        self._silences: list[SilenceRecord] = []
        self._labels: dict[str, dict[str, str]] = {}
        self._notifiers: dict[str, Notifier] = {}
        self._latest: dict[int, AlertRecord] = {}
        self._inflight: dict[int, int] = {}
        self._next_id = 1
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=delivery_threads, thread_name_prefix="gridpulse-notify")
        # (alert id, target) -> deliveries waiting behind the one in flight; guarded by _chain_lock
        self._chains: dict[tuple[int, str], deque[Callable[[], None]]] = {}
        self._chain_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gridpulse-alerts", daemon=True)
        self._persist_queue: queue.Queue[Any] = queue.Queue()
        self._persister = threading.Thread(target=self._persist, name="gridpulse-alerts-store", daemon=True)
        self._started = False
        self.rounds = 0
        self.delivered = 0
        self.failed = 0

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> AlertEngine:
        """An engine with the `[alerts]` settings: config rules, default targets, delivery options.

        Raises:
            ConfigError: a rule or target is malformed.
        """
        from gridpulse.alerts.rules import parse_rules

        a = settings.alerts
        options = NotifyOptions(
            timeout_s=float(a.timeout_s),
            attempts=a.attempts,
            backoff_s=a.backoff_ms / 1000,
            alertmanager_url=a.alertmanager_url,
        )
        sources = watched_sources(settings)
        builtin = builtin_source_rule(settings, sources)
        engine = cls(
            store,
            config_rules=parse_rules(a.rules),
            default_notify=a.notify,
            options=options,
            sources=sources,
            builtin_rules=[builtin] if builtin is not None else [],
            psi_drift=settings.forecast.psi_drift,
        )
        for rule in [*engine._config_rules, *engine._builtin.values()]:
            for target in rule.notify or engine.default_notify:
                engine._notifier(target)  # a bad address stops the start, naming it
        return engine

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> AlertEngine:
        """Load rules, silences and open alerts from the store, then start the thread.

        Raises:
            ConfigError: a rule's notify target is unknown or malformed.
        """
        for rule in self._config_rules:
            self._add(rule)
        self._persister.start()
        for spec in self.store.list_alert_rules():
            try:
                rule = parse_rule(spec, where="stored rule", schemes=list(NOTIFIERS), source="api")
            except ConfigError as exc:
                log.error("stored alert rule left out: %s", exc)
                continue
            if rule.name in self._rules:
                log.warning("stored alert rule %r is shadowed by the config rule of that name", rule.name)
                continue
            self._add(rule)
        for rule in self._builtin.values():
            if rule.name not in self._rules:
                self._add(rule)
        now = datetime.now(UTC)
        self._silences = self.store.list_silences()
        records = self.store.list_alerts(limit=_RESTORE_LIMIT)
        self._next_id = max((r.alert_id or 0 for r in records), default=0) + 1
        for rec in reversed(records):  # oldest first: the newest alert of a group wins
            book = self._books.get(rec.rule)
            if book is not None:
                book.restore(rec)
                if rec.state in OPEN_ALERT_STATES:
                    self._latest[rec.alert_id or 0] = rec
            elif rec.state in OPEN_ALERT_STATES:  # its rule is gone: nothing can resolve it
                self._save(
                    [
                        Change(
                            replace(rec, state="resolved", resolved_at=now),
                            [("resolved", {"reason": "rule gone"})],
                            None,
                            Rule(name=rec.rule),
                        )
                    ]
                )
        self._thread.start()
        self._started = True
        return self

    def attach(self, writer: Writer) -> None:
        """See every commit of `writer`: its rows of watched metrics come to this engine."""
        writer.tap(self.selector, self._on_rows)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, wait for deliveries in flight, stop."""
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._started = False
        self._pool.shutdown(wait=True)
        self._drain_deliveries()
        if self._persister.is_alive():
            self._persist_queue.put(_STOP)
            self._persister.join(timeout)
        for n in self._notifiers.values():
            n.close()

    # ------------------------------------------------------------------ from other threads
    def _on_rows(self, tables: list[pa.Table]) -> None:
        """The writer's tap (writer thread): queue the committed rows, nothing else."""
        self._queue.put(("rows", tables))

    def call(self, fn: Callable[[], T], timeout: float | None = 60.0) -> T:
        """Run `fn` on the engine thread (after what is queued) and return its result once the
        changes made so far are stored."""
        if not self._started:
            result = fn()
        else:
            fut: Future[T] = Future()
            self._queue.put(("call", fn, fut))
            result = fut.result(timeout)
        self.flush(timeout)
        return result

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until the changes queued for storing so far are stored."""
        if not self._persister.is_alive():
            return
        done = threading.Event()
        self._persist_queue.put(done)
        done.wait(timeout)

    def rules(self) -> list[Rule]:
        return sorted(self._rules.values(), key=lambda r: r.name)

    def add_rule(self, spec: Mapping[str, Any]) -> Rule:
        """Check, store and start a rule made through the API.

        Raises:
            ConfigError: a field is wrong (names rule and field).
            QueryError: the name is taken.
        """
        rule = parse_rule(spec, where="rule", schemes=list(NOTIFIERS), source="api")

        def add() -> Rule:
            for target in rule.notify:
                self._notifier(target)  # a bad address is refused now, not at the first alert
            old = self._rules.get(rule.name)
            if old is not None and old.source != "builtin":
                raise QueryError(
                    f"an alert rule named {rule.name!r} exists already: delete it first, or pick another name"
                )
            self.store.save_alert_rule(rule.name, rule.as_dict())
            if old is not None:
                self._replace(rule)
            else:
                self._add(rule)
            return rule

        return self.call(add)

    def delete_rule(self, name: str) -> list[AlertRecord]:
        """Delete a rule made through the API; its open alerts resolve. Returns them.

        Raises:
            NotFound: no such rule. QueryError: it comes from the config file.
        """

        def delete() -> list[AlertRecord]:
            rule = self._rules.get(name)
            if rule is None:
                raise NotFound(f"no alert rule named {name!r}; `gridpulse alerts rules` lists them")
            if rule.source == "config":
                raise QueryError(
                    f"alert rule {name!r} comes from the config file: remove it there and restart"
                )
            if rule.source == "builtin":
                raise QueryError(
                    f"alert rule {name!r} is built in: set [alerts] source_rule = false and restart to turn "
                    "it off, or add a rule of that name (config or API) to replace it"
                )
            self.store.delete_alert_rule(name)
            builtin = self._builtin.get(name)
            if builtin is not None:  # the built-in rule it replaced is back, with its open alerts
                self._replace(builtin)
                return []
            book = self._books.pop(name)
            del self._rules[name]
            self._rewatch()
            now = datetime.now(UTC)
            changes = [
                Change(
                    replace(rec, state="resolved", resolved_at=now),
                    [("resolved", {"reason": "rule deleted"})],
                    "resolved" if book.groups[rec.group_key].notified else None,
                    rule,
                )
                for rec in book.open_alerts()
            ]
            self._dispatch(changes)
            self._save(changes)
            return [c.record for c in changes]

        return self.call(delete)

    def acknowledge(self, alert_id: int, by: str) -> AlertRecord:
        """Mark an open alert acknowledged by `by`.

        Raises:
            NotFound: no such alert. QueryError: it is resolved already.
        """

        def ack() -> AlertRecord:
            rec = self._open_record(alert_id)
            done = replace(rec, state="acknowledged", acknowledged_by=by, acknowledged_at=datetime.now(UTC))
            self._books[rec.rule].replace_record(done)
            self._save([Change(done, [("acknowledged", {"by": by})], None, self._rules[rec.rule])])
            return done

        return self.call(ack)

    def silence(self, silence: SilenceRecord) -> tuple[SilenceRecord, list[AlertRecord]]:
        """Store a silence; open firing alerts it matches become silenced. Returns both."""

        def add() -> tuple[SilenceRecord, list[AlertRecord]]:
            from gridpulse.alerts.state import matching_silence

            stored = self.store.save_silence(silence)
            self._silences.insert(0, stored)
            now = datetime.now(UTC)
            changes: list[Change] = []
            for book in self._books.values():
                for rec in book.open_alerts():
                    if rec.state == "firing" and matching_silence([stored], rec.rule, rec.series, now):
                        quiet = replace(rec, state="silenced", silence_id=stored.silence_id)
                        book.replace_record(quiet)
                        changes.append(
                            Change(quiet, [("silenced", {"silence_id": stored.silence_id})], None, book.rule)
                        )
            self._save(changes)
            return stored, [c.record for c in changes]

        return self.call(add)

    def evaluate_scheduled(self) -> dict[str, int]:
        """Evaluate the scheduled rules now (no data, anomaly, validation, source, forecast) and re-send open
        alerts to Alertmanager targets; returns counts. Called by the scheduler."""
        return self.call(self._scheduled, timeout=300)

    # ------------------------------------------------------------------ engine thread
    def _add(self, rule: Rule) -> None:
        self._rules[rule.name] = rule
        self._books[rule.name] = RuleBook(rule)
        self._rewatch()

    def _replace(self, rule: Rule) -> None:
        """Put `rule` in place of the rule of its name. Open alerts carry over when it is of the
        same kind (its next evaluation keeps or resolves them); else they resolve now."""
        old = self._books[rule.name]
        self._add(rule)
        if old.rule.kind is rule.kind:
            for rec in old.open_alerts():
                self._books[rule.name].restore(rec)
            return
        now = datetime.now(UTC)
        changes = [
            Change(
                replace(rec, state="resolved", resolved_at=now),
                [("resolved", {"reason": "rule replaced"})],
                "resolved" if old.groups[rec.group_key].notified else None,
                old.rule,
            )
            for rec in old.open_alerts()
        ]
        self._dispatch(changes)
        self._save(changes)

    def _rewatch(self) -> None:
        self.selector.watch(r.metric for r in self._rules.values() if r.streaming)

    def _open_record(self, alert_id: int) -> AlertRecord:
        for book in self._books.values():
            for rec in book.open_alerts():
                if rec.alert_id == alert_id:
                    return rec
        found = self.store.list_alerts(alert_id=alert_id, limit=1)
        if not found:
            raise NotFound(f"no alert {alert_id}; `gridpulse alerts list` shows them")
        raise QueryError(f"alert {alert_id} is {found[0].state}: only open alerts can be acknowledged")

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _labels_of(self, r: Reading) -> dict[str, str]:
        """Group labels of a series: its key and name, and its place from the catalogue."""
        found = self._labels.get(r.series)
        if found is None:
            found = {
                "series": r.series,
                "entity_kind": r.entity_kind,
                "entity_id": r.entity_id,
                "metric": r.metric,
            }
            matches = self.store.list_series(
                SeriesFilter(entity_kind=r.entity_kind, entity_id=r.entity_id, metric=r.metric)
            )
            if matches:
                for k in _LABEL_KEYS:
                    found[k] = getattr(matches[0], k, None) or ""
            self._labels[r.series] = found
        return found

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(i is _STOP for i in items)
            try:
                self._round([i for i in items if i is not _STOP])
            except Exception:
                log.exception("alert evaluation round failed")
            if stop:
                return

    def _round(self, items: list[Any]) -> None:
        self.rounds += 1
        tables = [t for i in items if i[0] == "rows" for t in i[1]]
        changes: list[Change] = []
        failed: Exception | None = None
        if tables:
            try:
                changes.extend(self._evaluate_rows(pa.concat_tables(tables) if len(tables) > 1 else tables[0]))
            except Exception as exc:  # still answer this round's calls; _run logs it after
                failed = exc
        answers: list[tuple[Future[Any], Any, BaseException | None]] = []
        for item in items:
            if item[0] == "call":
                _, fn, fut = item
                try:
                    answers.append((fut, fn(), None))
                except BaseException as failure:
                    answers.append((fut, None, failure))
        try:
            self._dispatch(changes)
            delivered = [i[1] for i in items if i[0] == "delivered"]
            changes.extend(self._delivery_changes(delivered))
            self._save(changes)
        finally:
            # answered only once this round's changes are queued for storing: `call` then waits
            # for them too (answered before, a caller could read the store ahead of its alerts)
            for fut, value, error in answers:
                if error is None:
                    fut.set_result(value)
                else:
                    fut.set_exception(error)
        if failed is not None:
            raise failed

    def _evaluate_rows(self, rows: pa.Table) -> list[Change]:
        now = datetime.now(UTC)
        changes: list[Change] = []
        for book in self._books.values():
            if not book.rule.streaming:
                continue
            readings = newest_readings(book.rule, rows, book.last_seen())
            if readings:
                touched = book.apply_readings(readings, self._labels_of)
                changes.extend(book.settle(touched, now, next_id=self._id, silences=self._silences))
        return changes

    def _scheduled(self) -> dict[str, int]:
        now = datetime.now(UTC)
        changes: list[Change] = []
        latest: dict[str, tuple[JobRun, JobRun | None, int]] | None = None
        for book in self._books.values():
            kind = book.rule.kind
            failures: dict[str, SourceFailure] = {}
            if kind is RuleKind.NODATA:
                states, labels = self._nodata(book.rule, now)
            elif kind is RuleKind.ANOMALY:
                states, labels = self._anomalies(book)
            elif kind is RuleKind.VALIDATION:
                states, labels = self._validation(book, now)
            elif kind in FORECAST_KINDS:
                states, labels = self._forecast_checks(book, now)
            elif kind is RuleKind.SOURCE:
                if latest is None:  # one read of the job history per evaluation, whatever the rules
                    latest = self.store.latest_job_runs()
                states, labels, failures = failing_sources(
                    book.rule, self.sources, latest, lambda job, n: self.store.list_job_runs(job, limit=n),
                    now=now, known=list(book.series),
                )  # fmt: skip
            else:
                continue
            touched = book.apply_states(states, labels)
            settled = book.settle(touched, now, next_id=self._id, silences=self._silences)
            changes.extend(self._summarised(book, settled, failures) if failures else settled)
        self._dispatch(changes)
        resent = self._resend_open()
        self._save(changes)
        return {"changes": len(changes), "alertmanager_resent": resent}

    @staticmethod
    def _summarised(
        book: RuleBook, changes: list[Change], failures: Mapping[str, SourceFailure]
    ) -> list[Change]:
        """Source alerts that fire carry which source failed, how often, and its newest error."""
        out = []
        for c in changes:
            if c.events and c.events[0][0] == "fired":
                rec = replace(c.record, summary=source_summary(c.record.series, failures, c.rule.describe()))
                book.replace_record(rec)
                c = replace(c, record=rec)
            out.append(c)
        return out

    def _series_of(self, rule: Rule, metric: str | None) -> list[Any]:
        found = self.store.list_series(
            SeriesFilter(metric=metric or None, entity_kind=rule.entity_kind or None)
        )
        return [s for s in found if rule.matches_entity(s.key.entity_kind, s.key.entity_id)]

    @staticmethod
    def _labels_for(series: Iterable[Any]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for s in series:
            name = series_name(*s.key)
            labels = {
                "series": name,
                "entity_kind": s.key.entity_kind,
                "entity_id": s.key.entity_id,
                "metric": s.key.metric,
            }
            for k in _LABEL_KEYS:
                labels[k] = getattr(s, k, None) or ""
            out[name] = labels
        return out

    def _nodata(
        self, rule: Rule, now: datetime
    ) -> tuple[dict[str, tuple[bool, float | None, int | None]], dict[str, dict[str, str]]]:
        """Series of the rule whose newest reading is older than `minutes` (plus `for`)."""
        series = self._series_of(rule, rule.metric)
        if not series:
            return {}, {}
        by_id = {s.series_id: s for s in series}
        latest = self.store.latest(list(by_id)).to_pylist()
        limit = timedelta(minutes=rule.minutes, seconds=rule.for_s)
        states: dict[str, tuple[bool, float | None, int | None]] = {}
        for row in latest:
            s = by_id[row["series_id"]]
            ts: datetime = row["ts"]
            states[series_name(*s.key)] = (now - ts >= limit, row["value"], _us(ts))
        return states, self._labels_for(series)

    def _anomalies(
        self, book: RuleBook
    ) -> tuple[dict[str, tuple[bool, float | None, int | None]], dict[str, dict[str, str]]]:
        """Series with an open anomaly of at least the rule's severity are active."""
        rule = book.rule
        series = self._series_of(rule, rule.metric)
        if not series:
            return {}, {}
        by_id = {s.series_id: s for s in series}
        found = self.store.list_anomalies(
            list(by_id),
            min_severity=Severity.parse(rule.min_severity) if rule.min_severity else None,
            status=[AnomalyStatus.OPEN],
            limit=100_000,
        )
        states: dict[str, tuple[bool, float | None, int | None]] = {
            name: (False, None, None) for name in book.series
        }
        for a in found:
            s = by_id.get(a.series_id)
            if s is not None:
                states[series_name(*s.key)] = (True, a.value, _us(a.end))
        return states, self._labels_for(series)

    def _forecast_checks(
        self, book: RuleBook, now: datetime
    ) -> tuple[dict[str, tuple[bool, float | None, int | None]], dict[str, dict[str, str]]]:
        """Series whose newest forecast monitoring check meets the rule (alerts/forecast_checks.py)."""
        rule = book.rule
        series = self._series_of(rule, rule.metric)
        names = {s.series_id: series_name(*s.key) for s in series}
        states = forecast_states(
            rule,
            names,
            lambda ids, since, until, newest: self.store.list_forecast_checks(
                ids, since=since, until=until, newest=newest
            ),
            now=now,
            psi_drift=self.psi_drift,
            known=list(book.series),
        )
        return states, self._labels_for(series)

    def _validation(
        self, book: RuleBook, now: datetime
    ) -> tuple[dict[str, tuple[bool, float | None, int | None]], dict[str, dict[str, str]]]:
        """Series whose validation failed on the last two UTC days are active."""
        rule = book.rule
        series = self._series_of(rule, rule.metric)
        if not series:
            return {}, {}
        by_id = {s.series_id: s for s in series}
        found = self.store.list_validation(
            list(by_id), start_day=(now - timedelta(days=1)).date(), status="fail"
        )
        states: dict[str, tuple[bool, float | None, int | None]] = {
            name: (False, None, None) for name in book.series
        }
        for v in found:
            s = by_id.get(v.series_id)
            if s is not None and (not rule.check or v.rule == rule.check):
                states[series_name(*s.key)] = (True, float(v.count), _us(v.first_ts) if v.first_ts else None)
        return states, self._labels_for(series)

    # ------------------------------------------------------------------ delivery
    def _notifier(self, target: str) -> Notifier:
        n = self._notifiers.get(target)
        if n is None:
            try:
                n = make_notifier(target, self.options)
            except NotifyError as exc:
                raise ConfigError(str(exc)) from None
            self._notifiers[target] = n
        return n

    def _targets(self, rule: Rule) -> tuple[str, ...]:
        return rule.notify or self.default_notify

    def _dispatch(self, changes: Sequence[Change]) -> None:
        """Submit the notifications of the changes to the delivery pool (before they are stored)."""
        for c in changes:
            if c.notify is None:
                continue
            event = AlertEvent(c.notify, c.record, c.rule.as_dict(), datetime.now(UTC))
            for target in self._targets(c.rule):
                self._submit(event, target, record=True)

    def _submit(self, event: AlertEvent, target: str, *, record: bool) -> None:
        try:
            notifier = self._notifier(target)
        except GridpulseError as exc:
            log.error("alert %s: %s", event.alert.alert_id, exc)
            return
        alert_id = event.alert.alert_id or 0
        if record:
            self._inflight[alert_id] = self._inflight.get(alert_id, 0) + 1

        def deliver() -> None:
            ok, error = True, ""
            try:
                notifier.send(event)
            except NotifyError as exc:
                ok, error = False, str(exc)
                log.warning("alert %s not delivered: %s", alert_id, exc)
            except Exception as exc:  # a channel's bug must not kill the pool
                ok, error = False, f"{type(exc).__name__}: {exc}"
                log.exception("alert %s: notifier %s failed", alert_id, target)
            if record:
                self._queue.put(("delivered", _Delivered(alert_id, target, event.status, ok, error)))

        key = (alert_id, target)
        with self._chain_lock:
            waiting = self._chains.get(key)
            if waiting is not None:  # one of this alert's is in flight to this target: go after it
                waiting.append(deliver)
                return
            self._chains[key] = deque([deliver])
        self._pool.submit(self._deliver_in_order, key)

    def _deliver_in_order(self, key: tuple[int, str]) -> None:
        """On a delivery thread: send the chain's notifications one by one until none waits."""
        while True:
            with self._chain_lock:
                waiting = self._chains[key]
                if not waiting:
                    del self._chains[key]
                    return
                deliver = waiting.popleft()
            deliver()

    def _delivery_changes(self, delivered: Sequence[_Delivered]) -> list[Change]:
        changes: list[Change] = []
        for d in delivered:
            self._inflight[d.alert_id] = self._inflight.get(d.alert_id, 1) - 1
            rec = self._latest.get(d.alert_id)
            if rec is None:
                continue
            if d.ok:
                self.delivered += 1
                rec = replace(rec, notifications_sent=rec.notifications_sent + 1)
                event = ("notified", {"target": d.target, "status": d.status})
            else:
                self.failed += 1
                event = ("notification failed", {"target": d.target, "status": d.status, "error": d.error})
            rule = self._rules.get(rec.rule) or Rule(name=rec.rule)
            book = self._books.get(rec.rule)
            if book is not None:  # keep the open record in its book current
                book.replace_record(rec)
            changes.append(Change(rec, [event], None, rule))
        return changes

    def _resend_open(self) -> int:
        """Open, notified alerts again to Alertmanager targets, which forget an alert that is not
        re-sent within their resolve_timeout."""
        sent = 0
        for book in self._books.values():
            for rec in book.open_alerts():
                if rec.state == "silenced":
                    continue
                for target in self._targets(book.rule):
                    if target.startswith("alertmanager:"):
                        self._submit(
                            AlertEvent("firing", rec, book.rule.as_dict(), datetime.now(UTC)),
                            target,
                            record=False,
                        )
                        sent += 1
        return sent

    def _drain_deliveries(self) -> None:
        """Store the outcomes of deliveries that finished after the thread stopped."""
        items: list[Any] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        delivered = [i[1] for i in items if isinstance(i, tuple) and i[0] == "delivered"]
        try:
            self._save(self._delivery_changes(delivered))
        except GridpulseError as exc:
            log.warning("storing the last delivery outcomes failed: %s", exc)

    # ------------------------------------------------------------------ storing
    def _persist(self) -> None:
        """The storing thread: what is queued, merged per alert, in one transaction."""
        while True:
            items = [self._persist_queue.get()]
            while True:
                try:
                    items.append(self._persist_queue.get_nowait())
                except queue.Empty:
                    break
            batches = [i for i in items if isinstance(i, tuple)]
            if batches:
                order: list[int] = []
                records: dict[int, AlertRecord] = {}
                events: dict[int, list[tuple[str, Mapping[str, Any]]]] = {}
                for recs, evs in batches:
                    for rec, ev in zip(recs, evs, strict=True):
                        aid = rec.alert_id or 0
                        if aid not in records:
                            order.append(aid)
                            events[aid] = []
                        records[aid] = rec
                        events[aid].extend(ev)
                try:
                    self.store.save_alerts([records[a] for a in order], [events[a] for a in order])
                except Exception:
                    log.exception("storing %d alert(s) failed", len(order))
            for i in items:
                if isinstance(i, threading.Event):
                    i.set()
            if any(i is _STOP for i in items):
                return

    def _save(self, changes: Sequence[Change]) -> None:
        """Queue the changes for storing: the last record of each alert, every event."""
        if not changes:
            return
        order: list[int] = []
        records: dict[int, AlertRecord] = {}
        events: dict[int, list[tuple[str, Mapping[str, Any]]]] = {}
        for c in changes:
            aid = c.record.alert_id or 0
            if aid not in records:
                order.append(aid)
                events[aid] = []
            records[aid] = c.record
            events[aid].extend(c.events)
        stored = [records[a] for a in order]
        self._persist_queue.put((stored, [events[a] for a in order]))
        for rec in stored:
            aid = rec.alert_id or 0
            if rec.state in OPEN_ALERT_STATES or self._inflight.get(aid, 0) > 0:
                self._latest[aid] = rec
            else:
                self._latest.pop(aid, None)

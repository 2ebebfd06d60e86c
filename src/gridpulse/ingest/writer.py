"""The single writer: one thread owns the store's write side and commits requests in groups.

Many small requests reach bulk speed through group commit: whatever is queued when the writer
becomes free is committed in one transaction, and every request of the group is acknowledged
only after that commit. If a group fails, each request is retried alone so one bad request
cannot sink the others.

A commit delay, as PostgreSQL's commit_delay: when a group is small (under GROUP_TARGET_ROWS)
and producers announced with `incoming()` are still receiving or parsing, the writer waits up
to GROUP_DELAY_S for their requests. DuckDB appends a group of at least a row group (122,880
rows) straight to the file, while smaller commits go through the WAL; with four HTTP clients
of 50,000-row bodies, groups grew from 1.6 requests on average and commits took less time per
row (benchmarks/README.md). A lone producer never waits: nobody else is announced. The store
takes each request of a group as it arrives: it prepares the first ones (series, dedup, the
high-water split) in the open transaction while the group waits for the last, and commits once
the group is complete (four HTTP writers: +8 % rows/s).

Taps (`tap(select, deliver)`) see the committed rows without a second pass over them: `select` is
applied to each batch as the store consumes it (a request's batches may be a one-shot spill
file) and keeps the rows someone watches, e.g. those of metrics an alert rule names; `deliver`
gets them on the writer thread once the group committed, before its requests are acknowledged.
With no tap, requests go to the store untouched.

After each commit the writer counts what every request handed to the store into the ingest
metrics (gridpulse.metrics), by the request's `route` and `source`: one counter update per
request, never per row. Producers that know their route set it on the request; `tagged(route,
source=...)` gives one that does not (each configured source) a view of the writer that labels
every request it submits.

`rows_per_s()` is the rate rows were committed at over the last second: background jobs that
compete with ingest for the cores (the rollup refresh) hold back while a bulk load runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace

import pyarrow as pa

from gridpulse import metrics
from gridpulse.errors import StoreError
from gridpulse.model import WriteResult
from gridpulse.store.base import Store, WriteRequest

__all__ = [
    "GROUP_DELAY_S",
    "GROUP_TARGET_ROWS",
    "RATE_WINDOW_S",
    "CommitCallback",
    "TaggedWriter",
    "TapDeliver",
    "TapSelect",
    "Writer",
]

log = logging.getLogger(__name__)

#: Called after each commit with the requests and their results (e.g. in-stream alert rules).
CommitCallback = Callable[[Sequence[WriteRequest], Sequence[WriteResult]], None]
#: Keeps the rows of one batch (KEYED_BATCH_SCHEMA or its encoded form) a tap wants, or None.
TapSelect = Callable[[pa.Table], "pa.Table | None"]
#: Gets, on the writer thread, the rows `select` kept from a group that committed (never empty).
TapDeliver = Callable[[list[pa.Table]], None]

_STOP = object()

#: A group this large commits at once (two DuckDB row groups).
GROUP_TARGET_ROWS = 245_760
#: The longest a small group waits for requests of announced producers. [s]
GROUP_DELAY_S = 0.03
_POLL_S = 0.002
#: The window `rows_per_s` looks back over. [s]
RATE_WINDOW_S = 1.0


class Writer:
    """Serialises all writes to one store; `submit` from any thread, `write` from async code."""

    def __init__(self, store: Store, *, max_group: int = 64, group_delay_s: float = GROUP_DELAY_S) -> None:
        self.store = store
        self.max_group = max_group
        self.group_delay_s = group_delay_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._callbacks: list[CommitCallback] = []
        self._taps: list[tuple[TapSelect, TapDeliver]] = []
        self._thread = threading.Thread(target=self._run, name="gridpulse-writer", daemon=True)
        self._started = False
        self._stopped = False
        self._incoming = 0
        self._incoming_lock = threading.Lock()
        self.commits = 0
        # (time.monotonic() of a commit, rows it took) over the last RATE_WINDOW_S
        self._recent: deque[tuple[float, int]] = deque()
        self._recent_lock = threading.Lock()

    def on_commit(self, callback: CommitCallback) -> None:
        """Register a callback run on the writer thread after every commit."""
        self._callbacks.append(callback)

    def tap(self, select: TapSelect, deliver: TapDeliver) -> None:
        """Register a tap: `select` runs on each batch as it is committed, `deliver` after the
        commit, before the requests are acknowledged, with what it kept (rows of a group that
        failed are never delivered). Register taps before `start`; both run on the writer thread:
        `select` must be cheap and vectorised, `deliver` must only hand the rows on."""
        self._taps.append((select, deliver))

    def start(self) -> Writer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def submit(self, request: WriteRequest) -> Future[WriteResult]:
        """Queue a request; the future resolves once it is committed (or fails).

        Requests queued before `start()` are committed, as one group, when it starts.
        """
        if self._stopped:
            raise StoreError("the writer has stopped; no more writes are accepted")
        if request.received_at is None:
            request = replace(request, received_at=time.monotonic())
        fut: Future[WriteResult] = Future()
        self._queue.put((request, fut))
        return fut

    def tagged(self, route: str, *, source: str = "") -> TaggedWriter:
        """This writer, labelling each request submitted through it with `route` and `source`
        for the ingest metrics (one of metrics.INGEST_ROUTES; the configured source's name)."""
        return TaggedWriter(self, route=route, source=source)

    @contextlib.contextmanager
    def incoming(self) -> Iterator[None]:
        """Announce a request on its way (being received or parsed): submit it inside the block.

        While any are announced, a small group waits up to GROUP_DELAY_S for them to arrive.
        """
        with self._incoming_lock:
            self._incoming += 1
        try:
            yield
        finally:
            with self._incoming_lock:
                self._incoming -= 1

    async def write(self, request: WriteRequest) -> WriteResult:
        """Queue a request and wait, without blocking the event loop, until it is committed."""
        return await asyncio.wrap_future(self.submit(request))

    def write_sync(self, request: WriteRequest) -> WriteResult:
        return self.submit(request).result()

    def rows_per_s(self) -> float:
        """Rows committed per second over the last RATE_WINDOW_S (0 when idle). [rows/s]"""
        cutoff = time.monotonic() - RATE_WINDOW_S
        with self._recent_lock:
            while self._recent and self._recent[0][0] < cutoff:
                self._recent.popleft()
            rows = sum(n for _, n in self._recent)
        return rows / RATE_WINDOW_S

    def _note_rate(self, rows: int) -> None:
        if rows:
            with self._recent_lock:
                self._recent.append((time.monotonic(), rows))

    def stop(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._stopped = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join()
            self._started = False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            stop_after = [False]
            self._commit(self._arriving(item, stop_after))
            if stop_after[0]:
                return

    def _arriving(
        self, first: object, stop_after: list[bool]
    ) -> Iterator[tuple[WriteRequest, Future[WriteResult]]]:
        """The group to commit, as it arrives: `first`, what is queued, plus, while the group is
        small and producers are announced, what arrives within GROUP_DELAY_S. Sets stop_after[0]
        when the stop sentinel comes (the group still commits)."""
        yield first  # type: ignore[misc]
        rows, n = _rows(first), 1
        deadline: float | None = None
        while n < self.max_group:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                if rows >= GROUP_TARGET_ROWS or self._incoming == 0:
                    return
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self.group_delay_s
                if now >= deadline:
                    return
                try:
                    nxt = self._queue.get(timeout=min(_POLL_S, deadline - now))
                except queue.Empty:
                    continue
            if nxt is _STOP:
                stop_after[0] = True
                return
            n += 1
            rows += _rows(nxt)
            yield nxt  # type: ignore[misc]

    def _commit(self, entries: Iterable[tuple[WriteRequest, Future[WriteResult]]]) -> None:
        """Commit `entries` as one group. They may still be arriving (`_arriving`): the store takes
        each request as it comes, so it prepares the first ones while the last are parsed."""
        pending = iter(entries)
        group: list[tuple[WriteRequest, Future[WriteResult]]] = []
        kept: list[list[pa.Table]] = [[] for _ in self._taps]

        def requests() -> Iterator[WriteRequest]:
            for entry in pending:
                group.append(entry)
                req = entry[0]
                # a tapped copy: the original stays as it was for the one-by-one retry
                yield replace(req, batches=self._tapped(req.batches, kept)) if self._taps else req

        try:
            results = self.store.write_group(requests())
        except BaseException as exc:
            taken = len(group)
            group.extend(pending)  # those the store had not taken when it failed
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            log.warning("group commit of %d requests failed (%s); retrying one by one", len(group), exc)
            for i, one in enumerate(group):
                if i < taken and _one_shot(one[0].batches):
                    # its rows were read by the failed attempt and cannot be read again: fail it
                    # (nothing of it is stored) rather than commit it empty
                    one[1].set_exception(
                        StoreError(
                            f"write failed with its group, nothing of it was stored ({exc}); send it again"
                        )
                    )
                    continue
                self._commit([one])
            return
        committed = [req for req, _ in group]
        self.commits += 1
        self._note_rate(_count(committed, results))
        # taps first: once a client has its 2xx, whoever taps (the alert rules) has the rows
        for (_, deliver), rows in zip(self._taps, kept, strict=True):
            if rows:
                try:
                    deliver(rows)
                except Exception:
                    log.exception("tap %r failed", deliver)
        for (_, fut), res in zip(group, results, strict=True):
            fut.set_result(res)
        for cb in self._callbacks:
            try:
                cb(committed, results)
            except Exception:
                log.exception("commit callback %r failed", cb)

    def _tapped(self, batches: Iterable[pa.Table], kept: list[list[pa.Table]]) -> Iterator[pa.Table]:
        """The batches unchanged, each first shown to every tap's `select`."""
        for batch in batches:
            for (select, _), into in zip(self._taps, kept, strict=True):
                if not batch.num_rows:
                    continue
                try:
                    rows = select(batch)
                except Exception:  # a tap must never fail a write
                    log.exception("tap select %r failed on a batch; its rows are not tapped", select)
                    continue
                if rows is not None and rows.num_rows:
                    into.append(rows)
            yield batch


class TaggedWriter(Writer):
    """The writer as one producer sees it: every request it submits carries `route` and `source`
    (see Writer.tagged). Only submitting and announcing go through it; it has no thread."""

    def __init__(self, writer: Writer, *, route: str, source: str = "") -> None:  # not Writer.__init__
        self._inner = writer
        self.store = writer.store
        self.route = route
        self.source = source

    def submit(self, request: WriteRequest) -> Future[WriteResult]:
        return self._inner.submit(replace(request, route=self.route, source=self.source))

    @contextlib.contextmanager
    def incoming(self) -> Iterator[None]:
        with self._inner.incoming():
            yield

    def tagged(self, route: str, *, source: str = "") -> TaggedWriter:
        return TaggedWriter(self._inner, route=route, source=source)

    def rows_per_s(self) -> float:
        return self._inner.rows_per_s()


def _count(requests: Sequence[WriteRequest], results: Sequence[WriteResult]) -> int:
    """The ingest metrics of one committed group: per request, its points and its latency.
    Returns the group's points."""
    now = time.monotonic()
    points = 0
    for req, res in zip(requests, results, strict=True):
        n = res.inserted + res.revised + res.unchanged
        points += n
        metrics.INGEST_ROWS.labels(req.route, req.source).inc(n)
        if req.received_at is not None:
            metrics.INGEST_COMMIT_SECONDS.labels(req.route).observe(max(now - req.received_at, 0.0))
    if points:
        metrics.INGEST_LAST_COMMIT.set(time.time())
    return points


def _one_shot(batches: Iterable[pa.Table]) -> bool:
    """Whether the batches can be read only once (an iterator; lists and RequestBuffer's batches
    start over on every read)."""
    return iter(batches) is batches


def _rows(item: object) -> int:
    request = item[0] if isinstance(item, tuple) else None
    return (request.rows or 0) if isinstance(request, WriteRequest) else 0

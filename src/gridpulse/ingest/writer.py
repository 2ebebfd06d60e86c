"""The single writer: one thread owns the store's write side and commits requests in groups.

Many small requests reach bulk speed through group commit: whatever is queued when the writer
becomes free is committed in one transaction, and every request of the group is acknowledged
only after that commit. If a group fails, each request is retried alone so one bad request
cannot sink the others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from gridpulse.errors import StoreError
from gridpulse.model import WriteResult
from gridpulse.store.base import Store, WriteRequest

__all__ = ["CommitCallback", "Writer"]

log = logging.getLogger(__name__)

#: Called after each commit with the requests and their results (e.g. in-stream alert rules).
CommitCallback = Callable[[Sequence[WriteRequest], Sequence[WriteResult]], None]

_STOP = object()


class Writer:
    """Serialises all writes to one store; `submit` from any thread, `write` from async code."""

    def __init__(self, store: Store, *, max_group: int = 64) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: queue.Queue[object] = queue.Queue()
        self._callbacks: list[CommitCallback] = []
        self._thread = threading.Thread(target=self._run, name="gridpulse-writer", daemon=True)
        self._started = False
        self._stopped = False
        self.commits = 0

    def on_commit(self, callback: CommitCallback) -> None:
        """Register a callback run on the writer thread after every commit."""
        self._callbacks.append(callback)

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
        fut: Future[WriteResult] = Future()
        self._queue.put((request, fut))
        return fut

    async def write(self, request: WriteRequest) -> WriteResult:
        """Queue a request and wait, without blocking the event loop, until it is committed."""
        return await asyncio.wrap_future(self.submit(request))

    def write_sync(self, request: WriteRequest) -> WriteResult:
        return self.submit(request).result()

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
            group = [item]
            stop_after = False
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                group.append(nxt)
            self._commit(group)  # type: ignore[arg-type]
            if stop_after:
                return

    def _commit(self, group: list[tuple[WriteRequest, Future[WriteResult]]]) -> None:
        requests = [req for req, _ in group]
        try:
            results = self.store.write_group(requests)
        except BaseException as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            log.warning("group commit of %d requests failed (%s); retrying one by one", len(group), exc)
            for one in group:
                self._commit([one])
            return
        self.commits += 1
        for (_, fut), res in zip(group, results, strict=True):
            fut.set_result(res)
        for cb in self._callbacks:
            try:
                cb(requests, results)
            except Exception:
                log.exception("commit callback %r failed", cb)

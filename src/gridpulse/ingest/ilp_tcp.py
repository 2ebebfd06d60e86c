"""Line protocol over TCP, as QuestDB's ILP port takes it: no acknowledgements, bad lines skipped.

Each connection streams lines; complete lines are parsed in a worker thread and committed through
the single writer, at most one batch per connection in flight (backpressure: a fast producer
waits for the disk, it does not fill the memory). A bad line is counted, logged and skipped, and
the connection stays up. Resends after a broken connection are deduplicated by the store like
any other write. A last line without its newline is dropped: a broken connection may have cut it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from gridpulse.ingest.lineprotocol import parse_line_batch
from gridpulse.ingest.split import LineBlockSplitter, RawBatch
from gridpulse.ingest.writer import Writer
from gridpulse.model import SeriesMeta, WriteResult
from gridpulse.store.base import WriteRequest

__all__ = ["IlpStats", "LineProtocolServer"]

log = logging.getLogger(__name__)

_READ_BYTES = 1 << 20
_LULL_S = 0.02
_LOGGED_ERRORS_PER_CONNECTION = 20


@dataclass
class IlpStats:
    """Counters since start: connections, lines, points written, lines rejected."""

    connections: int = 0
    open_connections: int = 0
    lines: int = 0
    points: int = 0
    rejected_lines: int = 0
    ignored_fields: int = 0
    write_failures: int = 0
    truncated_lines: int = 0


class LineProtocolServer:
    """An asyncio TCP server feeding line protocol to the writer."""

    def __init__(self, writer: Writer, *, batch_rows: int) -> None:
        self.writer = writer
        self.batch_rows = batch_rows
        self.stats = IlpStats()
        self._server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound socket (the CLI binds it, so port 0 and conflicts show early)."""
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=_READ_BYTES)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _commit(
        self, raw: RawBatch, peer: str, logged: list[int]
    ) -> asyncio.Future[WriteResult] | None:
        parsed = await asyncio.to_thread(parse_line_batch, raw)
        self.stats.lines += parsed.rows
        self.stats.ignored_fields += parsed.ignored_fields
        if parsed.errors:
            self.stats.rejected_lines += len(parsed.errors)
            for err in parsed.errors:
                if logged[0] < _LOGGED_ERRORS_PER_CONNECTION:
                    log.warning("line protocol from %s: skipped line %d: %s", peer, err.line, err)
                logged[0] += 1
        if not parsed.table.num_rows:
            return None
        meta = parsed.meta
        self.stats.points += parsed.table.num_rows
        fut = self.writer.submit(WriteRequest([parsed.table], lambda key: meta.get(key, SeriesMeta())))
        return asyncio.wrap_future(fut)

    async def _handle(self, reader: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
        peer = str(out.get_extra_info("peername"))
        self.stats.connections += 1
        self.stats.open_connections += 1
        splitter = LineBlockSplitter(self.batch_rows)
        in_flight: asyncio.Future[WriteResult] | None = None
        logged = [0]

        async def settle() -> None:
            nonlocal in_flight
            if in_flight is not None:
                try:
                    await in_flight
                except Exception:
                    self.stats.write_failures += 1
                    log.exception("line protocol from %s: a batch failed to commit", peer)
                in_flight = None

        try:
            while True:
                try:
                    # gather lines while they keep coming: bigger batches append faster; a lull of
                    # _LULL_S flushes what is there, so a trickle is still written promptly
                    chunk = await asyncio.wait_for(
                        reader.read(_READ_BYTES), _LULL_S if splitter.has_records() else None
                    )
                except TimeoutError:
                    chunk = None
                if chunk == b"":
                    break
                ready = list(splitter.feed(chunk)) if chunk else []
                if chunk is None:
                    ready += list(splitter.drain())
                for raw in ready:
                    nxt = await self._commit(raw, peer, logged)
                    await settle()
                    in_flight = nxt
            for raw in splitter.drain():
                nxt = await self._commit(raw, peer, logged)
                await settle()
                in_flight = nxt
            if splitter.pending_bytes():
                # a line without its newline was cut by a broken connection: `x=12` may be the
                # start of `x=123`, so it is dropped, never guessed (the producer resends it)
                self.stats.truncated_lines += 1
                log.warning("line protocol from %s: dropped an unterminated last line", peer)
            await settle()
        except (ConnectionError, asyncio.IncompleteReadError):
            await settle()
        finally:
            if logged[0] > _LOGGED_ERRORS_PER_CONNECTION:
                log.warning("line protocol from %s: %d bad lines in all", peer, logged[0])
            self.stats.open_connections -= 1
            out.close()

"""Line protocol over TCP, as QuestDB's ILP port takes it: no acknowledgements, bad lines skipped.

Each connection streams lines; the bytes that arrived are cut into whole lines and parsed on a
worker thread and committed through the single writer, at most one batch per connection in
flight (backpressure: past _PAUSE_BYTES unprocessed, reading stops, so a fast producer waits for
the disk, it does not fill the memory). A bad line is counted, logged and skipped, and the
connection stays up. Resends after a broken connection are deduplicated by the store like any
other write. A last line without its newline is dropped: a broken connection may have cut it.

The event loop only collects the chunks the socket delivers (an asyncio Protocol, not a
StreamReader: no copy through a stream buffer), so it never holds the GIL for long.

The ingest metrics count under route `lp_tcp`: the bytes of each chunk handed to the parser,
bad lines, and (by the writer) the points of each block, with its latency from the moment the
chunk was taken for cutting until the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from typing import cast

from gridpulse import metrics
from gridpulse.ingest.lineprotocol import parse_line_batch
from gridpulse.ingest.parse import ParsedBatch
from gridpulse.ingest.parse_pool import in_parse_thread
from gridpulse.ingest.split import LineBlockSplitter
from gridpulse.ingest.writer import Writer
from gridpulse.model import SeriesMeta, WriteResult
from gridpulse.store.base import WriteRequest

__all__ = ["IlpStats", "LineProtocolServer"]

log = logging.getLogger(__name__)

_LULL_S = 0.02
_PAUSE_BYTES = 2 << 20
_STOP_WAIT_S = 30.0
_LOGGED_ERRORS_PER_CONNECTION = 20
#: Lines per block, in ingest.batch_rows: DuckDB writes an append of at least a row group
#: (122,880 rows) straight to the file; 4 x 50,000 lines measured 1.2 M rows/s against 0.95 M
#: for single batches (benchmarks/README.md).
_BLOCK_BATCHES = 4


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
        # a connection that streams fast is cut into blocks of several batches: the store appends
        # a big block much faster (see _BLOCK_BATCHES); a trickle is flushed at each lull
        self.block_lines = batch_rows * _BLOCK_BATCHES
        self.stats = IlpStats()
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound socket (the CLI binds it, so port 0 and conflicts show early)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock)

    async def stop(self) -> None:
        """Stop listening, close open connections and commit what they had sent."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [asyncio.ensure_future(c.close()) for c in list(self._connections)]
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_WAIT_S)

    def cut_and_parse(self, splitter: LineBlockSplitter, chunk: bytes | None) -> list[ParsedBatch]:
        """On a worker thread: feed a chunk (None: the stream paused or ended) and parse the blocks
        of whole lines it completes."""
        ready = list(splitter.feed(chunk)) if chunk else list(splitter.drain())
        return [parse_line_batch(raw) for raw in ready]

    def submit(
        self, parsed: ParsedBatch, peer: str, logged: list[int], *, received_at: float | None = None
    ) -> asyncio.Future[WriteResult] | None:
        """Count a parsed block, log its bad lines and queue its points; None when it has none.

        received_at: when the block's bytes were taken for cutting. [s, time.monotonic()]
        """
        self.stats.lines += parsed.rows
        self.stats.ignored_fields += parsed.ignored_fields
        if parsed.errors:
            self.stats.rejected_lines += len(parsed.errors)
            metrics.INGEST_REJECTS.labels("lp_tcp").inc(len(parsed.errors))
            for err in parsed.errors:
                if logged[0] < _LOGGED_ERRORS_PER_CONNECTION:
                    log.warning("line protocol from %s: skipped line %d: %s", peer, err.line, err)
                logged[0] += 1
        if not parsed.table.num_rows:
            return None
        meta = parsed.meta
        self.stats.points += parsed.table.num_rows
        fut = self.writer.submit(
            WriteRequest(
                [parsed.table],
                lambda key: meta.get(key, SeriesMeta()),
                rows=parsed.table.num_rows,
                route="lp_tcp",
                received_at=received_at,
            )
        )
        return asyncio.wrap_future(fut)


class _Connection(asyncio.Protocol):
    """One producer: chunks arrive in data_received, a task cuts, parses and commits them."""

    def __init__(self, server: LineProtocolServer) -> None:
        self.server = server
        self.splitter = LineBlockSplitter(server.block_lines)
        self.peer = "?"
        self.transport: asyncio.Transport | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._arrived = asyncio.Event()
        self._in_flight: asyncio.Future[WriteResult] | None = None
        self._logged = [0]
        self._task: asyncio.Task[None] | None = None

    # --- the protocol: runs on the event loop, kept short
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.peer = str(transport.get_extra_info("peername"))
        stats = self.server.stats
        stats.connections += 1
        stats.open_connections += 1
        self.server._connections.add(self)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self._arrived.set()
        if self._buffered > _PAUSE_BYTES and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True

    def eof_received(self) -> bool:
        self._eof = True
        self._arrived.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._arrived.set()

    async def close(self) -> None:
        """Close the socket and wait until what arrived is committed."""
        if self.transport is not None:
            self.transport.close()
        if self._task is not None:
            await asyncio.shield(self._task)

    # --- the work
    async def _run(self) -> None:
        try:
            while True:
                if not self._chunks and not self._eof:
                    self._arrived.clear()
                    try:
                        # gather lines while they keep coming: bigger batches append faster; a
                        # lull of _LULL_S flushes what is there, so a trickle is written promptly
                        timeout = _LULL_S if self.splitter.has_records() else None
                        await asyncio.wait_for(self._arrived.wait(), timeout)
                    except TimeoutError:
                        await self._ingest(None)
                        continue
                if not self._chunks:
                    break  # end of stream and nothing left
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if self._paused and self.transport is not None:
                    self.transport.resume_reading()
                    self._paused = False
                await self._ingest(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            await self._ingest(None)
            if self.splitter.pending_bytes():
                # a line without its newline was cut by a broken connection: `x=12` may be the
                # start of `x=123`, so it is dropped, never guessed (the producer resends it)
                self.server.stats.truncated_lines += 1
                log.warning("line protocol from %s: dropped an unterminated last line", self.peer)
            await self._settle()
        except Exception:
            log.exception("line protocol from %s: the connection failed", self.peer)
            await self._settle()
        finally:
            if self._logged[0] > _LOGGED_ERRORS_PER_CONNECTION:
                log.warning("line protocol from %s: %d bad lines in all", self.peer, self._logged[0])
            self.server.stats.open_connections -= 1
            self.server._connections.discard(self)
            if self.transport is not None:
                with contextlib.suppress(RuntimeError):
                    self.transport.close()

    async def _ingest(self, chunk: bytes | None) -> None:
        received_at = time.monotonic()
        if chunk:
            metrics.INGEST_BYTES.labels("lp_tcp").inc(len(chunk))
        with self.server.writer.incoming():
            parsed_blocks = await in_parse_thread(self.server.cut_and_parse, self.splitter, chunk)
            submitted = [
                self.server.submit(parsed, self.peer, self._logged, received_at=received_at)
                for parsed in parsed_blocks
            ]
        for nxt in submitted:
            await self._settle()
            self._in_flight = nxt

    async def _settle(self) -> None:
        if self._in_flight is not None:
            try:
                await self._in_flight
            except Exception:
                self.server.stats.write_failures += 1
                log.exception("line protocol from %s: a batch failed to commit", self.peer)
            self._in_flight = None

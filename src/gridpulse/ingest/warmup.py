"""Warming the ingest path before a server takes traffic; nothing is stored.

warm_up_parsers(): every parser once on a tiny body. pyarrow loads its compute kernels, its JSON
and CSV readers and (when installed) pandas lazily, on the first call that needs them: ~0.3 s of
imports holding the GIL. Without this the first ingest requests pay that while other requests
wait; measured under four NDJSON writers, module loading was a third of the GIL-holding samples
of a 3 s load.

warm_up_streams(): full-size bodies of line protocol and NDJSON through the routes' own cut and
parse (on the parse threads, parse_pool.py), as many at once as writers are expected. After the
imports, a fresh server's first bodies were still slow: four writers' first 50,000-line bodies
were acknowledged after 310-360 ms, the next ones after 85-95 ms, while a server that had parsed
four such bodies before answered the first ones in 190-250 ms (the threads exist and their
memory is mapped). `gridpulse serve` runs it before it listens.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

from gridpulse.ingest.lineprotocol import parse_line_batch
from gridpulse.ingest.parse import parse_batch
from gridpulse.ingest.shapes import SHAPES
from gridpulse.ingest.split import LineBlockSplitter, NdjsonSplitter, RawBatch
from gridpulse.ingest.stream import BatchParser, json_parser, parse_stream

__all__ = ["warm_up_parsers", "warm_up_streams"]

#: meters in a warm-up body: about a fleet's worth of distinct series ids
_METERS = 1000
#: 64 KiB: the pieces an HTTP server hands a body over in
_CHUNK_BYTES = 1 << 16

_NDJSON = (
    b'{"ts": "2026-01-01T00:00:00Z", "meter_id": "warm-up", "kwh": 1.5}',
    b'{"ts": "2026-01-01T00:15:00Z", "meter_id": "warm-up", "kwh": null}',
)
_LINES = (
    b"meter_usage,meter_id=warm-up kwh=1.5 1767225600000000000\n"
    b'meter_usage,meter_id=warm\\ up kwh=2i,note="x" 1767226500000000000\n'
)


def warm_up_parsers() -> int:
    """Parse a small NDJSON and line-protocol body through the fast and careful paths; nothing is stored.

    Returns:
        The number of points parsed, so a caller can check the warm-up did its work.
    """
    shape = SHAPES["meter_usage"]
    points: int = 0
    for records in (_NDJSON[:1], _NDJSON):  # the first takes Arrow's JSON reader, the second the careful path
        raw = RawBatch(records, list(range(1, len(records) + 1)), 1)
        points += parse_batch(raw, shape, tz=None).table.num_rows
    # a block of alike records, as the HTTP route hands them over: read without a JSON parser
    flat = _NDJSON[0].replace(b" ", b"")
    points += parse_batch(RawBatch((), range(1, 2), 1, block=flat), shape, tz=None).table.num_rows
    for block in (_LINES.split(b"\n", 1)[0] + b"\n", _LINES):
        points += parse_line_batch(RawBatch((), (), 1, block=block)).table.num_rows
    return points


def _bodies(lines: int) -> dict[str, bytes]:
    """A line protocol and an NDJSON body of `lines` 15-minute meter readings, as producers
    write them: a fleet's readings instant after instant (built per instant: 50,000 lines in
    ~25 ms instead of ~130 line by line)."""
    t0_s = 1767225600  # 2026-01-01T00:00:00Z
    meters = [f"warm-{m:04d}" for m in range(_METERS)]
    kwh = [((m * 7919) % 1000) / 1000 for m in range(_METERS)]
    lp_head = [f"meter_usage,meter_id={m} kwh={k} " for m, k in zip(meters, kwh, strict=True)]
    nd_tail = [f'","meter_id":"{m}","kwh":{k}}}\n' for m, k in zip(meters, kwh, strict=True)]
    lp: list[str] = []
    nd: list[str] = []
    for step in range(-(-lines // _METERS)):
        n = min(_METERS, lines - step * _METERS)
        ts_ns = f"{t0_s + 900 * step}000000000\n"
        stamp = f'{{"ts":"2026-01-{1 + step // 96:02d}T{(step % 96) // 4:02d}:{15 * (step % 4):02d}:00Z'
        lp.append(ts_ns.join(lp_head[:n]) + ts_ns)
        nd.append("".join(stamp + tail for tail in nd_tail[:n]))
    return {"lp": "".join(lp).encode(), "ndjson": "".join(nd).encode()}


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(body), _CHUNK_BYTES):
        yield body[at : at + _CHUNK_BYTES]


async def _parse_body(fmt: str, body: bytes, batch_rows: int) -> int:
    if fmt == "lp":
        splitter: LineBlockSplitter | NdjsonSplitter = LineBlockSplitter(batch_rows)
        parse: BatchParser = functools.partial(parse_line_batch, precision=None)
    else:
        splitter = NdjsonSplitter(batch_rows, blocks=True)
        parse = json_parser(SHAPES["meter_usage"], None)
    rows = 0
    async for parsed in parse_stream(_chunks(body), splitter, parse):
        if parsed.errors:  # the synthetic body is valid: anything else is a bug here
            raise RuntimeError(f"warm-up {fmt} body rejected: {parsed.errors[0]}")
        rows += parsed.rows
    return rows


async def warm_up_streams(batch_rows: int, streams: int) -> int:
    """Parse a body of `batch_rows` lines of each format on `streams` bodies at once, through the
    ingest routes' cut and parse (on the event loop's worker threads); nothing is stored.

    Returns:
        The rows parsed, so a caller can check the warm-up did its work.
    """
    if streams < 1:
        return 0
    bodies = await asyncio.to_thread(_bodies, batch_rows)
    rows = 0
    for fmt, body in bodies.items():
        done = await asyncio.gather(*(_parse_body(fmt, body, batch_rows) for _ in range(streams)))
        rows += sum(done)
    return rows

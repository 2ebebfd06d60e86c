"""One ingest request end to end: byte stream -> batches -> validation -> buffer -> commit.

Used by the HTTP routes and by anything else that posts a body (tests, the CLI). Parsing runs
in a worker thread so a large body never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from gridpulse import metrics
from gridpulse.config import Settings
from gridpulse.errors import IngestError, PayloadTooLarge, RowError
from gridpulse.ingest.buffer import RequestBuffer
from gridpulse.ingest.parse import ParsedBatch, parse_batch
from gridpulse.ingest.parse_pool import in_parse_thread
from gridpulse.ingest.shapes import RouteShape, unit_for_metric
from gridpulse.ingest.split import RawBatch, Splitter
from gridpulse.ingest.writer import Writer
from gridpulse.model import SeriesKey, SeriesMeta, WriteResult
from gridpulse.store.base import WriteRequest

__all__ = [
    "BatchParser",
    "BodyFormat",
    "IngestReport",
    "OnError",
    "ingest_stream",
    "json_parser",
    "meta_for_shape",
    "parse_stream",
]


class BodyFormat(enum.StrEnum):
    JSON_ARRAY = "json"
    NDJSON = "ndjson"


class OnError(enum.StrEnum):
    """What a bad row does to its request: reject all of it (default), or skip just that row."""

    REJECT = "reject"
    SKIP = "skip"


@dataclass
class IngestReport:
    """The outcome of one committed ingest request."""

    rows: int = 0
    points: int = 0
    nulls: int = 0
    result: WriteResult = field(default_factory=WriteResult)
    rejected: list[RowError] = field(default_factory=list)
    rejected_count: int = 0
    ignored_fields: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ok",
            "rows": self.rows,
            "points": self.points,
            "nulls": self.nulls,
            **self.result.as_dict(),
            "rejected_count": self.rejected_count,
            "rejected": [e.as_dict() for e in self.rejected],
        }


def meta_for_shape(shape: RouteShape, tz: str | None) -> Callable[[SeriesKey], SeriesMeta]:
    """Metadata for series a route creates: unit from the field or metric name, nominal interval."""

    def meta_for(key: SeriesKey) -> SeriesMeta:
        unit = shape.value_fields.get(key.metric) if shape.value_fields else None
        interval: timedelta | None = shape.interval
        return SeriesMeta(
            unit=unit if unit is not None else unit_for_metric(key.metric),
            interval=interval,
            tz=tz or "UTC",
            device_id=key.entity_id if key.entity_kind == "device" else None,
            channel_id=key.entity_id if key.entity_kind == "channel" else None,
        )

    return meta_for


@dataclass
class _Body:
    """What arrived of a body: its bytes so far, and when its last byte came (time.monotonic())."""

    bytes: int = 0
    ended_at: float | None = None


async def _limited(chunks: AsyncIterator[bytes], limit: int, body: _Body) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        body.bytes += len(chunk)
        if body.bytes > limit:
            raise PayloadTooLarge(limit)
        yield chunk
    body.ended_at = time.monotonic()


async def _gathered(chunks: AsyncIterator[bytes], min_bytes: int) -> AsyncIterator[list[bytes]]:
    """Body chunks (HTTP servers hand them over in ~64 KiB pieces) in groups of at least min_bytes."""
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= min_bytes:
            yield pending
            pending, size = [], 0
    if pending:
        yield pending


def _cut_and_parse(splitter: Splitter, parse: BatchParser, chunks: list[bytes] | None) -> list[ParsedBatch]:
    """On a worker thread: feed chunks to the splitter (None: the body ended) and parse the batches
    they complete. Cutting records here keeps the event loop free to receive other bodies."""
    if chunks is None:
        raws = splitter.close()
    else:
        raws = splitter.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    return [parse(raw) for raw in raws]


async def parse_stream(
    chunks: AsyncIterator[bytes], splitter: Splitter, parse: BatchParser
) -> AsyncIterator[ParsedBatch]:
    """The parsed batches of a body arriving in chunks, cut and parsed on worker threads."""
    async for group in _gathered(chunks, _HAND_OFF_BYTES):
        for parsed in await in_parse_thread(_cut_and_parse, splitter, parse, group):
            yield parsed
    for parsed in await in_parse_thread(_cut_and_parse, splitter, parse, None):
        yield parsed


def store_batch_rows(settings: Settings) -> int:
    """Rows per store append: five parse batches, at most 250 000 (lower ingest.batch_rows to save memory)."""
    return min(5 * settings.ingest.batch_rows, 250_000)


#: Body bytes handed to a worker thread at a time for cutting and parsing.
_HAND_OFF_BYTES = 1 << 20

#: Turns one batch of raw records into a validated keyed batch.
BatchParser = Callable[[RawBatch], ParsedBatch]


def json_parser(shape: RouteShape, tz: str | None) -> BatchParser:
    """The parser of a JSON route: rows of `shape`, naive times read in `tz`."""
    return functools.partial(parse_batch, shape=shape, tz=tz)


async def ingest_stream(
    chunks: AsyncIterator[bytes],
    *,
    splitter: Splitter,
    parse: BatchParser,
    meta_for: Callable[[SeriesKey], SeriesMeta],
    writer: Writer,
    spill_dir: Path,
    spill_bytes: int,
    max_body_bytes: int,
    max_listed_rejects: int,
    on_error: OnError = OnError.REJECT,
    store_batch_rows: int = 250_000,
    route: str = "api",
) -> IngestReport:
    """Parse, validate and commit one request body.

    Args:
        splitter: cuts the byte stream into batches of raw records (NDJSON, JSON array, lines).
        parse: validates one batch; metadata it reports for new series wins over `meta_for`.
        meta_for: metadata of series the request creates, when the format says nothing.
        store_batch_rows: parsed batches are joined up to this many rows for the store, which
            appends faster in bigger pieces; memory grows with it.
        route: the ingest route the body's bytes, rejects and points are counted under
            (metrics.INGEST_ROUTES).

    Returns:
        IngestReport once every accepted row is committed.

    Raises:
        IngestError: a row is bad and on_error is REJECT (nothing is stored), or the body is
            not readable at all; lists the first rejected rows with line, field and reason.
        PayloadTooLarge: the body passed max_body_bytes (nothing is stored).
    """
    buffer = RequestBuffer(spill_dir, spill_bytes)
    report = IngestReport()
    seen_meta: dict[SeriesKey, SeriesMeta] = {}
    body = _Body()
    try:
        # announced while the body arrives: the writer may hold a small group a moment for it
        with writer.incoming():
            async for parsed in parse_stream(_limited(chunks, max_body_bytes, body), splitter, parse):
                report.rows += parsed.rows
                report.ignored_fields += parsed.ignored_fields
                if parsed.errors:
                    report.rejected_count += len(parsed.errors)
                    room = max_listed_rejects - len(report.rejected)
                    report.rejected.extend(parsed.errors[: max(room, 0)])
                    if on_error is OnError.REJECT:
                        buffer.discard()  # the request is lost anyway: free memory, keep counting errors
                if report.rejected_count and on_error is OnError.REJECT:
                    continue
                buffer.add(parsed.table)
                seen_meta.update(parsed.meta)
                report.nulls += parsed.nulls
            if report.rejected_count and on_error is OnError.REJECT:
                raise IngestError(report.rejected, report.rejected_count)
            report.points = buffer.rows
            if not buffer.rows:
                return report

            def meta(key: SeriesKey) -> SeriesMeta:
                found = seen_meta.get(key)
                return found if found is not None else meta_for(key)

            batches = buffer.batches(target_rows=store_batch_rows)
            request = WriteRequest(
                batches=batches, meta_for=meta, rows=buffer.rows, route=route, received_at=body.ended_at
            )
            committed = writer.submit(request)
        report.result = await asyncio.wrap_future(committed)
        return report
    finally:
        buffer.discard()
        # once per request: the points are counted by the writer when they commit
        metrics.INGEST_BYTES.labels(route).inc(body.bytes)
        if report.rejected_count:
            metrics.INGEST_REJECTS.labels(route).inc(report.rejected_count)

"""Handing what a source fetched to the ingest layer, and noting which series it reached how far.

`write_records` runs decoded rows through the same parser as the JSON ingest routes
(`ingest.parse.parse_batch`: timestamps, NULLs, bad values named by line and field) and commits
the good ones through the single writer. `TrackingWriter` sits in front of the writer for
sources that use `ingest.files.load_file` and notes, per series, the newest timestamp committed,
so every source reports freshness per series the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.ingest.parse import ParsedBatch, parse_batch
from gridpulse.ingest.shapes import RouteShape
from gridpulse.ingest.split import RawBatch
from gridpulse.ingest.writer import Writer
from gridpulse.model import SeriesKey, SeriesMeta, WriteResult
from gridpulse.store.base import SourceMark, Store, WriteRequest

__all__ = ["TrackingWriter", "newest_by_series", "parse_records", "save_series_marks", "write_parsed"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def parse_records(records: Sequence[dict[str, Any]], shape: RouteShape, *, tz: str | None) -> ParsedBatch:
    """Validate decoded rows of `shape` as the ingest routes do (line n is the n-th row)."""
    raw = RawBatch(
        records=[orjson.dumps(r, default=_default, option=orjson.OPT_SERIALIZE_NUMPY) for r in records],
        lines=list(range(1, len(records) + 1)),
        first_record=1,
    )
    return parse_batch(raw, shape, tz=tz)


def write_parsed(
    writer: Writer,
    parsed: ParsedBatch,
    meta_for: Callable[[SeriesKey], SeriesMeta],
    *,
    received_at: float | None = None,
) -> WriteResult | None:
    """Commit a parsed batch's good rows through the single writer (None when it has none).

    Args:
        received_at: when the rows arrived, for the ingest-to-commit latency; None: when
            submitted. [s, time.monotonic()]

    Raises:
        StoreError: the commit failed; nothing of the batch is stored.
    """
    if not parsed.table.num_rows:
        return None
    seen = parsed.meta

    def meta(key: SeriesKey) -> SeriesMeta:
        found = seen.get(key)
        return found if found is not None else meta_for(key)

    request = WriteRequest([parsed.table], meta, rows=parsed.table.num_rows, received_at=received_at)
    return writer.write_sync(request)


def newest_by_series(tables: Iterable[pa.Table]) -> dict[str, datetime]:
    """Series name (`kind:entity/metric`) -> newest timestamp among the rows (aware UTC)."""
    out: dict[str, datetime] = {}
    for table in tables:
        if not table.num_rows:
            continue
        cols = {}
        for name in ("entity_kind", "entity_id", "metric"):
            col = table.column(name)
            cols[name] = pc.cast(col, pa.string()) if pa.types.is_dictionary(col.type) else col
        slim = pa.table({**cols, "ts": table.column("ts")})
        grouped = slim.group_by(["entity_kind", "entity_id", "metric"]).aggregate([("ts", "max")])
        for kind, entity, metric, ts in zip(
            grouped.column("entity_kind").to_pylist(),
            grouped.column("entity_id").to_pylist(),
            grouped.column("metric").to_pylist(),
            grouped.column("ts_max").to_pylist(),
            strict=True,
        ):
            name = str(SeriesKey(kind, entity, metric))
            ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
            if name not in out or ts > out[name]:
                out[name] = ts
    return out


class TrackingWriter(Writer):
    """A stand-in for the writer that notes the newest timestamp per series it passes on.

    Only what committed counts: `committed_newest()` merges the requests whose commit succeeded.
    """

    def __init__(self, writer: Writer) -> None:  # deliberately not Writer.__init__: no thread of its own
        self._inner = writer
        self._pending: list[tuple[Future[WriteResult], dict[str, datetime]]] = []

    def submit(self, request: WriteRequest) -> Future[WriteResult]:
        batches = list(request.batches)
        newest = newest_by_series(batches)
        fut = self._inner.submit(replace(request, batches=batches))
        self._pending.append((fut, newest))
        return fut

    def committed_newest(self) -> dict[str, datetime]:
        """Series name -> newest timestamp committed through this writer (waits for open commits)."""
        out: dict[str, datetime] = {}
        for fut, newest in self._pending:
            if fut.exception() is not None:
                continue
            for name, ts in newest.items():
                if name not in out or ts > out[name]:
                    out[name] = ts
        return out


def save_series_marks(store: Store, source: str, newest: dict[str, datetime], at: datetime) -> int:
    """Advance the source's per-series watermarks to the newest committed timestamps (never back).

    Returns:
        How many marks were written.
    """
    if not newest:
        return 0
    known = {m.key: m for m in store.source_marks(source)}
    marks = []
    for name, ts in newest.items():
        old = known.get(name)
        keep = old.watermark if old is not None and old.watermark is not None and old.watermark > ts else ts
        marks.append(SourceMark(source, name, keep, at, {"kind": "series"}))
    return store.save_source_marks(marks)

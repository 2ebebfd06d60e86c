"""Load files into the store: CSV, Parquet, JSON arrays and NDJSON (each optionally gzipped).

`load_file` reads one file in batches (memory bounded by the batch), turns its rows into points
as a `Mapping` says, writes good rows through the single writer batch by batch, and writes rejected
rows (line, column, reason, the row) to a rejects file. `load_paths` does that for several files or
folders, and recognises the battery layout (a folder with `assets/` and `telemetry/`).

A load is not atomic: each batch is committed when it is written, so a file that fails halfway
leaves the batches before the failure stored. Loading it again stores nothing twice: the store
drops identical points (the report counts them as unchanged).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from gridpulse.errors import ConfigError, GridpulseError, IngestError, RowError
from gridpulse.ingest.layout import batch_points, file_stem, raw_row, resolve_layout
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.readers import EXTENSIONS, FileSource, RawChunk
from gridpulse.ingest.rejects import RejectsWriter, default_rejects_path
from gridpulse.ingest.report import LoadProgress, LoadReport, ProgressCallback
from gridpulse.ingest.shapes import unit_for_metric
from gridpulse.ingest.writer import GROUP_TARGET_ROWS, Writer
from gridpulse.model import SeriesKey, SeriesMeta, WriteResult
from gridpulse.store.base import Store, WriteRequest

__all__ = [
    "LoadItem",
    "LoadProgress",
    "LoadReport",
    "ProgressCallback",
    "file_stem",
    "is_battery_layout",
    "load_file",
    "load_item",
    "load_items",
    "load_paths",
    "plan_paths",
]

#: Batches queued at the writer while the next one is parsed.
_IN_FLIGHT = 2


@dataclass(frozen=True)
class LoadItem:
    """One file to load: its points with `mapping`, or, with `reference`, rows of that reference table."""

    path: Path
    mapping: Mapping
    reference: str | None = None


# --------------------------------------------------------------------------------- one file
class _FileLoad:
    """Loading one file of points; its counters survive a failure so a partial report can be made."""

    def __init__(
        self,
        writer: Writer,
        path: Path,
        mapping: Mapping,
        *,
        rejects: RejectsWriter,
        name: str,
        progress: ProgressCallback | None,
        batch_rows: int,
        tmp_dir: Path | None,
    ) -> None:
        self.writer = writer
        self.path = path
        self.mapping = mapping
        self.rejects = rejects
        self.name = name
        self.progress = progress
        self.batch_rows = batch_rows
        self.tmp_dir = tmp_dir
        self.rows = self.points = self.nulls = self.rejected = 0
        self.result = WriteResult()
        self.started = time.monotonic()
        self.series_meta: dict[SeriesKey, SeriesMeta] = {}
        self._inflight: deque[Future[WriteResult]] = deque()
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._first: tuple[int, str | None, str] = (0, None, "")

    def report(self, error: str | None = None) -> LoadReport:
        return LoadReport(
            path=self.name,
            rows=self.rows,
            points=self.points,
            nulls=self.nulls,
            inserted=self.result.inserted,
            revised=self.result.revised,
            unchanged=self.result.unchanged,
            series_created=self.result.series_created,
            rejected=self.rejected,
            rejects_path=str(self.rejects.path) if self.rejects.count else None,
            seconds=time.monotonic() - self.started,
            error=error,
        )

    def meta_for(self, key: SeriesKey) -> SeriesMeta:
        found = self.series_meta.get(key)
        if found is not None:
            return found
        m = self.mapping
        units = dict(m.units)
        return SeriesMeta(
            unit=units.get(key.metric) or m.unit or unit_for_metric(key.metric),
            interval=m.interval,
            tz=m.tz or "UTC",
            tags=dict(m.tags),
            device_id=key.entity_id if key.entity_kind == "device" else None,
            channel_id=key.entity_id if key.entity_kind == "channel" else None,
        )

    def run(self) -> LoadReport:
        try:
            with FileSource(
                self.path,
                format=self.mapping.format,
                delimiter=self.mapping.delimiter,
                batch_rows=self.batch_rows,
                tmp_dir=self.tmp_dir,
            ) as source:
                header = source.header()
                if header is not None:
                    resolve_layout(header, self.mapping, name=self.name, strict=True)
                first = True
                for chunk in source.chunks():
                    self.series_meta = source.series_meta
                    good = self._chunk(chunk, source)
                    if first and len(chunk.lines) and good == 0:
                        raise self._nothing_good(chunk)
                    first = first and not len(chunk.lines)
                    if self.progress is not None:
                        self.progress(
                            LoadProgress(self.name, chunk.position, source.size, self.rows, self.points)
                        )
        finally:
            self._submit()  # what was accepted before an error is still written
            self._drain()
        return self.report()

    def _nothing_good(self, chunk: RawChunk) -> IngestError:
        """The first batch had no good row: the mapping is wrong for this file, so stop here."""
        return IngestError(
            [
                RowError(
                    self._first[0],
                    0,
                    self._first[1],
                    f"{self._first[2]} (no row of the first batch, {len(chunk.lines)} rows, was "
                    "accepted: is the mapping right for this file?)",
                )
            ],
            self.rejected,
        )

    def _drain(self, keep: int = 0) -> None:
        while len(self._inflight) > keep:
            self.result = self.result + self._inflight.popleft().result()

    def _reject(self, line: int, column: str | None, reason: str, row: Any) -> None:
        if self.rejected == 0:
            self._first = (line, column, reason)
        self.rejected += 1
        self.rejects.add(self.name, line, column, reason, row)

    def _chunk(self, chunk: RawChunk, source: FileSource) -> int:
        """Convert, reject and write one batch; returns its good rows."""
        for line, reason, text in chunk.unreadable:
            self.rows += 1
            self._reject(line, None, reason, text)
        n = len(chunk.lines)
        if n == 0:
            return 0
        self.rows += n
        strict = source.format in ("csv", "parquet")
        layout = resolve_layout(chunk.table.column_names, self.mapping, name=self.name, strict=strict)
        table, bad = batch_points(chunk, layout, self.mapping)
        for i, (column, reason) in sorted(bad.items()):
            self._reject(int(chunk.lines[i]), column, reason, raw_row(chunk, i))
        if table.num_rows:
            self.points += table.num_rows
            self.nulls += table.column("value").null_count
            self._pending.append(table)
            self._pending_rows += table.num_rows
            if self._pending_rows >= GROUP_TARGET_ROWS:
                self._submit()
        return n - len(bad)

    def _submit(self) -> None:
        """Hand the converted batches to the writer as one request: a commit of at least two row
        groups appends straight to the file (see ingest/writer.py), one per 50k-row batch did not."""
        if not self._pending:
            return
        request = WriteRequest(
            batches=self._pending, meta_for=self.meta_for, rows=self._pending_rows, route="file"
        )
        self._pending, self._pending_rows = [], 0
        self._inflight.append(self.writer.submit(request))
        self._drain(keep=_IN_FLIGHT)


# --------------------------------------------------------------------------------- API
def _rejects_for(path: Path, rejects: Path | RejectsWriter | None) -> tuple[RejectsWriter, bool]:
    """(writer, owned): a shared writer is used as is; a path or the default gets its own."""
    if isinstance(rejects, RejectsWriter):
        return rejects, False
    return RejectsWriter(rejects if rejects is not None else default_rejects_path(path)), True


def load_file(
    writer: Writer,
    store: Store,
    path: Path,
    mapping: Mapping,
    *,
    progress: ProgressCallback | None = None,
    reference: str | None = None,
    rejects: Path | RejectsWriter | None = None,
    name: str | None = None,
    batch_rows: int = 65_536,
    tmp_dir: Path | None = None,
) -> LoadReport:
    """Load one file: its rows become points written through `writer`, batch by batch.

    Args:
        writer: the store's single writer (started).
        store: the store; reference rows (`reference=`) are upserted into it directly.
        path: the file: CSV, Parquet, JSON array or NDJSON, optionally gzipped.
        mapping: which columns are time, entity, metric and values (see Mapping).
        progress: called after every batch with a LoadProgress.
        reference: a reference kind (devices, meters...): the file's rows are upserted into that
            table instead of being read as points.
        rejects: where rejected rows go: a path (`.csv` for CSV, else NDJSON), a RejectsWriter
            shared by several files, or None for `<file>.rejects.ndjson` beside it.
        name: the file's name in reports and rejects (and for `{stem}`), default `path`.
        batch_rows: rows read per batch. [rows]
        tmp_dir: where a gzipped Parquet file is inflated (default: the system's temp folder).

    Returns:
        LoadReport with the counts; rows rejected one by one are counted, not raised.

    Raises:
        ConfigError: the file cannot be opened, its format is unknown, or the mapping does not fit
            its header (names the column and the flag).
        IngestError: the file is not readable as its format, or no row of its first batch was
            accepted (the mapping is probably wrong). Batches before the failure stay stored.
        StoreError: a commit failed.
    """
    if reference is not None:
        from gridpulse.ingest.reference import load_reference

        return load_reference(store, path, reference, mapping, rejects=rejects, name=name)
    writer_, owned = _rejects_for(path, rejects)
    try:
        return _FileLoad(
            writer,
            path,
            mapping,
            rejects=writer_,
            name=name or str(path),
            progress=progress,
            batch_rows=batch_rows,
            tmp_dir=tmp_dir,
        ).run()
    finally:
        if owned:
            writer_.close()


def _data_files(folder: Path) -> list[Path]:
    """Files under `folder` (recursively, sorted) whose names say a known format; rejects files skipped."""
    out = []
    for p in sorted(folder.rglob("*")):
        name = p.name.lower()
        if not p.is_file() or name.startswith(".") or ".rejects." in name:
            continue
        stem = name[:-3] if name.endswith(".gz") else name
        if any(stem.endswith(ext) for ext in EXTENSIONS) and not stem.endswith(".txt"):
            out.append(p)
    return out


def is_battery_layout(folder: Path) -> bool:
    """A folder holding `assets/` (device descriptions) and `telemetry/` (readings), as in the battery seed."""
    return (folder / "assets").is_dir() and (folder / "telemetry").is_dir()


def plan_paths(paths: Sequence[Path], mapping: Mapping, *, reference: str | None = None) -> list[LoadItem]:
    """The files a load reads, in order: files as given, folders recursively (sorted by path).

    A folder with `assets/` and `telemetry/` is the battery layout: its assets files become rows of
    the `devices` table, its telemetry files points of entity kind `device` (unless the mapping
    says otherwise). `.txt` files are read only when named (in folders they are usually notes).

    Raises:
        ConfigError: a path does not exist.
    """
    items: list[LoadItem] = []
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path} does not exist")
        if path.is_file():
            items.append(LoadItem(path, mapping, reference))
        elif reference is None and is_battery_layout(path):
            battery = mapping if mapping.entity_kind else replace(mapping, entity_kind="device")
            items += [
                LoadItem(p, Mapping(format=mapping.format), "devices") for p in _data_files(path / "assets")
            ]
            items += [LoadItem(p, battery) for p in _data_files(path / "telemetry")]
        else:
            items += [LoadItem(p, mapping, reference) for p in _data_files(path)]
    return items


def load_paths(
    writer: Writer,
    store: Store,
    paths: Sequence[Path],
    mapping: Mapping,
    *,
    progress: ProgressCallback | None = None,
    reference: str | None = None,
    rejects: Path | None = None,
    batch_rows: int = 65_536,
    tmp_dir: Path | None = None,
) -> list[LoadReport]:
    """Load files and folders one after another (see plan_paths); a file that fails does not stop the rest.

    Args:
        rejects: one rejects file for all files; None: `<file>.rejects.ndjson` beside each.
        (others as load_file)

    Returns:
        One LoadReport per file, in order; a failed file's report has `error` set and the counts
        of what was stored before the failure.

    Raises:
        ConfigError: a path does not exist (before anything is loaded).
    """
    items = plan_paths(paths, mapping, reference=reference)
    return load_items(
        writer, store, items, progress=progress, rejects=rejects, batch_rows=batch_rows, tmp_dir=tmp_dir
    )


def load_items(
    writer: Writer,
    store: Store,
    items: Sequence[LoadItem],
    *,
    progress: ProgressCallback | None = None,
    rejects: Path | None = None,
    batch_rows: int = 65_536,
    tmp_dir: Path | None = None,
) -> list[LoadReport]:
    """Load planned items (plan_paths) one after another, as load_paths does."""
    shared = RejectsWriter(rejects) if rejects is not None else None
    reports: list[LoadReport] = []
    try:
        for item in items:
            reports.append(
                load_item(
                    writer,
                    store,
                    item,
                    rejects=shared,
                    progress=progress,
                    batch_rows=batch_rows,
                    tmp_dir=tmp_dir,
                )
            )
    finally:
        if shared is not None:
            shared.close()
    return reports


def load_item(
    writer: Writer,
    store: Store,
    item: LoadItem,
    *,
    rejects: RejectsWriter | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int = 65_536,
    tmp_dir: Path | None = None,
) -> LoadReport:
    """Load one planned item; a failure becomes the report's `error` (with what was stored before it).

    Args:
        rejects: a rejects file shared with other items; None: `<file>.rejects.ndjson` beside it.
        (others as load_file)
    """
    shared = rejects
    name = str(item.path)
    if item.reference is not None:
        try:
            return load_file(writer, store, item.path, item.mapping, reference=item.reference, rejects=shared)
        except GridpulseError as exc:
            return LoadReport(path=name, kind=f"reference:{item.reference}", error=str(exc))
    rejects, owned = _rejects_for(item.path, shared)
    load = _FileLoad(
        writer,
        item.path,
        item.mapping,
        rejects=rejects,
        name=name,
        progress=progress,
        batch_rows=batch_rows,
        tmp_dir=tmp_dir,
    )
    try:
        return load.run()
    except GridpulseError as exc:
        return load.report(error=str(exc))
    finally:
        if owned:
            rejects.close()

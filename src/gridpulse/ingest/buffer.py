"""Holds the parsed batches of one request until it is committed, spilling to disk when large.

A request is atomic by default, so nothing can be written before its last byte is validated;
keeping every batch in memory would make memory grow with the body. Past `spill_bytes` the
batches go to an Arrow IPC file, read back batch by batch inside the commit.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from gridpulse.model import KEYED_BATCH_SCHEMA

__all__ = ["RequestBuffer"]


class RequestBuffer:
    """Parsed batches of one request, in memory up to `spill_bytes`, then in a temporary file."""

    def __init__(self, spill_dir: Path, spill_bytes: int) -> None:
        self.spill_dir = spill_dir
        self.spill_bytes = spill_bytes
        self._tables: list[pa.Table] = []
        self._mem_bytes = 0
        self._path: Path | None = None
        self._sink: pa.ipc.RecordBatchFileWriter | None = None
        self._sealed = False
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        """Keep a KEYED_BATCH_SCHEMA or ENCODED_KEYED_BATCH_SCHEMA batch (spilled decoded)."""
        if not table.num_rows:
            return
        if self._tables and table.schema != self._tables[0].schema:
            table = table.cast(self._tables[0].schema)  # one request, one schema: they concatenate
        if self._sink is not None:
            table = table.cast(KEYED_BATCH_SCHEMA)  # a file holds one dictionary per column
        self.rows += table.num_rows
        if self._sink is not None:
            self._sink.write_table(table)
            return
        self._tables.append(table)
        self._mem_bytes += table.nbytes
        if self._mem_bytes > self.spill_bytes:
            self._spill()

    def _spill(self) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="ingest-", suffix=".arrow", dir=self.spill_dir)
        os.close(fd)
        self._path = Path(name)
        self._sink = pa.ipc.new_file(str(self._path), KEYED_BATCH_SCHEMA)
        for t in self._tables:
            self._sink.write_table(t.cast(KEYED_BATCH_SCHEMA))
        self._tables, self._mem_bytes = [], 0

    @property
    def spilled(self) -> bool:
        return self._path is not None

    def batches(self, *, target_rows: int = 250_000) -> Iterable[pa.Table]:
        """The batches in order, joined up to about `target_rows` (the store appends faster in
        bigger pieces); read from the spill file a piece at a time when spilled.

        Each iteration reads them from the start: a group commit that fails is retried request by
        request, and this request's rows must be there again.
        """
        return _Rereadable(lambda: self._joined(target_rows))

    def _joined(self, target_rows: int) -> Iterator[pa.Table]:
        pending: list[pa.Table] = []
        rows = 0
        for table in self._stored():
            pending.append(table)
            rows += table.num_rows
            if rows >= target_rows:
                yield pa.concat_tables(pending)
                pending, rows = [], 0
        if pending:
            yield pa.concat_tables(pending)

    def _stored(self) -> Iterator[pa.Table]:
        if self._sink is None:
            yield from self._tables
            return
        if not self._sealed:  # the first read seals the file; a retry reads it again
            self._sink.close()
            self._sealed = True
        assert self._path is not None
        # a plain file, not a memory map: mapped pages would stay resident until the request ends
        with pa.OSFile(str(self._path)) as src:
            reader = pa.ipc.open_file(src)
            for i in range(reader.num_record_batches):
                yield pa.Table.from_batches([reader.get_batch(i)])

    def discard(self) -> None:
        """Drop everything, removing the spill file."""
        if self._sink is not None and not self._sealed:
            with contextlib.suppress(OSError, pa.ArrowInvalid):
                self._sink.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self._tables, self._sink, self._path, self._sealed = [], None, None, False


class _Rereadable:
    """An iterable that starts over on every iteration (each makes a fresh iterator)."""

    def __init__(self, start: Callable[[], Iterator[pa.Table]]) -> None:
        self._start = start

    def __iter__(self) -> Iterator[pa.Table]:
        return self._start()

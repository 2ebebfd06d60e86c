"""Bytes of a request body -> batches of raw records with their line numbers, as a stream.

Memory is bounded by the batch size, not the body size: a chunk is split as it arrives and only
the tail of an unfinished record is carried over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gridpulse.errors import IngestError, RowError

__all__ = ["JsonArraySplitter", "LineBlockSplitter", "NdjsonSplitter", "RawBatch", "Splitter"]


@dataclass
class RawBatch:
    """Raw records (bytes) of one batch with the 1-based line and record number of each.

    Line protocol comes as a `block` instead: whole lines joined by newlines, the first being line
    `first_record`; `records` and `lines` stay empty, as nothing is split per line up front.
    NDJSON can come as a block too (`NdjsonSplitter(blocks=True)`), every line a record: `lines`
    then holds each line's number (a range) and `first_record` the first record's number.
    """

    records: Sequence[bytes]
    lines: Sequence[int]
    first_record: int
    block: bytes | None = None


class Splitter(Protocol):
    """Cuts a streamed body into batches of raw records as the bytes arrive."""

    def feed(self, chunk: bytes) -> Iterator[RawBatch]: ...

    def close(self) -> Iterator[RawBatch]: ...


class _LineStream:
    """What both line splitters share: the unfinished last line is held back until its newline."""

    _tail: bytes

    def _whole_lines(self, chunk: bytes) -> bytes | None:
        """The complete lines so far (without their last newline), keeping the rest as the tail."""
        data = self._tail + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail = data
            return None
        self._tail = data[cut + 1 :]
        return data[:cut]

    def has_records(self) -> bool:
        """Whether complete records wait for a full batch."""
        raise NotImplementedError

    def _flush(self) -> RawBatch:
        raise NotImplementedError

    def pending_bytes(self) -> int:
        """Bytes of an unfinished last line held back, waiting for its newline."""
        return len(self._tail.strip())

    def drain(self) -> Iterator[RawBatch]:
        """The complete records received so far, without waiting for a full batch (streams)."""
        if self.has_records():
            yield self._flush()


class NdjsonSplitter(_LineStream):
    """Splits NDJSON into records; blank lines are skipped but counted.

    With `blocks=True`, a run of lines that are all records (each starts with `{`) comes as one
    block instead, with its line and record numbers, and is split only if its parse needs the
    records (gridpulse.ingest.parse): most bodies are never cut into an object per line.
    """

    def __init__(self, batch_rows: int, *, blocks: bool = False) -> None:
        self.batch_rows = batch_rows
        self.blocks = blocks
        self._tail = b""
        self._line = 0
        self._record = 0
        self._records: list[bytes] = []
        self._lines: list[int] = []
        self._pending: list[bytes] = []
        self._pending_lines = 0

    def feed(self, chunk: bytes) -> Iterator[RawBatch]:
        whole = self._whole_lines(chunk)
        if whole is None:
            return
        if not self.blocks:
            yield from self._take(whole.split(b"\n"))
            return
        self._pending.append(whole)
        self._pending_lines += _newlines(whole) + 1
        while self._pending_lines >= self.batch_rows:
            yield from self._flush_block(self.batch_rows)

    def _flush_block(self, max_lines: int | None = None) -> Iterator[RawBatch]:
        """The pending lines as one block, or their first `max_lines` (memory follows batch_rows)."""
        block = self._pending[0] if len(self._pending) == 1 else b"\n".join(self._pending)
        n = self._pending_lines
        self._pending, self._pending_lines = [], 0
        raw = np.frombuffer(block, dtype=np.uint8)
        newlines = np.flatnonzero(raw == 10)  # found once: for the cut and for the brace check
        if max_lines is not None and max_lines < n:
            cut = int(newlines[max_lines - 1])
            self._pending, self._pending_lines = [block[cut + 1 :]], n - max_lines
            block, raw, newlines, n = block[:cut], raw[:cut], newlines[: max_lines - 1], max_lines
        if not _all_start_with_brace(raw, newlines):
            yield from self._take(block.split(b"\n"))
            yield from self.drain_records()
            return
        yield RawBatch((), range(self._line + 1, self._line + 1 + n), self._record + 1, block=block)
        self._line += n
        self._record += n

    def _take(self, lines: list[bytes]) -> Iterator[RawBatch]:
        pos = 0
        while pos < len(lines):
            chunk = lines[pos : pos + self.batch_rows - len(self._records)]
            kept = [raw for raw in chunk if raw.strip()]
            if len(kept) == len(chunk):
                self._records.extend(chunk)
                self._lines.extend(range(self._line + 1, self._line + 1 + len(chunk)))
            else:  # blank lines are skipped but still counted
                for i, raw in enumerate(chunk, start=self._line + 1):
                    if raw.strip():
                        self._records.append(raw)
                        self._lines.append(i)
            self._line += len(chunk)
            pos += len(chunk)
            if len(self._records) >= self.batch_rows:
                yield self._flush()

    def _flush(self) -> RawBatch:
        batch = RawBatch(self._records, self._lines, self._record + 1)
        self._record += len(self._records)
        self._records, self._lines = [], []
        return batch

    def drain_records(self) -> Iterator[RawBatch]:
        if self._records:
            yield self._flush()

    def has_records(self) -> bool:
        return bool(self._records) or bool(self._pending)

    def drain(self) -> Iterator[RawBatch]:
        """The complete records received so far, without waiting for a full batch (streams)."""
        if self._pending:
            yield from self._flush_block()
        yield from self.drain_records()

    def close(self) -> Iterator[RawBatch]:
        if self._tail.strip():
            if self.blocks:
                self._pending.append(self._tail)
                self._pending_lines += 1
            else:
                yield from self._take([self._tail])
        self._tail = b""
        yield from self.drain()


def _all_start_with_brace(raw: np.ndarray, newlines: np.ndarray) -> bool:
    """Whether every line of a block (its bytes, and where its newlines are) starts with `{`:
    then none is blank, each is a record."""
    if not len(raw) or raw[0] != 0x7B or raw[-1] == 10:  # an empty last line
        return False
    return bool(np.all(raw[newlines + 1] == 0x7B))


def _newlines(data: bytes) -> int:
    """How many newlines `data` holds (numpy counts 3 MB in a quarter of bytes.count's time)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))


class LineBlockSplitter(_LineStream):
    """Cuts a byte stream into blocks of whole lines, at least `batch_rows` lines each (or what is
    there when drained), without making an object per line."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self._tail = b""
        self._pending: list[bytes] = []
        self._pending_lines = 0
        self._line = 0

    def feed(self, chunk: bytes) -> Iterator[RawBatch]:
        whole = self._whole_lines(chunk)
        if whole is None:
            return
        self._pending.append(whole)
        self._pending_lines += _newlines(whole) + 1
        if self._pending_lines >= self.batch_rows:
            yield self._flush()

    def _flush(self) -> RawBatch:
        block = self._pending[0] if len(self._pending) == 1 else b"\n".join(self._pending)
        batch = RawBatch((), (), self._line + 1, block=block)
        self._line += self._pending_lines
        self._pending, self._pending_lines = [], 0
        return batch

    def has_records(self) -> bool:
        return bool(self._pending)

    def close(self) -> Iterator[RawBatch]:
        """End of a body: a last line without its newline is still a line."""
        if self._tail.strip():
            self._pending.append(self._tail)
            self._pending_lines += 1
            self._tail = b""
        yield from self.drain()


# one flat JSON object: the seeds' rows never nest, and a nested value is an error anyway
_OBJECT = re.compile(rb'\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}')
_SPACE = re.compile(rb"\s*")


class JsonArraySplitter:
    """Splits a JSON array of flat objects into records without parsing the whole body.

    Strict about the array's own grammar (commas between elements, none trailing), so a body
    that is not JSON is rejected rather than half understood.
    """

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self._buf = b""
        self._state = "start"  # start -> first -> (element -> after_element -> after_comma)* -> end
        self._line = 1
        self._record = 0
        self._records: list[bytes] = []
        self._lines: list[int] = []

    def _error(self, reason: str) -> IngestError:
        return IngestError([RowError(self._line, self._record + len(self._records) + 1, None, reason)])

    def feed(self, chunk: bytes) -> Iterator[RawBatch]:
        buf = self._buf + chunk
        pos = 0
        while True:
            gap = _SPACE.match(buf, pos)
            assert gap is not None
            self._line += buf.count(b"\n", pos, gap.end())
            pos = gap.end()
            if pos >= len(buf):
                break
            c = buf[pos : pos + 1]
            if self._state == "end":
                raise self._error("unexpected data after the closing ] of the array")
            if self._state == "start":
                if c != b"[":
                    raise self._error("body is not a JSON array; send [{...}, ...] or use the /ndjson route")
                self._state, pos = "first", pos + 1
            elif c == b"]" and self._state in ("first", "after_element"):
                self._state, pos = "end", pos + 1
            elif c == b"," and self._state == "after_element":
                self._state, pos = "after_comma", pos + 1
            elif c == b"{" and self._state in ("first", "after_comma"):
                m = _OBJECT.match(buf, pos)
                if m is None:
                    close = buf.find(b"}", pos)
                    if close >= 0 and b"{" in buf[pos + 1 : close]:
                        raise self._error("nested objects are not accepted in a row")
                    break  # unfinished object: wait for more bytes
                self._records.append(m.group())
                self._lines.append(self._line)
                self._line += m.group().count(b"\n")
                self._state, pos = "after_element", m.end()
                if len(self._records) >= self.batch_rows:
                    yield self._flush()
            elif self._state == "after_element":
                raise self._error("expected , or ] after an array element")
            elif c == b"]":
                raise self._error("trailing comma before ] in the array")
            elif c == b",":
                raise self._error("array element missing between commas")
            else:
                raise self._error("array element is not a JSON object")
        self._buf = buf[pos:]

    def _flush(self) -> RawBatch:
        batch = RawBatch(self._records, self._lines, self._record + 1)
        self._record += len(self._records)
        self._records, self._lines = [], []
        return batch

    def close(self) -> Iterator[RawBatch]:
        if self._state == "start":
            self._line = 1  # an empty body has no line to point at but the first
            raise self._error("body is empty; send a JSON array of rows")
        if self._state != "end" or self._buf.strip():
            raise self._error("body ends inside the JSON array (missing ] or an unfinished object)")
        if self._records:
            yield self._flush()

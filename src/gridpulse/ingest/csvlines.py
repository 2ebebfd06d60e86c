"""The physical line of every CSV row, found in the bytes pyarrow's CSV reader consumes.

pyarrow's reader gives no line numbers. ScanningReader hands it the file's bytes and CsvLines scans
them as they pass (vectorised, quote-aware), so a rejected row is named by the line an editor
shows, blank lines and quoted values spanning lines included.
"""

from __future__ import annotations

import io
import threading
from typing import IO, Any

import numpy as np
import numpy.typing as npt

__all__ = ["CsvLines", "ScanningReader"]

I64 = npt.NDArray[np.int64]


class CsvLines:
    """Physical line of every CSV row, from the bytes pyarrow reads (quote-aware, vectorised).

    pyarrow numbers rows (in its invalid-row callback) from 1 = the header, skipping blank lines
    and counting a quoted value that spans lines once. This scanner numbers the same rows and
    remembers the line each starts on. pyarrow reads ahead on a thread of its own, so `feed`
    runs concurrently with `take`: a lock guards the state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_quote = 0
        self._line = 1  # physical line at the current position
        self._row_line = 1  # line where the unfinished row started
        self._row_len = 0
        self._prev_byte = 0
        self._numbered = 0  # rows numbered so far (the header is 1)
        self._starts: list[I64] = []
        self._numbers: list[I64] = []  # pyarrow's number of each row (blank lines have none)
        self._invalid: set[int] = set()
        self._closed = False

    def _add(self, starts: I64, blank: npt.NDArray[np.bool_]) -> None:
        numbers = self._numbered + np.cumsum(~blank)
        self._numbered = int(numbers[-1])
        self._starts.append(starts[~blank])
        self._numbers.append(numbers[~blank])

    def feed(self, buf: bytes) -> None:
        """Scan the next bytes of the file."""
        with self._lock:
            self._feed(buf)

    def _feed(self, buf: bytes) -> None:
        if not buf:
            return
        a = np.frombuffer(buf, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        quotes = np.cumsum(a == 34)
        if len(nl):
            inside = (quotes[nl] + self._in_quote) % 2 == 1
            k = np.flatnonzero(~inside)
            ends = nl[k]
            if len(ends):
                starts = np.empty(len(ends), np.int64)
                starts[0] = self._row_line
                starts[1:] = self._line + k[:-1] + 1
                lens = np.empty(len(ends), np.int64)
                lens[0] = self._row_len + ends[0]
                lens[1:] = ends[1:] - ends[:-1] - 1
                before = np.where(ends > 0, a[np.maximum(ends - 1, 0)], self._prev_byte)
                self._add(starts, (lens == 0) | ((lens == 1) & (before == 13)))
                self._row_line = self._line + int(k[-1]) + 1
                self._row_len = len(buf) - int(ends[-1]) - 1
            else:
                self._row_len += len(buf)
            self._line += len(nl)
        else:
            self._row_len += len(buf)
        self._in_quote = int((quotes[-1] + self._in_quote) % 2)
        self._prev_byte = int(a[-1])

    def close(self) -> None:
        """End of input: a last row without a final newline is a row too."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._row_len > 1 or (self._row_len == 1 and self._prev_byte != 13):
            self._add(np.array([self._row_line], np.int64), np.array([False]))

    def _pending(self) -> tuple[I64, I64]:
        if len(self._starts) > 1:
            self._starts = [np.concatenate(self._starts)]
            self._numbers = [np.concatenate(self._numbers)]
        if not self._starts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return self._starts[0], self._numbers[0]

    def line_of(self, number: int) -> int:
        """Line of a row by pyarrow's row number (1 = the header); 0 when unknown."""
        with self._lock:
            starts, numbers = self._pending()
            i = int(np.searchsorted(numbers, number))
            return int(starts[i]) if i < len(numbers) and numbers[i] == number else 0

    def invalid(self, number: int) -> None:
        """pyarrow skipped row `number` (wrong field count): it yields no record."""
        with self._lock:
            self._invalid.add(number)

    def take(self, n: int) -> I64:
        """Lines of the next n records pyarrow returned (header, blank and invalid rows skipped)."""
        with self._lock:
            return self._take(n)

    def _take(self, n: int) -> I64:
        starts, numbers = self._pending()
        keep = numbers >= 2
        if self._invalid:
            keep &= ~np.isin(numbers, np.fromiter(self._invalid, np.int64))
        chosen = np.flatnonzero(keep)[:n]
        lines = starts[chosen]
        if len(lines) < n:  # cannot happen with input pyarrow accepted; stay usable anyway
            last = int(lines[-1]) if len(lines) else 0
            lines = np.concatenate([lines, np.arange(last + 1, last + 1 + n - len(lines))])
        used = int(chosen[-1]) + 1 if len(chosen) else 0
        self._starts, self._numbers = [starts[used:]], [numbers[used:]]
        done = int(numbers[used - 1]) if used else 0
        self._invalid = {i for i in self._invalid if i > done}
        return lines.astype(np.int64)


class ScanningReader(io.RawIOBase):
    """A binary stream handing pyarrow the bytes of `src` while CsvLines scans them."""

    def __init__(self, src: IO[bytes], lines: CsvLines) -> None:
        self._src = src
        self._lines = lines

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._src.read(size if size is not None and size >= 0 else -1)
        if data:
            self._lines.feed(data)
        else:
            self._lines.close()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

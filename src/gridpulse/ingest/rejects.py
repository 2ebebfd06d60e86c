"""The rejects file of a load: one entry per rejected row with its line, column, reason and content.

NDJSON by default (`{"file", "line", "column", "reason", "row"}` per line), CSV when the path
ends in `.csv` (columns file, line, column, reason, row; row as JSON text). The file is created
at the first reject only, so a clean load leaves nothing behind.
"""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path
from typing import IO, Any

import orjson

from gridpulse.errors import ConfigError

__all__ = ["RejectsWriter", "default_rejects_path"]


def default_rejects_path(path: Path) -> Path:
    """`<file>.rejects.ndjson` beside the input, or in the working directory when that folder is read-only.

    A folder without write permission bits counts as read-only even for root, whom `access(2)`
    lets write anywhere: shared or published data folders are marked that way.
    """
    beside = path.with_name(path.name + ".rejects.ndjson")
    writable_bits = path.parent.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    if writable_bits and os.access(path.parent, os.W_OK):
        return beside
    return Path.cwd() / beside.name


class RejectsWriter:
    """Appends rejected rows to one file (several loads may share it); opened at the first reject."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def add(self, file: str, line: int, column: str | None, reason: str, row: Any) -> None:
        """Record one rejected row.

        Args:
            file: the input file's name, as the user gave it.
            line: 1-based line (row number for Parquet) of the row; 0 when unknown.
            column: the column at fault, None when the row as a whole is unreadable.
            reason: what is wrong and what would be accepted.
            row: the row as read: a dict of its fields, or its raw text.
        """
        if self._fh is None:
            self._open()
        assert self._fh is not None
        self.count += 1
        if self._csv is not None:
            shown = row if isinstance(row, str) else orjson.dumps(row, default=str).decode()
            self._csv.writerow([file, line, column or "", reason, shown])
        else:
            self._fh.write(
                orjson.dumps(
                    {"file": file, "line": line, "column": column, "reason": reason, "row": row}, default=str
                ).decode()
                + "\n"
            )

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the rejects file {self.path}: {exc.strerror or exc}; pass --rejects PATH"
            ) from None
        if self.path.suffix.lower() == ".csv":
            self._csv = csv.writer(self._fh)
            self._csv.writerow(["file", "line", "column", "reason", "row"])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""LoadReport and LoadProgress: what a file load did, and where it is while it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["LoadProgress", "LoadReport", "ProgressCallback"]


@dataclass(frozen=True)
class LoadProgress:
    """Where a load is: passed to the progress callback after every batch.

    Attributes:
        name: the file being read, as given.
        bytes_done: bytes of the stored file read so far. [bytes]
        bytes_total: size of the stored file. [bytes]
        rows: rows read so far; points: points queued for writing so far.
    """

    name: str
    bytes_done: int
    bytes_total: int
    rows: int
    points: int


ProgressCallback = Callable[[LoadProgress], None]


@dataclass(frozen=True)
class LoadReport:
    """What loading one file (or several, for a total) did.

    Attributes:
        path: the file as given (a total: the number of files).
        kind: "points", or "reference:<kind>" for a reference file.
        files: files counted in this report.
        rows: data rows read (good and rejected).
        points: points written (a wide row gives one per value column); nulls: NULL values among them.
        inserted, revised, unchanged, series_created: what the store did with the points.
        upserted: reference rows inserted or replaced.
        rejected: rows rejected (see the rejects file).
        rejects_path: the rejects file, None when nothing was rejected.
        seconds: wall time of the load. [s]
        error: why the file failed, None when it loaded (rows rejected one by one are not a failure).
    """

    path: str
    kind: str = "points"
    files: int = 1
    rows: int = 0
    points: int = 0
    nulls: int = 0
    inserted: int = 0
    revised: int = 0
    unchanged: int = 0
    series_created: int = 0
    upserted: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def rows_per_s(self) -> float:
        """Rows read per second of wall time. [rows/s]"""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> bool:
        """The file failed entirely: it could not be read, or every one of its rows was rejected."""
        return self.error is not None or (self.rows > 0 and self.rejected >= self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "files": self.files,
            "rows": self.rows,
            "points": self.points,
            "nulls": self.nulls,
            "inserted": self.inserted,
            "revised": self.revised,
            "unchanged": self.unchanged,
            "series_created": self.series_created,
            "upserted": self.upserted,
            "rejected": self.rejected,
            "rejects_path": self.rejects_path,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "error": self.error,
        }

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> LoadReport:
        """The inverse of as_dict (an API answer back into a report); unknown keys are ignored."""
        names = set(LoadReport.__dataclass_fields__)
        return LoadReport(**{k: v for k, v in raw.items() if k in names})

    @staticmethod
    def total(reports: Sequence[LoadReport]) -> LoadReport:
        """The sum of several reports; seconds add up (files load one after another)."""
        out = LoadReport(path=f"{len(reports)} files", kind="total", files=0)
        for r in reports:
            out = replace(
                out,
                files=out.files + r.files,
                rows=out.rows + r.rows,
                points=out.points + r.points,
                nulls=out.nulls + r.nulls,
                inserted=out.inserted + r.inserted,
                revised=out.revised + r.revised,
                unchanged=out.unchanged + r.unchanged,
                series_created=out.series_created + r.series_created,
                upserted=out.upserted + r.upserted,
                rejected=out.rejected + r.rejected,
                seconds=out.seconds + r.seconds,
            )
        return out

"""A watched folder: new CSV, Parquet, JSON and NDJSON files (gzipped too) are loaded once, then
moved to `done/` or, when they could not be loaded, to `failed/` beside a `<file>.reason.txt`.

Each run looks at the files directly in `path` (not below it), oldest first, and skips those
still being written: a file is taken once its size and modification time have not changed for
`settle_s`. A file is loaded with `ingest.files.load_file` and the source's `mapping` (the keys
of a `gridpulse load` mapping file), so rows are checked and committed exactly as `gridpulse
load` does; rejected rows go to `done/<file>.rejects.ndjson`. A file is moved only after its rows
are committed: if the server dies in between, the next run loads it again and the store's dedup
makes that harmless (every point counts as unchanged).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridpulse.errors import GridpulseError
from gridpulse.ingest.mapping import Mapping
from gridpulse.model import WriteResult
from gridpulse.sources.base import Keys, SourceContext, SourceReport, SourceSpec, SourceType
from gridpulse.sources.feed import TrackingWriter, save_series_marks

__all__ = ["FOLDER", "FolderOptions", "FolderSource"]

log = logging.getLogger(__name__)

_DEFAULT_PATTERNS = ["*.csv", "*.parquet", "*.json", "*.ndjson", "*.jsonl", "*.csv.gz", "*.json.gz", "*.ndjson.gz"]


@dataclass(frozen=True)
class FolderOptions:
    """Keys of a `type = "folder"` source.

    Attributes:
        path: the watched folder (created when missing).
        mapping: how columns become series, as in a `gridpulse load --mapping` file.
        reference: load the files as rows of this reference table (devices, meters...) instead.
        patterns: file name globs taken; others are left alone.
        settle_s: a file must be unchanged this long before it is taken. [s]
        done_dir, failed_dir: where loaded and failed files go (relative to path, or absolute).
    """

    path: Path
    mapping: Mapping = field(default_factory=Mapping)
    reference: str | None = None
    patterns: list[str] = field(default_factory=lambda: list(_DEFAULT_PATTERNS))
    settle_s: float = 2.0
    done_dir: str = "done"
    failed_dir: str = "failed"


def check_options(keys: Keys) -> FolderOptions:
    d = FolderOptions(Path("."))
    path = Path(keys.text("path")).expanduser()
    raw_mapping = keys.table("mapping", {})
    try:
        mapping = Mapping.from_dict(raw_mapping, source=f"{keys.where}: mapping")
    except GridpulseError as exc:
        raise keys.error("mapping", f"is not a usable mapping: {exc}") from None
    reference = keys.text("reference", "") or None
    if reference is not None:
        from gridpulse.store.base import REFERENCE_KINDS

        if reference not in REFERENCE_KINDS:
            raise keys.error("reference", f"={reference!r} is not one of {', '.join(REFERENCE_KINDS)}")
    return FolderOptions(
        path=path,
        mapping=mapping,
        reference=reference,
        patterns=keys.texts("patterns", list(d.patterns)),
        settle_s=keys.number("settle_s", d.settle_s, min=0),
        done_dir=keys.text("done_dir", d.done_dir),
        failed_dir=keys.text("failed_dir", d.failed_dir),
    )


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or with a UTC time stamp before the extension when that is taken."""
    target = folder / name
    if not target.exists():
        return target
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    stem, dot, ext = name.partition(".")
    return folder / f"{stem}.{stamp}{dot}{ext}"


class FolderSource:
    """Loads the files that appear in one folder; see the module docstring."""

    def __init__(self, spec: SourceSpec, options: FolderOptions) -> None:
        self.spec = spec
        self.options = options
        self.done = self._dir(options.done_dir)
        self.failed = self._dir(options.failed_dir)
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, first seen so)

    def _dir(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else self.options.path / p

    def start(self, ctx: SourceContext) -> None:
        for folder in (self.options.path, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        pass

    def ready_files(self, now_s: float) -> list[Path]:
        """Files in the folder matching the patterns whose size and mtime held for settle_s. [s]"""
        found: list[tuple[int, Path]] = []
        current: dict[str, tuple[int, int, float]] = {}
        with os.scandir(self.options.path) as entries:
            for entry in entries:
                name = entry.name
                if not entry.is_file() or name.startswith(".") or ".rejects." in name or name.endswith(".reason.txt"):
                    continue
                if not any(fnmatch.fnmatch(name.lower(), pat.lower()) for pat in self.options.patterns):
                    continue
                st = entry.stat()
                prev = self._seen.get(name)
                since = prev[2] if prev is not None and prev[:2] == (st.st_size, st.st_mtime_ns) else now_s
                current[name] = (st.st_size, st.st_mtime_ns, since)
                # unchanged for settle_s by our own watch, or last written longer ago than that
                quiet_s = max(now_s - since, now_s - st.st_mtime_ns / 1e9)
                if quiet_s >= self.options.settle_s:
                    found.append((st.st_mtime_ns, Path(entry.path)))
        self._seen = current
        return [p for _, p in sorted(found)]

    def run(self, ctx: SourceContext) -> SourceReport:
        import time

        from gridpulse.ingest.files import load_file

        self.start(ctx)
        report = SourceReport()
        moved: list[dict[str, Any]] = []
        tracking = TrackingWriter(ctx.writer)
        for path in self.ready_files(time.time()):
            if ctx.stop.is_set():
                break
            rejects = _free_name(self.done, path.name + ".rejects.ndjson")
            try:
                loaded = load_file(
                    tracking, ctx.store, path, self.options.mapping, reference=self.options.reference,
                    rejects=rejects, name=path.name, tmp_dir=ctx.settings.data_dir / "tmp",
                )
                error = loaded.error
            except GridpulseError as exc:
                loaded, error = None, str(exc)
            if loaded is not None:
                report.rows += loaded.points
                report.rejects += loaded.rejected
                report.add_result(
                    WriteResult(loaded.inserted, loaded.revised, loaded.unchanged, loaded.series_created)
                )
            if error is None:
                target = _free_name(self.done, path.name)
                shutil.move(str(path), target)
                report.parts_ok += 1
                moved.append({"file": path.name, "to": str(target), "points": loaded.points if loaded else 0})
            else:
                target = _free_name(self.failed, path.name)
                shutil.move(str(path), target)
                target.with_name(target.name + ".reason.txt").write_text(error + "\n")
                report.fail(f"{path.name}: {error} (moved to {target})")
                moved.append({"file": path.name, "to": str(target), "error": error})
            self._seen.pop(path.name, None)
        save_series_marks(ctx.store, self.spec.name, tracking.committed_newest(), datetime.now(UTC))
        report.detail["files"] = moved
        return report


def _build(spec: SourceSpec, options: Any) -> FolderSource:
    return FolderSource(spec, options)


FOLDER = SourceType(
    "folder",
    check_options,
    _build,
    default_interval_s=10.0,
    summary="loads new CSV/Parquet/JSON files of a folder once, then moves them to done/ or failed/",
)

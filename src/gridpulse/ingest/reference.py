"""Reference files -> rows of a reference table (organisations, sites, devices, ..., meter_feeder_map).

A reference file is small (a fleet's description, not its readings): it is read whole, checked row
by row, and its good rows are upserted by id in one transaction (`Store.upsert_reference`). Bad
rows go to the rejects file with their line and reason, as for points.

Per row:
- the id is the table's id column (`device_id` for devices), or else `id`, or else `uuid`;
- `valid_from` and `valid_to` are instants: with an offset, or naive and read in `tz` (rejected
  without one); `valid_from` defaults to 1970-01-01T00:00Z;
- `scaling_factor` (default 1.0) and `capacity_mw` are numbers; a site's `tz` must be an IANA zone;
- every other key is kept (the store keeps keys that are not columns in `attrs`); empty CSV
  fields are left out, and CSV text that is a number becomes one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gridpulse.errors import ConfigError, GridpulseError, IngestError, RowError
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.readers import FileSource
from gridpulse.ingest.rejects import RejectsWriter, default_rejects_path
from gridpulse.ingest.report import LoadReport
from gridpulse.store.base import REFERENCE_KINDS, Store
from gridpulse.timeutil import parse_instant, zone

__all__ = ["ID_ALIASES", "load_reference", "normalise_reference_row"]

#: Keys read as the id when the table's own id column is absent, in this order.
ID_ALIASES = ("id", "uuid")
_TIMES = ("valid_from", "valid_to")
_NUMBERS = ("scaling_factor", "capacity_mw")
_TEXT = ("name", "tz", "device_type")
_NUMBER_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_EPOCH = datetime(1970, 1, 1)


def _text(value: Any, key: str) -> str:
    if isinstance(value, (bool, dict, list)):
        raise ValueError(f"{key} must be text, got {orjson.dumps(value).decode()}")
    return str(value)


def _instant(value: Any, key: str, tz: str | None) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 timestamp, got {value!r}")
    try:
        return parse_instant(value, tz=tz, param=key).astimezone(UTC).replace(tzinfo=None)
    except GridpulseError as exc:
        msg = str(exc)
        if "no zone offset" in msg:
            msg = f"{key}={value!r} has no zone offset: add Z or +01:00, or pass the file's zone (--tz)"
        raise ValueError(msg) from None


def normalise_reference_row(kind: str, row: dict[str, Any], *, tz: str | None) -> dict[str, Any]:
    """A row of `kind` ready for Store.upsert_reference: id found, times, numbers and zones checked.

    Raises:
        ValueError: the row is unusable; the message names the key and the fix.
    """
    id_col = REFERENCE_KINDS[kind]
    out = {k: v for k, v in row.items() if v is not None}
    if out.get(id_col) in (None, ""):
        alias = next((a for a in ID_ALIASES if out.get(a) not in (None, "")), None)
        if alias is None:
            raise ValueError(f"missing {id_col} (or {' or '.join(ID_ALIASES)})")
        out[id_col] = out.pop(alias)
    for key in list(out):
        if key.endswith("_id") or key in _TEXT:
            out[key] = _text(out[key], key)
    if not out[id_col].strip():
        raise ValueError(f"missing {id_col}")
    if kind == "meter_feeder_map":
        if not out.get("feeder_id"):
            raise ValueError("missing feeder_id")
        out.setdefault("scaling_factor", 1.0)
        out.setdefault("valid_from", _EPOCH.isoformat() + "Z")
    for key in _NUMBERS:
        if key in out:
            value = out[key]
            try:
                if isinstance(value, bool):
                    raise ValueError
                out[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number, got {value!r}") from None
    for key in _TIMES:
        if key in out:
            out[key] = _instant(out[key], key, tz)
    if "valid_to" in out and out["valid_to"] <= out.get("valid_from", _EPOCH):
        raise ValueError("valid_to must be after valid_from")
    if kind == "sites" and "tz" in out:
        try:
            zone(out["tz"])
        except GridpulseError as exc:
            raise ValueError(str(exc)) from None
    return out


def _from_text(key: str, value: str) -> Any:
    """A CSV field: numbers become numbers, except in id and text columns."""
    if key.endswith("_id") or key in _TEXT or key in ID_ALIASES or not _NUMBER_TEXT.match(value):
        return value
    number = float(value)
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def _json_rows(path: Path, source: FileSource) -> Iterator[tuple[int, Any]]:
    """(line, record) of a JSON array, a single object, or NDJSON, read whole."""
    body = source.open_bytes().read().removeprefix(b"\xef\xbb\xbf")
    start = body.lstrip()[:1]
    if not start:
        return
    try:
        whole = orjson.loads(body)
    except orjson.JSONDecodeError:
        whole = None
        if start == b"[" or (source.format == "json" and b"\n" not in body.strip()):
            raise IngestError([RowError(0, 0, None, f"{path.name} is not valid JSON")]) from None
    if isinstance(whole, dict):
        yield body[: body.find(b"{")].count(b"\n") + 1, whole
        return
    if isinstance(whole, list):
        lines = _array_lines(body, len(whole))
        yield from zip(lines, whole, strict=True)
        return
    for n, line in enumerate(body.split(b"\n"), start=1):
        if line.strip():
            try:
                yield n, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield n, ValueError(f"not valid JSON: {exc}")


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}\n]')


def _array_lines(body: bytes, n: int) -> list[int]:
    """The line where each element of a JSON array starts (nested values and strings skipped)."""
    lines: list[int] = []
    line, depth = 1, 0
    for m in _TOKENS.finditer(body):
        tok = m.group()
        if tok[:1] == b'"':
            line += tok.count(b"\n")
            if depth == 1:
                lines.append(line)
        elif tok == b"\n":
            line += 1
        elif tok in (b"[", b"{"):
            if depth == 1:
                lines.append(line)
            depth += 1
        else:
            depth -= 1
    return lines if len(lines) == n else list(range(1, n + 1))


def _rows(path: Path, source: FileSource) -> Iterator[tuple[int, Any]]:
    if source.format in ("json", "ndjson"):
        yield from _json_rows(path, source)
        return
    for chunk in source.chunks():
        for line, reason, text in chunk.unreadable:
            yield line, ValueError(f"{reason}: {text}")
        for line, row in zip(chunk.lines.tolist(), chunk.table.to_pylist(), strict=True):
            if source.format == "csv":
                row = {k: _from_text(k, v) for k, v in row.items() if v is not None and v.strip() != ""}
            yield line, row


def load_reference(
    store: Store,
    path: Path,
    kind: str,
    mapping: Mapping | None = None,
    *,
    rejects: Path | RejectsWriter | None = None,
    name: str | None = None,
) -> LoadReport:
    """Upsert the rows of a reference file into the table `kind`; returns a LoadReport.

    Args:
        store: the store (reference rows are written directly, in one transaction).
        path: CSV, Parquet, JSON (an array of objects, or one object) or NDJSON, optionally gzipped.
        kind: one of REFERENCE_KINDS.
        mapping: only format, delimiter and tz are used.
        rejects: as for load_file.
        name: the file's name in reports and rejects.

    Raises:
        ConfigError: unknown kind, or the file cannot be opened.
        IngestError: the file is not readable as its format.
        StoreError: the upsert failed (nothing of the file is stored).
    """
    if kind not in REFERENCE_KINDS:
        raise ConfigError(f"unknown reference kind {kind!r}; one of {', '.join(REFERENCE_KINDS)}")
    mapping = mapping or Mapping()
    shown = name or str(path)
    started = time.monotonic()
    own = not isinstance(rejects, RejectsWriter)
    writer = (
        rejects
        if isinstance(rejects, RejectsWriter)
        else RejectsWriter(rejects if rejects is not None else default_rejects_path(path))
    )
    before = writer.count
    good: list[dict[str, Any]] = []
    total = 0
    try:
        with FileSource(path, format=mapping.format, delimiter=mapping.delimiter) as source:
            for line, row in _rows(path, source):
                total += 1
                if isinstance(row, Exception):
                    writer.add(shown, line, None, str(row), None)
                    continue
                if not isinstance(row, dict):
                    writer.add(shown, line, None, "row is not an object", row)
                    continue
                try:
                    good.append(normalise_reference_row(kind, row, tz=mapping.tz))
                except ValueError as exc:
                    writer.add(shown, line, _blamed(str(exc), row), str(exc), row)
        upserted = store.upsert_reference(kind, good) if good else 0
    finally:
        if own:
            writer.close()
    rejected = writer.count - before
    return LoadReport(
        path=shown,
        kind=f"reference:{kind}",
        rows=total,
        upserted=upserted,
        rejected=rejected,
        rejects_path=str(writer.path) if rejected else None,
        seconds=time.monotonic() - started,
    )


def _blamed(reason: str, row: dict[str, Any]) -> str | None:
    """The key a reason is about (its first word when that is a key of the row, or the id)."""
    word = re.split(r"[ =]", reason.removeprefix("missing "), maxsplit=1)[0]
    return word if word in row or reason.startswith("missing ") else None

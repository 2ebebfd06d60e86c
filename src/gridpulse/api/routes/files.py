"""POST /api/v1/files and POST /api/v1/reference/{kind}: load a whole file sent as the request body.

What `gridpulse load` does when a server holds the store: the file travels as the raw body, the
mapping as query parameters (the keys of a mapping file: `?wide=true&tz=Asia/Shanghai`) or as one
`mapping` parameter holding JSON or TOML. The body is saved under `<data_dir>/tmp/` as it arrives
(memory stays bounded), then loaded by the same `load_file` as the CLI's, in a worker thread,
through the server's writer. Like a CLI load it is not atomic: good rows are stored, bad rows
are counted and listed in the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request

from gridpulse import metrics
from gridpulse.api.deps import AppState, body_limit, state
from gridpulse.api.responses import JSON
from gridpulse.errors import PayloadTooLarge, QueryError
from gridpulse.ingest.files import load_file
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.report import LoadReport
from gridpulse.store.base import REFERENCE_KINDS

__all__ = ["MAX_RETURNED_REJECTS", "router"]

router = APIRouter(prefix="/api/v1", tags=["files"])

SCOPE = "write:files"
#: Rejected rows an answer carries at most with include_rejects=true (all are counted).
MAX_RETURNED_REJECTS = 100_000
_OWN_PARAMS = {"filename", "mapping", "include_rejects"}

_FILENAME = Query(
    ...,
    description="The file's name: its extension gives the format (.csv, .tsv, .parquet, .json, .ndjson, "
    "each optionally .gz) unless `format` is given; `{stem}` in `entity` is its name without extensions.",
)
_MAPPING = Query(
    None,
    description="The whole mapping as JSON or TOML text, with the keys of a mapping file (docs/loading.md); "
    "other query parameters with those keys override it, e.g. `wide=true&tz=Asia/Shanghai`.",
)
_INCLUDE = Query(
    False,
    description=f"List every rejected row (up to {MAX_RETURNED_REJECTS}) instead of the first "
    "ingest.max_listed_rejects.",
)


def _mapping(request: Request, text: str | None) -> Mapping:
    """The mapping from the `mapping` parameter (JSON or TOML) and the other query parameters."""
    base: dict[str, Any] = {}
    if text:
        try:
            loaded = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:
                loaded = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise QueryError(f"mapping is neither JSON nor TOML: {exc}") from None
        if not isinstance(loaded, dict):
            raise QueryError("mapping must be a JSON object or a TOML table")
        base = loaded
    extra: dict[str, Any] = {}
    for key in request.query_params:
        if key in _OWN_PARAMS:
            continue
        values = request.query_params.getlist(key)
        extra[key] = values[0] if len(values) == 1 else values
    return Mapping.from_dict({**base, **extra}, source="query")


@contextlib.asynccontextmanager
async def _upload(request: Request, st: AppState, filename: str) -> AsyncIterator[tuple[Path, str]]:
    """Save the body under <data_dir>/tmp as it streams; yields (path, the file's plain name)."""
    name = Path(filename.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise QueryError("filename must name a file, e.g. meters.csv")
    limit = body_limit(request, st.settings)
    tmp = st.settings.data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"upload-{secrets.token_hex(8)}-{name}"
    seen = 0
    try:
        with path.open("wb") as out:
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > limit:
                    raise PayloadTooLarge(limit)
                out.write(chunk)
        yield path, name
    finally:
        metrics.INGEST_BYTES.labels("file").inc(seen)
        path.unlink(missing_ok=True)


def _answer(report: LoadReport, rejects: Path, limit: int) -> JSON:
    """The report, without the server's temporary paths, and the rejected rows (first `limit`)."""
    listed: list[Any] = []
    if report.rejected and rejects.exists():
        with rejects.open("rb") as fh:
            for line in fh:
                if len(listed) >= limit:
                    break
                listed.append(orjson.loads(line))
    body = report.as_dict() | {
        "rejects_path": None,
        "rejects": listed,
        "rejects_truncated": report.rejected > len(listed),
    }
    return JSON(body)


async def _load(
    request: Request, filename: str, mapping: Mapping, include: bool, reference: str | None
) -> JSON:
    st = state(request)
    settings = st.settings
    async with _upload(request, st, filename) as (path, name):
        rejects = path.with_name(path.name + ".rejects.ndjson")
        try:
            report = await asyncio.to_thread(
                load_file,
                st.writer,
                st.store,
                path,
                mapping,
                reference=reference,
                rejects=rejects,
                name=name,
                batch_rows=settings.ingest.batch_rows,
                tmp_dir=path.parent,
            )
            if report.rejected:
                metrics.INGEST_REJECTS.labels("file").inc(report.rejected)
            limit = MAX_RETURNED_REJECTS if include else settings.ingest.max_listed_rejects
            return _answer(report, rejects, limit)
        finally:
            rejects.unlink(missing_ok=True)


@router.post(
    "/files",
    summary="Load a file of readings (CSV, Parquet, JSON array, NDJSON; gzipped or not)",
    description="Body: the file's bytes. The answer counts rows, points, inserted, revised, unchanged "
    "and rejected rows, and lists rejected rows with line, column and reason. Bad rows do not stop the "
    "load; a file whose first batch has no good row, or that cannot be read, gets a 400. "
    "Loading the same file again changes nothing (every point comes back unchanged).",
)
async def post_file(
    request: Request,
    filename: str = _FILENAME,
    mapping: str | None = _MAPPING,
    include_rejects: bool = _INCLUDE,
) -> JSON:
    st = state(request)
    st.auth.check(request, SCOPE)
    return await _load(request, filename, _mapping(request, mapping), include_rejects, None)


@router.post(
    "/reference/{kind}",
    summary="Upsert reference rows from a file (CSV, Parquet, JSON, NDJSON)",
    description=f"kind: one of {', '.join(REFERENCE_KINDS)}. Body: the file's bytes; query: filename, and "
    "tz (for naive valid_from / valid_to), format, delimiter as for /api/v1/files. Rows are upserted by "
    "id; rejected rows are listed with line and reason.",
)
async def post_reference(
    request: Request, kind: str, filename: str = _FILENAME, include_rejects: bool = _INCLUDE
) -> JSON:
    st = state(request)
    st.auth.check(request, SCOPE)
    if kind not in REFERENCE_KINDS:
        raise QueryError(f"unknown reference kind {kind!r}; one of {', '.join(REFERENCE_KINDS)}")
    return await _load(request, filename, _mapping(request, None), include_rejects, kind)

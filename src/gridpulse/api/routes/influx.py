"""Line protocol over HTTP, as Influx 1.x (`/write`), Influx 2.x (`/api/v2/write`) and QuestDB take it.

Producers point their Influx or QuestDB client at gridpulse and change nothing: tokens come as
`Authorization: Token|Bearer <t>`, Basic auth or `u`/`p` query parameters; `db`, `org` and
`bucket` are accepted (one store holds everything); success is `204 No Content`. A bad line
rejects the whole request with an Influx-style error naming it, and nothing is stored.
Gzipped bodies (`Content-Encoding: gzip`, as Telegraf sends) are inflated as they stream.
"""

from __future__ import annotations

import base64
import functools
import zlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gridpulse.api.deps import body_limit, state
from gridpulse.api.errors import status_for
from gridpulse.api.responses import JSON
from gridpulse.errors import AuthError, GridpulseError, IngestError, PayloadTooLarge, QueryError
from gridpulse.ingest import OnError, ingest_stream
from gridpulse.ingest.lineprotocol import parse_line_batch, precision_factor
from gridpulse.ingest.split import LineBlockSplitter
from gridpulse.ingest.stream import store_batch_rows
from gridpulse.model import SeriesMeta

__all__ = ["router"]

router = APIRouter(tags=["line protocol"])

SCOPE = "write:line_protocol"


def _token(request: Request) -> str | None:
    """The token however an Influx client sends it."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return None
        return password or None
    return request.query_params.get("p") or None


async def _inflate(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    # the limit applies to the inflated size too: a small bomb must not fill the memory
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = 0
    async for chunk in chunks:
        data = d.decompress(chunk, limit + 1 - out)
        out += len(data)
        if out > limit or d.unconsumed_tail:
            raise PayloadTooLarge(limit)
        yield data
    yield d.flush()


def _influx_error(exc: GridpulseError, v2: bool) -> JSON:
    if isinstance(exc, IngestError) and exc.errors:
        first = exc.errors[0]
        message = f"unable to parse line {first.line}: {first.reason}" + (
            f" (field {first.field!r})" if first.field else ""
        )
        if exc.error_count > 1:
            message += f"; {exc.error_count - 1} more bad lines"
        details = [e.as_dict() for e in exc.errors]
    else:
        message, details = str(exc), []
    status = status_for(exc)
    if v2:
        code = {400: "invalid", 401: "unauthorized", 403: "forbidden", 413: "request too large"}.get(
            status, "internal error"
        )
        body: dict[str, object] = {"code": code, "message": message}
    else:
        body = {"error": message}
    if details:
        body["errors"] = details
    headers = {"WWW-Authenticate": "Token"} if status == 401 else None
    return JSON(body, status_code=status, headers=headers)


async def _write(request: Request, precision: str | None, v2: bool) -> Response:
    st = state(request)
    try:
        if st.auth.enabled:
            token = _token(request)
            if token is None:
                raise AuthError("this route needs a token: 'Authorization: Token <token>' or p=<token>")
            st.auth.check_token(token, SCOPE)
        try:
            precision_factor(precision)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        settings = st.settings
        limit = body_limit(request, settings)
        chunks: AsyncIterator[bytes] = request.stream()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            chunks = _inflate(chunks, limit)
        await ingest_stream(
            chunks,
            splitter=LineBlockSplitter(settings.ingest.batch_rows),
            parse=functools.partial(parse_line_batch, precision=precision),
            meta_for=lambda key: SeriesMeta(),
            writer=st.writer,
            spill_dir=settings.data_dir / "tmp",
            spill_bytes=settings.ingest.spill_bytes,
            max_body_bytes=limit,
            max_listed_rejects=settings.ingest.max_listed_rejects,
            on_error=OnError.REJECT,
            store_batch_rows=store_batch_rows(settings),
            route="lp_http",
        )
    except GridpulseError as exc:
        return _influx_error(exc, v2)
    return Response(status_code=204)


@router.post("/write", summary="Line protocol, Influx 1.x style", status_code=204)
async def write_v1(
    request: Request,
    db: str | None = Query(None, description="accepted for compatibility; one store holds all"),
    precision: str | None = Query(None, description="n/ns (default), u/us, ms, s, m, h"),
    u: str | None = Query(None, description="user (ignored; the password is the token)"),
    p: str | None = Query(None, description="token"),
) -> Response:
    return await _write(request, precision, v2=False)


@router.post("/api/v2/write", summary="Line protocol, Influx 2.x style", status_code=204)
async def write_v2(
    request: Request,
    org: str | None = Query(None, description="accepted for compatibility"),
    bucket: str | None = Query(None, description="accepted for compatibility"),
    precision: str | None = Query("ns", description="ns (default), us, ms, s"),
) -> Response:
    return await _write(request, precision, v2=True)


@router.get("/ping", include_in_schema=False)
@router.head("/ping", include_in_schema=False)
def ping() -> Response:
    """Influx clients check liveness here."""
    return Response(status_code=204, headers={"X-Influxdb-Version": "1.8-gridpulse"})

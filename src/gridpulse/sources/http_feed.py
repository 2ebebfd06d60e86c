"""A generic HTTP poller: a JSON, NDJSON, CSV or Parquet feed fetched on a schedule and loaded
with a column mapping, as the ClickHouse seed polls electricity load every 5-15 minutes.

Each run GETs `url` (auth, retries and Retry-After as sources/http.py), sending `If-None-Match`
/ `If-Modified-Since` from the previous answer so an unchanged feed costs one 304 and nothing
else. The body is written to the data folder's tmp/ and loaded by `ingest.files.load_file` with
the source's `mapping` (the keys of a `gridpulse load` mapping file), so parsing, validation and
dedup are those of `gridpulse load`: a feed that repeats its last hours stores them once, and a
value that changed is stored as a new version. Rejected rows go to `<data_dir>/rejects/<name>.rejects.ndjson`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridpulse.errors import GridpulseError
from gridpulse.ingest.mapping import FORMATS, Mapping
from gridpulse.model import WriteResult
from gridpulse.sources.base import Keys, SourceContext, SourceReport, SourceSpec, SourceType
from gridpulse.sources.feed import TrackingWriter, save_series_marks
from gridpulse.sources.http import HttpFetcher, HttpOptions, read_http_options
from gridpulse.store.base import SourceMark

__all__ = ["HTTP_FEED", "HttpFeedOptions", "HttpFeedSource"]

_FEED_KEY = "_feed"  # the source mark keeping the validators of the last answer


@dataclass(frozen=True)
class HttpFeedOptions:
    """Keys of a `type = "http"` source.

    Attributes:
        url: the feed.
        http: auth, retries, timeouts (sources/http.py).
        params: query parameters sent with every request.
        format: json, ndjson, csv or parquet; empty: from the answer's Content-Type, else the URL.
        mapping: how columns become series, as in a `gridpulse load --mapping` file.
    """

    url: str
    http: HttpOptions
    params: dict[str, str] = field(default_factory=dict)
    format: str = ""
    mapping: Mapping = field(default_factory=Mapping)


def check_options(keys: Keys) -> HttpFeedOptions:
    url = keys.text("url")
    if not url.startswith(("http://", "https://")):
        raise keys.error("url", f"={url!r} is not an http(s) URL")
    fmt = keys.text("format", "")
    if fmt and fmt not in FORMATS:
        raise keys.error("format", f"={fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        mapping = Mapping.from_dict(keys.table("mapping", {}), source=f"{keys.where}: mapping")
    except GridpulseError as exc:
        raise keys.error("mapping", f"is not a usable mapping: {exc}") from None
    return HttpFeedOptions(
        url=url, http=read_http_options(keys), params=keys.text_table("params", {}), format=fmt, mapping=mapping
    )


def _format(options: HttpFeedOptions, content_type: str) -> str:
    if options.format:
        return options.format
    ct = content_type.lower()
    for needle, fmt in (("ndjson", "ndjson"), ("x-jsonlines", "ndjson"), ("json", "json"), ("csv", "csv"), ("parquet", "parquet")):
        if needle in ct:
            return fmt
    path = options.url.split("?", 1)[0].lower()
    for fmt in FORMATS:
        if path.endswith("." + fmt):
            return fmt
    return "csv" if "text/plain" in ct else "json"


class HttpFeedSource:
    """Polls one feed URL; see the module docstring."""

    def __init__(self, spec: SourceSpec, options: HttpFeedOptions) -> None:
        self.spec = spec
        self.options = options

    def start(self, ctx: SourceContext) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, ctx: SourceContext) -> SourceReport:
        from gridpulse.ingest.files import load_file

        report = SourceReport()
        o = self.options
        known = {m.key: m for m in ctx.store.source_marks(self.spec.name)}
        validators = dict(known[_FEED_KEY].detail) if _FEED_KEY in known else {}
        headers = {}
        if validators.get("etag"):
            headers["If-None-Match"] = str(validators["etag"])
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = str(validators["last_modified"])
        with HttpFetcher(o.http, where=self.spec.where, stop=ctx.stop) as http:
            try:
                resp = http.get(o.url, params=o.params or None, headers=headers or None)
            except GridpulseError as exc:
                report.fatal = True
                report.fail(f"fetching {o.url} failed: {exc}")
                return report
            report.detail.update(requests=http.requests, retries=http.retries, rate_limited=http.rate_limited)
        if resp.status_code == 304:
            report.detail["not_modified"] = True
            report.parts_ok = 1
            return report
        fmt = _format(o, resp.headers.get("content-type", ""))
        tmp = ctx.settings.data_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        body_path = tmp / f"source-{self.spec.name}-{uuid.uuid4().hex}.{fmt}"
        rejects_dir = ctx.settings.data_dir / "rejects"
        rejects_dir.mkdir(parents=True, exist_ok=True)
        tracking = TrackingWriter(ctx.writer)
        try:
            body_path.write_bytes(resp.content)
            try:
                loaded = load_file(
                    tracking, ctx.store, body_path, o.mapping.merged({"format": fmt}),
                    rejects=rejects_dir / f"{self.spec.name}.rejects.ndjson", name=o.url, tmp_dir=tmp,
                )
            except GridpulseError as exc:
                report.fatal = True
                report.fail(f"loading the answer of {o.url} failed: {exc}")
                return report
        finally:
            body_path.unlink(missing_ok=True)
        report.rows, report.rejects = loaded.points, loaded.rejected
        report.add_result(WriteResult(loaded.inserted, loaded.revised, loaded.unchanged, loaded.series_created))
        report.detail.update(bytes=len(resp.content), format=fmt)
        now = datetime.now(UTC)
        save_series_marks(ctx.store, self.spec.name, tracking.committed_newest(), now)
        if loaded.error is not None:
            report.fail(f"{o.url}: {loaded.error}")
            return report
        report.parts_ok = 1
        # validators only after a full load: a failed load must be fetched whole again
        validators = {"etag": resp.headers.get("etag"), "last_modified": resp.headers.get("last-modified")}
        ctx.store.save_source_marks([SourceMark(self.spec.name, _FEED_KEY, None, now, {k: v for k, v in validators.items() if v})])
        return report


def _build(spec: SourceSpec, options: Any) -> HttpFeedSource:
    return HttpFeedSource(spec, options)


HTTP_FEED = SourceType(
    "http",
    check_options,
    _build,
    default_interval_s=300.0,
    summary="polls a JSON/NDJSON/CSV/Parquet feed and loads it with a column mapping",
)

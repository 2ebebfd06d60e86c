"""A poller for an Eniscope-style hierarchical REST API: organisations -> devices -> channels ->
readings (fields at a resolution), fetched incrementally.

Each run:
1. lists organisations, then each one's devices and channels (every list paginated), and upserts
   them as reference data (organisations, devices, channels tables);
2. for each channel, asks for readings from its watermark less `overlap_s` (the first time:
   `backfill_days` back) up to now, in windows of at most `max_window_days`; each window's rows
   go through the JSON parser of the ingest routes and are committed by the single writer, and
   only then does the channel's watermark (kept in the store) move to the newest committed
   reading. A crash mid-run therefore refetches at most one window per channel, and the store's
   dedup makes the refetch harmless; revised past values inside the overlap land as new versions;
3. a failing channel (after the retries of sources/http.py) is counted and named in the report,
   and the others go on; a failing organisation's devices and channels are skipped the same way.

Request shape (each path and parameter name is a key, defaults as Eniscope's core API):
`GET {base_url}/readings/{channel_id}?fields[]=E&fields[]=P&daterange[]=<from>&daterange[]=<to>&res=3600&page=1&limit=100`.
A list answer may be a bare JSON array or an object holding it under the first of
`organizations`, `devices`, `channels`, `records`, `readings`, `data`, `items`, `results`;
paging goes on while a page is full (or follows `next` when the answer gives one). A reading's
time is `ts` (epoch seconds, or ISO 8601); its fields are scaled by `field_scale` and stored as
the metric `field_metrics` names (Eniscope's E in Wh -> energy_kwh, P in W -> power_kw).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.compute as pc

from gridpulse.errors import GridpulseError
from gridpulse.ingest.reference import normalise_reference_row
from gridpulse.ingest.shapes import RouteShape, unit_for_metric
from gridpulse.model import SeriesKey, SeriesMeta
from gridpulse.sources.base import Keys, SourceContext, SourceError, SourceReport, SourceSpec, SourceType
from gridpulse.sources.feed import parse_records, write_parsed
from gridpulse.sources.http import HttpFetcher, HttpOptions, read_http_options
from gridpulse.store.base import REFERENCE_KINDS, SourceMark

__all__ = ["DEFAULT_FIELD_METRICS", "VENDOR_API", "VendorApiOptions", "VendorApiSource"]

log = logging.getLogger(__name__)

#: Eniscope field codes -> stored metric names.
DEFAULT_FIELD_METRICS = {
    "E": "energy_kwh",
    "P": "power_kw",
    "V": "voltage_v",
    "I": "current_a",
    "PF": "power_factor",
    "T": "temperature_c",
}
#: Eniscope sends energy in Wh and power in W; stored as kWh and kW.
DEFAULT_FIELD_SCALE = {"E": 0.001, "P": 0.001}

_LIST_KEYS = ("organizations", "organisations", "devices", "channels", "records", "readings", "data", "items", "results")
_ORG_ID = ("organizationId", "organisationId", "organization_id", "organisation_id", "id")
_DEVICE_ID = ("deviceId", "device_id", "id")
_CHANNEL_ID = ("channelId", "dataChannelId", "channel_id", "id")


@dataclass(frozen=True)
class VendorApiOptions:
    """The keys of a `type = "vendor_api"` source (see the module docstring)."""

    base_url: str
    http: HttpOptions
    organisations_path: str = "/organizations"
    devices_path: str = "/devices"
    channels_path: str = "/channels"
    readings_path: str = "/readings/{channel_id}"
    organisation_param: str = "organization"
    organisation_ids: list[str] = field(default_factory=list)
    channel_ids: list[str] = field(default_factory=list)
    page_param: str = "page"
    page_size_param: str = "limit"
    page_size: int = 100
    max_pages: int = 10_000
    fields: list[str] = field(default_factory=lambda: ["E", "P"])
    fields_param: str = "fields[]"
    field_metrics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELD_METRICS))
    field_scale: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_SCALE))
    units: dict[str, str] = field(default_factory=dict)
    resolution_s: int = 3600
    resolution_param: str = "res"
    range_param: str = "daterange[]"
    time_format: str = "epoch"
    ts_field: str = "ts"
    tz: str = ""
    backfill_days: float = 30.0
    overlap_s: float = 7200.0
    max_window_days: float = 7.0


def check_options(keys: Keys) -> VendorApiOptions:
    d = VendorApiOptions("", HttpOptions())
    base_url = keys.text("base_url")
    if not base_url.startswith(("http://", "https://")):
        raise keys.error("base_url", f"={base_url!r} is not an http(s) URL")
    scale_raw = keys.table("field_scale", dict(d.field_scale))
    scale: dict[str, float] = {}
    for code, value in scale_raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise keys.error(f"field_scale.{code}", f"={value!r} is not a number")
        scale[code] = float(value)
    resolution_s = keys.integer("resolution_s", d.resolution_s, min=1)
    tz = keys.text("tz", "")
    if tz:
        from gridpulse.timeutil import zone

        try:
            zone(tz)
        except GridpulseError as exc:
            raise keys.error("tz", str(exc)) from None
    return VendorApiOptions(
        base_url=base_url.rstrip("/"),
        http=read_http_options(keys),
        organisations_path=keys.text("organisations_path", d.organisations_path),
        devices_path=keys.text("devices_path", d.devices_path),
        channels_path=keys.text("channels_path", d.channels_path),
        readings_path=keys.text("readings_path", d.readings_path),
        organisation_param=keys.text("organisation_param", d.organisation_param),
        organisation_ids=keys.texts("organisation_ids", []),
        channel_ids=keys.texts("channel_ids", []),
        page_param=keys.text("page_param", d.page_param),
        page_size_param=keys.text("page_size_param", d.page_size_param),
        page_size=keys.integer("page_size", d.page_size, min=0),
        max_pages=keys.integer("max_pages", d.max_pages, min=1),
        fields=keys.texts("fields", list(d.fields)),
        fields_param=keys.text("fields_param", d.fields_param),
        field_metrics={**DEFAULT_FIELD_METRICS, **keys.text_table("field_metrics", {})},
        field_scale=scale,
        units=keys.text_table("units", {}),
        resolution_s=resolution_s,
        resolution_param=keys.text("resolution_param", d.resolution_param),
        range_param=keys.text("range_param", d.range_param),
        time_format=keys.choice("time_format", ("epoch", "iso"), d.time_format),
        ts_field=keys.text("ts_field", d.ts_field),
        tz=tz,
        backfill_days=keys.number("backfill_days", d.backfill_days, min=0),
        overlap_s=keys.number("overlap_s", 2.0 * resolution_s, min=0),
        max_window_days=keys.number("max_window_days", d.max_window_days, min=0.001),
    )


def _pick(item: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = item.get(name)
        if value not in (None, "") and not isinstance(value, (dict, list, bool)):
            return str(value)
    return None


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in _LIST_KEYS:
            if isinstance(body.get(key), list):
                return [x for x in body[key] if isinstance(x, dict)]
    raise SourceError(f"the answer is neither a list nor an object holding one under {', '.join(_LIST_KEYS)}")


def _next_link(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    nxt = body.get("next")
    if nxt is None and isinstance(body.get("links"), dict):
        nxt = body["links"].get("next")
    return nxt if isinstance(nxt, str) and nxt else None


def _attrs(item: dict[str, Any], used: tuple[str, ...]) -> dict[str, Any]:
    return {
        k: v
        for k, v in item.items()
        if k not in used and not isinstance(v, (dict, list)) and v is not None and not k.endswith("_id")
    }


def _iso(value: Any) -> Any:
    """A reading's time as ISO text: epoch seconds (or milliseconds, when that large) become UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    return value


class VendorApiSource:
    """Polls one vendor account; see the module docstring."""

    def __init__(self, spec: SourceSpec, options: VendorApiOptions) -> None:
        self.spec = spec
        self.options = options
        metrics = sorted({options.field_metrics.get(f, f) for f in options.fields})
        self.shape = RouteShape(
            f"source:{spec.name}",
            "ts",
            "channel_id",
            "channel",
            {m: options.units.get(m, unit_for_metric(m)) for m in metrics},
            interval=timedelta(seconds=options.resolution_s),
            required_values=False,
        )

    def start(self, ctx: SourceContext) -> None:
        pass

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ HTTP
    def _pages(self, http: HttpFetcher, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        o = self.options
        url: str | None = o.base_url + path
        page = 1
        linked = False  # once the answer hands out `next` links, they carry the whole query
        while url is not None and page <= o.max_pages:
            query = dict(params)
            if o.page_size:
                query[o.page_param] = page
                query[o.page_size_param] = o.page_size
            resp = http.get(url, params=None if linked else query)
            try:
                body = resp.json()
            except ValueError as exc:
                raise SourceError(f"{resp.request.url} did not answer JSON: {exc}") from None
            items = _items(body)
            yield from items
            link = _next_link(body)
            if link is not None:
                url = link if link.startswith("http") else o.base_url + "/" + link.lstrip("/")
                linked = True
            elif not o.page_size or len(items) < o.page_size:
                url = None
            page += 1

    def _time_param(self, ts: datetime) -> str:
        if self.options.time_format == "epoch":
            return str(int(ts.timestamp()))
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")

    # ------------------------------------------------------------------ a run
    def run(self, ctx: SourceContext) -> SourceReport:
        report = SourceReport()
        started = datetime.now(UTC)
        with HttpFetcher(self.options.http, where=self.spec.where, stop=ctx.stop) as http:
            try:
                channels = self._reference(ctx, http, report)
            except GridpulseError as exc:
                report.fatal = True
                report.fail(f"listing the account failed: {exc}")
                channels = []
            report.detail["channels"] = len(channels)
            marks = {m.key: m for m in ctx.store.source_marks(self.spec.name)}
            for channel in channels:
                if ctx.stop.is_set():
                    report.fail("stopped before every channel was fetched: the server is shutting down")
                    break
                self._channel(ctx, http, channel, marks.get(channel["channel_id"]), report, started)
            report.detail.update(
                requests=http.requests, retries=http.retries, rate_limited=http.rate_limited,
                server_errors=http.server_errors,
            )
        return report

    def _reference(self, ctx: SourceContext, http: HttpFetcher, report: SourceReport) -> list[dict[str, Any]]:
        """List and upsert organisations, devices and channels; returns the channels to poll."""
        o = self.options
        orgs: list[dict[str, Any]] = []
        for item in self._pages(http, o.organisations_path, {}):
            org_id = _pick(item, _ORG_ID)
            if org_id is None or (o.organisation_ids and org_id not in o.organisation_ids):
                continue
            orgs.append(
                {
                    "organisation_id": org_id,
                    "name": _pick(item, ("organizationName", "organisationName", "name")),
                    "parent_id": _pick(item, ("parentId", "parent_id")),
                    **_attrs(item, (*_ORG_ID, "organizationName", "organisationName", "name", "parentId")),
                    "source": self.spec.name,
                }
            )
        devices: list[dict[str, Any]] = []
        channels: list[dict[str, Any]] = []
        for org in orgs:
            oid = org["organisation_id"]
            try:
                for item in self._pages(http, o.devices_path, {o.organisation_param: oid}):
                    dev_id = _pick(item, _DEVICE_ID)
                    if dev_id is None:
                        continue
                    devices.append(
                        {
                            "device_id": dev_id,
                            "organisation_id": _pick(item, _ORG_ID[:-1]) or oid,
                            "name": _pick(item, ("deviceName", "name")),
                            "device_type": _pick(item, ("deviceTypeName", "deviceType", "device_type")),
                            **_attrs(item, (*_DEVICE_ID, "deviceName", "name", "deviceTypeName", "deviceType")),
                            "source": self.spec.name,
                        }
                    )
                for item in self._pages(http, o.channels_path, {o.organisation_param: oid}):
                    ch_id = _pick(item, _CHANNEL_ID)
                    if ch_id is None or (o.channel_ids and ch_id not in o.channel_ids):
                        continue
                    channels.append(
                        {
                            "channel_id": ch_id,
                            "device_id": _pick(item, _DEVICE_ID[:-1]),
                            "organisation_id": _pick(item, _ORG_ID[:-1]) or oid,
                            "name": _pick(item, ("channelName", "name")),
                            "tariff_id": _pick(item, ("tariffId", "tariff_id")),
                            **_attrs(item, (*_CHANNEL_ID, "channelName", "name", "deviceId", "tariffId")),
                            "source": self.spec.name,
                        }
                    )
            except GridpulseError as exc:
                report.fail(f"organisation {oid}: listing its devices and channels failed: {exc}")
        for kind, rows in (("organisations", orgs), ("devices", devices), ("channels", channels)):
            clean = []
            for row in rows:
                try:
                    clean.append(normalise_reference_row(kind, row, tz=None))
                except ValueError as exc:  # one odd vendor record must not stop the poll
                    report.fail(f"{kind} record {row.get(REFERENCE_KINDS[kind])!r} not stored: {exc}")
            ctx.store.upsert_reference(kind, clean)
        report.detail.update(organisations=len(orgs), devices=len(devices))
        return channels

    def _channel(
        self,
        ctx: SourceContext,
        http: HttpFetcher,
        channel: dict[str, Any],
        mark: SourceMark | None,
        report: SourceReport,
        now: datetime,
    ) -> None:
        """Fetch one channel window by window; each committed window moves its watermark."""
        o = self.options
        cid = channel["channel_id"]
        watermark = mark.watermark if mark is not None else None
        start = (watermark or now - timedelta(days=o.backfill_days)) - timedelta(seconds=o.overlap_s)
        window = timedelta(days=o.max_window_days)
        rows = rejects = 0
        meta = SeriesMeta(
            interval=timedelta(seconds=o.resolution_s),
            tz=o.tz or "UTC",
            tags={"source": self.spec.name},
            organisation_id=channel.get("organisation_id"),
            device_id=channel.get("device_id"),
            channel_id=cid,
        )

        def meta_for(key: SeriesKey) -> SeriesMeta:
            return dataclasses.replace(meta, unit=self.shape.value_fields.get(key.metric, ""))

        try:
            lo = start
            while lo < now:
                if ctx.stop.is_set():
                    raise SourceError("stopped mid-channel: the server is shutting down")
                hi = min(lo + window, now)
                params: dict[str, Any] = {
                    o.fields_param: list(o.fields),
                    o.range_param: [self._time_param(lo), self._time_param(hi)],
                    o.resolution_param: o.resolution_s,
                }
                records = [
                    self._record(cid, item) for item in self._pages(http, o.readings_path.format(channel_id=cid), params)
                ]
                parsed = parse_records(records, self.shape, tz=o.tz or None)
                result = write_parsed(ctx.writer, parsed, meta_for)
                if result is not None:
                    report.add_result(result)
                    newest = pc.max(parsed.table.column("ts")).as_py()
                    newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
                    if watermark is None or newest > watermark:
                        watermark = newest
                n = parsed.table.num_rows
                rows += n
                rejects += len(parsed.errors)
                report.rows += n
                report.rejects += len(parsed.errors)
                # the rows up to the watermark are committed: only now may the next run start past them
                ctx.store.save_source_marks(
                    [
                        SourceMark(
                            self.spec.name, cid, watermark, datetime.now(UTC),
                            {"kind": "channel", "rows_last_run": rows, "rejects_last_run": rejects},
                        )
                    ]
                )
                lo = hi
            report.parts_ok += 1
        except GridpulseError as exc:
            report.fail(f"channel {cid}: {exc}")
            log.warning("%s: channel %s failed, the others go on: %s", self.spec.where, cid, exc)
            ctx.store.save_source_marks(
                [
                    SourceMark(
                        self.spec.name, cid, watermark, mark.last_success_at if mark else None,
                        {"kind": "channel", "last_error": str(exc)[:500], "last_failure_at": datetime.now(UTC).isoformat()},
                    )
                ]
            )

    def _record(self, cid: str, item: dict[str, Any]) -> dict[str, Any]:
        o = self.options
        row: dict[str, Any] = {"ts": _iso(item.get(o.ts_field)), "channel_id": cid}
        for code in o.fields:
            if code not in item:
                continue
            value = item[code]
            scale = o.field_scale.get(code)
            if scale is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = value * scale
            row[o.field_metrics.get(code, code)] = value
        return row


def _build(spec: SourceSpec, options: Any) -> VendorApiSource:
    return VendorApiSource(spec, options)


VENDOR_API = SourceType(
    "vendor_api",
    check_options,
    _build,
    default_interval_s=3600.0,
    summary="polls an Eniscope-style API: organisations -> devices -> channels -> readings",
)

"""User-level readings requests (strings from a URL or the command line) -> a ReadingsQuery.

Shared by the API and the CLI so both accept exactly the same parameters and give the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gridpulse.errors import NotFound, QueryError
from gridpulse.model import Series
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, SeriesFilter, Store
from gridpulse.timeutil import parse_instant, zone

__all__ = [
    "ReadingsRequest",
    "default_agg",
    "find_series",
    "parse_tags",
    "pick_series",
    "read_readings",
    "readings_head",
    "series_filter",
]

_ENERGY_UNITS = {"wh", "kwh", "mwh", "gwh"}


def default_agg(unit: str) -> Agg:
    """Energy per interval adds up within a bucket; power, voltage, % and the rest average."""
    return Agg.SUM if unit.lower() in _ENERGY_UNITS else Agg.AVG


def parse_tags(tags: list[str] | None) -> dict[str, str]:
    """["site:ams", "segment=residential"] -> {"site": "ams", "segment": "residential"}."""
    out: dict[str, str] = {}
    for t in tags or []:
        sep = "=" if "=" in t else ":"
        k, s, v = t.partition(sep)
        if not s or not k:
            raise QueryError(f"tag={t!r} is not key:value")
        out[k.strip()] = v.strip()
    return out


def _split_entity(entity: str | None, kind: str | None) -> tuple[str | None, str | None]:
    """`meter:m-1` names the kind too; a plain id leaves it to `kind`."""
    if entity and kind is None and ":" in entity:
        k, _, e = entity.partition(":")
        return k, e
    return kind, entity


def series_filter(
    *,
    kind: str | None = None,
    entity: str | None = None,
    metric: str | None = None,
    tags: list[str] | None = None,
) -> SeriesFilter:
    kind, entity = _split_entity(entity, kind)
    return SeriesFilter(entity_kind=kind, entity_id=entity, metric=metric, tags=parse_tags(tags))


def find_series(
    store: Store,
    *,
    series: int | None = None,
    entity: str | None = None,
    kind: str | None = None,
    metric: str | None = None,
) -> Series:
    """The one series the parameters name.

    Raises:
        NotFound: no such series.
        QueryError: the parameters match several series (the message lists them).
    """
    if series is not None:
        found = store.list_series(SeriesFilter(series_ids=[series]))
        if not found:
            raise NotFound(f"series {series} does not exist")
        return found[0]
    if not entity:
        raise QueryError("name a series: series=<id>, or entity=<id> (with metric= when it has several)")
    flt = series_filter(kind=kind, entity=entity, metric=metric)
    found = store.list_series(flt)
    if not found and flt.entity_kind is not None and kind is None:
        # the colon was part of the id, not a kind
        found = store.list_series(SeriesFilter(entity_id=entity, metric=metric))
    if not found:
        what = f"entity {entity!r}" + (f" with metric {metric!r}" if metric else "")
        raise NotFound(f"no series for {what}; list them with GET /api/v1/series")
    if len(found) > 1:
        names = ", ".join(str(s.key) for s in found[:20])
        raise QueryError(f"entity {entity!r} has {len(found)} series ({names}): add metric= or kind=")
    return found[0]


@dataclass(frozen=True)
class ReadingsRequest:
    """The parameters of GET /api/v1/readings and `gridpulse query`, as given."""

    series: int | None = None
    entity: str | None = None
    kind: str | None = None
    metric: str | None = None
    start: str | None = None
    end: str | None = None
    resolution: str = "raw"
    agg: str | None = None
    tz: str | None = None
    as_of: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def read_readings(store: Store, req: ReadingsRequest) -> tuple[Series, ReadingsQuery, pa.Table]:
    """Resolve, validate and run a readings request.

    Returns:
        The series, the query that ran (tz resolved), and its Arrow result.

    Raises:
        QueryError / NotFound: naming the parameter at fault.
    """
    s = find_series(store, series=req.series, entity=req.entity, kind=req.kind, metric=req.metric)
    try:
        resolution = Resolution(req.resolution)
    except ValueError:
        raise QueryError(
            f"resolution={req.resolution!r} is not one of {', '.join(r.value for r in Resolution)}"
        ) from None
    try:
        agg = Agg(req.agg) if req.agg else default_agg(s.unit)
    except ValueError:
        raise QueryError(f"agg={req.agg!r} is not one of {', '.join(a.value for a in Agg)}") from None
    tz = req.tz or s.tz or "UTC"
    zone(tz)
    start = parse_instant(req.start, tz=req.tz, param="start") if req.start else None
    end = parse_instant(req.end, tz=req.tz, param="end") if req.end else None
    as_of = parse_instant(req.as_of, tz=req.tz, param="as_of") if req.as_of else None
    if start and end and end <= start:
        raise QueryError(f"end={req.end!r} is not after start={req.start!r}")
    q = ReadingsQuery(s.series_id, start=start, end=end, resolution=resolution, agg=agg, tz=tz, as_of=as_of)
    return s, q, store.read(q)


def readings_head(
    series: Series, query: ReadingsQuery, req: ReadingsRequest, *, count: int
) -> dict[str, Any]:
    """The fields of a JSON readings answer before its points, the same from the API and the CLI.

    Args:
        series: the series read.
        query: the query that ran (zone, resolution and aggregate resolved).
        req: the request as given; start, end and as_of are echoed as given.
        count: number of points that follow.

    Returns:
        series, resolution, agg (None for raw), tz, start, end, as_of and count.
    """
    raw = query.resolution is Resolution.RAW
    return {
        "series": series.as_dict(),
        "resolution": query.resolution.value,
        "agg": None if raw else query.agg.value,
        "tz": query.tz,
        "start": req.start,
        "end": req.end,
        "as_of": req.as_of,
        "count": count,
    }


def pick_series(
    store: Store,
    *,
    series: int | None = None,
    entity: str | None = None,
    kind: str | None = None,
    metric: str | None = None,
) -> list[Series]:
    """One series (series id, or entity with metric), or every series of a kind and/or metric, or all.

    Raises:
        NotFound: nothing matches.
    """
    if series is not None or entity:
        return [find_series(store, series=series, entity=entity, kind=kind, metric=metric)]
    found = store.list_series(SeriesFilter(entity_kind=kind, metric=metric))
    if not found and (kind or metric):
        raise NotFound(
            f"no series of kind {kind!r} with metric {metric!r}; list them with GET /api/v1/series"
        )
    return found

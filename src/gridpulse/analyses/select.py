"""Which series an analysis reads: one entity, a group (site, organisation, kind), or a feeder and its meters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridpulse.analyses.params import Param
from gridpulse.errors import NotFound, QueryError
from gridpulse.model import Series
from gridpulse.store.base import SeriesFilter, Store
from gridpulse.store.groups import SeriesGroup
from gridpulse.store.query import find_series

__all__ = ["FeederSelector", "Selection", "Selector", "SeriesSelector"]


@dataclass(frozen=True)
class Selection:
    """The series an analysis reads, by role, and reference rows that came with them.

    Attributes:
        roles: role -> series; most analyses have the one role "series", a feeder balance has
            "meters" and "feeder". Each role is read as one frame.
        extra: anything else the selector looked up, e.g. {"mapping": meter_feeder_map rows}.
    """

    roles: Mapping[str, Sequence[Series]]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def all_series(self) -> Sequence[Series]:
        """Every role's series; the one role's own sequence (a SeriesGroup, facts known) when
        there is one role."""
        if len(self.roles) == 1:
            return next(iter(self.roles.values()))
        return [s for group in self.roles.values() for s in group]


class Selector(Protocol):
    """Turns selection parameters into series. `params` are added to the analysis' own."""

    @property
    def params(self) -> tuple[Param, ...]: ...

    def resolve(self, store: Store, values: Mapping[str, Any]) -> Selection:
        """The series the values name.

        Raises:
            NotFound: nothing matches. QueryError: the values are contradictory or ambiguous.
        """
        ...


def _on_site(s: Series, site: str | None, organisation: str | None) -> bool:
    return (site is None or s.site_id == site) and (organisation is None or s.organisation_id == organisation)


@dataclass(frozen=True)
class SeriesSelector:
    """One series (entity= and maybe metric=), or a group: every series of a site, an organisation or a kind.

    Attributes:
        kind: entity kind a group defaults to, e.g. "meter" (None: any kind).
        metric: metric a group defaults to, and the metric tried first for an entity with several.
    """

    kind: str | None = None
    metric: str | None = None

    @property
    def params(self) -> tuple[Param, ...]:
        kind = f" (default for a group: {self.kind})" if self.kind else ""
        metric = f" (default: {self.metric} when there is one)" if self.metric else ""
        return (
            Param("entity", help="one series: entity id, or kind:id such as meter:m-01"),
            Param("kind", help="entity kind; without entity=, every series of that kind" + kind),
            Param("metric", help="metric when the entity has several, or of a group's series" + metric),
            Param("site", help="a group: every series of this site (with kind= and metric=)"),
            Param("organisation", help="a group: every series of this organisation"),
        )

    def resolve(self, store: Store, values: Mapping[str, Any]) -> Selection:
        entity, kind, metric = values.get("entity"), values.get("kind"), values.get("metric")
        site, organisation = values.get("site"), values.get("organisation")
        if entity:
            if site or organisation:
                raise QueryError(
                    "entity= names one series, site= and organisation= a group: give one of them"
                )
            return Selection({"series": [self._one(store, entity, kind, metric)]})
        if not (site or organisation or kind or metric):
            raise QueryError(
                "name the series: entity=<id> (or kind:id), or site=, organisation= or kind= for a group"
            )
        flt = SeriesFilter(entity_kind=kind or self.kind, metric=metric or self.metric)
        found = store.series_group(flt)  # the catalogue's, facts kept: a fleet of 1,000 walked once
        if site or organisation:
            found = SeriesGroup(s for s in found if _on_site(s, site, organisation))
        if not found:
            what = "/".join(v for v in (flt.entity_kind, flt.metric) if v) or "any"
            where = ", ".join(f"{k} {v!r}" for k, v in (("site", site), ("organisation", organisation)) if v)
            raise NotFound(
                f"no {what} series{' at ' + where if where else ''}; list them with GET /api/v1/series"
            )
        return Selection({"series": found})

    def _one(self, store: Store, entity: str, kind: str | None, metric: str | None) -> Series:
        if metric is None and self.metric is not None:
            # a battery has several series: take the one this analysis is about when it exists
            try:
                return find_series(store, entity=entity, kind=kind, metric=self.metric)
            except NotFound:
                pass
        return find_series(store, entity=entity, kind=kind, metric=metric)


@dataclass(frozen=True)
class FeederSelector:
    """A feeder head and the meters `meter_feeder_map` maps to it, both of one metric."""

    metric: str = "kwh"

    @property
    def params(self) -> tuple[Param, ...]:
        return (
            Param("feeder", required=True, help="feeder id, e.g. feeder-1"),
            Param("metric", default=self.metric, help="metric of the head and of the meters"),
        )

    def resolve(self, store: Store, values: Mapping[str, Any]) -> Selection:
        feeder_id, metric = str(values["feeder"]), str(values["metric"])
        head = find_series(store, entity=feeder_id, kind="feeder", metric=metric)
        mapping = [r for r in store.list_reference("meter_feeder_map") if r.get("feeder_id") == feeder_id]
        if not mapping:
            raise QueryError(
                f"feeder {feeder_id!r} has no rows in meter_feeder_map: load its meters there "
                "(GET /api/v1/reference/meter_feeder_map lists the mapping)"
            )
        mapped = {r.get("meter_id") for r in mapping}
        meters = [
            s
            for s in store.list_series(SeriesFilter(entity_kind="meter", metric=metric))
            if s.key.entity_id in mapped
        ]
        return Selection({"meters": meters, "feeder": [head]}, {"mapping": mapping})

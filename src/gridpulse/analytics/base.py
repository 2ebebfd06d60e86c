"""What every analytic shares: a result with its table, units and the SQL it ran.

Each analytic in `gridpulse.analytics` is one function taking the store and plain arguments,
returning an `AnalyticResult`. The SQL runs on the store's engine (`Store.sql`, DuckDB's dialect
on the embedded store), on the current version of every point; every statement is recorded so
`gridpulse analyze ... --explain` and `?explain=true` can show what ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gridpulse.errors import NotFound
from gridpulse.model import Series
from gridpulse.store.base import SeriesFilter, Store

__all__ = ["AnalyticResult", "SqlRun", "resolve_series"]


@dataclass
class AnalyticResult:
    """One analytic's answer.

    Attributes:
        table: the rows; time columns are UTC timestamps (`ts`, `day`, ...) unless named `local_*`.
        units: column name -> unit, e.g. {"energy_kwh": "kWh", "peak_kw": "kW"}.
        sql: every statement that ran, with its parameters, in order.
        notes: short remarks a user should see (e.g. "2 gaps longer than 1h not bridged").
    """

    table: pa.Table
    units: dict[str, str] = field(default_factory=dict)
    sql: list[tuple[str, list[Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SqlRun:
    """Runs statements on a store and keeps them for --explain."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.statements: list[tuple[str, list[Any]]] = []

    def __call__(self, query: str, params: Sequence[Any] = ()) -> pa.Table:
        self.statements.append((query, list(params)))
        return self.store.sql(query, params)


def resolve_series(store: Store, entity: str, metric: str, *, kind: str | None = None) -> Series:
    """The one series of `entity` and `metric` (entity kind optional when unambiguous).

    Raises:
        NotFound: no such series, or the entity id exists under several kinds (name the kind).
    """
    found = store.list_series(SeriesFilter(entity_kind=kind, entity_id=entity, metric=metric))
    if not found:
        raise NotFound(f"no series {entity}/{metric}" + (f" of kind {kind}" if kind else ""))
    if len(found) > 1:
        kinds = ", ".join(s.key.entity_kind for s in found)
        raise NotFound(f"{entity}/{metric} exists for several entity kinds ({kinds}); name the kind")
    return found[0]

"""Writing hand-made points into a real store for the quality and anomaly tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from gridpulse.model import KEYED_BATCH_SCHEMA, Quality, SeriesMeta, WriteResult
from gridpulse.store.base import Store, WriteRequest

Q15 = timedelta(minutes=15)


def batch(
    entity: str,
    ts: Sequence[datetime],
    values: Sequence[float | None],
    *,
    quality: Quality | Sequence[Quality] = Quality.ACTUAL,
    metric: str = "kwh",
    kind: str = "meter",
) -> pa.Table:
    n = len(ts)
    q = [int(quality)] * n if isinstance(quality, Quality) else [int(x) for x in quality]
    return pa.table(
        {
            "entity_kind": [kind] * n,
            "entity_id": [entity] * n,
            "metric": [metric] * n,
            "ts": pa.array(list(ts), pa.timestamp("us", tz="UTC")),
            "value": pa.array(list(values), pa.float64()),
            "quality": pa.array(q, pa.int8()),
        },
        schema=KEYED_BATCH_SCHEMA,
    )


def write(
    store: Store,
    entity: str,
    ts: Sequence[datetime],
    values: Sequence[float | None],
    *,
    quality: Quality | Sequence[Quality] = Quality.ACTUAL,
    interval: timedelta | None = Q15,
    tz: str = "UTC",
    unit: str = "kWh",
    metric: str = "kwh",
) -> WriteResult:
    """Commit the points (creating the series with the given interval, zone and unit)."""
    meta = SeriesMeta(unit=unit, interval=interval, tz=tz)
    (result,) = store.write_group(
        [WriteRequest([batch(entity, ts, values, quality=quality, metric=metric)], lambda _k: meta)]
    )
    return result


def grid(start: datetime, n: int, step: timedelta = Q15) -> list[datetime]:
    return [start + i * step for i in range(n)]


T0 = datetime(2024, 1, 1, tzinfo=UTC)

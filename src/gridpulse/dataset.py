"""Dataset: a named set of series ready to write (Arrow batches, series metadata, reference rows).

The synthetic fleet (`gridpulse.demo`) and the readers of the real public datasets
(`gridpulse.datasets`) both hand back this one value, so the code that loads them into a store
does not care where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gridpulse.model import KEYED_BATCH_SCHEMA, TS_TYPE, Quality, SeriesKey, SeriesMeta

__all__ = ["MAX_BATCH_ROWS", "Dataset", "SeriesPoints", "keyed_batches"]

#: Largest batch the generators and readers hand out. [rows]
MAX_BATCH_ROWS = 100_000


@dataclass
class Dataset:
    """A named set of series ready to write: Arrow batches, metadata of each series, reference rows.

    Attributes:
        name: short name of the set, e.g. "demo-fleet" or "pjm_hourly".
        batches: Arrow tables, each with exactly `model.KEYED_BATCH_SCHEMA` (entity_kind, entity_id,
            metric, ts as a UTC instant, value, quality). A `ts` marks the start of the interval
            its value describes (energy or average power over [ts, ts + interval)), or the instant
            of a sample for instantaneous metrics such as state of charge. An iterator is
            consumed once.
        meta: one entry for every series key appearing in `batches`: unit, interval, the site's
            IANA zone, tags and place in the hierarchy.
        reference: reference kind (a key of `store.base.REFERENCE_KINDS`) -> rows, each a dict
            keyed by the table's columns; extra keys are allowed (a store keeps them as attrs).
        source_rows: data rows read from the source files, before any reshaping (one wide CSV row
            may hold several series), splitting or dropping; 0 for generated data. Compare it
            with the row counts a dataset's README publishes.
    """

    name: str
    batches: Iterator[pa.Table] | list[pa.Table]
    meta: dict[SeriesKey, SeriesMeta]
    reference: dict[str, list[dict[str, Any]]]
    source_rows: int = 0

    def meta_for(self, key: SeriesKey) -> SeriesMeta:
        """The metadata of one series.

        Args:
            key: the series' (entity kind, entity id, metric).

        Returns:
            `meta[key]`, or an empty `SeriesMeta()` (unknown unit, UTC, no interval) when the
            set does not describe that series.
        """
        return self.meta.get(key, SeriesMeta())


@dataclass(frozen=True)
class SeriesPoints:
    """The points of one series as numpy arrays, before they become a keyed Arrow batch.

    Attributes:
        key: the series.
        ts_us: UTC instants as microseconds since 1970-01-01 (int64). [µs]
        value: values (float64); NaN becomes a null value in the batch. [unit of the series]
        quality: one Quality for every point, or an int8-compatible array with one per point.
    """

    key: SeriesKey
    ts_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    quality: int | npt.NDArray[np.int8] = int(Quality.ACTUAL)


def keyed_batches(series: Sequence[SeriesPoints], *, max_rows: int = MAX_BATCH_ROWS) -> list[pa.Table]:
    """Arrow batches with exactly KEYED_BATCH_SCHEMA holding the given series, one after another.

    Key columns are built by taking from a small array of distinct keys, never per row in Python.

    Args:
        series: the series, each with arrays of equal length.
        max_rows: largest batch. [rows]

    Returns:
        Tables of at most `max_rows` rows (slices of one table, zero-copy); none for no points.
    """
    counts = [len(s.ts_us) for s in series]
    total = sum(counts)
    if total == 0:
        return []
    idx = pa.array(np.repeat(np.arange(len(series), dtype=np.int32), counts))

    def key_column(field: str) -> pa.Array:
        return pa.array([getattr(s.key, field) for s in series], pa.string()).take(idx)

    value = np.concatenate([s.value for s in series]).astype(np.float64, copy=False)
    quality = np.concatenate(
        [np.broadcast_to(np.asarray(s.quality, dtype=np.int8), (len(s.ts_us),)) for s in series]
    )
    table = pa.Table.from_arrays(
        [
            key_column("entity_kind"),
            key_column("entity_id"),
            key_column("metric"),
            pa.array(np.concatenate([s.ts_us for s in series]).astype(np.int64, copy=False), type=TS_TYPE),
            pa.array(value, type=pa.float64(), mask=np.isnan(value)),
            pa.array(quality, type=pa.int8()),
        ],
        schema=KEYED_BATCH_SCHEMA,
    )
    return [table.slice(offset, max_rows) for offset in range(0, total, max_rows)]

"""A mapping against a header, and one batch of raw rows -> keyed points plus the rows rejected.

`resolve_layout` decides which columns hold the time, entity, kind, metric, values and quality
(from the mapping, else from the header's names); `batch_points` converts a batch with those
columns (`gridpulse.ingest.columns`) and melts wide rows into one point per value column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from gridpulse.errors import ConfigError
from gridpulse.ingest.columns import Bad, const_ids, to_ids, to_instants, to_quality, to_values
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.readers import EXTENSIONS, RawChunk
from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA, Quality

__all__ = ["Layout", "RowProblems", "batch_points", "file_stem", "raw_row", "resolve_layout"]

#: Row index in the batch -> (column at fault or None, reason).
RowProblems = dict[int, tuple[str | None, str]]

_TIME_NAMES = (
    "ts",
    "timestamp",
    "time",
    "datetime",
    "date_time",
    "date",
    "recorded_at",
    "interval_start",
    "read_at",
    "measured_at",
)
_METRIC_NAMES = ("metric", "metric_name")
_VALUE_NAMES = ("value",)


def file_stem(name: str) -> str:
    """A file's name without its format extension and `.gz` (`ETTh1.csv.gz` -> `ETTh1`)."""
    base = Path(name).name
    if base.lower().endswith(".gz"):
        base = base[:-3]
    for ext in EXTENSIONS:
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


@dataclass(frozen=True)
class Layout:
    """Which columns of a batch hold what, resolved from the mapping and the header."""

    time: str
    entity: str | None
    entity_const: str | None
    kind: str | None
    kind_column: str | None
    metric_column: str | None
    metric_const: str | None
    value_column: str | None
    values: tuple[tuple[str, str], ...]
    quality: str | None

    @property
    def narrow(self) -> bool:
        return self.value_column is not None


def _find(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in reversed(columns)}
    return next((lower[n] for n in names if n in lower), None)


def resolve_layout(columns: list[str], m: Mapping, *, name: str, strict: bool) -> Layout:
    """Resolve the mapping against a header.

    Raises:
        ConfigError: a named column is not in the header (strict formats: CSV, Parquet), or the
            mapping leaves something undecided (which column is the entity, which kind...).
    """
    shown = ", ".join(repr(c) for c in columns)

    def need(col: str | None, flag: str) -> str | None:
        if col is not None and strict and col not in columns:
            raise ConfigError(f"{name}: there is no column {col!r} ({flag}); the header has {shown}")
        return col

    if not columns:
        raise ConfigError(f"{name}: no columns found")
    time_col = need(m.time_column, "--time-column") or _find(columns, _TIME_NAMES) or columns[0]
    kind_col = need(m.entity_kind_column, "--entity-kind-column")
    entity_col: str | None = None
    entity_const: str | None = None
    if m.entity is not None:
        entity_const = m.entity.replace("{stem}", file_stem(name))
    else:
        entity_col = need(m.entity_column, "--entity-column") or _find(columns, ("entity_id",))
        if entity_col is None:
            ids = [c for c in columns if c.lower().endswith("_id") and c != time_col]
            if len(ids) != 1:
                found = f"the columns {ids} all end in _id" if ids else "no column ends in _id"
                raise ConfigError(
                    f"{name}: which column holds the entity id? {found}: pass --entity-column, "
                    "or --entity ID when the whole file is one entity"
                )
            entity_col = ids[0]
    kind = m.entity_kind
    if kind is None and kind_col is None:
        if (
            entity_col is not None
            and entity_col.lower().endswith("_id")
            and entity_col.lower() != "entity_id"
        ):
            kind = entity_col[:-3].lower()
        else:
            raise ConfigError(
                f"{name}: what kind of entity do the rows describe? pass --entity-kind "
                "(meter, plant, device, channel, feeder...)"
            )
    quality_col = need(m.quality_column, "--quality-column")
    metric_col: str | None = None
    value_col: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    taken = {time_col, entity_col, kind_col, quality_col}
    if m.value_columns:
        for col, _ in m.value_columns:
            need(col, "--value-columns")
        values = m.value_columns
    elif not m.wide and (
        m.metric_column
        or m.value_column
        or m.metric
        or (_find(columns, _METRIC_NAMES) and _find(columns, _VALUE_NAMES))
    ):
        if m.metric is None:
            metric_col = need(m.metric_column, "--metric-column") or _find(columns, _METRIC_NAMES)
            if metric_col is None:
                raise ConfigError(
                    f"{name}: which column names the metric? pass --metric-column, or "
                    "--metric NAME when every value is the same metric"
                )
        value_col = need(m.value_column, "--value-column") or _find(columns, _VALUE_NAMES)
        if value_col is None:
            raise ConfigError(f"{name}: which column holds the values? pass --value-column")
    else:
        # ids are never values: with a constant entity, a `meter_id` column is still not a metric
        skip = taken | set(m.exclude_columns)
        values = tuple((c, c) for c in columns if c not in skip and not c.lower().endswith("_id"))
        if not values:
            raise ConfigError(f"{name}: no value columns left (the header has {shown}); pass --value-columns")
    return Layout(
        time_col,
        entity_col,
        entity_const,
        kind,
        kind_col,
        metric_col,
        m.metric,
        value_col,
        values,
        quality_col,
    )


def raw_row(chunk: RawChunk, i: int) -> Any:
    if chunk.records is not None:
        text = chunk.records[i]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text.decode("utf-8", errors="replace")
    return chunk.table.slice(i, 1).to_pylist()[0]


def batch_points(chunk: RawChunk, layout: Layout, m: Mapping) -> tuple[pa.Table, RowProblems]:
    """The keyed points of one batch (rejected rows dropped) and {row: (column, reason)} of the rejected."""
    n = len(chunk.lines)
    names = set(chunk.table.column_names)
    bad: RowProblems = {}

    def column(name: str, *, ids: bool = False) -> pa.Array:
        if name in names:
            col = chunk.table.column(name).combine_chunks()
            # Parquet text arrives dictionary-encoded: ids keep it (to_ids reads it), others decode
            if pa.types.is_dictionary(col.type) and not ids:
                return col.dictionary_decode()
            return col
        return pa.nulls(n, pa.string())

    def merge(name: str | None, found: Bad) -> None:
        for i, reason in found.items():
            bad.setdefault(i, (name, reason))

    def missing_key(name: str, what: str) -> None:
        # JSON rows may lack a key altogether: say so rather than "null"
        if chunk.present is not None:
            present = chunk.present.get(name)
            absent = np.ones(n, bool) if present is None else ~present
            for i in np.flatnonzero(absent):
                bad.setdefault(int(i), (name, f"missing {what}"))

    missing_key(layout.time, "timestamp")
    ts, found = to_instants(
        column(layout.time),
        fmt=m.time_format,
        tz=m.tz,
        shift=m.interval if m.time_label == "end" else None,
    )
    merge(layout.time, found)
    if layout.entity_const is not None:
        entity = const_ids(layout.entity_const, n)
    else:
        assert layout.entity is not None
        missing_key(layout.entity, "entity id")
        entity, found = to_ids(column(layout.entity, ids=True), what="entity id")
        merge(layout.entity, found)
    if layout.kind_column is not None:
        kind, found = to_ids(column(layout.kind_column, ids=True), what="entity kind")
        merge(layout.kind_column, found)
    else:
        kind = const_ids(layout.kind, n)
    if layout.quality is not None:
        quality, found = to_quality(column(layout.quality))
        merge(layout.quality, found)
    else:
        quality = pa.repeat(pa.scalar(int(Quality.ACTUAL), pa.int8()), n)

    parts: list[tuple[npt.NDArray[np.bool_] | None, pa.Array, pa.Array]] = []
    if layout.narrow:
        assert layout.value_column is not None
        if layout.metric_column is not None:
            missing_key(layout.metric_column, "metric")
            metric, found = to_ids(column(layout.metric_column, ids=True), what="metric")
            merge(layout.metric_column, found)
        else:
            metric = const_ids(layout.metric_const, n)
        missing_key(layout.value_column, "value")
        values, found = to_values(column(layout.value_column))
        merge(layout.value_column, found)
        parts.append((None, metric, values))
    else:
        any_present = np.zeros(n, bool)
        for col, metric_name in layout.values:
            if col not in names:
                continue
            present = chunk.present.get(col) if chunk.present is not None else None
            values, found = to_values(column(col))
            if present is not None:
                found = {i: r for i, r in found.items() if present[i]}
                any_present |= present
            merge(col, found)
            parts.append((present, const_ids(metric_name, n), values))
        if chunk.present is not None:
            wanted = ", ".join(c for c, _ in layout.values) or "(none)"
            for i in np.flatnonzero(~any_present):
                bad.setdefault(int(i), (None, f"row has none of the value columns {wanted}"))

    keep = np.ones(n, bool)
    if bad:
        keep[list(bad)] = False
    tables = []
    for present, metric, values in parts:
        mask = keep if present is None else keep & present
        t = pa.Table.from_arrays(
            [kind, entity, metric, ts, values, quality], schema=ENCODED_KEYED_BATCH_SCHEMA
        )
        tables.append(t if mask.all() else t.filter(pa.array(mask)))
    table = pa.concat_tables(tables) if tables else ENCODED_KEYED_BATCH_SCHEMA.empty_table()
    return table, bad

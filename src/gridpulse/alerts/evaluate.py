"""Rows -> what each series' newest reading says about a rule, in Arrow and numpy.

In-stream rules see the rows of a commit through the writer's tap: `MetricSelector` keeps the
rows of metrics some rule watches (one `is_in` on the metric column, on the dictionary alone when
the parser encoded it), and `newest_readings` reduces them, per rule and series, to the newest
reading and the run of breaching readings that ends with it. Everything per row is vectorised;
Python loops over series, not rows.

Which rows count: a reading newer than the newest one this rule already saw of the series, or a
revision of that newest one (same ts, another value). Older rows (late data filling a gap,
revisions of history) and identical resends are ignored: an alert follows a series' current
state, and a resend must not fire again.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.alerts.rules import Rule, RuleKind
from gridpulse.model import Quality

__all__ = ["MetricSelector", "Reading", "newest_readings", "rows_table"]

_NP_OPS: dict[str, Callable[[np.ndarray, float | np.ndarray], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_KEEP = ("entity_kind", "entity_id", "metric", "ts", "value", "quality")
_US_PER_HOUR = 3_600_000_000


class MetricSelector:
    """The writer tap's `select`: the rows of watched metrics, key columns as plain strings;
    estimated values (quality ESTIMATED) are left out.

    Costs one hash lookup per row of the batch (per dictionary entry when the metric column is
    dictionary-encoded, as line protocol makes it) and nothing when no metric is watched.
    """

    def __init__(self, metrics: Iterable[str] = ()) -> None:
        self._watch: tuple[frozenset[str], pa.Array] = (frozenset(), pa.array([], pa.string()))
        self.watch(metrics)

    def watch(self, metrics: Iterable[str]) -> None:
        """Replace the watched metrics (atomic for the writer thread: one attribute)."""
        names = frozenset(metrics)
        self._watch = (names, pa.array(sorted(names), pa.string()))

    @property
    def metrics(self) -> frozenset[str]:
        return self._watch[0]

    def __call__(self, batch: pa.Table) -> pa.Table | None:
        names, values = self._watch
        if not names:
            return None
        masks: list[pa.Array] = []
        hit_any = False
        for chunk in batch.column("metric").chunks:
            if pa.types.is_dictionary(chunk.type):
                in_dict = pc.is_in(chunk.dictionary, value_set=values)
                if not pc.any(in_dict).as_py():
                    masks.append(pa.nulls(len(chunk), pa.bool_()).fill_null(False))
                    continue
                mask = pc.take(in_dict, chunk.indices)
            else:
                mask = pc.is_in(chunk, value_set=values)
            hit_any = hit_any or bool(pc.any(mask).as_py())
            masks.append(mask)
        if not hit_any:
            return None
        rows = batch.select(list(_KEEP)).filter(pa.chunked_array(masks, pa.bool_()))
        # an estimate (VEE) fills a gap; it is not a reading and never raises an alert
        rows = rows.filter(pc.not_equal(rows.column("quality"), int(Quality.ESTIMATED)))
        return rows_table(rows) if rows.num_rows else None


def rows_table(rows: pa.Table) -> pa.Table:
    """Tapped rows with plain string keys and ts as int64 µs since 1970 (UTC), for concatenation."""
    cols = {}
    for name in ("entity_kind", "entity_id", "metric"):
        col = rows.column(name)
        cols[name] = col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col
    cols["ts"] = rows.column("ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    cols["value"] = rows.column("value").cast(pa.float64())
    return pa.table(cols)


@dataclass(frozen=True)
class Reading:
    """What one series' rows in a commit say about one rule.

    Attributes:
        series: the series' name (`kind:entity/metric`).
        entity_kind, entity_id, metric: its key.
        ts_us: the newest reading's instant. [µs since 1970, UTC]
        value: its value, in the series' unit.
        breach: whether the newest reading meets the rule's condition (threshold: value; rate:
            the change from the reading before it per hour).
        hold: whether it is still on the alerting side of the rule's clear level (threshold
            rules with `clear`; else equal to breach).
        run_start_us: the first reading of the breaching run ending with the newest one, None
            when the newest does not breach. [µs since 1970, UTC]
        run_from_first: whether that run starts at the first row evaluated (it may continue a
            run seen in earlier commits).
    """

    series: str
    entity_kind: str
    entity_id: str
    metric: str
    ts_us: int
    value: float
    breach: bool
    hold: bool
    run_start_us: int | None
    run_from_first: bool


def _rule_rows(rule: Rule, rows: pa.Table) -> pa.Table:
    """The rows of the rule's metric and entities, with a value."""
    mask = pc.and_(pc.equal(rows.column("metric"), rule.metric), pc.is_valid(rows.column("value")))
    if rule.entity_kind:
        mask = pc.and_(mask, pc.equal(rows.column("entity_kind"), rule.entity_kind))
    if rule.entity_id:
        regex = fnmatch.translate(rule.entity_id)
        mask = pc.and_(mask, pc.match_substring_regex(rows.column("entity_id"), f"^(?:{regex})"))
    return rows.filter(mask)


def newest_readings(rule: Rule, rows: pa.Table, last: Mapping[str, tuple[int, float]]) -> list[Reading]:
    """Per series of the rule in `rows` (rows_table's shape), the newest reading and its run.

    Args:
        rule: a threshold or rate rule.
        rows: tapped rows of one or more commits.
        last: series name -> (ts [µs], value) of the newest reading the rule already evaluated;
            older rows and identical resends of it are left out, and a rate rule takes its change
            from it.

    Returns:
        One Reading per series with rows left, ordered by series name.
    """
    rows = _rule_rows(rule, rows)
    if not rows.num_rows:
        return []
    names = pc.binary_join_element_wise(
        rows.column("entity_kind"), pa.scalar(":"), rows.column("entity_id"), pa.scalar("/"),
        rows.column("metric"), "",
    )  # fmt: skip
    enc = pc.dictionary_encode(names).combine_chunks()
    series = enc.dictionary.to_pylist()
    code = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    ts = rows.column("ts").to_numpy().astype(np.int64)
    value = rows.column("value").to_numpy().astype(np.float64)
    seen_ts = np.array([last.get(s, (np.iinfo(np.int64).min, np.nan))[0] for s in series], dtype=np.int64)
    seen_value = np.array([last.get(s, (0, np.nan))[1] for s in series], dtype=np.float64)
    keep = (ts > seen_ts[code]) | ((ts == seen_ts[code]) & (value != seen_value[code]))
    if not keep.any():
        return []
    at = np.flatnonzero(keep)
    code, ts, value = code[keep], ts[keep], value[keep]
    order = np.lexsort((ts, code))
    code, ts, value, at = code[order], ts[order], value[order], at[order]
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)] - 1
    if rule.kind is RuleKind.RATE:
        prev_ts = np.r_[0, ts[:-1]].astype(np.int64)
        prev_value = np.r_[np.nan, value[:-1]]
        prev_ts[starts] = seen_ts[code[starts]]
        prev_value[starts] = seen_value[code[starts]]
        dt_h = (ts - prev_ts) / _US_PER_HOUR
        with np.errstate(divide="ignore", invalid="ignore"):
            measured = np.where(dt_h > 0, (value - prev_value) / dt_h, np.nan)
    else:
        measured = value
    op = _NP_OPS[rule.op]
    with np.errstate(invalid="ignore"):
        breach = op(measured, rule.threshold) & ~np.isnan(measured)
        hold = (
            op(value, rule.clear_level)
            if rule.kind is RuleKind.THRESHOLD and rule.clear is not None
            else breach
        )
    idx = np.arange(len(code))
    last_ok = np.maximum.reduceat(np.where(breach, -1, idx), starts)
    run_start = np.maximum(last_ok + 1, starts)
    first_rows = pa.array(at[starts])
    kinds, entities, metrics = (
        rows.column(c).take(first_rows).to_pylist() for c in ("entity_kind", "entity_id", "metric")
    )
    out: list[Reading] = []
    for c, s, e, r, kind, entity, metric in zip(
        code[starts].tolist(),
        starts.tolist(),
        ends.tolist(),
        run_start.tolist(),
        kinds,
        entities,
        metrics,
        strict=True,
    ):
        newest_breach = bool(breach[e])
        out.append(
            Reading(
                series=series[c],
                entity_kind=kind,
                entity_id=entity,
                metric=metric,
                ts_us=int(ts[e]),
                value=float(value[e]),
                breach=newest_breach,
                hold=bool(hold[e]),
                run_start_us=int(ts[r]) if newest_breach else None,
                run_from_first=newest_breach and r == s,
            )
        )
    return out

"""The validation rules, their thresholds, and per-series settings chosen by selector.

The rules follow the validation step of meter-data-management VEE (validation, estimation,
editing): each is run per series and local day and passes or fails with a count of failing
intervals. Names and what each checks are in RULES; docs/quality.md explains each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gridpulse.model import SeriesKey

__all__ = ["RULES", "RuleSettings", "rule_for", "selected"]

#: rule name -> what it checks, in the order results are listed
RULES: dict[str, str] = {
    "missing_intervals": "interval count check: grid intervals of the day without an actual read",
    "off_grid": "time alignment check: readings whose timestamp is not on the series' interval grid",
    "duplicate_conflict": "duplicate interval check: intervals read again with a different actual value",
    "negative": "negative value check: actual reads below zero (series not allowed negatives)",
    "high_low": "high/low limit check: actual reads outside the configured limits",
    "flat_line": "flat-line check: runs of identical consecutive reads at least flat_line_intervals long",
    "spike": "spike check: reads far from the median of their neighbours (robust score)",
    "stale": "freshness check: the newest read is older than stale_after_s",
}

T = TypeVar("T")


def rule_for(rules: Mapping[str, T], key: SeriesKey) -> T | None:
    """The value of the most specific selector matching `key`: 'kind:entity/metric', then
    'kind/metric', then 'kind', then '*'; None when none matches."""
    for sel in (
        f"{key.entity_kind}:{key.entity_id}/{key.metric}",
        f"{key.entity_kind}/{key.metric}",
        key.entity_kind,
        "*",
    ):
        if sel in rules:
            return rules[sel]
    return None


def selected(selectors: list[str] | tuple[str, ...], key: SeriesKey) -> bool:
    """Whether any selector ('kind:entity/metric', 'kind/metric', 'kind' or '*') names `key`."""
    return rule_for(dict.fromkeys(selectors, True), key) is not None


@dataclass(frozen=True)
class RuleSettings:
    """The thresholds of the rules for one series (from `[quality]`, resolved per series).

    Attributes:
        stale_after_s: a series whose newest read is older than this is stale; intervals younger
            than this are not yet expected by missing_intervals either. [s]
        flat_line_intervals: identical consecutive reads that make a flat line. [intervals]
        flat_line_zero: whether runs of zeros count as flat lines (off for solar at night,
            on for a meter that should never read zero for hours).
        spike_score: robust score above which a read is a spike. [scaled MADs]
        spike_window: neighbours on each side whose median the read is compared with; a spike
            is at most this many intervals long (a longer step is a level change). [intervals]
        allow_negative: negative reads are normal (net meters, export, battery power).
        min_value, max_value: high/low limits in the series' unit; None: no limit.
    """

    stale_after_s: int = 7200
    flat_line_intervals: int = 8
    flat_line_zero: bool = False
    spike_score: float = 6.0
    spike_window: int = 4
    allow_negative: bool = False
    min_value: float | None = None
    max_value: float | None = None
    #: rules switched off for this series
    skip: frozenset[str] = field(default_factory=frozenset)

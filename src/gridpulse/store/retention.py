"""Retention rules -> the instant before which each series' raw points, and its rollups, expire.

Rules map `kind/metric`, `kind` or `*` to a number of days (0: keep forever); the most specific
rule wins. Cutoffs fall on a month boundary: the earlier of the month's start in the series'
zone and in UTC, so every rollup bucket (15 min to month, local or UTC) lies wholly on one side
and the ones kept were computed from all their points. The raw cutoff is where raw points end;
the rollup cutoff (normally much older) is where the rollups end too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridpulse.config import check_retention_days
from gridpulse.errors import ConfigError
from gridpulse.model import Series, SeriesKey
from gridpulse.timeutil import zone

__all__ = ["ExpiryPlan", "ExpiryReport", "RetentionPolicy", "month_floor", "plan_expiry"]


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep, by `kind/metric`, `kind` or `*`.

    Attributes:
        raw_days: raw points; e.g. {"*": 730} keeps two years, as the Eniscope document asks.
        rollup_days: rollups; 0 or absent keeps them forever.
        forecast_days: stored forecast runs, by creation time; the newest run of each series and
            model always stays (it is what `GET /api/v1/forecasts` serves); 0 keeps them all.
    """

    raw_days: Mapping[str, int] = field(default_factory=dict)
    rollup_days: Mapping[str, int] = field(default_factory=dict)
    forecast_days: int = 0

    def __post_init__(self) -> None:
        check_retention_days(self.raw_days, self.rollup_days)
        if self.forecast_days < 0:
            raise ConfigError(f"retention.forecast_days={self.forecast_days} must be 0 (forever) or more")

    @property
    def limits_anything(self) -> bool:
        """Whether any rule expires anything (else an expiry run has nothing to do)."""
        return bool(self.raw_days or self.rollup_days or self.forecast_days)

    @staticmethod
    def _days(rules: Mapping[str, int], key: SeriesKey) -> int:
        for rule in (f"{key.entity_kind}/{key.metric}", key.entity_kind, "*"):
            if rule in rules:
                return rules[rule]
        return 0

    def raw_days_for(self, key: SeriesKey) -> int:
        return self._days(self.raw_days, key)

    def rollup_days_for(self, key: SeriesKey) -> int:
        return self._days(self.rollup_days, key)


def month_floor(ts: datetime, tz: str) -> datetime:
    """The earlier of the starts of the month holding `ts` in `tz` and in UTC. [UTC instant]"""
    local = ts.astimezone(zone(tz))
    local_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    utc = ts.astimezone(UTC)
    utc_start = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # a local month start can be a nonexistent wall time in a few zones: fold to the real instant
    return min(local_start.astimezone(UTC), utc_start)


@dataclass(frozen=True)
class ExpiryPlan:
    """Per series id: raw points before `raw_before` go; rollups before `rollups_before` go.
    Forecast runs made before `forecasts_before` go, but for each series and model's newest."""

    raw_before: dict[int, datetime]
    rollups_before: dict[int, datetime]
    forecasts_before: datetime | None = None


def plan_expiry(series: Sequence[Series], policy: RetentionPolicy, now: datetime) -> ExpiryPlan:
    """The cutoffs of every series some rule limits, aligned to month floors (see module doc)."""
    if now.tzinfo is None:
        raise ConfigError("plan_expiry: now must be timezone-aware")
    raw: dict[int, datetime] = {}
    kept: dict[int, datetime] = {}
    for s in series:
        if days := policy.raw_days_for(s.key):
            raw[s.series_id] = month_floor(now - timedelta(days=days), s.tz)
        if days := policy.rollup_days_for(s.key):
            kept[s.series_id] = month_floor(now - timedelta(days=days), s.tz)
    forecasts_before = now - timedelta(days=policy.forecast_days) if policy.forecast_days else None
    return ExpiryPlan(raw, kept, forecasts_before)


@dataclass
class ExpiryReport:
    """What an expiry removed (or, dry run, would remove), per series id.

    Attributes:
        points: raw points (current versions) before the raw cutoff.
        history: superseded versions of those points.
        rollup_rows: rollup rows before the rollup cutoff.
        forecast_runs: stored forecast runs past forecast retention.
        forecast_values: their steps.
        dry_run: nothing was deleted.
    """

    points: dict[int, int] = field(default_factory=dict)
    history: dict[int, int] = field(default_factory=dict)
    rollup_rows: dict[int, int] = field(default_factory=dict)
    forecast_runs: int = 0
    forecast_values: int = 0
    dry_run: bool = False

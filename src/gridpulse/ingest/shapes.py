"""The JSON row shapes of the seed documents, and how each maps onto series.

Each shape names its timestamp field, its entity field (and the entity kind), and either fixed
value fields (one metric each) or a metric-name field plus a value field (the narrow telemetry
layout). Units and nominal intervals fill the catalogue when a route creates a series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["SHAPES", "RouteShape", "unit_for_metric"]


@dataclass(frozen=True)
class RouteShape:
    """How rows of one ingest route become points.

    Attributes:
        name: route name, as in /ingest/<name>.
        ts_field: field holding the timestamp.
        entity_field: field holding the entity id.
        entity_kind: kind of entity the id names (meter, plant, device, channel).
        value_fields: field -> unit, for shapes where each field is a metric of the entity.
        metric_field, value_field: for narrow shapes, the field naming the metric and the value.
        interval: nominal spacing of new series, None when unknown.
        required_values: whether every value field must be present (single-value shapes).
    """

    name: str
    ts_field: str
    entity_field: str
    entity_kind: str
    value_fields: dict[str, str] = field(default_factory=dict)
    metric_field: str | None = None
    value_field: str | None = None
    interval: timedelta | None = None
    required_values: bool = True

    @property
    def fields(self) -> list[str]:
        """Every field a row of this shape may carry, timestamp and entity first."""
        if self.metric_field and self.value_field:
            return [self.ts_field, self.entity_field, self.metric_field, self.value_field]
        return [self.ts_field, self.entity_field, *self.value_fields]


SHAPES: dict[str, RouteShape] = {
    "meter_usage": RouteShape(
        "meter_usage", "ts", "meter_id", "meter", {"kwh": "kWh"}, interval=timedelta(minutes=15)
    ),
    "generation_output": RouteShape(
        "generation_output", "ts", "plant_id", "plant", {"mw": "MW"}, interval=timedelta(minutes=15)
    ),
    "telemetry": RouteShape(
        "telemetry", "recorded_at", "device_id", "device", metric_field="metric_name", value_field="value"
    ),
    "readings": RouteShape(
        "readings",
        "timestamp",
        "channel_id",
        "channel",
        {
            "energy_kwh": "kWh",
            "power_kw": "kW",
            "voltage_v": "V",
            "current_a": "A",
            "power_factor": "",
            "temperature_c": "°C",
        },
        interval=timedelta(hours=1),
        required_values=False,
    ),
}

_SUFFIX_UNITS = {
    "_kwh": "kWh",
    "_wh": "Wh",
    "_mwh": "MWh",
    "_kw": "kW",
    "_w": "W",
    "_mw": "MW",
    "_v": "V",
    "_a": "A",
    "_c": "°C",
    "_pct": "%",
    "percentage": "%",
    "_hz": "Hz",
    "_kvar": "kvar",
}


def unit_for_metric(metric: str) -> str:
    """The unit a metric name implies by its suffix (`power_kw` -> kW, `StateOfChargePercentage` -> %)."""
    low = metric.lower()
    for suffix, unit in _SUFFIX_UNITS.items():
        if low.endswith(suffix) or low == suffix.lstrip("_"):
            return unit
    return ""

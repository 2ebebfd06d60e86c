"""The built-in analyses: each analytic of `gridpulse.analytics` registered by name.

Each entry says which series it reads, the parameters it adds, and a small function that
passes the frames and converted parameters to the analytic. Defaults that depend on the data
(an interval, a capacity) are looked up through `Inputs` and echoed in the answer's params.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analyses.base import Analysis, Inputs, common_interval, register
from gridpulse.analyses.params import Param
from gridpulse.analyses.select import FeederSelector, SeriesSelector
from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.battery import equivalent_full_cycles, soc_daily, time_below_threshold
from gridpulse.analytics.coverage import coverage, gaps
from gridpulse.analytics.demand import (
    load_duration_curve,
    load_factor,
    peak_demand_from_maxima_kw,
    peak_demand_kw,
    top_peaks,
)
from gridpulse.analytics.energy import consumption_from_register_kwh, energy_from_power_kwh, energy_kwh
from gridpulse.analytics.estimated import reshare
from gridpulse.analytics.feeders import feeder_balance
from gridpulse.analytics.generation import generation_summary
from gridpulse.analytics.summary import summarise
from gridpulse.analytics.tariffs import Tariff, parse_tariffs
from gridpulse.analytics.tou import average_day_profile, tou_energy_cost
from gridpulse.errors import QueryError
from gridpulse.model import Series
from gridpulse.store.base import Agg, Resolution

__all__ = ["BUILTIN"]

_PERIODS: Final = ("hour", "day", "week", "month")
_WINDOWS: Final = ("15min", "30min", "60min")


def _period(default: str = "day", choices: tuple[str, ...] = _PERIODS) -> Param:
    return Param("period", default=default, choices=choices, help="local calendar period of each row")


_WINDOW: Final = Param(
    "window", "duration", "15min", "demand window, aligned to the clock", "duration", _WINDOWS
)
_INTERVAL: Final = Param(
    "interval", "duration", help="the rows' interval (default: the series' nominal interval)", unit="duration"
)


def _max_gap(default: str | None) -> Param:
    when = f"default {default}" if default else "default: the series' nominal interval"
    return Param(
        "max_gap",
        "duration",
        default,
        f"longest spacing between samples that is bridged ({when})",
        "duration",
    )


# ------------------------------------------------------------------------------ calls
def _energy_from_interval_kwh(x: Inputs) -> AnalyticResult:
    # pre-aggregated by the store (see _energy_buckets) when the frame counts its intervals
    bucketed = "count" in x.frame.column_names
    counts = {"count": "count", "nulls": "nulls", "estimated": "estimated"} if bucketed else {}
    if x.groups:  # the store summed each group's buckets (_energy_groups)
        result = energy_kwh(x.frame, period=x.params["period"], tz=x.tz, series_id="group", **counts)
        return _named_groups(result, x.groups)
    return energy_kwh(x.frame, period=x.params["period"], tz=x.tz, **counts)


def _named_groups(result: AnalyticResult, names: Sequence[str]) -> AnalyticResult:
    """The result with its series_id column (holding group numbers) replaced by group names."""
    t = result.table
    codes = t.column("series_id")
    t = t.set_column(t.schema.get_field_index("series_id"), "group", pa.array(names, pa.string()).take(codes))
    return AnalyticResult(t, result.units, result.notes)


def _summed_by_group(result: AnalyticResult, series: Sequence[Series], by: str) -> AnalyticResult:
    """Per-series energy rows summed per group and period (kW series, integrated one by one):
    energy, hours covered, estimated hours and gap counts add up; the estimated share is worked
    out again from the sums."""
    names = _GROUPINGS[by](series)
    t = result.table
    group = pa.array([names[int(i)] for i in t.column("series_id").to_pylist()], pa.string())
    keys = [c for c in ("start", "local_date") if c in t.column_names]
    sums = [c for c in t.column_names if c not in ("series_id", *keys)]  # energy, hours, counts
    summed = (
        t.append_column("group", group)
        .group_by(["group", *keys], use_threads=False)
        .aggregate([(c, "sum") for c in sums])
        .rename_columns(["group", *keys, *sums])
        .sort_by([("group", "ascending"), *((k, "ascending") for k in keys[:1])])
    )
    return AnalyticResult(reshare(summed), result.units, result.notes)  # shares do not add up


#: Energy periods the store buckets itself (from the rollups when they are fresh).
_PERIOD_RESOLUTION: Final[dict[str, Resolution]] = {
    "hour": Resolution.HOUR,
    "day": Resolution.DAY,
    "week": Resolution.WEEK,
    "month": Resolution.MONTH,
}


def _unit(series: Sequence[Series]) -> str:
    return series[0].unit.lower() if series else ""


def _energy_buckets(values: Mapping[str, Any], series: Sequence[Series]) -> tuple[Resolution, Agg] | None:
    """Interval kWh per local period is the store's bucketed sum, with the same period edges."""
    if _unit(series) != "kwh" or values["period"] not in _PERIOD_RESOLUTION:
        return None
    return _PERIOD_RESOLUTION[values["period"]], Agg.SUM


def _energy_groups(values: Mapping[str, Any], series: Sequence[Series]) -> Mapping[int, str] | None:
    """kWh summed over a site or the whole selection: the store adds up the groups' buckets."""
    if values["by"] == "series" or _energy_buckets(values, series) is None:
        return None
    return _GROUPINGS[values["by"]](series)


def _energy_from_power_kw(x: Inputs) -> AnalyticResult:
    return energy_from_power_kwh(
        x.frame,
        period=x.params["period"],
        tz=x.tz,
        max_gap=x.interval("max_gap"),
        samples=x.params["samples"],
    )


#: Series unit (lower case) -> how energy comes from it.
_ENERGY_BY_UNIT: Final[dict[str, Callable[[Inputs], AnalyticResult]]] = {
    "kwh": _energy_from_interval_kwh,
    "kw": _energy_from_power_kw,
}


def _energy(x: Inputs) -> AnalyticResult:
    result = _ENERGY_BY_UNIT[x.unit().lower()](x)
    if x.params["by"] != "series" and not x.groups:  # kW: integrated per series, then summed
        return _summed_by_group(result, x.series["series"], x.params["by"])
    return result


def _register(x: Inputs) -> AnalyticResult:
    return consumption_from_register_kwh(
        x.frame, rollover_kwh=x.params["rollover_kwh"], reset_drop_fraction=x.params["reset_drop_fraction"]
    )


def _peak_buckets(values: Mapping[str, Any], series: Sequence[Series]) -> tuple[Resolution, Agg] | None:
    """With the series' interval equal to the window, each row is a window: the store's maximum
    per local period (from the rollups) is the peak."""
    interval = values["interval"] or common_interval(series)
    if interval is None or interval != values["window"] or values["period"] not in _PERIOD_RESOLUTION:
        return None
    return _PERIOD_RESOLUTION[values["period"]], Agg.MAX


def _peak_demand(x: Inputs) -> AnalyticResult:
    top = x.params["top"]
    if "at" in x.frame.column_names:  # per-period maxima (_peak_buckets): the top n picked first
        return peak_demand_from_maxima_kw(
            x.frame,
            window=x.params["window"],
            interval=x.interval("interval"),
            tz=x.tz,
            period=x.params["period"],
            input_unit=x.unit().lower(),  # type: ignore[arg-type]
            top=top,
        )
    result = peak_demand_kw(
        x.frame,
        window=x.params["window"],
        tz=x.tz,
        period=x.params["period"],
        input_unit=x.unit().lower(),  # type: ignore[arg-type]  # the analysis admits kWh and kW only
        interval=x.interval("interval"),
    )
    return top_peaks(result, top) if top is not None else result


def _load_factor(x: Inputs) -> AnalyticResult:
    return load_factor(
        x.frame,
        window=x.params["window"],
        tz=x.tz,
        period=x.params["period"],
        input_unit=x.unit().lower(),  # type: ignore[arg-type]
        interval=x.interval("interval"),
    )


def _load_duration(x: Inputs) -> AnalyticResult:
    return load_duration_curve(
        x.frame,
        window=x.params["window"],
        points=x.params["points"],
        tz=x.tz,
        input_unit=x.unit().lower(),  # type: ignore[arg-type]
        interval=x.interval("interval"),
    )


def _generation(x: Inputs) -> AnalyticResult:
    return generation_summary(
        x.frame,
        capacity_mw=x.capacity("capacity_mw", "plants", "capacity_mw", "MW"),
        period=x.params["period"],
        tz=x.tz,
        unit=x.unit().lower(),  # type: ignore[arg-type]
        interval=x.interval("interval"),
        producing_fraction=x.params["producing_fraction"],
    )


def _soc_daily(x: Inputs) -> AnalyticResult:
    return soc_daily(x.frame, tz=x.tz)


def _cycles(x: Inputs) -> AnalyticResult:
    return equivalent_full_cycles(
        x.frame,
        capacity_kwh=x.capacity("capacity_kwh", "devices", "capacity_kwh", "kWh"),
        tz=x.tz,
        period=x.params["period"],
        max_gap=x.params["max_gap"],
    )


def _time_below(x: Inputs) -> AnalyticResult:
    return time_below_threshold(
        x.frame,
        threshold_pct=x.params["threshold_pct"],
        tz=x.tz,
        period=x.params["period"],
        max_gap=x.params["max_gap"],
    )


#: `by=` of summary and energy -> series id -> group name.
_GROUPINGS: Final[dict[str, Callable[[Sequence[Series]], dict[int, str]]]] = {
    "all": lambda series: dict.fromkeys((s.series_id for s in series), "all"),
    "site": lambda series: {s.series_id: s.site_id or "(no site)" for s in series},
    "series": lambda series: {s.series_id: str(s.key) for s in series},
}


def _summary_groups(values: Mapping[str, Any], series: Sequence[Series]) -> Mapping[int, str]:
    """The store sums each group's values per instant; summarise takes the period statistics."""
    return _GROUPINGS[values["by"]](series)


def _summary(x: Inputs) -> AnalyticResult:
    return summarise(
        x.frame,
        period=x.params["period"],
        tz=x.tz,
        unit=x.unit(),
        series_info=dict(enumerate(x.groups)),
        series_id="group",
        count="count",
        nulls="nulls",
        estimated="estimated",
    )


def _tariff(x: Inputs) -> Tariff:
    name = x.params["tariff"]
    tariffs = parse_tariffs(x.settings.tariffs)
    if name not in tariffs:
        configured = ", ".join(tariffs) if tariffs else "none"
        raise QueryError(
            f"tariff={name!r} is not configured (configured tariffs: {configured}): pick one, "
            f"or add a [tariffs.{name}] table to the config"
        )
    x.resolved["tariff_tz"] = tariffs[name].tz
    return tariffs[name]


def _tou(x: Inputs) -> AnalyticResult:
    return tou_energy_cost(x.frame, tariff=_tariff(x), by_day=x.params["by_day"])


def _profile_buckets(values: Mapping[str, Any], series: Sequence[Series]) -> tuple[Resolution, Agg] | None:
    """Hourly slots are the store's hourly sums in the zone (from the rollups): one bucket per
    real local hour, the two 02:00 hours of a fall-back night apart, as the profile wants."""
    return (Resolution.HOUR, Agg.SUM) if values["points"] == 24 and _unit(series) == "kwh" else None


def _profile(x: Inputs) -> AnalyticResult:
    return average_day_profile(
        x.frame,
        tz=x.tz,
        points=x.params["points"],
        day_types=x.params["day_types"],
        holidays=x.params["holidays"],
        # hourly sums from the store (_profile_buckets) count their intervals and estimates
        **(
            {"nulls": "nulls", "count": "count", "estimated": "estimated"}
            if "count" in x.frame.column_names
            else {}
        ),
    )


def _with_entity_id(frame: pa.Table, series: Sequence[Series]) -> pa.Table:
    """The frame with an entity_id column (the string id feeder_balance matches the mapping on)."""
    ids = pa.array([s.series_id for s in series], pa.int32())
    names = pa.array([s.key.entity_id for s in series], pa.string())
    position = pc.index_in(frame.column("series_id").cast(pa.int32()), value_set=ids)
    return frame.append_column("entity_id", names.take(position))


def _feeder_balance(x: Inputs) -> AnalyticResult:
    return feeder_balance(
        _with_entity_id(x.frames["meters"], x.series["meters"]),
        _with_entity_id(x.frames["feeder"], x.series["feeder"]),
        x.extra["mapping"],
        tz=x.tz,
        period=x.params["period"],
        interval=x.interval("interval", role="feeder"),
    )


def _coverage(x: Inputs) -> AnalyticResult:
    interval = x.interval("interval")
    start, end = x.range(interval)
    ids = [s.series_id for s in x.series["series"]]
    return coverage(x.frame, interval=interval, start=start, end=end, tz=x.tz, series_ids=ids)


def _gaps(x: Inputs) -> AnalyticResult:
    interval = x.interval("interval")
    start, end = x.range(interval)
    return gaps(
        x.frame, interval=interval, start=start, end=end, series_ids=[s.series_id for s in x.series["series"]]
    )


# ------------------------------------------------------------------------------ the registry entries
_BY_ENERGY: Final = Param(
    "by",
    default="series",
    choices=tuple(_GROUPINGS),
    help="one row per series (series), or the sum of a site's (site) or of every series selected (all)",
)
_METERS: Final = SeriesSelector(kind="meter", metric="kwh")
_SOC: Final = SeriesSelector(kind="device", metric="StateOfChargePercentage")
_DEMAND_UNITS: Final = ("kWh", "kW")
_POINTS_HELP: Final = "rows per series, read at shares k/points of the curve (default: one per window)"

BUILTIN: Final = (
    Analysis(
        "energy",
        "Energy per series and local period: interval kWh summed, or kW integrated over time",
        _METERS,
        _energy,
        (
            _period(),
            _max_gap(None),
            Param(
                "samples",
                default="interval_average",
                choices=("interval_average", "instant"),
                help="kW series: each value is the average until the next (interval_average) or the power "
                "at that instant (instant: trapezoids)",
            ),
            _BY_ENERGY,
        ),
        units=_DEMAND_UNITS,
        buckets=_energy_buckets,
        groups=_energy_groups,
        analytics=(energy_kwh, energy_from_power_kwh),
    ),
    Analysis(
        "register",
        "Consumption between consecutive cumulative register reads, with rollovers and resets",
        SeriesSelector(kind="meter"),
        _register,
        (
            Param(
                "rollover_kwh",
                "float",
                help="the register's maximum (default: the next power of 10)",
                unit="kWh",
            ),
            Param(
                "reset_drop_fraction",
                "float",
                "0.5",
                "share of the previous read a drop must reach to be a reset",
                "1",
            ),
        ),
        units=("kWh",),
        analytics=(consumption_from_register_kwh,),
    ),
    Analysis(
        "peak-demand",
        "Peak window-average demand per series and local period, and when it happened",
        _METERS,
        _peak_demand,
        (
            _WINDOW,
            _period(),
            _INTERVAL,
            Param("top", "int", help="only the N highest peaks of each period (ties: lower series id first)"),
        ),
        units=_DEMAND_UNITS,
        buckets=_peak_buckets,
        analytics=(peak_demand_kw, peak_demand_from_maxima_kw, top_peaks),
    ),
    Analysis(
        "load-factor",
        "Load factor per series and local period: average demand / peak window demand",
        _METERS,
        _load_factor,
        (_WINDOW, _period(), _INTERVAL),
        units=_DEMAND_UNITS,
        analytics=(load_factor,),
    ),
    Analysis(
        "load-duration",
        "Load duration curve per series: window demands from highest, with the hours at or above",
        _METERS,
        _load_duration,
        (_WINDOW, Param("points", "int", help=_POINTS_HELP), _INTERVAL),
        units=_DEMAND_UNITS,
        analytics=(load_duration_curve,),
    ),
    Analysis(
        "generation",
        "Generation per plant and local period: energy, capacity factor, peak, hours producing",
        SeriesSelector(kind="plant", metric="mw"),
        _generation,
        (
            _period(),
            Param(
                "capacity_mw",
                "float",
                help="nameplate capacity (default: capacity_mw of the plants reference row)",
                unit="MW",
            ),
            Param(
                "producing_fraction",
                "float",
                "0.01",
                "share of capacity above which an interval counts as producing",
                "1",
            ),
            _INTERVAL,
        ),
        units=("MW", "kW", "MWh", "kWh"),
        analytics=(generation_summary,),
    ),
    Analysis(
        "soc-daily",
        "Lowest and highest state of charge per battery and local day, and when",
        _SOC,
        _soc_daily,
        units=("%",),
        analytics=(soc_daily,),
    ),
    Analysis(
        "cycles",
        "Equivalent full cycles per battery and local period: discharged energy / usable capacity",
        SeriesSelector(kind="device", metric="power_kw"),
        _cycles,
        (
            _period(),
            Param(
                "capacity_kwh",
                "float",
                help="usable capacity (default: capacity_kwh of the devices reference row)",
                unit="kWh",
            ),
            _max_gap("1h"),
        ),
        units=("kW",),
        analytics=(equivalent_full_cycles,),
    ),
    Analysis(
        "time-below",
        "Hours per battery and local period with the state of charge below a threshold",
        _SOC,
        _time_below,
        (
            Param("threshold_pct", "float", "20", "below this (strictly) the battery counts as low", "%"),
            _period(),
            _max_gap("1h"),
        ),
        units=("%",),
        analytics=(time_below_threshold,),
    ),
    Analysis(
        "summary",
        "Total, average, peak and minimum of a group's summed values per local period",
        _METERS,
        _summary,
        (
            _period(),
            Param(
                "by",
                default="all",
                choices=tuple(_GROUPINGS),
                help="one group (all), one per site, or one per series",
            ),
        ),
        groups=_summary_groups,
        analytics=(summarise,),
    ),
    Analysis(
        "tou",
        "Energy and its cost per time-of-use tariff period (and local day), priced by a configured tariff",
        _METERS,
        _tou,
        (
            Param("tariff", required=True, help="name of a [tariffs.<name>] table of the config"),
            Param("by_day", "bool", "false", "also one row per local day in the tariff's zone"),
        ),
        units=("kWh",),
        analytics=(tou_energy_cost,),
    ),
    Analysis(
        "profile",
        "Average energy per local time-of-day slot and day type",
        _METERS,
        _profile,
        (
            Param("points", "int", "24", "slots per day: 24 hours or 96 quarter-hours", choices=("24", "96")),
            Param(
                "day_types",
                "list",
                "weekday,weekend",
                "comma-separated day types to report",
                choices=(
                    "weekday",
                    "weekend",
                    "holiday",
                    "all",
                    "mon",
                    "tue",
                    "wed",
                    "thu",
                    "fri",
                    "sat",
                    "sun",
                ),
            ),
            Param(
                "holidays",
                help="country code of the holidays package (e.g. NL): holidays count as "
                "weekend and as holiday",
            ),
        ),
        units=("kWh",),
        buckets=_profile_buckets,
        analytics=(average_day_profile,),
    ),
    Analysis(
        "feeder-balance",
        "Feeder-head energy against its mapped meters' energy, and the losses, per period",
        FeederSelector(),
        _feeder_balance,
        (_period("hour", ("hour", "day")), _INTERVAL),
        units=("kWh",),
        analytics=(feeder_balance,),
    ),
    Analysis(
        "coverage",
        "Expected, received and off-grid intervals per series and local day",
        SeriesSelector(),
        _coverage,
        (_INTERVAL,),
        analytics=(coverage,),
    ),
    Analysis(
        "gaps",
        "Stretches of missing grid intervals per series",
        SeriesSelector(),
        _gaps,
        (_INTERVAL,),
        analytics=(gaps,),
    ),
)

for _analysis in BUILTIN:
    register(_analysis)

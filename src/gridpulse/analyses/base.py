"""What an analysis is, the registry of them, and the one path that runs any of them.

An `Analysis` is an analytic from `gridpulse.analytics` made into a question a user can ask by
name with string parameters (from a URL or the command line): which series it reads (its
`Selector`, in `select.py`), at which resolution and aggregate, the parameters it takes (each
with type, default, help and unit: `params.py`), and the function that calls the analytic on
the frames read. `run` validates and converts the strings, resolves the series, reads them
with `store.read_frame` (recording the SQL), calls the analytic and says which parameter values
it ended up using. The API route and the CLI command are thin edges over `run`.

Built-in analyses register themselves in `ANALYSES` with `register`, the way an outside package
would (`gridpulse.analyses.builtin`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analyses.params import COMMON_PARAMS, Param, format_duration, jsonable, utc
from gridpulse.analyses.select import Selector
from gridpulse.analytics.base import AnalyticResult
from gridpulse.config import Settings
from gridpulse.errors import ConfigError, NotFound, QueryError
from gridpulse.model import TS_TYPE, Series
from gridpulse.store.base import Agg, Resolution, Store
from gridpulse.store.groups import as_group
from gridpulse.timeutil import parse_instant

__all__ = [
    "ANALYSES",
    "RESERVED_PARAMS",
    "Analysis",
    "AnalysisRun",
    "Inputs",
    "common_interval",
    "get_analysis",
    "register",
    "run",
    "run_analysis",
]

SqlLog = list[tuple[str, list[Any]]]


def common_interval(series: Sequence[Series]) -> timedelta | None:
    """The nominal interval every series has, or None (none known, or several)."""
    intervals = as_group(series).intervals
    return next(iter(intervals)) if len(intervals) == 1 else None


@dataclass(frozen=True)
class Inputs:
    """What an analysis' `call` gets: frames read, the series behind them, converted parameters.

    Attributes:
        frames: role -> long frame as `store.read_frame` returned it (series_id, ts, value, ...).
        series: role -> the series read.
        params: every parameter by name, converted; None where not given and without a default.
        tz: IANA zone of local periods (given, or the series' zone).
        start, end: the range read, None when open.
        settings: the running settings (tariffs live there).
        extra: what the selector looked up besides series (a feeder's mapping rows).
        reference: kind -> rows of a store reference table.
        groups: for an analysis that read group sums (`Analysis.groups`), the group names; the
            frame's `group` column indexes them. Empty when it read one frame per series.
        resolved: filled by the helpers below with values derived from the data (an interval, a
            capacity), echoed in the answer's params.
    """

    frames: Mapping[str, pa.Table]
    series: Mapping[str, Sequence[Series]]
    params: Mapping[str, Any]
    tz: str
    start: datetime | None
    end: datetime | None
    settings: Settings
    extra: Mapping[str, Any]
    reference: Callable[[str], list[dict[str, Any]]]
    groups: tuple[str, ...] = ()
    resolved: dict[str, Any] = field(default_factory=dict)

    @property
    def frame(self) -> pa.Table:
        """The frame of the role "series"."""
        return self.frames["series"]

    def unit(self, role: str = "series") -> str:
        """The unit the role's series share, as stored (e.g. "kWh")."""
        return self.series[role][0].unit if self.series[role] else ""

    def interval(self, param: str, role: str = "series") -> timedelta:
        """The parameter's value, or else the nominal interval the role's series share. [duration]

        Raises:
            QueryError: not given and the series have no common nominal interval.
        """
        given = self.params.get(param)
        if isinstance(given, timedelta):
            return given
        interval = common_interval(self.series[role])
        if interval is None:
            intervals = as_group(self.series[role]).intervals
            known = ", ".join(sorted(format_duration(i) for i in intervals if i is not None)) or "none"
            raise QueryError(
                f"{param} is needed: the series have no common nominal interval (they have {known}); "
                f"pass {param}=15min or pick series of one interval"
            )
        self.resolved[param] = interval
        return interval

    def range(self, interval: timedelta) -> tuple[datetime, datetime]:
        """[start, end) as given, an open side taken from the frame's first and last rows.

        Raises:
            QueryError: an open side and no rows to take it from.
        """
        start, end = self.start, self.end
        ts = self.frame.column("ts")
        if (start is None or end is None) and len(ts) == 0:
            raise QueryError("no data in the range to take start and end from: pass start= and end=")
        if start is None:
            start = utc(pc.min(ts).as_py())
            self.resolved["start"] = start
        if end is None:
            end = utc(pc.max(ts).as_py()) + interval
            self.resolved["end"] = end
        return start, end

    def capacity(self, param: str, kind: str, column: str, unit: str) -> float | dict[int, float]:
        """The parameter's value, or else each series' `column` from the `kind` reference rows.

        Rows match a series by its entity id (plant_id for plants, device_id for devices).

        Raises:
            QueryError: not given and a series has no positive value there.
        """
        given = self.params.get(param)
        if given is not None:
            return float(given)
        id_column = {"plants": "plant_id", "devices": "device_id"}.get(kind, f"{kind.rstrip('s')}_id")
        rows = {r.get(id_column): r.get(column) for r in self.reference(kind)}
        out: dict[int, float] = {}
        for s in self.series["series"]:
            value = rows.get(s.key.entity_id, rows.get(s.device_id))
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise QueryError(
                    f"{s.key} has no {column} in the {kind} reference: pass {param}=<{unit}> "
                    f"or add {column} to its row"
                )
            out[s.series_id] = float(value)
        self.resolved[param] = {str(self._entity(sid)): v for sid, v in out.items()}
        return out

    def _entity(self, series_id: int) -> str:
        return next(s.key.entity_id for s in self.series["series"] if s.series_id == series_id)


@dataclass(frozen=True)
class Analysis:
    """A named question over stored series, answered by an analytic.

    Attributes:
        name: as in GET /api/v1/analytics/{name} and `gridpulse analyze NAME`.
        description: one line.
        select: which series to read.
        call: calls the analytic on the frames read.
        params: the analysis' own parameters (the selector's and COMMON_PARAMS come first).
        units: the units its series may have (compared case-insensitively); empty for any.
        resolution, agg: what `store.read_frame` is asked for; raw points unless the analytic
            wants buckets.
        buckets: given the converted parameters and the series, the (resolution, agg) at which
            the store can pre-aggregate exactly what the analytic would compute, or None.
            Bucketed reads come from the rollups, so years of 15-minute data answer in
            milliseconds; the frame then has `count` (intervals per row) and `estimated` (of
            them, estimates) columns, and for MIN and MAX `at` and `at_estimated`.
        groups: given the converted parameters and the series, series id -> group name when the
            analytic takes the sum of each group's series (`store.read_totals`, one frame of
            group, ts, value, count, series) instead of one row per series; None: per series.
        analytics: the analytic functions `call` may use, for the listing.
    """

    name: str
    description: str
    select: Selector
    call: Callable[[Inputs], AnalyticResult]
    params: tuple[Param, ...] = ()
    units: tuple[str, ...] = ()
    resolution: Resolution = Resolution.RAW
    agg: Agg = Agg.AVG
    buckets: Callable[[Mapping[str, Any], Sequence[Series]], tuple[Resolution, Agg] | None] | None = None
    groups: Callable[[Mapping[str, Any], Sequence[Series]], Mapping[int, str] | None] | None = None
    analytics: tuple[Callable[..., AnalyticResult], ...] = ()

    def read_as(self, values: Mapping[str, Any], series: Sequence[Series]) -> tuple[Resolution, Agg]:
        """The resolution and aggregate to read the series at for these parameters."""
        found = self.buckets(values, series) if self.buckets is not None else None
        return found if found is not None else (self.resolution, self.agg)

    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.select.params, *COMMON_PARAMS, *self.params)

    @cached_property
    def declared(self) -> Mapping[str, Param]:
        """Every parameter by name, in `all_params` order (worked out once: each run needs it)."""
        return MappingProxyType({p.name: p for p in self.all_params})

    def describe(self) -> dict[str, Any]:
        """The listing entry: name, description, units, analytics and every parameter."""
        return {
            "name": self.name,
            "description": self.description,
            "series_units": list(self.units),
            "resolution": self.resolution.value,
            "analytics": [f"{f.__module__}.{getattr(f, '__qualname__', f)}" for f in self.analytics],
            "params": [p.as_dict() for p in self.all_params],
        }


#: Analysis name -> Analysis; filled by `register`, the built-ins included.
ANALYSES: dict[str, Analysis] = {}
#: Query parameters of GET /api/v1/analytics/{name} itself, so no analysis may take them.
RESERVED_PARAMS: Final = frozenset({"explain", "format"})


def register(analysis: Analysis) -> Analysis:
    """Add an analysis to ANALYSES.

    Raises:
        ConfigError: the name is taken, or a parameter name repeats.
    """
    if analysis.name in ANALYSES:
        raise ConfigError(f"an analysis named {analysis.name!r} is registered already: pick another name")
    names = [p.name for p in analysis.all_params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"analysis {analysis.name!r} declares parameter {twice[0]!r} twice")
    taken = sorted(RESERVED_PARAMS.intersection(names))
    if taken:
        raise ConfigError(f"analysis {analysis.name!r}: parameter {taken[0]!r} is the route's own: rename it")
    ANALYSES[analysis.name] = analysis
    return analysis


def get_analysis(name: str) -> Analysis:
    """The registered analysis `name`. Raises NotFound listing the known ones."""
    try:
        return ANALYSES[name]
    except KeyError:
        close = difflib.get_close_matches(name, ANALYSES, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise NotFound(
            f"no analysis {name!r}: {hint}known: {', '.join(ANALYSES)} (GET /api/v1/analytics lists them)"
        ) from None


@dataclass(frozen=True)
class AnalysisRun:
    """An analysis that ran: its result (SQL filled in) and the parameters as resolved.

    Attributes:
        analysis: what ran.
        result: the analytic's answer, `sql` holding the statements the store ran.
        series: the series read.
        resolved: JSON-ready: tz, start and end (ISO 8601 UTC), the selection as given, and
            every parameter of the analysis with the value used.
    """

    analysis: Analysis
    result: AnalyticResult
    series: Sequence[Series]
    resolved: dict[str, Any]

    @property
    def params(self) -> dict[str, Any]:
        """JSON-ready: series (catalogue rows) and the resolved parameters. Built when asked:
        an in-process caller wanting only the result skips 1,000 catalogue rows. The rows are
        kept with the catalogue's group (1,000 rows: 1.8 ms per answer -> 0); do not change them."""
        return {"series": list(as_group(self.series).kept("analyses.series_rows", _series_rows)), **self.resolved}


def _series_rows(series: Sequence[Series]) -> list[dict[str, Any]]:
    return [s.as_dict() for s in series]


def _convert(analysis: Analysis, raw: Mapping[str, str]) -> dict[str, Any]:
    declared = analysis.declared
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        close = difflib.get_close_matches(unknown[0], declared, n=1)
        hint = f"did you mean {close[0]}?" if close else f"it takes {', '.join(declared)}"
        raise QueryError(f"{unknown[0]} is not a parameter of {analysis.name}: {hint}")
    values: dict[str, Any] = {}
    for name, p in declared.items():
        text = raw.get(name)
        text = p.default if text is None or not text.strip() else text.strip()
        if text is None:
            if p.required:
                raise QueryError(f"{name} is required by {analysis.name}: {p.help}")
            values[name] = None
        else:
            values[name] = p.convert(text)
    return values


def _empty_frame() -> pa.Table:
    return pa.table(
        {
            "series_id": pa.array([], pa.int32()),
            "ts": pa.array([], TS_TYPE),
            "value": pa.array([], pa.float64()),
            "quality": pa.array([], pa.int8()),
        }
    )


def _zone_of(series: Sequence[Series]) -> str:
    zones = sorted(z for z in as_group(series).zones if z)
    if len(zones) > 1:
        raise QueryError(f"the series are in several zones ({', '.join(zones)}): pass tz= to pick one")
    return zones[0] if zones else "UTC"


def _check_units(analysis: Analysis, series: Sequence[Series]) -> None:
    # the distinct units first (kept with a catalogue group): a fleet of 1,000 meters has one,
    # and lowering each series' unit cost 0.3 ms per analysis
    units = as_group(series).units
    allowed = {u.lower() for u in analysis.units}
    if allowed and any(u.lower() not in allowed for u in units):
        s = next(s for s in series if s.unit.lower() not in allowed)
        raise QueryError(
            f"{analysis.name} needs series in {' or '.join(analysis.units)}; {s.key} is in "
            f"{s.unit or 'no unit'}: pick another metric= or analysis"
        )
    if len(units) > 1:
        raise QueryError(f"the series mix units ({', '.join(units)}): narrow the group with kind= or metric=")


def run(store: Store, settings: Settings, name: str, params: Mapping[str, str]) -> AnalysisRun:
    """Run the analysis `name` with string parameters, as the API and the CLI do.

    Args:
        store: where the series are.
        settings: the running settings (tariffs).
        name: a key of ANALYSES.
        params: parameter name -> text, as given by the user (unknown names are refused).

    Returns:
        The AnalysisRun: the analytic's result with `sql` filled, and the parameters as resolved.

    Raises:
        NotFound: unknown analysis, series or entity.
        QueryError: a bad or missing parameter (named), or series the analysis cannot use.
    """
    analysis = get_analysis(name)
    values = _convert(analysis, params)
    selection = analysis.select.resolve(store, values)
    series = as_group(selection.all_series)  # the catalogue's group: its facts are kept with it
    _check_units(analysis, series)
    tz = values["tz"] or _zone_of(series)
    start = parse_instant(values["start"], tz=tz, param="start") if values["start"] else None
    end = parse_instant(values["end"], tz=tz, param="end") if values["end"] else None
    if start and end and end <= start:
        raise QueryError(f"end={values['end']!r} is not after start={values['start']!r}")
    sql: SqlLog = []
    resolution, agg = analysis.read_as(values, series)
    grouping = analysis.groups(values, series) if analysis.groups is not None else None
    names: tuple[str, ...] = ()
    span: dict[str, Any] = {"start": start, "end": end, "resolution": resolution, "agg": agg, "tz": tz}
    if grouping is not None:
        names = tuple(sorted(set(grouping.values())))
        if len(names) == 1 and len(grouping) == len(series):  # one group of every series: group 0
            frames = {"series": store.read_totals(series.ids, explain=sql, **span)}
        else:
            code = {name: i for i, name in enumerate(names)}
            groups = {sid: code[name] for sid, name in grouping.items()}
            ids = [s.series_id for s in series]
            frames = {"series": store.read_totals(ids, groups=groups, explain=sql, **span)}
    else:
        frames = {
            role: store.read_frame(as_group(group).ids, explain=sql, **span) if group else _empty_frame()
            for role, group in selection.roles.items()
        }
    inputs = Inputs(
        frames,
        selection.roles,
        values,
        tz,
        start,
        end,
        settings,
        selection.extra,
        store.list_reference,
        groups=names,
    )
    result = analysis.call(inputs)
    result.sql = sql
    given = {p.name: values[p.name] for p in analysis.select.params if values[p.name] is not None}
    own = {p.name: values[p.name] for p in analysis.params}
    # catalogue rows are JSON-ready already: walking 1,000 of them through jsonable took 8 ms
    resolved = jsonable({**given, "tz": tz, "start": start, "end": end, **own, **inputs.resolved})
    return AnalysisRun(analysis, result, series, resolved)


def run_analysis(store: Store, settings: Settings, name: str, params: Mapping[str, str]) -> AnalyticResult:
    """The result of the analysis `name` with string parameters (see `run`), `sql` filled in."""
    return run(store, settings, name, params).result

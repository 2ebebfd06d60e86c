"""Alert rules: what a rule says, parsed from a config table or an API body, and checked.

A rule watches one metric (or, for the scheduled kinds, a table another part of gridpulse
writes) and says when a group of series is in trouble:

    {"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<", "threshold": 20,
     "for": "5m", "cooldown": "15m", "clear": 25, "group_by": ["site_id"],
     "notify": ["webhook:http://127.0.0.1:9000/hook"]}

Kinds (`kind`, inferred as `threshold` when absent):
- threshold: `value <op> threshold` on each reading, evaluated in the ingest path as rows commit;
- rate: the change between consecutive readings of a series per hour, `rate <op> threshold`
  [metric unit / h], in the ingest path too;
- nodata: no reading of a watched series for `minutes`, evaluated by the scheduler;
- anomaly, validation: rows of the anomaly and validation tables at or above `min_severity`
  (scheduled; they need the tables of gridpulse.anomaly and gridpulse.quality);
- source: a `[[sources]]` source whose runs failed `threshold` times in a row (default: the
  source's own failure_alert_after), read from the job history by the scheduler
  (alerts/source_failures.py);
- forecast_error, forecast_drift: the newest forecast monitoring check of a series (the
  forecast_checks table gridpulse.jobs.monitoring writes): its live error `measure` (mape, mae,
  bias, coverage80, coverage95) `<op> threshold`, or its PSI at or above `threshold` (default
  `[forecast] psi_drift`), scheduled (alerts/forecast_checks.py).

Every kind has a for-duration (`for`: the condition holds over at least this span of reading
time before the alert fires), a cooldown (`cooldown`: after a group fired, it does not fire again
within this wall-clock time, even if it resolved meanwhile), grouping (`group_by`: series with
equal labels share one alert; default one alert per series) and resolution (the alert resolves
when no series of the group meets the condition; `clear` sets a hysteresis level for threshold
rules: SoC < 20 fires, SoC >= 25 resolves).

Only the standard library here: the settings check rules while they load.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gridpulse.errors import ConfigError

__all__ = [
    "ERROR_MEASURES",
    "FORECAST_KINDS",
    "GROUP_LABELS",
    "OPS",
    "SOURCE_GROUP_LABELS",
    "STREAM_KINDS",
    "Rule",
    "RuleKind",
    "parse_duration_s",
    "parse_rule",
    "parse_rules",
    "series_name",
]


class RuleKind(enum.StrEnum):
    THRESHOLD = "threshold"
    RATE = "rate"
    NODATA = "nodata"
    ANOMALY = "anomaly"
    VALIDATION = "validation"
    SOURCE = "source"
    FORECAST_ERROR = "forecast_error"
    FORECAST_DRIFT = "forecast_drift"


#: kinds evaluated in the ingest path, as rows commit; the others run in the scheduler
STREAM_KINDS = frozenset({RuleKind.THRESHOLD, RuleKind.RATE})
#: kinds that read the forecast monitoring checks
FORECAST_KINDS = frozenset({RuleKind.FORECAST_ERROR, RuleKind.FORECAST_DRIFT})
#: what a forecast_error rule compares: a live error figure of the recent window (mape [%],
#: mae and bias [series' unit], coverage80 / coverage95 [0..1])
ERROR_MEASURES = ("mape", "mae", "bias", "coverage80", "coverage95")

#: comparison text -> function on two floats
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}

#: labels a rule may group by: the series' key, its name, and its place in the hierarchy
GROUP_LABELS = (
    "series",
    "entity_kind",
    "entity_id",
    "metric",
    "organisation_id",
    "site_id",
    "device_id",
    "channel_id",
)
#: labels a source rule may group by: the source's name, its type, and its series name `source:<name>`
SOURCE_GROUP_LABELS = ("source", "source_type", "series")
SEVERITIES = ("info", "warning", "critical")
#: where a rule comes from: the config file (read-only), the API (stored), or built in (the
#: `source-failing` rule, which a rule of its name replaces)
ORIGINS = ("config", "api", "builtin")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_KEYS = {
    "name", "kind", "metric", "entity_kind", "entity_id", "op", "threshold", "clear", "minutes",
    "min_severity", "for", "for_s", "cooldown", "cooldown_s", "group_by", "notify", "severity",
    "summary", "source", "check", "sources", "measure",
}  # fmt: skip
#: fields a source rule has no use for: refused rather than silently ignored
_NOT_FOR_SOURCE = ("metric", "entity_kind", "entity_id", "op", "clear", "minutes", "min_severity", "check")
#: fields the forecast kinds have no use for (drift also takes no op or measure: PSI >= threshold)
_NOT_FOR_FORECAST = ("clear", "minutes", "min_severity", "check")


def series_name(entity_kind: str, entity_id: str, metric: str) -> str:
    """A series as alerts name it: `device:b-1/StateOfChargePercentage` (the CLI's spelling)."""
    return f"{entity_kind}:{entity_id}/{metric}"


def parse_duration_s(value: Any, where: str) -> float:
    """Seconds from a number of seconds or a text such as '90s', '5m', '1.5h', '2d'.

    Raises:
        ConfigError: naming `where` when the value is neither, or negative.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} is not a duration: give seconds or text such as '5m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ConfigError(
            f"{where}={value!r} is not a duration: give seconds or text such as '90s', '5m', '1h'"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{where}={value!r} is not a duration of zero or more seconds")
    return seconds


@dataclass(frozen=True)
class Rule:
    """One alert rule, checked.

    Attributes:
        name: unique; names the rule in alerts, the API and the CLI.
        kind: what is compared (RuleKind).
        metric: the metric watched (threshold, rate, nodata); '' for anomaly and validation.
        entity_kind: only series of this entity kind; '' for any.
        entity_id: only entities matching this glob (`b-*`); '' for any.
        op: comparison of the value (threshold) or rate (rate) with `threshold`.
        threshold: in the metric's unit (threshold) or its unit per hour (rate); source: failed
            runs in a row [runs], NaN for each source's own failure_alert_after; forecast_error:
            in the measure's unit; forecast_drift: PSI [1], NaN for `[forecast] psi_drift`.
        clear: the level at which a firing threshold alert resolves (hysteresis); None: the
            threshold itself.
        minutes: nodata: minutes without a reading that count as no data. [min]
        min_severity: anomaly: the least severity that counts ('' for any).
        check: validation: the validation rule whose failures count (e.g. 'flat_line'; '' any).
        sources: source: globs on `[[sources]]` names (`eniscope*`); () for every source.
        measure: forecast_error: the live error figure compared (ERROR_MEASURES); '' otherwise.
        for_s: the condition must hold over at least this span of reading time. [s]
        cooldown_s: after a group fired, no new alert of it within this wall-clock time. [s]
        group_by: labels (GROUP_LABELS) whose values make a group; () means one group per rule.
        notify: targets `scheme:address` (webhook:URL, alertmanager:URL, log:); empty: the
            configured defaults.
        severity: info, warning or critical; a label of every alert of the rule.
        summary: a line for the notification; '' makes one from the rule.
        source: where the rule comes from: 'config' (read-only), 'api' (stored, may be deleted)
            or 'builtin' (made by gridpulse; a config or API rule of its name replaces it).
    """

    name: str
    kind: RuleKind = RuleKind.THRESHOLD
    metric: str = ""
    entity_kind: str = ""
    entity_id: str = ""
    op: str = ""
    threshold: float = math.nan
    clear: float | None = None
    minutes: float = 0.0
    min_severity: str = ""
    check: str = ""
    sources: tuple[str, ...] = ()
    measure: str = ""
    for_s: float = 0.0
    cooldown_s: float = 0.0
    group_by: tuple[str, ...] = ("series",)
    notify: tuple[str, ...] = ()
    severity: str = "warning"
    summary: str = ""
    source: str = "api"

    @property
    def streaming(self) -> bool:
        """Whether the rule runs in the ingest path (else in the scheduler)."""
        return self.kind in STREAM_KINDS

    @property
    def clear_level(self) -> float:
        return self.threshold if self.clear is None else self.clear

    def matches_entity(self, entity_kind: str, entity_id: str) -> bool:
        """Whether a series of this entity is one the rule watches (its metric aside)."""
        if self.entity_kind and entity_kind != self.entity_kind:
            return False
        return not self.entity_id or fnmatch.fnmatchcase(entity_id, self.entity_id)

    def matches_source(self, name: str) -> bool:
        """Whether a source rule watches the `[[sources]]` source called `name`."""
        return not self.sources or any(fnmatch.fnmatchcase(name, glob) for glob in self.sources)

    def describe(self) -> str:
        """The condition in words, for notifications: 'StateOfChargePercentage < 20'."""
        if self.summary:
            return self.summary
        if self.kind is RuleKind.THRESHOLD:
            return f"{self.metric} {self.op} {self.threshold:g}"
        if self.kind is RuleKind.RATE:
            return f"rate of {self.metric} {self.op} {self.threshold:g} per hour"
        if self.kind is RuleKind.NODATA:
            return f"no {self.metric} reading for {self.minutes:g} minutes"
        if self.kind is RuleKind.SOURCE:
            runs = "failure_alert_after" if math.isnan(self.threshold) else f"{self.threshold:g}"
            which = f"source {', '.join(self.sources)}" if self.sources else "a source"
            return f"{which} failed {runs} run{'' if runs == '1' else 's'} in a row"
        if self.kind is RuleKind.FORECAST_ERROR:
            unit = " %" if self.measure == "mape" else ""
            return f"live forecast {self.measure} {self.op} {self.threshold:g}{unit}" + (
                f" on {self.metric}" if self.metric else ""
            )
        if self.kind is RuleKind.FORECAST_DRIFT:
            level = "forecast.psi_drift" if math.isnan(self.threshold) else f"{self.threshold:g}"
            return f"forecast input drift: PSI >= {level}" + (f" on {self.metric}" if self.metric else "")
        if self.kind is RuleKind.VALIDATION:
            return f"validation {self.check or 'check'} failed" + (
                f" on {self.metric}" if self.metric else ""
            )
        return f"anomaly of severity {self.min_severity or 'info'} or more" + (
            f" on {self.metric}" if self.metric else ""
        )

    def as_dict(self) -> dict[str, Any]:
        """The rule as the API shows it and the store keeps it (parse_rule reads it back)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        keys = ("metric", "entity_kind", "entity_id", "op", "min_severity", "check", "measure", "summary")
        for key in keys:
            if getattr(self, key):
                out[key] = getattr(self, key)
        if not math.isnan(self.threshold):
            out["threshold"] = self.threshold
        if self.clear is not None:
            out["clear"] = self.clear
        if self.minutes:
            out["minutes"] = self.minutes
        if self.sources:
            out["sources"] = list(self.sources)
        out.update(
            for_s=self.for_s,
            cooldown_s=self.cooldown_s,
            group_by=list(self.group_by),
            notify=list(self.notify),
            severity=self.severity,
            source=self.source,
        )
        return out


def _number(spec: Mapping[str, Any], key: str, where: str) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} {key}={value!r} is not a number")
    return float(value)


def _text(spec: Mapping[str, Any], key: str, where: str) -> str:
    value = spec.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key}={value!r} is not a text")
    return value.strip()


def _strings(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} {key}={value!r} is not a list of texts")
    return tuple(v.strip() for v in value if v.strip())


def parse_rule(
    spec: Mapping[str, Any],
    *,
    where: str = "rule",
    schemes: Sequence[str] | None = None,
    source: str | None = None,
) -> Rule:
    """A checked Rule from a mapping (a `[[alerts.rules]]` table or a JSON body).

    Args:
        spec: the rule's keys (see Rule; `for` and `cooldown` take durations such as '5m').
        where: how errors name the rule, e.g. 'alerts.rules[2]'; the rule's name is added.
        schemes: notifier schemes a target may use; None accepts any `scheme:address`.
        source: overrides spec's `source` ('config' or 'api').

    Raises:
        ConfigError: naming the rule and the field, e.g. "alerts.rules[1] 'low-soc': op='<<' is ...".
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} is not a table of rule fields")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}.name={name!r} is not a rule name: letters, digits, '_', '.', '-' (up to 100)"
        )
    where = f"{where} {name!r}:"
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConfigError(f"{where} unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    kind_text = spec.get("kind", "threshold")
    try:
        kind = RuleKind(kind_text)
    except ValueError:
        raise ConfigError(
            f"{where} kind={kind_text!r} is not one of {', '.join(k.value for k in RuleKind)}"
        ) from None
    origin = spec.get("source")
    if origin not in (None, "", *ORIGINS):
        raise ConfigError(
            f"{where} source={origin!r} says where a rule comes from ({', '.join(ORIGINS)}); to watch "
            f"data sources write kind = 'source' and sources = [{origin!r}]"
        )
    if kind is RuleKind.SOURCE:
        given = [k for k in _NOT_FOR_SOURCE if spec.get(k) not in (None, "")]
        if given:
            raise ConfigError(
                f"{where} {', '.join(given)} does not apply to a source rule: it counts failed runs in a "
                "row of the sources named by `sources` (threshold: how many; default each source's "
                "failure_alert_after)"
            )
    elif spec.get("sources"):
        raise ConfigError(f"{where} sources applies to source rules only: add kind = 'source'")
    if kind in FORECAST_KINDS:
        not_for = _NOT_FOR_FORECAST + (("op", "measure") if kind is RuleKind.FORECAST_DRIFT else ())
        given = [k for k in not_for if spec.get(k) not in (None, "")]
        if given:
            raise ConfigError(f"{where} {', '.join(given)} does not apply to a {kind.value} rule")
    elif spec.get("measure") not in (None, ""):
        raise ConfigError(
            f"{where} measure applies to forecast_error rules only: add kind = 'forecast_error'"
        )
    rule = Rule(
        name=name,
        kind=kind,
        metric=_text(spec, "metric", where),
        entity_kind=_text(spec, "entity_kind", where),
        entity_id=_text(spec, "entity_id", where),
        severity=_text(spec, "severity", where) or "warning",
        summary=_text(spec, "summary", where),
        source=source or _text(spec, "source", where) or "api",
    )
    if rule.severity not in SEVERITIES:
        raise ConfigError(f"{where} severity={rule.severity!r} is not one of {', '.join(SEVERITIES)}")
    if kind in (RuleKind.THRESHOLD, RuleKind.RATE, RuleKind.NODATA) and not rule.metric:
        raise ConfigError(
            f"{where} metric is required for a {kind.value} rule (e.g. 'StateOfChargePercentage')"
        )
    changes: dict[str, Any] = {}
    if kind in (RuleKind.THRESHOLD, RuleKind.RATE):
        op = spec.get("op")
        if op not in OPS:
            raise ConfigError(f"{where} op={op!r} is not one of {' '.join(OPS)}")
        changes.update(op=op, threshold=_number(spec, "threshold", where))
        if spec.get("clear") is not None:
            if kind is not RuleKind.THRESHOLD:
                raise ConfigError(f"{where} clear applies to threshold rules only")
            clear = _number(spec, "clear", where)
            if OPS[op](clear, changes["threshold"]) and clear != changes["threshold"]:
                raise ConfigError(
                    f"{where} clear={clear:g} itself meets {op} {changes['threshold']:g}: an alert could never "
                    "resolve; give a level on the other side of the threshold"
                )
            changes["clear"] = clear
    elif kind is RuleKind.NODATA:
        minutes = _number(spec, "minutes", where)
        if minutes <= 0:
            raise ConfigError(f"{where} minutes={minutes:g} must be more than 0")
        changes["minutes"] = minutes
    elif kind is RuleKind.ANOMALY:
        severity = _text(spec, "min_severity", where)
        if severity and severity not in SEVERITIES:
            raise ConfigError(f"{where} min_severity={severity!r} is not one of {', '.join(SEVERITIES)}")
        changes["min_severity"] = severity
    elif kind is RuleKind.VALIDATION:
        changes["check"] = _text(spec, "check", where)
    elif kind is RuleKind.FORECAST_ERROR:
        measure = _text(spec, "measure", where) or "mape"
        if measure not in ERROR_MEASURES:
            raise ConfigError(f"{where} measure={measure!r} is not one of {', '.join(ERROR_MEASURES)}")
        # coverage alerts when it falls short; the other measures when they grow
        op = spec.get("op") or ("<" if measure.startswith("coverage") else ">")
        if op not in OPS:
            raise ConfigError(f"{where} op={op!r} is not one of {' '.join(OPS)}")
        if spec.get("threshold") is None:
            raise ConfigError(
                f"{where} threshold is required for a forecast_error rule (e.g. 20 for MAPE over 20 %)"
            )
        changes.update(measure=measure, op=op, threshold=_number(spec, "threshold", where))
    elif kind is RuleKind.FORECAST_DRIFT:
        if spec.get("threshold") is not None:
            psi = _number(spec, "threshold", where)
            if psi <= 0:
                raise ConfigError(
                    f"{where} threshold={psi:g} is not a PSI above 0 (0.25: a shifted distribution)"
                )
            changes["threshold"] = psi
    else:
        if spec.get("threshold") is not None:
            runs = _number(spec, "threshold", where)
            if runs < 1 or runs != int(runs):
                raise ConfigError(
                    f"{where} threshold={runs:g} is not a whole number of failed runs of 1 or more"
                )
            changes["threshold"] = runs
        changes["sources"] = _strings(spec, "sources", where) or ()
    for key in ("for", "cooldown"):
        both = [k for k in (key, f"{key}_s") if spec.get(k) is not None]
        if len(both) == 2:
            raise ConfigError(f"{where} give {key} or {key}_s, not both")
        if both:
            changes[f"{key}_s"] = parse_duration_s(spec[both[0]], f"{where} {both[0]}")
    group_by = _strings(spec, "group_by", where)
    labels = SOURCE_GROUP_LABELS if kind is RuleKind.SOURCE else GROUP_LABELS
    if group_by is not None:
        bad = [g for g in group_by if g not in labels]
        if bad:
            raise ConfigError(f"{where} group_by {', '.join(bad)} not among {', '.join(labels)}")
        changes["group_by"] = group_by
    elif kind is RuleKind.SOURCE:
        changes["group_by"] = ("source",)  # one alert per source, labelled source=<name>
    notify = _strings(spec, "notify", where) or ()
    for target in notify:
        scheme, sep, _ = target.partition(":")
        if not sep or (schemes is not None and scheme not in schemes):
            known = ", ".join(f"{s}:" for s in schemes) if schemes is not None else "scheme:address"
            raise ConfigError(f"{where} notify target {target!r} is not one of {known}")
    changes["notify"] = notify
    return replace(rule, **changes)


def parse_rules(
    specs: Sequence[Mapping[str, Any]], *, where: str = "alerts.rules", source: str = "config"
) -> list[Rule]:
    """Checked rules from a list of tables; names must be unique.

    Raises:
        ConfigError: naming the rule (`alerts.rules[2] 'low-soc': ...`) and the field.
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        rule = parse_rule(spec, where=f"{where}[{i}]", source=source)
        if rule.name in seen:
            raise ConfigError(f"{where}[{i}] name {rule.name!r} is used by an earlier rule: names are unique")
        seen.add(rule.name)
        rules.append(rule)
    return rules

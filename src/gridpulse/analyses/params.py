"""Parameters of analyses: typed, defaulted, converted from the text a user gave, named in errors.

A `Param` says its type (a key of PARAM_TYPES), default, help, unit and choices; `convert`
turns a URL or command-line string into the value, or raises QueryError naming the parameter
("period='fortnight' is not one of hour, day, week, month"). `jsonable` turns values back into
the text an answer echoes (durations "15min", instants ISO 8601 UTC).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from gridpulse.errors import ConfigError, QueryError
from gridpulse.timeutil import zone

__all__ = [
    "COMMON_PARAMS",
    "PARAM_TYPES",
    "Param",
    "format_duration",
    "jsonable",
    "parse_duration",
    "parse_flag",
    "utc",
]

_DURATION_UNITS: Final = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "m": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_DURATION_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+)$")
_ISO_DURATION_RE: Final = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def parse_duration(text: str, param: str) -> timedelta:
    """A positive duration from "15min", "1h", "90s", "1d" or ISO 8601 "PT15M". [duration]

    Raises:
        QueryError: naming `param`, for anything else or a zero duration.
    """
    low = text.strip().lower()
    match = _DURATION_RE.match(low)
    seconds: float | None = None
    if match and match.group(2) in _DURATION_UNITS:
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    iso = _ISO_DURATION_RE.match(text.strip().upper())
    if seconds is None and iso and any(iso.groups()):
        d, h, m, s = (float(g) if g else 0.0 for g in iso.groups())
        seconds = d * 86400 + h * 3600 + m * 60 + s
    if seconds is None or seconds <= 0:
        raise QueryError(f"{param}={text!r} is not a positive duration: write e.g. 15min, 1h, 90s or PT15M")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """ "15min", "1h", "90s", "2d": the shortest exact spelling `parse_duration` reads back."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _as_str(p: Param, raw: str) -> str:
    return raw


def _as_int(p: Param, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise QueryError(f"{p.name}={raw!r} is not an integer") from None


def _as_float(p: Param, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise QueryError(f"{p.name}={raw!r} is not a number" + (f" [{p.unit}]" if p.unit else ""))
    return value


def parse_flag(text: str, param: str) -> bool:
    """true/false, 1/0, yes/no or on/off, in any case.

    Raises:
        QueryError: naming `param`, for anything else.
    """
    low = text.lower()
    if low in _TRUE or low in _FALSE:
        return low in _TRUE
    raise QueryError(f"{param}={text!r} is not true or false")


def _as_bool(p: Param, raw: str) -> bool:
    return parse_flag(raw, p.name)


def _as_duration(p: Param, raw: str) -> timedelta:
    return parse_duration(raw, p.name)


def _as_list(p: Param, raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise QueryError(f"{p.name}={raw!r} is empty: give a comma-separated list")
    return items


def _as_zone(p: Param, raw: str) -> str:
    zone(raw)
    return raw


#: Parameter type -> converter from the text a user gave; a new type is one more entry.
PARAM_TYPES: Final[dict[str, Callable[[Param, str], Any]]] = {
    "str": _as_str,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "duration": _as_duration,
    "list": _as_list,
    "zone": _as_zone,
    # read once the zone is known (a date is local midnight there): see `run`
    "instant": _as_str,
}


@dataclass(frozen=True)
class Param:
    """One string parameter of an analysis.

    Attributes:
        name: as in the URL (`?period=week`) and on the command line (`-p period=week`).
        type: a key of PARAM_TYPES: str, int, float, bool, duration, list, zone or instant.
        default: the value when not given, written as a user would ("day", "15min"); None when
            the parameter is optional with no fixed default (the help says what happens then).
        help: one line; what a missing value means when default is None.
        unit: of the value, e.g. "kWh", "%", "duration".
        choices: the allowed values (each item of a list), compared after conversion.
        required: refuse the request without it.
    """

    name: str
    type: str = "str"
    default: str | None = None
    help: str = ""
    unit: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ConfigError(
                f"parameter {self.name}: type {self.type!r} is not one of {', '.join(PARAM_TYPES)}"
            )

    def convert(self, raw: str) -> Any:
        """The value of `raw` for this parameter.

        Raises:
            QueryError: naming the parameter, the value and what it accepts.
        """
        convert = PARAM_TYPES[self.type]
        value = convert(self, raw)
        if self.choices:
            allowed = [self._item(c) for c in self.choices]
            for item in value if self.type == "list" else (value,):
                if item not in allowed:
                    raise QueryError(f"{self.name}={raw!r} is not one of {', '.join(self.choices)}")
        return value

    def _item(self, text: str) -> Any:
        return text if self.type == "list" else PARAM_TYPES[self.type](self, text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "required": self.required,
            "unit": self.unit,
            "choices": list(self.choices),
            "help": self.help,
        }


#: Parameters every analysis takes.
COMMON_PARAMS: Final = (
    Param("start", "instant", help="inclusive; ISO 8601 with offset, or a date / naive time read in tz"),
    Param("end", "instant", help="exclusive; as start"),
    Param("tz", "zone", help="IANA zone of local periods and of naive start/end (default: the series' zone)"),
)


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one (as the store keeps instants) taken as UTC."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def jsonable(value: Any) -> Any:
    """`value` with durations, instants and dates as text (durations "15min", instants ISO 8601 UTC)."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value

"""Mapping: how the columns of a file become series, from CLI flags, a TOML file or query parameters.

Two layouts:
- narrow (long): one value per row; a time column, an entity (a column or a constant), a metric
  (a column or a constant) and a value column;
- wide: one row holds several metrics of one entity; each value column is a series, named by the
  column (or renamed: `kwh_total=kwh`).

Every key of a mapping file is the name of a `gridpulse load` flag with `_` for `-`
(`time_column = "date"`); the same keys, as JSON, are the `mapping` parameter of POST /api/v1/files.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from gridpulse.errors import ConfigError, GridpulseError
from gridpulse.timeutil import zone

__all__ = ["FORMATS", "Mapping", "parse_interval", "parse_pairs", "read_toml"]

#: File formats load_file reads; each may also be gzipped (`.gz`).
FORMATS = ("csv", "parquet", "json", "ndjson")

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|sec|m|min|h|hour|d|day)s?\s*$", re.IGNORECASE)
_ISO_INTERVAL = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)
_UNIT_SECONDS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_interval(text: str | int | float, *, name: str = "interval") -> timedelta:
    """A nominal interval from `15min`, `1h`, `30s`, `1d`, ISO 8601 `PT15M`, or a number of seconds.

    Raises:
        ConfigError: the text is none of those, or not positive (names the option).
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and (m := _INTERVAL.match(text)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    elif isinstance(text, str) and (m := _ISO_INTERVAL.match(text.strip())) and any(m.groups()):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    elif isinstance(text, str) and text.strip().replace(".", "", 1).isdigit():
        seconds = float(text)
    else:
        raise ConfigError(f"{name}={text!r} is not an interval: use e.g. 15min, 1h, 30s, 1d or PT15M")
    if seconds <= 0:
        raise ConfigError(f"{name}={text!r} must be positive")
    return timedelta(seconds=seconds)


def parse_pairs(items: Iterable[str], *, name: str, allow_bare: bool = False) -> list[tuple[str, str]]:
    """`k=v` items (each may hold several, comma-separated) -> [(k, v)]; with allow_bare, `k` -> (k, k).

    Raises:
        ConfigError: an item has no `=` (unless allowed) or an empty key (names the option).
    """
    out: list[tuple[str, str]] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            key, eq, value = part.partition("=")
            if not eq and not allow_bare:
                raise ConfigError(f"{name}: {part!r} is not key=value")
            key = key.strip()
            if not key:
                raise ConfigError(f"{name}: {part!r} has an empty name before '='")
            out.append((key, value.strip() if eq else key))
    return out


@dataclass(frozen=True)
class Mapping:
    """How the rows of one file become points. Unset fields are detected from the header.

    Attributes:
        format: csv, parquet, json (an array of objects) or ndjson; None: from the file name.
        delimiter: CSV field separator; None: detected from the header (`,` `;` tab `|`).
        time_column: column of the timestamps; None: the first of ts, timestamp, time, datetime,
            date, recorded_at, ... (any case), else the first column.
        time_format: strptime format of the timestamps (`%d/%m/%Y %H:%M`); None: ISO 8601.
        time_label: "start" when a timestamp starts the interval its value covers, "end" when it
            ends it (hour-ending data); "end" stores ts - interval and needs `interval`.
        tz: IANA zone of timestamps without an offset; None rejects such rows.
        entity_column: column of entity ids; None: `entity_id`, else the only `<kind>_id` column.
        entity: one entity id for the whole file (no entity column); `{stem}` is replaced by the
            file name without its extensions.
        entity_kind: kind of the entities (meter, plant, device...); None: from `<kind>_id`.
        entity_kind_column: column holding the kind per row (files exported by gridpulse).
        metric_column: narrow layout: column naming the metric; None: `metric` or `metric_name`.
        value_column: narrow layout: column of the values; None: `value`.
        metric: narrow layout without a metric column: the metric of every value.
        value_columns: wide layout: (column, metric) pairs, one series per column.
        wide: wide layout over every column that is not time, entity, kind or excluded.
        exclude_columns: columns a wide layout leaves out.
        quality_column: column of quality flags (0 actual, 1 estimated, 2 edited); None: actual.
        unit: unit of every new series; units: metric -> unit, which wins; otherwise the unit
            the metric's name implies (`power_kw` -> kW).
        interval: nominal spacing of new series.
        tags: labels put on every new series.
    """

    format: str | None = None
    delimiter: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    time_label: str = "start"
    tz: str | None = None
    entity_column: str | None = None
    entity: str | None = None
    entity_kind: str | None = None
    entity_kind_column: str | None = None
    metric_column: str | None = None
    value_column: str | None = None
    metric: str | None = None
    value_columns: tuple[tuple[str, str], ...] = ()
    wide: bool = False
    exclude_columns: tuple[str, ...] = ()
    quality_column: str | None = None
    unit: str | None = None
    units: tuple[tuple[str, str], ...] = ()
    interval: timedelta | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"format={self.format!r} is not one of {', '.join(FORMATS)}")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ConfigError(f"delimiter={self.delimiter!r} must be one character (use '\\t' for tab)")
        if self.time_label not in ("start", "end"):
            raise ConfigError(f"time_label={self.time_label!r} must be 'start' or 'end'")
        if self.time_label == "end" and self.interval is None:
            raise ConfigError("time_label='end' needs interval (e.g. --interval 1h) to find each start")
        if self.tz is not None:
            try:
                zone(self.tz)
            except GridpulseError as exc:
                raise ConfigError(str(exc)) from None
        if self.entity is not None and self.entity_column is not None:
            raise ConfigError("give either entity (one id for the file) or entity_column, not both")
        if self.value_columns and (self.wide or self.metric_column or self.value_column):
            raise ConfigError(
                "value_columns is the wide layout: do not combine it with wide, metric_column or value_column"
            )

    # ------------------------------------------------------------------ (de)serialising
    def to_dict(self) -> dict[str, Any]:
        """The set fields as plain JSON/TOML values (interval in seconds, pairs as tables)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default or value is None:
                continue
            if f.name in ("value_columns", "units", "tags"):
                value = dict(value)
            elif f.name == "exclude_columns":
                value = list(value)
            elif isinstance(value, timedelta):
                value = value.total_seconds()
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "mapping") -> Mapping:
        """A Mapping from `to_dict`'s shape, a TOML file's tables, or query parameters.

        `value_columns` may be a table {column = metric}, a list, or "a,b=c" text; `tags` and
        `units` a table or "k=v,k2=v2" text; `interval` text or seconds.

        Raises:
            ConfigError: an unknown key or a value of the wrong type (names both and `source`).
        """
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{source}: unknown key {key!r}; known: {', '.join(sorted(known))}")
            if value is None:
                continue
            where = f"{source}: {key}"
            if name in ("value_columns", "units", "tags"):
                kwargs[name] = tuple(_pairs(value, where, bare=name == "value_columns"))
            elif name == "exclude_columns":
                items = value.split(",") if isinstance(value, str) else value
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise ConfigError(f"{where} must be a list of column names")
                kwargs[name] = tuple(i.strip() for i in items if i.strip())
            elif name == "interval":
                kwargs[name] = parse_interval(value, name=where)
            elif name == "wide":
                if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                    value = value.lower() in ("true", "1")
                if not isinstance(value, bool):
                    raise ConfigError(f"{where}={value!r} must be true or false")
                kwargs[name] = value
            else:
                if not isinstance(value, str):
                    raise ConfigError(f"{where}={value!r} must be text")
                kwargs[name] = value.replace("\\t", "\t") if name == "delimiter" else value
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: Path) -> Mapping:
        """The mapping a TOML file describes (flat keys, as the flags are named).

        Raises:
            ConfigError: the file is missing or not TOML, or a key is unknown or of the wrong type.
        """
        return cls.from_dict(read_toml(path), source=str(path))

    def merged(self, overrides: dict[str, Any]) -> Mapping:
        """This mapping with the given keys (as in from_dict) replaced; None values are ignored."""
        given = {k: v for k, v in overrides.items() if v is not None and v != () and v != []}
        return Mapping.from_dict({**self.to_dict(), **given})


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict. Raises ConfigError naming the file when missing or malformed."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path} is not valid TOML: {exc}") from None


def _pairs(value: Any, where: str, *, bare: bool) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(f"{where} must map names to text")
        return list(value.items())
    if isinstance(value, str):
        return parse_pairs([value], name=where, allow_bare=bare)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return parse_pairs(value, name=where, allow_bare=bare)
    if isinstance(value, list) and all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in value
    ):
        return [(v[0], v[1]) for v in value]
    raise ConfigError(f"{where}={value!r} must be a table, a list or 'a=b,c=d' text")

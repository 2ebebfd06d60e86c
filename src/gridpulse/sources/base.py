"""The Source protocol, its configuration, and the registry of source types by name.

A source is data gridpulse goes and gets: a vendor API it polls, an MQTT broker it subscribes
to, a folder it watches. Each is configured by one `[[sources]]` table:

    [[sources]]
    name = "eniscope"          # unique; its job is `source:eniscope`
    type = "vendor_api"        # a registered source type
    interval_s = 3600          # or cron = "5 * * * *" (UTC); default: the type's
    base_url = "https://core.eniscope.com/v1"   # ... and the type's own keys

Types are found by name in SOURCE_TYPES, which the built-in ones fill through
`register_source_type` exactly as an outside package would. Every source hands what it fetched
to the ingest layer (the parsers and the single writer the HTTP routes use), so dedup,
revisions and validation are the same whichever way data arrives.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gridpulse.errors import ConfigError, GridpulseError

if TYPE_CHECKING:
    from gridpulse.config import Settings
    from gridpulse.ingest.writer import Writer
    from gridpulse.model import WriteResult
    from gridpulse.store.base import Store

__all__ = [
    "COMMON_KEYS",
    "SOURCE_TYPES",
    "Keys",
    "Source",
    "SourceContext",
    "SourceError",
    "SourceReport",
    "SourceSpec",
    "SourceType",
    "build_source",
    "parse_sources",
    "register_source_type",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Keys every `[[sources]]` table may have; the rest belong to its type.
COMMON_KEYS = ("name", "type", "interval_s", "cron", "enabled", "failure_alert_after")


class SourceError(GridpulseError):
    """A source could not fetch or hand over its data (the message names the source and what to do)."""


@dataclass(frozen=True)
class SourceSpec:
    """One `[[sources]]` table, checked.

    Attributes:
        name: unique name; the source's job is `source:<name>`.
        type: a key of SOURCE_TYPES.
        interval_s: seconds between runs (0 with a cron schedule). [s]
        cron: crontab schedule (UTC), empty for an interval.
        enabled: false keeps the table but starts nothing.
        failure_alert_after: runs failing in a row that raise an alert (0: the [jobs] default). [runs]
        options: the type's own keys, as written.
        index: 0-based position among the `[[sources]]` tables, for messages.
    """

    name: str
    type: str
    interval_s: float
    cron: str = ""
    enabled: bool = True
    failure_alert_after: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0

    @property
    def where(self) -> str:
        """How messages name this table: `sources[1] (eniscope)`."""
        return f"sources[{self.index}] ({self.name})"

    @property
    def job(self) -> str:
        return f"source:{self.name}"


@dataclass
class SourceContext:
    """What a running source gets: where to write, and a flag that says the server is stopping."""

    store: Store
    writer: Writer
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class SourceReport:
    """What one run of a source did: the numbers recorded in the job history.

    Attributes:
        rows: points handed to the store (inserted, revised or unchanged). [rows]
        rejects: rows rejected as invalid. [rows]
        failures: parts that failed while the others went on (channels, files, commits). [count]
        errors: one line per failure, naming the part and the cause.
        result: what the commits did (inserted, revised, unchanged, series created).
        detail: the source's own counts (requests, retries, files moved, channels...).
        parts_ok: parts that went through (a failed part beside them makes the run partial). [count]
        fatal: the run could not do anything (e.g. the organisation list failed).
    """

    rows: int = 0
    rejects: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    result: WriteResult | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    parts_ok: int = 0
    fatal: bool = False

    def add_result(self, result: WriteResult) -> None:
        self.result = result if self.result is None else self.result + result

    def fail(self, message: str) -> None:
        """Count one failed part and keep its message."""
        self.failures += 1
        self.errors.append(message)

    @property
    def status(self) -> str:
        """ok, partial (some parts failed, the rest committed) or failed."""
        if self.fatal:
            return "failed"
        if self.failures:
            return "partial" if self.rows or self.parts_ok else "failed"
        return "ok"

    @property
    def error(self) -> str | None:
        if not self.errors:
            return None
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        return "; ".join(self.errors[:5]) + more

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "rows": self.rows,
            "rejects": self.rejects,
            "failures": self.failures,
            "parts_ok": self.parts_ok,
            "error": self.error,
            "errors": self.errors[:50],
            **(self.result.as_dict() if self.result is not None else {}),
            **self.detail,
        }


class Source(Protocol):
    """A configured source. `start` once (a subscriber connects; a poller does nothing), `run`
    on its schedule (a poller fetches; a subscriber reports what arrived since the last run),
    `close` at shutdown."""

    spec: SourceSpec

    def start(self, ctx: SourceContext) -> None: ...

    def run(self, ctx: SourceContext) -> SourceReport: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceType:
    """A kind of source: how its keys are checked and how one is built.

    Attributes:
        name: the `type` value in `[[sources]]`.
        check: reads the type's keys from a Keys and returns its options object; raises
            ConfigError naming the source and key.
        build: makes the source from its spec and checked options.
        default_interval_s: schedule when the table gives neither interval_s nor cron. [s]
        summary: one line for the docs.
    """

    name: str
    check: Callable[[Keys], Any]
    build: Callable[[SourceSpec, Any], Source]
    default_interval_s: float
    summary: str = ""


#: type name -> SourceType; built-ins are registered in gridpulse.sources as a plug-in would be.
SOURCE_TYPES: dict[str, SourceType] = {}


def register_source_type(source_type: SourceType) -> None:
    """Make a source type available to `[[sources]]` tables by its name (last one wins)."""
    SOURCE_TYPES[source_type.name] = source_type


_MISSING = object()


class Keys:
    """Reads a source's own keys with their types; `done()` refuses keys nobody read.

    Every error names the table and the key: `sources[1] (eniscope): page_size='x' is not an integer`.
    """

    def __init__(self, where: str, raw: Mapping[str, Any]) -> None:
        self.where = where
        self._raw = dict(raw)
        self._read: set[str] = set()

    def error(self, key: str, message: str) -> ConfigError:
        sep = "" if message.startswith("=") else " "
        return ConfigError(f"{self.where}: {key}{sep}{message}")

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self._raw:
            return self._raw[key]
        if default is _MISSING:
            raise self.error(key, "is required")
        return default

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"={value!r} is not text")
        return value

    def integer(self, key: str, default: Any = _MISSING, *, min: int | None = None) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"={value!r} is not an integer")
        if min is not None and value < min:
            raise self.error(key, f"={value!r} must be at least {min}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, min: float | None = None) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"={value!r} is not a number")
        if min is not None and value < min:
            raise self.error(key, f"={value!r} must be at least {min}")
        return float(value)

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"={value!r} is not true or false")
        return value

    def texts(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"={value!r} is not a list of text")
        return list(value)

    def table(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.error(key, f"={value!r} is not a table")
        return dict(value)

    def text_table(self, key: str, default: Any = _MISSING) -> dict[str, str]:
        value = self.table(key, default)
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            raise self.error(f"{key}.{bad[0]}", f"={value[bad[0]]!r} is not text")
        return value

    def choice(self, key: str, choices: Sequence[str], default: Any = _MISSING) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"={value!r} is not one of {', '.join(choices)}")
        return value

    def done(self) -> None:
        extra = sorted(set(self._raw) - self._read)
        if extra:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(extra)}")


def _check_cron(where: str, cron: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"{where}: cron={cron!r} is not a crontab schedule: {exc}") from None


def parse_sources(tables: Sequence[Any]) -> list[SourceSpec]:
    """Check `[[sources]]` tables: names unique, types known, one schedule, and each type's keys.

    Raises:
        ConfigError: naming the table (`sources[2] (plant-feed)`) and the key at fault.
    """
    import gridpulse.sources  # noqa: F401  (the built-in types register themselves on import)

    specs: list[SourceSpec] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigError(f"sources[{i}] is not a table: write [[sources]] tables")
        name = table.get("name")
        where = f"sources[{i}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: name={name!r} must be text of letters, digits, '.', '_' or '-'")
        if name in seen:
            raise ConfigError(f"{where}: name {name!r} is used by another source; names must be unique")
        seen.add(name)
        type_name = table.get("type")
        source_type = SOURCE_TYPES.get(type_name) if isinstance(type_name, str) else None
        if source_type is None:
            raise ConfigError(f"{where}: type={type_name!r} is not one of {', '.join(sorted(SOURCE_TYPES))}")
        common = Keys(where, {k: v for k, v in table.items() if k in COMMON_KEYS})
        common.text("name")
        common.text("type")
        cron = common.text("cron", "")
        interval_s = common.number("interval_s", 0.0 if cron else source_type.default_interval_s, min=0)
        if cron and interval_s:
            raise ConfigError(f"{where}: interval_s and cron are both set: pick one schedule")
        if cron:
            _check_cron(where, cron)
        elif not interval_s:
            raise ConfigError(f"{where}: interval_s=0 schedules nothing: give a number of seconds or a cron")
        enabled = common.flag("enabled", True)
        alert_after = common.integer("failure_alert_after", 0, min=0)
        options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
        spec = SourceSpec(name, type_name, interval_s, cron, enabled, alert_after, options, i)  # type: ignore[arg-type]
        keys = Keys(where, options)
        source_type.check(keys)
        keys.done()
        specs.append(spec)
    return specs


def build_source(spec: SourceSpec) -> Source:
    """The source a checked spec describes.

    Raises:
        ConfigError: its type is no longer registered, or its keys are bad.
    """
    source_type = SOURCE_TYPES.get(spec.type)
    if source_type is None:
        raise ConfigError(f"{spec.where}: type={spec.type!r} is not one of {', '.join(sorted(SOURCE_TYPES))}")
    keys = Keys(spec.where, spec.options)
    options = source_type.check(keys)
    keys.done()
    return source_type.build(spec, options)


"""Structured logs: one JSON object per line, carrying the id of the HTTP request being handled.

`configure_logging(fmt, level)` (called by `gridpulse serve`) puts one handler on the root
logger. In the `json` format each record is one line:

    {"ts": "2026-11-26T10:00:00.123Z", "level": "info", "logger": "gridpulse.access",
     "msg": "GET /healthz 200 0.4 ms", "request_id": "4f1c…", "method": "GET", ...}

`ts` is UTC with milliseconds, `request_id` is null outside a request, `exc` holds the traceback
of a logged exception, and the `extra={...}` fields of the call follow (values JSON cannot hold
are written as text). The `text` format is the classic one line of prose, with the request id in
brackets. `auto` picks text on a terminal and JSON otherwise (systemd, containers, files).

REQUEST_ID is set by the HTTP middleware (api/observe.py) for the duration of a request; the
code the request runs inherits it (asyncio tasks, asyncio.to_thread, Starlette's thread pool),
so every line logged while handling it carries the id. The writer thread and scheduled jobs run
outside any request: their lines have none.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "REQUEST_ID", "JsonFormatter", "TextFormatter", "configure_logging"]

#: The id of the HTTP request this code runs for; None outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("gridpulse_request_id", default=None)

#: Values of the log.format option.
LOG_FORMATS = ("auto", "json", "text")
#: Values of the log.level option, to the logging module's levels.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# attributes every LogRecord has: anything else on a record came from `extra=` (uvicorn's
# color_message repeats msg with terminal colours)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",
}


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (in the thread that logs it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def _text(value: Any) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, request_id, [exc], then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        return orjson.dumps(out, default=_text, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """`2026-11-26 10:00:00,123 INFO gridpulse.access: GET /healthz 200 0.4 ms [4f1c…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(
    fmt: str = "auto", level: str = "info", *, stream: TextIO | None = None
) -> logging.Handler:
    """Log every record of `level` and above to `stream` (stderr) in `fmt`; returns the handler.

    Calling it again replaces the handler it installed before (other handlers stay).

    Args:
        fmt: one of LOG_FORMATS; auto: text when the stream is a terminal, else json.
        level: one of LOG_LEVELS.
        stream: where lines go; None: sys.stderr.

    Raises:
        ValueError: an unknown format or level (Settings check both when they load).
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
    if level not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    handler.set_name("gridpulse")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "gridpulse"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[level])
    return handler

"""Options and small helpers every command group shares, declared once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

from gridpulse.errors import QueryError

if TYPE_CHECKING:
    from gridpulse.model import Series
    from gridpulse.store.base import Store

__all__ = [
    "DATA_DIR",
    "ENTITY",
    "KIND",
    "METRIC",
    "OUTPUT_FORMAT",
    "SERIES_ID",
    "TOKEN",
    "check_format",
    "config_option",
    "named_series",
    "selected_series",
    "without_none",
]

DATA_DIR: Any = typer.Option(None, "--data-dir", help="Folder of the store file (default ./data).")
TOKEN: Any = typer.Option(
    None, "--token", envvar="GRIDPULSE_TOKEN", help="Bearer token for a server with auth."
)
OUTPUT_FORMAT: Any = typer.Option("table", "--format", "-f", help="table or json.")
#: which series a data-quality or anomaly command works on
ENTITY: Any = typer.Option(
    None, "--entity", "-e", help="Entity id, or kind:id; none: every series (of --kind/--metric)."
)
METRIC: Any = typer.Option(None, "--metric", "-m", help="Metric.")
KIND: Any = typer.Option(None, "--kind", help="Entity kind.")
SERIES_ID: Any = typer.Option(None, "--series", help="Series id instead of entity + metric.")


def config_option(section: str = "") -> Any:
    """The --config option; `section` names the settings a command reads there, e.g. "alerts.*"
    (not "[alerts]": Rich would take the brackets for markup)."""
    where = f" (the {section} settings live there)" if section else ""
    return typer.Option(None, "--config", help=f"TOML config file{where}.")


def check_format(fmt: str, allowed: Sequence[str] = ("table", "json")) -> None:
    """Refuse an output format the command cannot write, naming those it can.

    Raises:
        QueryError: fmt is not one of allowed.
    """
    if fmt not in allowed:
        raise QueryError(f"--format {fmt!r} is not one of {', '.join(allowed)}")


def without_none(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that were given, for a query string or a JSON body."""
    return {k: v for k, v in params.items() if v is not None}


#: the parameters ENTITY, METRIC, KIND and SERIES_ID fill (SERIES_ID as "series")
_SERIES_KEYS = ("series", "entity", "kind", "metric")


def named_series(params: Mapping[str, Any]) -> bool:
    """Whether the options name series at all (none: a command's default, e.g. every series)."""
    return any(params.get(k) is not None for k in _SERIES_KEYS)


def selected_series(store: Store, params: Mapping[str, Any]) -> list[Series]:
    """The series the series options name, as the API's quality and anomaly routes pick them
    (gridpulse.store.query.pick_series): one, every one of a kind and/or metric, or all.

    Raises:
        NotFound: nothing matches.
    """
    from gridpulse.store.query import pick_series

    return pick_series(store, **{k: params.get(k) for k in _SERIES_KEYS})

"""What every analytic shares: the frame it is handed and the result it returns.

Analytics import only the base layer (config, errors, model): they are handed Arrow frames,
never a connection. The caller (API route, CLI command) reads the series from the store, at the
resolution the analytic needs (the store buckets and aggregates in SQL, in any time zone), and
passes the frames in; the SQL the store ran is attached to the result for `--explain`.

A frame is a long Arrow table: `series_id` (int32), `ts` (timestamp[us, UTC]: the start of the
interval a value describes, or the instant of a sample), `value` (float64); some analytics also
take `quality` (int8, model.Quality). Column names are parameters with those defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["AnalyticResult"]


@dataclass
class AnalyticResult:
    """One analytic's answer.

    Attributes:
        table: the rows; instants are UTC (`ts`, `start`, ...), local calendar values are named
            `local_*` (`local_date`, `local_hour`), units are in column names (`energy_kwh`).
        units: column name -> unit, e.g. {"energy_kwh": "kWh", "peak_kw": "kW"}.
        notes: short remarks a user should see, e.g. "2 gaps longer than 1:00:00 not bridged".
        sql: statements the store ran to produce the input frames, with their parameters, in
            order (filled in by the caller that read them).
    """

    table: pa.Table
    units: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sql: list[tuple[str, list[Any]]] = field(default_factory=list)

"""History: one series on a regular UTC grid, the input every forecast model takes.

A stored series has gaps, irregular stamps and revisions; models want one value per step. The
grid starts at `start_us` and steps `step_s` seconds in UTC (never in local time, so 7 days of
hourly steps are 168 steps across a DST change too); a missing interval is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

__all__ = ["F64", "History", "on_grid"]

F64 = npt.NDArray[np.float64]
US_PER_S = 1_000_000


@dataclass(frozen=True)
class History:
    """One series' values on a regular UTC grid, with what its calendar features need.

    Attributes:
        name: label of the series in results and plots (e.g. the entity id).
        start_us: start of the interval of values[0]. [µs since 1970-01-01 UTC]
        step_s: grid step. [s]
        values: one value per step, NaN where nothing was measured (series' unit).
        tz: IANA zone of the series' site: calendar features are read on its wall clock.
        holidays: country code of the `holidays` package ("NL", "US"), or None for none.
        holidays_subdiv: the country's subdivision ("NSW", "PA"), or None.
        exog: other series on the same grid and length (e.g. temperature); models read only
            values before a forecast's origin, like the target's.
        series_id: the store's id of the series, when it came from the store.
    """

    name: str
    start_us: int
    step_s: int
    values: F64
    tz: str = "UTC"
    holidays: str | None = None
    holidays_subdiv: str | None = None
    exog: Mapping[str, F64] = field(default_factory=dict)
    series_id: int | None = None

    def __post_init__(self) -> None:
        if self.step_s <= 0:
            raise ValueError(f"step_s must be positive, got {self.step_s}")
        for name, arr in self.exog.items():
            if len(arr) != len(self.values):
                raise ValueError(f"exogenous series {name!r} has {len(arr)} steps, the target {len(self.values)}")

    @property
    def step_us(self) -> int:
        return self.step_s * US_PER_S

    @property
    def end_us(self) -> int:
        """End of the last interval (exclusive); a forecast from here is the next step. [µs UTC]"""
        return self.start_us + len(self.values) * self.step_us

    def steps_per(self, seconds: int) -> int:
        """Grid steps in a span of `seconds` (a day: 24 hourly steps, 48 half-hourly)."""
        if seconds % self.step_s:
            raise ValueError(f"a step of {self.step_s} s does not divide {seconds} s")
        return seconds // self.step_s

    def grid_us(self, n: int | None = None) -> npt.NDArray[np.int64]:
        """Start of each of the first `n` intervals (all values when None; may run past the end). [µs UTC]"""
        count = len(self.values) if n is None else n
        return self.start_us + np.arange(count, dtype=np.int64) * self.step_us

    def index_of(self, ts_us: int) -> int:
        """Grid index of the interval starting at ts_us. Raises ValueError when off the grid."""
        offset = ts_us - self.start_us
        if offset % self.step_us:
            raise ValueError(f"{ts_us} µs is not on the grid of {self.name!r} (step {self.step_s} s)")
        return offset // self.step_us

    def until(self, origin_us: int) -> History:
        """The history known at `origin_us`: every interval starting before it, nothing after."""
        n = max(0, min(len(self.values), self.index_of(origin_us)))
        return replace(self, values=self.values[:n], exog={k: v[:n] for k, v in self.exog.items()})

    def last(self, n: int) -> History:
        """The newest `n` steps (all when there are fewer)."""
        cut = max(0, len(self.values) - n)
        return replace(
            self,
            start_us=self.start_us + cut * self.step_us,
            values=self.values[cut:],
            exog={k: v[cut:] for k, v in self.exog.items()},
        )


def on_grid(
    ts_us: npt.NDArray[np.int64],
    values: F64,
    *,
    step_s: int,
    start_us: int | None = None,
    end_us: int | None = None,
) -> tuple[int, F64]:
    """Values at instants placed on a regular grid: each lands in the step it falls in; a step
    with several takes their mean, a step with none is NaN.

    Args:
        ts_us: instants, any order. [µs UTC]
        values: one per instant.
        step_s: grid step. [s]
        start_us, end_us: grid bounds; default: the floor of the first instant and the step after
            the last.

    Returns:
        (start_us of the grid, one value per step).
    """
    step_us = step_s * US_PER_S
    if len(ts_us) == 0:
        start = 0 if start_us is None else start_us
        n = 0 if end_us is None else max(0, (end_us - start + step_us - 1) // step_us)
        return start, np.full(n, np.nan)
    start = int(ts_us.min()) // step_us * step_us if start_us is None else start_us
    stop = (int(ts_us.max()) // step_us + 1) * step_us if end_us is None else end_us
    n = max(0, (stop - start + step_us - 1) // step_us)
    idx = (ts_us - start) // step_us
    keep = (idx >= 0) & (idx < n) & ~np.isnan(values)
    sums = np.bincount(idx[keep], weights=values[keep], minlength=n)
    counts = np.bincount(idx[keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return start, out

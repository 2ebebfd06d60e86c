"""Model monitoring: how stored forecasts fare against the actuals that arrive, and whether the
data a model sees now still looks like the data it was trained on.

Pure computation on numpy arrays, like the rest of `gridpulse.forecast`; which forecast and which
actuals are compared is `gridpulse.jobs.monitoring`'s work.

- **Live error** (`error_figures`, `error_by_day`): per step, the actual against the mean and the
  80 % / 95 % bounds of the forecast that was current for it. MAE and bias in the series' unit,
  MAPE in %, coverage as a share. Bias is mean(forecast - actual): positive when the forecast ran
  high. MAPE leaves out near-zero actuals (`mape_floor_pct`), which would otherwise dominate it.
- **Drift** (`psi`): the population stability index of recent values against a reference
  (the training window), on bins cut at the reference's quantiles (deciles by default):
  PSI = sum over bins of (recent share - reference share) * ln(recent share / reference share),
  a share below `PSI_EPSILON` (an empty bin) taken as `PSI_EPSILON`. Below 0.1 the distributions
  are usually read as the same, 0.1-0.25 as worth watching, 0.25 and above as shifted: the
  conventional reading from credit scoring, where the index comes from (Siddiqi, *Credit Risk
  Scorecards*, 2006).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.forecast.history import F64

__all__ = [
    "DRIFT_LEVELS",
    "PSI_EPSILON",
    "ErrorFigures",
    "drift_level",
    "error_by_day",
    "error_figures",
    "local_days",
    "psi",
    "psi_edges",
]

#: share given to a bin no value fell in, so its log term stays finite
PSI_EPSILON = 1e-4
#: fewest values per bin, on each side, for a PSI to mean anything (fewer: None)
MIN_VALUES_PER_BIN = 2
#: the readings of a PSI, from low to high
DRIFT_LEVELS = ("stable", "watch", "drift")
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class ErrorFigures:
    """Live error of a forecast over a set of steps; None where there was nothing to score.

    Attributes:
        steps: steps with both an actual and a forecast mean.
        mape_steps: of those, the steps MAPE counts (actual not near zero).
        mae: mean |actual - forecast|. [series' unit]
        mape: mean |actual - forecast| / |actual| over mape_steps. [%]
        bias: mean (forecast - actual); positive: the forecast ran high. [series' unit]
        coverage80, coverage95: share of actuals inside the 80 % / 95 % interval, over the steps
            with both bounds. [0..1]
    """

    steps: int
    mape_steps: int
    mae: float | None
    mape: float | None
    bias: float | None
    coverage80: float | None
    coverage95: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(x: F64) -> float | None:
    return float(x.mean()) if x.size else None


def _coverage(a: F64, lo: F64, hi: F64) -> float | None:
    known = ~(np.isnan(lo) | np.isnan(hi))
    if not known.any():
        return None
    return float(np.mean((a[known] >= lo[known]) & (a[known] <= hi[known])))


def error_figures(
    actual: F64,
    mean: F64,
    lo80: F64,
    hi80: F64,
    lo95: F64,
    hi95: F64,
    *,
    mape_floor_pct: float = 5.0,
) -> ErrorFigures:
    """Live error of forecasts against actuals, steps where either is NaN left out.

    Args:
        actual, mean, lo80, hi80, lo95, hi95: one value per step, in the series' unit; a NaN
            bound leaves its step out of that interval's coverage only.
        mape_floor_pct: MAPE leaves out steps whose |actual| is below this percentage of the mean
            |actual| of the scored steps (and always exact zeros): an hour of 0.01 kWh forecast
            at 0.2 would add 1,900 % on its own. [%]

    Returns:
        The figures; all None (steps 0) when no step has both.
    """
    ok = ~(np.isnan(actual) | np.isnan(mean))
    a, f = actual[ok], mean[ok]
    if a.size == 0:
        return ErrorFigures(0, 0, None, None, None, None, None)
    e = f - a
    size = np.abs(a)
    floor = mape_floor_pct / 100.0 * float(size.mean())
    counted = (size > 0) & (size >= floor)
    return ErrorFigures(
        steps=int(a.size),
        mape_steps=int(counted.sum()),
        mae=float(np.abs(e).mean()),
        mape=float(np.mean(np.abs(e[counted]) / size[counted]) * 100) if counted.any() else None,
        bias=float(e.mean()),
        coverage80=_coverage(a, lo80[ok], hi80[ok]),
        coverage95=_coverage(a, lo95[ok], hi95[ok]),
    )


def error_by_day(
    day: npt.NDArray[np.int64],
    actual: F64,
    mean: F64,
    lo80: F64,
    hi80: F64,
    lo95: F64,
    hi95: F64,
    *,
    mape_floor_pct: float = 5.0,
) -> list[tuple[int, ErrorFigures]]:
    """`error_figures` per day: one entry per distinct value of `day` (e.g. `local_days`), in order.

    A day whose steps have no forecast (or no actual) comes back with steps 0 and None figures;
    MAPE's near-zero floor is each day's own.
    """
    out: list[tuple[int, ErrorFigures]] = []
    cols = (actual, mean, lo80, hi80, lo95, hi95)
    for d in np.unique(day):
        sel = day == d
        a, m, l80, h80, l95, h95 = (c[sel] for c in cols)
        out.append((int(d), error_figures(a, m, l80, h80, l95, h95, mape_floor_pct=mape_floor_pct)))
    return out


def local_days(ts_us: npt.NDArray[np.int64], tz: str) -> npt.NDArray[np.int64]:
    """The local date of each instant in `tz`, as days since 1970-01-01 (a 23- or 25-hour day
    is one day like any other).

    Raises:
        pa.ArrowInvalid: pyarrow's time zone database does not know `tz`.
    """
    if ts_us.size == 0:
        return np.zeros(0, np.int64)
    local = pc.local_timestamp(pa.array(ts_us, type=pa.timestamp("us", tz=tz)))
    wall: npt.NDArray[np.int64] = local.cast(pa.int64()).to_numpy().astype(np.int64)
    return np.floor_divide(wall, _US_PER_DAY)


def psi_edges(reference: F64, bins: int = 10) -> F64:
    """The inner bin edges of a PSI: the reference's quantiles at 1/bins, 2/bins, ... (deciles for
    10), repeated edges (a reference with many equal values, such as solar's night zeros) merged,
    so bins can be fewer. NaN values are ignored."""
    ref = reference[~np.isnan(reference)]
    if ref.size == 0:
        return np.zeros(0)
    edges: F64 = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    return edges


def _shares(values: F64, edges: F64) -> F64:
    """Share of values per bin; bin i holds edges[i-1] <= x < edges[i], the outer ones open."""
    idx = np.searchsorted(edges, values, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    shares: F64 = counts / counts.sum()
    return shares


def psi(reference: F64, recent: F64, *, bins: int = 10, epsilon: float = PSI_EPSILON) -> float | None:
    """Population stability index of `recent` against `reference` (NaN values ignored).

    Bins are cut at the reference's quantiles (`psi_edges`), so each holds about 1/bins of it;
    a share below `epsilon` on either side (an empty bin) counts as `epsilon`. 0 for identical
    distributions.

    Returns:
        The index [1], or None when either side has fewer than MIN_VALUES_PER_BIN x bins values.
    """
    ref = reference[~np.isnan(reference)]
    now = recent[~np.isnan(recent)]
    need = MIN_VALUES_PER_BIN * bins
    if ref.size < need or now.size < need:
        return None
    edges = psi_edges(ref, bins)
    expected = np.maximum(_shares(ref, edges), epsilon)
    actual = np.maximum(_shares(now, edges), epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_level(value: float | None, *, watch: float = 0.1, drift: float = 0.25) -> str | None:
    """How a PSI reads: 'stable' below `watch`, 'watch' below `drift`, else 'drift'; None for None."""
    if value is None:
        return None
    if value >= drift:
        return DRIFT_LEVELS[2]
    return DRIFT_LEVELS[1] if value >= watch else DRIFT_LEVELS[0]

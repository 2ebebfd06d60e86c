"""How much of each analytic figure rests on estimated values: the columns every result carries.

VEE estimation (gridpulse.quality, docs/quality.md) fills missing intervals with values flagged
`Quality.ESTIMATED`; an estimate never replaces an actual read. Every analytic result row says
how much of its figures rests on estimates, in one of three shapes:

- `estimated_<base>` and `estimated_share` for figures summed or averaged over values: how many
  of the intervals (`estimated_intervals`), group values (`estimated_values`) or samples
  (`estimated_samples`) behind the row are estimates, and that count over all of them (0..1;
  null when there are none).
- `estimated_h` and `estimated_share` for figures integrated over time (energy from kW, battery
  cycles, hours below a charge): the hours of `covered_h` held by an estimated sample, and their
  share of it. A trapezoid between an estimate and an actual read counts half.
- `<figure>_estimated` (boolean) for a figure read at one instant (a peak, a minimum): whether
  the value there (any value of the peak window) was an estimate.

The estimated columns come last in each result, so the figures keep their places.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.periods import US_PER_H

__all__ = ["BASES", "HOURS_UNITS", "SHARE", "UNITS", "count_columns", "hours_columns", "reshare", "share"]

#: the column holding the share of estimates in a result row
SHARE: Final = "estimated_share"
#: estimated count column -> the column it is a part of (what `estimated_share` divides by)
BASES: Final = {
    "estimated_intervals": "intervals",
    "estimated_values": "values",
    "estimated_samples": "samples",
    "estimated_h": "covered_h",
}
#: units of the estimated columns of a result that counts values, and of one that counts hours
UNITS: Final = {SHARE: "1"}
HOURS_UNITS: Final = {SHARE: "1", "estimated_h": "h"}


def share(estimated: npt.NDArray[np.number], total: npt.NDArray[np.number]) -> pa.Array:
    """estimated / total per row, 0..1; null where total is 0 (nothing to be estimated). [1]"""
    est = np.asarray(estimated, np.float64)
    tot = np.asarray(total, np.float64)
    none = tot <= 0
    return pa.array(np.divide(est, tot, out=np.zeros(len(tot)), where=~none), pa.float64(), mask=none)


def count_columns(
    estimated: npt.NDArray[np.number], total: npt.NDArray[np.number], base: str = "intervals"
) -> dict[str, pa.Array]:
    """`estimated_<base>` (int64) and `estimated_share` of `total` values behind each row.

    Args:
        estimated: estimated values behind each row.
        total: all values behind each row (estimated ones included).
        base: what is counted: intervals, values or samples.
    """
    return {
        f"estimated_{base}": pa.array(np.asarray(estimated, np.int64), pa.int64()),
        SHARE: share(estimated, total),
    }


def hours_columns(
    estimated_us: npt.NDArray[np.number], covered_us: npt.NDArray[np.number]
) -> dict[str, pa.Array]:
    """`estimated_h` [h] and `estimated_share` of the covered time, from times in µs."""
    est = np.asarray(estimated_us, np.float64)
    return {"estimated_h": pa.array(est / US_PER_H, pa.float64()), SHARE: share(est, covered_us)}


def reshare(table: pa.Table) -> pa.Table:
    """The table with `estimated_share` worked out again from its estimated count and base
    columns: after rows were added up (per group), where the shares themselves do not add."""
    if SHARE not in table.column_names:
        return table
    for est, base in BASES.items():
        if est in table.column_names and base in table.column_names:
            e = np.asarray(pc.cast(table.column(est), pa.float64()).to_numpy(zero_copy_only=False))
            b = np.asarray(pc.cast(table.column(base), pa.float64()).to_numpy(zero_copy_only=False))
            return table.set_column(table.column_names.index(SHARE), SHARE, share(e, b))
    return table

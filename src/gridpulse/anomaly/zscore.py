"""The z-score baseline: each reading against the same local time of day on the days before it.

Load has a daily shape, so a reading is compared with its own slot (the 15-minute slot of the
local day, or whatever the series' step is) over the `baseline_days` days before its own day:
z = (value - mean) / std of those readings. Only earlier days enter a reading's baseline, so a
score never depends on what came after it. The local clock keeps 08:00 at 08:00 across DST
changes; the repeated hour of a fall-back night shares its slots' baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridpulse.analytics.frames import F64, I64
from gridpulse.analytics.periods import US_PER_DAY, wall_clock_us

__all__ = ["ZScores", "zscores"]


@dataclass(frozen=True)
class ZScores:
    """Per reading: its z-score and the baseline it was judged against.

    Attributes:
        score: (value - mean) / std; NaN where the baseline is too short. [standard deviations]
        mean: the baseline mean of the reading's slot. [series unit]
        std: the baseline standard deviation (at least the floor). [series unit]
    """

    score: F64
    mean: F64
    std: F64


def zscores(
    ts_us: I64,
    value: F64,
    *,
    step_s: int,
    tz: str,
    baseline_days: int = 28,
    min_baseline: int = 7,
    std_floor: float = 0.01,
) -> ZScores:
    """Z-scores of readings against their local time-of-day slot over the days before.

    Args:
        ts_us: UTC instants, sorted; readings off the step grid join the slot they fall in. [µs]
        value: the readings; NaN ones get no score and enter no baseline. [series unit]
        step_s: the slot width, the series' interval (900 for 15-minute data). [s]
        tz: IANA zone whose local clock the slots follow.
        baseline_days: days before a reading's own whose same slot forms its baseline. [days]
        min_baseline: fewest baseline readings for a score. [readings]
        std_floor: the standard deviation is at least this fraction of |mean| (and 1e-9), so a
            slot that never varied does not make every change infinite. [1]

    Returns:
        ZScores aligned with the input.
    """
    n = len(ts_us)
    nan = np.full(n, np.nan)
    if n == 0:
        return ZScores(nan, nan.copy(), nan.copy())
    step_us = step_s * 1_000_000
    wall = wall_clock_us(ts_us, tz)
    day = wall // US_PER_DAY
    day -= day.min()
    slot = (wall % US_PER_DAY) // step_us
    n_days, n_slots = int(day.max()) + 1, int(US_PER_DAY // step_us) + 1
    ok = ~np.isnan(value)
    grid_sum = np.zeros((n_days + 1, n_slots))
    grid_sq = np.zeros((n_days + 1, n_slots))
    grid_n = np.zeros((n_days + 1, n_slots))
    # row d + 1 holds day d; a slot read twice in a day (fall-back) counts both readings
    np.add.at(grid_sum, (day[ok] + 1, slot[ok]), value[ok])
    np.add.at(grid_sq, (day[ok] + 1, slot[ok]), value[ok] ** 2)
    np.add.at(grid_n, (day[ok] + 1, slot[ok]), 1.0)
    c_sum, c_sq, c_n = (np.cumsum(g, axis=0) for g in (grid_sum, grid_sq, grid_n))
    # baseline of day d: days d - baseline_days .. d - 1, i.e. prefix rows d and max(d - B, 0)
    hi = day
    lo = np.maximum(day - baseline_days, 0)
    s = c_sum[hi, slot] - c_sum[lo, slot]
    sq = c_sq[hi, slot] - c_sq[lo, slot]
    cnt = c_n[hi, slot] - c_n[lo, slot]
    enough = cnt >= max(min_baseline, 2)
    mean = np.divide(s, cnt, out=nan.copy(), where=enough)
    var = np.divide(sq - cnt * mean**2, cnt - 1, out=nan.copy(), where=enough)
    std = np.sqrt(np.clip(var, 0.0, None))
    std = np.where(enough, np.maximum(std, np.maximum(std_floor * np.abs(mean), 1e-9)), np.nan)
    score = np.where(enough & ok, (value - mean) / std, np.nan)
    return ZScores(score, mean, std)

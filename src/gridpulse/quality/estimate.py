"""Estimation of missing intervals, as meter-data management does it: linear interpolation across
short gaps, a like-day profile across long ones.

Pure functions on numpy arrays: they say which instants to estimate and with what value; the job
writes them through the single writer with quality ESTIMATED, where the write path drops any
estimate for an interval that holds an actual or edited read (store/prepare.py and the store's
late-row comparison) and replaces an estimate by a read that arrives later, as a new version.
Only gaps with a read on both sides are estimated: the stretch after the newest read is data
that has not arrived yet (the stale rule's business), not a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridpulse.analytics.frames import F64, I64
from gridpulse.analytics.periods import US_PER_DAY, wall_clock_us
from gridpulse.quality.checks import SeriesReads

__all__ = ["Estimates", "estimate_gaps"]

_WEEK_US = 7 * US_PER_DAY


@dataclass(frozen=True)
class Estimates:
    """Estimated values for missing intervals of one series.

    Attributes:
        ts_us: the intervals' UTC start instants, sorted. [µs since 1970]
        value: the estimates. [series unit]
        method: per estimate, "linear" or "profile".
        unestimated: missing intervals left as they are (a long gap with no like-day history).
    """

    ts_us: I64
    value: F64
    method: npt.NDArray[np.str_]
    unestimated: int = 0


def estimate_gaps(
    reads: SeriesReads,
    *,
    interval_s: int,
    tz: str,
    start_us: int,
    end_us: int,
    linear_max_intervals: int = 4,
    profile_weeks: int = 4,
) -> Estimates:
    """Estimates for the grid intervals in [start_us, end_us) without an actual or edited read.

    A gap (missing intervals in a row) of at most `linear_max_intervals` is interpolated linearly
    between the reads on either side. A longer gap takes, for each interval, the mean of the reads
    at the same local wall-clock time on the same weekday in the `profile_weeks` weeks before (the
    like-day profile, so a Monday morning is estimated from Monday mornings, on the local clock
    across DST changes); where none of those weeks has a read, the interval is left unestimated.
    Intervals already holding an estimate are estimated again (the write path stores a changed
    estimate as a new version and drops an identical one).

    Args:
        reads: the series' points, sorted, from at least profile_weeks weeks before start_us
            (the profile's history) to after end_us when there is a read after the gap.
        interval_s: the series' interval. [s]
        tz: IANA zone of the series' wall clock.
        start_us, end_us: the range whose gaps are estimated. [µs since 1970]
        linear_max_intervals: longest gap interpolated linearly. [intervals]
        profile_weeks: weeks of like-day history for longer gaps. [weeks]

    Returns:
        The estimates, sorted by instant.
    """
    iv = interval_s * 1_000_000
    empty = Estimates(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, "<U7"))
    ok = reads.is_read & (reads.ts_us % iv == 0)
    ts, value = reads.ts_us[ok], reads.value[ok]
    if len(ts) < 2:
        return empty
    # gaps between consecutive reads, only where both reads bound intervals in the range
    step = np.diff(ts) // iv
    gap = np.flatnonzero(step > 1)
    if gap.size == 0:
        return empty
    left, right, n_missing = ts[gap], ts[gap + 1], step[gap] - 1
    keep = (right > start_us) & (left + iv < end_us)
    gap, left, right, n_missing = gap[keep], left[keep], right[keep], n_missing[keep]
    if gap.size == 0:
        return empty
    # every missing instant, with the gap it belongs to
    owner = np.repeat(np.arange(gap.size), n_missing)
    offset = np.arange(int(n_missing.sum())) - np.repeat(np.cumsum(n_missing) - n_missing, n_missing) + 1
    at = left[owner] + offset * iv
    inside = (at >= start_us) & (at < end_us)
    linear = n_missing[owner] <= linear_max_intervals
    est = np.full(len(at), np.nan)
    # linear: between the bounding reads, by position in the gap
    frac = offset / (n_missing[owner] + 1)
    v_left, v_right = value[gap][owner], value[gap + 1][owner]
    est[linear] = (v_left + frac * (v_right - v_left))[linear]
    long_ = ~linear & inside
    if long_.any():
        est[long_] = _like_day(ts, value, at[long_], tz, profile_weeks)
    method = np.where(linear, "linear", "profile")
    chosen = inside & ~np.isnan(est)
    return Estimates(
        ts_us=at[chosen].astype(np.int64),
        value=est[chosen],
        method=method[chosen],
        unestimated=int(np.count_nonzero(inside & np.isnan(est))),
    )


def _like_day(ts_us: I64, value: F64, targets_us: I64, tz: str, weeks: int) -> F64:
    """Mean of the reads at the same local wall-clock time 1..weeks weeks before each target;
    NaN where there is none."""
    wall = wall_clock_us(ts_us, tz)
    order = np.argsort(wall, kind="stable")
    wall_sorted, value_sorted = wall[order], value[order]
    target_wall = wall_clock_us(targets_us, tz)
    total = np.zeros(len(targets_us))
    count = np.zeros(len(targets_us))
    for k in range(1, weeks + 1):
        want = target_wall - k * _WEEK_US
        i = np.searchsorted(wall_sorted, want)
        i_ok = np.minimum(i, len(wall_sorted) - 1)
        hit = (i < len(wall_sorted)) & (wall_sorted[i_ok] == want)
        total[hit] += value_sorted[i_ok[hit]]
        count[hit] += 1
    out: F64 = np.divide(total, count, out=np.full(len(targets_us), np.nan), where=count > 0)
    return out

"""Validation of one series' readings per local day: the rules of RULES, each pass or fail with a count.

Pure functions on numpy arrays (the job reads the store and writes the results). Instants are
int64 µs since 1970-01-01 UTC; a local day is the series' calendar day in its zone, so a
15-minute series expects 92 intervals on a spring-forward day, 100 on a fall-back day and 96
otherwise. Only actual and edited reads count as reads: an estimate fills a gap for the people
who use the data, but the interval is still one the meter did not deliver, so missing_intervals
keeps failing after estimation (its detail says how many were estimated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from gridpulse.analytics.frames import F64, I64, Mask, grid_count
from gridpulse.analytics.periods import local_midnights_us
from gridpulse.model import Quality, ValidationResult
from gridpulse.quality.rules import RULES, RuleSettings
from gridpulse.timeutil import zone

__all__ = ["MAD_TO_SIGMA", "SeriesReads", "conflicting_ts", "side_medians", "spikes", "validate_series"]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: 1.4826 x MAD estimates the standard deviation of normally distributed values
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class SeriesReads:
    """One series' points over the checked days and some context before them, sorted by ts.

    Attributes:
        ts_us: UTC instants of the points. [µs since 1970]
        value: their values, NaN where the stored value is null. [series unit]
        quality: Quality of each point (0 actual, 1 estimated, 2 edited).
    """

    ts_us: I64
    value: F64
    quality: npt.NDArray[np.int8]

    @property
    def is_read(self) -> Mask:
        """Points that are reads with a value (actual or edited, not estimated, not null)."""
        out: Mask = (self.quality != int(Quality.ESTIMATED)) & ~np.isnan(self.value)
        return out


def _utc(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _duration(us: int) -> str:
    minutes = int(us // 60_000_000)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def conflicting_ts(
    reads: SeriesReads, superseded_ts_us: I64, superseded_quality: npt.NDArray[np.int8]
) -> I64:
    """Instants whose actual read was replaced by a different actual read (a conflicting duplicate).

    A stored point replaced by a new version keeps the old one in its history. An edit, an
    estimate replaced by a read, or a read replaced by an edit is not a conflict: both the old
    and the current version must be actual reads.

    Args:
        reads: the current points.
        superseded_ts_us: instants of superseded versions (any order, repeats allowed). [µs]
        superseded_quality: their Quality.

    Returns:
        The distinct instants, sorted. [µs]
    """
    old_actual = np.unique(superseded_ts_us[superseded_quality == int(Quality.ACTUAL)])
    now_actual = reads.ts_us[reads.quality == int(Quality.ACTUAL)]
    out: I64 = old_actual[np.isin(old_actual, now_actual)]
    return out


def side_medians(grid: F64, window: int) -> tuple[F64, F64]:
    """The median of the `window` grid cells before each cell and of the `window` cells after it
    (the cell itself left out of both); NaN where a side has no value.

    Args:
        grid: values on a regular grid, NaN where there is none. [any unit]
        window: cells on each side. [cells]
    """
    n = len(grid)
    pad = np.full(window, np.nan)
    padded = np.concatenate([pad, grid, pad])
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    before, after = view[:n], view[window + 1 : window + 1 + n]
    out = []
    for side in (before, after):
        med = np.full(n, np.nan)
        some = (~np.isnan(side)).any(axis=1)
        if some.any():
            med[some] = np.nanmedian(side[some], axis=1)
        out.append(med)
    return out[0], out[1]


class _Days:
    """The checked local days: their bounds, and tallies of flagged instants per day."""

    def __init__(self, first_day: date, last_day: date, tz: str) -> None:
        zone(tz)
        self.first_day = first_day
        epoch_days = np.arange(
            first_day.toordinal() - _EPOCH_ORDINAL, last_day.toordinal() - _EPOCH_ORDINAL + 2, dtype=np.int64
        )
        self.bounds: I64 = local_midnights_us(epoch_days, tz)
        self.n = len(epoch_days) - 1

    def day(self, i: int) -> date:
        return date.fromordinal(self.first_day.toordinal() + i)

    def index(self, ts_us: I64) -> I64:
        """Day index of each instant; -1 or n outside the days."""
        out: I64 = np.searchsorted(self.bounds, ts_us, side="right") - 1
        return out

    def inside(self, ts_us: I64) -> Mask:
        out: Mask = (ts_us >= self.bounds[0]) & (ts_us < self.bounds[-1])
        return out

    def tally(self, flagged_us: I64) -> tuple[I64, I64]:
        """(count, first instant) of the flagged instants per day; first is -1 where none."""
        flagged_us = flagged_us[self.inside(flagged_us)]
        idx = self.index(flagged_us)
        counts = np.bincount(idx, minlength=self.n).astype(np.int64)
        first = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, idx, flagged_us)
        first[counts == 0] = -1
        return counts, first


def validate_series(
    series_id: int,
    reads: SeriesReads,
    *,
    interval_s: int | None,
    tz: str,
    first_day: date,
    last_day: date,
    now_us: int,
    newest_us: int | None,
    rules: RuleSettings,
    conflicts_us: I64 | None = None,
) -> list[ValidationResult]:
    """Every rule's result for each local day from first_day to last_day (both included).

    The points may start before first_day: that context lets a flat line or a spike at midnight
    be judged with its neighbours, and the series' first read in it marks where the series
    starts (intervals before it are not expected). A series with no read in the points but an
    older newest read (`newest_us`) has been silent: all its intervals are missing.

    Rules that need the interval (missing_intervals, off_grid) are left out when it is unknown;
    high_low only when limits are set; stale only for the day holding `now_us`. Intervals
    younger than `rules.stale_after_s` are not yet expected (that lag is the stale rule's).

    Args:
        series_id: the series, copied into the results.
        reads: its points, sorted by ts.
        interval_s: the series' nominal interval, None when unknown. [s]
        tz: IANA zone of its local days.
        first_day, last_day: local dates checked.
        now_us: the current instant. [µs since 1970]
        newest_us: its newest stored point of any age (store.latest), None when it has none. [µs]
        rules: thresholds.
        conflicts_us: instants with conflicting duplicate reads (conflicting_ts); None skips the rule.

    Returns:
        One ValidationResult per applicable rule and day, in RULES order per day.

    Raises:
        QueryError: an unknown zone.
    """
    days = _Days(first_day, last_day, tz)
    iv = interval_s * 1_000_000 if interval_s else None
    ts, value = reads.ts_us, reads.value
    is_read = reads.is_read
    out: dict[str, list[tuple[int, int, str, int | None]]] = {}

    def put(
        rule: str, counts: I64, first: I64, detail: Callable[[int], str], expected: I64 | None = None
    ) -> None:
        out[rule] = [
            (int(counts[d]), int(first[d]), detail(d), None if expected is None else int(expected[d]))
            for d in range(days.n)
        ]

    # --- missing_intervals
    if iv and "missing_intervals" not in rules.skip and (len(ts) or newest_us is not None):
        full = grid_count(days.bounds[:-1], days.bounds[1:], iv)
        since = int(ts[0]) if len(ts) and ts[0] >= days.bounds[0] else int(days.bounds[0])
        until = min(int(days.bounds[-1]), now_us - rules.stale_after_s * 1_000_000)
        first_grid = -(-since // iv) * iv
        grid = np.arange(first_grid, max(until, first_grid), iv, dtype=np.int64)
        have = ts[is_read]
        missing = grid[~np.isin(grid, have)]
        counts, first = days.tally(missing)
        estimated, _ = days.tally(ts[(reads.quality == int(Quality.ESTIMATED)) & np.isin(ts, missing)])
        lo = np.clip(days.bounds[:-1], since, None)
        hi = np.clip(days.bounds[1:], None, until)
        due = grid_count(lo, hi, iv)
        gap_starts = np.r_[True, np.diff(missing) != iv] if len(missing) else np.zeros(0, bool)
        runs = np.diff(np.r_[np.flatnonzero(gap_starts), len(missing)])
        longest_by_day = np.zeros(days.n, np.int64)
        if len(runs):
            run_day = days.index(missing[gap_starts])
            ok = (run_day >= 0) & (run_day < days.n)
            np.maximum.at(longest_by_day, run_day[ok], runs[ok])

        def missing_detail(d: int) -> str:
            if due[d] == 0:
                return "no interval due yet" if full[d] else "no interval this day"
            text = f"{counts[d]} of {due[d]} intervals due without an actual read"
            if estimated[d]:
                text += f" ({estimated[d]} estimated)"
            if counts[d]:
                text += f"; longest gap {_duration(int(longest_by_day[d]) * iv)}"
            return text

        put("missing_intervals", counts, first, missing_detail, full)

    # --- off_grid
    if iv and "off_grid" not in rules.skip:
        counts, first = days.tally(ts[ts % iv != 0])
        put(
            "off_grid",
            counts,
            first,
            lambda d: f"{counts[d]} timestamps off the {_duration(iv)} grid" if counts[d] else "",
        )

    # --- duplicate_conflict
    if conflicts_us is not None and "duplicate_conflict" not in rules.skip:
        c_counts, c_first = days.tally(np.unique(conflicts_us))
        put(
            "duplicate_conflict",
            c_counts,
            c_first,
            lambda d: f"{c_counts[d]} intervals read again with another value" if c_counts[d] else "",
        )

    # --- negative
    if "negative" not in rules.skip:
        if rules.allow_negative:
            zeros = np.zeros(days.n, np.int64)
            put("negative", zeros, zeros - 1, lambda d: "negative values are allowed for this series")
        else:
            neg = is_read & (value < 0)
            n_counts, n_first = days.tally(ts[neg])
            lowest = _per_day_extreme(days, ts[neg], value[neg], np.minimum)
            put(
                "negative",
                n_counts,
                n_first,
                lambda d: f"{n_counts[d]} reads below zero, lowest {lowest[d]:.6g}" if n_counts[d] else "",
            )

    # --- high_low
    if (rules.min_value is not None or rules.max_value is not None) and "high_low" not in rules.skip:
        lo_v = -np.inf if rules.min_value is None else rules.min_value
        hi_v = np.inf if rules.max_value is None else rules.max_value
        bad = is_read & ((value < lo_v) | (value > hi_v))
        h_counts, h_first = days.tally(ts[bad])
        limits = f"limits {rules.min_value if rules.min_value is not None else '-'}..{rules.max_value if rules.max_value is not None else '-'}"
        put(
            "high_low",
            h_counts,
            h_first,
            lambda d: f"{h_counts[d]} reads outside {limits}" if h_counts[d] else limits,
        )

    # --- flat_line
    if "flat_line" not in rules.skip:
        f_ts, longest = _flat_lines(ts[is_read], value[is_read], iv, rules)
        f_counts, f_first = days.tally(f_ts)
        f_long = _per_day_extreme(days, f_ts, longest.astype(np.float64), np.maximum)
        put(
            "flat_line",
            f_counts,
            f_first,
            lambda d: (
                f"{f_counts[d]} intervals in flat lines, longest {int(f_long[d])} identical reads"
                if f_counts[d]
                else ""
            ),
        )

    # --- spike
    if "spike" not in rules.skip:
        s_ts, s_score = spikes(
            ts[is_read], value[is_read], iv, window=rules.spike_window, threshold=rules.spike_score
        )
        s_counts, s_first = days.tally(s_ts)
        s_top = _per_day_extreme(days, s_ts, np.abs(s_score), np.maximum)
        put(
            "spike",
            s_counts,
            s_first,
            lambda d: (
                f"{s_counts[d]} spikes, highest score {s_top[d]:.1f} (limit {rules.spike_score:g})"
                if s_counts[d]
                else ""
            ),
        )

    # --- stale: only today's result says anything about now
    results: list[ValidationResult] = []
    today = int(days.index(np.array([now_us], np.int64))[0])
    if newest_us is not None and 0 <= today < days.n and "stale" not in rules.skip:
        age = now_us - newest_us
        late = age > rules.stale_after_s * 1_000_000
        behind = int(age // iv) if (late and iv) else int(late)
        stale_detail = f"newest read {_utc(newest_us).isoformat()} ({_duration(max(age, 0))} old; limit {_duration(rules.stale_after_s * 1_000_000)})"
        out["stale"] = [(0, -1, "", None)] * days.n
        out["stale"][today] = (behind, newest_us if late else -1, stale_detail, None)

    for d in range(days.n):
        for rule in RULES:
            if rule not in out or (rule == "stale" and d != today):
                continue
            count, first_us, detail, expected = out[rule][d]
            results.append(
                ValidationResult(
                    series_id=series_id,
                    day=days.day(d),
                    rule=rule,
                    status="fail" if count else "pass",
                    count=count,
                    expected=expected,
                    first_ts=_utc(first_us) if first_us >= 0 else None,
                    detail=detail,
                )
            )
    return results


def _per_day_extreme(days: _Days, ts_us: I64, values: F64, fn: np.ufunc) -> F64:
    """The extreme (fn = np.minimum or np.maximum) of `values` per day; NaN where none."""
    init = np.inf if fn is np.minimum else -np.inf
    out = np.full(days.n, init)
    inside = days.inside(ts_us)
    fn.at(out, days.index(ts_us[inside]), values[inside])
    out[np.isinf(out)] = np.nan
    return out


def _flat_lines(ts_us: I64, value: F64, iv: int | None, rules: RuleSettings) -> tuple[I64, I64]:
    """Instants in runs of identical consecutive reads at least flat_line_intervals long, and
    the length of the run each belongs to. Reads are consecutive when one interval apart (any
    spacing when the interval is unknown); runs of zeros count only with flat_line_zero."""
    if len(ts_us) < 2:
        return ts_us[:0], ts_us[:0]
    same = value[1:] == value[:-1]
    if iv:
        same &= np.diff(ts_us) == iv
    # run id per read: a new run wherever a read is not the same as the one before
    new_run = np.r_[True, ~same]
    run_id = np.cumsum(new_run) - 1
    lengths = np.bincount(run_id)
    length = lengths[run_id]
    flat = length >= rules.flat_line_intervals
    if not rules.flat_line_zero:
        flat &= value != 0
    return ts_us[flat], length[flat].astype(np.int64)


def spikes(ts_us: I64, value: F64, iv: int | None, *, window: int, threshold: float) -> tuple[I64, F64]:
    """Reads far from their neighbours on both sides: the instants and their robust scores.

    Each read is compared with the median of the `window` reads before it and with the median of
    the `window` reads after it, on the interval grid; its excursion is the smaller of the two
    differences when both have the same sign, else none (a step up or down differs from one side
    only, so a level change is not a spike, and neither is a ramp). The score is the excursion
    over a robust spread: 1.4826 x the median absolute deviation of the excursions of the reads
    that stand out on both sides (the others are zero by construction and would shrink it), but
    at least 1 % of the 99th percentile of |value| (a series flat at night has a MAD of zero).

    Args:
        ts_us: instants of the reads, sorted. [µs]
        value: the reads. [series unit]
        iv: the interval, None when unknown (the reads are then taken as consecutive). [µs]
        window: reads on each side; an excursion longer than this is no spike. [intervals]
        threshold: |score| above which a read is a spike. [scaled MADs]

    Returns:
        (instants, scores) of the spikes; positive scores above the neighbours, negative below.
    """
    if len(ts_us) < 3:
        return ts_us[:0], value[:0]
    if iv:
        on = ts_us % iv == 0
        ts_us, value = ts_us[on], value[on]
        if len(ts_us) < 3:
            return ts_us[:0], value[:0]
        slot = (ts_us - ts_us[0]) // iv
        grid = np.full(int(slot[-1]) + 1, np.nan)
        grid[slot] = value
    else:
        slot = np.arange(len(ts_us))
        grid = value.copy()
    before, after = side_medians(grid, window)
    d_before, d_after = value - before[slot], value - after[slot]
    known = ~(np.isnan(d_before) | np.isnan(d_after))
    same_sign = known & (np.sign(d_before) == np.sign(d_after))
    excursion = np.where(same_sign, np.sign(d_before) * np.minimum(np.abs(d_before), np.abs(d_after)), 0.0)
    if not known.any():
        return ts_us[:0], value[:0]
    r = excursion[same_sign]
    if r.size == 0:
        return ts_us[:0], value[:0]
    mad = float(np.median(np.abs(r)))
    floor = 0.01 * float(np.percentile(np.abs(value), 99))
    scale = max(MAD_TO_SIGMA * mad, floor, 1e-12)
    score = excursion / scale
    hit = np.abs(score) > threshold
    return ts_us[hit], score[hit]

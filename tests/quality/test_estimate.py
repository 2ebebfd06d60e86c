"""Estimation of missing intervals: linear across short gaps, like-day profile across long ones,
nothing where no read closes the gap; and through the store, never over a read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from gridpulse.analytics.periods import wall_clock_us
from gridpulse.config import Settings
from gridpulse.jobs.quality import check_series, estimate_series
from gridpulse.model import Quality
from gridpulse.quality import SeriesReads, estimate_gaps
from gridpulse.store.base import ReadingsQuery, Store
from tests.quality.points import grid, write

US = 1_000_000
Q15 = 900 * US
DAY = 86_400 * US
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _reads(ts: np.ndarray, value: np.ndarray) -> SeriesReads:
    return SeriesReads(ts.astype(np.int64), value.astype(np.float64), np.zeros(len(ts), np.int8))


def test_a_short_gap_is_interpolated_linearly_between_the_reads_either_side() -> None:
    ts = np.arange(10, dtype=np.int64) * Q15
    value = np.arange(10, dtype=np.float64) * 2.0  # 0, 2, 4, ...
    keep = np.ones(10, bool)
    keep[[3, 4, 5]] = False
    est = estimate_gaps(
        _reads(ts[keep], value[keep]), interval_s=900, tz="UTC", start_us=0, end_us=int(ts[-1]) + Q15
    )
    assert est.ts_us.tolist() == ts[[3, 4, 5]].tolist()
    # reads 4.0 at ts[2] and 12.0 at ts[6]: 6, 8, 10
    assert est.value.tolist() == pytest.approx([6.0, 8.0, 10.0])
    assert est.method.tolist() == ["linear"] * 3


def test_a_long_gap_takes_the_like_day_profile_of_the_weeks_before() -> None:
    n = 96 * 7 * 3  # three weeks of quarter-hours
    ts = np.arange(n, dtype=np.int64) * Q15 + _us(T0)
    slot = np.arange(n) % 96
    week = np.arange(n) // (96 * 7)
    value = slot.astype(np.float64) + 100 * week  # week 0: slot, week 1: slot + 100, week 2: slot + 200
    keep = np.ones(n, bool)
    gap = slice(96 * 14 + 40, 96 * 14 + 60)  # 20 intervals on the Monday of week 2
    keep[gap] = False
    est = estimate_gaps(
        _reads(ts[keep], value[keep]),
        interval_s=900,
        tz="UTC",
        start_us=int(ts[96 * 14]),
        end_us=int(ts[-1]),
        linear_max_intervals=4,
        profile_weeks=2,
    )
    assert est.ts_us.tolist() == ts[gap].tolist()
    # mean of the same slot one and two weeks before: (slot + 100 + slot + 0) / 2
    assert est.value.tolist() == pytest.approx((np.arange(40, 60) + 50.0).tolist())
    assert set(est.method.tolist()) == {"profile"}


def test_a_long_gap_without_history_is_left_unestimated() -> None:
    ts = np.arange(100, dtype=np.int64) * Q15
    keep = np.ones(100, bool)
    keep[20:40] = False
    est = estimate_gaps(
        _reads(ts[keep], np.ones(100)[keep]), interval_s=900, tz="UTC", start_us=0, end_us=100 * Q15
    )
    assert (len(est.ts_us), est.unestimated) == (0, 20)


def test_the_stretch_after_the_newest_read_is_not_a_gap() -> None:
    ts = np.arange(10, dtype=np.int64) * Q15
    est = estimate_gaps(_reads(ts, np.ones(10)), interval_s=900, tz="UTC", start_us=0, end_us=50 * Q15)
    assert len(est.ts_us) == 0 and est.unestimated == 0


def test_only_gap_intervals_inside_the_range_are_estimated() -> None:
    ts = np.arange(10, dtype=np.int64) * Q15
    keep = np.ones(10, bool)
    keep[[2, 3, 4]] = False
    est = estimate_gaps(
        _reads(ts[keep], ts[keep] / Q15), interval_s=900, tz="UTC", start_us=int(ts[3]), end_us=int(ts[9])
    )
    assert est.ts_us.tolist() == ts[[3, 4]].tolist()


def test_like_day_follows_the_local_clock_across_a_dst_change() -> None:
    # Europe/Amsterdam springs forward on Sunday 31 March 2024: the Monday after is a week from
    # Monday 25 March on the local clock, one hour less on the UTC clock
    tz = "Europe/Amsterdam"
    start = _us(datetime(2024, 3, 24, 23, tzinfo=UTC))  # local midnight, Monday 25 March
    n = 96 * 8 - 4  # to local midnight after Monday 1 April (a 23-hour day in between)
    ts = start + np.arange(n, dtype=np.int64) * Q15
    wall = wall_clock_us(ts, tz)
    value = ((wall // Q15) % 96).astype(np.float64)  # the local quarter-hour of the day
    keep = np.ones(n, bool)
    monday = _us(datetime(2024, 3, 31, 22, tzinfo=UTC))  # local midnight, Monday 1 April
    first = int(np.searchsorted(ts, monday + 8 * 3600 * US))
    keep[first : first + 8] = False  # local 08:00-10:00
    est = estimate_gaps(
        _reads(ts[keep], value[keep]),
        interval_s=900,
        tz=tz,
        start_us=monday,
        end_us=monday + DAY,
        linear_max_intervals=4,
        profile_weeks=1,
    )
    assert est.value.tolist() == pytest.approx(list(range(32, 40)))


def test_estimation_through_the_store_fills_gaps_and_never_touches_a_read(
    store: Store, settings: Settings
) -> None:
    ts = grid(T0, 96)
    values = [float(i) for i in range(96)]
    keep = [i for i in range(96) if i not in (10, 11, 50)]
    write(store, "m-1", [ts[i] for i in keep], [values[i] for i in keep])
    # an actual null read at 50 must stay as it is
    write(store, "m-1", [ts[50]], [None])
    (s,) = store.list_series()
    now = T0 + timedelta(days=2)
    report = estimate_series(
        store,
        settings,
        [s],
        lambda req: store.write_group([req])[0],
        first_day=date(2024, 1, 1),
        last_day=date(2024, 1, 1),
        now=now,
    )
    assert report.estimated == 2 and report.methods == {"linear": 3} and report.unchanged == 1
    rows = store.read(ReadingsQuery(s.series_id)).to_pylist()
    by_ts = {r["ts"]: r for r in rows}
    assert [(by_ts[ts[i]]["value"], by_ts[ts[i]]["quality"]) for i in (10, 11)] == [
        (10.0, int(Quality.ESTIMATED)),
        (11.0, int(Quality.ESTIMATED)),
    ]
    assert (by_ts[ts[50]]["value"], by_ts[ts[50]]["quality"]) == (None, int(Quality.ACTUAL))
    assert all(r["quality"] == 0 for r in rows if r["ts"] not in (ts[10], ts[11]))
    # run again: the same estimates change nothing
    again = estimate_series(
        store,
        settings,
        [s],
        lambda req: store.write_group([req])[0],
        first_day=date(2024, 1, 1),
        last_day=date(2024, 1, 1),
        now=now,
    )
    assert (again.estimated, again.unchanged) == (0, 3)
    # and the day still fails missing_intervals, saying two were estimated
    check = check_series(store, settings, [s], first_day=date(2024, 1, 1), last_day=date(2024, 1, 1), now=now)
    (missing,) = [r for r in check.results if r.rule == "missing_intervals"]
    assert (missing.count, missing.status) == (3, "fail") and "(2 estimated)" in missing.detail

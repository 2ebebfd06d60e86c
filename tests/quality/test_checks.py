"""Each validation rule on data with known faults, with hand-worked counts; local days across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from gridpulse.model import Quality, ValidationResult
from gridpulse.quality import RULES, RuleSettings, SeriesReads, conflicting_ts, spikes, validate_series

US = 1_000_000
Q15 = 900 * US


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _reads(ts: np.ndarray, value: np.ndarray, quality: np.ndarray | None = None) -> SeriesReads:
    q = np.zeros(len(ts), np.int8) if quality is None else quality.astype(np.int8)
    return SeriesReads(ts.astype(np.int64), value.astype(np.float64), q)


def _smooth(n: int, seed: int = 0) -> np.ndarray:
    """A load-like series: a daily wave plus a little noise, never flat, never negative."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 10 + 3 * np.sin(2 * np.pi * i / 96) + rng.normal(0, 0.2, n)


def _by(results: list[ValidationResult]) -> dict[tuple[str, str], ValidationResult]:
    return {(r.day.isoformat(), r.rule): r for r in results}


def _run(
    reads: SeriesReads,
    first: date,
    last: date,
    *,
    tz: str = "UTC",
    now: datetime | None = None,
    rules: RuleSettings | None = None,
    interval_s: int | None = 900,
    **kw: object,
) -> dict[tuple[str, str], ValidationResult]:
    now = now or datetime(2030, 1, 1, tzinfo=UTC)
    newest = int(reads.ts_us[-1]) if len(reads.ts_us) else None
    return _by(
        validate_series(
            7,
            reads,
            interval_s=interval_s,
            tz=tz,
            first_day=first,
            last_day=last,
            now_us=_us(now),
            newest_us=kw.get("newest_us", newest),
            rules=rules or RuleSettings(stale_after_s=0),  # type: ignore[arg-type]
            conflicts_us=kw.get("conflicts_us"),  # type: ignore[arg-type]
        )
    )


def test_a_clean_day_passes_every_rule() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    got = _run(
        _reads(ts, _smooth(96)), date(2024, 1, 10), date(2024, 1, 10), conflicts_us=np.zeros(0, np.int64)
    )
    assert {rule for _, rule in got} == set(RULES) - {"high_low", "stale"}
    assert all(r.status == "pass" and r.count == 0 for r in got.values())
    assert got[("2024-01-10", "missing_intervals")].expected == 96


def test_missing_intervals_counts_the_grid_instants_without_a_read() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    keep = np.ones(96, bool)
    keep[[5, 6, 7, 40]] = False  # a 45-minute gap and a single missing interval
    r = _run(_reads(ts[keep], _smooth(96)[keep]), date(2024, 1, 10), date(2024, 1, 10))[
        ("2024-01-10", "missing_intervals")
    ]
    assert (r.status, r.count, r.expected) == ("fail", 4, 96)
    assert r.first_ts == datetime(2024, 1, 10, 1, 15, tzinfo=UTC)
    assert "longest gap 45 min" in r.detail


def test_an_estimated_interval_is_still_missing_and_said_to_be_estimated() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    q = np.zeros(96, np.int8)
    q[[10, 11]] = int(Quality.ESTIMATED)
    r = _run(_reads(ts, _smooth(96), q), date(2024, 1, 10), date(2024, 1, 10))[
        ("2024-01-10", "missing_intervals")
    ]
    assert (r.status, r.count) == ("fail", 2)
    assert "(2 estimated)" in r.detail


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2024, 3, 31), 92), (date(2024, 10, 27), 100), (date(2024, 6, 1), 96)],
)
def test_a_local_day_expects_92_96_or_100_quarter_hours_across_dst(day: date, expected: int) -> None:
    # Europe/Amsterdam: 31 March 2024 has 23 hours, 27 October 2024 has 25
    tz = "Europe/Amsterdam"
    start = _us(datetime(day.year, day.month, day.day, tzinfo=UTC)) - 3 * 3600 * US
    ts = start + np.arange(30 * 4 * 4) * Q15  # from 3 h before UTC midnight, 30 h
    value = _smooth(len(ts))
    got = _run(_reads(ts, value), day, day, tz=tz)
    r = got[(day.isoformat(), "missing_intervals")]
    assert (r.expected, r.count, r.status) == (expected, 0, "pass")
    # drop the first local hour: 4 missing, first at local midnight
    local_midnight = (
        _us(datetime(day.year, day.month, day.day, tzinfo=UTC))
        - (2 if 4 <= day.month <= 9 else 1) * 3600 * US
    )
    if day == date(2024, 3, 31):
        local_midnight = _us(datetime(2024, 3, 30, 23, tzinfo=UTC))
    if day == date(2024, 10, 27):
        local_midnight = _us(datetime(2024, 10, 26, 22, tzinfo=UTC))
    keep = (ts < local_midnight) | (ts >= local_midnight + 3600 * US)
    r = _run(_reads(ts[keep], value[keep]), day, day, tz=tz)[(day.isoformat(), "missing_intervals")]
    assert (r.count, r.first_ts) == (4, datetime.fromtimestamp(local_midnight / US, UTC))


def test_intervals_younger_than_the_staleness_limit_are_not_yet_missing() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(40) * Q15  # reads up to 09:45
    now = datetime(2024, 1, 10, 11, 20, tzinfo=UTC)
    got = _run(
        _reads(ts, _smooth(40)),
        date(2024, 1, 10),
        date(2024, 1, 10),
        now=now,
        rules=RuleSettings(stale_after_s=3600),
    )
    missing = got[("2024-01-10", "missing_intervals")]
    # due: intervals starting before now - 1 h = 10:20, i.e. up to 10:15; 10:00 and 10:15 have no read
    assert (missing.count, missing.detail.split(";")[0]) == (
        2,
        "2 of 42 intervals due without an actual read",
    )
    stale = got[("2024-01-10", "stale")]
    assert (stale.status, stale.count) == ("fail", 6)  # newest 09:45 is 95 min old: 6 intervals behind


def test_stale_passes_when_the_newest_read_is_recent_and_is_reported_only_for_today() -> None:
    t0 = _us(datetime(2024, 1, 9, tzinfo=UTC))
    ts = t0 + np.arange(96 + 40) * Q15
    now = datetime(2024, 1, 10, 10, 0, tzinfo=UTC)
    got = _run(
        _reads(ts, _smooth(len(ts))),
        date(2024, 1, 9),
        date(2024, 1, 10),
        now=now,
        rules=RuleSettings(stale_after_s=3600),
    )
    assert got[("2024-01-10", "stale")].status == "pass"
    assert ("2024-01-09", "stale") not in got


def test_a_series_silent_since_before_the_days_is_all_missing() -> None:
    empty = _reads(np.zeros(0, np.int64), np.zeros(0))
    newest = _us(datetime(2024, 1, 1, tzinfo=UTC))
    got = _run(empty, date(2024, 1, 10), date(2024, 1, 10), newest_us=newest)
    assert got[("2024-01-10", "missing_intervals")].count == 96


def test_off_grid_counts_timestamps_not_on_the_interval_grid() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    ts[[3, 50]] += 7 * 60 * US  # 00:52 and 12:37
    r = _run(_reads(ts, _smooth(96)), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "off_grid")]
    assert (r.status, r.count) == ("fail", 2)


def test_negative_reads_fail_unless_the_series_allows_them() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[[20, 21]] = [-0.5, -2.0]
    r = _run(_reads(ts, value), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "negative")]
    assert (r.status, r.count) == ("fail", 2)
    assert "lowest -2" in r.detail
    allowed = _run(
        _reads(ts, value),
        date(2024, 1, 10),
        date(2024, 1, 10),
        rules=RuleSettings(stale_after_s=0, allow_negative=True),
    )[("2024-01-10", "negative")]
    assert allowed.status == "pass"


def test_an_estimate_below_zero_is_not_a_negative_read() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[20] = -1.0
    q = np.zeros(96, np.int8)
    q[20] = int(Quality.ESTIMATED)
    assert (
        _run(_reads(ts, value, q), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "negative")].count
        == 0
    )


def test_high_low_counts_reads_outside_the_limits() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[[1, 2, 3]] = [50.0, 0.5, 13.9]
    r = _run(
        _reads(ts, value),
        date(2024, 1, 10),
        date(2024, 1, 10),
        rules=RuleSettings(stale_after_s=0, min_value=1.0, max_value=14.0),
    )[("2024-01-10", "high_low")]
    assert (r.status, r.count) == ("fail", 2)


def test_flat_line_counts_runs_of_identical_consecutive_reads_from_the_limit() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[10:18] = 4.2  # 8 identical: a flat line at the default limit
    value[30:37] = 4.2  # 7 identical: not yet
    value[60:72] = 0.0  # zeros: not a flat line unless flat_line_zero
    got = _run(_reads(ts, value), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "flat_line")]
    assert (got.status, got.count) == ("fail", 8)
    assert "longest 8" in got.detail
    zeros = _run(
        _reads(ts, value),
        date(2024, 1, 10),
        date(2024, 1, 10),
        rules=RuleSettings(stale_after_s=0, flat_line_zero=True),
    )[("2024-01-10", "flat_line")]
    assert zeros.count == 8 + 12


def test_a_gap_breaks_a_flat_line() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[10:20] = 4.2
    keep = np.ones(96, bool)
    keep[15] = False  # 5 + 4 identical reads either side of a gap
    r = _run(_reads(ts[keep], value[keep]), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "flat_line")]
    assert r.count == 0


def test_a_flat_line_across_midnight_counts_on_each_day_its_reads_fall() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(192) * Q15
    value = _smooth(192)
    value[92:100] = 5.5  # 23:00 .. 00:45
    got = _run(_reads(ts, value), date(2024, 1, 10), date(2024, 1, 11))
    assert got[("2024-01-10", "flat_line")].count == 4
    assert got[("2024-01-11", "flat_line")].count == 4


def test_spike_flags_a_single_read_far_above_both_sides_and_not_a_level_shift() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    value = _smooth(96)
    value[30] += 20.0  # a spike
    value[60:] += 8.0  # a level shift: a step, not a spike
    r = _run(_reads(ts, value), date(2024, 1, 10), date(2024, 1, 10))[("2024-01-10", "spike")]
    assert (r.status, r.count) == ("fail", 1)
    assert r.first_ts == datetime(2024, 1, 10, 7, 30, tzinfo=UTC)


def test_spike_scores_a_dip_negative() -> None:
    ts = np.arange(50, dtype=np.int64) * Q15
    value = _smooth(50)
    value[25] -= 9.0
    at, score = spikes(ts, value, Q15, window=4, threshold=8.0)
    assert at.tolist() == [ts[25]] and score[0] < -8


def test_conflicting_duplicates_are_actual_reads_replaced_by_different_actual_reads() -> None:
    ts = np.arange(6, dtype=np.int64) * Q15
    q = np.array([0, 0, 0, 2, 0, 0], np.int8)  # ts[3] is an edit now
    reads = _reads(ts, _smooth(6), q)
    old_ts = np.array([ts[1], ts[1], ts[3], ts[4]], np.int64)
    old_q = np.array([0, 0, 0, 1], np.int8)  # ts[4]: an estimate replaced by a read
    assert conflicting_ts(reads, old_ts, old_q).tolist() == [ts[1]]


def test_duplicate_conflict_counts_per_day() -> None:
    t0 = _us(datetime(2024, 1, 10, tzinfo=UTC))
    ts = t0 + np.arange(96) * Q15
    r = _run(
        _reads(ts, _smooth(96)),
        date(2024, 1, 10),
        date(2024, 1, 10),
        conflicts_us=np.array([ts[4], ts[9]], np.int64),
    )[("2024-01-10", "duplicate_conflict")]
    assert (r.status, r.count, r.first_ts) == ("fail", 2, datetime(2024, 1, 10, 1, tzinfo=UTC))


def test_without_an_interval_the_grid_rules_are_left_out() -> None:
    ts = _us(datetime(2024, 1, 10, tzinfo=UTC)) + np.arange(96) * Q15
    got = _run(_reads(ts, _smooth(96)), date(2024, 1, 10), date(2024, 1, 10), interval_s=None)
    rules = {rule for _, rule in got}
    assert "missing_intervals" not in rules and "off_grid" not in rules and "flat_line" in rules


def test_a_series_alone_gives_the_same_results_for_a_day_as_when_checked_with_more_days() -> None:
    t0 = _us(datetime(2024, 1, 8, tzinfo=UTC))
    ts = t0 + np.arange(96 * 4) * Q15
    value = _smooth(len(ts), seed=3)
    value[200] += 15
    value[250:260] = 2.0
    reads = _reads(ts, value)
    one = _run(reads, date(2024, 1, 10), date(2024, 1, 10))
    many = _run(reads, date(2024, 1, 8), date(2024, 1, 11))
    for key, r in one.items():
        assert (many[key].status, many[key].count) == (r.status, r.count), key

"""Every analytic says how much of each figure rests on estimated values (quality 1).

Each test hands an analytic a small frame whose estimated intervals are known and checks the
exact counts and shares, worked out by hand in the comments, and 0 where none are estimated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from gridpulse.analytics.battery import equivalent_full_cycles, soc_daily, time_below_threshold
from gridpulse.analytics.coverage import coverage
from gridpulse.analytics.demand import load_duration_curve, load_factor, peak_demand_kw
from gridpulse.analytics.energy import consumption_from_register_kwh, energy_from_power_kwh, energy_kwh
from gridpulse.analytics.estimated import reshare
from gridpulse.analytics.feeders import feeder_balance
from gridpulse.analytics.frames import row_estimates
from gridpulse.analytics.generation import generation_summary
from gridpulse.analytics.tariffs import parse_tariffs
from gridpulse.analytics.tou import average_day_profile, tou_energy_cost
from gridpulse.errors import QueryError
from tests.analytics.frames import frame, utc

Q = timedelta(minutes=15)
H = timedelta(hours=1)


def flagged(table: pa.Table, estimated: Sequence[int]) -> pa.Table:
    """The frame with a quality column: 1 (estimated) at the row positions given, else 0."""
    quality = np.zeros(table.num_rows, np.int8)
    quality[list(estimated)] = 1
    return table.append_column("quality", pa.array(quality, pa.int8()))


def column(result: pa.Table, name: str) -> list[object]:
    return result.column(name).to_pylist()


# ------------------------------------------------------------------------------------ frames
def test_row_estimates_read_flags_or_bucket_counts_and_a_frame_without_either_has_none() -> None:
    rows = frame(1, utc(2024, 6, 3), Q, [1.0, 2.0, 3.0])
    assert row_estimates(rows).tolist() == [0, 0, 0]
    assert row_estimates(flagged(rows, [1])).tolist() == [0, 1, 0]
    buckets = rows.append_column("estimated", pa.array([2, None, 0], pa.int64()))
    assert row_estimates(buckets, estimated="estimated").tolist() == [2, 0, 0]
    with pytest.raises(QueryError, match="no column 'estimated'"):
        row_estimates(rows, estimated="estimated")
    with pytest.raises(QueryError, match="not quality flags"):
        row_estimates(rows.append_column("quality", pa.array(["a", "b", "c"])))


def test_reshare_works_the_share_out_from_summed_counts() -> None:
    summed = pa.table({"intervals": [4, 0], "estimated_intervals": [1, 0], "estimated_share": [0.9, 0.9]})
    assert column(reshare(summed), "estimated_share") == [0.25, None]


# ------------------------------------------------------------------------------------ energy
def test_energy_counts_the_estimated_intervals_of_each_period() -> None:
    # two UTC hours of quarter-hours; 01:15 is a null estimate (no value: neither summed nor
    # counted); estimates at 00:15, 00:30 and 01:00 -> hour 0: 2 of 4, hour 1: 1 of 3
    rows = flagged(frame(1, utc(2024, 6, 3), Q, [1.0, 1.0, 1.0, 1.0, 2.0, None, 2.0, 2.0]), [1, 2, 4, 5])
    r = energy_kwh(rows, period="hour", tz="UTC").table
    assert column(r, "intervals") == [4, 3]
    assert column(r, "estimated_intervals") == [2, 1]
    assert column(r, "estimated_share") == [0.5, 1 / 3]
    actual = energy_kwh(flagged(frame(1, utc(2024, 6, 3), Q, [1.0] * 4), []), period="hour", tz="UTC").table
    assert (column(actual, "estimated_intervals"), column(actual, "estimated_share")) == ([0], [0.0])


def test_energy_from_bucket_counts_equals_energy_from_the_intervals() -> None:
    # the store's hourly buckets of the frame above: counts 4 and 3, estimated 2 and 1
    buckets = pa.table(
        {
            "series_id": pa.array([1, 1], pa.int32()),
            "ts": pa.array([utc(2024, 6, 3), utc(2024, 6, 3, 1)], pa.timestamp("us", tz="UTC")),
            "value": [4.0, 6.0],
            "count": pa.array([4, 3], pa.int64()),
            "nulls": pa.array([0, 1], pa.int64()),
            "estimated": pa.array([2, 1], pa.int64()),
        }
    )
    r = energy_kwh(
        buckets, period="hour", tz="UTC", count="count", nulls="nulls", estimated="estimated"
    ).table
    assert column(r, "estimated_intervals") == [2, 1]
    assert column(r, "estimated_share") == [0.5, 1 / 3]


def test_integrated_power_counts_the_time_estimated_samples_hold() -> None:
    # 4 kW samples at 00:00, 00:15, 00:30, 00:45; 00:15 estimated
    rows = flagged(frame(1, utc(2024, 6, 3), Q, [4.0, 4.0, 4.0, 4.0]), [1])
    # interval averages: each sample holds 15 min (the last repeats the spacing): 0.25 of 1 h
    held = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=Q, samples="interval_average")
    assert column(held.table, "covered_h") == [1.0]
    assert column(held.table, "estimated_h") == [0.25]
    assert column(held.table, "estimated_share") == [0.25]
    assert held.units["estimated_h"] == "h"
    # trapezoids: 00:00-00:15 and 00:15-00:30 each have one estimated end (half of 15 min each),
    # 00:30-00:45 none: 15 of 45 minutes
    trap = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=Q, samples="instant")
    assert column(trap.table, "estimated_h") == [0.25]
    assert column(trap.table, "estimated_share") == pytest.approx([1 / 3])


def test_estimated_time_is_split_at_period_boundaries_like_the_energy() -> None:
    # hourly samples at 23:30 (estimated) and 00:30: the first holds 23:30-00:30, half in each day
    rows = flagged(frame(1, utc(2024, 6, 3, 23, 30), H, [2.0, 2.0]), [0])
    r = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=H, samples="interval_average").table
    assert column(r, "covered_h") == [0.5, 1.5]  # the last sample holds the hour before it
    assert column(r, "estimated_h") == [0.5, 0.5]
    assert column(r, "estimated_share") == [1.0, 1 / 3]


def test_a_register_delta_is_estimated_when_either_read_is() -> None:
    rows = flagged(frame(1, utc(2024, 6, 3), Q, [10.0, 11.0, 12.5, 13.0, 14.0]), [2])
    r = consumption_from_register_kwh(rows).table
    assert column(r, "estimated") == [False, True, True, False]


# ------------------------------------------------------------------------------------ demand
def test_a_peak_is_estimated_when_its_window_holds_an_estimate() -> None:
    # day 1: the 30-minute peak window 00:30-01:00 (3 + 3 kWh) holds the estimate at 00:45;
    # day 2: the peak window 00:00-00:30 is actual, an estimate sits in a lower window
    day1 = frame(1, utc(2024, 6, 3), Q, [1.0, 1.0, 3.0, 3.0])
    day2 = frame(1, utc(2024, 6, 4), Q, [3.0, 3.0, 1.0, 1.0])
    rows = flagged(pa.concat_tables([day1, day2]), [3, 6])
    r = peak_demand_kw(rows, window=timedelta(minutes=30), tz="UTC", period="day", interval=Q).table
    assert column(r, "peak_kw") == [12.0, 12.0]
    assert column(r, "peak_estimated") == [True, False]
    lf = load_factor(rows, window=timedelta(minutes=30), tz="UTC", period="day", interval=Q).table
    assert column(lf, "estimated_intervals") == [1, 1]
    assert column(lf, "estimated_share") == [0.25, 0.25]
    assert column(lf, "peak_estimated") == [True, False]


def test_each_load_duration_window_counts_its_estimates() -> None:
    # 30-minute windows 12, 4, 8 kW (from the highest: 12, 8, 4); the 8 kW window holds one
    # estimate of two intervals, the others none
    rows = flagged(frame(1, utc(2024, 6, 3), Q, [3.0, 3.0, 1.0, 1.0, 2.0, 2.0]), [5])
    r = load_duration_curve(rows, window=timedelta(minutes=30), interval=Q).table
    assert column(r, "demand_kw") == [12.0, 8.0, 4.0]
    assert column(r, "estimated_intervals") == [0, 1, 0]
    assert column(r, "estimated_share") == [0.0, 0.5, 0.0]


# -------------------------------------------------------------------------------- generation
def test_generation_counts_estimates_and_flags_an_estimated_peak() -> None:
    # 1 MW plant, hourly MW: day 1 peak 0.8 at 02:00 (estimated), day 2 peak actual
    rows = flagged(
        pa.concat_tables(
            [
                frame(1, utc(2024, 6, 3), H, [0.0, 0.5, 0.8, 0.2]),
                frame(1, utc(2024, 6, 4), H, [0.9, 0.1, 0.0, 0.0]),
            ]
        ),
        [2, 5],
    )
    r = generation_summary(rows, capacity_mw=1.0, period="day", tz="UTC", interval=H).table
    assert column(r, "estimated_intervals") == [1, 1]
    assert column(r, "estimated_share") == [0.25, 0.25]
    assert column(r, "peak_estimated") == [True, False]


# --------------------------------------------------------------------------------- batteries
def test_soc_daily_counts_estimated_samples_and_flags_the_extremes() -> None:
    # 50, 20 (estimated, the minimum), 80, 60 %: the maximum 80 is an actual sample
    rows = flagged(frame(1, utc(2024, 6, 3), H, [50.0, 20.0, 80.0, 60.0]), [1])
    r = soc_daily(rows, tz="UTC").table
    assert column(r, "estimated_samples") == [1]
    assert column(r, "estimated_share") == [0.25]
    assert (column(r, "soc_min_estimated"), column(r, "soc_max_estimated")) == ([True], [False])


def test_cycles_and_time_below_count_the_hours_estimated_samples_hold() -> None:
    # hourly samples, each held one hour (the last repeats the spacing): 4 h covered, 1 estimated
    power = flagged(frame(1, utc(2024, 6, 3), H, [50.0, 50.0, -20.0, 0.0]), [1])
    cycles = equivalent_full_cycles(power, capacity_kwh=100.0, tz="UTC", max_gap=H).table
    assert (column(cycles, "covered_h"), column(cycles, "estimated_h")) == ([4.0], [1.0])
    assert column(cycles, "estimated_share") == [0.25]
    soc = flagged(frame(1, utc(2024, 6, 3), H, [30.0, 10.0, 15.0, 50.0]), [1, 2])
    below = time_below_threshold(soc, threshold_pct=20, tz="UTC", max_gap=H).table
    assert (column(below, "below_h"), column(below, "estimated_h")) == ([2.0], [2.0])
    assert column(below, "estimated_share") == [0.5]


# ---------------------------------------------------------------------------- tariffs, days
NL = parse_tariffs(
    {
        "t": {
            "tz": "Europe/Amsterdam",
            "currency": "EUR",
            "periods": [
                {"name": "peak", "days": "weekday", "hours": "07:00-23:00", "price_per_kwh": 0.32},
                {"name": "offpeak", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.21},
            ],
        }
    }
)["t"]


def test_tou_counts_the_estimated_intervals_priced_in_each_period() -> None:
    # Monday 2024-06-03, 06:00-08:00 Amsterdam (04:00-06:00 UTC): 4 offpeak quarter-hours, then
    # 4 peak; estimates at 06:30 (offpeak) and 07:00, 07:15, 07:45 (peak)
    rows = flagged(frame(1, utc(2024, 6, 3, 4), Q, [1.0] * 8), [2, 4, 5, 7])
    r = tou_energy_cost(rows, tariff=NL).table
    assert column(r, "period") == ["peak", "offpeak"]
    assert column(r, "estimated_intervals") == [3, 1]
    assert column(r, "estimated_share") == [0.75, 0.25]


def test_profile_counts_estimates_over_the_days_averaged() -> None:
    # two Mondays, hourly kWh in UTC: the 00:00 slot is estimated on one of the two days, 01:00 on none
    rows = flagged(
        pa.concat_tables(
            [frame(1, utc(2024, 6, 3), H, [1.0, 2.0]), frame(1, utc(2024, 6, 10), H, [3.0, 2.0])]
        ),
        [2],
    )
    r = average_day_profile(rows, tz="UTC", day_types=["weekday"]).table
    assert column(r, "energy_kwh") == [2.0, 2.0]
    assert column(r, "estimated_intervals") == [1, 0]
    assert column(r, "estimated_share") == [0.5, 0.0]
    # the same from hourly sums of quarter-hours: 4 intervals per bucket, 3 estimated in one
    buckets = rows.drop_columns(["quality"]).append_column("count", pa.array([4, 4, 4, 4], pa.int64()))
    buckets = buckets.append_column("estimated", pa.array([0, 0, 3, 0], pa.int64()))
    summed = average_day_profile(
        buckets, tz="UTC", day_types=["weekday"], count="count", estimated="estimated"
    )
    assert column(summed.table, "estimated_intervals") == [3, 0]
    assert column(summed.table, "estimated_share") == [3 / 8, 0.0]


# ----------------------------------------------------------------------------------- feeders
def _entity(entity: str, values: list[float], estimated: Sequence[int]) -> pa.Table:
    t = frame(0, utc(2024, 1, 8), Q, values).drop_columns(["series_id"])
    return flagged(t.append_column("entity_id", pa.array([entity] * len(values))), estimated)


def test_feeder_balance_counts_head_and_meter_estimates_apart() -> None:
    # one hour: the head's 00:30 quarter-hour is estimated (1 of 4); meter a has 2 estimates,
    # meter b none (2 of 8 meter intervals)
    meters = pa.concat_tables([_entity("a", [1.0] * 4, [0, 3]), _entity("b", [1.0] * 4, [])])
    head = _entity("f", [2.1] * 4, [2])
    mapping = [{"meter_id": "a", "feeder_id": "f"}, {"meter_id": "b", "feeder_id": "f"}]
    r = feeder_balance(meters, head, mapping, tz="UTC").table
    assert (column(r, "feeder_estimated_intervals"), column(r, "feeder_estimated_share")) == ([1], [0.25])
    assert (column(r, "meters_estimated_intervals"), column(r, "meters_estimated_share")) == ([2], [0.25])


# ---------------------------------------------------------------------------------- coverage
def test_coverage_counts_received_estimates_apart_and_never_a_null_one() -> None:
    # 6 hours expected; received 00, 01 (estimated), 02 (estimated), 04; 03 is a null estimate
    rows = flagged(frame(1, utc(2024, 6, 3), H, [1.0, 1.0, 1.0, None, 1.0]), [1, 2, 3])
    r = coverage(rows, interval=H, start=utc(2024, 6, 3), end=utc(2024, 6, 3, 6), tz="UTC").table
    assert (column(r, "expected"), column(r, "received"), column(r, "missing")) == ([6], [4], [2])
    assert (column(r, "estimated"), column(r, "estimated_share")) == ([2], [0.5])
    empty = coverage(rows, interval=H, start=utc(2024, 6, 5), end=utc(2024, 6, 6), tz="UTC").table
    assert (column(empty, "estimated"), column(empty, "estimated_share")) == ([0], [None])

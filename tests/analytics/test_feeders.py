"""Feeder balance: feeder head against the mapped meters, losses, and who reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.feeders import feeder_balance
from gridpulse.demo import generate_fleet
from gridpulse.errors import QueryError

Q = timedelta(minutes=15)
T0 = datetime(2024, 1, 8, tzinfo=UTC)  # a Monday, CET in Amsterdam


def frame(entity: str, start: datetime, values: list[float | None]) -> pa.Table:
    ts = [start + i * Q for i in range(len(values))]
    return pa.table(
        {
            "entity_id": [entity] * len(values),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "value": pa.array(values, pa.float64()),
        }
    )


def cat(*frames: pa.Table) -> pa.Table:
    return pa.concat_tables(frames)


def test_hand_worked_two_hours_with_a_scaled_meter_joining_late() -> None:
    # two hours from 00:00 UTC. Meter a: 1 kWh per quarter-hour (4 kWh an hour). Meter b: 0.5 kWh,
    # scaling factor 2, mapped from 01:00 UTC: hour 0 counts a only (4 kWh), hour 1 a + 2 × 2 = 8 kWh.
    # Feeder: 4.4 and 8.8 kWh per hour -> losses 0.4 and 0.8 kWh, 0.4 / 4.4 = 9.09 %.
    meters = cat(frame("a", T0, [1.0] * 8), frame("b", T0, [0.5] * 8))
    feeder = frame("f", T0, [1.1] * 4 + [2.2] * 4)
    mapping = [
        {"meter_id": "a", "feeder_id": "f"},
        {
            "meter_id": "b",
            "feeder_id": "f",
            "scaling_factor": 2.0,
            "valid_from": datetime(2024, 1, 8, 1),
            "valid_to": None,
        },
    ]
    result = feeder_balance(meters, feeder, mapping, tz="Europe/Amsterdam")
    got = result.table.to_pylist()
    assert [r["start"] for r in got] == [T0, T0 + timedelta(hours=1)]
    assert [r["feeder_kwh"] for r in got] == pytest.approx([4.4, 8.8])
    assert [r["meters_kwh"] for r in got] == pytest.approx([4.0, 8.0])
    assert [r["losses_kwh"] for r in got] == pytest.approx([0.4, 0.8])
    assert [r["losses_pct"] for r in got] == pytest.approx([100 * 0.4 / 4.4, 100 * 0.8 / 8.8])
    assert [(r["meters_expected"], r["meters_reporting"]) for r in got] == [(1, 1), (2, 2)]
    assert result.notes == [] and result.units["losses_pct"] == "%"


def test_meters_adding_up_to_the_head_have_no_losses() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0, 1, 96 * 3), rng.uniform(0, 1, 96 * 3)
    meters = cat(frame("a", T0, a.tolist()), frame("b", T0, b.tolist()))
    feeder = frame("f", T0, (a + b).tolist())
    mapping = [{"meter_id": "a", "feeder_id": "f"}, {"meter_id": "b", "feeder_id": "f"}]
    table = feeder_balance(meters, feeder, mapping, tz="UTC", period="day").table
    assert table.num_rows == 3
    np.testing.assert_allclose(table.column("losses_kwh").to_numpy(), 0, atol=1e-9)
    assert set(table.column("meters_reporting").to_pylist()) == {2}


def test_a_missing_meter_interval_is_counted_and_noted() -> None:
    # meter b misses one quarter-hour in hour 1 and has a null in hour 2: it reports in hour 0 only
    values_b: list[float | None] = [1.0] * 12
    values_b[5], values_b[9] = None, None
    meters = cat(frame("a", T0, [1.0] * 12), frame("b", T0, values_b))
    meters = meters.filter(
        pc.invert(
            pc.and_(
                pc.equal(meters.column("entity_id"), "b"),
                pc.equal(meters.column("ts"), pa.scalar(T0 + 5 * Q, pa.timestamp("us", "UTC"))),
            )
        )
    )
    feeder = frame("f", T0, [2.1] * 12)
    mapping = [{"meter_id": "a", "feeder_id": "f"}, {"meter_id": "b", "feeder_id": "f"}]
    result = feeder_balance(meters, feeder, mapping, tz="UTC")
    assert result.table.column("meters_reporting").to_pylist() == [2, 1, 1]
    assert result.table.column("meters_expected").to_pylist() == [2, 2, 2]
    # hour 1: 8.4 kWh at the head, 4 + 3 from the meters
    assert result.table.column("losses_kwh").to_pylist()[1] == pytest.approx(1.4)
    assert result.notes == [
        "f: 1 meters missed intervals in some of the 3 hours (b in 2): meters_kwh is short there, so losses are overstated"
    ]


def test_days_are_local_days_across_dst_with_100_quarter_hours_on_fall_back() -> None:
    ams = ZoneInfo("Europe/Amsterdam")
    start = datetime(2024, 10, 26, tzinfo=ams).astimezone(UTC)
    n = 96 + 100 + 96
    meters = frame("a", start, [1.0] * n)
    feeder = frame("f", start, [1.05] * n)
    table = feeder_balance(
        meters, feeder, [{"meter_id": "a", "feeder_id": "f"}], tz="Europe/Amsterdam", period="day"
    ).table
    assert table.column("start").to_pylist() == [
        datetime(2024, 10, d, tzinfo=ams).astimezone(UTC) for d in (26, 27, 28)
    ]
    assert table.column("meters_kwh").to_pylist() == [96.0, 100.0, 96.0]
    assert set(table.column("meters_reporting").to_pylist()) == {1}
    np.testing.assert_allclose(table.column("losses_pct").to_numpy(), 100 * 0.05 / 1.05)


def test_a_feeder_alone_equals_the_same_feeder_among_many() -> None:
    rng = np.random.default_rng(9)
    frames = {m: frame(m, T0, rng.uniform(0, 1, 96 * 2).tolist()) for m in ("a", "b", "c")}
    heads = cat(
        frame("f1", T0, rng.uniform(1, 2, 96 * 2).tolist()),
        frame("f2", T0, rng.uniform(0, 1, 96 * 2).tolist()),
    )
    mapping = [
        {"meter_id": "a", "feeder_id": "f1"},
        {"meter_id": "b", "feeder_id": "f1", "scaling_factor": 1.5},
        {"meter_id": "c", "feeder_id": "f2"},
    ]
    whole = feeder_balance(cat(*frames.values()), heads, mapping, tz="UTC").table
    alone = feeder_balance(cat(frames["a"], frames["b"]), heads, mapping[:2], tz="UTC").table
    assert whole.filter(pc.equal(whole.column("feeder_id"), "f1")).equals(alone)


def test_demo_fleet_losses_come_out_between_3_and_6_percent() -> None:
    """generate_fleet: feeder-1 = sum of m-01..m-10 × scaling × (1 + losses 3-6 %), 0.2 % noise."""
    dataset = generate_fleet(end=datetime(2024, 11, 4, tzinfo=UTC), days=14)
    points = pa.concat_tables(list(dataset.batches))
    points = points.filter(pc.equal(points.column("metric"), "kwh"))
    meters = points.filter(pc.equal(points.column("entity_kind"), "meter"))
    feeder = points.filter(pc.equal(points.column("entity_kind"), "feeder"))
    result = feeder_balance(meters, feeder, dataset.reference["meter_feeder_map"], tz="Europe/Amsterdam")
    hours = result.table.to_pandas()
    assert len(hours) == 14 * 24 and set(hours.meters_expected) == {10}
    complete = hours[hours.meters_reporting == hours.meters_expected]
    # the demo's meter faults, placed by its docstring on the n = 1344 quarter-hours: stuck m-05 for
    # 12 hours from floor(0.45 n), a spike on m-07 at floor(0.60 n), a negative m-08 at floor(0.70 n)
    grid = pd.DatetimeIndex(sorted(set(feeder.column("ts").to_pylist())))
    n = len(grid)
    stuck = grid[int(0.45 * n)].floor("h")
    faulty = {stuck + pd.Timedelta(hours=h) for h in range(13)}
    faulty |= {grid[int(f * n)].floor("h") for f in (0.60, 0.70)}
    clean = complete[~complete.start.isin(faulty)]
    assert len(clean) > 300
    assert clean.losses_pct.between(2.8, 6.2).all(), clean.losses_pct.describe()
    total = 100 * (clean.feeder_kwh.sum() - clean.meters_kwh.sum()) / clean.feeder_kwh.sum()
    assert 3.0 < total < 6.0
    # the gap on m-03 and the nulls on m-02 show as meters not reporting, with a note
    assert (hours.meters_reporting < 10).sum() == 6
    assert any("m-03 in 4" in note and "m-02 in 2" in note for note in result.notes)


@pytest.mark.parametrize(
    ("mapping", "kwargs", "message"),
    [
        ([{"meter_id": "a", "feeder_id": "f"}], {"period": "week"}, "period='week' is not supported"),
        ([], {}, "mapping is empty"),
        ([{"meter_id": "a"}], {}, r"mapping\[0\] needs string meter_id and feeder_id"),
        (
            [{"meter_id": "a", "feeder_id": "f", "scaling_factor": "2"}],
            {},
            r"mapping\[0\].scaling_factor='2' is not a number",
        ),
        (
            [{"meter_id": "a", "feeder_id": "f", "valid_from": "2024-01-01"}],
            {},
            r"mapping\[0\].valid_from='2024-01-01' is not a datetime",
        ),
        (
            [
                {"meter_id": "a", "feeder_id": "f"},
                {"meter_id": "a", "feeder_id": "f", "valid_from": datetime(2024, 1, 1)},
            ],
            {},
            "maps meter a to one feeder twice over overlapping validity",
        ),
        (
            [{"meter_id": "a", "feeder_id": "f"}],
            {"interval": timedelta(0)},
            "interval=.* must be a positive timedelta",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_them(
    mapping: list[dict[str, Any]], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        feeder_balance(frame("a", T0, [1.0]), frame("f", T0, [1.0]), mapping, tz="UTC", **kwargs)


def test_frames_need_entity_ids_and_one_row_per_instant() -> None:
    mapping = [{"meter_id": "a", "feeder_id": "f"}]
    no_entity = frame("a", T0, [1.0]).drop_columns(["entity_id"])
    with pytest.raises(QueryError, match="meter_frame needs an 'entity_id' column"):
        feeder_balance(no_entity, frame("f", T0, [1.0]), mapping, tz="UTC")
    twice = cat(frame("a", T0, [1.0]), frame("a", T0, [2.0]))
    with pytest.raises(QueryError, match="meter_frame has two rows for a at 2024-01-08T00:00:00"):
        feeder_balance(twice, frame("f", T0, [1.0]), mapping, tz="UTC")

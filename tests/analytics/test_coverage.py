"""Daily ingestion coverage and gaps: expected against received intervals per local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.coverage import coverage, gaps
from gridpulse.datasets import load_pjm_hourly
from gridpulse.errors import QueryError

Q = timedelta(minutes=15)
H = timedelta(hours=1)
AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")


def frame(ts: list[datetime], values: list[float | None] | None = None, series_id: int = 1) -> pa.Table:
    return pa.table(
        {
            "series_id": pa.array([series_id] * len(ts), pa.int32()),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "value": pa.array(values if values is not None else [1.0] * len(ts), pa.float64()),
        }
    )


def grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Every instant of the grid in [start, end), stepping in UTC (aware arithmetic in one zone would not)."""
    a, b = start.astimezone(UTC), end.astimezone(UTC)
    return [a + i * step for i in range((b - a) // step)]


def by_day(result: pa.Table, *cols: str) -> dict[date, tuple[object, ...]]:
    return {
        d: tuple(v)
        for d, *v in zip(*(result.column(c).to_pylist() for c in ("local_date", *cols)), strict=True)
    }


def test_full_data_has_coverage_100_and_dst_days_expect_92_and_100_quarter_hours() -> None:
    for start, end, counts in [
        (datetime(2024, 10, 26, tzinfo=AMS), datetime(2024, 10, 29, tzinfo=AMS), [96, 100, 96]),
        (datetime(2024, 3, 30, tzinfo=AMS), datetime(2024, 4, 2, tzinfo=AMS), [96, 92, 96]),
    ]:
        result = coverage(frame(grid(start, end, Q)), interval=Q, start=start, end=end, tz="Europe/Amsterdam")
        table = result.table
        assert table.column("expected").to_pylist() == counts
        assert table.column("received").to_pylist() == counts
        assert set(table.column("coverage_pct").to_pylist()) == {100.0}
        assert set(table.column("missing").to_pylist()) == {0} and result.notes == []


def test_new_york_dst_days_expect_23_and_25_hours() -> None:
    start, end = datetime(2024, 3, 9, tzinfo=NY), datetime(2024, 3, 11, tzinfo=NY)
    table = coverage(
        frame(grid(start, end, H)), interval=H, start=start, end=end, tz="America/New_York"
    ).table
    assert table.column("expected").to_pylist() == [24, 23]
    start, end = datetime(2024, 11, 3, tzinfo=NY), datetime(2024, 11, 4, tzinfo=NY)
    table = coverage(
        frame(grid(start, end, H)), interval=H, start=start, end=end, tz="America/New_York"
    ).table
    assert table.column("expected").to_pylist() == [25] and table.column("received").to_pylist() == [25]


def test_hand_worked_missing_null_duplicate_and_off_grid_rows() -> None:
    # Monday 2024-01-08 UTC, hourly: 24 expected. Rows: 00:00, 01:00 twice (resent, counts once),
    # 02:00 null (not received), 03:10 (off grid), 05:00; and 2024-01-09 00:00 outside the range.
    # received 3 (00, 01, 05), missing 21, off_grid 1, coverage 3/24 = 12.5 %.
    day = datetime(2024, 1, 8, tzinfo=UTC)
    ts = [day, day + H, day + H, day + 2 * H, day + timedelta(hours=3, minutes=10), day + 5 * H, day + 24 * H]
    result = coverage(frame(ts, [1, 1, 1, None, 1, 1, 1]), interval=H, start=day, end=day + 24 * H, tz="UTC")
    row = result.table.to_pylist()
    assert row == [
        {
            "series_id": 1,
            "local_date": date(2024, 1, 8),
            "expected": 24,
            "received": 3,
            "missing": 21,
            "off_grid": 1,
            "coverage_pct": 12.5,
            "estimated": 0,  # the frame has no quality column: all actual
            "estimated_share": 0.0,
        }
    ]
    assert result.notes == ["1 timestamps are off the 1:00:00 grid and not counted as received"]


def test_partial_first_and_last_days_expect_only_the_part_in_range() -> None:
    # 2024-01-08 18:00 .. 2024-01-09 06:00 in Amsterdam (CET): 6 hours on each local date
    start, end = datetime(2024, 1, 8, 18, tzinfo=AMS), datetime(2024, 1, 9, 6, tzinfo=AMS)
    table = coverage(frame([]), interval=H, start=start, end=end, tz="Europe/Amsterdam", series_ids=[7]).table
    assert by_day(table, "series_id", "expected", "received") == {
        date(2024, 1, 8): (7, 6, 0),
        date(2024, 1, 9): (7, 6, 0),
    }


def test_chunked_by_local_day_equals_whole() -> None:
    start, cut, end = (datetime(2024, 10, d, tzinfo=AMS) for d in (25, 27, 30))
    ts = grid(start, end, Q)
    values: list[float | None] = [None if i % 17 == 0 else 1.0 for i in range(len(ts))]
    data = pa.concat_tables([frame(ts[::3], values[::3], 2), frame(ts, values, 1)])
    whole = coverage(data, interval=Q, start=start, end=end, tz="Europe/Amsterdam").table
    parts = [
        coverage(data, interval=Q, start=a, end=b, tz="Europe/Amsterdam").table
        for a, b in ((start, cut), (cut, end))
    ]
    merged = pa.concat_tables(parts).sort_by([("series_id", "ascending"), ("local_date", "ascending")])
    assert merged.equals(whole)
    alone = coverage(
        data.filter(pc.equal(data.column("series_id"), 2)),
        interval=Q,
        start=start,
        end=end,
        tz="Europe/Amsterdam",
    ).table
    assert whole.filter(pc.equal(whole.column("series_id"), 2)).equals(alone)


def test_gaps_at_start_middle_and_end_and_for_a_silent_series() -> None:
    # range 00:00-12:00 UTC hourly; series 1 has 02:00-04:00 and 07:00, 09:00 (09:00 null):
    # gaps [00, 02) 2, [05, 07) 2, [08, 12) 4. Series 4 sent nothing: [00, 12) 12.
    day = datetime(2024, 1, 8, tzinfo=UTC)
    ts = [day + h * H for h in (2, 3, 4, 7, 9)]
    result = gaps(frame(ts, [1, 1, 1, 1, None]), interval=H, start=day, end=day + 12 * H, series_ids=[1, 4])
    got = [
        (s, a.hour, (b - day) // H, n)
        for s, a, b, n in zip(
            *(result.table.column(c).to_pylist() for c in result.table.column_names), strict=True
        )
    ]
    assert got == [(1, 0, 2, 2), (1, 5, 7, 2), (1, 8, 12, 4), (4, 0, 12, 12)]
    assert result.notes == ["4 gaps, 20 missing intervals of 1:00:00"]


def test_full_series_has_no_gaps_and_misaligned_range_uses_the_grid() -> None:
    start, end = datetime(2024, 1, 8, 0, 7, tzinfo=UTC), datetime(2024, 1, 8, 2, 7, tzinfo=UTC)
    # grid instants inside: 00:15 .. 02:00 (8); all present
    ts = grid(datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 8, 3, tzinfo=UTC), Q)
    assert gaps(frame(ts), interval=Q, start=start, end=end).table.num_rows == 0
    missing_last = gaps(frame(ts[:8]), interval=Q, start=start, end=end).table.to_pylist()
    assert missing_last == [
        {
            "series_id": 1,
            "gap_start": datetime(2024, 1, 8, 2, tzinfo=UTC),
            "gap_end": datetime(2024, 1, 8, 2, 15, tzinfo=UTC),
            "missing_intervals": 1,
        }
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2024, 1, 1)}, "start=datetime.datetime.2024, 1, 1, 0, 0. is naive"),
        ({"end": datetime(2023, 1, 1, tzinfo=UTC)}, "end=2023-01-01T00:00:00.00:00 is not after start"),
        ({"interval": timedelta(0)}, "interval=.* must be a positive timedelta"),
        ({"tz": "Nowhere/Land"}, "tz='Nowhere/Land' is not an IANA time zone"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "interval": H,
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 1, 2, tzinfo=UTC),
        "tz": "UTC",
    }
    args.update(kwargs)
    with pytest.raises(QueryError, match=message):
        coverage(frame([]), **args)  # type: ignore[arg-type]


def test_pjm_region_coverage_and_gaps_match_pandas(shared_datasets: Path) -> None:
    """AEP 2012 against an independent pandas count; the fall-back day before 2014 lost two hours."""
    dataset = load_pjm_hourly(shared_datasets / "pjm_hourly")
    points = pa.concat_tables(list(dataset.batches))
    points = points.filter(pc.equal(points.column("entity_id"), "AEP"))
    data = pa.table(
        {
            "series_id": pa.array(np.ones(points.num_rows), pa.int32()),
            "ts": points.column("ts"),
            "value": points.column("value"),
        }
    )
    start, end = datetime(2012, 1, 1, tzinfo=NY), datetime(2013, 1, 1, tzinfo=NY)
    got = coverage(data, interval=H, start=start, end=end, tz="America/New_York").table.to_pandas()

    df = pd.DataFrame({"ts": points.column("ts").to_pandas(), "v": points.column("value").to_pandas()})
    df = df[(df.ts >= start) & (df.ts < end) & df.v.notna()]
    received = df.groupby(df.ts.dt.tz_convert("America/New_York").dt.date).ts.nunique()
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    expected = pd.Series(1, index=hours).groupby(hours.tz_convert("America/New_York").date).sum()
    assert len(got) == len(expected) == 366
    np.testing.assert_array_equal(got["expected"], expected.to_numpy())
    np.testing.assert_array_equal(got["received"], received.reindex(expected.index, fill_value=0).to_numpy())
    # the README: fall-back days before 2014 lack both 02:00 rows (two UTC hours lost)
    nov4 = got[got.local_date == date(2012, 11, 4)].iloc[0]
    assert (nov4.expected, nov4.received) == (25, 23)
    assert got.loc[got.local_date == date(2012, 3, 11), "expected"].item() == 23

    found = gaps(data, interval=H, start=start, end=end).table.to_pandas()
    present = set(df.ts)
    missing = [t for t in hours if t not in present]
    runs = (pd.Series(missing).diff() != pd.Timedelta(hours=1)).cumsum()
    want = pd.Series(missing).groupby(runs).agg(["first", "size"])
    assert list(found["gap_start"]) == list(want["first"]) and list(found["missing_intervals"]) == list(
        want["size"]
    )
    assert (pd.Timestamp("2012-11-04 05:00", tz="UTC"), 2) in set(
        zip(found["gap_start"], found["missing_intervals"], strict=True)
    )

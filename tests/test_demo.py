"""The synthetic fleet and long frames of gridpulse.demo: shape, determinism, physics, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.dataset import Dataset
from gridpulse.demo import FAULTS, FLEET_ORGANISATION, generate_fleet, generate_series
from gridpulse.errors import ConfigError
from gridpulse.model import KEYED_BATCH_SCHEMA, TS_TYPE, SeriesKey
from gridpulse.store.base import REFERENCE_KINDS

# 35 days ending 2025-04-10 cross the EU spring-forward change of 2025-03-30
END = datetime(2025, 4, 10, 9, 7, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet() -> Dataset:
    return generate_fleet(end=END, days=35, seed=0)


@pytest.fixture(scope="module")
def table(fleet: Dataset) -> pa.Table:
    return pa.concat_tables(fleet.batches)


def _series(table: pa.Table, entity_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(ts as µs since epoch, value with NaN for null) of one series, sorted by ts."""
    one = table.filter(pc.and_(pc.equal(table["entity_id"], entity_id), pc.equal(table["metric"], metric)))
    one = one.sort_by("ts")
    ts = one["ts"].combine_chunks().cast(pa.int64()).to_numpy()
    value = pc.fill_null(one["value"].combine_chunks(), np.nan).to_numpy()
    return ts, value


def _local_hour(ts_us: np.ndarray, tz: str) -> np.ndarray:
    local = pc.local_timestamp(pa.array(ts_us, type=pa.timestamp("us", tz=tz)))
    hour: np.ndarray = pc.hour(local).to_numpy() + pc.minute(local).to_numpy() / 60
    return hour


def test_same_seed_gives_identical_data_and_another_seed_differs(table: pa.Table) -> None:
    again = pa.concat_tables(generate_fleet(end=END, days=35, seed=0).batches)
    other = pa.concat_tables(generate_fleet(end=END, days=35, seed=1).batches)
    assert again.equals(table)
    assert not other["value"].equals(table["value"])


def test_batches_have_exactly_the_keyed_schema_and_at_most_100k_rows(fleet: Dataset) -> None:
    assert isinstance(fleet.batches, list)
    assert fleet.batches
    for batch in fleet.batches:
        assert batch.schema.equals(KEYED_BATCH_SCHEMA)
        assert batch.num_rows <= 100_000


def test_row_count_is_modest_and_generation_is_fast() -> None:
    t0 = time.perf_counter()
    fleet = generate_fleet(end=END, days=35, seed=3)
    elapsed_s = time.perf_counter() - t0
    rows = sum(b.num_rows for b in fleet.batches)
    assert 100_000 <= rows <= 200_000
    assert elapsed_s < 2.0


def test_every_series_key_has_meta_with_unit_interval_zone_and_hierarchy(
    fleet: Dataset, table: pa.Table
) -> None:
    keys = {SeriesKey(*row.values()) for row in table.select(["entity_kind", "entity_id", "metric"])
            .group_by(["entity_kind", "entity_id", "metric"]).aggregate([]).to_pylist()}
    assert keys == set(fleet.meta)
    assert len(keys) == 12 + 1 + 2 + 3 * 2
    for key in keys:
        meta = fleet.meta_for(key)
        assert meta.unit and meta.interval and meta.tz.startswith("Europe/")
        assert meta.organisation_id == FLEET_ORGANISATION and meta.site_id
    assert fleet.meta_for(SeriesKey("meter", "m-01", "kwh")).unit == "kWh"
    assert fleet.meta_for(SeriesKey("plant", "pv-1", "mw")).unit == "MW"
    soc = fleet.meta_for(SeriesKey("device", "battery-3", "StateOfChargePercentage"))
    assert (soc.unit, soc.device_id) == ("%", "battery-3")
    assert fleet.meta_for(SeriesKey("meter", "nope", "kwh")).unit == ""


def test_timestamps_are_on_each_series_grid_and_intervals_end_by_end(fleet: Dataset, table: pa.Table) -> None:
    end_us = (END - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    for key, meta in fleet.meta.items():
        ts, _ = _series(table, key.entity_id, key.metric)
        assert meta.interval is not None
        step = meta.interval // timedelta(microseconds=1)
        assert (ts % step == 0).all(), key
        assert ts.max() + step <= end_us, key
        assert ts.max() + 2 * step > end_us, key  # the last complete interval is there
        assert ts.min() >= end_us - 35 * 86_400_000_000 - step, key


def test_no_two_points_share_a_series_and_instant(table: pa.Table) -> None:
    distinct = table.group_by(["entity_kind", "entity_id", "metric", "ts"]).aggregate([]).num_rows
    assert distinct == table.num_rows


def test_pv_is_exactly_zero_at_night_and_positive_at_midday(fleet: Dataset, table: pa.Table) -> None:
    for plant in ("pv-1", "pv-2"):
        ts, mw = _series(table, plant, "mw")
        hour = _local_hour(ts, fleet.meta_for(SeriesKey("plant", plant, "mw")).tz)
        night = (hour < 4.5) | (hour >= 22.5)
        assert night.sum() > 500
        assert (mw[night] == 0).all()
        midday = (hour >= 12) & (hour < 15)
        assert (mw[midday] > 0).mean() > 0.99
        assert mw.min() >= 0 and mw.max() <= fleet.reference["plants"][0 if plant == "pv-1" else 1]["capacity_mw"]


def test_battery_soc_stays_within_0_100_and_one_battery_dips_under_20(table: pa.Table) -> None:
    lowest = []
    for battery in ("battery-1", "battery-2", "battery-3"):
        _, soc = _series(table, battery, "StateOfChargePercentage")
        assert soc.min() >= 0 and soc.max() <= 100
        lowest.append(soc.min())
    assert min(lowest) < 20


def test_battery_soc_integrates_power_with_efficiencies(fleet: Dataset, table: pa.Table) -> None:
    capacity = {row["device_id"]: row["capacity_kwh"] for row in fleet.reference["devices"]}
    for battery, capacity_kwh in capacity.items():
        ts, soc = _series(table, battery, "StateOfChargePercentage")
        ts_p, power_kw = _series(table, battery, "power_kw")
        assert (ts == ts_p).all()
        dt_h = 5 / 60
        expected = np.where(power_kw < 0, -power_kw * 0.96, -power_kw / 0.96) * dt_h / capacity_kwh * 100
        step = np.diff(soc)
        # within a local day the state of charge follows the power to the rounding of both
        assert np.quantile(np.abs(step - expected[:-1]), 0.999) < 0.02
        assert (power_kw > 0).any() and (power_kw < 0).any()


def test_batteries_follow_local_time_across_the_dst_change(fleet: Dataset, table: pa.Table) -> None:
    ts, power_kw = _series(table, "battery-1", "power_kw")
    utc_hour = (ts // 3_600_000_000) % 24
    day = ts // 86_400_000_000
    change = (datetime(2025, 3, 30, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
    # discharge runs 17:00-22:00 local: 16:00-21:00 UTC in winter (CET), 15:00-20:00 in summer (CEST)
    assert (power_kw[(day < change) & (utc_hour == 15)] <= 0).all()
    assert (power_kw[(day > change) & (utc_hour == 15)] > 0).all()
    assert (power_kw[(day > change) & (utc_hour == 20)] <= 0).all()


def test_feeder_head_exceeds_its_mapped_meters_by_load_dependent_losses(fleet: Dataset, table: pa.Table) -> None:
    ts_f, head = _series(table, "feeder-1", "kwh")
    total = np.zeros(len(ts_f))
    for row in fleet.reference["meter_feeder_map"]:
        assert row["feeder_id"] == "feeder-1"
        ts_m, kwh = _series(table, row["meter_id"], "kwh")
        aligned = np.full(len(ts_f), np.nan)
        aligned[np.searchsorted(ts_f, ts_m)] = kwh
        total += row["scaling_factor"] * aligned
    ok = ~np.isnan(total)
    loss = head[ok] / total[ok] - 1
    assert (loss > 0).mean() > 0.99
    assert 0.025 < np.median(loss) < 0.065
    assert np.quantile(loss, 0.02) > 0.02 and np.quantile(loss, 0.98) < 0.07
    # losses grow with load
    load = total[ok]
    assert loss[load > np.quantile(load, 0.9)].mean() > loss[load < np.quantile(load, 0.1)].mean()


def test_the_documented_meter_faults_are_present(table: pa.Table) -> None:
    step_us = 15 * 60_000_000
    ts, _ = _series(table, FAULTS["gap"], "kwh")
    assert len(ts) == 35 * 96 - 16
    assert np.diff(ts).max() == 17 * step_us  # 16 intervals (4 h) absent

    _, kwh = _series(table, FAULTS["stuck"], "kwh")
    runs = np.flatnonzero(np.diff(np.r_[np.nan, kwh]) != 0)
    assert np.diff(np.r_[runs, len(kwh)]).max() >= 48

    _, kwh = _series(table, FAULTS["spike"], "kwh")
    assert kwh.max() > 10 * np.median(kwh) and (kwh > 10 * np.median(kwh)).sum() == 1

    _, kwh = _series(table, FAULTS["negative"], "kwh")
    assert (kwh < 0).sum() == 1

    nulls = table.filter(pc.equal(table["entity_id"], FAULTS["null"]))["value"].null_count
    assert nulls == 3
    assert table["value"].null_count == 3

    for meter in ("m-01", "m-04", "m-10"):
        _, kwh = _series(table, meter, "kwh")
        assert kwh.min() > 0 and kwh.max() < 10 * np.median(kwh) * (40 if meter == "m-10" else 1)


def test_households_peak_in_the_evening_and_offices_in_office_hours(fleet: Dataset, table: pa.Table) -> None:
    ts, house = _series(table, "m-01", "kwh")
    hour = _local_hour(ts, "Europe/Amsterdam")
    assert house[(hour >= 18) & (hour < 21)].mean() > 2 * house[(hour >= 2) & (hour < 5)].mean()
    ts, office = _series(table, "m-11", "kwh")
    hour = _local_hour(ts, "Europe/Amsterdam")
    weekday = ((ts // 86_400_000_000) + 3) % 7 < 5
    assert office[weekday & (hour >= 10) & (hour < 16)].mean() > 2.5 * office[~weekday].mean()


def test_a_point_has_the_same_value_whatever_the_window() -> None:
    a = pa.concat_tables(generate_fleet(end=END, days=6, seed=0).batches)
    b = pa.concat_tables(generate_fleet(end=END + timedelta(days=2, hours=5), days=9, seed=0).batches)
    for entity_id, metric in [("feeder-1", "kwh"), ("pv-2", "mw"), ("m-11", "kwh"),
                              ("battery-3", "StateOfChargePercentage"), ("battery-1", "power_kw")]:
        ts_a, va = _series(a, entity_id, metric)
        ts_b, vb = _series(b, entity_id, metric)
        common, ia, ib = np.intersect1d(ts_a, ts_b, return_indices=True)
        assert len(common) > 5 * 96
        np.testing.assert_allclose(va[ia], vb[ib], err_msg=f"{entity_id}/{metric}")


def test_reference_rows_cover_the_fleet(fleet: Dataset, table: pa.Table) -> None:
    assert set(fleet.reference) <= set(REFERENCE_KINDS)
    for kind, rows in fleet.reference.items():
        assert rows and all(row[REFERENCE_KINDS[kind]] for row in rows), kind
    assert {r["tz"] for r in fleet.reference["sites"]} >= {"Europe/Amsterdam"}
    assert {r["device_id"] for r in fleet.reference["devices"]} == {"battery-1", "battery-2", "battery-3"}
    assert len(fleet.reference["meters"]) == 12
    assert all(r["capacity_mw"] > 0 for r in fleet.reference["plants"])
    first_ts = table["ts"].combine_chunks().cast(pa.int64()).to_numpy().min()
    for row in fleet.reference["meter_feeder_map"]:
        assert row["valid_from"].tzinfo is not None
        assert row["valid_from"] <= datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(first_ts))


def test_naive_end_and_negative_days_are_rejected() -> None:
    with pytest.raises(ConfigError, match="end="):
        generate_fleet(end=datetime(2025, 1, 1))
    with pytest.raises(ConfigError, match="days"):
        generate_fleet(end=END, days=-1)
    assert generate_fleet(end=END, days=0).batches == []


def test_generate_series_shape_types_order_and_determinism() -> None:
    frame = generate_series(3, timedelta(hours=1), periods=24 * 14, seed=5)
    assert frame.schema.equals(pa.schema([("series_id", pa.int32()), ("ts", TS_TYPE), ("value", pa.float64())]))
    assert frame.num_rows == 3 * 24 * 14
    assert frame.equals(generate_series(3, timedelta(hours=1), periods=24 * 14, seed=5))
    assert not frame.equals(generate_series(3, timedelta(hours=1), periods=24 * 14, seed=6))
    ids = frame["series_id"].to_numpy()
    ts = frame["ts"].combine_chunks().cast(pa.int64()).to_numpy()
    assert (np.diff(ids) >= 0).all() and set(ids) == {0, 1, 2}
    assert (np.diff(ts[ids == 0]) == 3_600_000_000).all()
    assert frame["ts"][0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)
    assert frame["value"].null_count == 0 and pc.min(frame["value"]).as_py() >= 0


def test_generate_series_has_daily_and_weekly_seasonality() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    frame = generate_series(20, timedelta(minutes=30), periods=48 * 28, start=start, seed=1)
    value = frame["value"].to_numpy().reshape(20, 28, 48)
    hourly = value.mean(axis=1)  # series × half hour of day
    assert (hourly[:, 36:40].mean(axis=1) > 1.3 * hourly[:, 4:8].mean(axis=1)).all()
    daily = value.mean(axis=2).reshape(20, 4, 7).mean(axis=1)  # series × weekday
    ratio = daily[:, 5:].mean(axis=1) / daily[:, :5].mean(axis=1)
    assert ratio.std() > 0.03 and (np.abs(ratio - 1) > 0.02).mean() > 0.5


def test_generate_series_rejects_naive_start_and_bad_freq() -> None:
    with pytest.raises(ConfigError, match="start="):
        generate_series(1, timedelta(hours=1), periods=3, start=datetime(2024, 1, 1))
    with pytest.raises(ConfigError, match="freq"):
        generate_series(1, timedelta(0), periods=3)

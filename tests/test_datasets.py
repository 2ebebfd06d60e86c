"""Readers of the real public datasets (../shared/datasets): counts, UTC conversion, DST, errors.

Expected numbers come from the READMEs in each dataset folder. Tests that need the data skip when
the folder is absent, except under CI (CI=true), where its absence is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.dataset import Dataset
from gridpulse.datasets import (
    LOADERS,
    available,
    load_all,
    load_ausgrid_solar_home_c12,
    load_enerpos_pv,
    load_ett_small,
    load_pjm_hourly,
)
from gridpulse.errors import ConfigError, GridpulseError, IngestError
from gridpulse.model import KEYED_BATCH_SCHEMA, Quality, SeriesKey
from gridpulse.store.base import REFERENCE_KINDS

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _root() -> Path:
    if not available(DATASETS):
        reason = (f"the shared datasets are not at {DATASETS}; they live in ../shared/datasets beside "
                  "the project (see its README)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return DATASETS


_cache: dict[str, tuple[Dataset, pa.Table]] = {}


def _load(name: str) -> tuple[Dataset, pa.Table]:
    """The Dataset of one folder (batches as a list) and its batches as one table, read once."""
    if name not in _cache:
        folder = _root() / name
        if not folder.is_dir():
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true: dataset folder {folder} is missing")
            pytest.skip(f"dataset folder {folder} is missing")
        ds = LOADERS[name](folder)
        _cache[name] = (ds, pa.concat_tables(ds.batches))
    return _cache[name]


def _us(ts: datetime) -> int:
    return (ts - _EPOCH) // (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH)


def _series(table: pa.Table, entity_id: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ts µs, value with NaN for null, quality) of one series, sorted by ts."""
    one = table.filter(pc.and_(pc.equal(table["entity_id"], entity_id), pc.equal(table["metric"], metric)))
    one = one.sort_by("ts")
    return (
        one["ts"].combine_chunks().cast(pa.int64()).to_numpy(),
        pc.fill_null(one["value"].combine_chunks(), np.nan).to_numpy(),
        one["quality"].combine_chunks().to_numpy(),
    )


def _at(table: pa.Table, entity_id: str, metric: str, ts: datetime) -> float | None:
    ts_us, value, _ = _series(table, entity_id, metric)
    hit = np.flatnonzero(ts_us == _us(ts))
    return float(value[hit[0]]) if len(hit) else None


# ------------------------------------------------------------------------------------ all datasets
@pytest.mark.parametrize("name", list(LOADERS))
def test_batches_have_the_keyed_schema_and_every_key_has_meta(name: str) -> None:
    ds, table = _load(name)
    assert ds.name == name
    assert all(b.schema.equals(KEYED_BATCH_SCHEMA) and b.num_rows <= 100_000 for b in ds.batches)
    keys = {SeriesKey(*r.values()) for r in table.group_by(["entity_kind", "entity_id", "metric"])
            .aggregate([]).to_pylist()}
    assert keys == set(ds.meta)
    for key in keys:
        assert ds.meta[key].interval is not None and ds.meta[key].tz != "UTC"
    assert set(ds.reference) <= set(REFERENCE_KINDS)
    for kind, rows in ds.reference.items():
        assert all(row[REFERENCE_KINDS[kind]] for row in rows)


@pytest.mark.parametrize("name", list(LOADERS))
def test_no_two_points_share_a_series_and_utc_instant(name: str) -> None:
    _, table = _load(name)
    assert table.group_by(["entity_kind", "entity_id", "metric", "ts"]).aggregate([]).num_rows == table.num_rows


def test_load_all_yields_one_dataset_per_folder_present() -> None:
    root = _root()
    names = [ds.name for ds in load_all(root)]
    assert names == [name for name in LOADERS if (root / name).is_dir()]


# ------------------------------------------------------------------------------------------- PJM
# README table: rows per file
PJM_ROWS = {"AEP": 121_273, "COMED": 66_497, "DAYTON": 121_275, "DEOK": 57_739, "DUQ": 119_068,
            "EKPC": 45_334, "FE": 62_874, "NI": 58_450, "PJME": 145_366, "PJM_Load": 32_896}


def test_pjm_row_counts_match_the_readme() -> None:
    ds, table = _load("pjm_hourly")
    assert ds.source_rows == 830_772 == sum(PJM_ROWS.values())
    counts = table.group_by("entity_id").aggregate([([], "count_all")]).to_pylist()
    assert {r["entity_id"]: r["count_all"] for r in counts} == PJM_ROWS
    assert set(table["metric"].unique().to_pylist()) == {"load_mw"}
    assert ds.meta[SeriesKey("region", "AEP", "load_mw")].unit == "MW"


def test_pjm_hour_ending_labels_become_hour_starts_in_utc() -> None:
    _, table = _load("pjm_hourly")
    # README: first stamp 2004-10-01 01:00 EDT (hour ending) = the hour 00:00-01:00 EDT = 04:00 UTC
    ts, _, _ = _series(table, "AEP", "load_mw")
    assert ts[0] == _us(datetime(2004, 10, 1, 4, tzinfo=UTC))
    # winter: 2004-12-31 01:00 (EST, AEP_hourly.csv line 2) = 13,478 MW for 05:00-06:00 UTC
    assert _at(table, "AEP", "load_mw", datetime(2004, 12, 31, 5, tzinfo=UTC)) == 13_478.0


def test_pjm_fall_back_2015_repeated_0200_is_edt_then_est() -> None:
    _, table = _load("pjm_hourly")
    # AEP_hourly.csv: 2015-11-01 01:00 11,087; 02:00 10,785 then 02:00 10,542; 03:00 10,438
    expected = {4: 11_087.0, 5: 10_785.0, 6: 10_542.0, 7: 10_438.0}
    for hour, mw in expected.items():
        assert _at(table, "AEP", "load_mw", datetime(2015, 11, 1, hour, tzinfo=UTC)) == mw
    ts, _, _ = _series(table, "AEP", "load_mw")
    day = (ts >= _us(datetime(2015, 11, 1, 4, tzinfo=UTC))) & (ts < _us(datetime(2015, 11, 2, 5, tzinfo=UTC)))
    assert day.sum() == 25  # the local day 2015-11-01 has 25 hours, all present


def test_pjm_spring_forward_2015_has_no_gap_in_utc() -> None:
    _, table = _load("pjm_hourly")
    # 2015-03-08: 02:00 (HE02, 01:00-02:00 EST) = 14,111 at 06:00 UTC; 03:00 is missing;
    # 04:00 (HE04, 03:00-04:00 EDT) = 14,062 at 07:00 UTC
    assert _at(table, "AEP", "load_mw", datetime(2015, 3, 8, 6, tzinfo=UTC)) == 14_111.0
    assert _at(table, "AEP", "load_mw", datetime(2015, 3, 8, 7, tzinfo=UTC)) == 14_062.0
    ts, _, _ = _series(table, "AEP", "load_mw")
    day = (ts >= _us(datetime(2015, 3, 8, 5, tzinfo=UTC))) & (ts < _us(datetime(2015, 3, 9, 4, tzinfo=UTC)))
    assert day.sum() == 23 and (np.diff(ts[day]) == 3_600_000_000).all()


def test_pjm_fall_back_before_2014_lacks_two_utc_hours() -> None:
    _, table = _load("pjm_hourly")
    # 2010-11-07: 01:00 = 14,739 (00:00-01:00 EDT), both 02:00 rows absent, 03:00 = 14,263 (02:00-03:00 EST)
    assert _at(table, "AEP", "load_mw", datetime(2010, 11, 7, 4, tzinfo=UTC)) == 14_739.0
    assert _at(table, "AEP", "load_mw", datetime(2010, 11, 7, 5, tzinfo=UTC)) is None
    assert _at(table, "AEP", "load_mw", datetime(2010, 11, 7, 6, tzinfo=UTC)) is None
    assert _at(table, "AEP", "load_mw", datetime(2010, 11, 7, 7, tzinfo=UTC)) == 14_263.0


# ------------------------------------------------------------------------------------------- ETT
def test_ett_row_counts_utc_offset_and_real_negative_loads() -> None:
    ds, table = _load("ett_small")
    assert ds.source_rows == 2 * 17_420
    assert table.num_rows == 2 * 17_420 * 7
    ts, hufl, _ = _series(table, "ETTh1", "HUFL")
    assert len(ts) == 17_420
    # 2016-07-01 00:00 China time (UTC+8) to 2018-06-26 19:00
    assert ts[0] == _us(datetime(2016, 6, 30, 16, tzinfo=UTC))
    assert ts[-1] == _us(datetime(2018, 6, 26, 11, tzinfo=UTC))
    assert (np.diff(ts) == 3_600_000_000).all()
    assert hufl.min() < -20  # README: ETTh1 HUFL goes down to -22.7; kept, not clipped
    assert ds.meta[SeriesKey("transformer", "ETTh2", "OT")].unit == "°C"
    # README: ETTh2 OT jumps from 21.5 to 44.5 °C at 2017-05-10 13:00 -> 14:00 local
    jump = _at(table, "ETTh2", "OT", datetime(2017, 5, 10, 6, tzinfo=UTC))
    assert jump is not None and jump == pytest.approx(44.5, abs=0.1)


# --------------------------------------------------------------------------------------- ENERPOS
def test_enerpos_counts_nulls_and_end_of_period_stamps() -> None:
    ds, table = _load("enerpos_pv")
    folder = _root() / "enerpos_pv"
    expected_rows = 94_227 + sum(
        2_160 for f in ("PV_ENERPOS_01-15-10-2022_bis.txt", "Meteo_Terre_Sainte_01-15-10-2022.txt")
        if (folder / f).is_file()
    )
    assert ds.source_rows == expected_rows
    ts, energy, _ = _series(table, "enerpos", "energy_kwh")
    _, power, _ = _series(table, "enerpos", "power_kw")
    assert len(ts) == len(power) == 94_227
    assert np.isnan(energy).sum() == 78 and np.isnan(power).sum() == 2_402
    # 01/01/2021 00:00 local (UTC+4) ends the period 23:50-00:00, i.e. 19:50 UTC the day before
    assert ts[0] == _us(datetime(2020, 12, 31, 19, 50, tzinfo=UTC))
    # the 9,016.3 kWh catch-up spike of 2021-03-12 12:00 local is kept
    assert _at(table, "enerpos", "energy_kwh", datetime(2021, 3, 12, 7, 50, tzinfo=UTC)) == pytest.approx(9_016.3)
    assert np.nanmax(power) == pytest.approx(56.811)


def test_enerpos_inverters_add_up_to_the_plant_exactly() -> None:
    ds, table = _load("enerpos_pv")
    if not (_root() / "enerpos_pv" / "PV_ENERPOS_01-15-10-2022_bis.txt").is_file():
        pytest.skip("the per-inverter file is absent")
    ts_p, plant, _ = _series(table, "enerpos", "power_kw")
    total = None
    for inv in ("Inv1", "Inv2", "Inv3", "Inv4"):
        ts_i, kw, _ = _series(table, inv, "power_kw")
        assert len(ts_i) == 2_160
        total = kw if total is None else total + kw
    assert total is not None
    common, ip, ii = np.intersect1d(ts_p, ts_i, return_indices=True)
    both = ~np.isnan(plant[ip]) & ~np.isnan(total[ii])
    # README: 2,150 stamps carry power in both files (the plant's power is empty at 7 of the 2,160)
    assert len(common) == 2_160 and both.sum() == 2_150
    np.testing.assert_allclose(plant[ip][both], total[ii][both], atol=1e-9)
    assert ds.meta[SeriesKey("inverter", "Inv4", "power_kw")].device_id == "Inv4"


# --------------------------------------------------------------------------------------- Ausgrid
def test_ausgrid_counts_and_a_complete_utc_grid() -> None:
    ds, table = _load("ausgrid_solar_home_c12")
    assert ds.source_rows == 17_568
    for metric in ("consumption_kw", "pv_kw"):
        ts, _, quality = _series(table, "ausgrid-c12", metric)
        assert len(ts) == 17_568
        assert (np.diff(ts) == 1_800_000_000).all()  # no gap and no duplicate, DST days included
        assert (quality == Quality.ESTIMATED).sum() == 4
        # 2011-07-01 00:00 AEST (UTC+10)
        assert ts[0] == _us(datetime(2011, 6, 30, 14, tzinfo=UTC))


def test_ausgrid_dst_days_drop_fillers_and_split_the_doubled_hour() -> None:
    _, table = _load("ausgrid_solar_home_c12")
    # spring forward 2011-10-02: 01:30 AEST = 15:30 UTC (0.308 kW), then 03:00 AEDT = 16:00 UTC (0.346);
    # the file's 02:00 and 02:30 rows were 0.0 fillers and are gone
    assert _at(table, "ausgrid-c12", "consumption_kw", datetime(2011, 10, 1, 15, 30, tzinfo=UTC)) == 0.308
    assert _at(table, "ausgrid-c12", "consumption_kw", datetime(2011, 10, 1, 16, tzinfo=UTC)) == pytest.approx(0.346)
    # fall back 2012-04-01: 02:00 = 1.092 and 02:30 = 1.128 cover both passes through the hour:
    # halves at 02:00 AEDT (15:00 UTC) and 02:00 AEST (16:00 UTC), estimated
    ts, kw, quality = _series(table, "ausgrid-c12", "consumption_kw")
    window = (ts >= _us(datetime(2012, 3, 31, 14, 30, tzinfo=UTC))) & (ts < _us(datetime(2012, 3, 31, 17, tzinfo=UTC)))
    assert list(kw[window]) == pytest.approx([0.67, 0.546, 0.564, 0.546, 0.564])
    assert list(quality[window]) == [0, 1, 1, 1, 1]
    # energy is kept: the CSV's total minus the two zero fillers
    csv = pa.csv.read_csv(_root() / "ausgrid_solar_home_c12" / "data_2011-2012.csv")
    assert kw.sum() == pytest.approx(pc.sum(csv["GC"]).as_py())


# ----------------------------------------------------------------------- malformed folders (no data)
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_available_and_load_all_say_clearly_when_the_root_is_absent(tmp_path: Path) -> None:
    assert not available(tmp_path / "nope")
    assert not available(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        list(load_all(tmp_path / "nope"))
    assert list(load_all(tmp_path)) == []


def test_a_bad_timestamp_names_the_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path / "pjm_hourly" / "X_hourly.csv",
           "Datetime,X_MW\n2015-01-01 01:00:00,1.0\n2015-01-01 02:00:00,2.0\n2015-13-01 03:00:00,3.0\n")
    with pytest.raises(IngestError) as err:
        load_pjm_hourly(tmp_path / "pjm_hourly")
    assert "X_hourly.csv" in str(err.value) and "line 4" in str(err.value) and "2015-13-01" in str(err.value)


def test_a_bad_number_names_the_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path / "pjm_hourly" / "X_hourly.csv",
           "Datetime,X_MW\n2015-01-01 01:00:00,1.0\n2015-01-01 02:00:00,12 MW\n")
    with pytest.raises(IngestError, match=r"line 3, field 'X_MW'.*X_hourly\.csv.*'12 MW'"):
        load_pjm_hourly(tmp_path / "pjm_hourly")


def test_pjm_label_that_cannot_exist_or_repeats_outside_dst_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "pjm_hourly"
    # 03:00 on 2015-03-08 would be the hour 02:00-03:00, skipped by the clocks
    _write(folder / "X_hourly.csv", "Datetime,X_MW\n2015-03-08 02:00:00,1\n2015-03-08 03:00:00,2\n")
    with pytest.raises(IngestError, match=r"line 3.*US Eastern"):
        load_pjm_hourly(folder)
    _write(folder / "X_hourly.csv", "Datetime,X_MW\n2015-06-08 02:00:00,1\n2015-06-08 02:00:00,2\n")
    with pytest.raises(IngestError, match=r"line 3.*same time"):
        load_pjm_hourly(folder)


def test_missing_files_and_columns_raise_config_errors_naming_them(tmp_path: Path) -> None:
    (tmp_path / "ausgrid_solar_home_c12").mkdir()
    with pytest.raises(ConfigError, match=r"data_2011-2012\.csv is missing"):
        load_ausgrid_solar_home_c12(tmp_path / "ausgrid_solar_home_c12")
    (tmp_path / "pjm_hourly").mkdir()
    with pytest.raises(ConfigError, match=r"no <REGION>_hourly\.csv"):
        load_pjm_hourly(tmp_path / "pjm_hourly")
    _write(tmp_path / "ett_small" / "ETTh1.csv", "date,HUFL\n2016-07-01 00:00:00,1.0\n")
    with pytest.raises(ConfigError, match=r"ETTh1.csv: columns \['HULL'"):
        load_ett_small(tmp_path / "ett_small")
    _write(tmp_path / "enerpos_pv" / "Prod_ENERPOS_Sunzil.txt", "\ufeffdate;produced_energy_kWh\r\n")
    with pytest.raises(ConfigError, match=r"Prod_ENERPOS_Sunzil\.txt: columns \['pv_power_W'\]"):
        load_enerpos_pv(tmp_path / "enerpos_pv")


@pytest.mark.parametrize(
    ("loader", "folder"),
    [(load_pjm_hourly, "pjm_hourly"), (load_ett_small, "ett_small"), (load_enerpos_pv, "enerpos_pv"),
     (load_ausgrid_solar_home_c12, "ausgrid_solar_home_c12")],
)
def test_every_loader_raises_a_gridpulse_error_on_an_empty_folder(
    tmp_path: Path, loader: Callable[[Path], Dataset], folder: str
) -> None:
    (tmp_path / folder).mkdir()
    with pytest.raises(GridpulseError, match=folder):
        loader(tmp_path / folder)


def test_small_well_formed_files_load(tmp_path: Path) -> None:
    folder = tmp_path / "enerpos_pv"
    _write(folder / "Prod_ENERPOS_Sunzil.txt",
           "\ufeffdate;produced_energy_kWh;pv_power_W\r\n01/01/2021 12:10;8,0;\r\n")
    with pytest.raises(IngestError, match="'8,0'"):
        load_enerpos_pv(folder)
    _write(folder / "Prod_ENERPOS_Sunzil.txt",
           "\ufeffdate;produced_energy_kWh;pv_power_W\r\n01/01/2021 12:10;8.0;\r\n02/01/2021 12:10;;48000")
    ds = load_enerpos_pv(folder)
    table = pa.concat_tables(ds.batches)
    assert ds.source_rows == 2 and table.num_rows == 4
    ts, kw, _ = _series(table, "enerpos", "power_kw")
    assert ts[1] == _us(datetime(2021, 1, 2, 8, 0, tzinfo=UTC)) and kw[1] == 48.0 and np.isnan(kw[0])

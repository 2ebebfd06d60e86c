"""generation_summary: hand-worked values, capacity factor on 23- and 25-hour days, units,
invariance, and pandas on the ENERPOS plant."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.generation import GenerationUnit, generation_summary
from gridpulse.datasets import load_enerpos_pv
from gridpulse.errors import QueryError
from tests.analytics.frames import frame, utc

Q = timedelta(minutes=15)


def test_hand_worked_day_of_a_2_mw_plant() -> None:
    # hourly MW on 2024-06-03 (UTC): 0, 0.01 (standby noise), 1, 2, 2, 1, 0
    # energy 0.01 + 1 + 2 + 2 + 1 = 6.01 MWh; capacity factor 6.01 / (2 MW x 24 h) = 0.1252;
    # peak 2 MW first at 03:00; producing (> 1 % of 2 MW = 0.02 MW): 4 hours
    rows = frame(1, utc(2024, 6, 3), timedelta(hours=1), [0.0, 0.01, 1.0, 2.0, 2.0, 1.0, 0.0])
    r = generation_summary(rows, capacity_mw=2.0, period="day", tz="UTC")
    row = r.table.to_pylist()[0]
    assert row["energy_mwh"] == pytest.approx(6.01)
    assert row["capacity_factor"] == pytest.approx(6.01 / 48)
    assert (row["peak_mw"], row["peak_at"], row["producing_h"], row["period_h"], row["intervals"]) == (
        2.0,
        utc(2024, 6, 3, 3),
        4.0,
        24.0,
        7,
    )
    assert r.units["capacity_factor"] == "1"


@pytest.mark.parametrize(
    ("tz", "midnight", "hours"),
    [
        ("Europe/Amsterdam", utc(2024, 3, 30, 23), 23),
        ("Europe/Amsterdam", utc(2024, 10, 26, 22), 25),
        ("Australia/Sydney", utc(2024, 4, 6, 13), 25),
        ("America/New_York", utc(2024, 3, 10, 5), 23),
    ],
)
def test_running_at_capacity_all_dst_day_is_capacity_factor_1(
    tz: str, midnight: datetime, hours: int
) -> None:
    # identity: full output for every quarter-hour of a 23- or 25-hour day
    rows = frame(1, midnight, Q, [1.2] * (4 * hours))
    row = generation_summary(rows, capacity_mw=1.2, period="day", tz=tz).table.to_pylist()[0]
    assert row["period_h"] == hours
    assert row["energy_mwh"] == pytest.approx(1.2 * hours)
    assert row["capacity_factor"] == pytest.approx(1.0)
    assert row["producing_h"] == hours


def test_power_and_energy_units_agree() -> None:
    rng = np.random.default_rng(7)
    mw = [float(x) for x in rng.random(96 * 2)]
    start = utc(2024, 6, 2, 22)
    base = generation_summary(
        frame(1, start, Q, mw), capacity_mw=1.0, period="day", tz="Europe/Amsterdam"
    ).table
    as_units: dict[GenerationUnit, list[float]] = {
        "kw": [x * 1000 for x in mw],
        "mwh": [x / 4 for x in mw],
        "kwh": [x * 250 for x in mw],
    }
    for unit, values in as_units.items():
        other = generation_summary(
            frame(1, start, Q, values), capacity_mw=1.0, period="day", tz="Europe/Amsterdam", unit=unit
        ).table
        for col in ("energy_mwh", "capacity_factor", "peak_mw", "producing_h"):
            assert other.column(col).to_pylist() == pytest.approx(base.column(col).to_pylist()), (unit, col)


def test_capacity_per_series_and_a_series_alone_equals_among_many() -> None:
    rng = np.random.default_rng(8)
    start = utc(2024, 6, 2, 22)
    parts = {sid: frame(sid, start, Q, [float(x) * sid for x in rng.random(96 * 3)]) for sid in (3, 1, 2)}
    capacity = {1: 1.0, 2: 2.0, 3: 3.0}
    whole = generation_summary(
        pa.concat_tables(list(parts.values())), capacity_mw=capacity, period="day", tz="Europe/Madrid"
    ).table
    alone = generation_summary(parts[2], capacity_mw=2.0, period="day", tz="Europe/Madrid").table
    assert whole.filter(pc.equal(whole["series_id"], 2)).equals(alone)
    with pytest.raises(QueryError, match="series 3"):
        generation_summary(parts[3], capacity_mw={1: 1.0}, period="day", tz="UTC")
    with pytest.raises(QueryError, match="unit='gw'"):
        generation_summary(parts[3], capacity_mw=1.0, period="day", tz="UTC", unit="gw")  # type: ignore[arg-type]


def test_enerpos_daily_energy_matches_pandas(shared_datasets: Path) -> None:
    data = load_enerpos_pv(shared_datasets / "enerpos_pv")
    table = pa.concat_tables(list(data.batches))
    table = table.filter(
        pc.and_(pc.equal(table["entity_id"], "enerpos"), pc.equal(table["metric"], "energy_kwh"))
    )
    kwh = pa.table(
        {
            "series_id": pa.array(np.zeros(table.num_rows, np.int32)),
            "ts": table["ts"],
            "value": table["value"],
        }
    )
    capacity_mw = 0.04914  # 49.14 kWp (README)
    out = generation_summary(
        kwh,
        capacity_mw=capacity_mw,
        period="day",
        tz="Indian/Reunion",
        unit="kwh",
        interval=timedelta(minutes=10),
    ).table.to_pandas()
    # independent: La Réunion is UTC+4 all year; sum kWh per local date, / 1000 for MWh
    df = kwh.to_pandas().dropna()
    local = df["ts"].dt.tz_convert("Indian/Reunion")
    daily = df.groupby(local.dt.date)["value"]
    np.testing.assert_allclose(out["energy_mwh"].to_numpy(), daily.sum().to_numpy() / 1000, rtol=1e-12)
    np.testing.assert_allclose(
        out["capacity_factor"].to_numpy(), daily.sum().to_numpy() / 1000 / (capacity_mw * 24), rtol=1e-12
    )
    np.testing.assert_allclose(out["peak_mw"].to_numpy(), daily.max().to_numpy() * 6 / 1000, rtol=1e-12)
    assert list(out["local_date"]) == list(daily.sum().index)
    # a tropical rooftop plant: yearly capacity factor well inside (0.10, 0.25)
    year = out[(out["local_date"] >= date(2022, 1, 1))]
    assert 0.10 < year["energy_mwh"].sum() / (capacity_mw * 24 * 365) < 0.25

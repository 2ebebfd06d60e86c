"""Synthetic but realistic interval data: a small utility fleet, and long frames of load-like series.

Everything here is generated with numpy from a seed and is deterministic. It is clearly synthetic:
use it for the demo, tests and benchmarks, and the real public datasets (`gridpulse.datasets`)
where measured numbers matter.

Random draws are keyed by the absolute day (and slot within the day) they belong to, not by their
position in the requested window. So a point has the same value whatever `end` or `days` asked
for it; only the injected faults of `generate_fleet` are placed relative to the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.dataset import Dataset, SeriesPoints, keyed_batches
from gridpulse.errors import ConfigError
from gridpulse.model import TS_TYPE, SeriesKey, SeriesMeta

__all__ = ["FAULTS", "FLEET_ORGANISATION", "generate_fleet", "generate_series"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_HOUR_US: Final = 3_600_000_000
_DAY_US: Final = 24 * _HOUR_US
_M15: Final = timedelta(minutes=15)
_M5: Final = timedelta(minutes=5)
#: SeedSequence entropy must be non-negative; days before 1970 are negative day numbers.
_DAY_OFFSET: Final = 1_000_000

#: The organisation of the synthetic fleet.
FLEET_ORGANISATION: Final = "demo-utility"

#: The meter faults `generate_fleet` injects: fault -> meter id (entity_kind "meter", metric "kwh").
FAULTS: Final[dict[str, str]] = {
    "gap": "m-03",
    "stuck": "m-05",
    "spike": "m-07",
    "negative": "m-08",
    "null": "m-02",
}


@dataclass(frozen=True)
class _Site:
    site_id: str
    name: str
    tz: str
    latitude_deg: float
    longitude_deg: float


@dataclass(frozen=True)
class _Meter:
    meter_id: str
    segment: str
    daily_kwh: float
    #: scaling factor on feeder-1, None when the meter is on an unmetered feeder
    feeder_scaling: float | None


@dataclass(frozen=True)
class _Plant:
    plant_id: str
    name: str
    site: _Site
    capacity_mw: float


@dataclass(frozen=True)
class _Battery:
    device_id: str
    name: str
    capacity_kwh: float
    power_kw: float
    #: bounds of the state of charge it rests at overnight [%]
    rest_soc_pct: tuple[float, float]
    #: every n-th local day it is run down to _LOW_SOC_PCT (0: never)
    deep_cycle_every_days: int


_AMS: Final = _Site("ams-noord", "Amsterdam-Noord", "Europe/Amsterdam", 52.40, 4.92)
_SVQ: Final = _Site("sevilla-sur", "Sevilla Sur solar park", "Europe/Madrid", 37.30, -5.95)
_METERS: Final = (
    _Meter("m-01", "residential", 7.5, 1.0),
    _Meter("m-02", "residential", 9.0, 1.0),
    _Meter("m-03", "residential", 11.0, 1.0),
    _Meter("m-04", "residential", 8.2, 1.0),
    _Meter("m-05", "residential", 12.5, 1.0),
    _Meter("m-06", "residential", 6.8, 1.0),
    _Meter("m-07", "residential", 10.1, 1.0),
    _Meter("m-08", "residential", 9.4, 1.0),
    # one meter stands for two identical flats behind one connection
    _Meter("m-09", "residential", 7.9, 2.0),
    _Meter("m-10", "commercial", 180.0, 1.0),
    _Meter("m-11", "commercial", 320.0, None),
    _Meter("m-12", "commercial", 240.0, None),
)
_PLANTS: Final = (
    _Plant("pv-1", "Noord rooftop PV", _AMS, 1.2),
    _Plant("pv-2", "Sevilla Sur PV park", _SVQ, 4.0),
)
_BATTERIES: Final = (
    _Battery("battery-1", "Noord community battery", 500.0, 250.0, (22.0, 40.0), 0),
    _Battery("battery-2", "Noord substation battery", 1000.0, 500.0, (25.0, 40.0), 0),
    _Battery("battery-3", "Noord peak-shaving battery", 200.0, 100.0, (10.0, 28.0), 4),
)
_FEEDER_ID: Final = "feeder-1"
_LOW_SOC_PCT: Final = 12.0
_CHARGE_EFF: Final = 0.96
_DISCHARGE_EFF: Final = 0.96

# random streams, one per component, so that adding one does not change the others
_S_TEMP, _S_METER, _S_CLOUD, _S_CLOUD_SLOT, _S_SOC, _S_BATT_SLOT, _S_FEEDER, _S_SERIES = range(8)


# ---------------------------------------------------------------------------------------- helpers
def _to_us(ts: datetime, name: str) -> int:
    """Microseconds since the Unix epoch of an aware datetime.

    Raises:
        ConfigError: `ts` is naive.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ConfigError(
            f"{name}={ts.isoformat()} has no time zone: pass an aware datetime, e.g. datetime.now(UTC)"
        )
    return (ts - _EPOCH) // _US


def _local_us(ts_us: I64, tz: str) -> I64:
    """Local wall-clock time in `tz` of UTC instants, as naive microseconds since the epoch."""
    try:
        local = pc.local_timestamp(pa.array(ts_us, type=pa.timestamp("us", tz=tz)))
    except pa.ArrowInvalid as exc:
        raise ConfigError(f"time zone {tz!r} is unknown to pyarrow's time zone database: {exc}") from exc
    out: I64 = local.cast(pa.int64()).to_numpy()
    return out


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _per_day(seed: int, stream: int, day: I64, size: int, *, uniform: bool = False) -> F64:
    """`size` draws per row keyed by absolute day number: row i belongs to `day[i]`. [1]

    Standard normal draws, or uniform on [0, 1) when `uniform`. The loop runs once per distinct
    day (tens), never per point.
    """
    days, inverse = np.unique(day, return_inverse=True)
    table = np.zeros((len(days), size))
    for i, d in enumerate(days):
        rng = _rng(seed, stream, int(d) + _DAY_OFFSET)
        table[i] = rng.random(size) if uniform else rng.standard_normal(size)
    out: F64 = table[inverse]
    return out


def _per_slot(seed: int, stream: int, ts_us: I64, interval_us: int) -> F64:
    """One standard normal draw per instant, keyed by UTC day and slot within it. [1]"""
    day = ts_us // _DAY_US
    slot = (ts_us - day * _DAY_US) // interval_us
    table = _per_day(seed, stream, day, _DAY_US // interval_us)
    out: F64 = table[np.arange(len(ts_us)), slot]
    return out


def _bump(hour: F64, centre_h: float | F64, width_h: float) -> F64:
    """Gaussian bump over the hour of day. [1]"""
    out: F64 = np.exp(-0.5 * ((hour - centre_h) / width_h) ** 2)
    return out


def _grid(end_us: int, interval: timedelta, days: int) -> I64:
    """Instants [floor(end) - days, floor(end)) on the interval grid. [µs since epoch]"""
    step = interval // _US
    stop = end_us // step * step
    out: I64 = np.arange(stop - days * _DAY_US, stop, step, dtype=np.int64)
    return out


@dataclass(frozen=True)
class _Clock:
    """Local calendar features of instants in one zone."""

    hour: F64  # local hour of day, fractional [h]
    weekend: F64  # 1.0 on Saturday and Sunday, else 0.0
    day: I64  # local date as days since 1970-01-01
    doy: F64  # local day of year [1..366]

    @classmethod
    def of(cls, ts_us: I64, tz: str) -> _Clock:
        local = _local_us(ts_us, tz)
        day = local // _DAY_US
        hour = (local - day * _DAY_US) / _HOUR_US
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        dates = day.astype("datetime64[D]")
        doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
        return cls(hour, (weekday >= 5).astype(np.float64), day, doy.astype(np.float64))


def _sin_elevation(ts_us: I64, site: _Site) -> F64:
    """Sine of the sun's elevation at the site, clipped at 0 (night).

    Declination and equation of time from the usual low-precision formulas (Cooper 1969, Spencer
    1971 simplified), good to about 1° and a few minutes: enough for a synthetic clear-sky shape.
    """
    day = ts_us // _DAY_US
    dates = day.astype("datetime64[D]")
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64) + 1
    utc_h = (ts_us - day * _DAY_US) / _HOUR_US
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365)
    b = 2 * np.pi * (doy - 81) / 364
    eot_min = 9.87 * np.sin(2 * b) - 7.53 * np.cos(b) - 1.5 * np.sin(b)
    solar_h = utc_h + site.longitude_deg / 15 + eot_min / 60
    hour_angle = np.radians(15 * (solar_h - 12))
    lat = np.radians(site.latitude_deg)
    s = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    out: F64 = np.clip(s, 0.0, None)
    return out


def _cloud_factor(seed: int, stream: int, day: I64) -> F64:
    """Daily clearness per local day: about 30 % cloudy days (0.1-0.45), the rest clear (0.8-1). [1]"""
    p = _per_day(seed, stream, day, 2, uniform=True)
    cloudy = p[:, 0] < 0.3
    out: F64 = np.where(cloudy, 0.1 + 0.35 * p[:, 1], 0.8 + 0.2 * p[:, 1])
    return out


# ---------------------------------------------------------------------------------------- meters
def _temperature_c(seed: int, clock: _Clock) -> F64:
    """A synthetic daily mean outdoor temperature for the Amsterdam area. [°C]"""
    seasonal = 10.5 - 7.5 * np.cos(2 * np.pi * (clock.doy - 25) / 365.25)
    # the weather of a day and its two neighbours, so cold spells last a few days
    w = (
        _per_day(seed, _S_TEMP, clock.day - 1, 1)[:, 0]
        + 2 * _per_day(seed, _S_TEMP, clock.day, 1)[:, 0]
        + _per_day(seed, _S_TEMP, clock.day + 1, 1)[:, 0]
    ) / np.sqrt(6)
    out: F64 = seasonal + 2.5 * w
    return out


def _meter_shape(meter: _Meter, hour: F64, weekend: F64, jitter: F64) -> F64:
    """Relative load shape over the local day (mean about 1 over a week). [1]"""
    if meter.segment == "residential":
        morning = 7.25 + 0.5 * jitter[0] + 1.5 * weekend
        evening = 19.0 + 0.5 * jitter[1]
        home: F64 = (
            0.45
            + (0.9 + 0.2 * jitter[2]) * _bump(hour, morning, 0.9)
            + (1.7 + 0.3 * jitter[3]) * _bump(hour, evening, 1.6)
            + 0.35 * weekend * _bump(hour, 13.0, 2.5)
            - 0.2 * _bump(hour, 3.5, 1.5)
        )
        return home
    opens = 1 / (1 + np.exp(-(hour - (7.5 + 0.3 * jitter[0])) / 0.4))
    closes = 1 / (1 + np.exp(-((18.5 + 0.3 * jitter[1]) - hour) / 0.5))
    out: F64 = 0.3 + (1 - weekend) * 1.0 * opens * closes + weekend * 0.08 * _bump(hour, 12.0, 3.0)
    return out


def _meters_kwh(seed: int, ts_us: I64, clock: _Clock) -> dict[str, F64]:
    """True energy per 15-minute interval of each meter, before any fault. [kWh]"""
    temp_c = _temperature_c(seed, clock)
    heating = np.clip(14.0 - temp_c, 0.0, None)
    cooling = np.clip(temp_c - 22.0, 0.0, None)
    mid_h = clock.hour + 0.125  # interval midpoint
    # normalise each shape over one reference week (fixed, so values do not depend on the window)
    week_h = np.tile(np.arange(96) / 4 + 0.125, 7)
    week_weekend = np.repeat((np.arange(7) >= 5).astype(np.float64), 96)
    out: dict[str, F64] = {}
    for i, meter in enumerate(_METERS):
        jitter = _rng(seed, _S_METER, i).uniform(-1.0, 1.0, 4)
        norm = float(np.mean(_meter_shape(meter, week_h, week_weekend, jitter)))
        shape = _meter_shape(meter, mid_h, clock.weekend, jitter) / norm
        noise = _per_slot(seed, _S_METER * 100 + i, ts_us, _M15 // _US)
        if meter.segment == "residential":
            weather = 1 + 0.025 * heating
            factor = np.exp(0.3 * noise - 0.045)
        else:
            weather = 1 + 0.015 * heating + 0.02 * cooling
            factor = np.exp(0.06 * noise)
        out[meter.meter_id] = np.round(meter.daily_kwh / 96 * shape * weather * factor, 3)
    return out


def _feeder_head_kwh(seed: int, ts_us: I64, meters: dict[str, F64]) -> F64:
    """Energy at the feeder head: mapped meters × scaling × (1 + losses). [kWh per 15 min]

    Losses are 3 % at no load rising to 6 % at the nominal peak (I²R grows with load squared;
    the 1.5 power keeps the light-load end realistic), plus 0.2 % measurement noise.
    """
    load = np.zeros(len(ts_us))
    nominal_peak = 0.0
    for meter in _METERS:
        if meter.feeder_scaling is not None:
            load += meter.feeder_scaling * meters[meter.meter_id]
            nominal_peak += meter.feeder_scaling * meter.daily_kwh / 96 * 2.5
    loss = 0.03 + 0.03 * np.clip(load / nominal_peak, 0.0, 1.0) ** 1.5
    noise = 1 + 0.002 * _per_slot(seed, _S_FEEDER, ts_us, _M15 // _US)
    out: F64 = np.round(load * (1 + loss) * noise, 3)
    return out


def _inject_faults(ts_us: I64, meters: dict[str, F64]) -> list[SeriesPoints]:
    """The meter parts with the faults of FAULTS applied (see generate_fleet)."""
    n = len(ts_us)
    keep = {m: np.ones(n, bool) for m in meters}
    values = {m: v.copy() for m, v in meters.items()}
    if n >= 96:
        gap = int(0.30 * n) // 4 * 4
        keep[FAULTS["gap"]][gap : gap + 16] = False
        stuck = int(0.45 * n) // 4 * 4
        values[FAULTS["stuck"]][stuck : stuck + 48] = values[FAULTS["stuck"]][stuck]
        spike = int(0.60 * n)
        values[FAULTS["spike"]][spike] = round(float(values[FAULTS["spike"]][spike]) * 25 + 4.0, 3)
        values[FAULTS["negative"]][int(0.70 * n)] = -0.412
        null = int(0.80 * n)
        values[FAULTS["null"]][[null, null + 5, null + 6]] = np.nan
    return [SeriesPoints(SeriesKey("meter", m, "kwh"), ts_us[keep[m]], values[m][keep[m]]) for m in meters]


# -------------------------------------------------------------------------------- PV and batteries
def _pv_mw(seed: int, plant_index: int, plant: _Plant, ts_us: I64, interval: timedelta) -> F64:
    """Average AC power of a PV plant over each interval, exactly 0 at night. [MW]"""
    clock = _Clock.of(ts_us, plant.site.tz)
    sun = _sin_elevation(ts_us + interval // _US // 2, plant.site)
    day_clear = _cloud_factor(seed, _S_CLOUD * 100 + plant_index, clock.day)
    slot = _per_slot(seed, _S_CLOUD_SLOT * 100 + plant_index, ts_us, interval // _US)
    # passing clouds: strong on cloudy days, a little haze otherwise
    sigma = np.where(day_clear < 0.5, 0.35, 0.04)
    clear = np.clip(day_clear * np.exp(sigma * slot - sigma**2 / 2), 0.0, 1.0)
    power = plant.capacity_mw * 0.85 * sun**1.2 * clear
    out: F64 = np.where(sun > 0, np.round(np.clip(power, 0.0, plant.capacity_mw), 4), 0.0)
    return out


def _battery(seed: int, index: int, battery: _Battery, ts_us: I64) -> tuple[F64, F64]:
    """Power and state of charge of one battery at the Amsterdam site.

    Each local day it rests overnight at a state of charge s[d] (drawn per day), charges midday
    (10:00-16:00 local, more on sunny days) by 25-55 percentage points, and discharges in the evening
    (17:00-22:00 local) down to s[d + 1]. Rest levels stay within `rest_soc_pct`, so the state of
    charge stays within 0..95 %. Every `deep_cycle_every_days`-th day (by absolute local date) the
    rest level is _LOW_SOC_PCT.

    Returns:
        power_kw: average power over each interval, positive when discharging. [kW]
        soc_pct: state of charge at the start of each interval, the integral of power_kw with
            charge and discharge efficiencies of 96 %. [%]
    """
    dt_h = (ts_us[1] - ts_us[0]) / _HOUR_US
    clock = _Clock.of(ts_us, _AMS.tz)
    days, day_idx = np.unique(clock.day, return_inverse=True)
    lo, hi = battery.rest_soc_pct
    u = _per_day(seed, _S_SOC * 100 + index, np.append(days, days[-1] + 1), 1, uniform=True)[:, 0]
    rest = lo + (hi - lo) * u
    if battery.deep_cycle_every_days:
        deep = np.append(days, days[-1] + 1) % battery.deep_cycle_every_days == 0
        rest[deep | np.roll(deep, 1)] = _LOW_SOC_PCT  # both sides of the deep day's cycle
    sunny = _cloud_factor(seed, _S_CLOUD * 100 + 0, days)  # pv-1 is on the same site
    charge_pts = 25.0 + 30.0 * sunny
    discharge_pts = rest[:-1] + charge_pts - rest[1:]

    jitter = 1 + 0.1 * _per_slot(seed, _S_BATT_SLOT * 100 + index, ts_us, int(dt_h * _HOUR_US))
    mid_h = clock.hour + dt_h / 2
    w_c = np.where((mid_h >= 10) & (mid_h < 16), _bump(mid_h, 13.0, 1.4) * np.clip(jitter, 0, None), 0.0)
    w_d = np.where((mid_h >= 17) & (mid_h < 22), _bump(mid_h, 19.5, 1.1) * np.clip(jitter, 0, None), 0.0)
    sum_c = np.bincount(day_idx, w_c, len(days))
    sum_d = np.bincount(day_idx, w_d, len(days))
    gain = np.divide(
        charge_pts[day_idx] * w_c, sum_c[day_idx], out=np.zeros(len(ts_us)), where=sum_c[day_idx] > 0
    )
    loss = np.divide(
        discharge_pts[day_idx] * w_d, sum_d[day_idx], out=np.zeros(len(ts_us)), where=sum_d[day_idx] > 0
    )
    power_kw = (
        loss / 100 * battery.capacity_kwh * _DISCHARGE_EFF - gain / 100 * battery.capacity_kwh / _CHARGE_EFF
    ) / dt_h
    power_kw = np.round(power_kw, 2)
    # integrate the rounded power, so the state of charge is exactly what the power says
    delta = np.where(power_kw < 0, -power_kw * _CHARGE_EFF, -power_kw / _DISCHARGE_EFF) * dt_h
    delta = delta / battery.capacity_kwh * 100
    before = np.cumsum(delta) - delta
    first = np.searchsorted(day_idx, np.arange(len(days)))
    soc = rest[day_idx] + before - before[first][day_idx]
    return power_kw, np.round(soc, 2)


# ---------------------------------------------------------------------------------------- the fleet
def _reference(start_us: int) -> dict[str, list[dict[str, object]]]:
    # valid from the first of January before the data, so reloads within a year give the same row
    valid_from = datetime((_EPOCH + timedelta(microseconds=start_us)).year, 1, 1, tzinfo=UTC)
    sites = (_AMS, _SVQ)
    return {
        "organisations": [
            {"organisation_id": FLEET_ORGANISATION, "name": "Demo Utility (synthetic)", "parent_id": None}
        ],
        "sites": [
            {
                "site_id": s.site_id,
                "organisation_id": FLEET_ORGANISATION,
                "name": s.name,
                "tz": s.tz,
                "latitude_deg": s.latitude_deg,
                "longitude_deg": s.longitude_deg,
            }
            for s in sites
        ],
        "devices": [
            {
                "device_id": b.device_id,
                "site_id": _AMS.site_id,
                "organisation_id": FLEET_ORGANISATION,
                "name": b.name,
                "device_type": "battery",
                "capacity_kwh": b.capacity_kwh,
                "power_kw": b.power_kw,
            }
            for b in _BATTERIES
        ],
        "meters": [
            {
                "meter_id": m.meter_id,
                "site_id": _AMS.site_id,
                "name": f"{m.segment} meter {m.meter_id}",
                "segment": m.segment,
            }
            for m in _METERS
        ],
        "plants": [
            {"plant_id": p.plant_id, "site_id": p.site.site_id, "name": p.name, "capacity_mw": p.capacity_mw}
            for p in _PLANTS
        ],
        "feeders": [
            {
                "feeder_id": _FEEDER_ID,
                "site_id": _AMS.site_id,
                "name": "Noord 10 kV feeder 1",
                "voltage_kv": 10.0,
            }
        ],
        "meter_feeder_map": [
            {
                "meter_id": m.meter_id,
                "feeder_id": _FEEDER_ID,
                "scaling_factor": m.feeder_scaling,
                "valid_from": valid_from,
            }
            for m in _METERS
            if m.feeder_scaling is not None
        ],
    }


def _meta() -> dict[SeriesKey, SeriesMeta]:
    org = FLEET_ORGANISATION
    meta: dict[SeriesKey, SeriesMeta] = {}
    for m in _METERS:
        meta[SeriesKey("meter", m.meter_id, "kwh")] = SeriesMeta(
            "kWh", _M15, _AMS.tz, {"segment": m.segment}, org, _AMS.site_id
        )
    meta[SeriesKey("feeder", _FEEDER_ID, "kwh")] = SeriesMeta(
        "kWh", _M15, _AMS.tz, {"measurement": "feeder-head"}, org, _AMS.site_id
    )
    for p in _PLANTS:
        meta[SeriesKey("plant", p.plant_id, "mw")] = SeriesMeta(
            "MW", _M15, p.site.tz, {"technology": "pv"}, org, p.site.site_id
        )
    for b in _BATTERIES:
        tags = {"device_type": "battery"}
        meta[SeriesKey("device", b.device_id, "StateOfChargePercentage")] = SeriesMeta(
            "%", _M5, _AMS.tz, tags, org, _AMS.site_id, b.device_id
        )
        meta[SeriesKey("device", b.device_id, "power_kw")] = SeriesMeta(
            "kW", _M5, _AMS.tz, tags, org, _AMS.site_id, b.device_id
        )
    return meta


def generate_fleet(*, end: datetime, days: int = 35, seed: int = 0) -> Dataset:
    """A synthetic fleet of one organisation ("demo-utility"): meters, a feeder, PV plants, batteries.

    Sites: "ams-noord" (Europe/Amsterdam, 52.4° N) holds everything but "pv-2", which sits at
    "sevilla-sur" (Europe/Madrid, 37.3° N); both zones make DST visible in local-day buckets.

    Series (each `ts` is a UTC instant on its interval grid; the last one is
    `floor(end, interval) - interval`, so every interval has ended by `end`; `days` days in all):

    - 12 meters "m-01" .. "m-12" (entity_kind "meter", metric "kwh"): energy per 15 minutes [kWh],
      starting at ts. m-01 .. m-09 are households (7-13 kWh a day, morning and evening peaks, later
      mornings at weekends, more use on cold days); m-10 .. m-12 are offices (180-320 kWh a day, an
      office-hours plateau on weekdays, low at weekends). Values are in 1 Wh steps.
    - "feeder-1" (entity_kind "feeder", metric "kwh"): energy per 15 minutes at the feeder head
      [kWh] = sum over m-01 .. m-10 of true meter energy × scaling factor (1.0; 2.0 for m-09),
      × (1 + losses), losses 3 % at light load rising to 6 % at peak, with 0.2 % noise. m-11 and
      m-12 are on an unmetered feeder. The head measures the true load, so meter faults do not
      show in it.
    - 2 PV plants "pv-1" (1.2 MW, Amsterdam) and "pv-2" (4.0 MW, Sevilla) (entity_kind "plant",
      metric "mw"): average power over 15 minutes [MW]; exactly 0 while the sun is below the
      horizon, a clear-sky bell by the sun's elevation for the site's latitude and date, about
      30 % cloudy days with passing clouds.
    - 3 batteries "battery-1" (500 kWh / 250 kW), "battery-2" (1,000 kWh / 500 kW), "battery-3"
      (200 kWh / 100 kW) (entity_kind "device") at 5-minute interval: "power_kw" (average power
      [kW], positive = discharge) and "StateOfChargePercentage" (at ts [%]), which integrates
      power_kw with 96 % charge and discharge efficiencies and stays within 0..95 %. They charge
      10:00-16:00 local (more on sunny days), discharge 17:00-22:00 local, and rest overnight at
      22-40 % (battery-1, battery-2) or 10-28 % (battery-3); battery-3 is also run down to 12 %
      around every fourth local date (days since 1970 divisible by 4), so a low-SoC alert has
      something to fire on whenever `days` >= 4.

    Faults, all on meter "kwh" series, placed at fractions of the window (with n intervals
    of 15 minutes; none when `days` is 0) and listed in FAULTS:

    - gap: m-03 has no rows for 4 hours (16 intervals) from interval floor(0.30 n), hour aligned;
    - stuck: m-05 repeats one value for 12 hours (48 intervals) from floor(0.45 n), hour aligned;
    - spike: m-07 at floor(0.60 n) reads 25 × its value + 4 kWh (about 20-30 kW for a house);
    - negative: m-08 at floor(0.70 n) reads -0.412 kWh;
    - null: m-02 has NULL values at floor(0.80 n), +5 and +6 (the rows are there, the value is null).

    Everything else is quality ACTUAL (0). About 111,000 rows for 35 days, in batches of at most
    100,000 rows. Apart from the faults, a point has the same value whatever `end` and `days`.

    Args:
        end: aware instant the data ends at (the demo uses now). [UTC instant]
        days: length of the window. [days]
        seed: seed of every random draw (>= 0); the same arguments give the same data.

    Returns:
        The Dataset "demo-fleet": batches, meta for every series, and reference rows for
        organisations, sites, devices (the batteries), meters, plants, feeders and meter_feeder_map.

    Raises:
        ConfigError: `end` is naive, or `days` or `seed` is negative.
    """
    end_us = _to_us(end, "end")
    if days < 0 or seed < 0:
        raise ConfigError(f"generate_fleet needs days >= 0 and seed >= 0, got days={days}, seed={seed}")
    ts15 = _grid(end_us, _M15, days)
    ts5 = _grid(end_us, _M5, days)
    parts: list[SeriesPoints] = []
    if len(ts15):
        clock = _Clock.of(ts15, _AMS.tz)
        meters = _meters_kwh(seed, ts15, clock)
        feeder = _feeder_head_kwh(seed, ts15, meters)
        parts += _inject_faults(ts15, meters)
        parts.append(SeriesPoints(SeriesKey("feeder", _FEEDER_ID, "kwh"), ts15, feeder))
        for i, plant in enumerate(_PLANTS):
            pv_mw = _pv_mw(seed, i, plant, ts15, _M15)
            parts.append(SeriesPoints(SeriesKey("plant", plant.plant_id, "mw"), ts15, pv_mw))
    if len(ts5):
        # whole local days around the window, so every charge and discharge window is complete
        step = _M5 // _US
        padded = np.arange(ts5[0] - 2 * _DAY_US, ts5[-1] + 2 * _DAY_US + step, step, dtype=np.int64)
        inside = (padded >= ts5[0]) & (padded <= ts5[-1])
        for i, battery in enumerate(_BATTERIES):
            power_kw, soc_pct = _battery(seed, i, battery, padded)
            parts.append(
                SeriesPoints(
                    SeriesKey("device", battery.device_id, "StateOfChargePercentage"), ts5, soc_pct[inside]
                )
            )
            parts.append(
                SeriesPoints(SeriesKey("device", battery.device_id, "power_kw"), ts5, power_kw[inside])
            )
    start_us = int(ts5[0]) if len(ts5) else end_us
    return Dataset("demo-fleet", keyed_batches(parts), _meta(), _reference(start_us))


# ------------------------------------------------------------------------------- long frames
def generate_series(
    n_series: int, freq: timedelta, *, periods: int, start: datetime | None = None, seed: int = 0
) -> pa.Table:
    """A long frame of load-like series with daily and weekly seasonality, a slow drift and noise.

    Each series has its own level (about 5-500 kW, log-normal), evening peak (17:00-20:00 UTC),
    morning shoulder, weekend factor (0.7-1.05), a slow random-walk drift of a few percent and 4 %
    noise. Hours and weekdays are those of UTC. Values are >= 0.

    Args:
        n_series: number of series; ids are 0 .. n_series - 1.
        freq: spacing of the points. [timedelta]
        periods: points per series.
        start: aware first instant; None means 2024-01-01 00:00 UTC. [UTC instant]
        seed: seed of every random draw (>= 0); the same arguments give the same frame.

    Returns:
        Columns series_id (int32), ts (timestamp[us, UTC]), value (float64, average power [kW]),
        sorted by series_id then ts; n_series × periods rows.

    Raises:
        ConfigError: `start` is naive, `freq` is not positive, or a count or the seed is negative.
    """
    if freq <= timedelta(0) or n_series < 0 or periods < 0 or seed < 0:
        raise ConfigError(
            f"generate_series needs freq > 0 and n_series, periods, seed >= 0; got freq={freq}, "
            f"n_series={n_series}, periods={periods}, seed={seed}"
        )
    start_us = (
        _to_us(start, "start") if start is not None else _to_us(datetime(2024, 1, 1, tzinfo=UTC), "start")
    )
    step_us = freq // _US
    ts = start_us + step_us * np.arange(periods, dtype=np.int64)
    day = ts // _DAY_US
    hour = (ts - day * _DAY_US) / _HOUR_US
    weekend = (((day + 3) % 7) >= 5).astype(np.float64)

    rng = _rng(seed, _S_SERIES)
    n = n_series
    level = np.exp(rng.normal(np.log(50.0), 0.8, (n, 1)))
    peak_h = rng.uniform(17.0, 20.0, (n, 1))
    amp = rng.uniform(0.3, 0.8, (n, 1))
    weekend_factor = rng.uniform(0.7, 1.05, (n, 1))
    drift = np.cumsum(rng.normal(0.0, 0.002 * np.sqrt(max(step_us / _HOUR_US, 1e-6)), (n, periods)), axis=1)
    noise = rng.normal(0.0, 0.04, (n, periods))
    daily = (
        0.55
        + amp * _bump(hour[None, :], peak_h, 1.8)
        + 0.35 * amp * _bump(hour[None, :], 8.0, 1.2)
        - 0.2 * _bump(hour[None, :], 4.0, 1.5)
    )
    weekly = 1 + (weekend_factor - 1) * weekend[None, :]
    value = np.clip(level * daily * weekly * (1 + drift + noise), 0.0, None)
    return pa.table(
        {
            "series_id": pa.array(np.repeat(np.arange(n, dtype=np.int32), periods)),
            "ts": pa.array(np.tile(ts, n), type=TS_TYPE),
            "value": pa.array(value.reshape(-1), type=pa.float64()),
        }
    )

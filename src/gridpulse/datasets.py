"""Readers for the real public energy datasets kept beside the project (`../shared/datasets`).

Each folder holds one published dataset with a README (origin, licence, units, time zone, row
counts, quirks). The files are read where they are and never copied into the repository. Every
reader turns one folder into one `Dataset` of UTC points, and names the file (and line, where one
is to blame) when the folder is malformed.

Conventions shared by all readers:

- `ts` is the UTC instant at which the interval a value describes *starts*. Sources that stamp
  the end of the interval (PJM's hour ending, ENERPOS) are moved back by one interval. Local
  times are converted with the rules of their zone (the tz database through pyarrow);
  each reader's docstring says how DST days are handled.
- An empty field becomes a null value; no value is invented, clipped or dropped except where a
  reader's docstring says so.
- `Dataset.source_rows` counts the data rows read from the files, to compare with the READMEs.

Readers are found by folder name in `LOADERS`; `load_all` runs those whose folder is present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gridpulse.dataset import Dataset, SeriesPoints, keyed_batches
from gridpulse.errors import ConfigError, IngestError, RowError
from gridpulse.model import Quality, SeriesKey, SeriesMeta

__all__ = [
    "LOADERS",
    "available",
    "load_all",
    "load_ausgrid_solar_home_c12",
    "load_enerpos_pv",
    "load_ett_small",
    "load_pjm_hourly",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_MIN_US: Final = 60_000_000
_HOUR_US: Final = 60 * _MIN_US
_HOUR: Final = timedelta(hours=1)
#: A decimal number as written in these CSV files (also nan/inf, which pyarrow casts).
_NUMBER_RE: Final = r"^[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|NaN|inf|Infinity)$"


# --------------------------------------------------------------------------------------- parsing
def _read_csv(path: Path, *, delimiter: str = ",") -> pa.Table:
    """Every column of a CSV file as strings (empty fields as ""), header names as written.

    Handles a UTF-8 byte order mark, CRLF line ends and a missing final newline.

    Raises:
        ConfigError: the file is missing or not readable as CSV with that delimiter.
    """
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing: restore it from the origin named in {path.parent / 'README.md'}, "
            "or remove the folder"
        )
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = fh.readline().rstrip("\r\n")
        names = [name.strip() for name in header.split(delimiter)]
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise ConfigError(f"{path} is not a readable {delimiter!r}-separated CSV file: {exc}") from exc


def _require_columns(path: Path, table: pa.Table, required: list[str]) -> None:
    """Raises ConfigError naming the file and the columns it lacks."""
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ConfigError(
            f"{path}: columns {missing} are missing; the header has {table.column_names}. "
            f"See {path.parent / 'README.md'} for the expected layout"
        )


def _column(table: pa.Table, field: str) -> pa.Array:
    """One column as a single Array, ready for numpy and for indexing by row."""
    return table[field].combine_chunks()


def _row_error(path: Path, column: pa.Array, bad: Mask, field: str, expected: str) -> IngestError:
    """An IngestError naming the file, the first bad line (header = line 1) and the value."""
    first = int(np.flatnonzero(bad)[0])
    value = column[first].as_py()
    reason = f"{path}: {value!r} is not {expected}"
    return IngestError([RowError(first + 2, first + 1, field, reason)], int(bad.sum()))


def _parse_ts(path: Path, table: pa.Table, field: str, fmt: str, expected: str) -> I64:
    """Timestamps of a string column as microseconds since the epoch.

    Naive formats give local wall time; a format with %z gives the UTC instant.

    Raises:
        IngestError: a value does not match `fmt` (names file, line and value).
    """
    column = _column(table, field)
    parsed = pc.strptime(column, format=fmt, unit="us", error_is_null=True)
    if parsed.null_count:
        bad = np.asarray(parsed.is_null().to_pylist(), dtype=bool)
        raise _row_error(path, column, bad, field, f"a timestamp like {expected}")
    out: I64 = parsed.cast(pa.int64()).to_numpy()
    return out


def _parse_float(path: Path, table: pa.Table, field: str, *, scale: float = 1.0) -> F64:
    """Numbers of a string column as float64 × scale; empty fields (and NaN) become NaN (null).

    Raises:
        IngestError: a value is not a number (names file, line and value).
    """
    raw = _column(table, field)
    column = pc.utf8_trim_whitespace(raw)
    empty = pc.equal(column, "")
    try:
        values = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), column), pa.float64())
    except pa.ArrowInvalid:
        ok = pc.or_(pc.match_substring_regex(column, _NUMBER_RE), empty)
        bad = ~np.asarray(ok.to_pylist(), dtype=bool)
        raise _row_error(path, raw, bad, field, "a number") from None
    out: F64 = pc.fill_null(values, np.nan).to_numpy() * scale
    return out


def _zone_candidates(local_us: I64, tz: str) -> tuple[I64, I64, Mask, Mask]:
    """Both possible UTC instants of local wall times in `tz`.

    Returns:
        earliest: the UTC instant with the earlier reading of an ambiguous time. [µs]
        latest: the UTC instant with the later reading. [µs]
        nonexistent: wall times skipped by a spring-forward change (no instant at all).
        ambiguous: wall times that occur twice (fall-back).

    Raises:
        ConfigError: pyarrow's time zone database does not know `tz`.
    """
    arr = pa.array(local_us, type=pa.timestamp("us"))
    try:
        early = pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="earliest")
        late = pc.assume_timezone(arr, timezone=tz, ambiguous="latest", nonexistent="latest")
        round_trip = pc.local_timestamp(early).cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid as exc:
        raise ConfigError(
            f"time zone {tz!r} is unknown to pyarrow's time zone database ({exc}): install the "
            "system tz database (tzdata)"
        ) from exc
    early_us: I64 = early.cast(pa.int64()).to_numpy()
    late_us: I64 = late.cast(pa.int64()).to_numpy()
    nonexistent: Mask = round_trip != local_us
    return early_us, late_us, nonexistent, (early_us != late_us) & ~nonexistent


def _check_unique(path: Path, table: pa.Table, field: str, ts_us: I64, order: I64) -> None:
    """Raises IngestError when two rows land on one UTC instant.

    Args:
        ts_us: sorted instants. [µs]
        order: the table row of each instant, to name the line of the second one.
    """
    dup = np.zeros(len(ts_us), bool)
    dup[1:] = ts_us[1:] == ts_us[:-1]
    if dup.any():
        bad = np.zeros(len(ts_us), bool)
        bad[order[dup]] = True
        raise _row_error(
            path, _column(table, field), bad, field, "a new instant: an earlier row has the same time"
        )


def _sorted_by(ts_us: I64) -> tuple[I64, I64]:
    """The instants sorted (stable: equal ones keep their file order) and the sorting permutation."""
    order: I64 = np.argsort(ts_us, kind="stable").astype(np.int64)
    return ts_us[order], order


# ------------------------------------------------------------------------------------------ PJM
_PJM_TZ: Final = "America/New_York"
_PJM_REGIONS: Final = {
    "AEP": "American Electric Power",
    "COMED": "Commonwealth Edison",
    "DAYTON": "Dayton Power & Light",
    "DEOK": "Duke Energy Ohio/Kentucky",
    "DUQ": "Duquesne Light",
    "EKPC": "East Kentucky Power Cooperative",
    "FE": "FirstEnergy",
    "NI": "Northern Illinois Hub",
    "PJME": "PJM East",
    "PJM_Load": "PJM RTO (whole footprint, 1998-2001)",
}


def _pjm_file(path: Path) -> tuple[str, I64, F64]:
    table = _read_csv(path)
    names = table.column_names
    if len(names) != 2 or names[0] != "Datetime" or not names[1].endswith("_MW"):
        raise ConfigError(f"{path}: header is {names}; expected Datetime,<REGION>_MW")
    label = _parse_ts(path, table, "Datetime", "%Y-%m-%d %H:%M:%S", "2015-11-01 02:00:00")
    value = _parse_float(path, table, names[1])
    label, order = _sorted_by(label)
    start_local = label - _HOUR_US
    early, late, nonexistent, _ = _zone_candidates(start_local, _PJM_TZ)
    if nonexistent.any():
        bad = np.zeros(len(label), bool)
        bad[order[nonexistent]] = True
        raise _row_error(
            path,
            _column(table, "Datetime"),
            bad,
            "Datetime",
            "an hour-ending label that exists in US Eastern time",
        )
    # after a stable sort, the second of two equal labels is the repeated (standard-time) hour
    repeat = np.zeros(len(label), bool)
    repeat[1:] = start_local[1:] == start_local[:-1]
    ts, by_ts = _sorted_by(np.where(repeat, late, early))
    order = order[by_ts]
    _check_unique(path, table, "Datetime", ts, order)
    return names[1][: -len("_MW")], ts, value[order]


def load_pjm_hourly(folder: Path) -> Dataset:
    """PJM hourly load by region: one series per `<REGION>_hourly.csv` file.

    Series: entity_kind "region", entity_id the region ("AEP", "COMED", "DAYTON", "DEOK", "DUQ",
    "EKPC", "FE", "NI", "PJME", "PJM_Load"), metric "load_mw": average load over the hour [MW]
    (= energy in MWh), interval 1 h, zone America/New_York.

    Time: the files stamp each hour by its end in US Eastern prevailing local time (hour ending,
    HE01 = 00:00-01:00) and are not sorted. Rows are sorted by label (stable, so file order is kept
    for equal labels); each label L becomes the UTC instant of the local wall time L - 1 h, the
    start of the hour:

    - fall-back days from 2014 to 2017 list 02:00 twice (HE02 and the repeated HE02*). Their start,
      01:00, is ambiguous: the first row in the file is taken as daylight time (EDT, UTC-4) and
      the second as standard time (EST, UTC-5). AEP 2015-11-01 02:00 = 10,785 MW is
      05:00-06:00 UTC and 10,542 MW is 06:00-07:00 UTC; 03:00 = 10,438 MW is 07:00 UTC.
      A lone ambiguous hour (never seen in these files) would be taken as daylight time;
    - fall-back days before 2014 lack both 02:00 rows: two UTC hours are missing (lost data);
    - spring-forward days lack the 03:00 label (the hour 02:00-03:00 does not exist): no gap in UTC.

    rows_expected: 830,772 data rows in 10 files (AEP 121,273; COMED 66,497; DAYTON 121,275;
    DEOK 57,739; DUQ 119,068; EKPC 45,334; FE 62,874; NI 58,450; PJME 145,366; PJM_Load 32,896),
    and as many points: nothing is dropped, no two land on one instant.

    Args:
        folder: the `pjm_hourly` folder.

    Returns:
        The Dataset "pjm_hourly"; source_rows counts the CSV data rows.

    Raises:
        ConfigError: no `*_hourly.csv` file, an unreadable file or an unexpected header.
        IngestError: a bad timestamp or number, a label that cannot exist in US Eastern time, or a
            label repeated where local time does not repeat (names file and line).
    """
    files = sorted(folder.glob("*_hourly.csv"))
    if not files:
        raise ConfigError(f"{folder} has no <REGION>_hourly.csv file: see {folder / 'README.md'}")
    series: list[SeriesPoints] = []
    meta: dict[SeriesKey, SeriesMeta] = {}
    for path in files:
        region, ts, value = _pjm_file(path)
        key = SeriesKey("region", region, "load_mw")
        series.append(SeriesPoints(key, ts, value))
        meta[key] = SeriesMeta(
            "MW",
            _HOUR,
            _PJM_TZ,
            {"source": "pjm", "region_name": _PJM_REGIONS.get(region, region)},
            organisation_id="pjm",
        )
    reference: dict[str, list[dict[str, Any]]] = {
        "organisations": [{"organisation_id": "pjm", "name": "PJM Interconnection (public load data)"}]
    }
    return Dataset("pjm_hourly", keyed_batches(series), meta, reference, sum(len(s.ts_us) for s in series))


# ------------------------------------------------------------------------------------------ ETT
_ETT_FILES: Final = ("ETTh1.csv", "ETTh2.csv")
_ETT_CHANNELS: Final = {
    "HUFL": ("", "high", "useful load"),
    "HULL": ("", "high", "useless load"),
    "MUFL": ("", "middle", "useful load"),
    "MULL": ("", "middle", "useless load"),
    "LUFL": ("", "low", "useful load"),
    "LULL": ("", "low", "useless load"),
    "OT": ("°C", "", "oil temperature"),
}
_CHINA_OFFSET_US: Final = 8 * _HOUR_US


def load_ett_small(folder: Path) -> Dataset:
    """ETT-small hourly transformer data: ETTh1 and ETTh2, seven series each.

    Series: entity_kind "transformer", entity_id "ETTh1" / "ETTh2", one metric per column with
    the publisher's name: "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL" (high/middle/low useful and
    useless load, unit not stated by the publisher: unit "") and "OT" (oil temperature [°C]).
    Interval 1 h, zone Asia/Shanghai. Negative loads are real and kept.

    Time: China local time, UTC+8 without DST: ts = stamp - 8 h. The publisher does not say
    whether a stamp starts an hour or samples it; it is kept as the hour's start.

    rows_expected: 17,420 data rows per file (2016-07-01 00:00 to 2018-06-26 19:00 local), 34,840
    in all; 7 points per row: 243,880 points.

    Args:
        folder: the `ett_small` folder.

    Returns:
        The Dataset "ett_small"; source_rows counts the CSV data rows.

    Raises:
        ConfigError: neither file is present, a file is unreadable or lacks a column.
        IngestError: a bad timestamp or number, or a repeated timestamp (names file and line).
    """
    paths = [folder / name for name in _ETT_FILES if (folder / name).is_file()]
    if not paths:
        raise ConfigError(f"{folder} has neither of {list(_ETT_FILES)}: see {folder / 'README.md'}")
    series: list[SeriesPoints] = []
    meta: dict[SeriesKey, SeriesMeta] = {}
    rows = 0
    for path in paths:
        table = _read_csv(path)
        _require_columns(path, table, ["date", *_ETT_CHANNELS])
        ts, order = _sorted_by(
            _parse_ts(path, table, "date", "%Y-%m-%d %H:%M:%S", "2016-07-01 00:00:00") - _CHINA_OFFSET_US
        )
        _check_unique(path, table, "date", ts, order)
        rows += table.num_rows
        for channel, (unit, level, meaning) in _ETT_CHANNELS.items():
            key = SeriesKey("transformer", path.stem, channel)
            series.append(SeriesPoints(key, ts, _parse_float(path, table, channel)[order]))
            tags = {"source": "ETDataset", "meaning": meaning} | ({"level": level} if level else {})
            meta[key] = SeriesMeta(unit, _HOUR, "Asia/Shanghai", tags, organisation_id="ett")
    reference: dict[str, list[dict[str, Any]]] = {
        "organisations": [{"organisation_id": "ett", "name": "ETDataset (Zhou et al., Informer, AAAI 2021)"}]
    }
    return Dataset("ett_small", keyed_batches(series), meta, reference, rows)


# -------------------------------------------------------------------------------------- ENERPOS
_ENERPOS_PLANT_FILE: Final = "Prod_ENERPOS_Sunzil.txt"
_ENERPOS_INVERTER_FILE: Final = "PV_ENERPOS_01-15-10-2022_bis.txt"
_ENERPOS_WEATHER_FILE: Final = "Meteo_Terre_Sainte_01-15-10-2022.txt"
_ENERPOS_TZ: Final = "Indian/Reunion"
_ENERPOS_OFFSET_US: Final = 4 * _HOUR_US
_ENERPOS_PERIOD_US: Final = 10 * _MIN_US
_ENERPOS_SITE: Final = "enerpos"
_ENERPOS_ORG: Final = "univ-la-reunion"
_ENERPOS_WEATHER: Final = {
    "GHI": ("ghi_w_m2", "W/m²"),
    "BNI": ("bni_w_m2", "W/m²"),
    "DHI": ("dhi_w_m2", "W/m²"),
    "DBT": ("temperature_c", "°C"),
    "RH": ("humidity_pct", "%"),
    "Ws10": ("wind_speed_m_s", "m/s"),
    "Wd10": ("wind_direction_deg", "°"),
    "Patmo": ("pressure_hpa", "hPa"),
    "Rainfall": ("rainfall_mm", "mm"),
}


def _enerpos_offset_file(path: Path, columns: list[str]) -> tuple[pa.Table, I64, I64]:
    """A two-week ENERPOS file with ISO stamps and offset: table, interval starts (UTC), row order."""
    table = _read_csv(path)
    _require_columns(path, table, ["datetime", *columns])
    end = _parse_ts(path, table, "datetime", "%Y-%m-%d %H:%M:%S%z", "2022-10-01 00:00:00+04:00")
    ts, order = _sorted_by(end - _ENERPOS_PERIOD_US)
    _check_unique(path, table, "datetime", ts, order)
    return table, ts, order


def load_enerpos_pv(folder: Path) -> Dataset:
    """ENERPOS 49 kWp rooftop PV plant (La Réunion): plant output, inverters and weather.

    Series (zone Indian/Reunion, UTC+4 without DST; nominal interval 10 min):

    - from `Prod_ENERPOS_Sunzil.txt` (required; `;`-separated, BOM, CRLF, day-first naive local
      stamps): entity_kind "plant", entity_id "enerpos", metrics "energy_kwh" (energy produced in
      the 10 minutes [kWh]) and "power_kw" (plant AC power, the file's W / 1000 [kW]). Empty fields
      are null (78 energy, 2,402 power). Outages, catch-up spikes (9,016 kWh in one row), power
      above rating and 51 off-grid stamps are kept as they are: they are the data-quality cases
      the dataset is good for.
    - from `PV_ENERPOS_01-15-10-2022_bis.txt` (optional, stamps with +04:00): entity_kind
      "inverter", entity_ids "Inv1" .. "Inv4", metric "power_kw" (AC power [kW]); Inv4 is null
      in 3 night rows. Their sum equals the plant's power_kw at the 2,150 shared instants.
      `PV_ENERPOS_01-15-10-2022.txt` holds the same values in an older format and is not read.
    - from `Meteo_Terre_Sainte_01-15-10-2022.txt` (optional): entity_kind "weather_station",
      entity_id "terre-sainte", metrics ghi_w_m2, bni_w_m2, dhi_w_m2 [W/m²], temperature_c [°C],
      humidity_pct [%], wind_speed_m_s [m/s], wind_direction_deg [°], pressure_hpa [hPa],
      rainfall_mm [mm].

    Time: the publisher stamps the end of each 10-minute period; ts = stamp - 4 h - 10 min, the
    period's start in UTC (for off-grid stamps too). The plant file is assumed to follow the same
    convention as the two-week files, and the weather file that of the inverter file.

    rows_expected: plant 94,227 data rows (188,454 points); inverters 2,160 rows (8,640 points);
    weather 2,160 rows (19,440 points). source_rows = 98,547 when all three are present.

    Args:
        folder: the `enerpos_pv` folder.

    Returns:
        The Dataset "enerpos_pv"; source_rows counts the data rows of the files read.

    Raises:
        ConfigError: the plant file is missing, a file is unreadable or lacks a column.
        IngestError: a bad timestamp or number, or a repeated timestamp (names file and line).
    """
    series: list[SeriesPoints] = []
    meta: dict[SeriesKey, SeriesMeta] = {}
    site = {"organisation_id": _ENERPOS_ORG, "site_id": _ENERPOS_SITE}
    tags = {"source": "enerpos"}

    path = folder / _ENERPOS_PLANT_FILE
    plant = _read_csv(path, delimiter=";")
    _require_columns(path, plant, ["date", "produced_energy_kWh", "pv_power_W"])
    end_local = _parse_ts(path, plant, "date", "%d/%m/%Y %H:%M", "01/01/2021 00:10")
    ts, order = _sorted_by(end_local - _ENERPOS_OFFSET_US - _ENERPOS_PERIOD_US)
    _check_unique(path, plant, "date", ts, order)
    for metric, column, unit, scale in (
        ("energy_kwh", "produced_energy_kWh", "kWh", 1.0),
        ("power_kw", "pv_power_W", "kW", 1e-3),
    ):
        key = SeriesKey("plant", "enerpos", metric)
        series.append(SeriesPoints(key, ts, _parse_float(path, plant, column, scale=scale)[order]))
        meta[key] = SeriesMeta(unit, timedelta(minutes=10), _ENERPOS_TZ, tags, **site)
    rows = plant.num_rows
    reference: dict[str, list[dict[str, Any]]] = {
        "organisations": [{"organisation_id": _ENERPOS_ORG, "name": "Université de La Réunion, PIMENT"}],
        "sites": [
            {
                "site_id": _ENERPOS_SITE,
                "organisation_id": _ENERPOS_ORG,
                "name": "ENERPOS, Terre Sainte",
                "tz": _ENERPOS_TZ,
                "latitude_deg": -21.33,
                "longitude_deg": 55.48,
            }
        ],
        "plants": [
            {
                "plant_id": "enerpos",
                "site_id": _ENERPOS_SITE,
                "name": "ENERPOS rooftop PV (Sunzil)",
                "capacity_mw": 0.04914,
            }
        ],
    }

    path = folder / _ENERPOS_INVERTER_FILE
    if path.is_file():
        inverters = [f"Inv{i}" for i in range(1, 5)]
        table, ts, order = _enerpos_offset_file(path, [f"{inv}_AC" for inv in inverters])
        for inv in inverters:
            key = SeriesKey("inverter", inv, "power_kw")
            series.append(SeriesPoints(key, ts, _parse_float(path, table, f"{inv}_AC", scale=1e-3)[order]))
            meta[key] = SeriesMeta(
                "kW",
                timedelta(minutes=10),
                _ENERPOS_TZ,
                tags | {"plant_id": "enerpos"},
                device_id=inv,
                **site,
            )
        reference["devices"] = [
            {
                "device_id": inv,
                "site_id": _ENERPOS_SITE,
                "organisation_id": _ENERPOS_ORG,
                "name": f"ENERPOS inverter {inv[-1]}",
                "device_type": "inverter",
                "plant_id": "enerpos",
            }
            for inv in inverters
        ]
        rows += table.num_rows

    path = folder / _ENERPOS_WEATHER_FILE
    if path.is_file():
        table, ts, order = _enerpos_offset_file(path, list(_ENERPOS_WEATHER))
        for column, (metric, unit) in _ENERPOS_WEATHER.items():
            key = SeriesKey("weather_station", "terre-sainte", metric)
            series.append(SeriesPoints(key, ts, _parse_float(path, table, column)[order]))
            meta[key] = SeriesMeta(unit, timedelta(minutes=10), _ENERPOS_TZ, tags, **site)
        rows += table.num_rows
    return Dataset("enerpos_pv", keyed_batches(series), meta, reference, rows)


# -------------------------------------------------------------------------------------- Ausgrid
_AUSGRID_FILE: Final = "data_2011-2012.csv"
_AUSGRID_TZ: Final = "Australia/Sydney"
_AUSGRID_ID: Final = "ausgrid-c12"


def load_ausgrid_solar_home_c12(folder: Path) -> Dataset:
    """Ausgrid Solar Home customer 12: one Sydney household's consumption and rooftop PV.

    Series: entity_kind "meter", entity_id "ausgrid-c12", metrics "consumption_kw" (column GC)
    and "pv_kw" (column GG): average power over the half hour [kW] (energy = kW × 0.5 h),
    interval 30 min, zone Australia/Sydney.

    Time: stamps are the start of each half hour in NSW clock time, and every day has 48 rows,
    DST change days included. Mapping, which never puts two points on one UTC instant:

    - every other stamp is local time converted with the Australia/Sydney rules;
    - spring forward (2011-10-02): 02:00 and 02:30 do not exist on the clock; their rows (0.0 kW in
      both columns, filler) are dropped;
    - fall back (2012-04-01): 02:00 and 02:30 occur twice, and their single rows hold about twice
      their neighbours' power: the energy of both passes through the repeated hour. Each row
      becomes two points, one for the daylight-time (AEDT) and one for the standard-time (AEST)
      occurrence, each with half the value and quality ESTIMATED, which keeps the energy and
      leaves no gap in UTC.

    rows_expected: 17,568 data rows (366 days × 48); 17,568 instants per metric after dropping 2
    and splitting 2 into 4: 35,136 points, 8 of them ESTIMATED.

    Args:
        folder: the `ausgrid_solar_home_c12` folder.

    Returns:
        The Dataset "ausgrid_solar_home_c12"; source_rows counts the CSV data rows.

    Raises:
        ConfigError: the file is missing, unreadable, or lacks the GC or GG column.
        IngestError: a bad timestamp or number, or a repeated timestamp (names file and line).
    """
    path = folder / _AUSGRID_FILE
    table = _read_csv(path)
    _require_columns(path, table, ["GC", "GG"])
    stamp = table.column_names[0]  # the header of the timestamp column is empty
    local, order = _sorted_by(_parse_ts(path, table, stamp, "%Y-%m-%d %H:%M:%S", "2011-07-01 00:30:00"))
    _check_unique(path, table, stamp, local, order)
    early, late, nonexistent, ambiguous = _zone_candidates(local, _AUSGRID_TZ)
    plain = ~nonexistent & ~ambiguous
    ts = np.concatenate([early[plain], early[ambiguous], late[ambiguous]])
    quality = np.concatenate(
        [
            np.full(int(plain.sum()), Quality.ACTUAL, np.int8),
            np.full(2 * int(ambiguous.sum()), Quality.ESTIMATED, np.int8),
        ]
    )
    by_ts = np.argsort(ts, kind="stable")
    series: list[SeriesPoints] = []
    meta: dict[SeriesKey, SeriesMeta] = {}
    for metric, column in (("consumption_kw", "GC"), ("pv_kw", "GG")):
        value = _parse_float(path, table, column)[order]
        split = value[ambiguous] / 2
        key = SeriesKey("meter", _AUSGRID_ID, metric)
        series.append(
            SeriesPoints(key, ts[by_ts], np.concatenate([value[plain], split, split])[by_ts], quality[by_ts])
        )
        meta[key] = SeriesMeta(
            "kW",
            timedelta(minutes=30),
            _AUSGRID_TZ,
            {"source": "ausgrid-solar-home"},
            organisation_id="ausgrid",
            site_id=_AUSGRID_ID,
        )
    reference: dict[str, list[dict[str, Any]]] = {
        "organisations": [{"organisation_id": "ausgrid", "name": "Ausgrid (Solar home electricity data)"}],
        "sites": [
            {
                "site_id": _AUSGRID_ID,
                "organisation_id": "ausgrid",
                "name": "Ausgrid solar home, customer 12",
                "tz": _AUSGRID_TZ,
            }
        ],
        "meters": [
            {"meter_id": _AUSGRID_ID, "site_id": _AUSGRID_ID, "name": "customer 12 (GC, GG)", "pv_kwp": 1.04}
        ],
    }
    return Dataset("ausgrid_solar_home_c12", keyed_batches(series), meta, reference, table.num_rows)


# ------------------------------------------------------------------------------------ registry
#: Reader per dataset folder name, in the order load_all runs them.
LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "pjm_hourly": load_pjm_hourly,
    "ett_small": load_ett_small,
    "enerpos_pv": load_enerpos_pv,
    "ausgrid_solar_home_c12": load_ausgrid_solar_home_c12,
}


def available(root: Path) -> bool:
    """Whether `root` is a folder holding at least one known dataset folder.

    Args:
        root: the datasets folder, e.g. `../shared/datasets` beside the project.

    Returns:
        True when any folder named in LOADERS exists under `root`.
    """
    return root.is_dir() and any((root / name).is_dir() for name in LOADERS)


def load_all(root: Path) -> Iterator[Dataset]:
    """One Dataset per known dataset folder present under `root`, in LOADERS order.

    Each is read when the iterator reaches it, so only one is in memory at a time if the caller
    writes and drops it.

    Args:
        root: the datasets folder.

    Yields:
        The Datasets of the folders present (none when `root` holds none of them).

    Raises:
        ConfigError: `root` is not a folder, or a dataset folder is malformed (see each reader).
        IngestError: a file has a bad value (names file and line).
    """
    if not root.is_dir():
        raise ConfigError(
            f"datasets folder {root} does not exist: check demo.datasets_dir, or place the shared "
            "datasets at ../shared/datasets beside the project"
        )
    for name, loader in LOADERS.items():
        if (root / name).is_dir():
            yield loader(root / name)

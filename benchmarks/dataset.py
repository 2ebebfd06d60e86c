"""A deterministic smart-meter data set, written once per run as NDJSON, line protocol, CSV and Parquet.

Rows arrive in time order, all meters of one interval before the next interval, as a head-end
system sends them: `meters` meters x 96 quarter-hours x `days` days (1,000 x 30 days = 2.88 M rows).
Every format holds the same rows; the values are the same on every run and every machine.

- NDJSON: `{"ts":"2024-01-01T00:00:00Z","meter_id":"m-0001","kwh":0.123}`, the meter_usage route
- line protocol: `meter_usage,meter_id=m-0001 kwh=0.123 1704067200000000000` (ns)
- CSV: `ts,meter_id,kwh` with the same ISO text for ts
- Parquet: ts timestamp[us, UTC], meter_id string, kwh float64
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["DataSet", "generate", "split_lines"]

START = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
SEED = 20240101


@dataclass(frozen=True)
class DataSet:
    """Paths of the four files and what they hold."""

    folder: Path
    meters: int
    days: int
    rows: int
    ndjson: Path
    lineprotocol: Path
    csv: Path
    parquet: Path

    def sizes_mb(self) -> dict[str, float]:
        return {
            p.suffix.lstrip("."): round(p.stat().st_size / 2**20, 1)
            for p in (self.ndjson, self.lineprotocol, self.csv, self.parquet)
        }


def _values(meters: int, steps: int) -> np.ndarray:
    """kWh per quarter-hour, time-major: a daily load shape per meter, scaled, plus noise. [kWh]"""
    rng = np.random.default_rng(SEED)
    scale = rng.lognormal(mean=-1.6, sigma=0.5, size=meters)  # ~0.2 kWh per 15 min median
    phase = rng.uniform(-1.0, 1.0, size=meters)
    hour = (np.arange(steps) % 96) / 4.0
    shape = 1.0 + 0.6 * np.sin((hour[:, None] - 7.0 + phase[None, :]) / 24.0 * 2 * np.pi)
    noise = rng.gamma(shape=8.0, scale=1 / 8.0, size=(steps, meters))
    return np.round(scale[None, :] * shape * noise, 3).ravel()


def generate(folder: Path, *, meters: int, days: int) -> DataSet:
    """Write the four files into `folder` and return where they are."""
    folder.mkdir(parents=True, exist_ok=True)
    steps = days * 96
    rows = steps * meters
    kwh = _values(meters, steps)
    width = max(4, len(str(meters - 1)))
    meter_ids = [f"m-{m:0{width}d}" for m in range(meters)]
    instants = [START + STEP * t for t in range(steps)]
    ts_iso = [t.isoformat().replace("+00:00", "Z") for t in instants]
    ts_ns = [str(int(t.timestamp()) * 1_000_000_000) for t in instants]
    kwh_txt = [repr(v) for v in kwh.tolist()]

    ds = DataSet(
        folder,
        meters,
        days,
        rows,
        folder / "meter_usage.ndjson",
        folder / "meter_usage.lp",
        folder / "meter_usage.csv",
        folder / "meter_usage.parquet",
    )
    with ds.ndjson.open("w") as f:
        i = 0
        for t in range(steps):
            ts = ts_iso[t]
            f.write(
                "".join(
                    f'{{"ts":"{ts}","meter_id":"{meter_ids[m]}","kwh":{kwh_txt[i + m]}}}\n'
                    for m in range(meters)
                )
            )
            i += meters
    with ds.lineprotocol.open("w") as f:
        i = 0
        for t in range(steps):
            ns = ts_ns[t]
            f.write(
                "".join(
                    f"meter_usage,meter_id={meter_ids[m]} kwh={kwh_txt[i + m]} {ns}\n" for m in range(meters)
                )
            )
            i += meters
    with ds.csv.open("w") as f:
        f.write("ts,meter_id,kwh\n")
        i = 0
        for t in range(steps):
            ts = ts_iso[t]
            f.write("".join(f"{ts},{meter_ids[m]},{kwh_txt[i + m]}\n" for m in range(meters)))
            i += meters
    t_us = np.repeat(np.array([int(t.timestamp()) * 1_000_000 for t in instants], dtype=np.int64), meters)
    table = pa.table(
        {
            "ts": pa.array(t_us, type=pa.timestamp("us", tz="UTC")),
            "meter_id": pa.DictionaryArray.from_arrays(
                pa.array(np.tile(np.arange(meters, dtype=np.int32), steps)), pa.array(meter_ids)
            ).cast(pa.string()),
            "kwh": pa.array(kwh),
        }
    )
    pq.write_table(table, ds.parquet, row_group_size=1 << 20)
    (folder / "dataset.json").write_text(
        json.dumps({"meters": meters, "days": days, "rows": rows, "start": ts_iso[0], "seed": SEED})
    )
    return ds


def split_lines(data: bytes, *, rows: int, meters: int, writers: int, batch_rows: int) -> list[list[bytes]]:
    """Split a line file (header-less) into `writers` streams by meter, each cut into batches.

    Meter m goes to writer m % writers, so each writer is one "head-end" with its own meters,
    still in time order. Returns, per writer, the list of bodies of at most `batch_rows` lines.
    """
    lines = data.splitlines(keepends=True)
    if len(lines) != rows:
        raise ValueError(f"expected {rows} lines, found {len(lines)}")
    owner = (np.arange(rows) % meters) % writers
    out: list[list[bytes]] = []
    for w in range(writers):
        idx = np.flatnonzero(owner == w)
        mine = [lines[i] for i in idx.tolist()]
        out.append([b"".join(mine[j : j + batch_rows]) for j in range(0, len(mine), batch_rows)])
    return out

"""Line protocol grammar: a table of tricky lines, errors naming the line, fast path == careful path."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from gridpulse.ingest import lineprotocol as lp
from gridpulse.model import SeriesKey

NOW_NS = 1_700_000_000_123_456_789
T = 1_704_067_200  # 2024-01-01T00:00:00Z in seconds


def parse(*lines: str, precision: str | None = None) -> lp.LineBatch:
    raw = [line.encode() for line in lines]
    return lp.parse_lines(raw, list(range(1, len(raw) + 1)), precision=precision, now_ns=NOW_NS)


def points(batch: lp.LineBatch) -> list[tuple[str, str, str, datetime, float]]:
    return [
        (r["entity_kind"], r["entity_id"], r["metric"], r["ts"], r["value"]) for r in batch.table.to_pylist()
    ]


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # the JSON routes' measurements map to the same series as their NDJSON rows
        (f"meter_usage,meter_id=m-1 kwh=1.25 {T}000000000", [("meter", "m-1", "kwh", ts(T), 1.25)]),
        (f"generation_output,plant_id=plant-1 mw=10 {T}000000000", [("plant", "plant-1", "mw", ts(T), 10.0)]),
        (
            f"telemetry,device_id=b-1,metric_name=StateOfChargePercentage value=19.5 {T}000000000",
            [("device", "b-1", "StateOfChargePercentage", ts(T), 19.5)],
        ),
        (
            f"readings,channel_id=7 energy_kwh=1.5,power_kw=6i {T}000000000",
            [("channel", "7", "energy_kwh", ts(T), 1.5), ("channel", "7", "power_kw", ts(T), 6.0)],
        ),
        # unknown measurements: the measurement is the kind, sorted tags the id
        (
            f"weather,station=ams,country=nl temp_c=-3.5e-1 {T}000000000",
            [("weather", "country=nl,station=ams", "temp_c", ts(T), -0.35)],
        ),
        (f"cpu usage=1 {T}000000000", [("cpu", "cpu", "usage", ts(T), 1.0)]),
        # types
        (
            f"m,k=v a=1i,b=-2i,c=3u,d=1.5E3,e=.5,f=+2. {T}000000000",
            [
                ("m", "k=v", x, ts(T), v)
                for x, v in [("a", 1.0), ("b", -2.0), ("c", 3.0), ("d", 1500.0), ("e", 0.5), ("f", 2.0)]
            ],
        ),
        *[
            (f"m b={word} {T}000000000", [("m", "m", "b", ts(T), float(truth))])
            for word, truth in [
                ("t", 1),
                ("T", 1),
                ("true", 1),
                ("True", 1),
                ("TRUE", 1),
                ("f", 0),
                ("F", 0),
                ("false", 0),
                ("False", 0),
                ("FALSE", 0),
            ]
        ],
        # escapes
        (
            f"my\\ meas\\,x,tag\\ key=tag\\,val\\=ue fi\\=eld\\ k=1 {T}000000000",
            [("my meas,x", "tag key=tag,val=ue", "fi=eld k", ts(T), 1.0)],
        ),
        (
            f'm,k=v s="a \\"quoted\\" \\\\ string, with = signs",x=2 {T}000000000',
            [("m", "k=v", "x", ts(T), 2.0)],
        ),
        # precisions and server time
        (f"m x=1 {T}", [("m", "m", "x", ts(T - T + T * 1e-9), 1.0)]),
        ("m x=1", [("m", "m", "x", ts(NOW_NS // 1000 / 1e6), 1.0)]),
        (f"m x=1 {T}123456789  ", [("m", "m", "x", ts(T + 0.123456), 1.0)]),
    ],
)
def test_tricky_lines(line: str, expected: list[tuple[str, str, str, datetime, float]]) -> None:
    batch = parse(line)
    assert batch.errors == []
    assert points(batch) == expected


@pytest.mark.parametrize(
    ("precision", "stamp", "seconds"),
    [
        ("ns", T * 10**9, T),
        ("n", T * 10**9, T),
        ("us", T * 10**6, T),
        ("u", T * 10**6, T),
        ("ms", T * 1000 + 5, T + 0.005),
        ("s", T, T),
        ("m", T // 60, T // 60 * 60),
        ("h", T // 3600, T // 3600 * 3600),
    ],
)
def test_precisions(precision: str, stamp: int, seconds: float) -> None:
    assert points(parse(f"m x=1 {stamp}", precision=precision))[0][3] == ts(seconds)


def test_string_fields_are_ignored_and_counted() -> None:
    batch = parse(f'm status="ok",v=1 {T}', precision="s")
    assert [p[2] for p in points(batch)] == ["v"]
    assert batch.ignored_fields == 1


def test_blank_lines_and_comments_are_skipped() -> None:
    batch = parse("# a comment", "", f"m x=1 {T}", "   ", precision="s")
    assert batch.errors == [] and len(points(batch)) == 1


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("m", None, "missing field set"),
        ("m x", "x", "key=value"),
        ("m x=", "x", "empty"),
        ("m x=abc", "x", "invalid field value"),
        ("m x=inf", "x", "invalid field value"),
        ("m x=NaN", "x", "invalid field value"),
        ("m x=yes", "x", "invalid field value"),
        ("m x=1.5i", "x", "invalid field value"),
        ("m x=-3u", "x", "invalid field value"),
        ("m x=99999999999999999999i", "x", "64-bit"),
        ('m x="unterminated', "x", "unterminated"),
        ("m x=1 12:00", "timestamp", "not an integer"),
        ("m x=1 1.5", "timestamp", "not an integer"),
        ("m,tag x=1", None, "key=value"),
        ("m,tag= x=1", "tag", "empty"),
        ("m x=1,", None, "missing field key"),
        ("m x=1 99999999999999999999999", "timestamp", "out of range"),
    ],
)
def test_malformed_lines_name_line_field_and_reason(line: str, field: str | None, reason: str) -> None:
    batch = parse(f"m ok=1 {T}", line, f"m ok=2 {T}", precision="s")
    (err,) = batch.errors
    assert err.line == 2
    assert err.field == field
    assert reason in err.reason
    assert len(points(batch)) == 2


def test_series_metadata_carries_tags_and_units() -> None:
    batch = parse(f"meter_usage,meter_id=m-1,site=ams kwh=1 {T}", precision="s")
    meta = batch.meta[SeriesKey("meter", "m-1", "kwh")]
    assert (meta.unit, meta.tags, meta.interval.total_seconds() if meta.interval else None) == (
        "kWh",
        {"site": "ams"},
        900.0,
    )


def _random_line(rng: random.Random) -> str:
    meas = rng.choice(["meter_usage", "weather", "grid"])
    tags = ",".join(
        f"{k}={rng.choice(['a', 'b', 'c1'])}"
        for k in rng.sample(["meter_id", "site", "zone"], rng.randint(0, 3))
    )
    fields = ",".join(
        f"{k}={rng.choice([str(rng.randint(-5, 5)) + 'i', str(rng.randint(0, 9)) + 'u', repr(rng.uniform(-1e3, 1e3)), '1e3'])}"
        for k in rng.sample(["kwh", "v", "temp_c"], rng.randint(1, 3))
    )
    stamp = f" {T + rng.randint(0, 10**6)}" if rng.random() < 0.8 else ""
    return f"{meas}{',' + tags if tags else ''} {fields}{stamp}"


def test_fast_path_equals_careful_path_on_random_lines() -> None:
    rng = random.Random(7)
    for _ in range(30):
        lines = [_random_line(rng).encode() for _ in range(rng.randint(1, 60))]
        nums = list(range(1, len(lines) + 1))
        fast = lp._parse_fast(b"\n".join(lines), len(lines), 1_000_000_000, NOW_NS)
        careful = lp._parse_careful(lines, nums, 1_000_000_000, NOW_NS)
        assert fast is not None, lines
        assert fast.table.equals(careful.table), lines
        assert fast.meta == careful.meta


@pytest.mark.parametrize("cut", [0, 1, 7, 40, 41, 80, 200])
def test_block_splitter_keeps_whole_lines_and_numbers_them(cut: int) -> None:
    from gridpulse.ingest.split import LineBlockSplitter

    body = b"".join(f"m,k=a x={i} {T + i}\n".encode() for i in range(5)) + b"m,k=a x=bad 1\n" + b"m,k=a x=6 7"
    sp = LineBlockSplitter(batch_rows=3)
    raws = [*sp.feed(body[:cut]), *sp.feed(body[cut:]), *sp.close()]
    batches = [lp.parse_line_batch(r, precision="s") for r in raws]
    assert sum(b.table.num_rows for b in batches) == 6
    assert [e.line for b in batches for e in b.errors] == [6]


def test_block_with_blank_lines_and_comments_takes_the_careful_path() -> None:
    batch = lp.parse_block(f"# header\nm x=1 {T}\n\nm x=oops {T}".encode(), 10, precision="s")
    assert len(points(batch)) == 1
    assert [(e.line, e.field) for e in batch.errors] == [(13, "x")]


def test_blocks_naming_the_same_series_in_other_orders_get_each_row_right() -> None:
    """A producer's bodies repeat their series keys: what is kept per key set (entities, codes,
    metadata) must follow each block's own order of keys and rows."""
    keys = ["meter_usage,meter_id=m-1", "meter_usage,meter_id=m-2,site=ams", "generation_output,plant_id=p-1"]
    field = {"meter_usage": "kwh", "generation_output": "mw"}
    for order in ([0, 1, 2], [2, 0, 1], [1, 1, 0], [2, 0, 1]):
        lines = [f"{keys[k]} {field[keys[k].split(',')[0]]}={i + 0.5} {T + i}" for i, k in enumerate(order)]
        batch = lp._parse_fast("\n".join(lines).encode(), len(lines), 1_000_000_000, NOW_NS)
        assert batch is not None
        want = []
        for i, k in enumerate(order):
            kind, entity = {0: ("meter", "m-1"), 1: ("meter", "m-2"), 2: ("plant", "p-1")}[k]
            want.append((kind, entity, "kwh" if kind == "meter" else "mw", ts(T + i), i + 0.5))
        assert points(batch) == want
        assert set(batch.meta) == {SeriesKey(w[0], w[1], w[2]) for w in want}
        if 1 in order:
            assert batch.meta[SeriesKey("meter", "m-2", "kwh")].tags == {"site": "ams"}

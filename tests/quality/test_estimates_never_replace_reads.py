"""The write path's rule for estimates: an estimate never replaces an actual or edited read, and a
read arriving later replaces an estimate as a new version (the estimate kept in the history)."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from gridpulse.model import Quality, SeriesMeta
from gridpulse.store.base import ReadingsQuery, Store, WriteRequest
from tests.quality.points import T0, batch, grid, write


def _points(store: Store, sid: int = 1) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = store.read(ReadingsQuery(sid)).to_pylist()
    return rows


def test_an_estimate_for_an_interval_holding_an_actual_read_is_dropped(store: Store) -> None:
    ts = grid(T0, 8)
    write(store, "m-1", ts, [1.0] * 8)
    # below the high-water mark: goes through the late-row comparison
    result = write(store, "m-1", ts[2:4], [9.0, 9.0], quality=Quality.ESTIMATED)
    assert (result.inserted, result.revised, result.unchanged) == (0, 0, 2)
    rows = _points(store)
    assert [r["value"] for r in rows] == [1.0] * 8
    assert {r["quality"] for r in rows} == {int(Quality.ACTUAL)}
    assert store.read_superseded([1]).num_rows == 0


def test_an_estimate_never_replaces_an_edited_read_either(store: Store) -> None:
    ts = grid(T0, 4)
    write(
        store,
        "m-1",
        ts,
        [1.0, 2.0, 3.0, 4.0],
        quality=[Quality.ACTUAL, Quality.EDITED, Quality.ACTUAL, Quality.ACTUAL],
    )
    write(store, "m-1", ts[1:2], [7.0], quality=Quality.ESTIMATED)
    assert [(r["value"], r["quality"]) for r in _points(store)][1] == (2.0, int(Quality.EDITED))


def test_an_actual_read_arriving_later_replaces_the_estimate_as_a_new_version(store: Store) -> None:
    ts = grid(T0, 6)
    write(store, "m-1", [ts[0], ts[5]], [1.0, 6.0])
    first = write(store, "m-1", ts[1:5], [2.0, 3.0, 4.0, 5.0], quality=Quality.ESTIMATED)
    assert first.inserted == 4
    late = write(store, "m-1", ts[2:3], [3.5])
    assert (late.inserted, late.revised) == (0, 1)
    rows = _points(store)
    assert [(r["value"], r["quality"], r["version"]) for r in rows][2] == (3.5, int(Quality.ACTUAL), 2)
    history = store.read_superseded([1]).to_pylist()
    assert [(h["value"], h["quality"], h["version"]) for h in history] == [(3.0, int(Quality.ESTIMATED), 1)]


def test_an_actual_equal_to_the_estimate_still_becomes_the_stored_read(store: Store) -> None:
    ts = grid(T0, 3)
    write(store, "m-1", [ts[0], ts[2]], [1.0, 3.0])
    write(store, "m-1", ts[1:2], [2.0], quality=Quality.ESTIMATED)
    late = write(store, "m-1", ts[1:2], [2.0])
    assert late.revised == 1
    assert _points(store)[1]["quality"] == int(Quality.ACTUAL)


def test_a_changed_estimate_is_a_new_version_and_an_identical_one_changes_nothing(store: Store) -> None:
    ts = grid(T0, 3)
    write(store, "m-1", [ts[0], ts[2]], [1.0, 3.0])
    write(store, "m-1", ts[1:2], [2.0], quality=Quality.ESTIMATED)
    same = write(store, "m-1", ts[1:2], [2.0], quality=Quality.ESTIMATED)
    assert (same.inserted, same.revised, same.unchanged) == (0, 0, 1)
    changed = write(store, "m-1", ts[1:2], [2.5], quality=Quality.ESTIMATED)
    assert changed.revised == 1
    assert _points(store)[1]["version"] == 2


def test_in_one_batch_the_read_wins_over_an_estimate_whatever_the_order(store: Store) -> None:
    ts = grid(T0, 4)
    meta = SeriesMeta(unit="kWh", interval=timedelta(minutes=15))
    # estimate after the read for ts[1], read after the estimate for ts[2], estimates only for ts[3]
    table = pa.concat_tables(
        [
            batch("m-1", ts, [1.0, 2.0, 3.0, 4.0]).slice(0, 2),
            batch("m-1", [ts[1]], [9.0], quality=Quality.ESTIMATED),
            batch("m-1", [ts[2]], [8.0], quality=Quality.ESTIMATED),
            batch("m-1", [ts[2]], [3.0]),
            batch("m-1", [ts[3]], [7.0], quality=Quality.ESTIMATED),
            batch("m-1", [ts[3]], [7.5], quality=Quality.ESTIMATED),
        ]
    )
    (result,) = store.write_group([WriteRequest([table], lambda _k: meta)])
    assert result.inserted == 4
    rows = _points(store)
    assert [(r["value"], r["quality"]) for r in rows] == [
        (1.0, 0),
        (2.0, 0),
        (3.0, 0),
        (7.5, int(Quality.ESTIMATED)),  # among estimates the last still wins
    ]


def test_a_batch_without_estimates_keeps_the_last_row_per_interval(store: Store) -> None:
    ts = grid(T0, 2)
    table = pa.concat_tables(
        [batch("m-1", ts, [1.0, 2.0]), batch("m-1", ts[:1], [5.0], quality=Quality.EDITED)]
    )
    store.write_group([WriteRequest([table], lambda _k: SeriesMeta())])
    assert [(r["value"], r["quality"]) for r in _points(store)] == [(5.0, int(Quality.EDITED)), (2.0, 0)]

"""RollupFreshness: a reader skips the stale-range query only when no write can be in its snapshot
unrefreshed. The orders below are the interleavings of freshness.py's docstring."""

from __future__ import annotations

from gridpulse.store.duckdb.freshness import RollupFreshness


def _refreshed(f: RollupFreshness) -> None:
    f.refresh_committed(f.refresh_starting())


def test_a_store_opened_with_pending_ranges_is_not_clean_until_a_refresh() -> None:
    f = RollupFreshness(clean=False)
    assert not f.clean_for(f.reader_starting())
    _refreshed(f)
    assert f.clean_for(f.reader_starting())
    assert RollupFreshness(clean=True).clean_for(RollupFreshness(clean=True).reader_starting())


def test_a_write_makes_readers_ask_until_the_next_refresh() -> None:
    f = RollupFreshness(clean=True)
    f.write_starting()
    f.write_ended()
    assert not f.clean_for(f.reader_starting())
    _refreshed(f)
    assert f.clean_for(f.reader_starting())


def test_a_write_in_flight_when_the_refresh_began_keeps_readers_asking() -> None:
    f = RollupFreshness(clean=True)
    f.write_starting()  # commits after the refresh took its snapshot: not handled by it
    mark = f.refresh_starting()
    f.write_ended()
    f.refresh_committed(mark)
    assert not f.clean_for(f.reader_starting())
    _refreshed(f)
    assert f.clean_for(f.reader_starting())


def test_a_reader_that_began_before_the_refresh_committed_asks() -> None:
    f = RollupFreshness(clean=True)
    f.write_starting()
    f.write_ended()
    mark = f.reader_starting()  # its snapshot predates the refresh
    _refreshed(f)
    assert not f.clean_for(mark)


def test_a_write_starting_after_the_reader_read_its_mark_makes_it_ask() -> None:
    f = RollupFreshness(clean=True)
    mark = f.reader_starting()
    f.write_starting()  # may commit before the reader's BEGIN
    assert not f.clean_for(mark)

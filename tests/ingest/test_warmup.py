"""The start-up warm-up runs the real parsers (fast and careful paths of NDJSON and line protocol)."""

from __future__ import annotations

from gridpulse.ingest.warmup import warm_up_parsers


def test_warm_up_parses_its_sample_bodies_through_every_path() -> None:
    # NDJSON: 1 row fast + 2 rows careful (one NULL kept) + 1 row of a flat block;
    # line protocol: 1 fast + 1 + 2 fields careful
    assert warm_up_parsers() == 7


def test_stream_warm_up_parses_full_bodies_of_each_format_at_once() -> None:
    import asyncio

    from gridpulse.ingest.warmup import warm_up_streams

    # three bodies of 2,500 lines of each format, cut and parsed as the routes do; every line valid
    assert asyncio.run(warm_up_streams(2_500, 3)) == 2 * 3 * 2_500
    assert asyncio.run(warm_up_streams(2_500, 0)) == 0

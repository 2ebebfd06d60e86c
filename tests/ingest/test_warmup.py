"""The start-up warm-up runs the real parsers (fast and careful paths of NDJSON and line protocol)."""

from __future__ import annotations

from gridpulse.ingest.warmup import warm_up_parsers


def test_warm_up_parses_its_sample_bodies_through_every_path() -> None:
    # NDJSON: 1 row fast + 2 rows careful (one NULL kept) + 1 row of a flat block;
    # line protocol: 1 fast + 1 + 2 fields careful
    assert warm_up_parsers() == 7

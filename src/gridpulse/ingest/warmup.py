"""warm_up_parsers(): run every parser once on a tiny body before a server takes traffic.

pyarrow loads its compute kernels, its JSON and CSV readers and (when installed) pandas lazily,
on the first call that needs them: ~0.3 s of imports holding the GIL. Without this the first
ingest requests pay that while other requests wait; measured under four NDJSON writers, module
loading was a third of the GIL-holding samples of a 3 s load.
"""

from __future__ import annotations

from gridpulse.ingest.lineprotocol import parse_line_batch
from gridpulse.ingest.parse import parse_batch
from gridpulse.ingest.shapes import SHAPES
from gridpulse.ingest.split import RawBatch

__all__ = ["warm_up_parsers"]

_NDJSON = (
    b'{"ts": "2026-01-01T00:00:00Z", "meter_id": "warm-up", "kwh": 1.5}',
    b'{"ts": "2026-01-01T00:15:00Z", "meter_id": "warm-up", "kwh": null}',
)
_LINES = (
    b"meter_usage,meter_id=warm-up kwh=1.5 1767225600000000000\n"
    b'meter_usage,meter_id=warm\\ up kwh=2i,note="x" 1767226500000000000\n'
)


def warm_up_parsers() -> int:
    """Parse a small NDJSON and line-protocol body through the fast and careful paths; nothing is stored.

    Returns:
        The number of points parsed, so a caller can check the warm-up did its work.
    """
    shape = SHAPES["meter_usage"]
    points: int = 0
    for records in (_NDJSON[:1], _NDJSON):  # the first takes Arrow's JSON reader, the second the careful path
        raw = RawBatch(records, list(range(1, len(records) + 1)), 1)
        points += parse_batch(raw, shape, tz=None).table.num_rows
    # a block of alike records, as the HTTP route hands them over: read without a JSON parser
    flat = _NDJSON[0].replace(b" ", b"")
    points += parse_batch(RawBatch((), range(1, 2), 1, block=flat), shape, tz=None).table.num_rows
    for block in (_LINES.split(b"\n", 1)[0] + b"\n", _LINES):
        points += parse_line_batch(RawBatch((), (), 1, block=block)).table.num_rows
    return points

"""Bytes in, checked Arrow batches out, committed by the single writer."""

from gridpulse.ingest.shapes import SHAPES, RouteShape
from gridpulse.ingest.stream import BodyFormat, IngestReport, OnError, ingest_stream
from gridpulse.ingest.writer import Writer

__all__ = ["SHAPES", "BodyFormat", "IngestReport", "OnError", "RouteShape", "Writer", "ingest_stream"]

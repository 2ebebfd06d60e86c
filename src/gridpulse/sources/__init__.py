"""Data gridpulse goes and gets: vendor API and HTTP pollers, an MQTT subscriber, a watched folder.

Each hands what it fetched to `gridpulse.ingest` (the parsers and the single writer the HTTP
routes use). The built-in types register themselves here the same way an outside package would
(`register_source_type`); `[[sources]]` tables name them by `type`.
"""

from gridpulse.sources.base import (
    SOURCE_TYPES,
    Source,
    SourceContext,
    SourceError,
    SourceReport,
    SourceSpec,
    SourceType,
    build_source,
    parse_sources,
    register_source_type,
)
from gridpulse.sources.folder import FOLDER
from gridpulse.sources.http_feed import HTTP_FEED
from gridpulse.sources.mqtt import MQTT
from gridpulse.sources.vendor_api import VENDOR_API

for _type in (VENDOR_API, HTTP_FEED, MQTT, FOLDER):
    register_source_type(_type)

__all__ = [
    "SOURCE_TYPES",
    "Source",
    "SourceContext",
    "SourceError",
    "SourceReport",
    "SourceSpec",
    "SourceType",
    "build_source",
    "parse_sources",
    "register_source_type",
]

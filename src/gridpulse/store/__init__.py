"""Storage: the Store protocol, and backends found by URL scheme."""

from __future__ import annotations

from collections.abc import Callable

from gridpulse.errors import StoreUnavailable
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, SeriesFilter, Store, WriteRequest

__all__ = [
    "BACKENDS",
    "Agg",
    "ReadingsQuery",
    "Resolution",
    "SeriesFilter",
    "Store",
    "WriteRequest",
    "open_store",
]


def _duckdb(url: str, memory_limit: str, read_only: bool) -> Store:
    from gridpulse.store.duckdb import DuckDBStore

    return DuckDBStore(url, memory_limit=memory_limit, read_only=read_only)


#: URL scheme -> factory(url, memory_limit, read_only). Other backends register the same way.
BACKENDS: dict[str, Callable[[str, str, bool], Store]] = {"duckdb": _duckdb}


def open_store(url: str, *, memory_limit: str = "", read_only: bool = False) -> Store:
    """Open the store a URL names (`duckdb:///path/file.duckdb`), applying migrations.

    Raises:
        StoreUnavailable: unknown scheme, or the store cannot be opened.
    """
    scheme = url.split(":", 1)[0]
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise StoreUnavailable(f"no store backend for {scheme!r} URLs; known: {', '.join(sorted(BACKENDS))}")
    return factory(url, memory_limit, read_only)

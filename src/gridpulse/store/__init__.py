"""Storage: the Store protocol, and backends found by URL scheme."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gridpulse.allocator import keep_freed_memory
from gridpulse.config import Settings
from gridpulse.errors import StoreUnavailable
from gridpulse.store.base import (
    Agg,
    ReadingsQuery,
    Resolution,
    SeriesFilter,
    Store,
    StoreOptions,
    WriteRequest,
)

__all__ = [
    "BACKENDS",
    "Agg",
    "ReadingsQuery",
    "Resolution",
    "SeriesFilter",
    "Store",
    "StoreOptions",
    "WriteRequest",
    "open_store",
    "store_options",
]


def store_options(settings: Settings) -> StoreOptions:
    """The store tuning the settings ask for."""
    return StoreOptions(
        memory_limit=settings.store.memory_limit,
        max_transaction_rows=settings.store.max_transaction_rows,
        keep_freed_mb=settings.store.keep_freed_mb,
    )


def _duckdb(url: str, options: StoreOptions) -> Store:
    from gridpulse.store.duckdb import DuckDBStore

    return DuckDBStore(url, options)


#: URL scheme -> factory(url, options). Other backends register the same way.
BACKENDS: dict[str, Callable[[str, StoreOptions], Store]] = {"duckdb": _duckdb}


def open_store(url: str, options: StoreOptions | None = None, *, read_only: bool = False) -> Store:
    """Open the store a URL names (`duckdb:///path/file.duckdb`), applying migrations.

    Raises:
        StoreUnavailable: unknown scheme, or the store cannot be opened.
    """
    scheme = url.split(":", 1)[0]
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise StoreUnavailable(f"no store backend for {scheme!r} URLs; known: {', '.join(sorted(BACKENDS))}")
    options = options or StoreOptions()
    keep_freed_memory(options.keep_freed_mb)
    if read_only:
        options = replace(options, read_only=True)
    return factory(url, options)

"""The embedded DuckDB backend: one file, zero set-up."""

from gridpulse.store.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]

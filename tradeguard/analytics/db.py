"""The analytics DuckDB file: where it lives and how a connection to it is opened."""

from __future__ import annotations

from pathlib import Path

import duckdb

ANALYTICS_FILE = "analytics.duckdb"


def analytics_path(store_file: Path) -> Path:
    """Return the analytics database that sits beside a state store file."""
    return store_file.parent / ANALYTICS_FILE


def connect(db_file: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the analytics database with UTC as the session time zone (days are UTC days)."""
    conn = duckdb.connect(str(db_file), read_only=read_only)
    conn.execute("SET TimeZone = 'UTC'")
    return conn

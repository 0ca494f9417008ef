"""The analytics DuckDB file: where it lives and how a connection to it is opened."""

from __future__ import annotations

from pathlib import Path

import duckdb

from engine.errors import StateError

ANALYTICS_FILE = "analytics.duckdb"


def analytics_path(store_file: Path) -> Path:
    """Return the analytics database that sits beside a state store file."""
    return store_file.parent / ANALYTICS_FILE


def connect(db_file: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the analytics database with UTC as the session time zone (days are UTC days)."""
    try:
        conn = duckdb.connect(str(db_file), read_only=read_only)
    except duckdb.Error as e:  # a read-only disk, a directory in its place, a foreign file
        message = f"cannot open the analytics database {db_file}: {e}"
        raise StateError(message) from e
    conn.execute("SET TimeZone = 'UTC'")
    return conn

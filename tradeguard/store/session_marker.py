"""The session marker in store_meta: "open" while a session writes, "closed" after a clean end.

A store whose marker still says "open" at the next open was not closed (a crash or kill):
that open runs the whole-file check (see docs/state.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Literal

from tradeguard.store.serialize import from_json, to_json

log = logging.getLogger("tradeguard.store.sqlite_store")  # the store's own event stream

KEY = "session"


def write(conn: sqlite3.Connection, state: Literal["open", "closed"], at: str) -> None:
    """Record that a session opened (or cleanly closed) the store at `at`."""
    marker = {"state": state, "pid": os.getpid(), "at": at}
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (KEY, to_json(marker)),
    )


def unclean(conn: sqlite3.Connection) -> bool:
    """Return True when the last session store opened on this file was never closed."""
    present = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_meta'"
    ).fetchone()
    if present is None:
        return False
    row = conn.execute("SELECT value FROM store_meta WHERE key = ?", (KEY,)).fetchone()
    if row is None:
        return False
    marker = from_json(row[0])
    result = isinstance(marker, dict) and marker.get("state") == "open"
    if result:
        log.warning("state_store_unclean_shutdown previous=%s check=full", row[0])
    return result

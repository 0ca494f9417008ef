"""Operator commands queued in the state store for the running session (halt, resume, ...)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.ports import OperatorCommand
from tradeguard.store import files, sqlite_kit
from tradeguard.store import rows as r
from tradeguard.store.serialize import format_utc


class CommandQueue:
    """Mixin of SqliteStore: the commands table, polled by the session every bar."""

    path: Path
    _mutex: threading.RLock
    _commands_version: int | None

    def _open_connection(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _fetch_hot(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def pending_commands(self) -> list[OperatorCommand]:
        """Return operator commands not yet applied, oldest first.

        Polled every bar, so it first asks SQLite whether another connection committed since
        the last poll (`PRAGMA data_version`, a counter read without touching tables); only
        then does it query the commands table.
        """
        version = self._open_connection().execute("PRAGMA data_version").fetchone()[0]
        if version == self._commands_version:
            return []
        rows = self._fetch_hot(
            "SELECT id, action, reason, who, requested_at FROM commands "
            "WHERE done_at IS NULL ORDER BY id"
        )
        if not rows:
            self._commands_version = version
        return [r.command_from_row(row) for row in rows]

    def enqueue_command(self, action: str, reason: str, who: str, at: datetime) -> int:
        """Queue an operator command for the running session; return its id."""
        self._commands_version = None  # our own write does not move data_version
        requested = format_utc(at, "at")
        with self._mutex:
            try:
                cursor = self._open_connection().execute(
                    "INSERT INTO commands (action, reason, who, requested_at) VALUES (?,?,?,?)",
                    (action, reason, who, requested),
                )
            except sqlite_kit.DB_ERRORS as e:
                raise files.database_error(self.path, "queueing a command", e) from e
            return int(cursor.lastrowid or 0)

"""One journal for readers: the hot store and its history file seen as the same tables.

`open_reader(store)` returns a read-only connection to state.db with history.db attached as
`history` and TEMP VIEWs named like the journal tables (temp names shadow main ones), so every
existing query keeps working. A row is shown exactly once, also while a move is half done:

- append-only tables: every history row, then the hot rows above the highest archived id of
  that table (hot rows at or below it are copies awaiting their delete, or the sentinel);
- order intents: every hot intent, then the history intents the hot file does not hold.

SQLite starts a statement's read transactions in schema order (main before attached), so a
statement sees the hot file no later than the history file; a move writes history first and
deletes from the hot file second, hence a row is never missed either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import StateCorruptedError
from tradeguard.store import files, sqlite_kit
from tradeguard.store.archive import (
    APPEND_TABLES,
    EPOCH_KEY,
    HISTORY_ID_KEY,
    HISTORY_LABEL,
    INTENTS,
    history_path,
)

JOURNAL_TABLES = (*APPEND_TABLES, INTENTS)


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def union_sql(table: str, columns: Sequence[str], hot: str = "main", history: str = "history"
              ) -> str:
    """Return the SELECT that shows one journal table of hot and history exactly once."""
    names = ", ".join(columns)
    if table == INTENTS:
        return (
            f"SELECT {names} FROM {hot}.{table} UNION ALL "
            f"SELECT {names} FROM {history}.{table} AS h WHERE NOT EXISTS ("
            f"SELECT 1 FROM {hot}.{table} AS m WHERE m.client_order_id = h.client_order_id)"
        )
    return (
        f"SELECT {names} FROM {history}.{table} UNION ALL "
        f"SELECT {names} FROM {hot}.{table} "
        f"WHERE id > (SELECT COALESCE(MAX(id), 0) FROM {history}.{table})"
    )


def attach_statement(history: Path) -> str:
    """Return the ATTACH of a history file, read-only, as `history` (for any SQLite driver)."""
    uri = f"{history.resolve().as_uri()}?mode=ro".replace("'", "''")
    return f"ATTACH DATABASE '{uri}' AS history"


BINDING_SQL = (
    f"SELECT (SELECT value FROM main.store_meta WHERE key = '{HISTORY_ID_KEY}'), "
    f"(SELECT value FROM history.store_meta WHERE key = '{HISTORY_ID_KEY}')"
)


def check_binding(row: Sequence[object], history: Path) -> None:
    """Refuse a history file of another store; row is BINDING_SQL's (after the ATTACH).

    The writer open binds the pair (tradeguard.store.archive); an unbound side is a store
    older than the binding and is let through.
    """
    bound, own = row
    if bound is not None and own is not None and bound != own:
        detail = f"history id {own} is not the {bound} this store was archived to"
        raise files.corrupted(history, detail, HISTORY_LABEL)


def archived_top(store: Path, table: str, bound: object,
                 busy_timeout_ms: int = sqlite_kit.DEFAULT_BUSY_TIMEOUT_MS) -> int:
    """Return the highest id of table in the store's history file, 0 when it has none.

    The file is refused as open_reader refuses it (header; binding to `bound`, the hot file's
    history id), on a connection of its own: one number costs no ATTACH and no views.
    """
    history = history_path(store)
    if not history.exists():
        return 0
    files.check_header(history, HISTORY_LABEL)
    try:
        conn = sqlite3.connect(f"{history.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            own, top = conn.execute(
                f"SELECT (SELECT value FROM store_meta WHERE key = '{HISTORY_ID_KEY}'), "
                f"(SELECT COALESCE(MAX(id), 0) FROM {table})"
            ).fetchone()
        finally:
            conn.close()
    except sqlite_kit.DB_ERRORS as e:
        raise files.database_error(store, "opening the journal", e) from e
    check_binding((bound, own), history)
    return int(top)


def view_statements(columns_of: Callable[[str], Sequence[str]]) -> list[str]:
    """Return the CREATE TEMP VIEW statements; columns_of(table) lists main's columns.

    Run them after the ATTACH, with the hot file read first (see the module docstring).
    """
    statements = []
    for table in JOURNAL_TABLES:
        columns = columns_of(table)
        if columns:
            statements.append(f"CREATE TEMP VIEW {table} AS {union_sql(table, columns)}")
    return statements


EPOCH_SQL = f"SELECT value FROM main.store_meta WHERE key = '{EPOCH_KEY}'"


def refuse_lost_history(epoch_row: Sequence[Any] | None, history: Path) -> None:
    """Refuse a missing history file when the store's epoch (EPOCH_SQL) says rows moved there.

    Reading on would silently show part of the journal.
    """
    if epoch_row is not None and int(epoch_row[0]) > 0:
        message = (
            f"history file {history} is missing, but the state store moved journal rows there "
            f"{int(epoch_row[0])} time(s): reading on would show part of the journal. Put it "
            "back, or run `tradeguard state restore` to restore the latest good backup set."
        )
        raise StateCorruptedError(message)


def attach_views(conn: sqlite3.Connection, history: Path) -> bool:
    """Attach history read-only and create the TEMP VIEWs; False when there is no history file.

    A store that records archive moves and has no history file lost those rows: reading on
    would silently show part of the journal, so it is refused.
    """
    if not history.exists():
        refuse_lost_history(conn.execute(EPOCH_SQL).fetchone(), history)
        return False
    files.check_header(history, HISTORY_LABEL)
    conn.execute(attach_statement(history))
    check_binding(conn.execute(BINDING_SQL).fetchone(), history)
    for statement in view_statements(lambda table: _columns(conn, "main", table)):
        conn.execute(statement)
    return True


def open_reader(store: Path, busy_timeout_ms: int = sqlite_kit.DEFAULT_BUSY_TIMEOUT_MS
                ) -> sqlite3.Connection:
    """Open the journal of a store read-only, history included; the caller closes it."""
    uri = f"{store.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        attach_views(conn, history_path(store))
    except sqlite_kit.DB_ERRORS as e:
        raise files.database_error(store, "opening the journal", e) from e
    return conn


def materialize(conn: sqlite3.Connection, history: Path) -> None:
    """Fold a history file into a writable single-file copy of the hot store (for snapshots).

    The copy then holds every journal row exactly once, as a store that never moved would.
    """
    if not history.exists():
        return
    conn.execute(attach_statement(history))
    try:
        conn.execute("BEGIN")
        for table in APPEND_TABLES:
            columns = ", ".join(_columns(conn, "main", table))
            conn.execute(
                f"DELETE FROM main.{table} "
                f"WHERE id <= (SELECT COALESCE(MAX(id), 0) FROM history.{table})"
            )
            conn.execute(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM history.{table}"
            )
        columns = ", ".join(_columns(conn, "main", INTENTS))
        conn.execute(
            f"INSERT OR IGNORE INTO main.{INTENTS} ({columns}) "
            f"SELECT {columns} FROM history.{INTENTS}"
        )
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("DETACH DATABASE history")

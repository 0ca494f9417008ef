"""SQLite (WAL) implementation of engine.ports.EngineStore; see docs/state.md."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from engine.breaker_samples import with_windows
from engine.clock import Clock, SystemClock
from engine.errors import StateCorruptedError, StateError
from engine.ports import Batch, RecoveredState
from tradeguard.store import archive, files, seal, session_marker, sqlite_kit, union, wal
from tradeguard.store import rows as r
from tradeguard.store.archive import HistoryFile
from tradeguard.store.commands import CommandQueue
from tradeguard.store.commit_plan import CommitPlan, plan_batch
from tradeguard.store.queries import ReportQueries
from tradeguard.store.schema import OPEN_STATUS_SQL, RECOVERY_TABLES, migrate
from tradeguard.store.serialize import format_utc
from tradeguard.store.sqlite_kit import Durability
from tradeguard.store.statements import SELECT_SAMPLES

log = logging.getLogger(__name__)

Verify = Literal["auto", "full", "recovery"]


class CommitHook(Protocol):
    """Writes rows derived from a batch (the alert outbox) inside the batch's transaction."""

    def __call__(self, conn: sqlite3.Connection, batch: Batch, now: str) -> None: ...

    def writes_for(self, batch: Batch) -> bool:
        """Return True when batch may give the hook rows to write (it then needs the call)."""
        ...


class SqliteStore(CommandQueue, ReportQueries):
    """Durable EngineStore on one SQLite file in WAL mode; commit() is one transaction."""

    def __init__(
        self,
        location: Path | str,
        durability: Durability = "kill9",
        *,
        clock: Clock | None = None,
        verify: Verify = "auto",
        session: bool = True,
        busy_timeout_ms: int = 5000,
        archive_rows: int = archive.ARCHIVE_ROWS,
    ) -> None:
        if durability not in sqlite_kit.SYNCHRONOUS:
            message = f"durability must be 'kill9' or 'power', got {durability!r}"
            raise ValueError(message)
        self.path = files.store_path(location)
        # A state directory is ours to lock down; a caller-chosen parent (e.g. /tmp) is not.
        if files.names_directory(location) or not self.path.parent.exists():
            files.ensure_private_dir(self.path.parent)
        self.durability: Durability = durability
        self._clock: Clock = clock or SystemClock()
        self._mutex = threading.RLock()
        self._key_cache: dict[str, str] = {}
        self._session = session
        self._commands_version: int | None = None
        self.verified: str = ""  # which check ran on open: "full" or "recovery"
        self.checkpoints = wal.Checkpointer(self.path)  # the session writer's, off the order path
        files.refuse_interrupted_restore(self.path)
        files.refuse_legacy_store(self.path)
        self.alert_hook: CommitHook | None = None  # set by the composition root
        if self.path.exists():
            files.check_header(self.path)
        else:
            self._create()
        requested = verify  # the history file has its own seal (see _open_history)
        if verify == "full" and session and seal.matches(self.path):
            # Untouched since a clean close of a verified store: the recovery tables suffice.
            verify = "recovery"
        self._conn: sqlite3.Connection | None = self._connect(verify, busy_timeout_ms)
        self._busy_timeout_ms = busy_timeout_ms
        self._archive_rows = archive_rows
        self._reader: sqlite3.Connection | None = None  # the union of hot and history
        self.failpoint: archive.Failpoint | None = None  # crash drills (tradeguard.failpoints)
        self.history: archive.HistoryFile | None = None
        if session:
            self.history = self._open_history(requested, busy_timeout_ms)

    # -- opening ---------------------------------------------------------------------------

    def _open_history(self, verify: Verify, busy_timeout_ms: int) -> archive.HistoryFile:
        """Open (or create) history.db, finish an interrupted move, archive an oversized hot file.

        The history file is checked whole unless its seal matches (see docs/state.md).
        """
        try:
            history = archive.HistoryFile(
                self.path, self.durability, check=verify != "recovery",
                busy_timeout_ms=busy_timeout_ms,
            )
        except BaseException:
            self._close_connection()
            raise
        try:
            history.reconcile()
            # "recovery" reads nothing beyond the recovery tables at open: no size probe.
            if verify != "recovery" and history.unarchived_rows() > self._archive_rows:
                history.move(self._now_text(), self.failpoint)
        except BaseException:
            history.close()
            self._close_connection()
            raise
        return history

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _create(self) -> None:
        """Build a new store under a temporary name and link it into place atomically."""
        sqlite_kit.create_database(
            self.path, lambda conn: migrate(conn, where=str(self.path)), files.STORE_LABEL
        )

    def _connect(self, verify: Verify, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite_kit.connect(self.path, files.STORE_LABEL, busy_timeout_ms)
        try:
            self._verify(conn, verify)  # before anything that could write to the file
            sqlite_kit.set_pragmas(conn, self.path, self.durability, files.STORE_LABEL)
            migrate(conn, where=str(self.path))
            if self._session:
                wal.Checkpointer.configure(conn)
                seal.remove(self.path)  # written to from now on: the next open must verify
                session_marker.write(conn, "open", self._now_text())
        except sqlite_kit.DB_ERRORS as e:
            conn.close()
            raise files.database_error(self.path, "opening", e) from e
        except BaseException:
            conn.close()
            raise
        files.chmod_private(self.path)
        return conn

    def _verify(self, conn: sqlite3.Connection, verify: Verify) -> None:
        """Run the recovery-table check, and the whole-file one when asked or after a crash.

        "full" (every open for trading) is PRAGMA integrity_check over every page: a store
        with any damaged page the session could read or write is refused before trading.
        """
        problems = self._check(conn, "recovery")
        unclean = verify == "auto" and not problems and session_marker.unclean(conn)
        if not problems and (verify == "full" or unclean):
            problems = self._check(conn, "full")
        if problems:
            raise files.corrupted(self.path, f"{self.verified} check: {problems}")

    def _now_text(self) -> str:
        return format_utc(self._clock.now(), "clock.now()")

    def _check(self, conn: sqlite3.Connection, verify: Literal["full", "recovery"]) -> str:
        """Return "" when the check passes, else the problems SQLite reported."""
        self.verified = verify
        if verify == "full":
            lines = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(5)")]
            return "" if lines == ["ok"] else "; ".join(lines)
        present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        problems: list[str] = []
        for table in (t for t in RECOVERY_TABLES if t in present):
            lines = [str(row[0]) for row in conn.execute(f"PRAGMA quick_check({table})")]
            if lines != ["ok"]:
                problems.extend(lines)
        return "; ".join(problems[:5])

    # -- EngineStore -----------------------------------------------------------------------

    def load(self) -> RecoveredState:
        """Return every key_state section, the non-final intents and the positions."""
        with self._mutex:
            try:
                conn = self._open_connection()
                conn.execute("BEGIN")
                try:
                    keys = conn.execute("SELECT key, value FROM key_state").fetchall()
                    windows = r.samples_from_rows(conn.execute(SELECT_SAMPLES).fetchall())
                    intents = conn.execute(
                        f"SELECT {r.INTENT_COLUMNS} FROM order_intents WHERE {OPEN_STATUS_SQL} "
                        "ORDER BY created_at, client_order_id"
                    ).fetchall()
                    positions = conn.execute(
                        "SELECT symbol, quantity, average_price, realized_pnl, updated_at "
                        "FROM positions ORDER BY symbol"
                    ).fetchall()
                finally:
                    conn.execute("COMMIT")
            except sqlite_kit.DB_ERRORS as e:
                raise files.database_error(self.path, "loading state", e) from e
            state = {str(key): r.section(self.path, str(key), value) for key, value in keys}
            if "breaker" in state:  # its sample windows are rows (engine/breaker_samples.py)
                state["breaker"] = with_windows(state["breaker"], windows)
            self._key_cache = {str(key): str(value) for key, value in keys}
        return RecoveredState(
            state,
            [r.intent_from_row(row) for row in intents],
            [r.position_from_row(row) for row in positions],
        )

    def commit(self, batch: Batch) -> None:
        """Write every change in batch in one transaction, or roll back and raise StateError."""
        if batch.is_empty():
            return
        with self._mutex:
            plan = plan_batch(batch, self._now_text, self._key_cache)
            conn = self._open_connection()
            hook = self.alert_hook
            if hook is not None and not hook.writes_for(batch):
                hook = None
            # A connection left inside a transaction takes BEGIN below, which refuses: a lone
            # statement would join that transaction and nothing would be durable.
            lone = plan.lone_row() if hook is None and not conn.in_transaction else None
            try:
                if lone is not None:
                    # One row (the intent before the broker call): SQLite runs a lone
                    # statement as its own transaction, as atomic and durable as COMMIT,
                    # without the two extra statements.
                    conn.execute(*lone)
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    plan.execute(conn)
                    if hook is not None:  # alerts commit with their engine event
                        hook(conn, batch, self._now_text())
                    conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if not isinstance(e, Exception):
                    raise
                if isinstance(e, sqlite_kit.DB_ERRORS) and files.is_corruption(e):
                    # Damage found mid-session: the caller halts; the way out is a restore.
                    raise files.corrupted(self.path, f"commit rolled back: {e}") from e
                message = f"commit to state store {self.path} failed and was rolled back: {e}"
                raise StateError(message) from e
            self._committed(plan, batch, conn)

    def _committed(self, plan: CommitPlan, batch: Batch, conn: sqlite3.Connection) -> None:
        if self._session:
            self.checkpoints.committed(conn, bool(batch.intents or batch.fills))
        self._key_cache.update(plan.key_texts)
        if batch.daily_resets:  # the day rolled over: a bounded point for a move
            self._maybe_archive()

    def _maybe_archive(self) -> None:
        """Move the hot journal rows to history once they exceed the bound; never fail a commit.

        A failed move leaves both files consistent (the epochs say how far it got) and is
        finished by the next move or open; damage found on the way is raised as usual.
        """
        history = self.history
        if history is None:
            return
        try:
            if history.unarchived_rows() > self._archive_rows:
                history.move(self._now_text(), self.failpoint)
        except StateCorruptedError:
            raise
        except StateError as e:
            log.warning("state_archive_failed store=%s error=%s", self.path, e)

    def archive(self) -> archive.Move | None:
        """Move every hot journal row and final intent to the history file now (writer only)."""
        with self._mutex:
            if self.history is None:
                message = f"state store {self.path}: only the session's writer archives"
                raise StateError(message)
            self._open_connection()
            return self.history.move(self._now_text(), self.failpoint)

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when a fill with this id is already journaled (hot file, then history)."""
        return self._journaled(
            "SELECT 1 FROM trades WHERE fill_id = ?", fill_id, archive.HistoryFile.fill_recorded
        )

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when the order's intent is already journaled (hot file, then history)."""
        return self._journaled(
            "SELECT 1 FROM order_intents WHERE client_order_id = ?", client_order_id,
            archive.HistoryFile.intent_recorded,
        )

    def _journaled(
        self, sql: str, key: str, in_history: Callable[[HistoryFile, str], bool]
    ) -> bool:
        if self.history is None:  # a reader: the union of hot and history answers
            return bool(self._fetch(sql, (key,)))
        if self._fetch_hot(sql, (key,)):
            return True
        with self._mutex:
            return in_history(self.history, key)

    # -- shell helpers ---------------------------------------------------------------------

    def integrity_check(self) -> str:
        """Run the full PRAGMA integrity_check; return "ok" or the problems found."""
        lines = [str(row[0]) for row in self._fetch_hot("PRAGMA integrity_check")]
        history = archive.history_path(self.path)
        if history.exists():
            with sqlite_kit.translated(history, "checking", archive.HISTORY_LABEL):
                lines += [
                    f"{history.name}: {row[0]}"
                    for row in self._union().execute("PRAGMA history.integrity_check")
                    if row[0] != "ok"
                ]
        return "ok" if lines == ["ok"] else "; ".join(lines)

    def pragmas(self) -> dict[str, Any]:
        """Return the connection settings that define durability (for status and tests)."""
        names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        return {name: self._fetch_hot(f"PRAGMA {name}")[0][0] for name in names}

    def _open_connection(self) -> sqlite3.Connection:
        if self._conn is None:
            message = f"state store {self.path} is closed"
            raise StateError(message)
        return self._conn

    def _fetch_hot(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            try:
                return self._open_connection().execute(sql, params).fetchall()
            except sqlite_kit.DB_ERRORS as e:
                raise files.database_error(self.path, "reading", e) from e

    def _union(self) -> sqlite3.Connection:
        """Return the read-only connection that sees hot and history as one journal."""
        self._open_connection()
        if self._reader is None:
            self._reader = union.open_reader(self.path, self._busy_timeout_ms)
        return self._reader

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query over the whole journal (hot file and history)."""
        with self._mutex:
            try:
                return self._union().execute(sql, params).fetchall()
            except sqlite_kit.DB_ERRORS as e:
                raise files.database_error(self.path, "reading", e) from e

    def _archived_top(self, table: str) -> int:
        """Return the highest id of table in the history file (0 without one)."""
        bound = self._fetch_hot(
            "SELECT value FROM store_meta WHERE key = ?", (archive.HISTORY_ID_KEY,)
        )
        with self._mutex:
            return union.archived_top(
                self.path, table, bound[0][0] if bound else None, self._busy_timeout_ms
            )

    def close(self) -> None:
        """Mark a clean shutdown (session stores) and close the connection; idempotent."""
        with self._mutex:
            if self._conn is None:
                return
            self._close_history()
            conn, self._conn = self._conn, None
            closed = False
            try:
                if self._session:
                    session_marker.write(conn, "closed", self._now_text())
                    closed = True
            except sqlite3.Error as e:
                log.warning("state_store_close_marker_failed store=%s error=%s", self.path, e)
            finally:
                conn.close()
            if closed:
                seal.write(self.path)

    def _close_history(self) -> None:
        """Archive an oversized hot file at a clean close, then close the side connections."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        history, self.history = self.history, None
        if history is None:
            return
        try:
            if history.unarchived_rows() > self._archive_rows:
                history.move(self._now_text(), self.failpoint)
        except StateError as e:
            log.warning("state_archive_failed store=%s error=%s at=close", self.path, e)
        finally:
            history.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The history file: append-only journal rows moved out of the hot store by archive epochs.

`state.db` (the hot file) is the only file the trading path writes per event. Rows of the
append-only tables and final order intents are moved to `history.db` beside it by an archive
move, at bounded points (see docs/state.md, "Hot file and history file"). Cross-file commits
are not atomic in WAL mode, so a move is two transactions and an epoch number ties them:

1. one history.db transaction copies the hot rows up to a mark per table (ids are kept), the
   final intents, and records epoch N with the marks;
2. one state.db transaction deletes the moved rows (each table keeps its highest moved row as
   a sentinel, so new rows get higher ids than anything archived) and records epoch N.

A kill between the two leaves history one epoch ahead: the next writer open finishes step 2
from the history file. Readers never see a row twice: a hot row whose id is at or below the
highest id archived for its table is a copy (see tradeguard.store.union).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tradeguard.store import files, seal, sqlite_kit
from tradeguard.store.schema import migrate
from tradeguard.store.sqlite_kit import Durability

log = logging.getLogger(__name__)

HISTORY_FILENAME = "history.db"
HISTORY_LABEL = files.HISTORY_LABEL
APPEND_TABLES = (
    "trades",
    "signals",
    "denials",
    "breaker_events",
    "issues",
    "skipped_bars",
    "equity",
    "operator_actions",
    "daily_resets",
)
INTENTS = "order_intents"
FINAL_STATUS_SQL = "status IN ('FILLED', 'REJECTED', 'CANCELLED')"
EPOCH_KEY = "archive_epoch"
# Binds the pair: history.db's own id, and the id of its history file the hot file records.
HISTORY_ID_KEY = "history_id"
# A move starts once the hot file holds this many unarchived journal rows (see docs/state.md).
ARCHIVE_ROWS = 10_000
# The hot file is compacted after a move that left more free pages than this and than half
# of it (about 10 MB at 4 KiB pages).
COMPACT_FREE_PAGES = 2560
FAILPOINTS = ("archive_history_committed", "archive_hot_committed")

_EPOCHS = """
CREATE TABLE IF NOT EXISTS archive_epochs (
    epoch INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    marks TEXT NOT NULL,
    moved TEXT NOT NULL
)"""

Failpoint = Callable[[str], None]


def history_path(store: Path) -> Path:
    """Return the history file of a store file: history.db beside state.db, else <stem>.history."""
    if store.name == files.STORE_FILENAME:
        return store.with_name(HISTORY_FILENAME)
    return store.with_name(f"{store.stem}.history{store.suffix}")


@dataclass(frozen=True)
class Move:
    """What one archive move did: its epoch and the rows copied per table."""

    epoch: int
    moved: dict[str, int]

    @property
    def rows(self) -> int:
        """Return the number of rows copied to the history file."""
        return sum(self.moved.values())


class HistoryFile:
    """The writer's side of history.db: verified on open, healed, and the target of moves.

    Its connection has history.db as `main` and the hot store attached as `hot`, so a move's
    copy is one statement per table and each step is one transaction on one file.
    """

    def __init__(
        self,
        hot: Path,
        durability: Durability,
        *,
        check: bool = True,
        busy_timeout_ms: int = sqlite_kit.DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = history_path(hot)
        self.hot = hot
        self.verified = ""  # "full" (integrity_check), "sealed" or "recovery"
        existed = self.path.exists()
        if existed:
            files.check_header(self.path, HISTORY_LABEL)
        else:
            sqlite_kit.create_database(self.path, self._initialise, HISTORY_LABEL)
        sealed = existed and seal.matches(self.path)
        conn = sqlite_kit.connect(self.path, HISTORY_LABEL, busy_timeout_ms)
        try:
            self._verify(conn, check and existed and not sealed, sealed)
            sqlite_kit.set_pragmas(conn, self.path, durability, HISTORY_LABEL)
            migrate(conn, where=str(self.path))
            conn.execute(_EPOCHS)
            conn.execute("ATTACH DATABASE ? AS hot", (str(hot),))
            sync = sqlite_kit.SYNCHRONOUS[durability]
            conn.execute(f"PRAGMA hot.synchronous={sync}")
        except sqlite_kit.DB_ERRORS as e:
            conn.close()
            raise files.database_error(self.path, "opening", e, HISTORY_LABEL) from e
        except BaseException:
            conn.close()
            raise
        files.chmod_private(self.path)
        self.conn = conn
        self._columns: dict[str, str] = {}
        if not existed:
            seal.write(self.path)  # empty and verified by construction

    def _initialise(self, conn: sqlite3.Connection) -> None:
        migrate(conn, where=str(self.path))
        conn.execute(_EPOCHS)

    def _verify(self, conn: sqlite3.Connection, full: bool, sealed: bool) -> None:
        """Run integrity_check unless the seal proves the file untouched since it was sealed."""
        if not full:
            self.verified = "sealed" if sealed else "recovery"
            return
        self.verified = "full"
        lines = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(5)")]
        if lines != ["ok"]:
            raise files.corrupted(self.path, f"full check: {'; '.join(lines)}", HISTORY_LABEL)

    # -- epochs ----------------------------------------------------------------------------

    def epochs(self) -> tuple[int, int]:
        """Return (hot epoch, history epoch): the last move each file has completed."""
        with sqlite_kit.translated(self.path, "reading epochs", HISTORY_LABEL):
            hot = self.conn.execute(
                "SELECT value FROM hot.store_meta WHERE key = ?", (EPOCH_KEY,)
            ).fetchone()
            history = self.conn.execute("SELECT MAX(epoch) FROM main.archive_epochs").fetchone()
        return (int(hot[0]) if hot else 0, int(history[0] or 0))

    def reconcile(self) -> bool:
        """Finish a move a kill interrupted; refuse a history file that lost archived rows.

        Returns True when a delete step was finished.
        """
        hot, history = self.epochs()
        self._bind(history)
        if history < hot:
            detail = (
                f"history epoch {history} is behind the store's {hot}: archived rows are "
                f"missing (the file was replaced or restored alone); restore both files"
            )
            raise files.corrupted(self.path, detail, HISTORY_LABEL)
        if history == hot:
            return False
        log.warning("state_archive_finishing hot_epoch=%d history_epoch=%d", hot, history)
        self._delete_moved(history)
        return True

    def _bind(self, history_epoch: int) -> None:
        """Refuse another store's history file; bind an unbound pair (history's id first).

        A history file without an id is a new one or one written before the binding: it takes
        the hot file's id when it holds nothing (no move yet), and refuses when the hot file
        is bound to another history file.
        """
        meta = "SELECT value FROM {}.store_meta WHERE key = ?"
        with sqlite_kit.translated(self.path, "reading the history id", HISTORY_LABEL):
            own = self.conn.execute(meta.format("main"), (HISTORY_ID_KEY,)).fetchone()
            bound = self.conn.execute(meta.format("hot"), (HISTORY_ID_KEY,)).fetchone()
        own_id, bound_id = (None if row is None else str(row[0]) for row in (own, bound))
        if bound_id is None and own_id is not None and history_epoch:
            # A hot file that never met this history file, which holds archive moves: the
            # store's state.db was lost or replaced (e.g. a restore killed halfway). Starting
            # afresh here would drop the breaker, the day's counters and the open intents.
            detail = (
                f"state.db has no record of this history file, which holds {history_epoch} "
                f"archive moves: state.db was lost or replaced; restore both files, or move "
                f"{self.path.name} aside to start afresh from the venue's record"
            )
            raise files.corrupted(self.path, detail, HISTORY_LABEL)
        if own_id is None and (bound_id is None or not history_epoch):
            own_id = bound_id or uuid.uuid4().hex
            self._write_id("main", own_id)
        if bound_id is None:
            self._write_id("hot", str(own_id))
        elif own_id != bound_id:
            detail = (
                f"history id {own_id or 'none'} is not the {bound_id} this store's state.db was "
                f"archived to: it belongs to another store; put this store's history.db back or "
                f"restore both files"
            )
            raise files.corrupted(self.path, detail, HISTORY_LABEL)

    def _write_id(self, schema: str, value: str) -> None:
        with sqlite_kit.transaction(self.conn, self.path, HISTORY_LABEL):
            self.conn.execute(
                f"INSERT INTO {schema}.store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (HISTORY_ID_KEY, value),
            )

    def unarchived_rows(self) -> int:
        """Return how many append-only rows the hot file holds above the archived marks."""
        total = 0
        with sqlite_kit.translated(self.path, "counting hot rows", HISTORY_LABEL):
            for table in APPEND_TABLES:
                top, mark = self.conn.execute(
                    f"SELECT (SELECT COALESCE(MAX(id), 0) FROM hot.{table}), "
                    f"(SELECT COALESCE(MAX(id), 0) FROM main.{table})"
                ).fetchone()
                total += max(int(top) - int(mark), 0)
        return total

    # -- the move --------------------------------------------------------------------------

    def move(self, at: str, failpoint: Failpoint | None = None) -> Move | None:
        """Archive every hot journal row and final intent; None when there was nothing to move."""
        self.reconcile()
        if not self.unarchived_rows() and not self._final_intents():
            return None
        hot_epoch, _ = self.epochs()
        epoch = hot_epoch + 1
        seal.remove(self.path)  # about to change: a kill from here on means a full check
        with sqlite_kit.transaction(self.conn, self.path, HISTORY_LABEL):
            marks, moved = self._copy()
            self.conn.execute(
                "INSERT INTO main.archive_epochs (epoch, at, marks, moved) VALUES (?,?,?,?)",
                (epoch, at, json.dumps(marks), json.dumps(moved)),
            )
        if failpoint is not None:
            failpoint("archive_history_committed")
        self._delete_moved(epoch)
        if failpoint is not None:
            failpoint("archive_hot_committed")
        self._compact_hot()
        self.seal()
        log.info("state_archived epoch=%d rows=%d history=%s", epoch, sum(moved.values()),
                 self.path)
        return Move(epoch, moved)

    def _final_intents(self) -> bool:
        with sqlite_kit.translated(self.hot, "reading", files.STORE_LABEL):
            row = self.conn.execute(
                f"SELECT 1 FROM hot.{INTENTS} WHERE {FINAL_STATUS_SQL} LIMIT 1"
            ).fetchone()
        return row is not None

    def _copy(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copy hot rows above each table's archived mark; return (marks, rows copied)."""
        marks: dict[str, int] = {}
        moved: dict[str, int] = {}
        for table in APPEND_TABLES:
            columns = self.columns(table)
            top, mark = self.conn.execute(
                f"SELECT (SELECT COALESCE(MAX(id), 0) FROM hot.{table}), "
                f"(SELECT COALESCE(MAX(id), 0) FROM main.{table})"
            ).fetchone()
            marks[table] = max(int(top), int(mark))
            if top > mark:
                cursor = self.conn.execute(
                    f"INSERT OR IGNORE INTO main.{table} ({columns}) "
                    f"SELECT {columns} FROM hot.{table} WHERE id > ? AND id <= ? ORDER BY id",
                    (mark, top),
                )
                moved[table] = cursor.rowcount
        columns = self.columns(INTENTS)
        kept = ("client_order_id", "created_at")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ") if c not in kept)
        cursor = self.conn.execute(
            f"INSERT INTO main.{INTENTS} ({columns}) SELECT {columns} FROM hot.{INTENTS} "
            f"WHERE {FINAL_STATUS_SQL} "
            f"ON CONFLICT (client_order_id) DO UPDATE SET {updates}"
        )
        moved[INTENTS] = cursor.rowcount
        return marks, moved

    def _delete_moved(self, epoch: int) -> None:
        """In one hot transaction: drop archived rows (keeping sentinels), record the epoch."""
        with sqlite_kit.transaction(self.conn, self.hot, files.STORE_LABEL):
            for table in APPEND_TABLES:
                (mark,) = self.conn.execute(
                    f"SELECT COALESCE(MAX(id), 0) FROM main.{table}"
                ).fetchone()
                self.conn.execute(f"DELETE FROM hot.{table} WHERE id < ?", (mark,))
                (top,) = self.conn.execute(
                    f"SELECT COALESCE(MAX(id), 0) FROM hot.{table}"
                ).fetchone()
                if top < mark:  # keep new ids above the archive (a hot file older than it)
                    columns = self.columns(table)
                    self.conn.execute(
                        f"INSERT INTO hot.{table} ({columns}) "
                        f"SELECT {columns} FROM main.{table} WHERE id = ?",
                        (mark,),
                    )
            self.conn.execute(
                f"DELETE FROM hot.{INTENTS} WHERE {FINAL_STATUS_SQL} AND EXISTS ("
                f"SELECT 1 FROM main.{INTENTS} h "
                f"WHERE h.client_order_id = hot.{INTENTS}.client_order_id "
                f"AND h.updated_at >= hot.{INTENTS}.updated_at)"
            )
            self.conn.execute(
                "INSERT INTO hot.store_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (EPOCH_KEY, str(epoch)),
            )

    def _compact_hot(self) -> None:
        """VACUUM the hot file when most of it is free pages (the first move of a big store).

        The restart check reads every page of state.db, free ones included; ids are kept
        (every journal table has an INTEGER PRIMARY KEY).
        """
        with sqlite_kit.translated(self.hot, "compacting", files.STORE_LABEL):
            (free,) = self.conn.execute("PRAGMA hot.freelist_count").fetchone()
            (pages,) = self.conn.execute("PRAGMA hot.page_count").fetchone()
            if int(free) < max(COMPACT_FREE_PAGES, int(pages) // 2):
                return
            self.conn.execute("VACUUM hot")
        log.info("state_hot_compacted store=%s free_pages=%d pages=%d", self.hot, free, pages)

    def columns(self, table: str) -> str:
        """Return the column list of a journal table, as the history file defines it."""
        if table not in self._columns:
            info = self.conn.execute(f"PRAGMA main.table_info({table})").fetchall()
            self._columns[table] = ", ".join(str(row[1]) for row in info)
        return self._columns[table]

    # -- lookups and sealing ---------------------------------------------------------------

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when the history file holds a fill with this id."""
        return self._holds("SELECT 1 FROM main.trades WHERE fill_id = ?", fill_id)

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when the history file holds the intent of this client order id."""
        return self._holds(
            f"SELECT 1 FROM main.{INTENTS} WHERE client_order_id = ?", client_order_id
        )

    def _holds(self, sql: str, key: str) -> bool:
        with sqlite_kit.translated(self.path, "reading", HISTORY_LABEL):
            return self.conn.execute(sql, (key,)).fetchone() is not None

    def seal(self) -> bool:
        """Checkpoint the history WAL away and seal the file; False when readers held it."""
        try:
            busy, _, _ = self.conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as e:
            log.warning("state_history_checkpoint_failed history=%s error=%s", self.path, e)
            return False
        if busy:
            log.warning("state_history_checkpoint_busy history=%s sealed=False", self.path)
            return False
        return seal.write(self.path)

    def close(self) -> None:
        """Close the connection (the seal written after the last move stays valid)."""
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

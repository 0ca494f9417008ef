"""The unit of work of the use cases: one session's journal, venue book and single-writer lock.

`Workspace` is the port; `SqliteWorkspace` keeps everything in a state directory (SQLite files
and a lock file); `tradeguard.memory.MemoryWorkspace` keeps it in memory for unit tests.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from engine.errors import ConfigurationError, StatePathError
from tradeguard.store import files
from tradeguard.store.files import STORE_FILENAME, directory_in_place_of_store, ensure_private_dir

if TYPE_CHECKING:
    from contextlib import ExitStack

    from engine.events import BreakerTransitioned, OperatorActed
    from engine.model import OrderIntent
    from engine.ports import Batch, OperatorCommand, RecoveredState
    from tradeguard.alerting.runtime import SessionAlerting
    from tradeguard.settings import Settings
    from tradeguard.store.archive import Move
    from tradeguard.store.invariants import JournalProblem
    from tradeguard.store.lock import LockOwner

STORE_FILE = STORE_FILENAME
BOOK_FILE = "paper_broker.sqlite"


class Journal(Protocol):
    """What the use cases need from the state store: the engine's port plus queries."""

    def load(self) -> RecoveredState:
        """Return the latest snapshot sections, non-final intents and positions."""
        ...

    def commit(self, batch: Batch) -> None:
        """Write every change in batch in one transaction."""
        ...

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when a fill with this id is already journaled."""
        ...

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when an order intent with this client id is already journaled."""
        ...

    def pending_commands(self) -> list[OperatorCommand]:
        """Return operator commands not yet applied, oldest first."""
        ...

    def enqueue_command(self, action: str, reason: str, who: str, at: datetime) -> int:
        """Queue an operator command and return its id."""
        ...

    def recent_transitions(self, n: int) -> list[BreakerTransitioned]:
        """Return the last n breaker transitions, oldest first."""
        ...

    def issues_between(self, start: datetime, end: datetime) -> list[tuple[str, str, str]]:
        """Return (at, issue_type, details JSON) of the issues with start <= at <= end."""
        ...

    def transitions_between(self, start: datetime, end: datetime) -> list[BreakerTransitioned]:
        """Return breaker transitions with start <= at <= end, in journal order."""
        ...

    def intents_between(self, start: datetime, end: datetime) -> list[OrderIntent]:
        """Return order intents created in [start, end]."""
        ...

    def operator_actions_between(self, start: datetime, end: datetime) -> list[OperatorActed]:
        """Return operator actions in [start, end]."""
        ...

    def integrity_check(self) -> str:
        """Return "ok" when the store is intact, else what is wrong."""
        ...

    def duplicate_client_order_ids(self) -> list[str]:
        """Return client order ids ordered, filled or journaled more than once."""
        ...

    def last_fill(self) -> tuple[str, str] | None:
        """Return (fill_id, client_order_id) of the newest journaled fill, or None."""
        ...

    def archive(self) -> Move | None:
        """Move every journal row and final intent to the history now (writer only)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class Workspace(Protocol):
    """Where one session keeps its state; open_* hand over resources the caller closes."""

    @property
    def location(self) -> Path:
        """Return where the state lives (a directory; a label for in-memory state)."""
        ...

    def exists(self) -> bool:
        """Return True when a session has written state here."""
        ...

    def child(self, name: str) -> Workspace:
        """Return a fresh workspace for one run below this one (validation runs)."""
        ...

    def lock(self) -> AbstractContextManager[Any]:
        """Return the single-writer lock; entering it raises StateLockedError when taken."""
        ...

    def live_owner(self) -> LockOwner | None:
        """Return who holds the writer lock, or None when no live session runs."""
        ...

    def open_journal(self, *, writer: bool = False) -> Journal:
        """Open the journal; only the lock-holding writer marks sessions open and closed."""
        ...

    def open_book(self, *, must_exist: bool = False) -> Any:
        """Open the paper venue's own book (an engine.paper_book.PaperBook).

        must_exist: the journal booked fills from this book, so a missing or empty book is
        refused, not started afresh (a new account would disagree with the journal).
        """
        ...

    def session_alerting(
        self, settings: Settings, journal: Journal, stack: ExitStack
    ) -> SessionAlerting | None:
        """Start the session's alerting, or None where there is no durable outbox."""
        ...

    def journal_problems(self, journal: Journal) -> list[JournalProblem]:
        """Return the violated journal invariants of this workspace's journal."""
        ...


def store_path(state_dir: Path) -> Path:
    """Return the path of the engine store inside a state directory."""
    return state_dir / STORE_FILE


def require_existing(workspace: Workspace) -> Workspace:
    """Return workspace; refuse one where no session has written state yet."""
    if not workspace.exists():
        message = (
            f"state directory {workspace.location} holds no tradeguard state; run a session "
            "first or pass --state-dir"
        )
        raise ConfigurationError(message)
    return workspace


# A NamedTuple, not a frozen dataclass: every command that reads state creates this class at
# import, and a dataclass costs ~0.5 ms to create on Python 3.11, a NamedTuple ~0.1 ms.
class SqliteWorkspace(NamedTuple):
    """A state directory: SQLite journal, SQLite paper book and a lock file (durable)."""

    state_dir: Path
    durability: Literal["kill9", "power"] = "kill9"
    force_lock: bool = False  # take over a lock naming another host (operator's --force)

    @property
    def location(self) -> Path:
        """Return the state directory."""
        return self.state_dir

    def exists(self) -> bool:
        """Return True when the directory holds a tradeguard store (or a restore cut short)."""
        path = store_path(self.state_dir)
        return path.exists() or files.restore_marker(path).exists()

    def child(self, name: str) -> SqliteWorkspace:
        """Return the workspace of a subdirectory."""
        return SqliteWorkspace(self.state_dir / name, self.durability, self.force_lock)

    def ensure(self) -> Path:
        """Create the state directory (0700) if needed and return it."""
        ensure_private_dir(self.state_dir)
        return self.state_dir

    def lock(self) -> AbstractContextManager[Any]:
        """Return the state-directory lock (creates the directory first)."""
        from tradeguard.store.lock import StateDirLock

        return StateDirLock(self.ensure(), force=self.force_lock)

    def live_owner(self) -> LockOwner | None:
        """Return the live owner of the state-directory lock, if any."""
        from tradeguard.store.lock import is_locked_by_live_process

        return is_locked_by_live_process(self.state_dir)

    def open_journal(self, *, writer: bool = False) -> Journal:
        """Open the SQLite engine store of the directory."""
        from tradeguard.store.sqlite_store import SqliteStore

        if not writer:
            require_existing(self)
        path = store_path(self.state_dir)
        if path.is_dir():
            # SqliteStore would take a directory for a state directory and nest a new store.
            raise directory_in_place_of_store(path)
        from tradeguard.store.archive import history_path

        # Readers too: an operator command is queued through a reader open.
        self._refuse_outside(path, history_path(path))
        return SqliteStore(
            path,
            durability=self.durability,
            session=writer,
            # A session that trades verifies every page first (issue 8 §3).
            verify="full" if writer else "recovery",
        )

    def open_book(self, *, must_exist: bool = False) -> Any:
        """Open the SQLite paper book of the directory."""
        from tradeguard.adapters.paper_book import SqlitePaperBook

        path = self.state_dir / BOOK_FILE
        self._refuse_outside(path)
        if not must_exist:
            return SqlitePaperBook(path, durability=self.durability)
        book = SqlitePaperBook(path, durability=self.durability) if path.is_file() else None
        if book is None or not book.order_ids():
            if book is not None:
                book.close()
            message = (
                f"paper book {path} is missing or holds no order, but the journal booked fills "
                "from it: put the venue's book back (a new paper account would disagree with "
                "the journal's positions and cash), or start a new --state-dir"
            )
            raise StatePathError(message)
        return book

    def _refuse_outside(self, *paths: Path) -> None:
        """Refuse a state file linked to another directory, which this directory's lock misses.

        A session writing through such a link shares the file with whoever locks the
        directory it lives in: two writers on one journal and book send duplicate orders.
        """
        home = self.state_dir.resolve()
        for path in paths:
            if path.is_symlink() and path.resolve().parent != home:
                message = (
                    f"{path} is a link to {path.resolve()}, outside the state directory its "
                    f"lock guards; pass --state-dir {path.resolve().parent} instead, or move "
                    "the file into place"
                )
                raise StatePathError(message)

    def session_alerting(
        self, settings: Settings, journal: Journal, stack: ExitStack
    ) -> SessionAlerting:
        """Hook the alert outbox into the journal's commits and start delivery (stack stops it)."""
        from tradeguard.alerting.runtime import start_session_alerting

        return start_session_alerting(settings, journal, stack)

    def journal_problems(self, journal: Journal) -> list[JournalProblem]:
        """Run the SQL journal invariants over the store."""
        from tradeguard.store.invariants import check_journal

        return check_journal(journal)  # type: ignore[arg-type]

"""In-memory workspace: the engine's InMemoryStore plus the shell's queries, for unit tests.

Nothing here touches the file system; a MemoryWorkspace keeps its journal and paper book
between openings, so a use case can run a session and a later one can read it back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from engine.errors import StateLockedError
from engine.events import BreakerTransitioned, IssueReported, OperatorActed
from engine.model import OrderIntent
from engine.paper_book import InMemoryPaperBook
from engine.ports import Batch, InMemoryStore, OperatorCommand

if TYPE_CHECKING:
    from contextlib import ExitStack
    from pathlib import Path

    from tradeguard.settings import Settings
    from tradeguard.store.invariants import JournalProblem
    from tradeguard.store.lock import LockOwner
    from tradeguard.workspace import Journal


class MemoryJournal(InMemoryStore):
    """InMemoryStore that also answers the shell's queries over what was committed."""

    def __init__(self) -> None:
        super().__init__()
        self.transitions: list[BreakerTransitioned] = []
        self.operator_actions: list[OperatorActed] = []
        self.issues: list[IssueReported] = []
        self._next_command = 1

    def commit(self, batch: Batch) -> None:
        """Apply the batch and keep its transitions and operator actions."""
        super().commit(batch)
        self.transitions.extend(batch.transitions)
        self.operator_actions.extend(batch.operator_actions)
        self.issues.extend(batch.issues)

    def enqueue_command(self, action: str, reason: str, who: str, at: datetime) -> int:
        """Queue an operator command and return its id."""
        command_id = self._next_command
        self._next_command += 1
        self.commands.append(OperatorCommand(command_id, action, reason, who, at))
        return command_id

    def recent_transitions(self, n: int) -> list[BreakerTransitioned]:
        """Return the last n transitions, oldest first."""
        return self.transitions[-n:] if n > 0 else []

    def issues_between(self, start: datetime, end: datetime) -> list[tuple[str, str, str]]:
        """Return (at, issue_type, details JSON) of the issues with start <= at <= end."""
        return [
            (i.at.isoformat(), str(i.issue_type), json.dumps(i.details, default=str))
            for i in self.issues
            if start <= i.at <= end
        ]

    def transitions_between(self, start: datetime, end: datetime) -> list[BreakerTransitioned]:
        """Return transitions with start <= at <= end, in journal order."""
        return [t for t in self.transitions if start <= t.at <= end]

    def intents_between(self, start: datetime, end: datetime) -> list[OrderIntent]:
        """Return intents created in [start, end], oldest first."""
        chosen = [i for i in self.intents.values() if start <= i.request.created_at <= end]
        return sorted(chosen, key=lambda i: i.request.created_at)

    def operator_actions_between(self, start: datetime, end: datetime) -> list[OperatorActed]:
        """Return operator actions in [start, end]."""
        return [a for a in self.operator_actions if start <= a.at <= end]

    def integrity_check(self) -> str:
        """Return "ok": memory cannot be torn."""
        return "ok"

    def last_fill(self) -> tuple[str, str] | None:
        """Return (fill_id, client_order_id) of the newest committed fill, or None."""
        fills = [fill for batch in self.batches for fill in batch.fills]
        return (fills[-1].fill_id, fills[-1].client_order_id) if fills else None

    def duplicate_client_order_ids(self) -> list[str]:
        """Return client order ids that more than one signal says it ordered."""
        ordered = Counter(
            s.client_order_id
            for batch in self.batches
            for s in batch.signals
            if s.outcome == "ordered" and s.client_order_id
        )
        return sorted(cid for cid, n in ordered.items() if n > 1)

    def archive(self) -> None:
        """Return None: memory keeps no history file, there is nothing to move."""

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class MemoryWorkspace:
    """A workspace held in memory: a journal, a paper book and an in-process lock."""

    name: str = "memory"
    journal: MemoryJournal = field(default_factory=MemoryJournal)
    book: InMemoryPaperBook = field(default_factory=InMemoryPaperBook)
    children: dict[str, MemoryWorkspace] = field(default_factory=dict)
    locked: bool = False

    @property
    def location(self) -> Path:
        """Return a label standing for where the state lives."""
        from pathlib import Path

        return Path(PurePosixPath("/memory") / self.name)

    def exists(self) -> bool:
        """Return True once a session committed anything."""
        return bool(self.journal.batches or self.journal.commands)

    def child(self, name: str) -> MemoryWorkspace:
        """Return (and remember) a fresh workspace below this one."""
        return self.children.setdefault(name, MemoryWorkspace(f"{self.name}/{name}"))

    def lock(self) -> AbstractContextManager[Any]:
        """Return an in-process single-writer lock."""
        return self._held()

    @contextmanager
    def _held(self) -> Iterator[None]:
        if self.locked:
            message = f"workspace {self.name} is held by a running session"
            raise StateLockedError(message)
        self.locked = True
        try:
            yield
        finally:
            self.locked = False

    def live_owner(self) -> LockOwner | None:
        """Return an owner while a session holds the lock."""
        if not self.locked:
            return None
        from tradeguard.store.lock import LockOwner

        return LockOwner(None, "memory", "")

    def open_journal(self, *, writer: bool = False) -> Journal:
        """Return the workspace's journal (closing it keeps the data)."""
        del writer
        return self.journal

    def open_book(self, *, must_exist: bool = False) -> Any:
        """Return the workspace's paper book (it lives as long as the workspace)."""
        del must_exist
        return self.book

    def session_alerting(self, settings: Settings, journal: Journal, stack: ExitStack) -> None:
        """Return None: an in-memory workspace has no durable outbox to deliver from."""
        del settings, journal, stack

    def journal_problems(self, journal: Journal) -> list[JournalProblem]:
        """Return no problem: the SQL invariants need the SQLite journal."""
        del journal
        return []

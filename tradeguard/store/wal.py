"""WAL checkpoints of the hot file, kept off the order path (see docs/state.md "Checkpoints").

SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past
`wal_autocheckpoint` pages: two fsyncs plus the page copies, about 20 ms for 1000 pages on
the reference disk. With the default (1000 pages) and ~14 pages per order commit, about
every 70th intent or fill commit stalled that long, between the intent and the broker call
too. The session's writer therefore raises the automatic threshold to a safety net and
checkpoints itself after a commit that carries no order (cursor checkpoint, equity,
signal-only, daily reset), once enough commits went by since the last checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

# Safety net: a WAL this long is checkpointed by the commit that crosses it even if no idle
# commit came (16 MB of 4 KiB pages; the WAL never grows past about this). Kept at 4000, not
# the paper book's 8000: the first open after a crash replays and checks the WAL, and 8000
# frames added about 40 ms to it at 1M trades (the restart target is 50 ms).
AUTOCHECKPOINT_PAGES = 4000
# Counted in commits, not pages: a commit is cheap to count and writes a few to a few dozen
# pages, so 64 commits keep a checkpoint near the 1000 pages SQLite would copy by default.
CHECKPOINT_AFTER_COMMITS = 64


class Checkpointer:
    """Runs a PASSIVE checkpoint after an order-free commit once enough commits went by."""

    __slots__ = ("_after", "_path", "_since", "_warned", "ran")

    def __init__(self, path: Path, after_commits: int = CHECKPOINT_AFTER_COMMITS) -> None:
        self._path = path
        self._after = after_commits
        self._since = 0
        self._warned = False  # a failing checkpoint is logged once until one succeeds
        self.ran = 0  # checkpoints run (for tests and benches)

    @staticmethod
    def configure(conn: sqlite3.Connection) -> None:
        """Raise the writer connection's automatic checkpoint to the safety net."""
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")

    def committed(self, conn: sqlite3.Connection, carries_order: bool) -> None:
        """Count one commit; checkpoint now if it carried no order and the count is reached.

        Never raises: the commit is already durable, a checkpoint only moves pages.
        """
        self._since += 1
        if carries_order or self._since < self._after:
            return
        self._since = 0
        try:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:
            self._warn(f"error={e}")
            return
        self.ran += 1
        if busy or (frames > 0 and copied < frames):
            # A reader still uses older frames: the next idle checkpoint copies the rest.
            self._warn(f"busy={busy} frames={frames} copied={copied}")
        else:
            self._warned = False

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("state_checkpoint_incomplete store=%s %s", self._path, what)

"""Child process: a replay whose state.db another connection locks at its first intent.

The lock is held longer than the busy timeouts (the commit's and the alert drain's), so the
session ends on a store error while the alert outbox cannot be drained either.
Usage: python -m tests.integration.locked_store_child <tradeguard CLI arguments...>
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from typing import Any

from tradeguard.store import sqlite_store

HOLD_SECONDS = 12.0


def main() -> None:
    """Wrap SqliteStore.commit to lock the file once, then run the CLI."""
    original = sqlite_store.SqliteStore.commit
    done: list[bool] = []

    def commit(self: sqlite_store.SqliteStore, batch: Any) -> None:
        if not done and batch.intents and self._session:
            done.append(True)
            locked = threading.Event()

            def hold() -> None:
                other = sqlite3.connect(self.path, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
                locked.set()
                time.sleep(HOLD_SECONDS)
                other.execute("ROLLBACK")
                other.close()

            threading.Thread(target=hold, daemon=True).start()
            locked.wait()
        original(self, batch)

    sqlite_store.SqliteStore.commit = commit  # type: ignore[method-assign]
    from entrypoints.launcher import main as cli

    sys.argv = ["tradeguard", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()

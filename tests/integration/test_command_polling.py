"""The session's command poll asks the store at most once per interval of wall time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tradeguard.store.polling import ThrottledCommands
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2022, 1, 21, tzinfo=UTC)


def test_commands_queued_by_another_connection_arrive_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.db"
    store = SqliteStore(path)
    operator = SqliteStore(path, session=False, verify="recovery")
    now = [100.0]
    polled = ThrottledCommands(store, interval=0.05, monotonic=lambda: now[0])
    try:
        assert polled.pending_commands() == []
        operator.enqueue_command("halt", "maintenance", "ops", T0)
        now[0] += 0.01
        assert polled.pending_commands() == []  # too soon: the database is not asked
        now[0] += 0.05
        (command,) = polled.pending_commands()
        assert (command.action, command.reason, command.who) == ("halt", "maintenance", "ops")
        assert [c.action for c in store.pending_commands()] == ["halt"]
    finally:
        operator.close()
        store.close()

"""The status read model: what `tradeguard status` (and the API's /status) shows of a workspace.

Kept apart from `tradeguard.services` so that `status` loads only the store and the lock, not
the composition root, the session wiring, the broker, the feed or the alert delivery
(tests/integration/test_cli_startup.py lists what it must not load). It reads through the
store's own `load()` and queries, so a change of the journal format flows through.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.errors import StateSectionError
from tradeguard.transition import Transition
from tradeguard.workspace import require_existing, store_path

if TYPE_CHECKING:
    from pathlib import Path

    from engine.clock import Clock
    from tradeguard.workspace import Workspace

_DAILY_KEYS = ("daily_pnl", "daily_trades", "trading_day", "last_reset_day")


def read_status(workspace: Workspace, clock: Clock) -> dict[str, Any]:
    """Return the latest committed state: breaker and time in state, bar, P&L, intents."""
    require_existing(workspace)
    store = workspace.open_journal()
    try:
        recovered = store.load()
        last = store.recent_transitions(1)
        pending = store.pending_commands()
    finally:
        store.close()
    state = recovered.state
    breaker = state.get("breaker", {})
    risk = state.get("risk", {})
    owner = workspace.live_owner()
    clock_now = state.get("clock", {}).get("now")
    session = {k: v for k, v in state.get("session", {}).items() if k != "loss_window"}
    return {
        "state_dir": str(workspace.location),
        "running": owner is not None,
        "owner": owner.describe() if owner is not None else None,
        "heartbeat_age_seconds": heartbeat_age(workspace.location, clock, owner is not None),
        "breaker": {
            "state": breaker.get("state", "CLOSED"),
            "reason": breaker.get("reason", ""),
            "trigger": breaker.get("trigger"),
            "entered_at": breaker.get("entered_at"),
            "time_in_state_seconds": _seconds_between(breaker.get("entered_at"), clock_now),
            "consecutive_failures": breaker.get("consecutive_failures", 0),
            "override": breaker.get("override"),
        },
        "current_bar": session.get("cursors", {}),
        "daily": {k: risk.get(k) for k in _DAILY_KEYS},
        "counters": {**session, **state.get("execution", {})},
        "positions": {p.symbol: p.quantity for p in recovered.positions if p.quantity},
        "pending_intents": [
            {
                "client_order_id": i.client_order_id,
                "status": i.status.value,
                "symbol": i.request.symbol,
                "side": i.request.side.value,
                "quantity": i.request.quantity,
            }
            for i in recovered.open_intents
        ],
        "pending_commands": [c.action for c in pending],
        "last_transition": Transition.of(last[0]).to_json() if last else None,
        "clock": clock_now,
    }


def _seconds_between(start: Any, end: Any) -> float | None:
    if not start or not end:
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError) as e:  # the sections are read raw: an edit reaches here
        message = (
            f"state store: breaker.entered_at {start!r} or clock.now {end!r} is not the UTC "
            "time tradeguard writes; the store was altered: restore a backup with "
            "`tradeguard state restore`"
        )
        raise StateSectionError(message) from e
    return max(seconds, 0.0)


def heartbeat_age(state_dir: Path, clock: Clock, running: bool) -> float | None:
    """Seconds since a running session last committed (the store's last write), else None."""
    if not running:
        return None
    store = store_path(state_dir)
    stamps = [p.stat().st_mtime for p in (store, store.with_name(store.name + "-wal"))
              if p.exists()]
    if not stamps:
        return None
    return max(clock.now().timestamp() - max(stamps), 0.0)

"""The status screen shows what an operator needs, from one snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from tradeguard.cockpit.view import render_status

NOW = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
STATUS = {
    "state_dir": "/var/lib/tradeguard",
    "running": True,
    "heartbeat_age_seconds": 4.2,
    "breaker": {"state": "HALT", "reason": "5 consecutive order failures",
                "entered_at": "2022-01-21T09:18:00+00:00"},
    "daily": {"daily_pnl": -36.78, "daily_trades": 12, "trading_day": "2022-01-21"},
    "counters": {"bars": 600, "orders_submitted": 20, "orders_filled": 14, "orders_failed": 6,
                 "cursors": {"BTC-PERP": "2022-01-21T09:59:00+00:00"}},
    "positions": {"BTC-PERP": 0.01},
    "pending_intents": [{"client_order_id": "x", "status": "SUBMITTED", "symbol": "BTC-PERP",
                         "side": "SELL", "quantity": 0.01}],
    "pending_commands": ["recover"],
    "last_transition": {"from": "THROTTLE", "to": "HALT", "at": "2022-01-21T09:18:00+00:00",
                        "trigger": "consecutive_failures", "reason": "5 consecutive failures"},
    "clock": "2022-01-21T10:00:00+00:00",
}


def screen(status: dict) -> str:
    console = Console(record=True, width=110, color_system=None)
    console.print(render_status(status, NOW))
    return console.export_text()


def test_a_halted_session_shows_state_age_heartbeat_positions_and_commands() -> None:
    text = screen(STATUS)
    assert "HALT" in text and "for 42m00s" in text
    assert "heartbeat 4s ago" in text
    assert "-36.78" in text and "recover" in text
    assert "SELL 0.01" in text and "SUBMITTED" in text
    assert "THROTTLE -> HALT" in text
    assert "BTC-PERP 2022-01-21T09:59:00+00:00" in text


def test_an_empty_state_renders_without_errors() -> None:
    text = screen({})
    assert "CLOSED" in text and "not running" in text and "flat" in text


def test_orders_adopted_by_a_venue_sync_are_shown_only_when_there_are_some() -> None:
    assert "adopted" not in screen(STATUS)
    adopted = {**STATUS, "counters": {**STATUS["counters"], "orders_adopted": 7}}
    assert "7 adopted from the venue" in screen(adopted)

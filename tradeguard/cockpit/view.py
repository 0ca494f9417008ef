"""The status of a session as one terminal screen (rich), for `status --watch` in a tmux pane."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

_STYLE = {
    "CLOSED": "bold green",
    "ALERT": "bold yellow",
    "THROTTLE": "bold dark_orange",
    "HALF_OPEN": "bold cyan",
    "HALT": "bold red",
    "SHUTDOWN": "bold white on red",
}


def _age(then: str | None, now: datetime) -> str:
    if not then:
        return "-"
    seconds = (now - datetime.fromisoformat(then)).total_seconds()
    if seconds < 0:
        return "0s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _headline(status: Mapping[str, Any], now: datetime) -> Text:
    breaker = status.get("breaker", {})
    state = str(breaker.get("state", "CLOSED"))
    line = Text("tradeguard  ")
    line.append(f" {state} ", style=_STYLE.get(state, "bold"))
    line.append(f"  for {_age(breaker.get('entered_at'), now)}")
    running = "running" if status.get("running") else "not running"
    line.append(f"   session {running}")
    if status.get("heartbeat_age_seconds") is not None:
        line.append(f"   heartbeat {status['heartbeat_age_seconds']:.0f}s ago")
    reason = breaker.get("reason")
    if reason:
        line.append(f"\nreason: {reason}", style="dim")
    return line


def _facts(status: Mapping[str, Any]) -> Table:
    counters = status.get("counters", {})
    daily = status.get("daily", {})
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("state dir", status.get("state_dir", "-")),
        ("session time", status.get("clock") or "-"),
        ("last bar", ", ".join(f"{s} {t}" for s, t in counters.get("cursors", {}).items())
         or "-"),
        ("bars", counters.get("bars", 0)),
        ("trading day", daily.get("trading_day", "-")),
        ("today's P&L", daily.get("daily_pnl", 0.0)),
        ("today's trades", daily.get("daily_trades", 0)),
        ("orders", _orders_line(counters)),
        ("pending commands", ", ".join(status.get("pending_commands", [])) or "none"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def _orders_line(counters: Mapping[str, Any]) -> str:
    """Say what happened to the orders; adopted ones (taken over by a venue sync) when any."""
    adopted = counters.get("orders_adopted", 0)
    line = f"{counters.get('orders_submitted', 0)} submitted, "
    if adopted:
        line += f"{adopted} adopted from the venue, "
    return (line + f"{counters.get('orders_filled', 0)} filled, "
            f"{counters.get('orders_failed', 0)} failed")


def _positions(status: Mapping[str, Any]) -> Table:
    table = Table(title="positions and open intents", title_justify="left")
    for column in ("symbol", "position", "open intent", "status"):
        table.add_column(column)
    intents = {i["symbol"]: i for i in status.get("pending_intents", [])}
    symbols = sorted(set(status.get("positions", {})) | set(intents))
    for symbol in symbols:
        intent = intents.get(symbol)
        table.add_row(
            symbol,
            str(status.get("positions", {}).get(symbol, 0.0)),
            f"{intent['side']} {intent['quantity']}" if intent else "-",
            intent["status"] if intent else "-",
        )
    if not symbols:
        table.add_row("-", "flat", "-", "-")
    return table


def _last_transition(status: Mapping[str, Any]) -> Text:
    last = status.get("last_transition")
    if not last:
        return Text("no breaker transition yet", style="dim")
    return Text(
        f"last transition: {last['from']} -> {last['to']} at {last['at']} "
        f"({last['trigger']}: {last['reason']})"
    )


def render_status(status: Mapping[str, Any], now: datetime) -> Group:
    """Return the whole screen for one status snapshot."""
    return Group(_headline(status, now), _facts(status), _positions(status),
                 _last_transition(status))

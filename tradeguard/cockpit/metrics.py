"""Prometheus text exposition of a status snapshot (one scrape, one consistent snapshot)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from engine.breaker_config import CircuitState

_COUNTERS = (
    ("bars", "Bars processed by the session."),
    ("bad_bars", "Bars skipped as invalid."),
    ("signals", "Strategy signals."),
    ("orders_submitted", "Orders sent to the venue."),
    ("orders_adopted", "Orders taken over from the venue's record by a venue sync."),
    ("orders_filled", "Orders filled."),
    ("orders_failed", "Orders the venue failed or rejected."),
    ("trades_executed", "Executed trades."),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def render(status: Mapping[str, Any]) -> bytes:
    """Return the Prometheus text format for one status snapshot."""
    registry = CollectorRegistry(auto_describe=True)
    state = Gauge("tradeguard_breaker_state", "1 for the breaker's current state, else 0.",
                  ["state"], registry=registry)
    current = str(status.get("breaker", {}).get("state", "CLOSED"))
    for candidate in CircuitState:
        state.labels(candidate.value).set(1.0 if candidate.value == current else 0.0)
    Gauge("tradeguard_breaker_severity", "Severity of the breaker state (CLOSED=0).",
          registry=registry).set(float(CircuitState(current).severity))
    Gauge("tradeguard_session_running", "1 while a session holds the state directory.",
          registry=registry).set(1.0 if status.get("running") else 0.0)
    daily = status.get("daily", {})
    for key, help_text in (("daily_pnl", "Realized P&L of the trading day."),
                           ("daily_trades", "Executed trades of the trading day.")):
        value = _number(daily.get(key))
        if value is not None:
            Gauge(f"tradeguard_{key}", help_text, registry=registry).set(value)
    counters = status.get("counters", {})
    for key, help_text in _COUNTERS:
        value = _number(counters.get(key))
        if value is not None:
            Gauge(f"tradeguard_{key}", help_text, registry=registry).set(value)
    positions = Gauge("tradeguard_position", "Position quantity per symbol.", ["symbol"],
                      registry=registry)
    for symbol, quantity in sorted(status.get("positions", {}).items()):
        positions.labels(symbol).set(float(quantity))
    Gauge("tradeguard_open_intents", "Order intents not yet final.", registry=registry).set(
        float(len(status.get("pending_intents", [])))
    )
    Gauge("tradeguard_pending_commands", "Operator commands not yet applied.",
          registry=registry).set(float(len(status.get("pending_commands", []))))
    heartbeat = _number(status.get("heartbeat_age_seconds"))
    if heartbeat is not None:
        Gauge("tradeguard_heartbeat_age_seconds", "Seconds since the session's last heartbeat.",
              registry=registry).set(heartbeat)
    return bytes(generate_latest(registry))

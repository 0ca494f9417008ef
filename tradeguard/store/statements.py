"""SQL statements the state store runs on every commit (prepared once, cached by sqlite3)."""

from __future__ import annotations

from functools import cache
from typing import Any

from tradeguard.store import rows as r

UPSERT_INTENT = (
    f"INSERT INTO order_intents ({r.INTENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (client_order_id) DO UPDATE SET status = excluded.status, "
    "broker_order_id = COALESCE(excluded.broker_order_id, order_intents.broker_order_id), "
    "reason = excluded.reason, updated_at = excluded.updated_at"
)
INSERT_FILL = (
    "INSERT INTO trades (fill_id, client_order_id, symbol, side, quantity, price, fee, ts) "
    "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (fill_id) DO NOTHING"
)
UPSERT_POSITION = (
    "INSERT INTO positions (symbol, quantity, average_price, realized_pnl, updated_at) "
    "VALUES (?,?,?,?,?) ON CONFLICT (symbol) DO UPDATE SET quantity = excluded.quantity, "
    "average_price = excluded.average_price, realized_pnl = excluded.realized_pnl, "
    "updated_at = excluded.updated_at"
)
UPDATE_INTENT = (
    "UPDATE order_intents SET status = ?, "
    "broker_order_id = COALESCE(?, broker_order_id), reason = ?, updated_at = ? "
    "WHERE client_order_id = ?"
)
UPSERT_KEY = (
    "INSERT INTO key_state (key, value, updated_at) VALUES (?,?,?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
UPSERT_SAMPLE = "INSERT OR REPLACE INTO breaker_samples (id, seq, value) VALUES (?,?,?)"
# Rows per multi-row sample statement: 3 parameters each, far below SQLite's variable limit.
SAMPLE_ROWS_PER_STATEMENT = 128


@cache
def multi_row(statement: str, rows: int) -> str:
    """Return a one-row `VALUES (?,...)` statement for `rows` rows (one call, not one each).

    The key_state upsert of a commit's sections costs about a third less this way.
    """
    one = "(" + ",".join("?" * statement.count("?")) + ")"
    return statement.replace(f"VALUES {one}", "VALUES " + ",".join([one] * rows), 1)


SELECT_SAMPLES = "SELECT id, seq, value FROM breaker_samples"
DONE_COMMAND = "UPDATE commands SET done_at = ? WHERE id = ? AND done_at IS NULL"
APPENDS: dict[str, tuple[str, Any]] = {
    "signals": (
        "INSERT INTO signals (at, symbol, side, confidence, bar_time, fast, slow, outcome, "
        "reason, client_order_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        r.signal_row,
    ),
    "denials": (
        "INSERT INTO denials (at, client_order_id, symbol, side, quantity, check_name, reason) "
        "VALUES (?,?,?,?,?,?,?)",
        r.denial_row,
    ),
    "transitions": (
        "INSERT INTO breaker_events (at, from_state, to_state, trigger, observed, threshold, "
        "reason) VALUES (?,?,?,?,?,?,?)",
        r.transition_row,
    ),
    "issues": ("INSERT INTO issues (at, issue_type, details) VALUES (?,?,?)", r.issue_row),
    "skipped_bars": (
        "INSERT INTO skipped_bars (at, symbol, bar_time, reason, file_row) VALUES (?,?,?,?,?)",
        r.skipped_row,
    ),
    "equity": (
        "INSERT INTO equity (at, equity, cash, daily_pnl) VALUES (?,?,?,?)",
        r.equity_row,
    ),
    "operator_actions": (
        "INSERT INTO operator_actions (at, action, reason, who) VALUES (?,?,?,?)",
        r.operator_row,
    ),
    "daily_resets": (
        "INSERT INTO daily_resets (at, trading_day, previous_pnl, previous_trades, source, "
        "applied) VALUES (?,?,?,?,?,?)",
        r.reset_row,
    ),
}
PER_ROW = (
    ("fills", INSERT_FILL, r.fill_row),
    ("positions", UPSERT_POSITION, r.position_row),
)

"""Schema of the state store and its forward-only migrations (see docs/state.md)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from engine.errors import StateError
from tradeguard.store import files, sqlite_kit
from tradeguard.store.sqlite_kit import Migration

OPEN_STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "UNKNOWN")
ALL_STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "FILLED", "REJECTED", "CANCELLED", "UNKNOWN")
# The literal text must match the partial index predicate for SQLite to use the index.
OPEN_STATUS_SQL = "status IN ('PENDING_SUBMIT', 'SUBMITTED', 'UNKNOWN')"

_V1 = f"""
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE key_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE last_signals (
    symbol TEXT NOT NULL,
    fast INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    bar_time TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (symbol, fast, slow)
) WITHOUT ROWID;
CREATE TABLE positions (
    symbol TEXT PRIMARY KEY,
    quantity REAL NOT NULL,
    average_price REAL NOT NULL,
    realized_pnl REAL NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE order_intents (
    client_order_id TEXT NOT NULL PRIMARY KEY,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity REAL NOT NULL,
    reference_price REAL NOT NULL,
    limit_price REAL,
    reduce_only INTEGER NOT NULL,
    confidence REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN {ALL_STATUSES!r}),
    broker_order_id TEXT,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX order_intents_open ON order_intents (status) WHERE {OPEN_STATUS_SQL};
CREATE TABLE trades (
    id INTEGER PRIMARY KEY,
    fill_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts TEXT NOT NULL
);
CREATE INDEX trades_client_order ON trades (client_order_id);
CREATE TABLE signals (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    confidence REAL NOT NULL,
    bar_time TEXT NOT NULL,
    fast INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    client_order_id TEXT
);
CREATE TABLE denials (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    check_name TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE breaker_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    trigger TEXT NOT NULL,
    observed REAL,
    threshold REAL,
    reason TEXT NOT NULL
);
CREATE INDEX breaker_events_at ON breaker_events (at);
CREATE TABLE issues (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    issue_type TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE skipped_bars (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    symbol TEXT NOT NULL,
    bar_time TEXT,
    reason TEXT NOT NULL
);
CREATE TABLE equity (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    equity REAL NOT NULL,
    cash REAL NOT NULL,
    daily_pnl REAL NOT NULL
);
CREATE TABLE operator_actions (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    who TEXT NOT NULL
);
CREATE INDEX operator_actions_at ON operator_actions (at);
CREATE TABLE daily_resets (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    trading_day TEXT NOT NULL,
    previous_pnl REAL NOT NULL,
    previous_trades INTEGER NOT NULL,
    source TEXT NOT NULL,
    applied INTEGER NOT NULL
);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX commands_pending ON commands (id) WHERE done_at IS NULL;
"""

_TABLES_V1 = (  # last_signals (v1 to v4) is dropped by v5
    "store_meta",
    "key_state",
    "positions",
    "order_intents",
    "trades",
    "signals",
    "denials",
    "breaker_events",
    "issues",
    "skipped_bars",
    "equity",
    "operator_actions",
    "daily_resets",
    "commands",
)
# Tables whose size does not grow with trading history: checked on every open. The whole-file
# quick_check runs after an unclean shutdown (see docs/state.md for the figures).
RECOVERY_TABLES = ("store_meta", "key_state", "positions", "commands", "breaker_samples")


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    sqlite_kit.run_script(conn, _V1)


# v2: the alert outbox (tradeguard/alerting). Channels are stored by NAME, never by URL.
_V2 = """
CREATE TABLE alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    condition TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('info', 'warning', 'critical', 'emergency')),
    facts TEXT NOT NULL,
    event_at TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    repeat_count INTEGER NOT NULL DEFAULT 1,
    first_seen TEXT,
    ack_required INTEGER NOT NULL DEFAULT 0,
    acked_at TEXT,
    acked_by TEXT,
    escalated_at TEXT,
    silenced_by INTEGER
);
CREATE INDEX alert_outbox_unacked ON alert_outbox (queued_at)
    WHERE ack_required = 1 AND acked_at IS NULL AND escalated_at IS NULL;
CREATE TABLE alert_deliveries (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alert_outbox (id),
    channel TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'muted')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_attempt_at TEXT,
    delivered_at TEXT,
    last_error TEXT,
    UNIQUE (alert_id, channel, round)
);
CREATE INDEX alert_deliveries_open ON alert_deliveries (channel, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE TABLE alert_conditions (
    condition TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0,
    suppressed_since TEXT,
    facts TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE alert_silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pattern TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cancelled_at TEXT,
    cancelled_by TEXT
);
CREATE TABLE heartbeats (
    name TEXT PRIMARY KEY,
    pid INTEGER,
    state TEXT NOT NULL CHECK (state IN ('running', 'stopped')),
    started_at TEXT NOT NULL,
    beat_at TEXT NOT NULL,
    ended_at TEXT,
    reported_at TEXT
) WITHOUT ROWID;
"""
_TABLES_V2 = (
    "alert_outbox", "alert_deliveries", "alert_conditions", "alert_silences", "heartbeats"
)


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    sqlite_kit.run_script(conn, _V2)


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    # The data row (from 1) of a skipped bar in its file: engine.events.BarSkipped.row.
    conn.execute("ALTER TABLE skipped_bars ADD COLUMN file_row INTEGER")


def _migrate_to_v4(conn: sqlite3.Connection) -> None:
    # The breaker's latency/slippage windows, one row per sample in ring slot seq % window
    # size (bounded without pruning; see engine/breaker_samples.py). id = slot * 2 + kind
    # (0 latency, 1 slippage): the rows of both windows interleave, so the default windows
    # share one page and a commit adding a sample of each writes that one page. A v3 breaker
    # section still holds its windows packed: the first commit after the upgrade writes them.
    conn.execute(
        "CREATE TABLE breaker_samples (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, "
        "value REAL NOT NULL)"
    )


def _migrate_to_v5(conn: sqlite3.Connection) -> None:
    # The strategy's section was written twice per change: as a key_state row and as the
    # last_signals table (one more page per fill commit), and only the row was read back.
    # The row stays the one copy; the table goes (every signal, with its bar time, is in
    # the signals table). A store holding only table rows keeps them as the section.
    present = conn.execute("SELECT 1 FROM key_state WHERE key = 'last_signals'").fetchone()
    table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'last_signals'"
    ).fetchone()
    rows = [] if table is None else conn.execute(
        "SELECT symbol, fast, slow, side, updated_at FROM last_signals ORDER BY updated_at"
    ).fetchall()
    if present is None and rows:
        section = {f"{symbol}:{fast}:{slow}": side for symbol, fast, slow, side, _ in rows}
        conn.execute(
            "INSERT INTO key_state (key, value, updated_at) VALUES ('last_signals', ?, ?)",
            (json.dumps(section, separators=(",", ":")), rows[-1][4]),
        )
    conn.execute("DROP TABLE IF EXISTS last_signals")  # a hand-built store may lack it


# Append-only: migration i (0-based) moves a store from version i to version i + 1.
MIGRATIONS: tuple[Migration, ...] = (
    _migrate_to_v1, _migrate_to_v2, _migrate_to_v3, _migrate_to_v4, _migrate_to_v5
)
CURRENT_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the store's schema version; 0 for an empty database."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "store_meta" not in names:
        if names - {"sqlite_sequence"}:
            message = (
                f"database holds tables {sorted(names)} but no store_meta: "
                "it is not a tradeguard state store"
            )
            raise StateError(message)
        return 0
    row = conn.execute("SELECT value FROM store_meta WHERE key='schema_version'").fetchone()
    if row is None:
        message = "store_meta has no schema_version row: the state store was altered"
        raise StateError(message)
    return int(row[0])


class StoreMetaVersion:
    """The state store keeps its version in the store_meta table (see docs/state.md)."""

    def read(self, conn: sqlite3.Connection) -> int:
        """Return the store's schema version; 0 for an empty database."""
        return schema_version(conn)

    def write(self, conn: sqlite3.Connection, version: int) -> None:
        """Record version in store_meta."""
        conn.execute(
            "INSERT INTO store_meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(version),),
        )


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, where: str = ""
) -> int:
    """Apply pending migrations in one transaction each; return the resulting version."""
    return sqlite_kit.migrate(conn, migrations, StoreMetaVersion(), where, files.STORE_LABEL)


def tables() -> tuple[str, ...]:
    """Return the names of the tables the current schema defines."""
    return (*_TABLES_V1, *_TABLES_V2, "breaker_samples")

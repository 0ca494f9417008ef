"""Read what a report shows out of the analytics database, as plain dict rows per window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from tradeguard.analytics.db import connect
from tradeguard.analytics.views import FAILED_STATUSES

Row = dict[str, Any]
_FAILED = ", ".join(f"'{s}'" for s in FAILED_STATUSES)


@dataclass(frozen=True)
class Window:
    """A closed time window [start, end] (UTC)."""

    start: datetime
    end: datetime


class JournalView:
    """Read-only queries over one analytics file (close() when done)."""

    def __init__(self, db_file: Path) -> None:
        self.conn: duckdb.DuckDBPyConnection = connect(db_file, read_only=True)

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.conn.close()

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run SQL and return its rows as dicts."""
        relation = self.conn.sql(sql, params=params)
        if relation is None:
            return []
        columns = relation.columns
        return [dict(zip(columns, r, strict=True)) for r in relation.fetchall()]

    def has_table(self, name: str) -> bool:
        """Return True when the analytics file holds a table or view of that name."""
        found = self.conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        return bool(found[0][0])

    def _between(self, sql: str, window: Window, bot: str) -> list[Row]:
        return self.rows(sql, {"start": window.start, "end": window.end, "bot": bot})

    def transitions(self, window: Window, bot: str) -> list[Row]:
        """Return breaker transitions in the window, journal order."""
        return self._between(
            'SELECT "at", from_state, to_state, trigger, observed, threshold, reason '
            'FROM breaker_events WHERE bot = $bot AND "at" BETWEEN $start AND $end ORDER BY id',
            window, bot,
        )

    def denials(self, window: Window, bot: str) -> list[Row]:
        """Return orders refused by a gate in the window."""
        return self._between(
            'SELECT "at", client_order_id, symbol, side, quantity, check_name, reason '
            'FROM denials WHERE bot = $bot AND "at" BETWEEN $start AND $end ORDER BY id',
            window, bot,
        )

    def failed_orders(self, window: Window, bot: str) -> list[Row]:
        """Return orders created in the window that the venue refused or never confirmed."""
        return self._between(
            "SELECT created_at, client_order_id, symbol, side, quantity, status, reason "
            f"FROM order_intents WHERE bot = $bot AND status IN ({_FAILED}) "
            "AND created_at BETWEEN $start AND $end ORDER BY created_at, client_order_id",
            window, bot,
        )

    def fills(self, window: Window, bot: str) -> list[Row]:
        """Return fills in the window with their ledger effect and slippage."""
        return self._between(
            "SELECT ts, client_order_id, symbol, side, quantity, price, fee, reference_price, "
            "slippage_pct, closed_quantity, realized_pnl, position_after FROM fills "
            "WHERE bot = $bot AND ts BETWEEN $start AND $end ORDER BY id",
            window, bot,
        )

    def operator_actions(self, window: Window, bot: str) -> list[Row]:
        """Return operator actions in the window."""
        return self._between(
            'SELECT "at", action, who, reason FROM operator_actions '
            'WHERE bot = $bot AND "at" BETWEEN $start AND $end ORDER BY id',
            window, bot,
        )

    def alerts(self, window: Window, bot: str) -> list[Row] | None:
        """Return journaled alerts in the window, or None when the journal keeps none."""
        if not self.has_table("alerts"):
            return None
        return self._between(
            'SELECT * EXCLUDE (bot) FROM alerts WHERE bot = $bot AND "at" BETWEEN $start AND $end',
            window, bot,
        )

    def positions_at(self, at: datetime, bot: str) -> dict[str, float]:
        """Return each symbol's position after the last fill at or before at."""
        rows = self.rows(
            "SELECT symbol, arg_max(position_after, id) AS quantity FROM trades "
            "WHERE bot = $bot AND ts <= $at GROUP BY symbol ORDER BY symbol",
            {"bot": bot, "at": at},
        )
        return {str(r["symbol"]): float(r["quantity"]) for r in rows}

    def cash_at(self, at: datetime, bot: str) -> float | None:
        """Return ledger cash after every fill at or before at (None without a starting cash)."""
        rows = self.rows(
            "SELECT b.starting_cash - coalesce((SELECT sum(signed_quantity * price + fee) "
            "FROM trades t WHERE t.bot = b.bot AND t.ts <= $at), 0) AS cash "
            "FROM bots b WHERE b.bot = $bot",
            {"bot": bot, "at": at},
        )
        value = rows[0]["cash"] if rows else None
        return None if value is None else float(value)

    def equity_points(self, window: Window, bot: str) -> list[tuple[datetime, float]]:
        """Return journaled equity points in the window."""
        rows = self._between(
            'SELECT "at", equity FROM equity WHERE bot = $bot AND "at" BETWEEN $start AND $end '
            "ORDER BY id",
            window, bot,
        )
        return [(r["at"], float(r["equity"])) for r in rows]

    def state_spans(self, window: Window, bot: str) -> list[Row]:
        """Return breaker intervals overlapping the window, clipped to it."""
        return self._between(
            "SELECT state, greatest(start_at, $start) AS start_at, least(end_at, $end) AS end_at "
            "FROM breaker_intervals WHERE bot = $bot AND end_at > $start AND start_at < $end "
            "ORDER BY start_at",
            window, bot,
        )

    def metrics(self, window: Window, bot: str) -> Row:
        """Return activity figures of one window: orders, failures, denials, fills, P&L."""
        rows = self._between(
            f"""
            SELECT
              (SELECT count(*) FROM signals WHERE bot = $bot
                 AND "at" BETWEEN $start AND $end) AS signals,
              (SELECT count(*) FROM order_intents WHERE bot = $bot
                 AND created_at BETWEEN $start AND $end) AS orders,
              (SELECT count(*) FROM order_intents WHERE bot = $bot AND status IN ({_FAILED})
                 AND created_at BETWEEN $start AND $end) AS failed,
              (SELECT count(*) FROM denials WHERE bot = $bot
                 AND "at" BETWEEN $start AND $end) AS denied,
              (SELECT count(*) FROM fills WHERE bot = $bot AND ts BETWEEN $start AND $end)
                 AS fills,
              (SELECT coalesce(sum(realized_pnl), 0) FROM fills WHERE bot = $bot
                 AND ts BETWEEN $start AND $end) AS realized_pnl,
              (SELECT avg(slippage_pct) FROM fills WHERE bot = $bot
                 AND ts BETWEEN $start AND $end) AS mean_slippage_pct
            """,
            window, bot,
        )
        return rows[0]

    def symbols(self, bot: str) -> list[str]:
        """Return the symbols the bot traded or signalled, sorted."""
        rows = self.rows(
            "SELECT DISTINCT symbol FROM (SELECT symbol FROM signals WHERE bot = $bot "
            "UNION SELECT symbol FROM trades WHERE bot = $bot) ORDER BY 1",
            {"bot": bot},
        )
        return [str(r["symbol"]) for r in rows]

    def journal_prices(self, window: Window, bot: str, symbol: str) -> list[tuple[datetime, float]]:
        """Return prices the journal saw (fills and order references) in the window."""
        rows = self.rows(
            "SELECT ts AS at, price FROM trades WHERE bot = $bot AND symbol = $symbol "
            "AND ts BETWEEN $start AND $end UNION ALL "
            "SELECT created_at, reference_price FROM order_intents WHERE bot = $bot "
            "AND symbol = $symbol AND created_at BETWEEN $start AND $end ORDER BY 1",
            {"bot": bot, "symbol": symbol, "start": window.start, "end": window.end},
        )
        return [(r["at"], float(r["price"])) for r in rows]


def run_named(view: JournalView, name: str, window: Window | None) -> list[Row]:
    """Run one named analytics query on the view's connection."""
    from tradeguard.analytics.queries import EPOCH, FAR, QUERIES

    params = {"since": window.start if window else EPOCH, "until": window.end if window else FAR}
    return view.rows(QUERIES[name].sql, params)

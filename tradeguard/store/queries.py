"""Read-only report queries over the state store (status, incident timeline, validation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.events import BreakerTransitioned, OperatorActed
from engine.model import Fill, OrderIntent, Side
from engine.ports import EquityPoint
from tradeguard.store.rows import (
    INTENT_COLUMNS,
    intent_from_row,
    operator_from_row,
    transition_from_row,
)
from tradeguard.store.schema import OPEN_STATUS_SQL, tables
from tradeguard.store.serialize import format_utc, parse_utc

TRANSITION_COLUMNS = "at, from_state, to_state, trigger, observed, threshold, reason"
_NEWEST_TRANSITIONS = (
    f"SELECT id, {TRANSITION_COLUMNS} FROM breaker_events ORDER BY id DESC LIMIT ?"
)


class ReportQueries:
    """Mixin: report queries built on `_fetch` (hot and history as one journal), `_fetch_hot`
    and `_archived_top`; every time window is inclusive at both ends.
    """

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _fetch_hot(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # the hot file alone

    def _archived_top(self, table: str) -> int:
        raise NotImplementedError  # the highest id of table in the history file, 0 without one

    def recent_transitions(self, n: int) -> list[BreakerTransitioned]:
        """Return the last n breaker transitions, oldest first; the hot file's when it holds them.

        A move keeps each table's highest archived row in the hot file (the sentinel), so the
        hot file's newest rows are the journal's when the lowest of them is at or above the
        history file's highest id, and they are n or the history file holds none. Otherwise
        (a restored hot copy older than its history copy, or older rows wanted) the union of
        both files answers.
        """
        if n > 0:
            rows = self._fetch_hot(_NEWEST_TRANSITIONS, (n,))
            top = self._archived_top("breaker_events")
            if (len(rows) == n or top == 0) and (not rows or rows[-1][0] >= top):
                return [transition_from_row(row[1:]) for row in reversed(rows)]
        rows = self._fetch(_NEWEST_TRANSITIONS, (n,))  # the union of hot and history
        return [transition_from_row(row[1:]) for row in reversed(rows)]

    def issues_between(self, start: datetime, end: datetime) -> list[tuple[str, str, str]]:
        """Return (at, issue_type, details JSON) of the issues with start <= at <= end."""
        rows = self._fetch(
            "SELECT at, issue_type, details FROM issues WHERE at BETWEEN ? AND ? ORDER BY id",
            (format_utc(start), format_utc(end)),
        )
        return [(str(at), str(kind), str(details)) for at, kind, details in rows]

    def transitions_between(self, start: datetime, end: datetime) -> list[BreakerTransitioned]:
        """Return breaker transitions with start <= at <= end, oldest first."""
        rows = self._fetch(
            f"SELECT {TRANSITION_COLUMNS} FROM breaker_events WHERE at BETWEEN ? AND ? "
            "ORDER BY at, id",
            (format_utc(start, "start"), format_utc(end, "end")),
        )
        return [transition_from_row(row) for row in rows]

    def intents_between(self, start: datetime, end: datetime) -> list[OrderIntent]:
        """Return order intents created in [start, end] with their latest status."""
        rows = self._fetch(
            f"SELECT {INTENT_COLUMNS} FROM order_intents WHERE created_at BETWEEN ? AND ? "
            "ORDER BY created_at, client_order_id",
            (format_utc(start, "start"), format_utc(end, "end")),
        )
        return [intent_from_row(row) for row in rows]

    def open_intents(self) -> list[OrderIntent]:
        """Return the non-final intents (PENDING_SUBMIT, SUBMITTED, UNKNOWN), oldest first."""
        rows = self._fetch(
            f"SELECT {INTENT_COLUMNS} FROM order_intents WHERE {OPEN_STATUS_SQL} "
            "ORDER BY created_at, client_order_id"
        )
        return [intent_from_row(row) for row in rows]

    def operator_actions_between(self, start: datetime, end: datetime) -> list[OperatorActed]:
        """Return operator actions with start <= at <= end, oldest first."""
        rows = self._fetch(
            "SELECT at, action, reason, who FROM operator_actions WHERE at BETWEEN ? AND ? "
            "ORDER BY at, id",
            (format_utc(start, "start"), format_utc(end, "end")),
        )
        return [operator_from_row(row) for row in rows]

    def fills_for(self, client_order_id: str) -> list[Fill]:
        """Return the fills journaled for one order, in insertion order."""
        rows = self._fetch(
            "SELECT fill_id, client_order_id, symbol, side, quantity, price, fee, ts "
            "FROM trades WHERE client_order_id = ? ORDER BY id",
            (client_order_id,),
        )
        return [Fill(r[0], r[1], r[2], Side(r[3]), r[4], r[5], r[6], parse_utc(r[7])) for r in rows]

    def equity_between(self, start: datetime, end: datetime) -> list[EquityPoint]:
        """Return equity points with start <= at <= end, oldest first."""
        rows = self._fetch(
            "SELECT at, equity, cash, daily_pnl FROM equity WHERE at BETWEEN ? AND ? "
            "ORDER BY at, id",
            (format_utc(start, "start"), format_utc(end, "end")),
        )
        return [EquityPoint(parse_utc(r[0]), r[1], r[2], r[3]) for r in rows]

    def last_fill(self) -> tuple[str, str] | None:
        """Return (fill_id, client_order_id) of the newest journaled fill, or None."""
        rows = self._fetch("SELECT fill_id, client_order_id FROM trades ORDER BY id DESC LIMIT 1")
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def trade_count(self) -> int:
        """Return the number of fills in the journal."""
        return int(self._fetch("SELECT COUNT(*) FROM trades")[0][0])

    def signal_outcomes(self) -> dict[str, int]:
        """Return how many signals ended in each outcome (ordered, suppressed, denied, ...)."""
        rows = self._fetch("SELECT outcome, COUNT(*) FROM signals GROUP BY outcome")
        return {str(outcome): int(count) for outcome, count in rows}

    def duplicate_client_order_ids(self) -> list[str]:
        """Return client ids that look like duplicate orders (see docs/state.md), sorted.

        An id is reported when more than one signal row says it was ordered, when its fills
        exceed the intent's quantity, or when one signal (symbol, periods, bar, side) was
        ordered under several ids.
        """
        rows = self._fetch(
            """
            SELECT client_order_id FROM signals
             WHERE outcome = 'ordered' AND client_order_id IS NOT NULL
             GROUP BY client_order_id HAVING COUNT(*) > 1
            UNION
            SELECT t.client_order_id FROM trades t
              JOIN order_intents i ON i.client_order_id = t.client_order_id
             GROUP BY t.client_order_id
            HAVING SUM(t.quantity) > MAX(i.quantity) * (1 + 1e-9)
            UNION
            SELECT s.client_order_id FROM signals s
              JOIN (SELECT symbol, fast, slow, bar_time, side FROM signals
                     WHERE outcome = 'ordered' AND client_order_id IS NOT NULL
                     GROUP BY symbol, fast, slow, bar_time, side
                    HAVING COUNT(DISTINCT client_order_id) > 1) d
                ON d.symbol = s.symbol AND d.fast = s.fast AND d.slow = s.slow
               AND d.bar_time = s.bar_time AND d.side = s.side
             WHERE s.outcome = 'ordered' AND s.client_order_id IS NOT NULL
            ORDER BY 1
            """
        )
        return [str(row[0]) for row in rows]

    def table_counts(self) -> dict[str, int]:
        """Return the row count of every journal table (for status and tests)."""
        return {name: int(self._fetch(f"SELECT COUNT(*) FROM {name}")[0][0]) for name in tables()}

    def last_daily_reset(self, trading_day: str) -> tuple[datetime, str] | None:
        """Return (when, source) of the reset that cleared trading_day, if one was applied."""
        rows = self._fetch(
            "SELECT at, source FROM daily_resets WHERE trading_day = ? AND applied = 1 "
            "ORDER BY id DESC LIMIT 1",
            (trading_day,),
        )
        return (parse_utc(rows[0][0]), str(rows[0][1])) if rows else None

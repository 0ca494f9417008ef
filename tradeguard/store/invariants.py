"""Fast pre-check of the trade journal: plain SQL invariants, run by the 24h validation gate.

It needs no Great Expectations import and is about ten times faster (bench/bench_checks.py). The
full audit (checks/audit.py, suites in checks/journal_suite.py and checks/breaker_suite.py)
holds an expectation for each invariant here (the mapping is in checks/journal_suite.py), plus
the checks this pre-check does not make, and publishes Data Docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Queryable(Protocol):
    """A store that can run a read-only SQL query."""

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class JournalProblem:
    """One violated journal invariant with the number of offending rows."""

    check: str
    rows: int
    description: str


_CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "trade_values_valid",
        "SELECT COUNT(*) FROM trades WHERE NOT (quantity > 0 AND price > 0 AND fee >= 0 "
        "AND side IN ('BUY','SELL'))",
        "fills with non-positive quantity/price, negative fee or an unknown side",
    ),
    (
        "trade_has_filled_intent",
        "SELECT COUNT(*) FROM trades t LEFT JOIN order_intents i "
        "ON i.client_order_id = t.client_order_id WHERE i.client_order_id IS NULL "
        "OR i.status != 'FILLED'",
        "fills whose order intent is missing or not FILLED",
    ),
    (
        "filled_intent_has_trade",
        "SELECT COUNT(*) FROM order_intents i WHERE i.status = 'FILLED' AND NOT EXISTS "
        "(SELECT 1 FROM trades t WHERE t.client_order_id = i.client_order_id)",
        "FILLED intents without any fill",
    ),
    (
        "fill_quantity_within_intent",
        "SELECT COUNT(*) FROM (SELECT t.client_order_id FROM trades t JOIN order_intents i "
        "ON i.client_order_id = t.client_order_id GROUP BY t.client_order_id "
        "HAVING SUM(t.quantity) > MAX(i.quantity) * (1 + 1e-9))",
        "orders filled for more than their quantity",
    ),
    (
        "intent_status_known",
        "SELECT COUNT(*) FROM order_intents WHERE status NOT IN "
        "('PENDING_SUBMIT','SUBMITTED','FILLED','REJECTED','CANCELLED','UNKNOWN')",
        "intents with an unknown status",
    ),
    (
        "ordered_signal_has_intent",
        "SELECT COUNT(*) FROM signals s WHERE s.outcome = 'ordered' AND NOT EXISTS "
        "(SELECT 1 FROM order_intents i WHERE i.client_order_id = s.client_order_id)",
        "signals recorded as ordered without an intent",
    ),
)


def check_journal(store: Queryable) -> list[JournalProblem]:
    """Run every journal invariant and return the violated ones (empty list = pass)."""
    problems = []
    for name, sql, description in _CHECKS:
        rows = int(store._fetch(sql)[0][0])
        if rows:
            problems.append(JournalProblem(name, rows, description))
    return problems

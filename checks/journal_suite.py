"""Journal suites: order intents, fills, signals and executed trades per trading day.

Each table of the state store is one batch with its own suite; cross-table rules are
`UnexpectedRowsExpectation` SQL over the audit snapshot (see checks/audit.py), which also holds
two derived tables: `audit_bars` (the bars of the data files, for the collar of a fill's bar)
and `audit_trade_windows` (executed fills per trading day and operator reset window).

Every invariant of tradeguard/store/invariants.py has an expectation here:
trade_values_valid -> fill_side_valid, fill_quantity_positive, fill_price_positive,
fill_fee_non_negative; trade_has_filled_intent -> fill_has_intent, fill_not_for_rejected_intent,
fill_intent_filled; filled_intent_has_trade -> filled_intent_has_fill;
fill_quantity_within_intent -> fills_within_intent_quantity; intent_status_known ->
intent_status_valid; ordered_signal_has_intent -> ordered_signal_has_intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.risk_config import RiskConfig

BARS_TABLE = "audit_bars"
WINDOWS_TABLE = "audit_trade_windows"
SIDES = ("BUY", "SELL")
# The same list as tradeguard/store/schema.py ALL_STATUSES (checks/ must not import the shell).
STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "FILLED", "REJECTED", "CANCELLED", "UNKNOWN")
_REL_TOL = 1e-9


@dataclass(frozen=True)
class JournalParams:
    """Limits the journal is judged against: the risk settings in force."""

    price_collar_pct: float = 5.0
    max_daily_trades: int = 50
    day_boundary: str = "00:00"
    day_timezone: str = "UTC"

    @classmethod
    def from_risk(cls, risk: RiskConfig) -> JournalParams:
        """Take the limits from the engine's risk settings."""
        return cls(risk.price_collar_pct, risk.max_daily_trades, risk.day_boundary,
                   risk.day_timezone)


def _named(name: str, text: str) -> dict[str, Any]:
    return {"meta": {"name": name, "rule": text}}


def _rule(gxe: Any, name: str, text: str, query: str) -> Any:
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=f"{name}: {text}", **_named(name, text))


def intent_expectations(gxe: Any) -> list[Any]:
    """Build the order_intents expectations."""
    return [
        gxe.ExpectColumnValuesToBeUnique(
            column="client_order_id",
            **_named("intent_client_order_id_unique", "one intent per client_order_id")),
        gxe.ExpectColumnValuesToBeInSet(
            column="side", value_set=list(SIDES), **_named("intent_side_valid", "side BUY/SELL")),
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=list(STATUSES),
            **_named("intent_status_valid", "status is a known order status")),
        gxe.ExpectColumnValuesToBeBetween(
            column="quantity", min_value=0, strict_min=True,
            **_named("intent_quantity_positive", "quantity > 0")),
        _rule(gxe, "filled_intent_has_fill", "a FILLED intent has at least one fill",
              "SELECT i.* FROM {batch} i LEFT JOIN trades t "
              "ON t.client_order_id = i.client_order_id "
              "WHERE i.status = 'FILLED' AND t.client_order_id IS NULL"),
    ]


def fill_expectations(gxe: Any, params: JournalParams) -> list[Any]:
    """Build the trades (fills) expectations."""
    collar = params.price_collar_pct / 100.0 * (1 + _REL_TOL)
    return [
        gxe.ExpectColumnValuesToBeUnique(
            column="fill_id", **_named("fill_id_unique", "one row per fill_id")),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["client_order_id", "ts", "quantity", "price"],
            **_named("fill_not_duplicated", "no fill recorded twice under another fill_id")),
        gxe.ExpectColumnValuesToBeInSet(
            column="side", value_set=list(SIDES), **_named("fill_side_valid", "side BUY/SELL")),
        gxe.ExpectColumnValuesToBeBetween(
            column="quantity", min_value=0, strict_min=True,
            **_named("fill_quantity_positive", "quantity > 0")),
        gxe.ExpectColumnValuesToBeBetween(
            column="price", min_value=0, strict_min=True,
            **_named("fill_price_positive", "price > 0")),
        gxe.ExpectColumnValuesToBeBetween(
            column="fee", min_value=0, **_named("fill_fee_non_negative", "fee >= 0")),
        _rule(gxe, "fill_has_intent", "every fill has an order intent",
              "SELECT t.* FROM {batch} t LEFT JOIN order_intents i "
              "ON i.client_order_id = t.client_order_id WHERE i.client_order_id IS NULL"),
        _rule(gxe, "fill_not_for_rejected_intent", "no fill for a REJECTED intent",
              "SELECT t.* FROM {batch} t JOIN order_intents i "
              "ON i.client_order_id = t.client_order_id WHERE i.status = 'REJECTED'"),
        _rule(gxe, "fill_intent_filled", "the intent of a fill is FILLED",
              "SELECT t.*, i.status AS intent_status FROM {batch} t JOIN order_intents i "
              "ON i.client_order_id = t.client_order_id "
              "WHERE i.status NOT IN ('FILLED', 'REJECTED')"),
        _rule(gxe, "fill_side_matches_intent", "a fill has the side of its intent",
              "SELECT t.*, i.side AS intent_side FROM {batch} t JOIN order_intents i "
              "ON i.client_order_id = t.client_order_id WHERE i.side != t.side"),
        _rule(gxe, "fills_within_intent_quantity",
              "the fills of an order add up to at most its quantity",
              "SELECT t.client_order_id, SUM(t.quantity) AS filled, MAX(i.quantity) AS ordered "
              "FROM {batch} t JOIN order_intents i ON i.client_order_id = t.client_order_id "
              f"GROUP BY t.client_order_id HAVING SUM(t.quantity) > MAX(i.quantity) * "
              f"{1 + _REL_TOL!r}"),
        _rule(gxe, "fill_price_within_collar",
              f"a fill is within {params.price_collar_pct:g}% (risk.price_collar_pct) of its "
              "bar's open (of the intent's reference price when the bar is not given)",
              "SELECT * FROM (SELECT t.*, COALESCE(b.open, i.reference_price) AS reference "
              "FROM {batch} t LEFT JOIN order_intents i ON i.client_order_id = t.client_order_id "
              f"LEFT JOIN {BARS_TABLE} b ON b.symbol = t.symbol AND b.ts = t.ts) "
              f"WHERE reference IS NULL OR reference <= 0 OR "
              f"ABS(price - reference) > reference * {collar!r}"),
    ]


def signal_expectations(gxe: Any) -> list[Any]:
    """Build the signals expectations (the ordered ones name an intent, once)."""
    return [
        _rule(gxe, "ordered_signal_has_intent", "a signal recorded as ordered has an intent",
              "SELECT s.* FROM {batch} s LEFT JOIN order_intents i "
              "ON i.client_order_id = s.client_order_id "
              "WHERE s.outcome = 'ordered' AND i.client_order_id IS NULL"),
        _rule(gxe, "ordered_client_order_id_unique",
              "a client_order_id is ordered by one signal only (no duplicate order)",
              # No JOIN: GX aliases {batch} itself, so the query must not.
              "SELECT client_order_id, COUNT(*) AS times FROM {batch} "
              "WHERE outcome = 'ordered' AND client_order_id IS NOT NULL "
              "GROUP BY client_order_id HAVING COUNT(*) > 1"),
    ]


def window_expectations(gxe: Any) -> list[Any]:
    """Build the executed-trades-per-day expectation ($PARAMETER max_daily_trades)."""
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="trades", min_value=0, max_value={"$PARAMETER": "max_daily_trades"},
            description="Executed trades per trading day (and operator reset window) "
            "within risk.max_daily_trades",
            **_named("daily_trades_within_limit",
                     "executed fills per trading day <= risk.max_daily_trades")),
    ]

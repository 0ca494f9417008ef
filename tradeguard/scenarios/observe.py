"""What a scenario run did, read back from its state directory's journal (read-only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.breaker_config import CircuitState
from tradeguard.store.files import store_path
from tradeguard.store.union import open_reader

if TYPE_CHECKING:
    from tradeguard.workspace import Workspace

SEVERITY = {state.value: state.severity for state in CircuitState}


@dataclass(frozen=True, slots=True)
class ObservedTransition:
    """One breaker transition of the run."""

    at: datetime
    from_state: str
    to_state: str
    trigger: str
    observed: float | None
    threshold: float | None


@dataclass(frozen=True, slots=True)
class ObservedOrder:
    """One order intent of the run, with what the engine decided about its size."""

    client_order_id: str
    symbol: str
    created_at: datetime
    quantity: float
    confidence: float
    reduce_only: bool
    status: str


@dataclass(frozen=True, slots=True)
class ObservedFill:
    """One booked fill."""

    fill_id: str
    client_order_id: str
    symbol: str
    signed_quantity: float
    at: datetime


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What the old validation gates checked on the state store after a run."""

    integrity: str
    duplicate_client_order_ids: tuple[str, ...]
    journal_problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything the expectations judge, read once from the journal."""

    transitions: tuple[ObservedTransition, ...]
    orders: tuple[ObservedOrder, ...]
    fills: tuple[ObservedFill, ...]
    denials: tuple[tuple[datetime, str], ...]
    data_feed_issues: tuple[datetime, ...]
    daily_resets: tuple[tuple[datetime, str, int], ...]
    positions: dict[str, float]
    duplicate_fills: int
    trades_executed: int
    final_state: str
    base_quantity: float
    health: StoreHealth | None = None

    @property
    def highest_level(self) -> str:
        """Return the most severe state the breaker entered (CLOSED when it never moved)."""
        states = ["CLOSED", *(t.to_state for t in self.transitions)]
        return max(states, key=lambda s: SEVERITY[s])

    def state_before(self, when: datetime) -> str:
        """Return the breaker state an order created at `when` was decided under.

        Cooldown steps of that instant happen when the bar is ticked, before any order; an
        escalation at the same instant may have been caused by the order itself (its latency,
        its rejection), so the order is judged against the state before it.
        """
        state = "CLOSED"
        for t in self.transitions:
            if t.at > when:
                break
            if t.at == when and SEVERITY[t.to_state] >= SEVERITY[state]:
                break
            state = t.to_state
        return state

    def position_before(self, symbol: str, when: datetime) -> float:
        """Return the net position of symbol from the fills booked before `when`."""
        return sum(f.signed_quantity for f in self.fills if f.symbol == symbol and f.at < when)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def observe(state_dir: Path, base_quantity: float) -> Observation:
    """Read the run's journal (never writing it) into an Observation."""
    db = open_reader(store_path(state_dir))  # state.db and history.db as one journal
    try:
        transitions = tuple(
            ObservedTransition(_time(at), f, t, trig, obs, thr)
            for at, f, t, trig, obs, thr in db.execute(
                "SELECT at, from_state, to_state, trigger, observed, threshold "
                "FROM breaker_events ORDER BY id"
            )
        )
        orders = tuple(
            ObservedOrder(cid, sym, _time(at), qty, conf, bool(ro), status)
            for cid, sym, at, qty, conf, ro, status in db.execute(
                "SELECT client_order_id, symbol, created_at, quantity, confidence, reduce_only, "
                "status FROM order_intents ORDER BY created_at, client_order_id"
            )
        )
        fills = tuple(
            ObservedFill(fid, cid, sym, qty if side == "BUY" else -qty, _time(ts))
            for fid, cid, sym, side, qty, ts in db.execute(
                "SELECT fill_id, client_order_id, symbol, side, quantity, ts FROM trades "
                "ORDER BY id"
            )
        )
        denials = tuple(
            (_time(at), check) for at, check in db.execute(
                "SELECT at, check_name FROM denials ORDER BY id"
            )
        )
        issues = tuple(
            _time(at) for at, in db.execute(
                "SELECT at FROM issues WHERE issue_type = 'DATA_FEED' ORDER BY id"
            )
        )
        resets = tuple(
            (_time(at), day, int(trades)) for at, day, trades in db.execute(
                "SELECT at, trading_day, previous_trades FROM daily_resets ORDER BY id"
            )
        )
        positions = {
            sym: qty for sym, qty in db.execute("SELECT symbol, quantity FROM positions")
            if abs(qty) > 1e-12
        }
        duplicates = db.execute(
            "SELECT COUNT(*) FROM (SELECT fill_id FROM trades GROUP BY fill_id "
            "HAVING COUNT(*) > 1)"
        ).fetchall()[0][0]
        execution_row = db.execute(
            "SELECT value FROM key_state WHERE key = 'execution'"
        ).fetchall()
        breaker_row = db.execute("SELECT value FROM key_state WHERE key = 'breaker'").fetchall()
    finally:
        db.close()
    execution = json.loads(execution_row[0][0]) if execution_row else {}
    breaker = json.loads(breaker_row[0][0]) if breaker_row else {}
    return Observation(
        transitions=transitions,
        orders=orders,
        fills=fills,
        denials=denials,
        data_feed_issues=issues,
        daily_resets=resets,
        positions=positions,
        duplicate_fills=int(duplicates),
        trades_executed=int(execution.get("trades_executed", 0)),
        final_state=str(breaker.get("state", "CLOSED")),
        base_quantity=base_quantity,
    )


def store_health(workspace: Workspace) -> StoreHealth:
    """Run PRAGMA integrity_check, the duplicate-order query and the journal invariants."""
    journal = workspace.open_journal()
    try:
        integrity = journal.integrity_check()
        duplicates = tuple(journal.duplicate_client_order_ids())
        problems = tuple(
            f"{p.check} ({p.rows} rows)" for p in workspace.journal_problems(journal)
        )
    finally:
        journal.close()
    return StoreHealth(integrity, duplicates, problems)

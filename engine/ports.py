"""Small protocols through which the engine sees storage; adapters live outside engine/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from engine.breaker_samples import SampleRecord, with_windows
from engine.events import (
    BarSkipped,
    BreakerTransitioned,
    DailyStateReset,
    IssueReported,
    OperatorActed,
    OrderDenied,
    SignalRecorded,
)
from engine.model import Fill, OrderIntent, Side


class LastSignalStore(Protocol):
    """Last emitted signal side per (symbol, fast, slow), for duplicate suppression."""

    def get_last_signal(self, symbol: str, fast: int, slow: int) -> Side | None:
        """Return the side last emitted for this key, or None."""
        ...

    def save_last_signal(self, symbol: str, fast: int, slow: int, side: Side) -> None:
        """Remember the side just emitted for this key."""
        ...

    def snapshot(self) -> dict[str, str]:
        """Return "SYMBOL:fast:slow" -> side, JSON-ready."""
        ...


class InMemoryLastSignals:
    """Dict-backed LastSignalStore; its contents travel in the engine snapshot."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._sides: dict[str, Side] = {k: Side(v) for k, v in (initial or {}).items()}

    @staticmethod
    def key(symbol: str, fast: int, slow: int) -> str:
        """Return the stable key used in snapshots (the last_signals section)."""
        return f"{symbol}:{fast}:{slow}"

    def get_last_signal(self, symbol: str, fast: int, slow: int) -> Side | None:
        """Return the side last emitted for this key, or None."""
        return self._sides.get(self.key(symbol, fast, slow))

    def save_last_signal(self, symbol: str, fast: int, slow: int, side: Side) -> None:
        """Remember the side just emitted for this key."""
        self._sides[self.key(symbol, fast, slow)] = side

    def snapshot(self) -> dict[str, str]:
        """Return a JSON-ready copy."""
        return {k: v.value for k, v in self._sides.items()}


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """Engine ledger view of one symbol's position."""

    symbol: str
    quantity: float
    average_price: float
    realized_pnl: float
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Marked-to-market equity at a time."""

    at: datetime
    equity: float
    cash: float
    daily_pnl: float


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    """A command queued for a running session (halt, resume, recover, reset, reset-daily)."""

    command_id: int
    action: str
    reason: str
    who: str
    requested_at: datetime


@dataclass(slots=True)
class Batch:
    """Everything one engine event changes; an adapter commits it in one transaction.

    `state` holds JSON-ready snapshot sections (breaker, risk, counters, cursors,
    last_signals, portfolio, clock); each present section replaces the stored one. The
    breaker's sample windows travel as `samples` rows (engine.breaker_samples).
    """

    signals: list[SignalRecorded] = field(default_factory=list)
    intents: list[OrderIntent] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    transitions: list[BreakerTransitioned] = field(default_factory=list)
    issues: list[IssueReported] = field(default_factory=list)
    denials: list[OrderDenied] = field(default_factory=list)
    skipped_bars: list[BarSkipped] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    operator_actions: list[OperatorActed] = field(default_factory=list)
    daily_resets: list[DailyStateReset] = field(default_factory=list)
    commands_done: list[int] = field(default_factory=list)
    samples: list[SampleRecord] = field(default_factory=list)  # breaker window samples
    state: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """Return True when there is nothing to commit."""
        return not any(
            (
                self.signals, self.intents, self.fills, self.positions, self.transitions,
                self.issues, self.denials, self.skipped_bars, self.equity,
                self.operator_actions, self.daily_resets, self.commands_done, self.samples,
                self.state,
            )
        )


@dataclass(frozen=True, slots=True)
class RecoveredState:
    """What a store hands back on start: only what is needed to resume."""

    state: dict[str, Any]
    open_intents: list[OrderIntent]
    positions: list[PositionRecord]


class EngineStore(Protocol):
    """Durable journal of engine state; commit() is atomic."""

    def load(self) -> RecoveredState:
        """Return the latest snapshot sections, non-final intents and positions."""
        ...

    def commit(self, batch: Batch) -> None:
        """Write every change in batch in one transaction, or raise StateError."""
        ...

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when a fill with this id is already journaled."""
        ...

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when an order intent with this client id is already journaled."""
        ...

    def pending_commands(self) -> list[OperatorCommand]:
        """Return operator commands not yet applied, oldest first."""
        ...


class InMemoryStore:
    """EngineStore fake for engine unit tests: keeps the last committed state in memory."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.state: dict[str, Any] = {}
        self.intents: dict[str, OrderIntent] = {}
        self.fills: dict[str, Fill] = {}
        self.positions: dict[str, PositionRecord] = {}
        self.commands: list[OperatorCommand] = []
        self.samples: dict[tuple[str, int], tuple[int, float]] = {}  # (kind, slot) -> row

    def load(self) -> RecoveredState:
        """Return what was committed so far."""
        open_intents = [i for i in self.intents.values() if not i.status.is_final]
        state = dict(self.state)
        if "breaker" in state:
            rows = [(kind, seq, value) for (kind, _), (seq, value) in self.samples.items()]
            state["breaker"] = with_windows(state["breaker"], rows)
        return RecoveredState(state, open_intents, list(self.positions.values()))

    def commit(self, batch: Batch) -> None:
        """Apply the batch to the in-memory tables."""
        self.batches.append(batch)
        self.state.update(batch.state)
        for intent in batch.intents:
            self.intents[intent.client_order_id] = intent
        for fill in batch.fills:
            self.fills.setdefault(fill.fill_id, fill)
        for position in batch.positions:
            self.positions[position.symbol] = position
        for sample in batch.samples:
            self.samples[sample.kind, sample.slot] = (sample.seq, sample.value)
        done = set(batch.commands_done)
        self.commands = [c for c in self.commands if c.command_id not in done]

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when the fill is already stored."""
        return fill_id in self.fills

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when the intent is already stored."""
        return client_order_id in self.intents

    def pending_commands(self) -> list[OperatorCommand]:
        """Return queued commands."""
        return list(self.commands)

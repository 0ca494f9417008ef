"""Builds an engine session on in-memory fakes (store, paper book) for unit tests."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.assembly import EngineConfig, assemble
from engine.broker import BrokerConfig, PaperBroker
from engine.circuit_breaker import CircuitConfig
from engine.clock import SimulatedClock
from engine.faults import FaultPlan
from engine.feed import FeedConfig, FeedItem
from engine.model import Bar
from engine.paper_book import InMemoryPaperBook
from engine.ports import InMemoryStore
from engine.risk import RiskConfig
from engine.session import SessionConfig, TradingSession
from engine.strategy import StrategyConfig

START = datetime(2022, 1, 3, tzinfo=UTC)


def wave_bars(
    n: int, symbol: str = "TEST", period: int = 90, start: datetime = START, base: float = 100.0
) -> list[Bar]:
    """Return n one-minute bars of a sine wave, so a 10/30 SMA crossover trades regularly."""
    bars = []
    for i in range(n):
        close = base * (1 + 0.01 * math.sin(2 * math.pi * i / period))
        prev = base * (1 + 0.01 * math.sin(2 * math.pi * (i - 1) / period))
        bars.append(Bar(symbol, start + timedelta(minutes=i), prev, max(prev, close) * 1.0005,
                        min(prev, close) * 0.9995, close, 10.0))
    return bars


def items(bars: list[Bar]) -> Iterator[FeedItem]:
    """Return feed items for bars, as the file readers yield them."""
    for row, bar in enumerate(bars, start=2):
        yield FeedItem(bar.symbol, row, bar.ts, bar, None)


def engine_config(**groups: Any) -> EngineConfig:
    """Return default engine config groups, with some replaced."""
    defaults: dict[str, Any] = {
        "breaker": CircuitConfig(),
        "risk": RiskConfig(max_daily_trades=1000, max_orders_per_minute=100),
        "strategy": StrategyConfig(order_quantity=1.0),
        "broker": BrokerConfig(),
        "feed": FeedConfig(),
        "session": SessionConfig(checkpoint_every_bars=50),
    }
    defaults.update(groups)
    return EngineConfig(**defaults)


@dataclass
class Rig:
    """A store and venue that outlive any number of session processes built on them."""

    config: EngineConfig = field(default_factory=engine_config)
    faults: FaultPlan | None = None
    seed: int = 7
    store: InMemoryStore = field(default_factory=InMemoryStore)
    book: InMemoryPaperBook = field(default_factory=InMemoryPaperBook)
    events: list[Any] = field(default_factory=list)

    def start(self, first: datetime = START) -> tuple[TradingSession, PaperBroker, SimulatedClock]:
        """Build a session as a freshly started process would, from the committed state."""
        recovered = self.store.load()
        saved = recovered.state.get("clock", {}).get("now")
        clock = SimulatedClock(datetime.fromisoformat(saved) if saved else first)

        broker = PaperBroker(self.config.broker, clock, self.book, self.faults, seed=self.seed)
        session = assemble(self.config, clock=clock, store=self.store, broker=broker,
                           recovered=recovered, listeners=[self.events.append])
        session.recover(recovered.open_intents, rerun=True)  # bars follow, as in a session
        return session, broker, clock

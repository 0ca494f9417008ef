"""Wire one resumable TradingSession from configs, a store snapshot and a broker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.broker import Broker, BrokerConfig
from engine.circuit_breaker import CircuitBreaker, CircuitConfig
from engine.clock import Clock
from engine.execution import OrderExecutionEngine
from engine.feed import FeedConfig
from engine.portfolio import Portfolio
from engine.ports import EngineStore, InMemoryLastSignals, RecoveredState
from engine.risk import RiskConfig, RiskManager
from engine.session import SessionConfig, TradingSession
from engine.strategy import SmaCrossover, StrategyConfig


@dataclass(frozen=True)
class EngineConfig:
    """The engine's config groups, as the shell's Settings carries them."""

    breaker: CircuitConfig
    risk: RiskConfig
    strategy: StrategyConfig
    broker: BrokerConfig
    feed: FeedConfig
    session: SessionConfig


def assemble(
    config: EngineConfig,
    *,
    clock: Clock,
    advance_to: Callable[[datetime], None],
    store: EngineStore,
    broker: Broker,
    recovered: RecoveredState,
    listeners: Sequence[Callable[[Any], None]] = (),
) -> TradingSession:
    """Build every component from the recovered snapshot (or fresh) and return the session."""
    state = recovered.state
    if "breaker" in state:
        breaker = CircuitBreaker.from_snapshot(config.breaker, clock, state["breaker"])
    else:
        breaker = CircuitBreaker(config.breaker, clock)
    risk = RiskManager(config.risk, clock, state.get("risk"))
    if "portfolio" in state:
        portfolio = Portfolio.from_snapshot(state["portfolio"])
    else:
        portfolio = Portfolio(config.broker.starting_cash)
    last_signals = InMemoryLastSignals(state.get("last_signals"))
    # The session does not exist yet when strategy and execution are built; both call it late.
    holder: list[TradingSession] = []
    strategy = SmaCrossover(
        config.strategy, last_signals, on_suppressed=lambda s: holder[0].on_suppressed(s)
    )
    execution = OrderExecutionEngine(
        clock=clock,
        breaker=breaker,
        risk=risk,
        broker=broker,
        portfolio=portfolio,
        strategy=config.strategy,
        commit=lambda batch: holder[0].commit(batch),
        open_intents=recovered.open_intents,
        counters=state.get("execution"),
    )
    session = TradingSession(
        clock=clock,
        advance_to=advance_to,
        config=config.session,
        feed=config.feed,
        store=store,
        breaker=breaker,
        risk=risk,
        portfolio=portfolio,
        strategy=strategy,
        last_signals=last_signals,
        execution=execution,
        broker=broker,
        state=state,
        listeners=listeners,
    )
    holder.append(session)
    return session

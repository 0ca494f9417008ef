"""Wire one resumable TradingSession from configs, a store snapshot and a broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.broker import Broker, BrokerConfig
from engine.circuit_breaker import CircuitBreaker, CircuitConfig
from engine.clock import Clock
from engine.execution import ExecutionCounters, OrderExecutionEngine
from engine.execution_counters import split_unsnapshotted
from engine.feed import FeedConfig
from engine.journal import EngineJournal, EngineState, Listener
from engine.portfolio import Portfolio
from engine.ports import EngineStore, RecoveredState
from engine.risk import RiskConfig, RiskManager
from engine.session import SessionConfig, TradingSession
from engine.session_state import SessionProgress
from engine.strategy import SmaCrossover, StrategyConfig, StrategyFactory


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
    store: EngineStore,
    broker: Broker,
    recovered: RecoveredState,
    listeners: Sequence[Listener] = (),
    strategy_factory: StrategyFactory = SmaCrossover,
) -> TradingSession:
    """Build every component from the recovered snapshot (or fresh) and return the session.

    strategy_factory builds the strategy from config.strategy (the shell resolves
    `strategy.class` to it); the SMA crossover by default.
    """
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
    strategy = strategy_factory(config.strategy)
    if "last_signals" in state:
        strategy.restore(state["last_signals"])
    progress = SessionProgress.from_snapshot(state.get("session", {}))
    counters = ExecutionCounters.from_snapshot(state.get("execution"))
    counted, held = split_unsnapshotted(state.get("execution"), recovered.open_intents)
    journal = EngineJournal(
        store,
        EngineState(progress, breaker, risk, portfolio, counters, strategy, clock),
        listeners,
    )
    execution = OrderExecutionEngine(
        clock=clock,
        breaker=breaker,
        risk=risk,
        broker=broker,
        portfolio=portfolio,
        strategy=config.strategy,
        journal=journal,
        counters=counters,
        open_intents=counted,
        held=held,
    )
    return TradingSession(
        clock=clock,
        config=config.session,
        feed=config.feed,
        store=store,
        journal=journal,
        progress=progress,
        breaker=breaker,
        risk=risk,
        portfolio=portfolio,
        strategy=strategy,
        execution=execution,
        broker=broker,
    )

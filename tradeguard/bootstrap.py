"""Composition root: the one place that builds clock, store, broker, breaker and session."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.assembly import EngineConfig, assemble
from engine.broker import PaperBroker
from engine.clock import Clock, SimulatedClock, SystemClock
from engine.errors import ConfigurationError, DataError
from engine.faults import FaultPlan, load_fault_plan
from engine.feed import FeedItem, merge_sources, read_bars
from engine.ports import RecoveredState
from engine.session import TradingSession
from tradeguard import failpoints
from tradeguard.adapters.paper_book import SqlitePaperBook
from tradeguard.alerting.runtime import SessionAlerting, start_session_alerting
from tradeguard.alerts import Notifier, OutboxNotifier
from tradeguard.requests import ReplayRequest
from tradeguard.settings import Settings
from tradeguard.store.lock import StateDirLock
from tradeguard.store.polling import ThrottledCommands
from tradeguard.store.sqlite_store import SqliteStore

log = logging.getLogger(__name__)

STORE_FILE = "tradeguard.sqlite"
BOOK_FILE = "paper_broker.sqlite"


def build_notifier(settings: Settings) -> Notifier:
    """Return the notifier of alerts raised outside a session: the outbox, then Apprise."""
    return OutboxNotifier(settings, store_path(settings.store.state_dir))


def store_path(state_dir: Path) -> Path:
    """Return the path of the engine store inside a state directory."""
    return state_dir / STORE_FILE


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory (0700) if needed and return it."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir.chmod(0o700)
    return state_dir


def existing_state_dir(state_dir: Path) -> Path:
    """Return the state directory, refusing one that does not exist (no silent new state)."""
    if not store_path(state_dir).exists():
        message = (
            f"state directory {state_dir} holds no tradeguard state; run a session first "
            "or pass --state-dir"
        )
        raise ConfigurationError(message)
    return state_dir


@dataclass
class Runtime:
    """Everything a session needs, wired; close() releases the files and the lock."""

    settings: Settings
    clock: Clock
    store: SqliteStore
    session: TradingSession
    recovered: RecoveredState
    stack: ExitStack

    def close(self) -> None:
        """Release the store, the paper book and the state-dir lock."""
        self.stack.close()


def open_store(settings: Settings, state_dir: Path, *, writer: bool = False) -> SqliteStore:
    """Open the engine store; only the lock-holding writer marks sessions open and closed."""
    return SqliteStore(
        store_path(state_dir),
        durability=settings.store.durability,
        session=writer,
        verify="auto" if writer else "recovery",
    )


def engine_config(settings: Settings) -> EngineConfig:
    """Return the engine's config groups out of the settings."""
    return EngineConfig(
        breaker=settings.breaker,
        risk=settings.risk,
        strategy=settings.strategy,
        broker=settings.broker,
        feed=settings.feed,
        session=settings.session,
    )


def _start_time(recovered: RecoveredState, first_bar: datetime | None) -> datetime:
    saved = recovered.state.get("clock", {}).get("now")
    if saved:
        return datetime.fromisoformat(saved)
    if first_bar is not None:
        return first_bar
    return datetime.fromtimestamp(0, UTC)


def build_runtime(
    settings: Settings,
    *,
    seed: int,
    faults: Path | None,
    first_bar: datetime | None,
    realtime: bool | None = False,
    listeners: Sequence[Callable[[Any], None]] = (),
) -> Runtime:
    """Lock the state dir, open the store and wire a resumable session from its snapshot.

    realtime=None keeps the kind of clock the state was last written with (operator
    commands on a stopped session): simulated time for replays, wall time otherwise.
    """
    state_dir = ensure_state_dir(settings.store.state_dir)
    stack = ExitStack()
    try:
        stack.enter_context(StateDirLock(state_dir))
        store = open_store(settings, state_dir, writer=True)
        stack.callback(store.close)
        alerting = start_session_alerting(settings, store, stack)
        book = SqlitePaperBook(state_dir / BOOK_FILE)
        stack.callback(book.close)
        recovered = store.load()
        if realtime is None:
            realtime = not recovered.state.get("clock", {}).get("simulated", True)
        runtime = _wire(
            settings, store, book, recovered, seed, faults, first_bar, realtime, listeners, stack,
            alerting,
        )
    except BaseException:
        stack.close()
        raise
    return runtime


def _wire(
    settings: Settings,
    store: SqliteStore,
    book: SqlitePaperBook,
    recovered: RecoveredState,
    seed: int,
    faults: Path | None,
    first_bar: datetime | None,
    realtime: bool,
    listeners: Sequence[Callable[[Any], None]],
    stack: ExitStack,
    alerting: SessionAlerting,
) -> Runtime:
    clock: Clock
    if realtime:
        clock = SystemClock()

        def advance_to(_: datetime) -> None:
            return None
    else:
        sim = SimulatedClock(_start_time(recovered, first_bar))
        clock = sim
        advance_to = sim.advance_to

    plan: FaultPlan | None = load_fault_plan(faults) if faults is not None else None
    broker: Any = PaperBroker(settings.broker, clock, book, plan, seed=seed)
    journal: Any = ThrottledCommands(alerting.wrap_journal(store))
    failpoint = failpoints.from_env()
    if failpoint is not None:
        broker = failpoints.FailpointBroker(broker, failpoint)
        journal = failpoints.FailpointStore(journal, failpoint)
    session = assemble(
        engine_config(settings),
        clock=clock,
        advance_to=advance_to,
        store=journal,
        broker=broker,
        recovered=recovered,
        listeners=listeners,
    )
    return Runtime(settings, clock, store, session, recovered, stack)


def feed_items(settings: Settings, request: ReplayRequest) -> Iterator[FeedItem]:
    """Return the merged, time-ordered bar stream of a replay request."""
    if not request.data:
        raise ConfigurationError("no data given: pass --data PATH[:SYMBOL]")
    sources = [
        read_bars(spec.path, spec.symbol, request.start, request.end) for spec in request.data
    ]
    return merge_sources(*sources) if len(sources) > 1 else iter(sources[0])


def first_bar_time(items: Iterable[FeedItem]) -> tuple[datetime | None, Iterator[FeedItem]]:
    """Peek the first parsable bar's time without losing it from the stream."""
    iterator = iter(items)
    buffered: list[FeedItem] = []
    first: datetime | None = None
    for item in iterator:
        buffered.append(item)
        if item.bar is not None:
            first = item.bar.ts
            break

    def chained() -> Iterator[FeedItem]:
        yield from buffered
        yield from iterator

    return first, chained()


def paced(
    items: Iterable[FeedItem],
    bar_seconds: float,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FeedItem]:
    """Replay historical bars at 1x speed, re-stamped to start now (real-time paper mode).

    Each bar is released when its re-stamped close time has come, as a live feed would.
    """
    offset: timedelta | None = None
    step = timedelta(seconds=bar_seconds)
    for item in items:
        if offset is None:
            offset = now().replace(second=0, microsecond=0) - item.ts
        bar = item.bar
        shifted = bar._replace(ts=bar.ts + offset) if bar is not None else None
        when = item.ts + offset
        wait = (when + step - now()).total_seconds()
        if wait > 0:
            sleep(wait)
        yield item._replace(ts=when, bar=shifted)


def require_data(path: Path) -> Path:
    """Return path if it exists, else raise DataError naming how to obtain the data."""
    if not path.exists():
        message = (
            f"data file {path} not found: the market data lives in the shared/data folder "
            "beside the clone; see docs/data.md for where to obtain it and its checksums"
        )
        raise DataError(message)
    return path

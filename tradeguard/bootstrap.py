"""Composition root: the one place that builds clock, store, broker, breaker and session.

`bootstrap(settings)` builds the runtime every use case receives (`tradeguard.app.App`);
`build_runtime` wires one resumable session inside a workspace for the use cases.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.broker import Broker, PaperBroker
from engine.clock import Clock, SimulatedClock, SystemClock
from engine.errors import ConfigurationError, DataError, StatePathError
from engine.feed import FeedItem, merge_sources
from engine.ports import Batch, EngineStore, OperatorCommand, RecoveredState
from tradeguard import failpoints
from tradeguard.alerts import Notifier, OutboxNotifier
from tradeguard.app import App
from tradeguard.marketdata import read_bars
from tradeguard.requests import ReplayRequest
from tradeguard.settings import Settings
from tradeguard.workspace import BOOK_FILE, STORE_FILE, Journal, SqliteWorkspace, Workspace
from tradeguard.workspace import store_path as store_path

if TYPE_CHECKING:
    from engine.assembly import EngineConfig
    from engine.faults import FaultPlan
    from engine.session import TradingSession
    from engine.venue_sync import VenueLedger
    from tradeguard.alerting.runtime import SessionAlerting

__all__ = ["BOOK_FILE", "STORE_FILE", "App", "Runtime", "bootstrap", "build_runtime"]

log = logging.getLogger(__name__)


def build_notifier(settings: Settings) -> Notifier:
    """Return the notifier of alerts raised outside a session: the outbox, then Apprise."""
    return OutboxNotifier(settings, store_path(settings.store.state_dir))


def failpoint_of(settings: Settings) -> failpoints.Failpoint | None:
    """Return the crash-drill failpoint `settings.store.failpoint` names, or None."""
    if not settings.store.failpoint:
        return None
    return failpoints.from_env({failpoints.ENV: settings.store.failpoint})


def sqlite_workspace(settings: Settings) -> SqliteWorkspace:
    """Return the durable workspace of settings.store.state_dir."""
    return SqliteWorkspace(settings.store.state_dir, settings.store.durability)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    workspace: Workspace | None = None,
    notifier: Notifier | None = None,
) -> App:
    """Build the runtime of the use cases; defaults are the production adapters."""
    return App(
        settings=settings,
        clock=clock if clock is not None else SystemClock(),
        workspace=workspace if workspace is not None else sqlite_workspace(settings),
        notifier=notifier if notifier is not None else build_notifier(settings),
        failpoint=failpoint_of(settings),
    )


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory (0700, as every level it creates) if needed and return it."""
    return SqliteWorkspace(state_dir).ensure()


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
    store: Journal
    session: TradingSession
    recovered: RecoveredState
    stack: ExitStack
    venue: VenueLedger | None = None  # the venue's own record, for the sync before trading

    def close(self) -> None:
        """Release the store, the paper book and the state-dir lock."""
        self.stack.close()


def open_store(settings: Settings, state_dir: Path, *, writer: bool = False) -> Journal:
    """Open the engine store; only the lock-holding writer marks sessions open and closed."""
    return SqliteWorkspace(state_dir, settings.store.durability).open_journal(writer=writer)


def engine_config(settings: Settings) -> EngineConfig:
    """Return the engine's config groups out of the settings."""
    from engine.assembly import EngineConfig

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
    app: App | None = None,
) -> Runtime:
    """Lock the workspace, open its journal and wire a resumable session from its snapshot.

    realtime=None keeps the kind of clock the state was last written with (operator
    commands on a stopped session): simulated time for replays, wall time otherwise.
    Without `app` the production runtime of `settings` is used.
    """
    app = app if app is not None else bootstrap(settings)
    stack = ExitStack()
    try:
        stack.enter_context(app.workspace.lock())
        store = app.workspace.open_journal(writer=True)
        stack.callback(store.close)
        alerting = app.workspace.session_alerting(app.settings, store, stack)
        recovered = store.load()
        # A trading run needs the book the journal traded on; operator commands on a stopped
        # session (realtime None) also serve live states, which have no paper book.
        must_exist = realtime is not None and _traded(recovered)
        book = app.workspace.open_book(must_exist=must_exist)
        if hasattr(book, "close"):
            stack.callback(book.close)
        if must_exist:
            require_newest_fill(book, store, app.workspace.location)
        if realtime is None:
            realtime = not recovered.state.get("clock", {}).get("simulated", True)
        wiring = _Wiring(app, seed, faults, first_bar, realtime, listeners)
        runtime = _wire(wiring, store, book, recovered, stack, alerting)
    except BaseException:
        stack.close()
        raise
    return runtime


def require_newest_fill(book: Any, journal: Journal, where: Path) -> None:
    """Refuse a paper book without the journal's newest fill: not the book it traded on.

    The venue commits a fill before the journal sees it, so the book always holds every
    journaled fill. One that lacks the newest was replaced, restored alone, copied from another
    state directory or given another book's -wal: trading on would send orders against cash
    and positions the journal never had (reduce-only orders with nothing to reduce).
    """
    newest = journal.last_fill()
    if newest is None:
        return
    fill_id, client_order_id = newest
    if any(fill.fill_id == fill_id for fill in book.fills_for(client_order_id)):
        return
    path = getattr(book, "path", where)
    message = (
        f"paper book {path} lacks the journal's newest fill {fill_id} (order "
        f"{client_order_id}): it is not the book this journal traded on (replaced, restored "
        "alone, copied from another state directory, or another book's -wal beside it); put "
        "the venue's own book back, or start a new --state-dir"
    )
    raise StatePathError(message)


def _traded(recovered: RecoveredState) -> bool:
    """Return whether the journal booked fills (a position, or trades executed)."""
    executed = recovered.state.get("execution", {}).get("trades_executed", 0)
    return any(p.quantity for p in recovered.positions) or (
        isinstance(executed, int) and executed > 0)


@dataclass(frozen=True)
class _Wiring:
    app: App
    seed: int
    faults: Path | None
    first_bar: datetime | None
    realtime: bool
    listeners: Sequence[Callable[[Any], None]]


class _OperatorStamps:
    """Journal wrapper stamping operator actions with the operator's wall clock.

    A stopped replay's session clock sits at simulated time; the audit trail must say when
    the operator really acted.
    """

    def __init__(self, inner: EngineStore, wall: Clock) -> None:
        self._inner = inner
        self._wall = wall

    def load(self) -> RecoveredState:
        """Load the recovered state of the inner journal."""
        return self._inner.load()

    def commit(self, batch: Batch) -> None:
        """Re-stamp the batch's operator actions, then commit it."""
        if batch.operator_actions:
            now = self._wall.now()
            batch.operator_actions = [replace(a, at=now) for a in batch.operator_actions]
        self._inner.commit(batch)

    def fill_recorded(self, fill_id: str) -> bool:
        """Return whether the inner journal has booked this fill."""
        return self._inner.fill_recorded(fill_id)

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return whether the inner journal has this order's intent."""
        return self._inner.intent_recorded(client_order_id)

    def pending_commands(self) -> list[OperatorCommand]:
        """Return the operator commands waiting in the inner journal."""
        return self._inner.pending_commands()


def _wire(
    wiring: _Wiring,
    store: Journal,
    book: Any,
    recovered: RecoveredState,
    stack: ExitStack,
    alerting: SessionAlerting | None,
) -> Runtime:
    # Imported here, not at the top: light commands (status, --help) build an App without
    # loading the engine's session, the strategy plugin or the fault plan reader.
    from engine.assembly import assemble
    from tradeguard.adapters.paper_book import SqlitePaperBook
    from tradeguard.faultplan import load_fault_plan
    from tradeguard.store.polling import ThrottledCommands
    from tradeguard.store.sqlite_store import SqliteStore
    from tradeguard.strategy_plugin import load_strategy

    settings = wiring.app.settings
    clock: Clock = (
        SystemClock()
        if wiring.realtime
        else SimulatedClock(_start_time(recovered, wiring.first_bar))
    )
    strategy_factory = load_strategy(settings.strategy.class_path)
    faults = wiring.faults
    plan: FaultPlan | None = load_fault_plan(faults) if faults is not None else None
    broker: Broker = PaperBroker(settings.broker, clock, book, plan, seed=wiring.seed)
    beating: EngineStore = alerting.wrap_journal(store) if alerting is not None else store
    # The throttle is the outermost layer: the session asks it on every bar.
    journal: EngineStore = ThrottledCommands(_OperatorStamps(beating, wiring.app.clock))
    failpoint = wiring.app.failpoint
    if failpoint is not None:
        if isinstance(store, SqliteStore):  # the archive move's two commits
            store.failpoint = failpoint.reach
        broker = failpoints.FailpointBroker(broker, failpoint)
        journal = failpoints.FailpointStore(journal, failpoint)
    config = engine_config(settings)
    if wiring.realtime:
        # A live session commits every bar, so `status` in another process sees its progress.
        config = replace(config, session=config.session.model_copy(
            update={"checkpoint_every_bars": 1}))
    session = assemble(
        config,
        clock=clock,
        store=journal,
        broker=broker,
        recovered=recovered,
        listeners=wiring.listeners,
        strategy_factory=strategy_factory,
    )
    venue = book if isinstance(book, SqlitePaperBook) else None
    return Runtime(settings, clock, store, session, recovered, stack, venue)


def feed_items(settings: Settings, request: ReplayRequest) -> Iterator[FeedItem]:
    """Return the merged, time-ordered bar stream of a replay request."""
    if not request.data:
        message = "no data given: pass --data PATH[:SYMBOL]"
        raise ConfigurationError(message)
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

    # itertools.chain, not a generator: no Python frame resumed per bar of the replay.
    return first, itertools.chain(buffered, iterator)


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

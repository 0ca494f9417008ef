"""Wire a live session: the replay's engine (assemble), a live feed, and a venue broker.

Nothing here is a second engine: `engine.assembly.assemble` builds the same session, breaker,
risk gate, journal and reconciliation as a replay; only the bar source (LiveBarFeed) and the
broker (CcxtBroker, or the paper venue for forward paper trading) differ.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.assembly import assemble
from engine.broker import Broker, PaperBroker
from engine.circuit_breaker import CircuitBreaker
from engine.clock import Clock, SimulatedClock, SystemClock
from engine.feed import FeedItem
from engine.ports import Batch, EngineStore, RecoveredState
from engine.session import SessionEnd, TradingSession
from engine.venue_sync import VenueLedger, VenueSyncResult
from tradeguard import failpoints
from tradeguard.adapters.paper_book import SqlitePaperBook
from tradeguard.bootstrap import (
    engine_config,
    ensure_state_dir,
    failpoint_of,
    open_store,
    require_newest_fill,
)
from tradeguard.settings import Settings
from tradeguard.store.lock import StateDirLock
from tradeguard.store.polling import ThrottledCommands
from tradeguard.strategy_plugin import load_strategy
from tradeguard.venues.account import PaperVenue
from tradeguard.venues.ccxt_broker import CcxtBroker, VenueCall
from tradeguard.venues.config import (
    VenueConfig,
    VenueCredentials,
    require_supported,
    require_trading_allowed,
)
from tradeguard.venues.exchange import build_exchange
from tradeguard.venues.live_feed import LiveBarFeed, LiveFeedConfig
from tradeguard.venues.reconcile import check_account
from tradeguard.venues.sync import (
    IntentLister,
    SyncPlan,
    owned_by,
    pending_sync_from,
    plan_sync,
    read_live_marker,
    require_live_state,
    require_paper_state,
    require_same_venue,
    sync_account,
    write_live_marker,
)
from tradeguard.workspace import Journal, SqliteWorkspace

__all__ = ["LiveRuntime", "build_live_runtime", "reconcile_live", "run_live",
           "with_warm_cursors"]

log = logging.getLogger(__name__)

_BOOK_START = datetime(1970, 1, 1, tzinfo=UTC)  # an empty store syncs the whole paper book


@dataclass
class LiveRuntime:
    """A wired live session; iterate `items` into session.run(); close() releases everything."""

    session: TradingSession
    broker: Any
    feed: LiveBarFeed
    recovered: RecoveredState
    items: Iterator[FeedItem]
    stack: ExitStack
    stop: threading.Event = field(default_factory=threading.Event)
    journal: IntentLister | None = None
    plan: SyncPlan | None = None  # where the venue sync reads from (live venues only)
    strategy_id: str = "sma"
    synced: VenueSyncResult | None = None  # what the venue sync at start booked
    # Paper mode: the paper book (the venue's own record) and where its sync reads from.
    paper_ledger: VenueLedger | None = None
    paper_since: datetime | None = None
    sync_done: Callable[[], None] | None = None  # clears the marker's unfinished sync

    def close(self) -> None:
        """Release the store, the paper book and the state-dir lock."""
        self.stack.close()


def with_warm_cursors(recovered: RecoveredState, warm: Sequence[FeedItem]) -> RecoveredState:
    """Return recovered state whose per-symbol cursors cover the warm-up bars.

    The session only warms its indicators on bars at or before its cursors, so history fetched
    at start (and bars missed while the process was down) rebuilds the strategy but never
    trades on old prices.
    """
    newest: dict[str, datetime] = {}
    for item in warm:
        if item.symbol not in newest or item.ts > newest[item.symbol]:
            newest[item.symbol] = item.ts
    state = dict(recovered.state)
    section = dict(state.get("session") or {"clean_shutdown": True})
    cursors = dict(section.get("cursors") or {})
    for symbol, ts in newest.items():
        saved = cursors.get(symbol)
        if saved is None or datetime.fromisoformat(saved) < ts:
            cursors[symbol] = ts.isoformat()
    section["cursors"] = cursors
    state["session"] = section
    return RecoveredState(state, recovered.open_intents, recovered.positions)


def build_live_runtime(
    settings: Settings,
    venue: VenueConfig,
    *,
    clock: Clock,
    wait_until: Callable[[datetime], None],
    paper: bool = False,
    exchange: Any = None,
    listeners: Sequence[Callable[[Any], None]] = (),
    stop: threading.Event | None = None,
) -> LiveRuntime:
    """Lock the state dir, warm up from the venue and wire the live session (not started)."""
    if not paper:
        require_trading_allowed(venue)
        require_supported(venue)
        settings = with_live_defaults(settings)
    if exchange is None:
        credentials = None if paper else VenueCredentials.resolve(venue)
        exchange = build_exchange(venue, credentials)
    stop = stop or threading.Event()
    strategy = settings.strategy
    needed = max(slow for pairs in (strategy.pairs, *strategy.symbol_pairs.values())
                 for _, slow in pairs)
    if venue.warmup_bars < needed:
        log.warning("live_warmup_short warmup_bars=%d strategy_needs=%d: the first signals "
                    "wait for live bars", venue.warmup_bars, needed)
    state_dir = ensure_state_dir(settings.store.state_dir)
    if paper:
        require_paper_state(state_dir, "a --paper session")
    else:
        require_live_state(state_dir)
    stack = ExitStack()
    try:
        stack.enter_context(StateDirLock(state_dir))
        store = open_store(settings, state_dir, writer=True)
        stack.callback(store.close)
        issues = _IssueSink()
        feed = LiveBarFeed(
            exchange, clock, venue.symbols,
            config=LiveFeedConfig(venue.poll_delay_seconds, venue.stale_after_seconds,
                                  venue.warmup_bars),
            wait_until=wait_until,
            on_issue=issues.report,
            should_stop=stop.is_set,
        )
        warm = feed.warmup()
        stored = store.load()
        recovered = with_warm_cursors(stored, warm)
        marker = None if paper else read_live_marker(state_dir)
        if marker is not None:
            require_same_venue(marker, venue.exchange, venue.symbols)
        plan = None if paper else plan_sync(stored, clock.now(), venue.sync_lookback_hours,
                                            pending_sync_from(state_dir))
        if plan is not None:  # until the sync is done (a kill in it reads from here again)
            write_live_marker(state_dir, venue.exchange, venue.symbols, plan.since)
        broker, book = _broker(settings, venue, exchange, clock, paper, stack, store)
        wrapped: Broker = broker
        journal: EngineStore = ThrottledCommands(store)
        failpoint = failpoint_of(settings)
        if failpoint is not None:
            wrapped = failpoints.FailpointBroker(broker, failpoint)
            journal = failpoints.FailpointStore(journal, failpoint)
        session = assemble(
            engine_config(settings), clock=clock, store=journal, broker=wrapped,
            recovered=recovered, listeners=listeners,
            strategy_factory=load_strategy(settings.strategy.class_path),
        )
        issues.attach(session.breaker)
        if isinstance(broker, CcxtBroker):
            broker.attach_breaker(session.breaker)
            broker.add_listener(_latency_reporter(session))
    except BaseException:
        stack.close()
        raise
    items = itertools.chain(warm, feed)
    synced = functools.partial(write_live_marker, state_dir, venue.exchange, venue.symbols)
    return LiveRuntime(session, broker, feed, recovered, items, stack, stop, store, plan,
                       settings.strategy.strategy_id, paper_ledger=book,
                       paper_since=_stored_oldest_cursor(stored), sync_done=synced)


def run_live(runtime: LiveRuntime) -> tuple[dict[str, int], SessionEnd]:
    """Book the venue's trades the journal lacks, settle intents, check the account, trade."""
    if isinstance(runtime.broker, CcxtBroker) and runtime.plan and runtime.journal:
        runtime.synced = sync_account(runtime.session, runtime.broker, runtime.journal,
                                      runtime.plan, runtime.strategy_id)
        if runtime.sync_done is not None:
            runtime.sync_done()
    elif runtime.paper_ledger is not None:
        # The replay's sync on the paper book, read from the cursor as stored: the warm-up
        # moved the session's cursors to now, and an empty store reads the whole book.
        runtime.synced = runtime.session.sync_with_venue(
            runtime.paper_ledger, runtime.paper_since or _BOOK_START)
        log.info("venue_sync paper=true fills_booked=%d intents_adopted=%d "
                 "open_orders_adopted=%d error=%s", len(runtime.synced.fills_booked),
                 len(runtime.synced.intents_adopted), len(runtime.synced.open_orders_adopted),
                 runtime.synced.error or "-")
    open_intents = runtime.recovered.open_intents
    reconciled = runtime.session.recover(open_intents)
    saved = runtime.recovered.state.get("clock", {}).get("now")
    drift = check_account(runtime.broker, owned_by(runtime.strategy_id),
                          datetime.fromisoformat(saved) if saved else None,
                          runtime.session.breaker)
    log.info("live_session_start reconciled=%s account_clean=%s",
             dict(sorted(reconciled.items())), drift is not None and drift.clean)
    end = runtime.session.run(runtime.items)
    return reconciled, end


def reconcile_live(
    settings: Settings, state_dir: Path, marker: dict[str, Any], *, exchange: Any = None
) -> tuple[int, dict[str, int], VenueSyncResult]:
    """`tradeguard reconcile` on a live state: the venue sync, then settle every open intent.

    Returns (open intents found, their outcome, what the sync booked). The clock is the kind
    the state was written with (wall time for a real session).
    """
    venue = settings.venue
    require_same_venue(marker, venue.exchange, venue.symbols)
    require_trading_allowed(venue)  # a never-sent intent may be sent now
    require_supported(venue)
    settings = with_live_defaults(settings)
    if exchange is None:
        exchange = build_exchange(venue, VenueCredentials.resolve(venue))
    with ExitStack() as stack:
        stack.enter_context(StateDirLock(state_dir))
        store = open_store(settings, state_dir, writer=True)
        stack.callback(store.close)
        recovered = store.load()
        clock = _state_clock(recovered)
        broker, _ = _broker(settings, venue, exchange, clock, False, stack)
        session = assemble(engine_config(settings), clock=clock, store=store, broker=broker,
                           recovered=recovered,
                           strategy_factory=load_strategy(settings.strategy.class_path))
        broker.attach_breaker(session.breaker)
        plan = plan_sync(recovered, clock.now(), venue.sync_lookback_hours,
                         pending_sync_from(state_dir))
        write_live_marker(state_dir, venue.exchange, venue.symbols, plan.since)
        synced = sync_account(session, broker, store, plan, settings.strategy.strategy_id)
        write_live_marker(state_dir, venue.exchange, venue.symbols)
        outcome = session.recover(recovered.open_intents)
        session.commit(Batch(), clean_shutdown=session.was_clean)
    return len(recovered.open_intents), outcome, synced


def _state_clock(recovered: RecoveredState) -> Clock:
    saved = recovered.state.get("clock") or {}
    if saved.get("simulated") and saved.get("now"):
        return SimulatedClock(datetime.fromisoformat(saved["now"]))
    return SystemClock()


def _broker(settings: Settings, venue: VenueConfig, exchange: Any, clock: Clock, paper: bool,
            stack: ExitStack, journal: Journal | None = None,
            ) -> tuple[Any, SqlitePaperBook | None]:
    """Return the venue broker, and the paper book behind it in paper mode.

    In paper mode the book must hold the journal's newest fill (the book it traded on).
    """
    if not paper:
        return CcxtBroker(exchange, clock, venue.symbols, collar_pct=venue.collar_pct,
                          history=timedelta(hours=venue.sync_lookback_hours)), None
    # Through the workspace: a book linked into another state directory is refused.
    book: SqlitePaperBook = SqliteWorkspace(settings.store.state_dir,
                                            settings.store.durability).open_book()
    stack.callback(book.close)
    if journal is not None:
        require_newest_fill(book, journal, settings.store.state_dir)
    return PaperVenue(PaperBroker(settings.broker, BarAlignedClock(clock), book), book), book


def _stored_oldest_cursor(stored: RecoveredState) -> datetime | None:
    """Return the oldest bar cursor the store saved (None for an empty store)."""
    cursors = (stored.state.get("session") or {}).get("cursors") or {}
    return min((datetime.fromisoformat(ts) for ts in cursors.values()), default=None)


def with_live_defaults(settings: Settings) -> Settings:
    """Return settings for a live venue: HALT recovery needs an operator unless set explicitly.

    Seed 004: "manual review recommended ... requires operator confirmation in production".
    Replays and paper sessions keep the automatic recovery of `breaker.halt_recovery`'s default.
    """
    if "halt_recovery" in settings.breaker.model_fields_set:
        return settings
    breaker = settings.breaker.model_copy(update={"halt_recovery": "confirm"})
    log.info("live_halt_recovery policy=confirm reason=live venue default")
    return settings.model_copy(update={"breaker": breaker})


class _IssueSink:
    """Data-feed issues of the live feed, queued until the session's breaker exists."""

    def __init__(self) -> None:
        self._breaker: CircuitBreaker | None = None
        self._early: list[dict[str, Any]] = []

    def report(self, details: dict[str, Any]) -> None:
        """Report an issue to the breaker (or keep it until one is attached)."""
        if self._breaker is None:
            self._early.append(details)
        else:
            self._breaker.report_data_feed_issue(details)

    def attach(self, breaker: CircuitBreaker) -> None:
        """Attach the session's breaker and hand it the issues seen during warm-up."""
        self._breaker = breaker
        for details in self._early:
            breaker.report_data_feed_issue(details)
        self._early.clear()


class BarAlignedClock:
    """The live clock floored to the minute, for the paper venue in live mode.

    Orders leave a few seconds after a bar closes (the feed's poll delay). The paper venue fills
    an order on the first bar starting at or after it was placed; floored, that is the bar that
    opened at the close, as in a replay, rather than the one after it.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    @property
    def simulated(self) -> bool:
        """Return whether the wrapped clock is simulated."""
        return self._clock.simulated

    def now(self) -> datetime:
        """Return the current minute's start."""
        return self._clock.now().replace(second=0, microsecond=0)

    def advance_to(self, when: datetime) -> None:
        """Advance the wrapped clock (a no-op for the system clock)."""
        self._clock.advance_to(when)


def _latency_reporter(session: TradingSession) -> Callable[[VenueCall], None]:
    # place_order latency reaches the breaker through the ack (engine/execution.py); the other
    # calls (queries, fill polling) are reported here so a slow venue escalates either way.
    def report(call: VenueCall) -> None:
        if call.call != "place_order" and call.failure is None:
            session.breaker.report_api_latency(call.latency_ms)

    return report

"""Use cases behind `tradeguard venue ...`: readiness check, emulator, live session."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.clock import SystemClock
from engine.session import SessionEnd
from tradeguard.settings import Settings
from tradeguard.venues.config import VenueConfig
from tradeguard.venues.emulator.faults import HttpFaults
from tradeguard.venues.emulator.market import MarketData, SymbolSpec
from tradeguard.venues.emulator.server import EmulatorServer, ExchangeEmulator
from tradeguard.venues.live import LiveRuntime, build_live_runtime, run_live
from tradeguard.venues.readiness import ReadinessReport, check_venue

__all__ = ["EmulatorRequest", "build_emulator", "live_session", "venue_check"]

log = logging.getLogger(__name__)


def venue_check(settings: Settings) -> ReadinessReport:
    """Run the readiness checks of settings.venue (no order is placed)."""
    return check_venue(settings.venue)


@dataclass(frozen=True)
class EmulatorRequest:
    """What `tradeguard venue emulator` serves and how."""

    markets: tuple[SymbolSpec, ...]
    start: datetime
    api_key: str
    api_secret: str
    port: int = 0
    faults: Path | None = None
    skew_ms: int = 0
    quote_balance: float = 100_000.0


def build_emulator(request: EmulatorRequest) -> EmulatorServer:
    """Build a real-time emulator: history from `start` replayed as if it began this minute."""
    clock = SystemClock()
    now = clock.now().replace(second=0, microsecond=0)
    market = MarketData.load(request.markets, request.start - timedelta(hours=12),
                             request.start + timedelta(days=2))
    shifted = market.shifted(now - request.start)
    faults = HttpFaults.load(request.faults) if request.faults is not None else HttpFaults()
    quotes = {spec.quote: request.quote_balance for spec in request.markets}
    emulator = ExchangeEmulator(
        market=shifted, specs=list(request.markets), clock=clock, api_key=request.api_key,
        api_secret=request.api_secret, balances=quotes, faults=faults,
    )
    emulator.skew_ms = request.skew_ms
    return EmulatorServer(emulator, port=request.port)


def live_session(
    settings: Settings,
    venue: VenueConfig,
    *,
    paper: bool,
    listeners: Sequence[Any] = (),
    duration_seconds: float | None = None,
    stop_source: Callable[[Callable[[str], None]], None] | None = None,
) -> dict[str, Any]:
    """Run a live session on the wall clock until SIGINT/SIGTERM/SIGHUP (or a duration).

    stop_source, when given, owns the stop requests instead of this function's signal
    handlers (a Prefect flow run: its signals and its cancellation); it is handed the
    session's stop callback, to call with the cause.
    """
    stop = threading.Event()
    why: list[str] = []
    clock = SystemClock()

    def wait_until(when: datetime) -> None:
        stop.wait(max((when - clock.now()).total_seconds(), 0.0))

    def request_stop(reason: str) -> None:
        log.warning("live_session_stopping reason=%s", reason)
        why.append(reason)
        stop.set()

    cleanup = ExitStack()
    try:
        if stop_source is not None:
            stop_source(request_stop)
        elif threading.current_thread() is threading.main_thread():
            # Signal handlers can only be set from the main thread (not in a Prefect worker
            # thread, where the flow run is stopped by its duration or by cancellation).
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous = signal.signal(
                    signum, lambda n, _f: request_stop(f"signal {signal.Signals(n).name}")
                )
                cleanup.callback(_restore_handler, signum, previous, why)
        if duration_seconds is not None:
            timer = threading.Timer(duration_seconds, request_stop, ("duration",))
            timer.daemon = True
            timer.start()
            cleanup.callback(timer.cancel)
        runtime = build_live_runtime(settings, venue, clock=clock, wait_until=wait_until,
                                     paper=paper, listeners=listeners, stop=stop)
        cleanup.callback(runtime.close)
        reconciled, end = run_live(runtime)
        return _summary(runtime, venue, paper, reconciled, end, why)
    finally:
        cleanup.close()


def _restore_handler(signum: int, previous: Any, why: list[str]) -> None:
    """Put a signal's old handler back, unless a stop was asked for.

    The caller then prints the summary and exits: a repeated signal (a second Ctrl-C) in
    between must not kill the process and lose the summary and the clean exit code.
    """
    if not why:
        signal.signal(signum, previous)


def _summary(runtime: LiveRuntime, venue: VenueConfig, paper: bool,
             reconciled: dict[str, int], end: SessionEnd, why: list[str]) -> dict[str, Any]:
    session = runtime.session
    execution = session.snapshot()["execution"]
    return {
        "venue": venue.exchange,
        "mode": _mode(venue, paper),
        "symbols": venue.symbols,
        "reconciled_on_start": dict(sorted(reconciled.items())),
        "venue_sync": None if runtime.synced is None else {
            "fills_booked": len(runtime.synced.fills_booked),
            "intents_adopted": len(runtime.synced.intents_adopted),
            "open_orders_adopted": len(runtime.synced.open_orders_adopted),
            "error": runtime.synced.error,
        },
        "stopped_by_breaker": end.stopped_by_breaker,
        "reason": f"stopped by {why[0]}" if why else end.reason,
        "last_bar": end.last_bar.isoformat() if end.last_bar else None,
        "breaker_state": session.breaker.state.value,
        "bars": session.counters.bars,
        "signals": session.counters.signals,
        # submitted + adopted = filled + failed + open (adopted: taken over by the venue sync)
        "orders_submitted": execution["orders_submitted"],
        "orders_adopted": execution["orders_adopted"],
        "orders_filled": execution["orders_filled"],
        "orders_failed": execution["orders_failed"],
        "orders_open": session.orders_open,
        "ended_at": datetime.now(UTC).isoformat(),
    }


def _mode(venue: VenueConfig, paper: bool) -> str:
    if paper:
        return "paper (live bars, paper venue)"
    if venue.api_url is not None:
        return f"override {venue.api_url}"
    return "sandbox" if venue.sandbox else "MAINNET"

"""Use cases of the shell: each CLI command and each Prefect task calls exactly one of these.

Every use case receives the runtime the composition root built (`tradeguard.app.App`:
settings, wall clock, workspace, notifier) and returns a frozen contract value. None of them
builds its own adapters or reads the time: unit tests hand them an in-memory workspace and a
simulated clock.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.breaker_config import IssueType
from engine.errors import ConfigurationError, StateCorruptedError, StateLockedError
from engine.events import DailyStateReset
from engine.ports import Batch
from engine.venue_sync import VenueSyncResult
from tradeguard import bootstrap
from tradeguard.audit import OperatorInputError, audit_text, reset_outcome
from tradeguard.cockpit.status_read import read_status
from tradeguard.contracts import (
    IncidentTimeline,
    SessionResult,
    SessionSummary,
    Transition,
    ValidationResult,
)
from tradeguard.requests import CleanReport, CommandReceipt, DataSpec, ReplayRequest
from tradeguard.store import clean, hygiene
from tradeguard.venues.sync import read_live_marker, require_paper_state
from tradeguard.workspace import require_existing

if TYPE_CHECKING:
    from engine.feed import FeedItem
    from engine.session import SessionEnd
    from tradeguard.app import App
    from tradeguard.store.archive import Move
    from tradeguard.store.lock import LockOwner

__all__ = [
    "CleanReport",
    "CommandReceipt",
    "DataSpec",
    "OperatorInputError",
    "ReplayRequest",
    "SessionResult",
]

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STOP_POLL_SECONDS = 0.25  # how soon a paced real-time session notices a stop signal
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
OPERATOR_ACTIONS = ("halt", "resume", "recover", "reset", "reset-daily")


def run_session(
    app: App,
    request: ReplayRequest,
    listeners: Sequence[Callable[[Any], None]] = (),
    should_stop: Callable[[], str | None] | None = None,
    feed_tap: Callable[[Iterator[FeedItem]], Iterator[FeedItem]] | None = None,
) -> SessionResult:
    """Run (or resume) a session in app.workspace; listeners get every engine event.

    should_stop (a signal handler's flag) is asked between bars; a reason ends the run
    cleanly: the current event finished, committed and marked as a clean stop.
    """
    require_paper_state(app.workspace.location, "a replay")
    for spec in request.data:
        bootstrap.require_data(spec.path)
    items = bootstrap.feed_items(app.settings, request)
    first, items = bootstrap.first_bar_time(items)
    if feed_tap is not None:  # a progress display counting the bars as they go by
        items = feed_tap(items)
    if request.realtime:
        sleep = _stoppable_sleep(should_stop) if should_stop is not None else time.sleep
        items = bootstrap.paced(items, app.settings.feed.bar_seconds, now=app.clock.now,
                                sleep=sleep)
    runtime = bootstrap.build_runtime(
        app.settings,
        seed=request.seed,
        faults=request.faults,
        first_bar=first,
        realtime=request.realtime,
        listeners=listeners,
        app=app,
    )
    try:
        if runtime.venue is not None:
            runtime.session.sync_with_venue(runtime.venue)
        reconciled = runtime.session.recover(runtime.recovered.open_intents, rerun=True)
        end = _run_guarded(runtime, items, should_stop)
        summary = summarize(runtime, end, dict(sorted(reconciled.items())))
    finally:
        runtime.close()
    return SessionResult(summary, app.workspace.location)


def _stoppable_sleep(should_stop: Callable[[], str | None]) -> Callable[[float], None]:
    """A sleep for real-time pacing that a stop request (a signal) cuts short."""

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not should_stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, STOP_POLL_SECONDS))

    return sleep


def _run_guarded(
    runtime: bootstrap.Runtime,
    items: Iterable[FeedItem],
    should_stop: Callable[[], str | None] | None,
) -> SessionEnd:
    """Run the session; damage found in the store mid-session stops trading at once."""
    try:
        return runtime.session.run(items, should_stop)
    except StateCorruptedError as e:
        # Nothing more may reach the venue: the breaker shuts down (alerting its listeners)
        # and the error, naming `tradeguard state restore`, ends the command with exit 2.
        runtime.session.breaker.report_critical_error(
            IssueType.DATABASE_CORRUPTION, {"error": str(e)}
        )
        log.critical("state_store_corrupted_mid_session error=%s", e)
        raise


def summarize(
    runtime: bootstrap.Runtime, end: SessionEnd, reconciled: dict[str, int] | None = None
) -> SessionSummary:
    """Build the session summary (the `replay --json` object) from state and journal."""
    state = runtime.session.snapshot()
    session, execution = state["session"], state["execution"]
    portfolio = runtime.session.portfolio
    starting = runtime.settings.broker.starting_cash
    denials = execution["denials"]
    return SessionSummary(
        bars=session["bars"],
        bad_bars=session["bad_bars"],
        bad_bar_reasons=session["bad_bar_reasons"],
        gaps=session["gaps"],
        signals=session["signals"],
        signals_suppressed=session["signals_suppressed"],
        orders_submitted=execution["orders_submitted"],
        orders_filled=execution["orders_filled"],
        orders_failed=execution["orders_failed"],
        orders_denied=sum(denials.values()),
        orders_denied_by_reason=denials,
        trades_executed=execution["trades_executed"],
        pnl=round(portfolio.equity() - starting, 8),
        fees=round(execution["fees"], 8),
        positions={
            s: p.quantity for s, p in sorted(portfolio.positions().items()) if p.quantity
        },
        daily_pnl=round(runtime.session.risk.daily_pnl, 8),
        daily_trades=runtime.session.risk.daily_trades,
        transitions=tuple(
            Transition.of(t) for t in runtime.store.transitions_between(EPOCH, FAR_FUTURE)
        ),
        final_state=runtime.session.breaker.state.value,
        stopped_by_breaker=end.stopped_by_breaker,
        stop_reason=end.reason,
        last_bar=end.last_bar,
        reconciled_on_start=reconciled or {},
        orders_open=runtime.session.orders_open,
        orders_adopted=int(execution.get("orders_adopted", 0)),
    )


def _offline_runtime(
    app: App, listeners: Sequence[Callable[[Any], None]] = ()
) -> bootstrap.Runtime:
    """Wire the stored session without running it; callers check the workspace exists."""
    return bootstrap.build_runtime(
        app.settings, seed=0, faults=None, first_bar=None, realtime=None, app=app,
        listeners=listeners,
    )


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What `reconcile` repaired: venue records the journal lacked, then open intents settled."""

    reconciled: int
    outcome: dict[str, int]
    venue: VenueSyncResult

    def as_dict(self) -> dict[str, Any]:
        """Return the report JSON-ready (the CLI prints it)."""
        return {
            "reconciled": self.reconciled,
            "outcome": dict(self.outcome),
            "venue_fills_booked": len(self.venue.fills_booked),
            "venue_intents_adopted": len(self.venue.intents_adopted),
            "venue_open_orders_adopted": len(self.venue.open_orders_adopted),
            "venue_error": self.venue.error,
        }


def reconcile_report(app: App) -> ReconcileReport:
    """Book what the venue has and the journal lacks, then settle every non-final intent."""
    require_existing(app.workspace)
    marker = read_live_marker(app.workspace.location)
    if marker is not None:
        # A live (ccxt) venue's state: its venue is the exchange, not the paper book.
        from tradeguard.venues.live import reconcile_live  # ccxt loads only for live states

        count, outcome, synced = reconcile_live(app.settings, app.workspace.location, marker)
        return ReconcileReport(count, outcome, synced)
    runtime = _offline_runtime(app)
    try:
        if runtime.venue is not None:  # another book's fills would be booked as this journal's
            bootstrap.require_newest_fill(runtime.venue, runtime.store, app.workspace.location)
        synced = (
            runtime.session.sync_with_venue(runtime.venue)
            if runtime.venue is not None
            else VenueSyncResult()
        )
        outcome = runtime.session.recover(runtime.recovered.open_intents)
        runtime.session.commit(Batch(), clean_shutdown=runtime.session.was_clean)
    finally:
        runtime.close()
    return ReconcileReport(len(runtime.recovered.open_intents), outcome, synced)


def reconcile(app: App) -> dict[str, Any]:
    """Reconcile with the venue; return the report JSON-ready (see reconcile_report)."""
    return reconcile_report(app).as_dict()


def reset_daily(app: App, source: str = "operator") -> dict[str, Any]:
    """Reset daily P&L and trade count for the current trading day (idempotent per day)."""
    receipt = operator_command(app, "reset-daily", f"daily reset ({source})", source)
    return {
        "action": receipt.action,
        "applied_directly": receipt.applied_directly,
        "command_id": receipt.command_id,
        **receipt.detail,
    }


def operator_command(app: App, action: str, reason: str, who: str) -> CommandReceipt:
    """Apply halt/resume/recover/reset/reset-daily: queued if a session runs, else direct."""
    if action not in OPERATOR_ACTIONS:
        message = (
            f"unknown operator action {action!r}; expected one of {', '.join(OPERATOR_ACTIONS)}"
        )
        raise ConfigurationError(message)
    reason = audit_text("reason", reason)
    who = audit_text("who", who or getpass.getuser())
    workspace = require_existing(app.workspace)
    store = workspace.open_journal()
    try:
        command_id = store.enqueue_command(action, reason, who, app.clock.now())
    finally:
        store.close()
    owner = workspace.live_owner()
    if owner is not None:
        return _queued(action, command_id, owner)
    resets: list[DailyStateReset] = []

    def collect(event: Any) -> None:
        if isinstance(event, DailyStateReset):
            resets.append(event)

    try:
        runtime = _offline_runtime(app, listeners=[collect])
    except StateLockedError:
        # A session started between the check and now: it will apply the queued command.
        return _queued(action, command_id, workspace.live_owner())
    try:
        runtime.session.drain_commands()
        detail: dict[str, Any] = {
            "state": runtime.session.breaker.state.value,
            "daily_pnl": runtime.session.risk.daily_pnl,
            "daily_trades": runtime.session.risk.daily_trades,
        }
        outcome = reset_outcome(runtime.store, resets) if action == "reset-daily" else ""
    finally:
        runtime.close()
    if resets:
        last = resets[-1]
        detail["reset"] = {"trading_day": last.trading_day, "applied": last.applied,
                           "cleared_pnl": last.previous_pnl if last.applied else 0.0,
                           "cleared_trades": last.previous_trades if last.applied else 0}
    return CommandReceipt(action, True, command_id, detail, outcome)


def _queued(action: str, command_id: int, owner: LockOwner | None) -> CommandReceipt:
    log.info("operator_command_queued id=%s action=%s owner=%s", command_id, action,
             owner.describe() if owner else "unknown")
    return CommandReceipt(action, False, command_id, {"owner_pid": owner.pid if owner else None})


def status(app: App) -> dict[str, Any]:
    """Return the latest committed state: breaker and time in state, bar, P&L, intents."""
    return read_status(app.workspace, app.clock)


def _state_dir(app: App) -> Path:
    state_dir = app.settings.store.state_dir
    if not state_dir.is_dir():
        message = f"state directory {state_dir} does not exist"
        raise ConfigurationError(message)
    return state_dir


def clean_state(app: App, older_than_seconds: float, dry_run: bool) -> CleanReport:
    """Remove stale locks/temp files and rotate backups in the state dir."""
    state_dir = _state_dir(app)
    result = clean.clean_state(
        state_dir,
        older_than=timedelta(seconds=older_than_seconds),
        now=app.clock.now(),
        dry_run=dry_run,
    )
    keep = app.settings.store.backup_retention
    pruned = [
        *hygiene.prune_backups(state_dir / "backups", keep, dry_run),
        *clean.prune_run_dirs(state_dir / "validation", keep, dry_run),
    ]
    return CleanReport((*result.removed, *pruned), tuple(result.kept), dry_run)


def backup_state(app: App) -> Path:
    """Write an online backup of the state store and return its path."""
    state_dir = bootstrap.existing_state_dir(app.settings.store.state_dir)
    # The directory, resolved once by hygiene: a state.db that is a directory is named as
    # such there, not taken for a state directory holding another state.db.
    return hygiene.backup(
        state_dir,
        state_dir / "backups",
        retention=app.settings.store.backup_retention,
        now=app.clock.now(),
    )


def archive_state(app: App) -> Move | None:
    """Move every hot journal row and final intent to the history file now (no session runs).

    The writer's open may already move (over the bound, as every session start does); this
    then moves what is left, if anything.
    """
    from tradeguard.store.sqlite_store import SqliteStore

    require_existing(app.workspace)
    with app.workspace.lock():
        journal = app.workspace.open_journal(writer=True)
        try:
            if app.failpoint is not None and isinstance(journal, SqliteStore):
                journal.failpoint = app.failpoint.reach  # the move's crash drills
            return journal.archive()
        finally:
            journal.close()


def restore_state(app: App, source: Path | None, force: bool = False) -> Path:
    """Restore the latest good backup (or `source`) over the state store."""
    state_dir = _state_dir(app)
    # restore() itself refuses while a live session holds the state directory (unless force).
    failpoint = app.failpoint.reach if app.failpoint is not None else None  # crash drills
    return hygiene.restore(state_dir, source, backups_dir=state_dir / "backups", force=force,
                           failpoint=failpoint)


def incident_timeline(
    app: App, start: datetime | None, end: datetime | None
) -> IncidentTimeline:
    """Return breaker events, orders and operator actions in a window (default: last incident)."""
    from tradeguard import validation  # imported on use: it loads the breaker and fault plans

    store = require_existing(app.workspace).open_journal()
    try:
        return validation.incident_timeline(store, start, end)
    finally:
        store.close()


def validate_24h(
    app: App,
    request: ReplayRequest | None,
    listeners: Sequence[Callable[[Any], None]] = (),
    declare_faults: bool = True,
) -> ValidationResult:
    """Run 24h of data through the engine on a fresh workspace and evaluate the gates."""
    from tradeguard import validation

    return validation.validate_24h(app, request, run_session, listeners, declare_faults)

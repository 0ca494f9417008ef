"""The 24h validation run and its gates, and the incident timeline."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from engine.circuit_breaker import CircuitState
from engine.errors import StateError, TradeguardError
from engine.events import BreakerTransitioned
from engine.faults import FaultPlan
from engine.model import OrderStatus
from tradeguard import bootstrap
from tradeguard.contracts import (
    Gate,
    IncidentTimeline,
    SessionResult,
    TimelineOrder,
    Transition,
    ValidationFailedError,
    ValidationResult,
)
from tradeguard.data import resolve_data_dir, symbol_of
from tradeguard.faultplan import load_fault_plan
from tradeguard.requests import DataSpec, ReplayRequest

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.settings import Settings
    from tradeguard.workspace import Journal

__all__ = ["Gate", "ValidationFailedError", "ValidationResult", "default_request"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)

RunSession = Callable[..., SessionResult]


def default_request(settings: Settings, seed: int | None = None) -> ReplayRequest:
    """Return the calm-control day of the settings (real data) as a replay request."""
    replay = settings.replay
    path = bootstrap.require_data(resolve_data_dir(replay.data_dir) / replay.validation_file)
    start = datetime.combine(replay.validation_day, time(0), tzinfo=UTC)
    symbol = symbol_of(path)
    return ReplayRequest(
        data=(DataSpec(path, symbol),),
        start=start,
        end=start + timedelta(days=1),
        seed=replay.seed if seed is None else seed,
    )


def validate_24h(
    app: App,
    request: ReplayRequest | None,
    run_session: RunSession,
    listeners: Sequence[Callable[[Any], None]] = (),
    declare_faults: bool = True,
) -> ValidationResult:
    """Run one day through the full engine on a fresh workspace and evaluate every gate."""
    request = request if request is not None and request.data else default_request(app.settings)
    stamp = app.clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_app = app.on(app.workspace.child(f"validation/{stamp}-{os.getpid()}"))
    error: BaseException | None = None
    result: SessionResult | None = None
    try:
        result = run_session(run_app, request, listeners)
    except TradeguardError as e:
        error = e
    except Exception as e:  # a gate reports it; the flow turns the failed gate into Failed
        log.exception("validation_session_crashed state_dir=%s", run_app.workspace.location)
        error = e
    plan = load_fault_plan(request.faults) if request.faults and declare_faults else None
    gates = _evaluate(run_app, result, error, plan)
    verdict = ValidationResult(
        gates=tuple(gates),
        summary=result.summary if result else None,
        state_dir=run_app.workspace.location,
        start=request.start,
        end=request.end,
        faults=request.faults,
    )
    log.info("validation_done passed=%s state_dir=%s", verdict.passed, verdict.state_dir)
    return verdict


def _evaluate(
    app: App,
    result: SessionResult | None,
    error: BaseException | None,
    plan: FaultPlan | None,
) -> list[Gate]:
    persistence_error = error if isinstance(error, StateError) else None
    other_error = error if error is not None and persistence_error is None else None
    gates = [
        Gate(
            "no_unhandled_exception",
            other_error is None,
            repr(other_error) if other_error else "none",
            "no exception escapes the session",
        ),
    ]
    workspace = app.workspace
    if not workspace.exists():
        gates.append(
            Gate(
                "no_state_persistence_error",
                False,
                "no state store written",
                "state store written and intact",
            )
        )
        return gates
    store = workspace.open_journal()
    try:
        integrity = store.integrity_check()
        gates.append(
            Gate(
                "no_state_persistence_error",
                persistence_error is None and integrity == "ok",
                repr(persistence_error) if persistence_error else f"integrity_check={integrity}",
                "no StateError and PRAGMA integrity_check = ok",
            )
        )
        duplicates = store.duplicate_client_order_ids()
        gates.append(
            Gate(
                "no_duplicate_client_order_ids",
                not duplicates,
                {"count": len(duplicates), "ids": duplicates[:10]},
                "0 duplicates",
            )
        )
        transitions = store.transitions_between(_EPOCH, _FAR)
        gates.extend(_breaker_gates(app.settings, store, transitions, plan))
        problems = workspace.journal_problems(store)
        gates.append(
            Gate(
                "journal_checks",
                not problems,
                [asdict(p) for p in problems] or "all invariants hold",
                "every journal invariant holds",
            )
        )
    finally:
        store.close()
    bars = result.summary.bars if result else 0
    gates.append(Gate("bars_processed", bars > 0, bars, "> 0 bars traded through the engine"))
    return gates


def _escalations(transitions: list[BreakerTransitioned]) -> list[BreakerTransitioned]:
    return [
        t
        for t in transitions
        if CircuitState(t.to_state).severity > CircuitState(t.from_state).severity
    ]


def _breaker_gates(
    settings: Settings,
    store: Journal,
    transitions: list[BreakerTransitioned],
    plan: FaultPlan | None,
) -> list[Gate]:
    windows = list(plan.windows) if plan else []
    escalations = _escalations(transitions)

    def in_window(at: datetime) -> bool:
        return any(w.start <= at < w.end for w in windows)

    calm_limit = CircuitState.ALERT.severity
    outside = [
        t
        for t in escalations
        if CircuitState(t.to_state).severity > calm_limit and not in_window(t.at)
    ]
    gates = [
        Gate(
            "calm_stretches_at_most_alert",
            not outside,
            [{"at": t.at.isoformat(), "to": t.to_state, "trigger": t.trigger} for t in outside]
            or "none above ALERT",
            "no escalation above ALERT outside the declared fault windows",
        )
    ]
    demanded: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    needed = settings.breaker.alert_consecutive_failures
    for w in windows:
        intents = store.intents_between(w.start, w.end)
        failed = [
            i
            for i in intents
            if i.status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) or i.reason
        ]
        if len(failed) < needed:
            continue
        entry = {"start": w.start.isoformat(), "end": w.end.isoformat(), "failed": len(failed)}
        demanded.append(entry)
        if not any(w.start <= t.at <= w.end for t in escalations):
            missed.append(entry)
    gates.append(
        Gate(
            "fault_windows_escalated",
            not missed,
            {"demanded": demanded, "missed": missed},
            f"an escalation in every fault window with >= {needed} failed orders",
        )
    )
    return gates


def incident_timeline(
    store: Journal, start: datetime | None, end: datetime | None
) -> IncidentTimeline:
    """Return transitions, orders and operator actions of a window (default: last incident)."""
    incident: BreakerTransitioned | None = None
    if start is None:
        serious = [
            t for t in store.transitions_between(_EPOCH, _FAR) if t.to_state in ("HALT", "SHUTDOWN")
        ]
        if not serious:
            return IncidentTimeline(incident=None, start=None, end=None)
        incident = serious[-1]
        start = incident.at - timedelta(hours=1)
        after = [t for t in store.transitions_between(incident.at, _FAR) if t.to_state == "CLOSED"]
        end = end or (
            after[0].at + timedelta(minutes=5) if after else incident.at + timedelta(hours=6)
        )
    end = end or _FAR
    return IncidentTimeline(
        incident=Transition.of(incident) if incident else None,
        start=start,
        end=end,
        transitions=tuple(Transition.of(t) for t in store.transitions_between(start, end)),
        orders=tuple(TimelineOrder.of(i) for i in store.intents_between(start, end)),
        operator_actions=tuple(store.operator_actions_between(start, end)),
    )

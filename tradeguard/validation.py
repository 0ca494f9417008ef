"""The 24h validation run and its gates, and the incident timeline."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.journal import check_journal
from engine.circuit_breaker import CircuitState
from engine.errors import StateError, TradeguardError
from engine.events import BreakerTransitioned
from engine.faults import FaultPlan
from engine.model import OrderStatus
from tradeguard import bootstrap
from tradeguard.data import find_data_dir
from tradeguard.faultplan import load_fault_plan
from tradeguard.requests import DataSpec, ReplayRequest, SessionResult

if TYPE_CHECKING:
    from tradeguard.settings import Settings
    from tradeguard.store.sqlite_store import SqliteStore

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)

RunSession = Callable[..., SessionResult]


@dataclass(frozen=True)
class Gate:
    """One validation gate: its verdict, what was observed and what was required."""

    name: str
    passed: bool
    observed: Any
    expected: str


def default_request(settings: Settings, seed: int | None = None) -> ReplayRequest:
    """Return the calm-control day of the settings (real data) as a replay request."""
    replay = settings.replay
    data_dir = replay.data_dir or find_data_dir(Path(__file__).resolve().parents[1])
    path = bootstrap.require_data(data_dir / replay.validation_file)
    start = datetime.combine(replay.validation_day, time(0), tzinfo=UTC)
    symbol = replay.validation_file.split("_")[0].upper()
    return ReplayRequest(
        data=(DataSpec(path, symbol),),
        start=start,
        end=start + timedelta(days=1),
        seed=replay.seed if seed is None else seed,
    )


def _fresh_state_dir(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.store.state_dir / "validation" / f"{stamp}-{os.getpid()}"


def validate_24h(
    settings: Settings,
    request: ReplayRequest | None,
    run_session: RunSession,
    listeners: Sequence[Callable[[Any], None]] = (),
    declare_faults: bool = True,
) -> dict[str, Any]:
    """Run one day through the full engine on a fresh state dir and evaluate every gate."""
    request = request if request is not None and request.data else default_request(settings)
    state_dir = _fresh_state_dir(settings)
    run_settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"state_dir": state_dir})}
    )
    error: BaseException | None = None
    result: SessionResult | None = None
    try:
        result = run_session(run_settings, request, listeners)
    except TradeguardError as e:
        error = e
    except Exception as e:  # a gate reports it; the flow turns the failed gate into Failed
        log.exception("validation_session_crashed state_dir=%s", state_dir)
        error = e
    plan = load_fault_plan(request.faults) if request.faults and declare_faults else None
    gates = _evaluate(run_settings, state_dir, result, error, plan)
    passed = all(g.passed for g in gates)
    log.info("validation_done passed=%s state_dir=%s", passed, state_dir)
    return {
        "passed": passed,
        "gates": [asdict(g) for g in gates],
        "summary": result.summary if result else None,
        "state_dir": str(state_dir),
        "window": {
            "start": request.start.isoformat() if request.start else None,
            "end": request.end.isoformat() if request.end else None,
        },
        "faults": str(request.faults) if request.faults else None,
    }


def _evaluate(
    settings: Settings,
    state_dir: Path,
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
    if not bootstrap.store_path(state_dir).exists():
        gates.append(
            Gate(
                "no_state_persistence_error",
                False,
                "no state store written",
                "state store written and intact",
            )
        )
        return gates
    store = bootstrap.open_store(settings, state_dir)
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
        gates.extend(_breaker_gates(settings, store, transitions, plan))
        problems = check_journal(store)
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
    bars = result.summary.get("bars", 0) if result else 0
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
    store: SqliteStore,
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
    store: SqliteStore, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Return transitions, orders and operator actions of a window (default: last incident)."""
    incident: BreakerTransitioned | None = None
    if start is None:
        serious = [
            t for t in store.transitions_between(_EPOCH, _FAR) if t.to_state in ("HALT", "SHUTDOWN")
        ]
        if not serious:
            return {
                "incident": None,
                "window": None,
                "transitions": [],
                "intents": [],
                "operator_actions": [],
                "markdown": "No HALT or SHUTDOWN on record.",
            }
        incident = serious[-1]
        start = incident.at - timedelta(hours=1)
        after = [t for t in store.transitions_between(incident.at, _FAR) if t.to_state == "CLOSED"]
        end = end or (
            after[0].at + timedelta(minutes=5) if after else incident.at + timedelta(hours=6)
        )
    end = end or _FAR
    transitions = store.transitions_between(start, end)
    intents = store.intents_between(start, end)
    actions = store.operator_actions_between(start, end)
    timeline = {
        "incident": _transition(incident) if incident else None,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "transitions": [_transition(t) for t in transitions],
        "intents": [
            {
                "created_at": i.request.created_at.isoformat(),
                "client_order_id": i.client_order_id,
                "symbol": i.request.symbol,
                "side": i.request.side.value,
                "quantity": i.request.quantity,
                "status": i.status.value,
                "reason": i.reason,
            }
            for i in intents
        ],
        "operator_actions": [
            {"at": a.at.isoformat(), "action": a.action, "reason": a.reason, "who": a.who}
            for a in actions
        ],
    }
    timeline["markdown"] = timeline_markdown(timeline)
    return timeline


def _transition(t: BreakerTransitioned) -> dict[str, Any]:
    return {
        "at": t.at.isoformat(),
        "from": t.from_state,
        "to": t.to_state,
        "trigger": t.trigger,
        "observed": t.observed,
        "threshold": t.threshold,
        "reason": t.reason,
    }


def timeline_markdown(timeline: dict[str, Any]) -> str:
    """Render an incident timeline as Markdown (one row per event, time ordered)."""
    rows: list[tuple[str, str, str]] = []
    for t in timeline["transitions"]:
        measured = "" if t["observed"] is None else f", observed {t['observed']:g}"
        limit = "" if t["threshold"] is None else f", threshold {t['threshold']:g}"
        rows.append((t["at"], "breaker",
                     f"{t['from']} -> {t['to']} ({t['trigger']}{measured}{limit})"))
    for i in timeline["intents"]:
        rows.append((i["created_at"], "order", f"{i['side']} {i['quantity']} {i['symbol']} "
                     f"{i['status']} {i['reason']}".strip()))
    for a in timeline["operator_actions"]:
        rows.append((a["at"], "operator", f"{a['action']} by {a['who']}: {a['reason']}"))
    # Stable sort on time only: transitions keep their journal order within one instant.
    rows.sort(key=lambda row: row[0])
    head = timeline.get("incident")
    title = (
        f"# Incident: {head['to']} at {head['at']} ({head['trigger']})" if head else "# Timeline"
    )
    window = timeline["window"]
    lines = [
        title,
        "",
        f"Window: {window['start']} to {window['end']}",
        "",
        "| time (UTC) | kind | event |",
        "|---|---|---|",
    ]
    lines += [f"| {at} | {kind} | {text} |" for at, kind, text in rows]
    return "\n".join(lines) + "\n"

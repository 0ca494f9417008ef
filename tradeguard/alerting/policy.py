"""Which engine events become alerts, at which priority, and what the operator can do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.events import BreakerTransitioned, IssueReported
from engine.ports import Batch
from tradeguard.alerting.config import Priority
from tradeguard.alerting.model import AlertFacts

# Breaker levels in escalation order; HALF_OPEN is a probe on the way out of HALT.
_RANK = {"CLOSED": 0, "ALERT": 1, "THROTTLE": 2, "HALF_OPEN": 2, "HALT": 3, "SHUTDOWN": 4}
_PRIORITY = {
    "ALERT": Priority.WARNING,
    "THROTTLE": Priority.CRITICAL,
    "HALT": Priority.CRITICAL,
    "SHUTDOWN": Priority.EMERGENCY,
}
_DEPLOYMENTS = {
    "ALERT": "incident-report/on-breaker-halt",
    "THROTTLE": "halt/operator",
    "HALT": "recover/operator",
    "SHUTDOWN": "incident-report/on-breaker-halt",
}
_ISSUE_PRIORITY = {
    "CRASH_RECOVERY": Priority.WARNING,
    "DATA_FEED": Priority.WARNING,
    "MEMORY_ERROR": Priority.EMERGENCY,
    "DATABASE_CORRUPTION": Priority.EMERGENCY,
    "SECURITY_BREACH": Priority.EMERGENCY,
    "CRITICAL_SYSTEM_ERROR": Priority.EMERGENCY,
}


@dataclass(frozen=True)
class EngineFacts:
    """The engine settings an alert quotes when it says what the engine did."""

    throttle_size_factor: float = 0.5
    throttle_min_confidence: float = 0.7
    flatten_on_halt: bool = True
    shadow_mode: bool = False
    halt_recovery: str = "auto"
    halt_cooldown_seconds: float = 900.0


def is_escalation(from_state: str, to_state: str) -> bool:
    """Return True when a transition raises the breaker level (HALF_OPEN never does)."""
    if to_state == "HALF_OPEN":
        return False
    return _RANK.get(to_state, 0) > _RANK.get(from_state, 0)


def engine_action(to_state: str, facts: EngineFacts) -> str:
    """Return what the engine does at a breaker level, in the operator's words."""
    if facts.shadow_mode:
        return "shadow mode: the breaker only records; orders are NOT blocked"
    if to_state == "ALERT":
        return "trading continues at full size; the engine watches closely"
    if to_state == "THROTTLE":
        return (
            f"position size cut to x{facts.throttle_size_factor:g}; opening orders with "
            f"confidence <= {facts.throttle_min_confidence:g} are blocked"
        )
    if to_state == "HALT":
        closing = "open positions being closed at market" if facts.flatten_on_halt else (
            "open positions kept (session.flatten_on_halt is false)"
        )
        if facts.halt_recovery == "confirm":
            recovery = (
                "recovery needs an operator: after the cooldown the breaker stays in HALT "
                "until `tradeguard recover` (halt_recovery = confirm)"
            )
        else:
            recovery = (
                f"recovery is automatic: HALF_OPEN probing after "
                f"{facts.halt_cooldown_seconds:g} s without a new issue (halt_recovery = auto)"
            )
        return f"new orders blocked; {closing}; {recovery}"
    if to_state == "SHUTDOWN":
        return "engine stopped: every order blocked; a manual reset is required"
    if to_state == "HALF_OPEN":
        return "probing: small orders allowed to test recovery"
    return "trading resumed normally"


def next_steps(to_state: str) -> tuple[str, ...]:
    """Return the exact tradeguard commands that fit a breaker level."""
    steps = ["tradeguard status", "tradeguard incident-report"]
    if to_state in ("ALERT", "THROTTLE"):
        steps.append('tradeguard halt --reason "manual stop"')
    if to_state == "HALT":
        steps += ["tradeguard recover", "tradeguard alerts ack ID"]
    if to_state == "SHUTDOWN":
        steps += ["tradeguard reset", "tradeguard alerts ack ID"]
    return tuple(steps)


class AlertPolicy:
    """Derive alert facts from a committed batch (pure: no I/O, no clock)."""

    def __init__(self, facts: EngineFacts | None = None) -> None:
        self._facts = facts or EngineFacts()

    def derive(self, batch: Batch) -> list[AlertFacts]:
        """Return the alerts a batch causes: breaker transitions and alerting issues."""
        alerts = [self.transition(t) for t in batch.transitions]
        alerts += [a for a in (self.issue(i) for i in batch.issues) if a is not None]
        return alerts

    def transition(self, event: BreakerTransitioned) -> AlertFacts:
        """Return the alert of one breaker transition."""
        up = is_escalation(event.from_state, event.to_state)
        to_state = event.to_state
        priority = _PRIORITY.get(to_state, Priority.INFO) if up else Priority.INFO
        verb = "escalated" if up else "recovered"
        return AlertFacts(
            condition=f"breaker:{to_state}" if up else f"breaker:recovered:{to_state}",
            priority=priority,
            summary=f"breaker {verb} {event.from_state} -> {to_state}",
            event_at=event.at,
            tags=("breaker",),
            escalation=up,
            ack_required=up and to_state in ("HALT", "SHUTDOWN"),
            from_state=event.from_state,
            to_state=to_state,
            trigger=event.trigger,
            observed=event.observed,
            threshold=event.threshold,
            reason=event.reason,
            engine_action=engine_action(to_state, self._facts),
            next_steps=next_steps(to_state),
            deployment=_DEPLOYMENTS.get(to_state) if up else None,
        )

    def issue(self, event: IssueReported) -> AlertFacts | None:
        """Return the alert of an issue worth a message on its own, else None."""
        priority = _ISSUE_PRIORITY.get(event.issue_type)
        if priority is None:
            return None  # latency, slippage, failures, losses speak through transitions
        kind = str(event.details.get("kind", "")) if event.issue_type == "DATA_FEED" else ""
        condition = f"issue:{event.issue_type}" + (f":{kind}" if kind else "")
        return AlertFacts(
            condition=condition,
            priority=priority,
            summary=_issue_summary(event),
            event_at=event.at,
            tags=("data",) if event.issue_type == "DATA_FEED" else ("system",),
            escalation=priority is Priority.EMERGENCY,
            trigger=event.issue_type,
            reason=_short(event.details),
            engine_action=_issue_action(event.issue_type),
            next_steps=("tradeguard status", "tradeguard incident-report"),
        )


def _issue_summary(event: IssueReported) -> str:
    if event.issue_type == "CRASH_RECOVERY":
        return "session resumed after an unclean shutdown (crash recovery)"
    if event.issue_type == "DATA_FEED":
        return f"data feed issue: {event.details.get('kind', 'unknown')}"
    return f"critical issue: {event.issue_type}"


def _issue_action(issue_type: str) -> str:
    if issue_type == "CRASH_RECOVERY":
        return "open orders reconciled with the broker before trading resumed"
    if issue_type == "DATA_FEED":
        return "the bad bar was skipped; repeated issues escalate the breaker"
    return "breaker shut down: every order blocked"


def _short(details: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
    return text[:300]


def flow_alert(
    flow: str, run: str, state: str, message: str, at: datetime, deployment: str | None
) -> AlertFacts:
    """Return the alert of a failed or crashed Prefect flow run."""
    crashed = state.lower() == "crashed"
    # Keyed by run: the hook and the failure automation report the same run once.
    return AlertFacts(
        condition=f"flow:{flow}:{state.lower()}:{run}",
        priority=Priority.EMERGENCY if crashed else Priority.CRITICAL,
        summary=f"flow {flow} run {run} {state}",
        event_at=at,
        tags=("flow",),
        trigger=f"prefect flow run {state}",
        reason=message[:500],
        engine_action="the flow run stopped; scheduled runs continue",
        next_steps=("tradeguard status", "tradeguard alerts status"),
        deployment=deployment,
    )


def heartbeat_alert(
    pid: int | None, last_beat: datetime, now: datetime, stale_seconds: float
) -> AlertFacts:
    """Return the dead-man alert of a session whose heartbeat went stale."""
    age = (now - last_beat).total_seconds()
    return AlertFacts(
        condition="heartbeat:stale",
        priority=Priority.EMERGENCY,
        summary="trading session stopped sending heartbeats (dead-man switch)",
        event_at=now,
        tags=("heartbeat",),
        escalation=True,
        ack_required=True,
        trigger="heartbeat age",
        observed=round(age, 1),
        threshold=stale_seconds,
        reason=f"last heartbeat {last_beat.isoformat()} from pid {pid}",
        engine_action="unknown: the session process is dead or hung; positions may be open",
        next_steps=("tradeguard status", "tradeguard reconcile", "tradeguard alerts ack ID"),
        deployment="trading-session/daily",
    )


def missing_session_alert(
    expected_since: datetime, last_beat: datetime | None, now: datetime
) -> AlertFacts:
    """Return the alert of a scheduled session that is not running at all."""
    return AlertFacts(
        condition="heartbeat:missing",
        priority=Priority.EMERGENCY,
        summary="scheduled trading session is not running",
        event_at=now,
        tags=("heartbeat",),
        trigger="no heartbeat since the scheduled start",
        reason=f"scheduled since {expected_since.isoformat()}; last heartbeat "
        f"{last_beat.isoformat() if last_beat else 'never'}",
        engine_action="nothing is trading: the session never started or already ended",
        next_steps=("tradeguard status", "tradeguard server"),
        deployment="trading-session/daily",
    )


def probe_alert(at: datetime) -> AlertFacts:
    """Return the message `tradeguard alerts test` sends."""
    return AlertFacts(
        condition="test",
        priority=Priority.INFO,
        summary="test message from tradeguard alerts test",
        event_at=at,
        tags=("test",),
        engine_action="nothing: this is a test",
        next_steps=("tradeguard alerts status",),
    )

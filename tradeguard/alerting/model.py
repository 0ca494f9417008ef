"""Values of the alerting package: what an alert states, and how the outbox sees it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tradeguard.alerting.config import Priority


@dataclass(frozen=True)
class AlertFacts:
    """What one alert states, undecorated; the renderer turns it into text and Markdown.

    `condition` names the repeating condition for dedup and silences (e.g. breaker:HALT,
    issue:DATA_FEED:invalid_bar); `escalation` alerts bypass the dedup window.
    """

    condition: str
    priority: Priority
    summary: str
    event_at: datetime
    tags: tuple[str, ...] = ()
    escalation: bool = False
    ack_required: bool = False
    from_state: str | None = None
    to_state: str | None = None
    trigger: str | None = None
    observed: float | None = None
    threshold: float | None = None
    reason: str = ""
    engine_action: str = ""
    next_steps: tuple[str, ...] = ()
    deployment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (event_at as ISO-8601 UTC)."""
        data = asdict(self)
        data["priority"] = self.priority.value
        data["event_at"] = self.event_at.isoformat()
        data["tags"] = list(self.tags)
        data["next_steps"] = list(self.next_steps)
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> AlertFacts:
        """Rebuild facts written by to_json_dict."""
        values = dict(data)
        values["priority"] = Priority(values["priority"])
        values["event_at"] = datetime.fromisoformat(values["event_at"])
        values["tags"] = tuple(values.get("tags", ()))
        values["next_steps"] = tuple(values.get("next_steps", ()))
        return cls(**values)


@dataclass(frozen=True)
class OutboxAlert:
    """One alert as recorded in the outbox."""

    alert_id: int
    facts: AlertFacts
    queued_at: datetime
    repeat_count: int = 1
    first_seen: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    escalated_at: datetime | None = None
    silenced_by: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One alert's delivery to one channel (round 0 = first send, 1 = escalation)."""

    delivery_id: int
    alert_id: int
    channel: str
    round: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class RenderedMessage:
    """A decorated alert: title, plain text and a Markdown body."""

    title: str
    text: str
    markdown: str
    priority: Priority


@dataclass(frozen=True)
class SendResult:
    """Outcome of one delivery attempt to one channel; the error is already redacted."""

    ok: bool
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Silence:
    """A muted condition pattern over a wall-time window, with who set it and why."""

    silence_id: int
    pattern: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    who: str
    created_at: datetime
    cancelled_at: datetime | None = None

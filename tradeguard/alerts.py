"""Notifier interface for alerts raised outside a session (flow hooks); see tradeguard/alerting.

Inside a session, alerts never go through a Notifier: the state store writes them into the
outbox in the engine event's own transaction and the delivery worker sends them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tradeguard.alerting.model import AlertFacts
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)


class Severity(StrEnum):
    """How urgent an alert is (the values of tradeguard.alerting.config.Priority)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class Alert:
    """One notification: a stable event name, human text and, when known, its facts."""

    event: str
    title: str
    body: str
    severity: Severity
    facts: AlertFacts | None = None


class Notifier(Protocol):
    """Delivers alerts to operators; returns True when the alert is safely on its way."""

    def notify(self, alert: Alert) -> bool:
        """Send one alert."""
        ...


class LogNotifier:
    """Fallback notifier: one structured log line per alert, no external channel."""

    def notify(self, alert: Alert) -> bool:
        """Log the alert and report success."""
        log.warning(
            "alert event=%s severity=%s title=%s", alert.event, alert.severity.value, alert.title
        )
        return True


class OutboxNotifier:
    """Record the alert in the state store's outbox and deliver it now (bounded).

    Without a state store (nothing ran yet) the alert goes straight to the channels.
    """

    def __init__(self, settings: Settings, db_path: Path) -> None:
        self._settings = settings
        self._db_path = db_path

    def notify(self, alert: Alert) -> bool:
        """Queue, then deliver; True when queued durably or accepted by a channel."""
        from engine.clock import SystemClock
        from engine.errors import StateError
        from tradeguard.alerting import service

        facts = alert.facts or _facts(alert)
        config = self._settings.alerts
        zone = self._settings.orchestration.schedule_timezone
        now = datetime.now(UTC)
        if not self._db_path.exists():
            return service.notify_direct(config, zone, facts, now)
        try:
            service.enqueue(config, self._db_path, facts, now)
        except StateError as e:  # a corrupt or locked store must not swallow the alert
            log.error("alert_outbox_unavailable error=%s fallback=direct", type(e).__name__)  # noqa: TRY400
            return service.notify_direct(config, zone, _store_failed(facts, e), now)
        service.deliver(config, zone, self._db_path, SystemClock(), config.drain_timeout_seconds)
        return True


def _facts(alert: Alert) -> AlertFacts:
    from tradeguard.alerting.config import Priority
    from tradeguard.alerting.model import AlertFacts

    return AlertFacts(
        condition=f"notify:{alert.event}",
        priority=Priority(alert.severity.value),
        summary=alert.title,
        event_at=datetime.now(UTC),
        tags=("system",),
        escalation=True,
        reason=alert.body[:500],
    )


def _store_failed(facts: AlertFacts, error: Exception) -> AlertFacts:
    from dataclasses import replace

    note = f" [state store unavailable: {type(error).__name__}; alert sent without the outbox]"
    return replace(facts, reason=(facts.reason + note)[:600])

"""Alerting interface of the shell. The Apprise adapter (its own issue) implements Notifier."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)


class Severity(StrEnum):
    """How urgent an alert is; renderers map it to channel-specific decoration."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class Alert:
    """One notification: a stable event name plus human text."""

    event: str
    title: str
    body: str
    severity: Severity


class Notifier(Protocol):
    """Delivers alerts to operators; returns True when at least one channel accepted it."""

    def notify(self, alert: Alert) -> bool:
        """Send one alert."""
        ...


class LogNotifier:
    """Default notifier: one structured log line per alert, no external channel."""

    def notify(self, alert: Alert) -> bool:
        """Log the alert and report success."""
        log.warning(
            "alert event=%s severity=%s title=%s", alert.event, alert.severity.value, alert.title
        )
        return True

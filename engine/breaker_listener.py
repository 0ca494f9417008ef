"""Typed listeners of the circuit breaker, modelled on pybreaker's CircuitBreakerListener.

A listener receives the breaker's past-tense events as they happen: `state_changed` for every
transition, `issue_reported` for every unhealthy input (and crash recoveries), `operator_acted`
for every operator command. Listener errors are logged and swallowed: a failing notifier must
never change what the breaker decides.
"""

from __future__ import annotations

import logging
from typing import Protocol

from engine.events import BreakerTransitioned, IssueReported, OperatorActed

log = logging.getLogger(__name__)


class BreakerListener(Protocol):
    """Receives the breaker's events; every method must return quickly and do no trading."""

    def state_changed(self, event: BreakerTransitioned) -> None:
        """Handle one state transition."""

    def issue_reported(self, issue: IssueReported) -> None:
        """Handle one reported issue."""

    def operator_acted(self, event: OperatorActed) -> None:
        """Handle one operator action (override, recovery, reset, refusals)."""


class ListenerSet:
    """The registered listeners, called in registration order, errors isolated per listener."""

    def __init__(self) -> None:
        self._listeners: list[BreakerListener] = []

    def add(self, listener: BreakerListener) -> None:
        """Register listener for every later event."""
        self._listeners.append(listener)

    def state_changed(self, event: BreakerTransitioned) -> None:
        """Tell every listener about a transition."""
        for listener in list(self._listeners):
            try:
                listener.state_changed(event)
            except Exception:
                log.exception("breaker_listener_failed event=BreakerTransitioned")

    def issue_reported(self, issue: IssueReported) -> None:
        """Tell every listener about an issue."""
        for listener in list(self._listeners):
            try:
                listener.issue_reported(issue)
            except Exception:
                log.exception("breaker_listener_failed event=IssueReported type=%s",
                              issue.issue_type)

    def operator_acted(self, event: OperatorActed) -> None:
        """Tell every listener about an operator action."""
        for listener in list(self._listeners):
            try:
                listener.operator_acted(event)
            except Exception:
                log.exception("breaker_listener_failed event=OperatorActed action=%s",
                              event.action)

"""The control port over one local state directory, through the use cases."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from engine.clock import Clock
from tradeguard import bootstrap, services
from tradeguard.cockpit.port import ACTIONS
from tradeguard.settings import Settings

EPOCH_TEXT = "1970-01-01T00:00:00Z"


class LocalControl:
    """Status, actions, issues and transitions of settings.store.state_dir."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    def status(self) -> Mapping[str, Any]:
        """Return the status use case's report."""
        return services.status(self._settings)

    def act(self, action: str, reason: str, who: str) -> Mapping[str, Any]:
        """Apply or queue an operator action; only the API's actions are accepted."""
        if action not in ACTIONS:
            message = f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
            raise ValueError(message)
        receipt = services.operator_command(self._settings, action, reason, who)
        return {
            "action": receipt.action,
            "applied": receipt.applied_directly,
            "queued": not receipt.applied_directly,
            "command_id": receipt.command_id,
            **receipt.detail,
        }

    def _session_now(self) -> datetime:
        # A replay's issues are stamped in simulated time: "the last N minutes" are the
        # session's last minutes, not the wall clock's.
        clock = services.status(self._settings).get("clock")
        return datetime.fromisoformat(clock) if clock else self._clock.now()

    def issues(self, minutes: float) -> Sequence[Mapping[str, Any]]:
        """Return the issues of the last `minutes` of session time."""
        end = self._session_now()
        store = bootstrap.open_store(self._settings, self._settings.store.state_dir)
        try:
            rows = store.issues_between(end - timedelta(minutes=minutes), end)
        finally:
            store.close()
        return [{"at": at, "issue_type": kind, "details": json.loads(details)}
                for at, kind, details in rows]

    def transitions(self, limit: int) -> Sequence[Mapping[str, Any]]:
        """Return the last `limit` transitions as the JSON summary shows them."""
        store = bootstrap.open_store(self._settings, self._settings.store.state_dir)
        try:
            return [services.transition_dict(t) for t in store.recent_transitions(limit)]
        finally:
            store.close()

"""The control port over one workspace (a state directory), through the use cases."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tradeguard import services
from tradeguard.app import App
from tradeguard.cockpit.port import ACTIONS
from tradeguard.contracts import Transition


class LocalControl:
    """Status, actions, issues and transitions of the App's workspace."""

    def __init__(self, app: App) -> None:
        self._app = app

    def status(self) -> Mapping[str, Any]:
        """Return the status use case's report."""
        return services.status(self._app)

    def act(self, action: str, reason: str, who: str) -> Mapping[str, Any]:
        """Apply or queue an operator action; only the API's actions are accepted."""
        if action not in ACTIONS:
            message = f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
            raise ValueError(message)
        receipt = services.operator_command(self._app, action, reason, who)
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
        clock = services.status(self._app).get("clock")
        return datetime.fromisoformat(clock) if clock else self._app.clock.now()

    def issues(self, minutes: float) -> Sequence[Mapping[str, Any]]:
        """Return the issues of the last `minutes` of session time."""
        end = self._session_now()
        journal = self._app.workspace.open_journal()
        try:
            rows = journal.issues_between(end - timedelta(minutes=minutes), end)
        finally:
            journal.close()
        return [{"at": at, "issue_type": kind, "details": json.loads(details)}
                for at, kind, details in rows]

    def transitions(self, limit: int) -> Sequence[Mapping[str, Any]]:
        """Return the last `limit` transitions as the JSON summary shows them."""
        journal = self._app.workspace.open_journal()
        try:
            return [Transition.of(t).to_json() for t in journal.recent_transitions(limit)]
        finally:
            journal.close()

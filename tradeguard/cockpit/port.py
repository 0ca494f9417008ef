"""The control port the HTTP API (and any other cockpit) drives: read state, act on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

ACTIONS = ("halt", "resume", "recover", "reset")


class ControlPort(Protocol):
    """Use cases an operator surface needs; the composition root provides them."""

    def status(self) -> Mapping[str, Any]:
        """Return the latest committed state of the session (see `tradeguard status --json`)."""
        ...

    def act(self, action: str, reason: str, who: str) -> Mapping[str, Any]:
        """Apply or queue one operator action and return the receipt."""
        ...

    def issues(self, minutes: float) -> Sequence[Mapping[str, Any]]:
        """Return the issues reported to the breaker in the last `minutes` of session time."""
        ...

    def transitions(self, limit: int) -> Sequence[Mapping[str, Any]]:
        """Return the latest breaker transitions, newest last."""
        ...

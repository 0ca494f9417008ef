"""The breaker-transition contract, re-exported by `tradeguard.contracts`.

In a module of its own so that `tradeguard status` loads it without the other contracts
(creating a dataclass costs ~0.5 ms at import on Python 3.11, and status needs this one only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.events import BreakerTransitioned


@dataclass(frozen=True)
class Transition:
    """One breaker transition as operators see it in summaries, status and timelines."""

    at: datetime
    from_state: str
    to_state: str
    trigger: str
    observed: float | None = None
    threshold: float | None = None
    reason: str = ""

    @classmethod
    def of(cls, event: BreakerTransitioned) -> Transition:
        """Return the contract view of an engine transition event."""
        return cls(
            event.at,
            event.from_state,
            event.to_state,
            event.trigger,
            event.observed,
            event.threshold,
            event.reason,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object (keys at, from, to, trigger, observed, threshold, reason)."""
        return {
            "at": self.at.isoformat(),
            "from": self.from_state,
            "to": self.to_state,
            "trigger": self.trigger,
            "observed": self.observed,
            "threshold": self.threshold,
            "reason": self.reason,
        }

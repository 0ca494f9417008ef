"""Crash injection for recovery testing: kill -9 this very process at a chosen point.

Set `TRADEGUARD_FAILPOINT=<point>:<n>` to SIGKILL the process the n-th time it reaches
<point>. Points: `before_broker` (the intent is journaled, the broker not yet called),
`inside_broker` (the venue has the order, the acknowledgement is lost), `after_commit` (a
journal transaction just committed). Unset, nothing is wrapped and nothing is slower.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigurationError
from engine.model import BrokerAck, OrderRequest
from engine.ports import Batch

ENV = "TRADEGUARD_FAILPOINT"
POINTS = ("before_broker", "inside_broker", "after_commit")


@dataclass
class Failpoint:
    """Counts arrivals at one point and kills the process on the n-th."""

    point: str
    nth: int
    seen: int = 0

    def reach(self, point: str) -> None:
        """Count an arrival at point; SIGKILL this process on the chosen one."""
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.nth:
            os.kill(os.getpid(), signal.SIGKILL)


def from_env(environ: dict[str, str] | None = None) -> Failpoint | None:
    """Return the configured failpoint, or None when the variable is unset."""
    value = (environ if environ is not None else dict(os.environ)).get(ENV, "").strip()
    if not value:
        return None
    point, _, count = value.partition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        message = f"{ENV}={value!r}: expected <point>:<n> with point one of {', '.join(POINTS)}"
        raise ConfigurationError(message)
    return Failpoint(point, int(count))


class FailpointBroker:
    """Broker wrapper that can die around place_order; everything else passes through."""

    def __init__(self, inner: Any, failpoint: Failpoint) -> None:
        self._inner = inner
        self._failpoint = failpoint

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Maybe die before, call the broker, maybe die before the ack is seen."""
        self._failpoint.reach("before_broker")
        ack: BrokerAck = self._inner.place_order(order)
        self._failpoint.reach("inside_broker")
        return ack

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FailpointStore:
    """Store wrapper that can die right after a commit."""

    def __init__(self, inner: Any, failpoint: Failpoint) -> None:
        self._inner = inner
        self._failpoint = failpoint

    def commit(self, batch: Batch) -> None:
        """Commit, then maybe die."""
        self._inner.commit(batch)
        self._failpoint.reach("after_commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

"""Crash injection for recovery testing: kill -9 this very process at a chosen point.

Set `TRADEGUARD_FAILPOINT=<point>:<n>` to SIGKILL the process the n-th time it reaches
<point>. Points: `before_broker` (the intent is journaled, the broker not yet called),
`inside_broker` (the venue has the order, the acknowledgement is lost), `venue_fill` (the
paper venue's book committed a bar's fills, the journal has not seen them), `after_commit` (a
journal transaction just committed), `after_fill` (a transaction booking a fill just
committed: between the trades of an order filled in several), and the two steps of an archive
move of the state store (`archive_history_committed`: rows copied to history.db, not yet deleted
from state.db; `archive_hot_committed`: both done, history not yet checkpointed and sealed), and
`restore_set_aside` (a `state restore` set the current files aside; the copies are not in place).
Unset, nothing is wrapped and nothing is slower.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from engine.broker import Broker, PaperBroker
from engine.errors import ConfigurationError
from engine.model import Bar, BrokerAck, BrokerOrder, Fill, OrderRequest
from engine.ports import Batch, EngineStore, OperatorCommand, RecoveredState
from engine.session_state import MarketSimulator

ENV = "TRADEGUARD_FAILPOINT"
POINTS = (
    "before_broker",
    "inside_broker",
    "venue_fill",
    "after_commit",
    "after_fill",
    "archive_history_committed",
    "archive_hot_committed",
    "restore_set_aside",
)


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
    """Broker that can die around place_order; every other call goes to the inner broker.

    It is also a MarketSimulator, so a wrapped paper venue still sees every bar and fills.
    """

    def __init__(self, inner: Broker, failpoint: Failpoint) -> None:
        self._inner = inner
        self._failpoint = failpoint
        self._venue = inner if isinstance(inner, MarketSimulator) else None
        self._paper = inner if isinstance(inner, PaperBroker) else None

    def on_bar(self, bar: Bar) -> None:
        """Hand the bar to a simulated venue (a real venue needs none); maybe die once it filled."""
        if self._paper is not None:
            if self._paper.on_bar(bar):
                self._failpoint.reach("venue_fill")
        elif self._venue is not None:
            self._venue.on_bar(bar)

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Maybe die before, call the broker, maybe die before the ack is seen."""
        self._failpoint.reach("before_broker")
        ack = self._inner.place_order(order)
        self._failpoint.reach("inside_broker")
        return ack

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        """Cancel at the inner broker."""
        return self._inner.cancel_order(client_order_id)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Return the inner broker's view of an order."""
        return self._inner.get_order(client_order_id)

    def get_fills(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order from the inner broker."""
        return self._inner.get_fills(client_order_id)

    def get_positions(self) -> dict[str, float]:
        """Return the inner broker's positions."""
        return self._inner.get_positions()

    def get_balance(self) -> float:
        """Return the inner broker's free cash."""
        return self._inner.get_balance()

    def poll_fills(self) -> list[Fill]:
        """Return the inner broker's new fills."""
        return self._inner.poll_fills()


class FailpointStore:
    """EngineStore that can die right after a commit; every other call goes to the inner one."""

    def __init__(self, inner: EngineStore, failpoint: Failpoint) -> None:
        self._inner = inner
        self._failpoint = failpoint

    def commit(self, batch: Batch) -> None:
        """Commit, then maybe die."""
        self._inner.commit(batch)
        self._failpoint.reach("after_commit")
        if batch.fills:
            self._failpoint.reach("after_fill")

    def load(self) -> RecoveredState:
        """Return the inner store's recovered state."""
        return self._inner.load()

    def fill_recorded(self, fill_id: str) -> bool:
        """Ask the inner store whether the fill is journaled."""
        return self._inner.fill_recorded(fill_id)

    def intent_recorded(self, client_order_id: str) -> bool:
        """Ask the inner store whether the order's intent is journaled."""
        return self._inner.intent_recorded(client_order_id)

    def pending_commands(self) -> list[OperatorCommand]:
        """Return the inner store's pending operator commands."""
        return self._inner.pending_commands()

"""Wall-clock throttle for the operator-command poll of a running session."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.ports import Batch, EngineStore, OperatorCommand, RecoveredState

COMMAND_POLL_SECONDS = 0.05
# Clock reads aimed at per interval once the session's pace is known (see `skip`).
ASKS_PER_INTERVAL = 8


class ThrottledCommands:
    """EngineStore whose pending_commands() asks the database at most every `interval` s.

    The session polls every bar; a full-speed replay handles thousands of bars in 50 ms and a
    real-time session one bar a minute, so commands still land within one real-time bar.
    `skip` tells a replaying session how many of its polls it may leave out (engine.session's
    PacedCommands): at the pace of the last interval, about ASKS_PER_INTERVAL asks per
    interval. A live session (wall clock) ignores it and asks at every poll.
    """

    __slots__ = ("_asked_at", "_asks", "_inner", "_interval", "_monotonic", "_next", "skip")

    def __init__(
        self,
        inner: EngineStore,
        interval: float = COMMAND_POLL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._interval = interval
        self._monotonic = monotonic
        self._next = 0.0
        self._asked_at: float | None = None  # when the database was last asked
        self._asks = 0  # polls since then, each standing for skip + 1 of the session's polls
        self.skip = 0

    def pending_commands(self) -> list[OperatorCommand]:
        """Return queued commands, or nothing when the last look was too recent."""
        moment = self._monotonic()
        self._asks += 1
        if moment < self._next:
            return []
        self._next = moment + self._interval
        self._pace(moment)
        return self._inner.pending_commands()

    def _pace(self, moment: float) -> None:
        """Set skip from the polls per second seen since the database was last asked."""
        last, polls = self._asked_at, self._asks * (self.skip + 1)
        self._asked_at, self._asks = moment, 0
        elapsed = 0.0 if last is None else moment - last
        if elapsed <= 0.0:
            self.skip = 0
            return
        per_ask = polls / elapsed * self._interval / ASKS_PER_INTERVAL
        self.skip = max(0, int(per_ask) - 1)

    def load(self) -> RecoveredState:
        """Return the inner store's recovered state."""
        return self._inner.load()

    def commit(self, batch: Batch) -> None:
        """Commit through the inner store."""
        self._inner.commit(batch)

    def fill_recorded(self, fill_id: str) -> bool:
        """Ask the inner store whether the fill is journaled."""
        return self._inner.fill_recorded(fill_id)

    def intent_recorded(self, client_order_id: str) -> bool:
        """Ask the inner store whether the order's intent is journaled."""
        return self._inner.intent_recorded(client_order_id)

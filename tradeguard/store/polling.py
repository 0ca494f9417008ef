"""Wall-clock throttle for the operator-command poll of a running session."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.ports import Batch, EngineStore, OperatorCommand, RecoveredState

COMMAND_POLL_SECONDS = 0.05


class ThrottledCommands:
    """EngineStore whose pending_commands() asks the database at most every `interval` s.

    The session polls every bar; a full-speed replay handles thousands of bars in 50 ms and a
    real-time session one bar a minute, so commands still land within one real-time bar.
    """

    __slots__ = ("_inner", "_interval", "_monotonic", "_next")

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

    def pending_commands(self) -> list[OperatorCommand]:
        """Return queued commands, or nothing when the last look was too recent."""
        moment = self._monotonic()
        if moment < self._next:
            return []
        self._next = moment + self._interval
        return self._inner.pending_commands()

    def load(self) -> RecoveredState:
        """Return the inner store's recovered state."""
        return self._inner.load()

    def commit(self, batch: Batch) -> None:
        """Commit through the inner store."""
        self._inner.commit(batch)

    def fill_recorded(self, fill_id: str) -> bool:
        """Ask the inner store whether the fill is journaled."""
        return self._inner.fill_recorded(fill_id)

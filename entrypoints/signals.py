"""Signals end a session cleanly: the handler only sets a flag the trading loop reads."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

# SIGINT keeps the shell convention 128 + 2; SIGTERM and SIGHUP are an ordered stop: 0.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 0, "SIGHUP": 0}


class StopFlag:
    """Set by a signal handler; the session asks `reason()` between bars."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def reason(self) -> str | None:
        """Return why the session must stop, or None to keep going."""
        if self.signal_name is None:
            return None
        return f"stopped by {self.signal_name}"

    def exit_code(self) -> int:
        """Return the process exit code for the signal received (0 when none)."""
        return EXIT_CODES.get(self.signal_name or "", 0)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: remember the first stop signal (nothing else runs in it)."""
        name = signal.Signals(signum).name
        if self.signal_name is None:
            log.warning("session_stop_requested signal=%s", name)
        self.signal_name = self.signal_name or name


def _stop_signals() -> list[signal.Signals]:
    names = ("SIGTERM", "SIGINT", "SIGHUP")
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Install SIGTERM/SIGINT/SIGHUP handlers setting a StopFlag; restore the old ones after."""
    flag = StopFlag()
    previous = {sig: signal.signal(sig, flag.handle) for sig in _stop_signals()}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

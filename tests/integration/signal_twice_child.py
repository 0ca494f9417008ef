"""Child for the repeated-signal tests: the real CLI, signalled twice.

Run as `python -m tests.integration.signal_twice_child SIGNAL <tradeguard args>`. The first
signal arrives as the session starts (it stops cleanly at once); the second arrives while its
summary is being printed: an impatient second Ctrl-C. Covers `replay` and `venue run`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import entrypoints.cli_venue
import tradeguard.venues.service
from tradeguard import render, services


def _signalling(fn: Callable[..., Any], signum: signal.Signals) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signum)
        return fn(*args, **kwargs)

    return wrapped


def main() -> None:
    """Signal once as the session starts and once as its summary is printed; run the CLI."""
    signum = signal.Signals[sys.argv[1]]
    services.run_session = _signalling(services.run_session, signum)
    render.summary_lines = _signalling(render.summary_lines, signum)
    for module, name in ((tradeguard.venues.service, "run_live"),
                         (entrypoints.cli_venue, "echo_data")):
        setattr(module, name, _signalling(getattr(module, name), signum))
    from entrypoints.cli import main as cli

    sys.argv = ["tradeguard", *sys.argv[2:]]
    cli()


if __name__ == "__main__":
    main()

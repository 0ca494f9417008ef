"""Child for the repeated-signal test: the real CLI, with a second signal after the session ends.

Run as `python -m tests.integration.signal_twice_child SIGNAL <tradeguard args>`. The first
signal arrives before the first bar (the session stops cleanly at once); the second arrives
while the summary is being printed: an impatient second Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from tradeguard import render, services


def main() -> None:
    """Signal once as the session starts and once as its summary is rendered; run the CLI."""
    signum = signal.Signals[sys.argv[1]]
    run, lines = services.run_session, render.summary_lines

    def first(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signum)
        return run(*args, **kwargs)

    def second(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signum)
        return lines(*args, **kwargs)

    services.run_session = first
    render.summary_lines = second
    from entrypoints.cli import main as cli

    sys.argv = ["tradeguard", *sys.argv[2:]]
    cli()


if __name__ == "__main__":
    main()

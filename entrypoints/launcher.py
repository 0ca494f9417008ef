"""The console script's first module: a Ctrl-C while the CLI is still loading exits quietly.

The CLI installs its own signal handling once it runs (a session stops cleanly between bars);
before that, an interrupt lands in an import and Python would print a KeyboardInterrupt
traceback. Nothing has been read or written at that point, so the exit is 130 without one.
"""

from __future__ import annotations

EXIT_INTERRUPTED = 130


def main() -> None:
    """Load and run the CLI; an interrupt during loading exits 130 without a traceback."""
    try:
        from entrypoints.cli import main as run_cli
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None
    run_cli()

"""Child process for the kill -9 venue tests: a live session against a running emulator.

Run as `python -m tests.integration.venue_child URL STATE_DIR END_ISO`. The session clock is a
SimulatedClock that starts at the emulator's market time and pushes every step to it
(/emulator/v1/clock), so parent and child agree on the market. TRADEGUARD_FAILPOINT kills it.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from engine.clock import SimulatedClock
from tests.integration.venue_support import live_settings, run_live_until, venue_config


def _emulator_now(url: str) -> datetime:
    with urllib.request.urlopen(f"{url}/emulator/v1/state", timeout=10) as answer:
        return datetime.fromisoformat(json.load(answer)["now"])


class PushedClock(SimulatedClock):
    """A SimulatedClock that moves the emulator's market clock along with it."""

    __slots__ = ("_url",)

    def __init__(self, start: datetime, url: str) -> None:
        super().__init__(start)
        self._url = url

    def advance_to(self, when: datetime) -> None:
        """Move both clocks forward."""
        super().advance_to(when)
        request = urllib.request.Request(
            f"{self._url}/emulator/v1/clock?ts={quote(when.isoformat())}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10):
            pass


def main() -> None:
    """Run the session to END_ISO and print the reason it ended."""
    url, state_dir, end = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
    settings = live_settings(state_dir, venue_config(url))
    clock = PushedClock(_emulator_now(url), url)
    runtime, reconciled, finished = run_live_until(settings, clock, end)
    synced = runtime.synced
    print(json.dumps({
        "reconciled": reconciled, "reason": finished.reason,
        "venue_fills_booked": len(synced.fills_booked) if synced else None,
    }), flush=True)


if __name__ == "__main__":
    main()

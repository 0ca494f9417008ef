"""kill -9 around the venue call of a live session: no duplicate order, every fill once.

The emulator runs in this process; each session is a child process killed by its own
TRADEGUARD_FAILPOINT: `inside_broker` (the venue has the order, the ack is lost with the
process) and `before_broker` (the intent is journaled, the order never sent). Restarts
reconcile by client order id: the first kind is found and never resent, the second is
confirmed missing and resent under the same id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from engine.clock import SimulatedClock
from tests.integration.venue_support import (
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    journal,
    make_emulator,
    minutes,
    serving,
)

REPO = Path(__file__).resolve().parents[2]


def _child(
    url: str, state_dir: Path, end: str, failpoint: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    if failpoint:
        env["TRADEGUARD_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.venue_child", url, str(state_dir), end],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_kill9_inside_and_before_the_venue_call_sends_no_duplicate_and_books_fills_once(
    tmp_path: Path, data_dir: Path
) -> None:
    emulator = make_emulator(data_dir, SimulatedClock(T0))
    state = tmp_path / "state"
    end = (T0 + minutes(60.1)).isoformat()
    with serving(emulator) as server:
        killed_inside = _child(server.url, state, end, "inside_broker:3")
        assert killed_inside.returncode == -signal.SIGKILL, killed_inside.stderr[-2000:]
        submitted_before_restart = emulator.submissions()
        killed_before = _child(server.url, state, end, "before_broker:2")
        assert killed_before.returncode == -signal.SIGKILL, killed_before.stderr[-2000:]
        # Restart 1 found order 3 (never resent), sent order 4, died before sending order 5.
        assert len(emulator.submissions()) == 4
        finished = _child(server.url, state, end, None)
        assert finished.returncode == 0, finished.stderr[-2000:]
    outcome = json.loads(finished.stdout.splitlines()[-1])
    assert outcome["reason"] == "end of data"
    # Order 5: confirmed missing and resent as recovery takes its intent up (journaled after
    # the last snapshot), then followed up with the venue: working or already filled.
    assert outcome["reconciled"] in ({"SUBMITTED": 1}, {"FILLED": 1})
    book = journal(state)
    submissions = emulator.submissions()
    assert len(submitted_before_restart) == 3  # the third order reached the venue, then -9
    assert max(Counter(submissions).values()) == 1
    statuses = [status for _, status, _ in book["intents"]]
    assert len(statuses) == len(submissions) >= 6
    assert set(statuses[:-1]) == {"FILLED"}
    trades = Counter(t[1] for t in book["trades"])
    assert max(trades.values()) == 1
    filled_at_venue = sum(1 for o in emulator.orders() if o.executed > 0)
    assert len(trades) == statuses.count("FILLED") in (filled_at_venue, filled_at_venue - 1)

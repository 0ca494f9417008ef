"""Child process for restart tests: set up state through the real runtime, then kill -9 itself.

Run as `python -m tests.integration.restart_child SCENARIO STATE_DIR`.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.ports import Batch
from tradeguard import bootstrap
from tradeguard.settings import load_settings

T0 = datetime(2022, 1, 21, 12, 0, tzinfo=UTC)


def main() -> None:
    """Apply one scenario's pre-crash state, commit it, and die without any cleanup."""
    scenario, state_dir = sys.argv[1], Path(sys.argv[2])
    settings = load_settings(store={"state_dir": state_dir})
    runtime = bootstrap.build_runtime(settings, seed=0, faults=None, first_bar=T0)
    session = runtime.session
    if scenario == "failures4":
        for n in range(4):
            session.breaker.report_order_failure({"attempt": n})
    elif scenario == "pnl800":
        session.risk.record_fill(-800.0)
    elif scenario == "trades18":
        for _ in range(18):
            session.risk.record_fill(0.0)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    session.commit(Batch())
    print("committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()

"""Child process for the alert crash test: escalate to HALT, commit, and be killed right after.

Run as `python -m tests.integration.alert_crash_child CONFIG STATE_DIR` with
TRADEGUARD_FAILPOINT=after_commit:1 so the failpoint SIGKILLs it after the commit.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.ports import Batch
from tradeguard import bootstrap
from tradeguard.settings import load_settings

T0 = datetime(2022, 1, 21, 12, 0, tzinfo=UTC)


def main() -> None:
    """Walk the breaker to HALT with five order failures and commit once (then die)."""
    config, state_dir = Path(sys.argv[1]), Path(sys.argv[2])
    settings = load_settings(config, store={"state_dir": state_dir})
    runtime = bootstrap.build_runtime(settings, seed=0, faults=None, first_bar=T0)
    for attempt in range(5):
        runtime.session.breaker.report_order_failure({"attempt": attempt})
    runtime.session.commit(Batch())
    print("survived the failpoint", flush=True)


if __name__ == "__main__":
    main()

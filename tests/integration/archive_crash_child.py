"""Child process for the store-split crash tests: journal rows, archive, and die on cue.

Run as `python -m tests.integration.archive_crash_child STATE_DIR ROUND MODE`. ROUND numbers
the rows, so rounds add distinct rows. MODE: `move` archives with TRADEGUARD_FAILPOINT armed
(an archive point SIGKILLs it between the move's steps); `crash` archives, journals one more
round and is SIGKILLed without a clean close; `only` journals nothing and archives (armed).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.events import BreakerTransitioned, SignalRecorded
from engine.model import Fill, OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch, EquityPoint
from tradeguard import failpoints
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 1, 4, tzinfo=UTC)
ORDERS = 40


def journal_round(store: SqliteStore, round_no: int) -> None:
    """Commit ORDERS filled orders (intent, signal, fill, equity) and one open order."""
    for i in range(ORDERS):
        cid = f"r{round_no}-c{i}"
        at = T0 + timedelta(days=round_no, minutes=i)
        request = OrderRequest(cid, "BTC", Side.BUY, 1.0, 100.0, at)
        store.commit(Batch(
            signals=[SignalRecorded(at, "BTC", Side.BUY, 0.8, at, (10, 30), "ordered", "", cid)],
            intents=[OrderIntent(request, OrderStatus.FILLED, at)],
            fills=[Fill(f"f-{cid}", cid, "BTC", Side.BUY, 1.0, 100.0, 0.05, at)],
            equity=[EquityPoint(at, 1000.0, 900.0, 0.0)],
        ))
    at = T0 + timedelta(days=round_no, hours=12)
    store.commit(Batch(
        intents=[OrderIntent(OrderRequest(f"r{round_no}-open", "BTC", Side.SELL, 1.0, 100.0, at),
                             OrderStatus.SUBMITTED, at)],
        transitions=[BreakerTransitioned(at, "CLOSED", "ALERT", "latency", 9.0, 5.0)],
    ))


def main() -> None:
    """Journal one round, then archive (and die at the armed failpoint) or crash."""
    state_dir, round_no, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    store = SqliteStore(state_dir, archive_rows=10**9)
    if mode != "only":
        journal_round(store, round_no)
    if mode in ("move", "only"):
        failpoint = failpoints.from_env()
        if failpoint is not None:
            store.failpoint = failpoint.reach
        store.archive()
        print("survived the move", flush=True)
        store.close()
        return
    store.archive()
    journal_round(store, round_no + 1)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()

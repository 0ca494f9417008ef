"""Alert delivery figures, measured in one run (not a test: it prints figures).

1. Breach -> delivery: commit a breaker escalation to a real SQLite store (the outbox row is
   written in that transaction), and time until a loopback json:// webhook receives the
   POST. Prints p50/p99 (target p99 <= 250 ms).
2. Trading-path latency with every channel hanging against none hanging: one pre-trade gate
   decision plus the commit of a batch carrying a breaker escalation (so every event writes
   an alert and its deliveries), with the same number of channels either answering at once
   or accepting and never answering. Rounds are interleaved so a slow patch of the machine
   hits both alike. Prints the ratio (target <= 1.1x).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.circuit_breaker import CircuitBreaker, CircuitConfig, ExecutionAction
from engine.clock import SimulatedClock
from engine.events import BreakerTransitioned
from engine.model import Side
from engine.ports import Batch
from engine.risk import OrderRisk, RiskConfig, RiskManager
from tests.integration.alert_receivers import hanging_receiver
from tradeguard.alerting.runtime import start_session_alerting
from tradeguard.settings import load_settings
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2022, 1, 21, tzinfo=UTC)


@contextmanager
def webhook() -> Iterator[tuple[int, dict[str, float], threading.Condition]]:
    """Serve json:// posts; record perf_counter arrival time per title."""
    arrivals: dict[str, float] = {}
    arrived = threading.Condition()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            import json

            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with arrived:
                arrivals[body["title"]] = time.perf_counter()
                arrived.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1]), arrivals, arrived
    finally:
        server.shutdown()
        server.server_close()


def _store(root: Path, channels: list[dict[str, Any]], stack: ExitStack) -> SqliteStore:
    settings = load_settings(None, store={"state_dir": root}, alerts={
        "channels": channels, "connect_timeout_seconds": 1.0, "read_timeout_seconds": 1.0,
        "drain_timeout_seconds": 0.0, "retry_base_seconds": 0.01, "retry_cap_seconds": 0.01,
        "max_attempts": 1000,
    })
    store = SqliteStore(root / "state.db")
    stack.callback(store.close)
    start_session_alerting(settings, store, stack)
    return store


def _transition(n: int) -> BreakerTransitioned:
    # Alternate levels: every commit is an escalation, which the limiter never holds back.
    to = ("ALERT", "THROTTLE", "HALT")[n % 3]
    return BreakerTransitioned(T0 + timedelta(seconds=n), "CLOSED", to, "bench", 1.0, 1.0, "b")


def breach_to_delivery(samples: int) -> list[float]:
    """Return breach -> webhook arrival latencies in milliseconds."""
    latencies = []
    with webhook() as (port, arrivals, arrived), tempfile.TemporaryDirectory() as tmp, \
            ExitStack() as stack:
        store = _store(Path(tmp), [{"name": "hook", "url": f"json://127.0.0.1:{port}/h",
                                    "min_priority": "info"}], stack)
        time.sleep(2.0)  # session start: the worker loads Apprise's plugins off the trading path
        for n in range(samples):
            started = time.perf_counter()
            store.commit(Batch(transitions=[_transition(n)]))
            with arrived:
                arrived.wait_for(lambda n=n: any(f"(#{n + 1})" in t for t in arrivals), 5.0)
                done = next((v for t, v in arrivals.items() if f"(#{n + 1})" in t), None)
            if done is not None:
                latencies.append((done - started) * 1000)
    return latencies


def trading_path_us(channels: list[dict[str, Any]], events: int) -> float:
    """Return the median microseconds of gate + escalation commit over `events` events."""
    clock = SimulatedClock(T0)
    breaker = CircuitBreaker(CircuitConfig(), clock)
    risk = RiskManager(RiskConfig(), clock)
    action = ExecutionAction("BTC-PERP", Side.BUY, 0.01, 0.8, False)
    order = OrderRisk("BTC-PERP", Side.BUY, 0.01, 40_000.0, False)
    timings = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        store = _store(Path(tmp), channels, stack)
        time.sleep(0.2)  # let every delivery thread reach its hung endpoint
        for n in range(events):
            started = time.perf_counter()
            decision = breaker.check_execution_allowed(action)
            allowed = decision.allowed and risk.check(order, 0.0, 40_000.0, 0.0).allowed
            store.commit(Batch(transitions=[_transition(n)], state={"n": {"allowed": allowed}}))
            timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def main() -> None:
    """Measure and print both figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hanging", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # delivery failures are the point here

    latencies = sorted(breach_to_delivery(args.samples))
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"breach -> webhook delivery     p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
          f"({len(latencies)}/{args.samples} delivered; target p99 <= 250 ms)")

    with ExitStack() as stack:
        hung_ports = [stack.enter_context(hanging_receiver()) for _ in range(args.hanging)]
        live_ports = [stack.enter_context(webhook())[0] for _ in range(args.hanging)]
        hanging = [{"name": f"ch{i}", "url": f"json://127.0.0.1:{p}/x", "min_priority": "info"}
                   for i, p in enumerate(hung_ports)]
        healthy = [{"name": f"ch{i}", "url": f"json://127.0.0.1:{p}/x", "min_priority": "info"}
                   for i, p in enumerate(live_ports)]
        rows = []
        for _ in range(args.rounds):
            none = trading_path_us(healthy, args.events)
            hung = trading_path_us(hanging, args.events)
            rows.append((none, hung))
    ratios = sorted(h / n for n, h in rows)
    print(f"gate + commit, {args.hanging} answering   "
          f"{statistics.median(n for n, _ in rows):7.1f} us")
    print(f"gate + commit, {args.hanging} hanging     "
          f"{statistics.median(h for _, h in rows):7.1f} us")
    print(f"ratio hanging / none           {statistics.median(ratios):7.2f}   "
          f"(median of {len(ratios)} rounds, range {ratios[0]:.2f}-{ratios[-1]:.2f}; "
          "target <= 1.10)")


if __name__ == "__main__":
    main()

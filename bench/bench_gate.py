"""Gate decision cost against two popular circuit-breaker libraries, measured in one run.

Prints per-call nanoseconds and the ratio ours / `circuitbreaker` overhead (target <= 0.5).
The reference is the closed-state call overhead of `circuitbreaker` and `pybreaker` on a
trivial function (decorated call minus the bare call). Ours is one full pre-trade gate:
breaker decision plus every risk check for one order. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from datetime import UTC, datetime

import circuitbreaker
import pybreaker

from engine.circuit_breaker import CircuitBreaker, CircuitConfig, ExecutionAction
from engine.clock import SimulatedClock
from engine.model import Side
from engine.risk import OrderRisk, RiskConfig, RiskManager


def trivial(x: int) -> int:
    """Return x (the function every breaker wraps)."""
    return x


def per_call_ns(stmt: str, env: dict[str, object], number: int, repeat: int) -> float:
    """Return the best per-call time in nanoseconds over `repeat` runs."""
    timer = timeit.Timer(stmt, globals=env)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main() -> None:
    """Measure and print the gate against the references."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    cb_wrapped = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(trivial)
    py_breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    clock = SimulatedClock(datetime(2022, 1, 21, tzinfo=UTC))
    breaker = CircuitBreaker(CircuitConfig(), clock)
    risk = RiskManager(RiskConfig(), clock)
    action = ExecutionAction("BTC-PERP", Side.BUY, 0.01, 0.8, False)
    order = OrderRisk("BTC-PERP", Side.BUY, 0.01, 40_000.0, False)

    def gate() -> bool:
        decision = breaker.check_execution_allowed(action)
        return decision.allowed and risk.check(order, 0.0, 40_000.0, 0.0).allowed

    env: dict[str, object] = {
        "trivial": trivial, "cb_wrapped": cb_wrapped, "py_breaker": py_breaker, "gate": gate,
        "breaker": breaker, "risk": risk, "action": action, "order": order,
    }
    n = args.number
    rounds: list[dict[str, float]] = []
    # Interleave the measurements so a slow patch of the machine hits all of them alike.
    for _ in range(args.repeat):
        bare = per_call_ns("trivial(1)", env, n, 3)
        rounds.append({
            "bare": bare,
            "cb": per_call_ns("cb_wrapped(1)", env, n, 3) - bare,
            "pyb": per_call_ns("py_breaker.call(trivial, 1)", env, n, 3) - bare,
            "breaker": per_call_ns("breaker.check_execution_allowed(action)", env, n, 3),
            "risk": per_call_ns("risk.check(order, 0.0, 40000.0, 0.0)", env, n, 3),
            # Like the references, count only what the gate adds on top of one plain call.
            "gate": per_call_ns("gate()", env, n, 3) - bare,
        })

    def median(key: str) -> float:
        return statistics.median(row[key] for row in rounds)

    ratios = sorted(row["gate"] / row["cb"] for row in rounds)
    print(f"bare call                      {median('bare'):8.1f} ns")
    print(f"circuitbreaker overhead        {median('cb'):8.1f} ns  (reference)")
    print(f"pybreaker overhead             {median('pyb'):8.1f} ns")
    print(f"breaker decision               {median('breaker'):8.1f} ns")
    print(f"risk checks (all limits)       {median('risk'):8.1f} ns")
    print(f"gate (breaker + risk), net     {median('gate'):8.1f} ns")
    print(f"ratio gate / circuitbreaker    {statistics.median(ratios):8.2f}   "
          f"(median of {len(ratios)} rounds, range {ratios[0]:.2f}-{ratios[-1]:.2f}; "
          "target <= 0.50)")
    print(f"ratio gate / pybreaker         "
          f"{statistics.median(row['gate'] / row['pyb'] for row in rounds):8.2f}")


if __name__ == "__main__":
    main()

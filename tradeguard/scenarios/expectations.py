"""One small class per expectation; each judges an Observation and says why.

Adding an expectation: a field on `model.Expect`, a class here (or, for the journal and the
store, in `journal_expectations.py`) with `name` and `judge`, and one line in `build()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tradeguard.scenarios.journal_expectations import (
    CrashEquivalent,
    JournalInvariants,
    NoDuplicateClientOrderIds,
    NoDuplicateFills,
    StoreIntact,
)
from tradeguard.scenarios.model import Expect, ThrottledOrders, TransitionAt, Window
from tradeguard.scenarios.observe import SEVERITY, Observation
from tradeguard.scenarios.verdict import DrillOutcome, Expectation, Verdict

__all__ = ["DrillOutcome", "Expectation", "Verdict", "build"]

_HALTED = ("HALT", "SHUTDOWN")


def _hm(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class HighestLevel:
    """The most severe state reached is exactly `level`."""

    level: str
    name: str = "highest_level"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Compare the highest state entered with the expected one."""
        seen = obs.highest_level
        return Verdict(self.name, self.level, seen, seen == self.level)


@dataclass(frozen=True)
class NeverAbove:
    """No state more severe than `level` is ever entered."""

    level: str
    name: str = "never_above"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Pass when the highest state is at most `level`."""
        seen = obs.highest_level
        ok = SEVERITY[seen] <= SEVERITY[self.level]
        return Verdict(self.name, f"nothing above {self.level}", seen, ok)


@dataclass(frozen=True)
class EscalationTrigger:
    """The first escalation to the highest level reached was caused by `trigger`."""

    trigger: str
    name: str = "escalation_trigger"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Find the first transition into the highest state and read its trigger."""
        top = obs.highest_level
        first = next((t for t in obs.transitions if t.to_state == top), None)
        seen = "no escalation" if first is None else f"{first.trigger} ({top} at {_hm(first.at)})"
        ok = first is not None and first.trigger == self.trigger
        return Verdict(self.name, self.trigger, seen, ok)


@dataclass(frozen=True)
class TransitionNear:
    """A transition to a state happens within a tolerance of a given minute."""

    spec: TransitionAt
    name: str = "transition_at"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Pick the transition to the state nearest the expected time."""
        s = self.spec
        candidates = [
            t for t in obs.transitions
            if t.to_state == s.to and (s.trigger is None or t.trigger == s.trigger)
        ]
        expected = f"{s.to} at {_hm(s.at)} ± {s.tolerance_minutes:g} min"
        if s.trigger:
            expected += f" by {s.trigger}"
        if not candidates:
            return Verdict(self.name, expected, f"no transition to {s.to}", False)
        nearest = min(candidates, key=lambda t: abs(t.at - s.at))
        ok = abs(nearest.at - s.at) <= timedelta(minutes=s.tolerance_minutes)
        seen = f"{s.to} at {_hm(nearest.at)} by {nearest.trigger} ({nearest.observed:g})"
        return Verdict(self.name, expected, seen, ok)


@dataclass(frozen=True)
class Trades:
    """Trades executed are zero, or more than zero."""

    want: str
    name: str = "trades_executed"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Compare the executed-trade count with the wanted sign."""
        n = obs.trades_executed
        ok = n == 0 if self.want == "zero" else n > 0
        return Verdict(self.name, "0" if self.want == "zero" else "> 0", str(n), ok)


@dataclass(frozen=True)
class NeverDeniedBy:
    """No order was denied by any of the named checks."""

    checks: tuple[str, ...]
    name: str = "never_denied_by"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count denials by the named checks."""
        hits = [check for _, check in obs.denials if check in self.checks]
        seen = "none" if not hits else f"{len(hits)} denials by {sorted(set(hits))}"
        return Verdict(self.name, f"no denial by {', '.join(self.checks)}", seen, not hits)


@dataclass(frozen=True)
class HalfOpenProbing:
    """After the first HALT the breaker probes through HALF_OPEN."""

    name: str = "half_open_probing"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Look for HALF_OPEN after the first HALT."""
        states = [t.to_state for t in obs.transitions]
        if "HALT" not in states:
            return Verdict(self.name, "HALT -> HALF_OPEN", "never halted", False)
        after = states[states.index("HALT") + 1:]
        ok = "HALF_OPEN" in after
        seen = " -> ".join(["HALT", *after[:3]])
        return Verdict(self.name, "HALT -> HALF_OPEN", seen, ok)


@dataclass(frozen=True)
class ClosedBy:
    """After escalating, the breaker is back to CLOSED by a time."""

    when: datetime
    name: str = "closed_by"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Read the state in force at the time and require an earlier escalation."""
        escalated = any(t.at < self.when and t.to_state != "CLOSED" for t in obs.transitions)
        closes = [t.at for t in obs.transitions if t.to_state == "CLOSED" and t.at <= self.when]
        state = obs.state_before(self.when + timedelta(microseconds=1))
        seen = f"{state} at {_hm(self.when)}"
        if closes:
            seen += f" (last CLOSED at {_hm(closes[-1])})"
        ok = escalated and state == "CLOSED"
        return Verdict(self.name, f"CLOSED by {_hm(self.when)}", seen, ok)


@dataclass(frozen=True)
class NoOpeningOrderInHalt:
    """No order that adds exposure is created while HALT or SHUTDOWN is in force."""

    name: str = "no_opening_order_in_halt"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Check every non-reduce-only order against the state in force when it was created."""
        bad = [
            o for o in obs.orders
            if not o.reduce_only and obs.state_before(o.created_at) in _HALTED
        ]
        halted = any(t.to_state in _HALTED for t in obs.transitions)
        seen = "never halted" if not halted else (
            "none" if not bad else f"{len(bad)} (first {bad[0].client_order_id})"
        )
        return Verdict(self.name, "no opening order in HALT", seen, halted and not bad)


@dataclass(frozen=True)
class FlatAfterHalt:
    """Every position open at the first HALT gets a reduce-only closing order."""

    name: str = "flat_after_halt"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Find open positions at HALT and their closing orders."""
        halt = next((t.at for t in obs.transitions if t.to_state == "HALT"), None)
        if halt is None:
            return Verdict(self.name, "positions closed at HALT", "never halted", False)
        symbols = sorted({f.symbol for f in obs.fills})
        open_at_halt = [s for s in symbols if abs(obs.position_before(s, halt)) > 1e-12]
        closed = {o.symbol for o in obs.orders if o.reduce_only and o.created_at >= halt}
        missing = [s for s in open_at_halt if s not in closed]
        seen = f"open at HALT: {open_at_halt or 'none'}; closing orders for {sorted(closed)}"
        return Verdict(self.name, "positions closed at HALT", seen, not missing)


@dataclass(frozen=True)
class ThrottledOrdersCut:
    """Opening orders sent in THROTTLE are at most the size factor times the normal order
    quantity and need a confidence above the THROTTLE minimum."""

    spec: ThrottledOrders
    name: str = "throttled_orders"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Check every opening order created while THROTTLE was in force."""
        s = self.spec
        cut = obs.base_quantity * s.size_factor
        during = [
            o for o in obs.orders
            if not o.reduce_only and obs.state_before(o.created_at) == "THROTTLE"
        ]
        bad = [
            o for o in during
            if o.quantity > cut * (1 + 1e-9) or o.confidence <= s.min_confidence
        ]
        expected = f"size <= x{s.size_factor:g} and confidence > {s.min_confidence:g}"
        seen = f"{len(during)} orders in THROTTLE, {len(bad)} not cut or under-confident"
        return Verdict(self.name, expected, seen, bool(during) and not bad)


@dataclass(frozen=True)
class DataFeedIssueAt:
    """A data-feed issue is reported at (within one minute of) a time."""

    when: datetime
    name: str = "data_feed_issue_at"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Look for a data-feed issue near the time."""
        near = [t for t in obs.data_feed_issues if abs(t - self.when) <= timedelta(minutes=1)]
        seen = _hm(near[0]) if near else f"{len(obs.data_feed_issues)} issues, none near"
        return Verdict(self.name, f"data-feed issue at {_hm(self.when)}", seen, bool(near))


@dataclass(frozen=True)
class NoOrderIn:
    """No order is created inside any of the windows."""

    windows: tuple[Window, ...]
    name: str = "no_order_in"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count orders created inside the windows."""
        inside = [
            o for o in obs.orders for w in self.windows if w.start <= o.created_at < w.end
        ]
        spans = ", ".join(f"[{_hm(w.start)}, {_hm(w.end)})" for w in self.windows)
        seen = "none" if not inside else f"{len(inside)} (first at {_hm(inside[0].created_at)})"
        return Verdict(self.name, f"no order in {spans}", seen, not inside)


@dataclass(frozen=True)
class TradesAfter:
    """Trading resumes: a fill is booked after a time."""

    when: datetime
    name: str = "trades_after"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count fills after the time."""
        n = sum(1 for f in obs.fills if f.at > self.when)
        return Verdict(self.name, f"fills after {_hm(self.when)}", str(n), n > 0)


@dataclass(frozen=True)
class SymbolsTraded:
    """Every named symbol has fills of its own."""

    symbols: tuple[str, ...]
    name: str = "symbols_traded"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count fills per symbol."""
        counts = {s: sum(1 for f in obs.fills if f.symbol == s) for s in self.symbols}
        seen = ", ".join(f"{s}={n}" for s, n in counts.items())
        return Verdict(self.name, "fills in every symbol", seen, all(counts.values()))


@dataclass(frozen=True)
class DailyResetAt:
    """The daily counters reset at the boundary, not before, after the limit was reached."""

    when: datetime
    limit_reached_before: bool
    name: str = "daily_reset"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Check the reset time, the denials before it and trading after it."""
        resets = [at for at, _, _ in obs.daily_resets]
        on_time = self.when in resets
        early = [at for at in resets if self.when - timedelta(days=1) < at < self.when]
        limited = any(
            check == "max_daily_trades" and at < self.when for at, check in obs.denials
        )
        resumed = any(f.at >= self.when for f in obs.fills)
        ok = on_time and not early and resumed and (limited or not self.limit_reached_before)
        seen = (
            f"resets at {[_hm(r) for r in resets]}; limit hit before: {limited}; "
            f"fills after: {resumed}"
        )
        return Verdict(self.name, f"reset at {_hm(self.when)} and not before", seen, ok)


_Builder = Callable[[Expect], "Expectation | None"]

# One line per Expect field, in report order.
_BUILDERS: tuple[_Builder, ...] = (
    lambda e: HighestLevel(e.highest_level) if e.highest_level else None,
    lambda e: NeverAbove(e.never_above) if e.never_above else None,
    lambda e: EscalationTrigger(e.escalation_trigger) if e.escalation_trigger else None,
    lambda e: TransitionNear(e.transition) if e.transition else None,
    lambda e: Trades(e.trades) if e.trades else None,
    lambda e: NeverDeniedBy(tuple(e.never_denied_by)) if e.never_denied_by else None,
    lambda e: HalfOpenProbing() if e.half_open_probing else None,
    lambda e: NoOpeningOrderInHalt() if e.no_opening_order_in_halt else None,
    lambda e: FlatAfterHalt() if e.flat_after_halt else None,
    lambda e: CrashEquivalent() if e.crash_equivalent else None,
    lambda e: NoDuplicateFills() if e.no_duplicate_fills else None,
    lambda e: NoDuplicateClientOrderIds() if e.no_duplicate_client_order_ids else None,
    lambda e: StoreIntact() if e.store_intact else None,
    lambda e: JournalInvariants() if e.journal_invariants else None,
    lambda e: ClosedBy(e.closed_by) if e.closed_by else None,
    lambda e: ThrottledOrdersCut(e.throttled_orders) if e.throttled_orders else None,
    lambda e: DataFeedIssueAt(e.data_feed_issue_at) if e.data_feed_issue_at else None,
    lambda e: NoOrderIn(tuple(e.no_order_in)) if e.no_order_in else None,
    lambda e: TradesAfter(e.trades_after) if e.trades_after else None,
    lambda e: SymbolsTraded(tuple(e.symbols_traded)) if e.symbols_traded else None,
    lambda e: (
        DailyResetAt(e.daily_reset.at, e.daily_reset.limit_reached_before)
        if e.daily_reset else None
    ),
)


def build(expect: Expect) -> list[Expectation]:
    """Turn an Expect block into its ordered list of expectations."""
    return [rule for make in _BUILDERS if (rule := make(expect)) is not None]

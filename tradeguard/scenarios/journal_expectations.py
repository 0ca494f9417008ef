"""Expectations about the journal and the store: crash equivalence, duplicates, integrity."""

from __future__ import annotations

from dataclasses import dataclass

from tradeguard.scenarios.observe import Observation
from tradeguard.scenarios.verdict import DrillOutcome, Verdict


@dataclass(frozen=True)
class CrashEquivalent:
    """A run killed at every drill point ends exactly like an uninterrupted run."""

    name: str = "crash_equivalent"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Report the kills and every difference against the uninterrupted run."""
        if drill is None:
            return Verdict(self.name, "crash drill run", "no drill ran", False)
        seen = f"{drill.kills} kills; " + ("identical" if not drill.differences
                                             else "differs in " + ", ".join(drill.differences))
        ok = drill.kills > 0 and not drill.differences
        return Verdict(self.name, "fills, cash, positions equal to a clean run", seen, ok)


@dataclass(frozen=True)
class NoDuplicateFills:
    """No fill is booked twice."""

    name: str = "no_duplicate_fills"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count duplicated fill ids."""
        n = obs.duplicate_fills
        return Verdict(self.name, "0 duplicates", str(n), n == 0)


@dataclass(frozen=True)
class StoreIntact:
    """The state store passes SQLite's integrity check after the run."""

    name: str = "store_intact"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Read the integrity check of the store (fails when it was not checked)."""
        seen = obs.health.integrity if obs.health else "not checked"
        return Verdict(self.name, "integrity_check = ok", seen, seen == "ok")


@dataclass(frozen=True)
class NoDuplicateClientOrderIds:
    """No client order id was ordered twice, over-filled, or reused for one signal."""

    name: str = "no_duplicate_client_order_ids"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Count the client order ids the store reports as duplicated."""
        if obs.health is None:
            return Verdict(self.name, "0 duplicates", "not checked", False)
        ids = obs.health.duplicate_client_order_ids
        seen = "0" if not ids else f"{len(ids)} (first {ids[0]})"
        return Verdict(self.name, "0 duplicates", seen, not ids)


@dataclass(frozen=True)
class JournalInvariants:
    """Every journal invariant (tradeguard/store/invariants.py) holds."""

    name: str = "journal_invariants"

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """List the violated invariants."""
        if obs.health is None:
            return Verdict(self.name, "every invariant holds", "not checked", False)
        problems = obs.health.journal_problems
        seen = "all hold" if not problems else "violated: " + ", ".join(problems)
        return Verdict(self.name, "every invariant holds", seen, not problems)

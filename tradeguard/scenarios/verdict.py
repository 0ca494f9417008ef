"""What an expectation returns and the shape every expectation has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tradeguard.scenarios.observe import Observation


@dataclass(frozen=True, slots=True)
class Verdict:
    """One expectation's verdict: what was required, what was seen, and whether it held."""

    name: str
    expected: str
    observed: str
    passed: bool


@dataclass(frozen=True, slots=True)
class DrillOutcome:
    """A crash drill's end state against an uninterrupted run of the same scenario."""

    kills: int
    differences: tuple[str, ...]


class Expectation(Protocol):
    """A rule about the outcome of one scenario run."""

    @property
    def name(self) -> str:
        """The rule's stable name, as reports and `--json` show it."""
        ...

    def judge(self, obs: Observation, drill: DrillOutcome | None) -> Verdict:
        """Return the verdict on this run."""
        ...

"""The execution's snapshot section and the intents journaled after the stored snapshot.

`ExecutionCounters` holds order counts, fees and the unanswered intents; `split_unsnapshotted`
tells the intents a stored snapshot counts from those a restart must hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.model import OrderIntent, OrderStatus


@dataclass(slots=True)
class ExecutionCounters:
    """Order counts and fees: the execution's snapshot section, surviving restarts."""

    orders_submitted: int = 0
    # Orders the venue sync learnt from the venue's record (sent by a run the journal lost):
    # submitted + adopted = filled + failed + still open.
    orders_adopted: int = 0
    orders_filled: int = 0
    orders_failed: int = 0
    trades_executed: int = 0
    denials: Counter[str] = field(default_factory=Counter)
    fees: float = 0.0
    # Quantity already booked of orders the venue still works (trades the venue sync booked):
    # exposure() counts only the unfilled rest of such an order on top of the position.
    working_filled: dict[str, float] = field(default_factory=dict)
    # The open intents (OrderSettlement shares its dict): the section lists those without
    # the venue's answer, so a restart tells them from intents journaled after the snapshot.
    intents: dict[str, OrderIntent] = field(default_factory=dict, repr=False, compare=False)

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        return {
            "orders_submitted": self.orders_submitted,
            "orders_adopted": self.orders_adopted,
            "orders_filled": self.orders_filled,
            "orders_failed": self.orders_failed,
            "trades_executed": self.trades_executed,
            "denials": dict(sorted(self.denials.items())),
            "fees": self.fees,
            "working_filled": dict(sorted(self.working_filled.items())),
            "unanswered": sorted(cid for cid, intent in self.intents.items()
                                 if intent.status is OrderStatus.PENDING_SUBMIT),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any] | None) -> ExecutionCounters:
        """Rebuild the counters from snapshot() (None: a fresh start)."""
        data = data or {}
        return cls(
            orders_submitted=int(data.get("orders_submitted", 0)),
            orders_adopted=int(data.get("orders_adopted", 0)),
            orders_filled=int(data.get("orders_filled", 0)),
            orders_failed=int(data.get("orders_failed", 0)),
            trades_executed=int(data.get("trades_executed", 0)),
            denials=Counter(data.get("denials", {})),
            fees=float(data.get("fees", 0.0)),
            working_filled={str(k): float(v)
                            for k, v in (data.get("working_filled") or {}).items()},
        )


def split_unsnapshotted(
    section: dict[str, Any] | None, intents: Iterable[OrderIntent]
) -> tuple[list[OrderIntent], list[OrderIntent]]:
    """Return (intents the stored snapshot counts, intents journaled after it).

    An intent is committed alone before the broker call (EngineJournal.commit_rows); the next
    commit carries its answer and the sections. A PENDING_SUBMIT intent the execution section
    does not list as unanswered was journaled after the last snapshot: its submission is in no
    section. No section at all: nothing was counted yet. A section without the list was
    written by an earlier version, whose intent commit carried the sections: all counted.
    """
    intents = list(intents)
    listed = {} if section is None else section.get("unanswered")
    if listed is None:
        return intents, []
    counted = set(listed)
    held = [i for i in intents
            if i.status is OrderStatus.PENDING_SUBMIT and i.client_order_id not in counted]
    held_ids = {i.client_order_id for i in held}
    return [i for i in intents if i.client_order_id not in held_ids], held

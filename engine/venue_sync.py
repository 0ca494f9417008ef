"""Bring the journal up to the venue's record before trading: the venue is the truth.

After a crash, and above all after `state restore` from an older backup, the venue may hold
orders and fills the journal never saw. `sync_with_venue` lists the venue's fills since the
journal's cursor, books every one the journal lacks exactly once (adopting an intent for an
order the journal does not know), and adopts the venue's open orders, so cash, positions and
the day's counters are rebuilt from the venue's record before the first new order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.clock import Clock
from engine.errors import BrokerError
from engine.events import DailyStateReset
from engine.model import BrokerOrder, Fill, OrderIntent, OrderRequest, OrderStatus
from engine.ports import Batch

log = logging.getLogger(__name__)


class VenueLedger(Protocol):
    """The venue's own record of this account, listed rather than looked up by id."""

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return every fill at or after since (all when None), oldest first."""
        ...

    def open_orders(self) -> list[BrokerOrder]:
        """Return the orders still working at the venue, in booking order."""
        ...


class SyncTarget(Protocol):
    """What the sync needs from order execution (OrderExecutionEngine fits)."""

    open_intents: dict[str, OrderIntent]
    # Intents journaled after the stored snapshot: the re-run of the bars takes them up.
    held: dict[str, OrderIntent]

    def apply_fill(
        self,
        fill: Fill,
        already_recorded: Callable[[str], bool] | None = None,
        *,
        completes: bool = True,
    ) -> bool:
        """Book a fill exactly once; completes=False keeps its order open (more trades due)."""
        ...

    def adopt(self, intent: OrderIntent) -> None:
        """Journal an intent the venue knows and the journal did not."""
        ...


class DayRoller(Protocol):
    """The risk manager's day boundary, rolled as the sync walks forward in time."""

    def roll_day_if_needed(self) -> DailyStateReset | None:
        """Reset the day's counters when the clock passed the boundary."""
        ...


@dataclass(frozen=True, slots=True)
class VenueSyncResult:
    """What the sync repaired: fills booked, intents adopted, working orders adopted."""

    fills_booked: tuple[str, ...] = ()
    intents_adopted: tuple[str, ...] = ()
    open_orders_adopted: tuple[str, ...] = ()
    error: str = ""

    @property
    def repaired(self) -> int:
        """Return how many records were missing from the journal."""
        return len(self.fills_booked) + len(self.intents_adopted) + len(self.open_orders_adopted)


@dataclass(slots=True)
class _Progress:
    fills: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    working: list[str] = field(default_factory=list)


def sync_with_venue(
    *,
    venue: VenueLedger,
    execution: SyncTarget,
    recorded: Callable[[str], bool],
    lookup: Callable[[str], BrokerOrder | None],
    clock: Clock,
    risk: DayRoller,
    commit: Callable[[Batch], None],
    since: datetime | None,
) -> VenueSyncResult:
    """Book every venue fill since `since` the journal lacks, then adopt working orders."""
    done = _Progress()
    try:
        # Listed first: a fill of an order the venue still works does not complete its intent.
        working = venue.open_orders()
        _book_missing(venue.fills_since(since), {o.client_order_id: o for o in working},
                      execution, recorded, lookup, clock, risk, commit, done)
        for order in working:
            cid = order.client_order_id
            if cid not in execution.open_intents and cid not in execution.held:
                execution.adopt(_intent(cid, order, None, clock))
                done.working.append(cid)
    except BrokerError as e:
        # Deferred like any reconciliation: what was booked stays booked; the rest waits.
        log.warning("venue_sync_failed error=%s", e)
        return VenueSyncResult(tuple(done.fills), tuple(done.adopted), tuple(done.working),
                               error=str(e))
    result = VenueSyncResult(tuple(done.fills), tuple(done.adopted), tuple(done.working))
    if result.repaired:
        log.warning(
            "venue_sync_repaired fills=%d intents=%d open_orders=%d",
            len(result.fills_booked), len(result.intents_adopted),
            len(result.open_orders_adopted),
        )
    return result


def _book_missing(
    fills: list[Fill],
    working: dict[str, BrokerOrder],
    execution: SyncTarget,
    recorded: Callable[[str], bool],
    lookup: Callable[[str], BrokerOrder | None],
    clock: Clock,
    risk: DayRoller,
    commit: Callable[[Batch], None],
    done: _Progress,
) -> None:
    # A held intent's fills are booked when the re-run takes the intent up, as they were.
    missing = [f for f in sorted(fills, key=lambda f: (f.ts, f.fill_id))
               if f.client_order_id not in execution.held and not recorded(f.fill_id)]
    # An order filled in several trades completes (is counted) with its last one.
    last = {fill.client_order_id: index for index, fill in enumerate(missing)}
    for index, fill in enumerate(missing):
        # Walk the clock (simulated time only) to the fill so the day's counters land on the
        # trading day the venue filled it.
        clock.advance_to(fill.ts)
        reset = risk.roll_day_if_needed()
        if reset is not None:
            commit(Batch(daily_resets=[reset]))
        cid = fill.client_order_id
        if cid not in execution.open_intents:
            # The listed working order is the venue's record already (its full quantity).
            execution.adopt(_intent(cid, working.get(cid) or lookup(cid), fill, clock))
            done.adopted.append(cid)
        completes = last[cid] == index and cid not in working
        if execution.apply_fill(fill, recorded, completes=completes):
            done.fills.append(fill.fill_id)


def _intent(
    cid: str, order: BrokerOrder | None, fill: Fill | None, clock: Clock
) -> OrderIntent:
    """Return an intent standing for an order the venue has and the journal lacks."""
    now = clock.now()
    if order is not None:
        symbol, side, quantity = order.symbol, order.side, order.quantity
        broker_id: str | None = order.broker_order_id
    elif fill is not None:
        symbol, side, quantity, broker_id = fill.symbol, fill.side, fill.quantity, None
    else:  # pragma: no cover - the callers always pass one of them
        message = f"no venue record for {cid}"
        raise ValueError(message)
    reference = fill.price if fill is not None else (order.average_price or 0.0) if order else 0.0
    request = OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        quantity=quantity,
        reference_price=reference,
        created_at=fill.ts if fill is not None else now,
    )
    return OrderIntent(
        request, OrderStatus.SUBMITTED, now, broker_id, "adopted from the venue's record"
    )

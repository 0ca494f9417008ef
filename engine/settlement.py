"""Order settlement: acknowledgements, follow-up with the venue, fills, failed orders.

`OrderSettlement` is the half of order execution that brings journaled intents to the venue's
view: it applies a venue's answer to a submission (and replays it after a crash), follows open
orders up every bar, books fills exactly once and counts orders the venue ended without one.
`engine.execution.OrderExecutionEngine` builds on it with the gates and the submission.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker
from engine.clock import Clock
from engine.errors import BrokerError
from engine.execution_counters import ExecutionCounters
from engine.journal import EngineJournal
from engine.model import BrokerAck, BrokerOrder, Fill, OrderIntent, OrderRequest, OrderStatus
from engine.portfolio import Portfolio
from engine.ports import Batch
from engine.risk import RiskManager

log = logging.getLogger(__name__)

# Final statuses without a fill: the venue refused or ended the order.
_DEAD = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED})


class OrderSettlement(ABC):
    """Bring open intents to the venue's view, journaling every step through one journal."""

    def __init__(
        self,
        *,
        clock: Clock,
        breaker: CircuitBreaker,
        risk: RiskManager,
        broker: Broker,
        portfolio: Portfolio,
        journal: EngineJournal,
        counters: ExecutionCounters,
        open_intents: Iterable[OrderIntent] = (),
        held: Iterable[OrderIntent] = (),
    ) -> None:
        self._clock = clock
        self._breaker = breaker
        self._risk = risk
        self._broker = broker
        self._portfolio = portfolio
        self._journal = journal
        self.stats = counters
        self.open_intents: dict[str, OrderIntent] = {i.client_order_id: i for i in open_intents}
        counters.intents = self.open_intents
        # Intents journaled after the stored snapshot (split_unsnapshotted). A replay re-runs
        # the bars from the stored cursor and takes each up where the lost run sent it
        # (resume_held), so every effect lands in the same order and at the same time; one
        # the clock has already passed (a live restart) is taken up by recovery.
        self.held: dict[str, OrderIntent] = {i.client_order_id: i for i in held}
        # Held intents taken up before the re-run asked for them again (release_held): the
        # lost run died before their signal row's commit, which the re-run's signal makes.
        self.taken_up: set[str] = set()

    def count_submission(self, intent: OrderIntent) -> None:
        """Follow a journaled intent and count it as submitted (risk rate windows, counters)."""
        self.open_intents[intent.client_order_id] = intent
        self._risk.record_submission()
        self.stats.orders_submitted += 1

    def resume_held(
        self, intent: OrderIntent, gated: OrderRequest | None = None
    ) -> OrderIntent:
        """Take up an intent journaled after the snapshot, as the lost run did at this point.

        Its submission is counted now; the venue's stored answer is applied when it has one
        (BrokerOrder.ack), the order is sent when the venue never got it (`resend`). gated is
        the request the gates have just passed when the re-run asked for the intent again.
        """
        cid = intent.client_order_id
        self.held.pop(cid, None)
        self.count_submission(intent)
        try:
            found = self._broker.get_order(cid)
        except BrokerError as e:
            # Stays PENDING_SUBMIT and listed as unanswered: reconciled at the next start.
            log.warning("held_intent_deferred cid=%s error=%s", cid, e)
            return intent
        if found is None:
            return self.resend(intent, gated)
        if found.ack is not None:
            log.info("ack_replayed cid=%s status=%s", cid, found.ack.status.value)
            return self.acknowledge(intent, found.ack)
        return self._settle(intent, found, resend_missing=False)

    def release_held(self, *, reached: bool = False) -> None:
        """Resume held intents whose moment the run has passed without asking for them again.

        Called at every bar while any is held, and by recovery with reached=True (an intent
        of the clock's present moment too: a live restart re-runs no bar). A run that ends
        before reaching one leaves it held: the store keeps it unlisted for the next start.
        """
        now = self._clock.now()
        for intent in list(self.held.values()):
            created = intent.request.created_at
            if created < now or (reached and created == now):
                self.taken_up.add(intent.client_order_id)
                self.resume_held(intent)

    # ------------------------------------------------------------------ acknowledgement
    def acknowledge(self, intent: OrderIntent, ack: BrokerAck) -> OrderIntent:
        """Apply the venue's answer to a submission: breaker reports, counters, intent status.

        An accepted order's acknowledgement is not committed on its own: it rides along with
        the next commit (normally its fill's). The intent is durable (PENDING_SUBMIT) and the
        venue keeps its answer (BrokerOrder.ack), so after a crash before that commit
        replay_acknowledgements applies exactly these effects again.
        """
        now = self._clock.now()
        if ack.accepted:
            self._breaker.report_api_latency(ack.latency_ms)
            self._breaker.report_order_success()
            submitted = OrderIntent(intent.request, OrderStatus.SUBMITTED, now,
                                    ack.broker_order_id, ack.reason)
            if ack.status is OrderStatus.FILLED:
                # A filled ack (e.g. the venue's stored answer for a known client id) is only
                # final once its fills are booked: book them from the venue, exactly once.
                return self.settle_filled(submitted)
            self.open_intents[intent.client_order_id] = submitted
            self._journal.note_intent(submitted)
            return submitted
        self.stats.orders_failed += 1
        self._breaker.report_order_failure(
            {"client_order_id": intent.client_order_id, "reason": ack.reason}
        )
        rejected = replace(intent, status=OrderStatus.REJECTED, updated_at=now,
                           broker_order_id=ack.broker_order_id, reason=ack.reason)
        return self._update(rejected)

    def replay_acknowledgements(self) -> int:
        """Apply the venue's stored answer to every intent a crash left PENDING_SUBMIT.

        Runs first at start (before the venue sync books fills and before recovery reports
        the crash), so the effects land in the order the uninterrupted run applied them. An
        order the venue never booked, or never answered, is left to reconcile_intent.
        """
        replayed = 0
        for intent in list(self.open_intents.values()):
            if intent.status is not OrderStatus.PENDING_SUBMIT:
                continue
            cid = intent.client_order_id
            try:
                found = self._broker.get_order(cid)
            except BrokerError as e:
                log.warning("ack_replay_deferred cid=%s error=%s", cid, e)
                return replayed
            if found is None or found.ack is None:
                continue
            log.info("ack_replayed cid=%s status=%s", cid, found.ack.status.value)
            self.acknowledge(intent, found.ack)
            replayed += 1
        return replayed

    def _update(self, intent: OrderIntent, batch: Batch | None = None) -> OrderIntent:
        if intent.status.is_final:
            self.open_intents.pop(intent.client_order_id, None)
            self.stats.working_filled.pop(intent.client_order_id, None)
        else:
            self.open_intents[intent.client_order_id] = intent
        batch = batch or Batch()
        batch.intents.append(intent)
        self._journal.commit(batch)
        return intent

    # ------------------------------------------------------------------ follow-up
    def follow_up(self, placed_before: datetime | None = None) -> None:
        """Ask the venue about every open order; settle the fills, cancels and rejects it tells.

        Runs every bar: an order the venue acknowledged can still die there (cancelled at fill
        for funds, no position to reduce, nothing within the price collar). Such an order is a
        failed order, reported to the breaker, and stops counting in exposure().
        placed_before (a bar's moment) leaves out the orders placed at or after it: in a run
        without a crash none is, since a bar follows up before it trades; a replay's re-run
        of the bar a crash interrupted finds there the orders the lost run placed in it, which
        the next bar follows up, as it did in the lost run (see OrderSettlement.settles_at_start).
        """
        if not self.open_intents:
            return
        for intent in list(self.open_intents.values()):
            if intent.status is OrderStatus.PENDING_SUBMIT:
                continue  # only between journaling and the broker call, or settled at start
            if placed_before is not None and intent.request.created_at >= placed_before:
                continue
            try:
                found = self._broker.get_order(intent.client_order_id)
            except BrokerError as e:
                # Unreachable venue: poll_fills already reports it; ask again next bar.
                log.debug("follow_up_deferred cid=%s error=%s", intent.client_order_id, e)
                return
            self._settle(intent, found, resend_missing=False)

    def report_open(self) -> list[OrderIntent]:
        """Log every intent still open (the session summary counts them); return them."""
        still = sorted(self.open_intents.values(), key=lambda i: i.client_order_id)
        if still:
            # Acknowledged orders waiting for the next bar are normal at the end of data; an
            # order without an answer from the venue is not.
            waiting = all(i.status is OrderStatus.SUBMITTED for i in still)
            log.log(logging.INFO if waiting else logging.WARNING, "orders_open count=%d cids=%s",
                    len(still), ",".join(f"{i.client_order_id}:{i.status.value}" for i in still))
        return still

    def settles_at_start(self, intent: OrderIntent) -> bool:
        """Return False for an answered order a replay's re-run places again before settling.

        A replay restores its simulated clock to the stored snapshot's moment. An order placed
        at that moment or after it (journaled in the middle of the bar a crash interrupted,
        e.g. an unanswered submit, UNKNOWN) was followed up by the lost run at the next bar:
        the re-run does the same (follow_up's placed_before), so until then the order counts
        in exposure as it did, and a flatten or a later signal of the bar decides alike. A live
        restart's clock has moved on: recovery settles every order at start.
        """
        return (
            intent.status is OrderStatus.PENDING_SUBMIT
            or not self._clock.simulated
            or intent.request.created_at < self._clock.now()
        )

    def reconcile_intent(self, intent: OrderIntent, *, resend_missing: bool) -> OrderIntent:
        """Settle a non-final intent with the broker's view; resend only if it never arrived."""
        cid = intent.client_order_id
        self.open_intents[cid] = intent
        try:
            found = self._broker.get_order(cid)
        except BrokerError as e:
            log.warning("reconcile_deferred cid=%s error=%s", cid, e)
            return intent
        return self._settle(intent, found, resend_missing=resend_missing)

    @abstractmethod
    def send(self, intent: OrderIntent) -> OrderIntent:
        """Call the broker for a journaled intent and journal the outcome."""

    @abstractmethod
    def resend(self, intent: OrderIntent, gated: OrderRequest | None = None) -> OrderIntent:
        """Send a journaled intent the venue never received, unless the gates now refuse it."""

    def _settle(
        self, intent: OrderIntent, found: BrokerOrder | None, *, resend_missing: bool
    ) -> OrderIntent:
        """Bring an open intent to the venue's view of its order."""
        if found is None:
            if resend_missing and intent.status is OrderStatus.PENDING_SUBMIT:
                return self.resend(intent)
            return self._fail(intent, OrderStatus.REJECTED,
                              "broker confirms the order does not exist")
        if found.status is OrderStatus.FILLED:
            if intent.status is OrderStatus.PENDING_SUBMIT:
                # The venue took it, and kept no answer to replay (else replayed at start).
                self._breaker.report_order_success()
            return self.settle_filled(intent)
        if found.status in _DEAD:
            return self._fail(intent, found.status, found.reason or "ended by the venue",
                              found.broker_order_id)
        if found.status is intent.status:
            return intent
        if intent.status is OrderStatus.PENDING_SUBMIT and found.status is OrderStatus.SUBMITTED:
            self._breaker.report_order_success()
        updated = replace(intent, status=found.status, updated_at=self._clock.now(),
                          broker_order_id=found.broker_order_id, reason=found.reason)
        return self._update(updated)

    def _fail(
        self, intent: OrderIntent, status: OrderStatus, reason: str,
        broker_order_id: str | None = None,
    ) -> OrderIntent:
        """Record an order the venue ended without a fill: a failed order, exactly once."""
        cid = intent.client_order_id
        self.stats.orders_failed += 1
        if intent.status is not OrderStatus.UNKNOWN:
            # An UNKNOWN intent was reported to the breaker when its submit went unanswered.
            self._breaker.report_order_failure(
                {"client_order_id": cid, "reason": reason, "ended_by": "venue"}
            )
        log.warning("order_failed cid=%s status=%s reason=%s", cid, status.value, reason)
        failed = replace(intent, status=status, updated_at=self._clock.now(), reason=reason,
                         broker_order_id=broker_order_id or intent.broker_order_id)
        return self._update(failed)

    def adopt(self, intent: OrderIntent) -> None:
        """Journal and follow an order the venue has and the journal lacked (venue sync)."""
        self.stats.orders_adopted += 1
        self.open_intents[intent.client_order_id] = intent
        self._journal.commit(Batch(intents=[intent]))

    # ------------------------------------------------------------------ fills
    def settle_filled(self, intent: OrderIntent) -> OrderIntent:
        """Book every fill of an order the venue reports filled; never FILLED without them."""
        cid = intent.client_order_id
        self.open_intents[cid] = intent
        try:
            fills = self._broker.get_fills(cid)
        except BrokerError as e:
            log.warning("fills_deferred cid=%s error=%s", cid, e)
            return self._update(intent)  # stays open: followed up like any open order
        self.apply_fills(fills, self._journal.fill_recorded)
        current = self.open_intents.get(cid)
        if current is None:
            return replace(intent, status=OrderStatus.FILLED)
        if not fills:
            return self._update(current)
        if cid in self.stats.working_filled:
            # Its trades were booked while the venue still worked it: it completes now, once.
            return self._update(self._completed(current))
        # Every trade was booked, and the order counted, before: the venue sync adopted it and
        # this submission (a replay of old bars after a restore) re-sent a client id the venue
        # already had, which answered with its record. Not a new order: not counted again.
        log.info("order_already_booked cid=%s fills=%d", cid, len(fills))
        self.stats.orders_submitted = max(0, self.stats.orders_submitted - 1)
        return self._update(replace(current, status=OrderStatus.FILLED,
                                    updated_at=self._clock.now()))

    def apply_fills(
        self, fills: Sequence[Fill], already_recorded: Callable[[str], bool] | None = None
    ) -> list[str]:
        """Book fills of final orders exactly once; return the fill ids booked.

        A venue may fill one order in several trades (one Fill each), handed over together
        once the order is final. Each fill moves cash, position and fees; the order completes
        (FILLED, counted once as a filled order and an executed trade) with its last new fill.
        """
        fresh = [f for f in fills if already_recorded is None or not already_recorded(f.fill_id)]
        last = {fill.client_order_id: index for index, fill in enumerate(fresh)}
        return [fill.fill_id for index, fill in enumerate(fresh)
                if self.apply_fill(fill, completes=last[fill.client_order_id] == index)]

    def apply_fill(
        self,
        fill: Fill,
        already_recorded: Callable[[str], bool] | None = None,
        *,
        completes: bool = True,
    ) -> bool:
        """Book a broker fill exactly once; return False when it was already booked.

        completes=False books a trade of an order the venue has not finished: the intent
        stays open (SUBMITTED) and is counted when a later fill or settle_filled completes it.
        """
        intent = self.open_intents.get(fill.client_order_id)
        if intent is None or (already_recorded is not None and already_recorded(fill.fill_id)):
            return False
        realized = self._portfolio.apply_fill(fill)
        self._risk.record_fill(realized, trade=completes, at=fill.ts)
        self.stats.fees += fill.fee
        reference = intent.request.reference_price
        if reference > 0 and math.isfinite(fill.price):
            self._breaker.report_slippage(reference, fill.price)
        if completes:
            updated = self._completed(intent, count_in_risk=False)
        else:
            working = self.stats.working_filled
            working[fill.client_order_id] = working.get(fill.client_order_id, 0.0) + fill.quantity
            updated = replace(intent, status=OrderStatus.SUBMITTED, updated_at=self._clock.now())
        batch = Batch(
            fills=[fill],
            positions=[r for r in self._portfolio.position_records(fill.ts)
                       if r.symbol == fill.symbol],
        )
        self._update(updated, batch)
        return True

    def _completed(self, intent: OrderIntent, *, count_in_risk: bool = True) -> OrderIntent:
        """Count an order whose fills are all booked as filled (once) and return it FILLED."""
        if count_in_risk:
            self._risk.record_fill(0.0)  # its trades moved the day's P&L as they were booked
        self.stats.orders_filled += 1
        self.stats.trades_executed += 1
        # Every field given: a constructor call, several times cheaper than replace().
        return OrderIntent(intent.request, OrderStatus.FILLED, self._clock.now(),
                           intent.broker_order_id, intent.reason)

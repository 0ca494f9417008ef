"""Idempotent order execution: gates, journaled intent, broker call, outcome, fills."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker, ExecutionAction
from engine.clock import Clock
from engine.errors import BrokerError
from engine.events import OrderDenied, SignalRecorded
from engine.journal import EngineJournal
from engine.model import BrokerOrder, Fill, OrderIntent, OrderRequest, OrderStatus, Side, Signal
from engine.portfolio import Portfolio
from engine.ports import Batch
from engine.risk import OrderRisk, RiskManager
from engine.strategy import StrategyConfig, target_order

log = logging.getLogger(__name__)

# Final statuses without a fill: the venue refused or ended the order.
_DEAD = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED})


def client_order_id(strategy_id: str, signal: Signal) -> str:
    """Return the deterministic client order id of the order a signal asks for."""
    fast, slow = signal.periods
    stamp = signal.bar_time.strftime("%Y%m%dT%H%M%SZ")
    return f"{strategy_id}-{signal.symbol}-{signal.side.value}-{stamp}-{fast}x{slow}"


def flatten_order_id(strategy_id: str, symbol: str, at: datetime) -> str:
    """Return the deterministic client order id of a close-at-market order."""
    return f"{strategy_id}-{symbol}-FLAT-{at.strftime('%Y%m%dT%H%M%SZ')}"


@dataclass(slots=True)
class ExecutionCounters:
    """Order counts and fees: the execution's snapshot section, surviving restarts."""

    orders_submitted: int = 0
    orders_filled: int = 0
    orders_failed: int = 0
    trades_executed: int = 0
    denials: Counter[str] = field(default_factory=Counter)
    fees: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        return {
            "orders_submitted": self.orders_submitted,
            "orders_filled": self.orders_filled,
            "orders_failed": self.orders_failed,
            "trades_executed": self.trades_executed,
            "denials": dict(sorted(self.denials.items())),
            "fees": self.fees,
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any] | None) -> ExecutionCounters:
        """Rebuild the counters from snapshot() (None: a fresh start)."""
        data = data or {}
        return cls(
            orders_submitted=int(data.get("orders_submitted", 0)),
            orders_filled=int(data.get("orders_filled", 0)),
            orders_failed=int(data.get("orders_failed", 0)),
            trades_executed=int(data.get("trades_executed", 0)),
            denials=Counter(data.get("denials", {})),
            fees=float(data.get("fees", 0.0)),
        )


class OrderExecutionEngine:
    """Turn signals into orders through the breaker and risk gates, journaling every step.

    The intent is committed (PENDING_SUBMIT) before the broker is called, so a crash at any
    point leaves a record that recovery reconciles by client_order_id instead of resending.
    Every step is committed through the journal it shares with the session.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        breaker: CircuitBreaker,
        risk: RiskManager,
        broker: Broker,
        portfolio: Portfolio,
        strategy: StrategyConfig,
        journal: EngineJournal,
        counters: ExecutionCounters,
        open_intents: Iterable[OrderIntent] = (),
    ) -> None:
        self._clock = clock
        self._breaker = breaker
        self._risk = risk
        self._broker = broker
        self._portfolio = portfolio
        self._strategy = strategy
        self._journal = journal
        self.stats = counters
        self.open_intents: dict[str, OrderIntent] = {i.client_order_id: i for i in open_intents}

    def exposure(self, symbol: str) -> float:
        """Return position plus the signed quantity of orders still open for a symbol."""
        pending = 0.0
        for intent in self.open_intents.values():
            request = intent.request
            if request.symbol == symbol:
                pending += request.side.sign * request.quantity
        return self._portfolio.position(symbol) + pending

    # ------------------------------------------------------------------ signals
    def handle_signal(self, signal: Signal, last_price: float) -> SignalRecorded:
        """Gate a signal and, if allowed, journal and send its order; return what happened."""
        now = self._clock.now()
        cid = client_order_id(self._strategy.strategy_id, signal)
        wanted = target_order(signal, self.exposure(signal.symbol), self._strategy)
        if wanted is None:
            record = self._signal_record(signal, now, "at_target", "position already at target")
            self._journal.commit(Batch(signals=[record]))
            return record
        side, quantity, reduce_only = wanted
        request = OrderRequest(
            client_order_id=cid,
            symbol=signal.symbol,
            side=side,
            quantity=quantity,
            reference_price=last_price,
            created_at=now,
            reduce_only=reduce_only,
            confidence=signal.confidence,
        )
        gated = self._gate(request)
        if isinstance(gated, OrderDenied):
            record = self._signal_record(signal, now, "denied", gated.reason, cid)
            self._journal.commit(Batch(signals=[record], denials=[gated]))
            return record
        record = self._signal_record(signal, now, "ordered", "", cid)
        self._submit(gated, signal_record=record)
        return record

    def flatten(self, symbol: str, last_price: float) -> OrderIntent | None:
        """Send a reduce-only market order closing the symbol's position, if any."""
        position = self.exposure(symbol)
        if position == 0.0 or any(
            i.request.symbol == symbol and i.request.reduce_only for i in self.open_intents.values()
        ):
            return None
        now = self._clock.now()
        request = OrderRequest(
            client_order_id=flatten_order_id(self._strategy.strategy_id, symbol, now),
            symbol=symbol,
            side=Side.SELL if position > 0 else Side.BUY,
            quantity=abs(position),
            reference_price=last_price,
            created_at=now,
            reduce_only=True,
        )
        gated = self._gate(request)
        if isinstance(gated, OrderDenied):
            self._journal.commit(Batch(denials=[gated]))
            return None
        return self._submit(gated)

    # ------------------------------------------------------------------ gates
    def _action(self, request: OrderRequest) -> ExecutionAction:
        return ExecutionAction(
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            confidence=request.confidence,
            reduces_position=request.reduce_only,
        )

    def _gate(self, request: OrderRequest) -> OrderRequest | OrderDenied:
        decision = self._breaker.check_execution_allowed(self._action(request))
        if not decision.allowed:
            return self._deny(request, "breaker", decision.reason)
        if decision.size_factor != 1.0 and not request.reduce_only:
            request = replace(request, quantity=request.quantity * decision.size_factor)
        denied = self._risk_gate(request)
        return request if denied is None else denied

    def _risk_gate(self, request: OrderRequest) -> OrderDenied | None:
        symbol = request.symbol
        order = OrderRisk(
            symbol=symbol,
            side=request.side,
            quantity=request.quantity,
            price=request.reference_price,
            reduce_only=request.reduce_only,
            limit_price=request.limit_price,
        )
        try:
            decision = self._risk.check(
                order,
                self.exposure(symbol),
                self._portfolio.last_price(symbol),
                self._portfolio.unrealized_pnl(),
            )
        except (ArithmeticError, ValueError, KeyError) as e:
            # Fail closed: a limit we cannot evaluate is a limit that blocks.
            return self._deny(request, "evaluation", f"risk limits could not be evaluated: {e}")
        if decision.allowed:
            return None
        return self._deny(request, decision.check, decision.reason)

    def _deny(self, request: OrderRequest, check: str, reason: str) -> OrderDenied:
        self.stats.denials[check] += 1
        log.info(
            "order_denied cid=%s check=%s reason=%s", request.client_order_id, check, reason
        )
        return OrderDenied(
            at=self._clock.now(),
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            check=check,
            reason=reason,
        )

    # ------------------------------------------------------------------ broker
    def _submit(
        self, request: OrderRequest, signal_record: SignalRecorded | None = None
    ) -> OrderIntent:
        intent = OrderIntent(request, OrderStatus.PENDING_SUBMIT, self._clock.now())
        self.open_intents[request.client_order_id] = intent
        self._risk.record_submission()
        self.stats.orders_submitted += 1
        signals = [signal_record] if signal_record else []
        self._journal.commit(Batch(signals=signals, intents=[intent]))
        return self.send(intent)

    def send(self, intent: OrderIntent) -> OrderIntent:
        """Call the broker for a journaled intent and journal the outcome."""
        request = intent.request
        try:
            ack = self._broker.place_order(self._protected(request))
        except BrokerError as e:
            # The order may or may not exist: it stays open (UNKNOWN) until the venue answers,
            # and is counted failed or filled then; the breaker hears of the failure now.
            self._breaker.report_order_failure(
                {"client_order_id": request.client_order_id, "error": type(e).__name__,
                 "message": str(e)}
            )
            updated = replace(
                intent, status=OrderStatus.UNKNOWN, updated_at=self._clock.now(), reason=str(e)
            )
            return self._update(updated)
        if ack.accepted:
            self._breaker.report_api_latency(ack.latency_ms)
            self._breaker.report_order_success()
            status = ack.status
            if status is OrderStatus.FILLED:
                # A filled ack (e.g. the venue's stored answer for a known client id) is only
                # final once its fills are booked: book them from the venue, exactly once.
                submitted = replace(intent, status=OrderStatus.SUBMITTED,
                                    updated_at=self._clock.now(),
                                    broker_order_id=ack.broker_order_id, reason=ack.reason)
                return self.settle_filled(submitted)
        else:
            self.stats.orders_failed += 1
            self._breaker.report_order_failure(
                {"client_order_id": request.client_order_id, "reason": ack.reason}
            )
            status = OrderStatus.REJECTED
        updated = replace(
            intent,
            status=status,
            updated_at=self._clock.now(),
            broker_order_id=ack.broker_order_id,
            reason=ack.reason,
        )
        return self._update(updated)

    def _update(self, intent: OrderIntent, batch: Batch | None = None) -> OrderIntent:
        if intent.status.is_final:
            self.open_intents.pop(intent.client_order_id, None)
        else:
            self.open_intents[intent.client_order_id] = intent
        batch = batch or Batch()
        batch.intents.append(intent)
        self._journal.commit(batch)
        return intent

    # ------------------------------------------------------------------ follow-up
    def _protected(self, request: OrderRequest) -> OrderRequest:
        """Return a market order with its price protection: a marketable limit at the collar.

        Derived from the journaled request at every send, so a resend after a crash carries
        the same protection.
        """
        if request.limit_price is not None or request.collar_price is not None:
            return request
        pct = self._risk.config.price_collar_pct / 100.0
        collar = request.reference_price * (1.0 + request.side.sign * pct)
        return replace(request, collar_price=collar)

    def follow_up(self) -> None:
        """Ask the venue about every open order; settle the fills, cancels and rejects it tells.

        Runs every bar: an order the venue acknowledged can still die there (cancelled at fill
        for funds, no position to reduce, nothing within the price collar). Such an order is a
        failed order, reported to the breaker, and stops counting in exposure().
        """
        if not self.open_intents:
            return
        for intent in list(self.open_intents.values()):
            if intent.status is OrderStatus.PENDING_SUBMIT:
                continue  # only between journaling and the broker call, or settled at start
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

    def _settle(
        self, intent: OrderIntent, found: BrokerOrder | None, *, resend_missing: bool
    ) -> OrderIntent:
        """Bring an open intent to the venue's view of its order."""
        if found is None:
            if resend_missing and intent.status is OrderStatus.PENDING_SUBMIT:
                return self.send(intent)
            return self._fail(intent, OrderStatus.REJECTED,
                              "broker confirms the order does not exist")
        if found.status is OrderStatus.FILLED:
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
        self.open_intents[intent.client_order_id] = intent
        self._journal.commit(Batch(intents=[intent]))

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
        if fills:
            # Every fill was booked before (by the venue sync, or as trades of an order that
            # was still working then): the order completes now, counted once.
            return self._update(self._completed(current))
        return self._update(current)

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
        return replace(intent, status=OrderStatus.FILLED, updated_at=self._clock.now())

    def suppressed_record(self, signal: Signal) -> SignalRecorded:
        """Return the journal record of a duplicate signal the strategy suppressed."""
        return self._signal_record(
            signal, self._clock.now(), "suppressed", "duplicate of the last signal for this key"
        )

    def dry_run_record(self, signal: Signal) -> SignalRecorded:
        """Return the journal record of a signal seen in dry-run mode (never ordered)."""
        return self._signal_record(signal, self._clock.now(), "dry_run", "dry run: no order sent")

    def _signal_record(
        self, signal: Signal, now: datetime, outcome: str, reason: str, cid: str | None = None
    ) -> SignalRecorded:
        return SignalRecorded(
            at=now,
            symbol=signal.symbol,
            side=signal.side,
            confidence=signal.confidence,
            bar_time=signal.bar_time,
            periods=signal.periods,
            outcome=outcome,
            reason=reason,
            client_order_id=cid,
        )

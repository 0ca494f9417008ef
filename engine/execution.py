"""Idempotent order submission: gates, journaled intent, broker call, the venue's answer.

Settlement of what follows (acknowledgement, follow-up, fills, failed orders) is
`engine.settlement.OrderSettlement`, which OrderExecutionEngine extends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker, ExecutionAction
from engine.clock import Clock
from engine.errors import BrokerError
from engine.events import OrderDenied, SignalRecorded
from engine.execution_counters import ExecutionCounters
from engine.journal import EngineJournal
from engine.model import OrderIntent, OrderRequest, OrderStatus, Side, Signal
from engine.portfolio import Portfolio
from engine.ports import Batch
from engine.risk import OrderRisk, RiskManager
from engine.settlement import OrderSettlement
from engine.strategy import StrategyConfig, target_order

__all__ = ["ExecutionCounters", "OrderExecutionEngine", "client_order_id", "flatten_order_id"]

log = logging.getLogger(__name__)


def client_order_id(strategy_id: str, signal: Signal) -> str:
    """Return the deterministic client order id of the order a signal asks for."""
    fast, slow = signal.periods
    stamp = signal.bar_time.strftime("%Y%m%dT%H%M%SZ")
    return f"{strategy_id}-{signal.symbol}-{signal.side.value}-{stamp}-{fast}x{slow}"


def flatten_order_id(strategy_id: str, symbol: str, at: datetime) -> str:
    """Return the deterministic client order id of a close-at-market order."""
    return f"{strategy_id}-{symbol}-FLAT-{at.strftime('%Y%m%dT%H%M%SZ')}"


class OrderExecutionEngine(OrderSettlement):
    """Turn signals into orders through the breaker and risk gates, journaling every step.

    The intent is committed (PENDING_SUBMIT, alone; its signal row rides with the next commit)
    before the broker is called, so a crash at any point leaves a record that recovery takes
    up by client_order_id instead of resending.
    The venue's answer rides along with the next commit (see OrderSettlement.acknowledge):
    two commits per filled order, the intent and the fill. Every step is committed through
    the journal it shares with the session; settlement of open orders is OrderSettlement's.
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
        held: Iterable[OrderIntent] = (),
    ) -> None:
        super().__init__(clock=clock, breaker=breaker, risk=risk, broker=broker,
                         portfolio=portfolio, journal=journal, counters=counters,
                         open_intents=open_intents, held=held)
        self._strategy = strategy

    def exposure(self, symbol: str) -> float:
        """Return position plus the signed unfilled quantity of orders still open for a symbol."""
        pending = 0.0
        booked = self.stats.working_filled  # trades of working orders are in the position
        for cid, intent in self.open_intents.items():
            request = intent.request
            if request.symbol == symbol:
                rest = max(request.quantity - booked.get(cid, 0.0), 0.0)
                pending += request.side.sign * rest
        return self._portfolio.position(symbol) + pending

    # ------------------------------------------------------------------ signals
    def handle_signal(self, signal: Signal, last_price: float) -> SignalRecorded:
        """Gate a signal and, if allowed, journal and send its order; return what happened."""
        now = self._clock.now()
        cid = client_order_id(self._strategy.strategy_id, signal)
        if cid in self.taken_up:
            # Ordered by a run that died before this row's commit, and taken up by recovery
            # already (its position is in exposure() now): the row it lost, once.
            self.taken_up.discard(cid)
            record = self._signal_record(signal, now, "ordered", "", cid)
            self._journal.pending.signals.append(record)
            return record
        wanted = target_order(signal, self.exposure(signal.symbol), self._strategy)
        if wanted is None:
            record = self._signal_record(signal, now, "at_target", "position already at target")
            self._journal.note_decision(record)
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
            self._journal.note_decision(record, gated)
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
            self._journal.note_decision(None, gated)
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
        if signal_record is not None:
            # The signal row rides with the next commit, as the sections do: a run that dies
            # before it re-runs this bar and records the signal then, once.
            self._journal.pending.signals.append(signal_record)
        held = self.held.get(request.client_order_id)
        if held is not None:
            # Journaled by a run that died before its next commit; the re-run of the bars
            # has reached the moment it was sent.
            return self.resume_held(held, gated=request)
        intent = OrderIntent(request, OrderStatus.PENDING_SUBMIT, self._clock.now())
        self.count_submission(intent)
        # Durable before the broker call, alone (one row: SQLite's cheapest commit).
        self._journal.commit_rows(Batch(intents=[intent]))
        return self.send(intent)

    def send(self, intent: OrderIntent) -> OrderIntent:
        """Call the broker for a journaled intent and apply its answer (acknowledge)."""
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
        return self.acknowledge(intent, ack)

    def resend(self, intent: OrderIntent, gated: OrderRequest | None = None) -> OrderIntent:
        """Send a journaled intent the venue never received, unless the gates now refuse it.

        The intent passed both gates when it was journaled, and a crash kept it from the
        venue. When the re-run has just asked for it again, `gated` is what the gates allow
        now: the intent goes out if it is no larger (an entry shrunk in THROTTLE before the
        crash is shrunk alike now). Otherwise (a held intent the run passed, a resend at
        recovery) the breaker is asked: an order it refuses, or lets through only smaller (an
        entry in THROTTLE or a HALF_OPEN probe), is cancelled, a failed order, and the
        strategy's next signal is sized by the breaker then. The risk limits are not asked
        again: the intent's own submission is in their windows.
        """
        request = intent.request
        if gated is not None:
            if request.quantity <= gated.quantity * (1.0 + 1e-9):
                return self.send(intent)
            why = f"only {gated.quantity:g} allowed now, {request.quantity:g} journaled"
            return self._cancel_late(intent, why)
        decision = self._breaker.check_execution_allowed(self._action(request))
        # An entry the breaker now lets through only shrunk (THROTTLE, a HALF_OPEN probe) is
        # not sent at the size journaled before: the client id is bound to that quantity.
        if decision.allowed and (decision.size_factor >= 1.0 or request.reduce_only):
            return self.send(intent)
        why = decision.reason if not decision.allowed else f"only smaller now: {decision.reason}"
        return self._cancel_late(intent, why)

    def _cancel_late(self, intent: OrderIntent, why: str) -> OrderIntent:
        """Cancel an intent the venue never got and the gates no longer allow: a failed order."""
        request = intent.request
        denied = self._deny(request, "breaker", f"not sent after a restart: {why}")
        self.stats.orders_failed += 1
        log.warning("resend_refused cid=%s reason=%s", request.client_order_id, why)
        cancelled = replace(intent, status=OrderStatus.CANCELLED, updated_at=self._clock.now(),
                            reason=denied.reason)
        return self._update(cancelled, Batch(denials=[denied]))

    def _protected(self, request: OrderRequest) -> OrderRequest:
        """Return a market order with its price protection: a marketable limit at the collar.

        Derived from the journaled request at every send, so a resend after a crash carries
        the same protection.
        """
        if request.limit_price is not None or request.collar_price is not None:
            return request
        pct = self._risk.config.price_collar_pct / 100.0
        collar = request.reference_price * (1.0 + request.side.sign * pct)
        # Every field given: a constructor call, several times cheaper than replace().
        return OrderRequest(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            reference_price=request.reference_price,
            created_at=request.created_at,
            reduce_only=request.reduce_only,
            limit_price=request.limit_price,
            confidence=request.confidence,
            collar_price=collar,
        )

    def ordered_before(self, signal: Signal) -> bool:
        """Return True when the journal holds this very signal's order.

        Only a replay's re-run of the bar a crash interrupted meets that: the lost run ordered
        the signal in this bar and stored the strategy's memory of it, so the re-run's strategy
        takes it for a repeat. A true repeat's order id (the bar's own time) is never journaled.
        """
        return self._journal.intent_recorded(client_order_id(self._strategy.strategy_id, signal))

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

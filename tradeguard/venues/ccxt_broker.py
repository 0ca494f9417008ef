"""`CcxtBroker`: the engine's Broker port on a real venue through ccxt (Binance spot first).

Order placement and lookup are here; fills and account history are `CcxtFills`
(`ccxt_fills.py`), timed and classified round trips `VenueCalls` (`calls.py`).

Contract kept with the paper venue (same contract tests):
- place_order sends the deterministic client order id (encoded to the venue's rules) and
  answers SUBMITTED for any order the venue took; fills arrive through poll_fills once the
  order is final, all of its trades together.
- One Fill per venue trade everywhere (get_fills, poll_fills, fills_since), named
  `<exchange>-trade-<tradeId>`: the same execution has the same fill id whichever call saw it,
  so the journal books it once. An order filled in three trades is three fills; the engine
  counts it as one filled order.
- fills_since lists the account's trades of the traded symbols (Binance myTrades wants a
  symbol and at most 24 h per request, so it walks 24 h windows, 1000 trades a page); None
  means the last `history` (venue.sync_lookback_hours). Trades of orders this process did
  not send are named by the venue's client order id, decoded to the engine's id for every id
  given to `track`.
- A market order is a marketable limit at the price collar (IOC), so it never fills beyond it:
  venue.collar_pct from the reference price, or the order's own collar_price (the engine's
  risk.price_collar_pct) when that is tighter.
- A submit that may or may not have reached the venue raises BrokerTimeoutError; a definite
  refusal is a REJECTED ack naming why. Other calls raise BrokerUnavailableError subclasses.
  Bad credentials are critical: the attached breaker is told (SHUTDOWN) at once.
- get_order returns None only when the venue itself answers "order does not exist".
Latency of every call is measured with the injected clock; place/cancel acks carry it (the
engine reports it to the breaker) and listeners see every call as a VenueCall.
Spot only: `reduce_only` has no venue meaning (a sell larger than the holding is refused for
funds), and positions are the base-asset balances of the traded symbols.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from engine.clock import Clock
from engine.errors import BrokerTimeoutError
from engine.model import BrokerAck, BrokerOrder, OrderRequest, OrderStatus, Side
from tradeguard.venues.calls import BreakerSink, VenueCall
from tradeguard.venues.ccxt_fills import CcxtFills, TrackedOrder
from tradeguard.venues.failures import FailureKind, VenueCallError
from tradeguard.venues.ids import encode_client_order_id
from tradeguard.venues.orders import order_view

__all__ = ["BreakerSink", "CcxtBroker", "VenueCall"]

log = logging.getLogger(__name__)


class CcxtBroker(CcxtFills):
    """Broker port implemented with a ccxt exchange; symbols are ccxt unified (BTC/USDT).

    Order placement and lookup here; fills and account history in CcxtFills, round trips in
    VenueCalls.
    """

    def __init__(
        self,
        exchange: Any,
        clock: Clock,
        symbols: Sequence[str],
        *,
        collar_pct: float = 0.5,
        encode: Callable[[str], str] = encode_client_order_id,
        listeners: Sequence[Callable[[VenueCall], None]] = (),
        history: timedelta = timedelta(hours=720),
    ) -> None:
        super().__init__(exchange, clock, symbols, encode=encode, listeners=listeners,
                         history=history)
        self._collar = collar_pct / 100.0

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Send a limit (or collared IOC) order under its encoded client id."""
        cid = order.client_order_id
        venue_id = self._encode(cid)
        if cid in self._tracked:
            # Sent before by this process: the venue's order is the answer (Binance would take
            # the same id again once the first order is final).
            found = self.get_order(cid)
            if found is not None:
                return BrokerAck(cid, found.status, found.broker_order_id, self.last_latency_ms,
                                 found.reason)
        try:
            self._ensure_markets()
        except VenueCallError as e:  # nothing was sent: a definite, if unlucky, refusal
            return BrokerAck(cid, OrderStatus.REJECTED, None, self.last_latency_ms,
                             f"not sent, markets unavailable: {e}")
        self._tracked.setdefault(cid, TrackedOrder(order.symbol, venue_id))
        self._engine_ids[venue_id] = cid
        side = "buy" if order.side is Side.BUY else "sell"
        if order.limit_price is not None:
            price, tif = order.limit_price, "GTC"
        else:
            price, tif = self._collar_price(order), "IOC"
        params = {"newClientOrderId": venue_id, "timeInForce": tif}
        try:
            raw = self._call("place_order", self._exchange.create_order, order.symbol, "limit",
                             side, order.quantity, price, params)
        except VenueCallError as e:
            return self._place_failed(order, venue_id, e)
        return self._ack_from(cid, raw, self.last_latency_ms)

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        """Cancel an open order; an unknown or final one is reported as it is."""
        started = self._clock.now()
        params = {"origClientOrderId": self._venue_id(client_order_id)}
        for symbol in self._candidates(client_order_id):
            try:
                raw = self._call("cancel_order", self._exchange.cancel_order, "", symbol, params)
            except VenueCallError as e:
                if e.kind is FailureKind.NOT_FOUND:
                    continue  # unknown or already final: looked up below
                if e.kind.ambiguous or e.kind.critical or e.kind is FailureKind.RATE_LIMITED:
                    raise
                return BrokerAck(client_order_id, OrderStatus.REJECTED, None,
                                 self._since(started), str(e))
            view = order_view(client_order_id, raw)
            return BrokerAck(client_order_id, view.status, view.broker_order_id,
                             self._since(started), "cancelled by client")
        found = self.get_order(client_order_id)
        latency = self._since(started)
        if found is None:
            return BrokerAck(client_order_id, OrderStatus.REJECTED, None, latency, "unknown order")
        reason = f"order already {found.status.value}"
        return BrokerAck(client_order_id, found.status, found.broker_order_id, latency, reason)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Query the venue by client order id; None only when it answers that none exists."""
        raw = self._fetch(client_order_id)
        return None if raw is None else order_view(client_order_id, raw)

    def get_positions(self) -> dict[str, float]:
        """Return base-asset holdings of the traded symbols (spot: the position is the balance)."""
        balance = self._call("get_positions", self._exchange.fetch_balance)
        positions: dict[str, float] = {}
        for symbol in self._symbols:
            base = symbol.split("/")[0]
            total = float((balance.get(base) or {}).get("total") or 0.0)
            if total != 0.0:
                positions[symbol] = total
        return positions

    def get_balance(self) -> float:
        """Return the free quote currency of the first traded symbol (e.g. USDT)."""
        quote = self._symbols[0].split("/")[1].split(":")[0]
        balance = self._call("get_balance", self._exchange.fetch_balance)
        return float((balance.get(quote) or {}).get("free") or 0.0)

    # ------------------------------------------------------------------ richer port
    def open_orders(self) -> list[BrokerOrder]:
        """Return every open order of the traded symbols, with venue client ids decoded."""
        decode = {**self._engine_ids, **{t.venue_id: cid for cid, t in self._tracked.items()}}
        found: list[BrokerOrder] = []
        for symbol in self._symbols:
            for raw in self._call("open_orders", self._exchange.fetch_open_orders, symbol):
                venue_id = str(raw.get("clientOrderId") or "")
                found.append(order_view(decode.get(venue_id, venue_id), raw))
        return found

    # ------------------------------------------------------------------ helpers
    def _collar_price(self, order: OrderRequest) -> float:
        """Return the IOC limit of a market order: the tighter of venue.collar_pct and the
        engine's own price protection (order.collar_price, from risk.price_collar_pct)."""
        sign = order.side.sign
        price = order.reference_price * (1.0 + sign * self._collar)
        engine = order.collar_price
        if engine is not None and sign * (price - engine) > 0:
            return engine
        return price

    def _candidates(self, cid: str) -> list[str]:
        tracked = self._tracked.get(cid)
        if tracked is not None:
            return [tracked.symbol]
        # After a restart the id carries the symbol in practice; try every traded one anyway.
        guess = [s for s in self._symbols if f"-{s}-" in cid]
        return guess + [s for s in self._symbols if s not in guess]

    def _venue_id(self, cid: str) -> str:
        tracked = self._tracked.get(cid)
        return tracked.venue_id if tracked is not None else self._encode(cid)

    def _fetch(self, cid: str) -> dict[str, Any] | None:
        venue_id = self._venue_id(cid)
        self._ensure_markets()
        for symbol in self._candidates(cid):
            try:
                raw: dict[str, Any] = self._call(
                    "get_order", self._exchange.fetch_order, "", symbol,
                    {"origClientOrderId": venue_id},
                )
            except VenueCallError as e:
                if e.kind is FailureKind.NOT_FOUND:
                    continue
                raise
            tracked = self._tracked.setdefault(cid, TrackedOrder(symbol, venue_id))
            tracked.order_id = str(raw.get("id") or "") or tracked.order_id
            if tracked.order_id:
                self._order_cids[tracked.order_id] = cid
            self._engine_ids[venue_id] = cid
            return raw
        return None

    def _ack_from(self, cid: str, raw: dict[str, Any], latency: float) -> BrokerAck:
        view = order_view(cid, raw)
        self._tracked[cid].order_id = view.broker_order_id
        self._order_cids[view.broker_order_id] = cid
        if view.status in (OrderStatus.SUBMITTED, OrderStatus.FILLED):
            # Filled at once or not: the fills are delivered by poll_fills, like the paper venue.
            return BrokerAck(cid, OrderStatus.SUBMITTED, view.broker_order_id, latency)
        self._finished.add(cid)
        reason = view.reason or "expired: no liquidity within the price collar"
        return BrokerAck(cid, OrderStatus.REJECTED, view.broker_order_id, latency, reason)

    def _place_failed(self, order: OrderRequest, venue_id: str,
                      error: VenueCallError) -> BrokerAck:
        cid = order.client_order_id
        latency = self.last_latency_ms
        if error.kind is FailureKind.DUPLICATE:
            # The venue already holds an open order under this id: that order is the answer.
            found = self.get_order(cid)
            if found is not None:
                log.info("venue_duplicate_resolved cid=%s venue_id=%s", cid, venue_id)
                return BrokerAck(cid, OrderStatus.SUBMITTED, found.broker_order_id, latency,
                                 "already at the venue")
        if error.kind.ambiguous:
            message = (f"no definite answer from {self._exchange.id} for order {cid} "
                       f"({error.kind.value}): it may or may not have executed; reconcile by "
                       f"client id {venue_id}")
            raise BrokerTimeoutError(message) from error
        # A definite refusal (credentials, rate limit, funds, invalid order): nothing to track.
        self._tracked.pop(cid, None)
        return BrokerAck(cid, OrderStatus.REJECTED, None, latency, str(error))


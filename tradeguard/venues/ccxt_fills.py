"""Account history and fills of a ccxt venue: one Fill per venue trade, whichever call saw it.

Every venue trade is one Fill named `<exchange>-trade-<tradeId>` in get_fills, poll_fills and
fills_since alike, so the journal books the same execution once. poll_fills hands over all
trades of an order together once it is final (the engine completes it once). fills_since walks
the account's trades of the traded symbols in the windows Binance myTrades allows (24 h, 1000
a page, `tradeguard.venues.history`); trades of orders this process did not send carry the
venue's client order id, decoded to the engine's for every id given to `track`.
Order lookup by client id (`_fetch`) is the order half's (`CcxtBroker`).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.clock import Clock
from engine.model import BrokerOrder, Fill, OrderStatus
from tradeguard.venues.calls import VenueCall, VenueCalls
from tradeguard.venues.failures import FailureKind, VenueCallError
from tradeguard.venues.history import PAGE, trade_order, trades_between
from tradeguard.venues.orders import order_view, trade_fill

__all__ = ["CcxtFills", "TrackedOrder"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TrackedOrder:
    """An order this process sent or looked up: its symbol and ids at the venue."""

    symbol: str
    venue_id: str
    order_id: str | None = None


class CcxtFills(VenueCalls):
    """The fill half of CcxtBroker: the order ids it learnt and the trades it handed over."""

    def __init__(
        self,
        exchange: Any,
        clock: Clock,
        symbols: Sequence[str],
        *,
        encode: Callable[[str], str],
        listeners: Sequence[Callable[[VenueCall], None]] = (),
        history: timedelta = timedelta(hours=720),
    ) -> None:
        super().__init__(exchange, clock, listeners)
        self._symbols = list(symbols)
        self._encode = encode
        self._history = history
        self._tracked: dict[str, TrackedOrder] = {}
        self._finished: set[str] = set()  # orders whose trades poll_fills delivered
        self._delivered: set[str] = set()  # fill ids poll_fills delivered
        self._engine_ids: dict[str, str] = {}  # venue client id -> engine client id
        self._order_cids: dict[str, str] = {}  # venue order id -> engine client id

    @abstractmethod
    def _fetch(self, cid: str) -> dict[str, Any] | None:
        """Return the venue's order under an engine client id (None: the venue has none)."""

    def track(self, client_order_ids: Iterable[str]) -> None:
        """Learn engine client ids (the journal's), so venue ids decode back to them."""
        for cid in client_order_ids:
            self._engine_ids[self._encode(cid)] = cid

    def get_fills(self, client_order_id: str) -> list[Fill]:
        """Return every trade of the order so far, one Fill each ([] before its first)."""
        raw = self._fetch(client_order_id)
        if raw is None:
            return []
        view = order_view(client_order_id, raw)
        return self._order_fills(view) if view.filled_quantity > 0 else []

    def poll_fills(self) -> list[Fill]:
        """Return the trades of orders that became final since the last poll ([] if unreachable).

        All trades of an order come in the same poll, so the engine completes it once.
        """
        fills: list[Fill] = []
        for cid in [c for c in self._tracked if c not in self._finished]:
            try:
                raw = self._fetch(cid)
                view = None if raw is None else order_view(cid, raw)
                new = [] if view is None else self._final_fills(view)
            except VenueCallError as e:
                log.warning("venue_poll_deferred cid=%s kind=%s", cid, e.kind.value)
                break  # the rest waits for the next poll; nothing is lost
            if view is None:
                self._tracked.pop(cid, None)
                continue
            fills.extend(new)
        return fills

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return every trade of the traded symbols at or after since, one Fill each.

        None means the last `history`. Oldest first per symbol.
        """
        self._ensure_markets()
        start = since if since is not None else self._clock.now() - self._history
        fills: list[Fill] = []
        for symbol in self._symbols:
            for trade in self._trades_since(symbol, start):
                cid = self._client_id_of(symbol, str(trade.get("order") or ""))
                fill = trade_fill(cid, self._fill_id(trade), symbol, trade)
                if fill is not None:
                    fills.append(fill)
        return fills

    def _fill_id(self, trade: dict[str, Any]) -> str:
        return f"{self._exchange.id}-trade-{trade['id']}"

    def _order_fills(self, view: BrokerOrder) -> list[Fill]:
        """Return one Fill per venue trade of an order."""
        trades = self._call("get_fills", self._exchange.fetch_my_trades, view.symbol, None, None,
                            {"orderId": view.broker_order_id})
        found = (trade_fill(view.client_order_id, self._fill_id(t), view.symbol, t)
                 for t in sorted(trades, key=trade_order))
        return [f for f in found if f is not None]

    def _final_fills(self, view: BrokerOrder) -> list[Fill]:
        """Return the undelivered trades of an order once it is final; [] while it works."""
        if not view.status.is_final:
            return []
        fills = self._order_fills(view) if view.status is OrderStatus.FILLED else []
        new = [f for f in fills if f.fill_id not in self._delivered]
        self._delivered.update(f.fill_id for f in new)
        self._finished.add(view.client_order_id)
        return new

    def _trades_since(self, symbol: str, start: datetime) -> list[dict[str, Any]]:
        def page(cursor_ms: int, end_ms: int) -> list[dict[str, Any]]:
            return self._call("fills_since", self._exchange.fetch_my_trades, symbol, cursor_ms,
                              PAGE, {"endTime": end_ms})

        return trades_between(page, start, self._clock.now())

    def _client_id_of(self, symbol: str, order_id: str) -> str:
        """Return the engine's client id of a venue order (the venue's own id if unknown)."""
        known = self._order_cids.get(order_id)
        if known is not None:
            return known
        try:
            raw = self._call("get_order", self._exchange.fetch_order, order_id, symbol)
        except VenueCallError as e:
            if e.kind is not FailureKind.NOT_FOUND:
                raise
            raw = {}
        venue_id = str(raw.get("clientOrderId") or "")
        cid = self._engine_ids.get(venue_id, venue_id) or f"venue-order-{order_id}"
        self._order_cids[order_id] = cid
        return cid


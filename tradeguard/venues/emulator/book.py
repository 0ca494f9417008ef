"""The emulated account: balances, orders and trades, with Binance spot matching rules.

Market orders and marketable limit orders fill at once at the trade price (the open of the
bar running at the emulator time); resting limit orders fill when a later closed bar crosses
their price. A client order id must be unique among *open* orders, as on Binance: after an
order is final the same id is accepted again, which is why the broker queries before it resends.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime

from tradeguard.venues.emulator.market import MarketData, SymbolSpec, to_ms

__all__ = ["ApiError", "Book", "Order", "Trade"]

_TIFS = ("GTC", "IOC", "FOK")
_DAY_MS = 24 * 3600 * 1000


class ApiError(Exception):
    """A Binance error answer: HTTP status, code and message."""

    def __init__(self, http: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.http = http
        self.code = code
        self.msg = msg


def _bad(code: int, msg: str) -> ApiError:
    return ApiError(400, code, msg)


@dataclass(slots=True)
class Order:
    """One order as the venue keeps it."""

    order_id: int
    symbol: str
    client_order_id: str
    side: str
    type: str
    tif: str
    price: float
    quantity: float
    placed_at: datetime
    status: str = "NEW"
    executed: float = 0.0
    quote: float = 0.0
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Return True while the order can still fill."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def to_json(self) -> dict[str, object]:
        """Return the Binance order object."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": _num(self.price),
            "origQty": _num(self.quantity),
            "executedQty": _num(self.executed),
            "cummulativeQuoteQty": _num(self.quote),
            "status": self.status,
            "timeInForce": self.tif,
            "type": self.type,
            "side": self.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": to_ms(self.placed_at),
            "updateTime": to_ms(self.updated_at or self.placed_at),
            "isWorking": True,
            "workingTime": to_ms(self.placed_at),
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: float
    quantity: float
    commission: float
    commission_asset: str
    at: datetime

    def to_json(self) -> dict[str, object]:
        """Return the Binance myTrades object."""
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": _num(self.price),
            "qty": _num(self.quantity),
            "quoteQty": _num(self.price * self.quantity),
            "commission": _num(self.commission),
            "commissionAsset": self.commission_asset,
            "time": to_ms(self.at),
            "isBuyer": self.side == "BUY",
            "isMaker": False,
            "isBestMatch": True,
        }


def _num(value: float) -> str:
    return f"{value:.8f}"


@dataclass(slots=True)
class Book:
    """Balances, orders and trades of the one emulated account."""

    market: MarketData
    specs: dict[str, SymbolSpec]
    balances: dict[str, float]
    fee_rate: float = 0.001
    orders: dict[int, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)  # every accepted client order id
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _matched_to: dict[str, datetime] = field(default_factory=dict)

    # ------------------------------------------------------------------ requests
    def place(self, p: dict[str, str], now: datetime, fill_fraction: float = 1.0,
              pieces: int = 1) -> Order:
        """Validate and book a new order; fill what is marketable now (in `pieces` trades)."""
        self.match(now)
        symbol = self._symbol(p)
        side = p.get("side", "")
        kind = p.get("type", "")
        if side not in ("BUY", "SELL"):
            raise _bad(-1100, "Illegal characters found in parameter 'side'.")
        if kind not in ("LIMIT", "MARKET"):
            raise _bad(-1116, "Invalid orderType.")
        quantity = _positive(p.get("quantity"), "quantity")
        cid = p.get("newClientOrderId") or f"emu-{next(self._ids)}"
        if any(o.is_open and o.client_order_id == cid for o in self.orders.values()):
            raise _bad(-2010, "Duplicate order sent.")
        tif = p.get("timeInForce", "GTC" if kind == "LIMIT" else "")
        if kind == "LIMIT" and tif not in _TIFS:
            raise _bad(-1115, "Invalid timeInForce.")
        price = _positive(p.get("price"), "price") if kind == "LIMIT" else 0.0
        trade_price = self.market.price(symbol, now)
        if trade_price is None:
            raise _bad(-1013, "Market is closed.")
        self._check_funds(symbol, side, quantity, price or trade_price)
        order = Order(next(self._ids), symbol, cid, side, kind, tif, price, quantity, now)
        self.orders[order.order_id] = order
        self.submissions.append(cid)
        marketable = kind == "MARKET" or (
            trade_price <= price if side == "BUY" else trade_price >= price
        )
        if marketable:
            # A taker order eats several resting orders on a real book: one trade each, every
            # quantity at the venue's 8-decimal precision (the last takes the remainder).
            total = round(quantity * fill_fraction, 8)
            piece = round(total / pieces, 8)
            for index in range(pieces):
                last = index == pieces - 1
                self._fill(order, trade_price, round(total - piece * index, 8) if last else piece,
                           now)
        if order.is_open and (kind == "MARKET" or tif in ("IOC", "FOK")):
            order.status = "EXPIRED"
            order.updated_at = now
        return order

    def find(self, p: dict[str, str]) -> Order:
        """Return the order named by orderId or origClientOrderId (the latest with that id)."""
        symbol = self._symbol(p)
        cid = p.get("origClientOrderId")
        if cid:
            matches = [o for o in self.orders.values() if o.symbol == symbol
                       and o.client_order_id == cid]
            if matches:
                return matches[-1]
        elif p.get("orderId", "").isdigit():
            order = self.orders.get(int(p["orderId"]))
            if order is not None and order.symbol == symbol:
                return order
        raise _bad(-2013, "Order does not exist.")

    def cancel(self, p: dict[str, str], now: datetime, status: str = "CANCELED") -> Order:
        """Cancel an open order; a final or unknown one is -2011 Unknown order sent."""
        self.match(now)
        try:
            order = self.find(p)
        except ApiError as e:
            raise _bad(-2011, "Unknown order sent.") from e
        if not order.is_open:
            raise _bad(-2011, "Unknown order sent.")
        order.status = status
        order.updated_at = now
        return order

    def open_orders(self, symbol: str | None) -> list[Order]:
        """Return open orders, of one symbol or all."""
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    def my_trades(self, p: dict[str, str]) -> list[Trade]:
        """Return trades of a symbol: of one order, in [startTime, endTime], or from fromId."""
        symbol = self._symbol(p)
        order_id, start, end, from_id = (
            int(p[name]) if p.get(name, "").isdigit() else None
            for name in ("orderId", "startTime", "endTime", "fromId")
        )
        if (start is not None or end is not None) and from_id is not None:
            raise _bad(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > _DAY_MS:
            raise _bad(-1127, "More than 24 hours between startTime and endTime.")
        limit = min(int(p["limit"]) if p.get("limit", "").isdigit() else 500, 1000)
        found = [
            t for t in self.trades
            if t.symbol == symbol and order_id in (None, t.order_id)
            and (start is None or to_ms(t.at) >= start) and (end is None or to_ms(t.at) <= end)
            and (from_id is None or t.trade_id >= from_id)
        ]
        return found[:limit]

    # ------------------------------------------------------------------ matching
    def match(self, now: datetime) -> None:
        """Fill resting limit orders whose price a bar closed since the last match crossed."""
        for order in self.open_orders(None):
            after = self._matched_to.get(order.symbol, order.placed_at)
            after = max(after, order.placed_at)
            for bar in self.market.bars_between(order.symbol, after, now):
                crossed = bar.low <= order.price if order.side == "BUY" else bar.high >= order.price
                if crossed and order.is_open:
                    self._fill(order, order.price, order.quantity - order.executed, now)
        for symbol in self.market.symbols():
            self._matched_to[symbol] = now

    def _fill(self, order: Order, price: float, quantity: float, now: datetime) -> None:
        quantity = min(quantity, order.quantity - order.executed)
        if quantity <= 0:
            return
        spec = self.specs[order.symbol]
        notional = price * quantity
        fee = notional * self.fee_rate
        sign = 1.0 if order.side == "BUY" else -1.0
        # Balances are kept at the venue's 8 decimals, so a holding bought in several trades
        # can be sold in one order of the same size.
        self.balances[spec.base] = round(self.balances.get(spec.base, 0.0) + sign * quantity, 8)
        self.balances[spec.quote] = self.balances.get(spec.quote, 0.0) - sign * notional - fee
        order.executed += quantity
        order.quote += notional
        order.updated_at = now
        filled = math.isclose(order.executed, order.quantity, rel_tol=1e-12)
        order.status = "FILLED" if filled else "PARTIALLY_FILLED"
        self.trades.append(Trade(next(self._trade_ids), order.order_id, order.symbol, order.side,
                                 price, quantity, fee, spec.quote, now))

    def _check_funds(self, symbol: str, side: str, quantity: float, price: float) -> None:
        spec = self.specs[symbol]
        reserved_quote = sum(
            (o.quantity - o.executed) * o.price * (1 + self.fee_rate)
            for o in self.open_orders(None) if o.side == "BUY" and self.specs[o.symbol].quote
            == spec.quote
        )
        reserved_base = sum(o.quantity - o.executed for o in self.open_orders(symbol)
                            if o.side == "SELL")
        if side == "BUY":
            need = quantity * price * (1 + self.fee_rate)
            enough = self.balances.get(spec.quote, 0.0) - reserved_quote >= need
        else:
            enough = self.balances.get(spec.base, 0.0) - reserved_base >= quantity
        if not enough:
            raise _bad(-2010, "Account has insufficient balance for requested action.")

    def _symbol(self, p: dict[str, str]) -> str:
        symbol = p.get("symbol", "")
        if not symbol:
            raise _bad(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or "
                       "malformed.")
        if symbol not in self.specs:
            raise _bad(-1121, "Invalid symbol.")
        return symbol


def _positive(raw: str | None, name: str) -> float:
    try:
        value = float(raw or "")
    except ValueError as e:
        raise _bad(-1100, f"Illegal characters found in parameter '{name}'.") from e
    if not (math.isfinite(value) and value > 0):
        raise _bad(-1013, f"Invalid {name}.")
    return value

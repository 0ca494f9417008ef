"""Value types shared by every engine module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Side(StrEnum):
    """Direction of a signal or order."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """Return +1 for BUY and -1 for SELL."""
        return 1 if self is _BUY else -1


class Bar(NamedTuple):
    """One OHLCV bar; ts is the timezone-aware UTC start of the bar."""

    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


_BUY = Side.BUY


@dataclass(frozen=True, slots=True)
class Signal:
    """A strategy's wish to trade, before any gate."""

    symbol: str
    side: Side
    confidence: float
    bar_time: datetime
    periods: tuple[int, int]


class OrderStatus(StrEnum):
    """Life cycle of an order intent (see docs/state.md)."""

    PENDING_SUBMIT = "PENDING_SUBMIT"
    SUBMITTED = "SUBMITTED"
    FILLED = "FILLED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """Return True when no further broker event can change the order."""
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A market (or limit) order as sent to a broker, keyed by a deterministic client id.

    collar_price is a market order's price protection: the venue fills it as a marketable
    limit at that price, immediately or not at all (what it cannot fill there is cancelled).
    Execution sets it from risk.price_collar_pct when it sends the order.
    """

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    reference_price: float
    created_at: datetime
    reduce_only: bool = False
    limit_price: float | None = None
    confidence: float = 1.0
    collar_price: float | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """The engine's durable record of one order, written before the broker call."""

    request: OrderRequest
    status: OrderStatus
    updated_at: datetime
    broker_order_id: str | None = None
    reason: str = ""

    @property
    def client_order_id(self) -> str:
        """Return the order's client id."""
        return self.request.client_order_id


@dataclass(frozen=True, slots=True)
class BrokerAck:
    """A broker's definite answer to place or cancel."""

    client_order_id: str
    status: OrderStatus
    broker_order_id: str | None
    latency_ms: float
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """Return True when the broker took the order."""
        return self.status in (OrderStatus.SUBMITTED, OrderStatus.FILLED)


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """The broker's view of an order, looked up by client_order_id.

    ack is the venue's answer to the submission as it gave it (status then, latency, reason):
    recovery replays its effects when a crash lost them. None when the venue gave no answer
    (the submit timed out) or keeps no record of it.
    """

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    status: OrderStatus
    filled_quantity: float = 0.0
    average_price: float | None = None
    reason: str = ""
    ack: BrokerAck | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution reported by the broker; fill_id is unique per broker."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    ts: datetime

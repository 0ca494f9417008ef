"""The richer venue port reconciliation wants, and the paper venue behind it.

The engine's `Broker` port answers per order. Reconciling an account after a restore also
needs the venue-wide view: every open order and every fill since a time. `VenueAccount` is that
view; `CcxtBroker` implements it, and `PaperVenue` adds it to the paper broker so the same
contract tests and the same reconciliation run against both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from engine.broker import PaperBroker
from engine.model import Bar, BrokerAck, BrokerOrder, Fill, OrderRequest
from engine.paper_book import PaperBook

__all__ = ["PaperVenue", "VenueAccount"]


class VenueAccount(Protocol):
    """Account-wide queries on a venue (beyond the per-order Broker port)."""

    def open_orders(self) -> list[BrokerOrder]:
        """Return every order still open at the venue."""
        ...

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return every fill executed at or after `since` (None: as far back as it keeps)."""
        ...

    def get_positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""
        ...

    def get_balance(self) -> float:
        """Return free cash."""
        ...


class PaperVenue:
    """PaperBroker plus the VenueAccount queries; remembers the fills it executed."""

    def __init__(self, broker: PaperBroker, book: PaperBook) -> None:
        self._broker = broker
        self._book = book
        self._fills: list[Fill] = []

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Forward to the paper broker."""
        return self._broker.place_order(order)

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        """Forward to the paper broker."""
        return self._broker.cancel_order(client_order_id)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Forward to the paper broker."""
        return self._broker.get_order(client_order_id)

    def get_fills(self, client_order_id: str) -> list[Fill]:
        """Forward to the paper broker."""
        return self._broker.get_fills(client_order_id)

    def get_positions(self) -> dict[str, float]:
        """Forward to the paper broker."""
        return self._broker.get_positions()

    def get_balance(self) -> float:
        """Forward to the paper broker."""
        return self._broker.get_balance()

    def poll_fills(self) -> list[Fill]:
        """Forward to the paper broker."""
        return self._broker.poll_fills()

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Let the paper venue fill on a bar, remembering the fills for fills_since."""
        fills = self._broker.on_bar(bar)
        self._fills.extend(fills)
        return fills

    def open_orders(self) -> list[BrokerOrder]:
        """Return the paper book's pending orders."""
        return [order.view() for order in self._book.pending_orders()]

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return fills executed by this process at or after `since` (None: all)."""
        return [fill for fill in self._fills if since is None or fill.ts >= since]

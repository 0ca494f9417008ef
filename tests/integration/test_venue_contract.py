"""Broker contract: the same tests against the paper venue and CcxtBroker + Binance emulator.

Both venues run on a SimulatedClock over real FTX BTC-PERP bars of 2022-01-21 (served as
BTC/USDT). `next_bar()` moves the market one minute: the paper venue fills on the new bar's
open, the emulator has filled its marketable IOC at once; either way the fill is observed
through poll_fills only after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from engine.broker import BrokerConfig, InMemoryPaperBook, PaperBroker
from engine.clock import SimulatedClock
from engine.model import Bar, OrderRequest, OrderStatus, Side
from tests.integration.venue_support import (
    DATA_FILE,
    DAY_END,
    DAY_START,
    SYMBOL,
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    exchange_for,
    make_emulator,
    serving,
    venue_config,
)
from tradeguard.marketdata import read_bars
from tradeguard.venues.account import PaperVenue
from tradeguard.venues.ccxt_broker import CcxtBroker
from tradeguard.venues.ids import encode_client_order_id

MINUTE = timedelta(minutes=1)


class Venue(Protocol):
    broker: Any
    clock: SimulatedClock

    def price(self) -> float: ...
    def next_bar(self) -> None: ...
    def orders_with(self, cid: str) -> int: ...


class PaperHarness:
    def __init__(self, data_dir: Path) -> None:
        self.clock = SimulatedClock(T0)
        self._bars: dict[Any, Bar] = {
            i.bar.ts: i.bar for i in read_bars(data_dir / DATA_FILE, SYMBOL, DAY_START, DAY_END)
            if i.bar is not None
        }
        self._book = InMemoryPaperBook()
        self.broker = PaperVenue(PaperBroker(BrokerConfig(), self.clock, self._book), self._book)

    def price(self) -> float:
        return self._bars[self.clock.now()].open

    def next_bar(self) -> None:
        self.clock.advance(MINUTE)
        self.broker.on_bar(self._bars[self.clock.now()])

    def orders_with(self, cid: str) -> int:
        return 0 if self._book.get_order(cid) is None else 1


class CcxtHarness:
    def __init__(self, data_dir: Path, url: str, emulator: Any) -> None:
        self.clock = emulator.clock
        self._emulator = emulator
        config = venue_config(url)
        self.broker = CcxtBroker(exchange_for(config), self.clock, [SYMBOL])

    def price(self) -> float:
        value = self._emulator.book.market.price("BTCUSDT", self.clock.now())
        assert value is not None
        return value

    def next_bar(self) -> None:
        self.clock.advance(MINUTE)

    def orders_with(self, cid: str) -> int:
        wanted = encode_client_order_id(cid)
        return sum(1 for o in self._emulator.orders() if o.client_order_id == wanted)


@pytest.fixture(params=["paper", "ccxt"])
def venue(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Venue]:
    if request.param == "paper":
        yield PaperHarness(data_dir)
        return
    emulator = make_emulator(data_dir, SimulatedClock(T0))
    with serving(emulator) as server:
        yield CcxtHarness(data_dir, server.url, emulator)


def _order(venue: Venue, cid: str, side: Side = Side.BUY, quantity: float = 0.01,
           limit: float | None = None) -> OrderRequest:
    return OrderRequest(cid, SYMBOL, side, quantity, venue.price(), venue.clock.now(),
                        limit_price=limit)


CID = "sma-BTC/USDT-BUY-20220121T195900Z-10x30"  # 39 characters: too long for Binance as is


def test_market_order_is_acknowledged_then_filled_exactly_once(venue: Venue) -> None:
    request = _order(venue, CID)
    ack = venue.broker.place_order(request)
    assert ack.status is OrderStatus.SUBMITTED
    assert ack.client_order_id == CID
    assert ack.latency_ms >= 0.0
    venue.next_bar()
    fills = venue.broker.poll_fills()
    assert [f.client_order_id for f in fills] == [CID]
    fill = fills[0]
    assert fill.quantity == pytest.approx(0.01)
    assert fill.side is Side.BUY
    assert abs(fill.price / request.reference_price - 1) < 0.005  # inside the 0.5 % collar
    assert venue.broker.poll_fills() == []
    order = venue.broker.get_order(CID)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == pytest.approx(0.01)
    assert [f.fill_id for f in venue.broker.get_fills(CID)] == [fill.fill_id]


def test_unknown_order_is_none_and_has_no_fills(venue: Venue) -> None:
    assert venue.broker.get_order("sma-BTC/USDT-BUY-20200101T000000Z-10x30") is None
    assert venue.broker.get_fills("sma-BTC/USDT-BUY-20200101T000000Z-10x30") == []


def test_same_client_order_id_sent_twice_books_one_order(venue: Venue) -> None:
    first = venue.broker.place_order(_order(venue, CID))
    second = venue.broker.place_order(_order(venue, CID))
    assert second.broker_order_id == first.broker_order_id
    venue.next_bar()
    assert len(venue.broker.poll_fills()) == 1
    third = venue.broker.place_order(_order(venue, CID))
    assert third.broker_order_id == first.broker_order_id
    assert venue.orders_with(CID) == 1


def test_resting_limit_is_listed_open_then_cancelled_once(venue: Venue) -> None:
    limit = round(venue.price() * 0.8, 2)
    ack = venue.broker.place_order(_order(venue, CID, limit=limit))
    assert ack.status is OrderStatus.SUBMITTED
    venue.next_bar()
    assert venue.broker.poll_fills() == []
    assert [o.client_order_id for o in venue.broker.open_orders()] == [CID]
    cancelled = venue.broker.cancel_order(CID)
    assert cancelled.status is OrderStatus.CANCELLED
    order = venue.broker.get_order(CID)
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert venue.broker.open_orders() == []
    again = venue.broker.cancel_order(CID)
    assert again.status is OrderStatus.CANCELLED
    assert "already" in again.reason


def test_order_beyond_funds_is_rejected_naming_funds(venue: Venue) -> None:
    ack = venue.broker.place_order(_order(venue, CID, quantity=100.0))
    assert ack.status is OrderStatus.REJECTED
    assert "insufficient" in ack.reason.lower()


def test_fill_moves_cash_and_position_and_is_listed_since_the_order(venue: Venue) -> None:
    cash = venue.broker.get_balance()
    placed_at = venue.clock.now()
    venue.broker.place_order(_order(venue, CID))
    venue.next_bar()
    (fill,) = venue.broker.poll_fills()
    assert venue.broker.get_positions() == {SYMBOL: pytest.approx(0.01)}
    spent = cash - venue.broker.get_balance()
    assert spent == pytest.approx(fill.quantity * fill.price + fill.fee, rel=1e-9)
    since = venue.broker.fills_since(placed_at)
    assert [f.client_order_id for f in since] == [CID]
    assert venue.broker.fills_since(venue.clock.now() + MINUTE) == []


def test_market_order_never_fills_beyond_its_collar_price(venue: Venue) -> None:
    price = venue.price()
    request = replace(_order(venue, CID), collar_price=round(price * 0.99, 2))

    venue.broker.place_order(request)
    venue.next_bar()

    assert venue.broker.poll_fills() == []
    assert venue.broker.get_fills(CID) == []
    order = venue.broker.get_order(CID)
    assert order is not None
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_quantity == 0.0


def test_a_fill_has_one_id_whichever_call_reports_it(venue: Venue) -> None:
    placed_at = venue.clock.now()
    venue.broker.place_order(_order(venue, CID))
    venue.next_bar()

    polled = [f.fill_id for f in venue.broker.poll_fills()]
    by_order = [f.fill_id for f in venue.broker.get_fills(CID)]
    listed = [f.fill_id for f in venue.broker.fills_since(placed_at)]
    everything = [f.fill_id for f in venue.broker.fills_since(None)]

    assert len(polled) == 1
    assert by_order == listed == everything == polled
    assert [f.client_order_id for f in venue.broker.fills_since(placed_at)] == [CID]

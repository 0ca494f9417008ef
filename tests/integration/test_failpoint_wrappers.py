"""Failpoint and throttle wrappers are typed ports: every call reaches the real component."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.broker import Broker, BrokerConfig, PaperBroker
from engine.clock import SimulatedClock
from engine.model import Bar, Fill, OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch, EngineStore
from engine.session_state import MarketSimulator
from tradeguard.adapters.paper_book import SqlitePaperBook
from tradeguard.failpoints import Failpoint, FailpointBroker, FailpointStore
from tradeguard.store.polling import ThrottledCommands
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
NEVER = Failpoint("before_broker", nth=10**9)  # counts, never fires in these tests


def test_wrapped_paper_venue_still_sees_bars_and_answers_every_broker_call(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    with SqlitePaperBook(tmp_path) as book:
        venue = PaperBroker(BrokerConfig.model_validate({}), clock, book, seed=3)
        broker: Broker = FailpointBroker(venue, NEVER)
        ack = broker.place_order(OrderRequest("c1", "BTC", Side.BUY, 0.5, 100.0, T0))
        assert isinstance(broker, MarketSimulator)
        broker.on_bar(Bar("BTC", T0, 100.0, 101.0, 99.0, 100.5, 1.0))

        fills = broker.poll_fills()
        order = broker.get_order("c1")
        assert ack.status is OrderStatus.SUBMITTED
        assert [f.client_order_id for f in fills] == ["c1"]
        assert broker.get_fills("c1") == fills
        assert order is not None and order.status is OrderStatus.FILLED
        assert broker.get_positions() == {"BTC": 0.5}
        assert broker.get_balance() == venue.get_balance()
        assert broker.cancel_order("c1").status is OrderStatus.FILLED
    assert NEVER.seen == 1  # place_order went through the failpoint


def test_wrapped_stores_pass_every_port_call_to_the_sqlite_store(tmp_path: Path) -> None:
    fill = Fill("f1", "c1", "BTC", Side.BUY, 1.0, 100.0, 0.0, T0 + MINUTE)
    with SqliteStore(tmp_path / "s") as inner:
        store: EngineStore = FailpointStore(ThrottledCommands(inner), Failpoint("after_commit", 5))
        store.commit(Batch(fills=[fill], state={"risk": {"daily_trades": 1}}))
        inner.enqueue_command("halt", "drill", "ops", T0)

        assert store.fill_recorded("f1") and not store.fill_recorded("f2")
        assert not store.intent_recorded("c1")  # a fill alone journals no intent
        request = OrderRequest("c1", "BTC", Side.BUY, 1.0, 100.0, T0)
        store.commit(Batch(intents=[OrderIntent(request, OrderStatus.FILLED, T0 + MINUTE)]))
        assert store.intent_recorded("c1") and not store.intent_recorded("c2")
        assert store.load().state == {"risk": {"daily_trades": 1}}
        assert [c.action for c in store.pending_commands()] == ["halt"]

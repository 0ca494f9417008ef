"""The quiet-bar fast path skips only work that provably does nothing.

A bar with no resting order and no fill waiting at the venue skips settlement; these tests
fail when the skip drops a fill, a refusal, a day roll or a loss-window refresh.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bench.noop_strategy import NoSignals
from engine.assembly import assemble
from engine.broker import BrokerConfig, PaperBroker
from engine.clock import SimulatedClock
from engine.faults import FaultPlan, FaultWindow
from engine.feed import (
    DUPLICATE,
    INCONSISTENT,
    OUT_OF_ORDER,
    OUT_OF_RANGE,
    PRICE_BAND,
    BarValidator,
    FeedConfig,
)
from engine.model import Bar, Fill, OrderRequest, OrderStatus, Side, Signal
from engine.paper_book import InMemoryPaperBook
from engine.portfolio import Portfolio
from engine.ports import InMemoryStore
from engine.session import TradingSession
from engine.session_state import unpack_window
from engine.strategy import NO_OUTPUT, StrategyConfig, StrategyOutput
from tests.unit.engine_harness import START, engine_config, items

MINUTE = timedelta(minutes=1)
SIGNAL_BAR = 40


def flat_bars(n: int, symbol: str = "TEST", start: datetime = START) -> list[Bar]:
    """Return n one-minute bars at a constant price (equity never moves while flat)."""
    return [Bar(symbol, start + i * MINUTE, 100.0, 100.5, 99.5, 100.0, 10.0) for i in range(n)]


class OneBuy:
    """Fires one BUY on the bar at START + SIGNAL_BAR minutes; nothing otherwise."""

    def __init__(self, config: StrategyConfig) -> None:
        del config

    def update(self, bar: Bar) -> StrategyOutput:
        """Fire the one signal on its bar."""
        if bar.ts == START + SIGNAL_BAR * MINUTE:
            return StrategyOutput((Signal(bar.symbol, Side.BUY, 1.0, bar.ts, (10, 30)),), ())
        return NO_OUTPUT

    def warm(self, bar: Bar) -> None:
        """Rebuild nothing."""
        del bar

    def snapshot(self) -> dict[str, str]:
        """Return the (empty) durable memory."""
        return {}

    def restore(self, state: dict[str, str]) -> None:
        """Keep nothing."""
        del state


class CountingVenue:
    """A paper venue behind a wrapper that cannot say it is quiet: it must see every bar."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.bars_seen = 0
        self.polls = 0

    def on_bar(self, bar: Bar) -> None:
        """Count the bar, then let the paper venue fill on it."""
        self.bars_seen += 1
        self.inner.on_bar(bar)

    def poll_fills(self) -> list[Fill]:
        """Count the poll, then return the paper venue's new fills."""
        self.polls += 1
        return self.inner.poll_fills()

    def __getattr__(self, name: str) -> object:
        if name == "quiet":
            raise AttributeError(name)
        return getattr(self.inner, name)


def start(
    broker_of: type[CountingVenue] | None = None,
    faults: FaultPlan | None = None,
    strategy: type[OneBuy] | None = None,
) -> tuple[TradingSession, InMemoryStore, PaperBroker, object]:
    """Build a fresh session on in-memory fakes; return it with its store and venues."""
    store = InMemoryStore()
    clock = SimulatedClock(START)
    paper = PaperBroker(BrokerConfig(), clock, InMemoryPaperBook(), faults, seed=7)
    broker = paper if broker_of is None else broker_of(paper)
    recovered = store.load()
    session = assemble(engine_config(), clock=clock, store=store, broker=broker,  # type: ignore[arg-type]
                       recovered=recovered, strategy_factory=strategy or OneBuy)
    session.recover(recovered.open_intents)
    return session, store, paper, broker


def booked_at(store: InMemoryStore) -> datetime:
    """Return the clock of the one commit that carried a fill."""
    (batch,) = [b for b in store.batches if b.fills]
    return datetime.fromisoformat(batch.state["clock"]["now"])


def request(cid: str) -> OrderRequest:
    return OrderRequest(cid, "TEST", Side.BUY, 1.0, 100.0, START)


def test_the_venue_is_quiet_only_without_resting_orders_and_unpolled_fills() -> None:
    clock = SimulatedClock(START)
    broker = PaperBroker(BrokerConfig(), clock, InMemoryPaperBook())
    assert broker.quiet
    broker.place_order(request("a"))
    assert not broker.quiet  # resting: the next bar fills it
    broker.on_bar(flat_bars(2)[1])
    assert not broker.quiet  # filled at the venue, not yet polled
    assert [f.client_order_id for f in broker.poll_fills()] == ["a"]
    assert broker.quiet


def test_the_venue_is_quiet_again_once_its_only_resting_order_is_cancelled() -> None:
    clock = SimulatedClock(START)
    broker = PaperBroker(BrokerConfig(), clock, InMemoryPaperBook())
    broker.place_order(request("a"))
    broker.place_order(request("b"))
    broker.cancel_order("a")
    assert not broker.quiet  # "b" still rests
    broker.cancel_order("b")
    assert broker.quiet
    assert broker.on_bar(flat_bars(2)[1]) == [] and broker.poll_fills() == []


def test_a_restarted_venue_with_a_resting_order_in_its_book_is_not_quiet() -> None:
    clock = SimulatedClock(START)
    book = InMemoryPaperBook()
    PaperBroker(BrokerConfig(), clock, book).place_order(request("a"))
    restarted = PaperBroker(BrokerConfig(), clock, book)
    assert not restarted.quiet
    assert [f.client_order_id for f in restarted.on_bar(flat_bars(2)[1])] == ["a"]


def test_a_fill_on_the_bar_after_the_order_opened_is_booked_on_that_bar() -> None:
    session, store, paper, _ = start()
    bars = flat_bars(SIGNAL_BAR + 20)
    session.run(items(bars))
    (fill,) = store.fills.values()
    assert fill.ts == bars[SIGNAL_BAR + 1].ts  # at the open of the next bar
    intent = store.intents[fill.client_order_id]
    assert intent.status is OrderStatus.FILLED
    assert session.portfolio.position("TEST") == 1.0
    assert session.orders_open == 0
    assert paper.quiet
    assert booked_at(store) == bars[SIGNAL_BAR + 1].ts + MINUTE  # at the close of that bar


def test_a_fill_held_back_by_an_outage_is_booked_once_the_venue_answers() -> None:
    # The order rests for one bar, fills at the venue, then waits unpolled through an outage
    # (no resting order, yet not quiet); it is booked once, when the venue answers again.
    signal_close = START + (SIGNAL_BAR + 1) * MINUTE
    outage = FaultWindow(signal_close + timedelta(seconds=30), signal_close + 6 * MINUTE,
                         outage=True)
    session, store, paper, _ = start(faults=FaultPlan([outage]))
    bars = flat_bars(SIGNAL_BAR + 20)
    session.run(items(bars))
    (fill,) = store.fills.values()
    assert fill.ts == bars[SIGNAL_BAR + 1].ts
    assert store.intents[fill.client_order_id].status is OrderStatus.FILLED
    assert booked_at(store) == outage.end  # the close of the first bar the venue answered
    assert session.portfolio.position("TEST") == 1.0
    assert paper.quiet


def test_a_venue_that_cannot_say_it_is_quiet_sees_every_bar() -> None:
    session, store, _, venue = start(broker_of=CountingVenue)
    bars = flat_bars(SIGNAL_BAR + 20)
    session.run(items(bars))
    assert isinstance(venue, CountingVenue)
    assert venue.bars_seen == venue.polls == len(bars)
    assert len(store.fills) == 1


def test_bad_bars_are_refused_while_flat_and_quiet() -> None:
    session, store, paper, _ = start()
    bars = flat_bars(30)
    last = bars[-1]
    bad = [
        last,  # duplicate
        bars[10],  # out of order
        Bar("TEST", last.ts + MINUTE, 100.0, 150.0, 99.5, 100.0, 10.0),  # price band
        Bar("TEST", last.ts + MINUTE, 100.0, 99.0, 99.5, 100.0, 10.0),  # high below low
    ]
    good = Bar("TEST", last.ts + MINUTE, 100.0, 100.5, 99.5, 100.0, 10.0)
    session.run(items([*bars, *bad, good]))
    counters = session.counters
    assert counters.bars == len(bars) + 1
    assert counters.bad_bars == len(bad)
    assert set(counters.bad_bar_reasons) == {DUPLICATE, OUT_OF_ORDER, PRICE_BAND, INCONSISTENT}
    skipped = [s for b in store.batches for s in b.skipped_bars]
    assert len(skipped) == len(bad)
    assert paper.quiet and not store.fills


def test_the_day_rolls_and_the_loss_window_stays_fresh_while_flat() -> None:
    session, store, _, _ = start(strategy=NoSignals)
    bars = flat_bars(24 * 60 + 30)  # crosses one UTC midnight
    session.run(items(bars))
    resets = [r for b in store.batches for r in b.daily_resets]
    assert [(r.trading_day, r.applied) for r in resets] == [("2022-01-04", True)]
    assert resets[0].at == START + timedelta(days=1)  # the close of the first bar past it
    # A plateau keeps one point, stamped at the close of the latest bar.
    (point,) = unpack_window(session.snapshot()["session"]["loss_window"])
    assert point == (bars[-1].ts + MINUTE, BrokerConfig().starting_cash)


def test_a_step_within_a_fractional_max_gap_is_no_gap_and_one_beyond_is() -> None:
    validator = BarValidator(FeedConfig(bar_seconds=60, max_gap_seconds=90.5))
    first = flat_bars(1)[0]
    assert validator.observe(first).ok
    near = first._replace(ts=first.ts + timedelta(seconds=90.5))
    verdict = validator.observe(near)
    assert verdict.ok and verdict.gap_seconds is None
    far = first._replace(ts=near.ts + timedelta(seconds=90.6))
    verdict = validator.observe(far)
    assert verdict.ok and verdict.gap_seconds == 90.6
    assert validator.last_good("TEST") == far.ts


def test_the_time_bound_holds_for_a_bar_one_step_after_a_good_one() -> None:
    validator = BarValidator(FeedConfig(bar_seconds=60))
    last_ok = flat_bars(1)[0]._replace(ts=datetime(8999, 12, 31, 23, 59, tzinfo=UTC))
    assert validator.observe(last_ok).ok
    beyond = last_ok._replace(ts=last_ok.ts + MINUTE)
    verdict = validator.observe(beyond)
    assert verdict.kind == OUT_OF_RANGE
    assert validator.last_good("TEST") == last_ok.ts


def test_revalue_is_mark_then_equity_with_the_same_refusals() -> None:
    marked, revalued = Portfolio(1000.0), Portfolio(1000.0)
    for ledger in (marked, revalued):
        ledger.apply_fill(Fill("f1", "o1", "TEST", Side.BUY, 2.0, 100.0, 0.1, START))
        ledger.apply_fill(Fill("f2", "o2", "ETH", Side.SELL, 1.0, 50.0, 0.0, START))
    marked.mark("TEST", 110.0)
    equity = revalued.revalue("TEST", 110.0)
    assert equity == marked.equity()  # bit for bit
    assert equity == pytest.approx(1000.0 - 200.1 + 2 * 110.0)  # the short ETH nets to zero
    assert revalued.snapshot() == marked.snapshot()
    for bad in (math.nan, math.inf, 0.0, -1.0):
        with pytest.raises(ValueError, match="must be positive") as refused:
            revalued.revalue("TEST", bad)
        with pytest.raises(ValueError, match="must be positive") as refused_too:
            marked.mark("TEST", bad)
        assert str(refused.value) == str(refused_too.value)
    assert revalued.last_price("TEST") == 110.0


def test_a_restored_validator_anchors_the_configured_band_on_its_first_bar() -> None:
    # Restored from times only: the first bar is judged the slow way and anchors the 20% band
    # (before, the fast path anchored a 0% band and refused the next ordinary bar).
    first, second, third = flat_bars(3)
    validator = BarValidator(FeedConfig())
    assert validator.observe(first).ok
    restored = BarValidator.from_snapshot(FeedConfig(), validator.snapshot())
    assert restored.observe(second).ok
    assert restored.observe(third._replace(high=110.0, close=105.0)).ok  # +10%: within 20%
    spike = third._replace(ts=third.ts + MINUTE, high=130.0)
    verdict = restored.observe(spike)
    assert verdict.kind == PRICE_BAND
    assert verdict.reason is not None and "band 20%" in verdict.reason

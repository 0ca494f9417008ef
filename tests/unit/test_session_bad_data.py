"""Data that lies is never traded on: far-future and calendar-end bars, spikes, absurd prices,
and indicators from before a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.circuit_breaker import CircuitState
from engine.events import IssueReported, SignalRecorded
from engine.feed import FeedItem
from engine.model import Bar
from tests.unit.engine_harness import Rig, items, wave_bars

MINUTE = timedelta(minutes=1)


def with_bar(bars: list[Bar], index: int, bar: Bar) -> list[FeedItem]:
    """Return the feed items of bars with one extra (lying) row inserted before index."""
    stream = list(items(bars))
    stream.insert(index, FeedItem(bar.symbol, 1000 + index, bar.ts, bar, None))
    return stream


def test_a_bar_dated_2099_is_a_bad_bar_not_a_clock_or_cursor_jump() -> None:
    rig = Rig()
    bars = wave_bars(300)
    liar = bars[100]._replace(ts=datetime(2099, 1, 1, tzinfo=UTC))
    session, _, clock = rig.start()

    session.run(iter(with_bar(bars[:200], 100, liar)))

    progress = rig.store.state["session"]
    assert progress["bars"] == 200 and progress["bad_bars"] == 1
    assert progress["bad_bar_reasons"] == {"far future": 1}
    assert progress["cursors"]["TEST"] == bars[199].ts.isoformat()
    assert clock.now() < datetime(2023, 1, 1, tzinfo=UTC)
    assert session.breaker.state is not CircuitState.HALT
    skipped = [s for b in rig.store.batches for s in b.skipped_bars]
    assert [(s.row, s.bar_time) for s in skipped] == [(1100, liar.ts)]

    later, _, _ = rig.start()
    later.run(items(bars))
    assert rig.store.state["session"]["bars"] == 300


@pytest.mark.parametrize(
    "ts", [datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
)
def test_bars_at_the_ends_of_the_calendar_are_bad_bars_without_a_traceback(
    ts: datetime,
) -> None:
    rig = Rig()
    bars = wave_bars(120)
    session, _, _ = rig.start()

    end = session.run(iter(with_bar(bars, 60, bars[59]._replace(ts=ts))))

    assert end.reason == "end of data"
    assert rig.store.state["session"]["bad_bar_reasons"] == {"time out of range": 1}


def test_a_spike_25_times_the_close_is_quarantined_and_never_filled_on() -> None:
    rig = Rig()
    bars = wave_bars(400)
    session, _, _ = rig.start()
    # Find the bar after the first order: the spike would be its fill bar.
    probe = Rig()
    first, _, _ = probe.start()
    first.run(items(bars))
    fill_ts = min(f.ts for f in probe.store.fills.values())
    index = next(i for i, b in enumerate(bars) if b.ts == fill_ts)
    base = bars[index - 1].close
    spike = bars[index]._replace(open=base * 25, high=base * 25)
    stream = list(items(bars))
    stream[index] = FeedItem("TEST", index + 2, spike.ts, spike, None)

    session.run(iter(stream))

    assert all(f.price < base * 1.06 for f in rig.store.fills.values())
    assert rig.store.state["session"]["bad_bar_reasons"] == {"price band": 1}
    issues = [i for b in rig.store.batches for i in b.issues
              if i.details.get("kind") == "price_band"]
    assert len(issues) == 1 and issues[0].details["row"] == index + 2


def test_a_close_of_1e299_is_a_bad_bar_and_the_run_goes_on() -> None:
    rig = Rig()
    bars = wave_bars(200)
    huge = bars[80]._replace(high=1e299, close=1e299)
    stream = list(items(bars))
    stream[80] = FeedItem("TEST", 82, huge.ts, huge, None)
    session, _, _ = rig.start()

    end = session.run(iter(stream))

    assert end.reason == "end of data" and end.last_bar == bars[-1].ts
    assert rig.store.state["session"]["bad_bar_reasons"] == {"absurd price": 1}


def signals_of(rig: Rig) -> list[SignalRecorded]:
    return [e for e in rig.events if isinstance(e, SignalRecorded)]


def test_after_a_gap_the_symbol_trades_only_on_a_full_slow_window_of_fresh_bars() -> None:
    rig = Rig()
    before = wave_bars(200)
    resume = before[-1].ts + timedelta(hours=7)
    after = wave_bars(200, start=resume, period=40)
    session, _, _ = rig.start()

    session.run(items(before + after))

    gaps = [e for e in rig.events if isinstance(e, IssueReported)
            and e.details.get("kind") == "gap"]
    assert len(gaps) == 1
    post = [s for s in signals_of(rig) if s.bar_time >= resume]
    assert post, "the fresh bars cross: trading must resume"
    assert min(s.bar_time for s in post) >= resume + 30 * MINUTE  # 30 = the slow window


def test_every_gap_rewarms_the_symbol_and_trading_resumes_after_each() -> None:
    rig = Rig()
    first = wave_bars(200)
    second_start = first[-1].ts + timedelta(hours=7)
    second = wave_bars(200, start=second_start, period=40)
    third_start = second[-1].ts + timedelta(hours=7)
    third = wave_bars(200, start=third_start, period=40)
    session, _, _ = rig.start()

    session.run(items(first + second + third))

    for resume, end in ((second_start, third_start), (third_start, None)):
        post = [s.bar_time for s in signals_of(rig)
                if s.bar_time >= resume and (end is None or s.bar_time < end)]
        assert post, "the fresh bars cross: trading must resume"
        assert min(post) >= resume + 30 * MINUTE  # 30 = the slow window
    assert session.counters.bars == 600  # a cold bar still counts (it only warms)


def test_a_restart_inside_the_rewarm_window_trades_exactly_like_one_run() -> None:
    before = wave_bars(200)
    resume = before[-1].ts + timedelta(hours=7)
    stream = before + wave_bars(200, start=resume, period=40)
    whole = Rig()
    session, _, _ = whole.start()
    session.run(items(stream))

    split = Rig()
    first, _, _ = split.start()
    first.run(items(stream[:215]))
    second, _, _ = split.start()
    second.run(items(stream))

    def ordered(rig: Rig) -> list[tuple[datetime, str, str]]:
        return sorted((s.bar_time, s.side.value, s.outcome)
                      for b in rig.store.batches for s in b.signals)

    assert ordered(split) == ordered(whole)
    assert split.store.state["execution"] == whole.store.state["execution"]


def test_bad_bar_reasons_group_by_kind_not_by_value() -> None:
    rig = Rig()
    bars = wave_bars(120)
    stream = list(items(bars))
    for n, i in enumerate((30, 40, 50)):
        broken = bars[i]._replace(high=bars[i].low * (0.5 - n / 10))
        stream[i] = FeedItem("TEST", i + 2, broken.ts, broken, None)
    stream.insert(70, FeedItem("TEST", 72, bars[69].ts, None, "unparseable open 'abc'"))
    stream.insert(71, FeedItem("TEST", 73, bars[69].ts, None, "expected 6 fields, got 5"))
    session, _, _ = rig.start()

    session.run(iter(stream))

    assert rig.store.state["session"]["bad_bar_reasons"] == {
        "inconsistent ohlc": 3, "unparsable row": 2
    }

"""SmaCrossover: exact incremental SMAs, crossing rules, suppression, warm restart, targets."""

from __future__ import annotations

import csv
import gzip
import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.errors import DataError
from engine.model import Bar, Side, Signal
from engine.ports import InMemoryLastSignals
from engine.strategy import NO_OUTPUT, SmaCrossover, StrategyConfig, target_order

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
T0 = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)


class NeverSuppress:
    """LastSignalStore that remembers nothing, so every raw cross is emitted."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, int, int, Side]] = []
        self.reads = 0

    def get_last_signal(self, symbol: str, fast: int, slow: int) -> Side | None:
        self.reads += 1
        return None

    def save_last_signal(self, symbol: str, fast: int, slow: int, side: Side) -> None:
        self.saved.append((symbol, fast, slow, side))

    def snapshot(self) -> dict[str, str]:
        return {}


def make_bars(closes: Sequence[float], symbol: str = "BTC", start: datetime = T0) -> list[Bar]:
    return [
        Bar(symbol, start + timedelta(minutes=i), c, c, c, c, 1.0) for i, c in enumerate(closes)
    ]


@cache
def btc_day(day: str = "2022-01-21") -> tuple[Bar, ...]:
    path = DATA / "btc-perp_ftx_1m.csv.gz"
    with gzip.open(path, "rt", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["ts"].startswith(day)]
    return tuple(
        Bar("BTC-PERP", datetime.fromisoformat(r["ts"]), float(r["open"]), float(r["high"]),
            float(r["low"]), float(r["close"]), float(r["volume"]))
        for r in rows
    )


def naive_crosses(closes: Sequence[float], fast: int, slow: int) -> list[tuple[int, Side]]:
    """Exact reference: re-sum both windows with Fractions on every bar."""
    out: list[tuple[int, Side]] = []
    prev: Fraction | None = None
    for i in range(slow - 1, len(closes)):
        f = sum((Fraction(c) for c in closes[i + 1 - fast : i + 1]), Fraction(0)) / fast
        s = sum((Fraction(c) for c in closes[i + 1 - slow : i + 1]), Fraction(0)) / slow
        d = f - s
        if prev is not None and d > 0 >= prev:
            out.append((i, Side.BUY))
        elif prev is not None and d < 0 <= prev:
            out.append((i, Side.SELL))
        prev = d
    return out


def naive_confidence(closes: Sequence[float], i: int, fast: int, slow: int, scale: float) -> float:
    def gap(j: int) -> float:
        window_f = closes[j + 1 - fast : j + 1]
        window_s = closes[j + 1 - slow : j + 1]
        return math.fsum(window_f) / fast - math.fsum(window_s) / slow

    return min(1.0, abs(gap(i) - gap(i - 1)) / closes[i] / (scale / 100))


def run(
    strategy: SmaCrossover, bars: Sequence[Bar], suppressed: list[Signal] | None = None
) -> list[tuple[int, Signal]]:
    """Return (bar index, signal) of every signal fired; collect duplicates into suppressed."""
    emitted: list[tuple[int, Signal]] = []
    for i, bar in enumerate(bars):
        output = strategy.update(bar)
        emitted.extend((i, s) for s in output.signals)
        if suppressed is not None:
            suppressed.extend(output.suppressed)
    return emitted


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "pairs", [[(30, 10)], [(10, 10)], [(0, 5)], [(10, 30), (10, 30)], [], [(1, 200_000)]]
)
def test_config_invalid_pairs_are_rejected_naming_the_field(pairs: list[tuple[int, int]]) -> None:
    with pytest.raises(ValidationError, match="pairs"):
        StrategyConfig(pairs=pairs)


def test_config_invalid_symbol_override_is_rejected_naming_symbol() -> None:
    with pytest.raises(ValidationError, match="symbol_pairs\\['ETH'\\]"):
        StrategyConfig(symbol_pairs={"ETH": [(20, 5)]})


@pytest.mark.parametrize(
    "kwargs",
    [{"order_quantity": 0}, {"position_mode": "short_only"}, {"confidence_scale_pct": 0},
     {"strategy_id": ""}, {"unknown": 1}],
)
def test_config_out_of_range_values_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StrategyConfig(**kwargs)  # type: ignore[arg-type]


def test_config_defaults_and_symbol_override() -> None:
    cfg = StrategyConfig(symbol_pairs={"ETH": [(5, 20)]})
    assert cfg.pairs == [(10, 30)] and cfg.order_quantity == 0.01
    assert cfg.position_mode == "long_only" and cfg.strategy_id == "sma"
    assert cfg.pairs_for("ETH") == [(5, 20)] and cfg.pairs_for("BTC") == [(10, 30)]


# ---------------------------------------------------------------- real data


def test_incremental_averages_match_naive_recomputation_over_a_real_day() -> None:
    bars = btc_day()
    assert len(bars) == 1440
    strategy = SmaCrossover(StrategyConfig(pairs=[(10, 30), (7, 240)]), NeverSuppress())
    closes: list[float] = []
    compared = 0
    for bar in bars:
        strategy.update(bar)
        closes.append(bar.close)
        for fast, slow in ((10, 30), (7, 240)):
            got = strategy.averages("BTC-PERP", fast, slow)
            if len(closes) < slow:
                assert got is None
                continue
            assert got is not None
            assert got[0] == pytest.approx(math.fsum(closes[-fast:]) / fast, rel=1e-13, abs=0)
            assert got[1] == pytest.approx(math.fsum(closes[-slow:]) / slow, rel=1e-13, abs=0)
            compared += 1
    assert compared == (1440 - 29) + (1440 - 239)


def test_crosses_on_a_real_day_match_an_exact_naive_reference() -> None:
    bars = btc_day()
    closes = [b.close for b in bars]
    strategy = SmaCrossover(StrategyConfig(pairs=[(10, 30)]), NeverSuppress())
    got = [(i, s.side) for i, s in run(strategy, bars)]
    expected = naive_crosses(closes, 10, 30)
    assert len(expected) > 10
    assert got == expected


def test_real_day_confidence_follows_the_documented_formula() -> None:
    bars = btc_day()
    closes = [b.close for b in bars]
    cfg = StrategyConfig(pairs=[(10, 30)])
    emitted = run(SmaCrossover(cfg, NeverSuppress()), bars)
    for i, signal in emitted:
        expected = naive_confidence(closes, i, 10, 30, cfg.confidence_scale_pct)
        assert signal.confidence == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert 0.0 <= signal.confidence <= 1.0
    assert {s.confidence > 0.7 for _, s in emitted} == {True, False}


def test_duplicate_sides_per_key_are_suppressed_and_reported_on_a_real_day() -> None:
    bars = btc_day()
    raw = naive_crosses([b.close for b in bars], 10, 30)
    suppressed: list[Signal] = []
    store = InMemoryLastSignals()
    emitted = run(SmaCrossover(StrategyConfig(), store), bars, suppressed)
    sides = [s.side for _, s in emitted]
    assert all(a != b for a, b in itertools.pairwise(sides))
    assert len(emitted) + len(suppressed) == len(raw)
    assert store.get_last_signal("BTC-PERP", 10, 30) == sides[-1]


def test_warm_restart_mid_day_reproduces_the_uninterrupted_signals() -> None:
    bars = btc_day()
    cfg = StrategyConfig(pairs=[(10, 30), (5, 60)])
    uninterrupted = run(SmaCrossover(cfg, NeverSuppress()), bars)
    restart_at = 777
    store = NeverSuppress()
    restarted = SmaCrossover(cfg, store)
    warm_from = restart_at - restarted.warmup_bars("BTC-PERP")
    for bar in bars[warm_from:restart_at]:
        restarted.warm(bar)
    assert (store.saved, store.reads) == ([], 0)
    resumed = [(i + restart_at, s) for i, s in run(restarted, bars[restart_at:])]
    assert resumed == [(i, s) for i, s in uninterrupted if i >= restart_at]
    assert resumed


# ---------------------------------------------------------------- crafted series


def test_no_signal_until_both_windows_are_full_and_one_bar_has_passed() -> None:
    zigzag = [1.0, 3.0] * 6  # with (1, 2) the gap flips sign on every bar
    emitted = run(SmaCrossover(StrategyConfig(pairs=[(1, 2)]), NeverSuppress()), make_bars(zigzag))
    assert [i for i, _ in emitted] == list(range(2, 12))
    assert [s.side for _, s in emitted][:2] == [Side.SELL, Side.BUY]


def test_warm_never_emits_or_touches_the_store_even_on_crossing_bars() -> None:
    store = NeverSuppress()
    strategy = SmaCrossover(StrategyConfig(pairs=[(1, 2)]), store)
    for bar in make_bars([1.0, 3.0] * 6):
        strategy.warm(bar)
    assert (store.saved, store.reads) == ([], 0)
    assert strategy.averages("BTC", 1, 2) == (3.0, 2.0)


def test_touching_the_slow_average_then_rising_again_counts_as_a_buy_cross() -> None:
    # (1, 2) gap: +1, 0 (touch), +0.5 -> BUY fires from 0; then 0 -> -0.5 fires SELL.
    closes = [2.0, 4.0, 4.0, 5.0, 5.0, 4.0]
    emitted = run(SmaCrossover(StrategyConfig(pairs=[(1, 2)]), NeverSuppress()), make_bars(closes))
    assert [(i, s.side) for i, s in emitted] == [(3, Side.BUY), (5, Side.SELL)]


def test_touch_and_return_is_dropped_when_the_same_side_was_last_emitted() -> None:
    store = InMemoryLastSignals({"BTC:1:2": "BUY"})
    suppressed: list[Signal] = []
    strategy = SmaCrossover(StrategyConfig(pairs=[(1, 2)]), store)
    emitted = run(strategy, make_bars([2.0, 4.0, 4.0, 5.0, 5.0, 4.0]), suppressed)
    assert [(i, s.side) for i, s in emitted] == [(5, Side.SELL)]
    assert [(s.side, s.bar_time, s.periods) for s in suppressed] == [
        (Side.BUY, T0 + timedelta(minutes=3), (1, 2))
    ]
    assert store.snapshot() == {"BTC:1:2": "SELL"}


def test_slow_cross_has_low_confidence_and_fast_cross_high_confidence() -> None:
    falling = [100.0 - 0.001 * i for i in range(12)]
    slow_rise = [*falling, *(falling[-1] + 0.001 * k for k in range(1, 8))]
    jump = [*falling, falling[-1] + 1.0, falling[-1] + 1.0]
    cfg = StrategyConfig(pairs=[(3, 6)])
    slow_signals = run(SmaCrossover(cfg, NeverSuppress()), make_bars(slow_rise))
    fast_signals = run(SmaCrossover(cfg, NeverSuppress()), make_bars(jump))
    assert len(slow_signals) == 1 and len(fast_signals) == 1
    (i_slow, slow), (i_fast, fast) = slow_signals[0], fast_signals[0]
    assert slow.side is fast.side is Side.BUY
    assert slow.confidence < 0.1 < 0.7 < fast.confidence
    assert slow.confidence == pytest.approx(naive_confidence(slow_rise, i_slow, 3, 6, 0.05))
    assert fast.confidence == pytest.approx(naive_confidence(jump, i_fast, 3, 6, 0.05))


def test_quiet_bars_return_the_shared_empty_output() -> None:
    strategy = SmaCrossover(StrategyConfig(pairs=[(2, 3)]), NeverSuppress())
    results = [strategy.update(b) for b in make_bars([5.0] * 10)]
    assert all(r.signals == () and r.suppressed == () for r in results)
    assert all(r is NO_OUTPUT for r in results)
    assert len({id(r) for r in results}) == 1


def test_symbols_are_independent_and_use_their_own_pairs() -> None:
    cfg = StrategyConfig(pairs=[(1, 2)], symbol_pairs={"ETH": [(1, 3)]})
    strategy = SmaCrossover(cfg, NeverSuppress())
    zigzag = [1.0, 3.0] * 4
    btc, eth = make_bars(zigzag, "BTC"), make_bars(zigzag, "ETH")
    emitted = [
        s for pair in zip(btc, eth, strict=True) for b in pair for s in strategy.update(b).signals
    ]
    assert {s.periods for s in emitted if s.symbol == "BTC"} == {(1, 2)}
    assert {s.periods for s in emitted if s.symbol == "ETH"} == {(1, 3)}
    alone = run(SmaCrossover(cfg, NeverSuppress()), btc)
    assert [s for s in emitted if s.symbol == "BTC"] == [s for _, s in alone]


@pytest.mark.parametrize("close", [math.nan, math.inf])
def test_unusable_close_raises_data_error(close: float) -> None:
    strategy = SmaCrossover(StrategyConfig(), NeverSuppress())
    with pytest.raises(DataError, match="BTC"):
        strategy.update(make_bars([close])[0])


# ---------------------------------------------------------------- target_order


def _signal(side: Side) -> Signal:
    return Signal("BTC", side, 0.9, T0, (10, 30))


@pytest.mark.parametrize(
    ("mode", "side", "position", "expected"),
    [
        ("long_only", Side.BUY, 0.0, (Side.BUY, 0.01, False)),
        ("long_only", Side.BUY, 0.01, None),
        ("long_only", Side.BUY, 0.02, None),
        ("long_only", Side.BUY, 0.004, (Side.BUY, 0.006, False)),
        ("long_only", Side.SELL, 0.01, (Side.SELL, 0.01, True)),
        ("long_only", Side.SELL, 0.0, None),
        ("long_short", Side.SELL, 0.0, (Side.SELL, 0.01, False)),
        ("long_short", Side.SELL, 0.01, (Side.SELL, 0.02, False)),
        ("long_short", Side.SELL, -0.01, None),
        ("long_short", Side.SELL, -0.03, None),
        ("long_short", Side.BUY, -0.01, (Side.BUY, 0.02, False)),
        ("long_short", Side.BUY, 0.01, None),
    ],
)
def test_target_order_moves_position_toward_signal_target(
    mode: str, side: Side, position: float, expected: tuple[Side, float, bool] | None
) -> None:
    cfg = StrategyConfig(order_quantity=0.01, position_mode=mode)  # type: ignore[arg-type]
    got = target_order(_signal(side), position, cfg)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got[0], got[2]) == (expected[0], expected[2])
        assert got[1] == pytest.approx(expected[1])


def test_target_order_treats_float_dust_as_at_target() -> None:
    position = 0.1 + 0.2 - 0.29
    assert position != 0.01  # precondition: float dust, not the exact target
    assert target_order(_signal(Side.BUY), position, StrategyConfig()) is None


# ---------------------------------------------------------------- snapshot / restore


def test_snapshot_and_restore_carry_the_last_signal_memory_across_a_restart() -> None:
    cfg = StrategyConfig(pairs=[(1, 2)])
    first = SmaCrossover(cfg)
    emitted = run(first, make_bars([2.0, 4.0, 4.0, 5.0]))
    assert [(i, s.side) for i, s in emitted] == [(3, Side.BUY)]
    saved = first.snapshot()
    assert saved == {"BTC:1:2": "BUY"}
    restarted = SmaCrossover(cfg)
    restarted.restore(saved)
    suppressed: list[Signal] = []
    again = run(restarted, make_bars([2.0, 4.0, 4.0, 5.0]), suppressed)
    assert again == []
    assert [s.side for s in suppressed] == [Side.BUY]

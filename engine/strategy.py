"""SMA crossover strategy, O(1) per bar per (fast, slow) pair.

Arithmetic: each close is converted once to a fixed-point integer, trunc(close * 2**64), and
every window keeps an integer running sum over a per-symbol ring buffer (add the new value,
subtract the one leaving). Integer sums are exact, so there is no float drift however long the
replay, and a window's sum depends only on the closes inside it: warming a restarted process on
the last `warmup_bars(symbol)` bars reproduces the running state bit for bit. The sign of
fast_sma - slow_sma is decided exactly as the sign of fast_sum * slow - slow_sum * fast.

Crossings: with d = fast_sma - slow_sma on consecutive bars, d going from <= 0 to > 0 is a BUY,
from >= 0 to < 0 a SELL. Equality (d == 0) is "not above and not below": touching the slow average
and returning to the same side fires that side again, which duplicate suppression normally drops.
No signal is emitted until both windows are full and one full bar has been seen before (the
first possible signal is at bar slow + 1 of a symbol).

Confidence: the crossing speed is |d_now - d_prev| (how far the gap moved on the crossing bar)
as a fraction of the crossing bar's close; confidence = speed / (confidence_scale_pct / 100),
clipped to [0, 1]. With the default 0.05 %, a gap swing of 0.05 % of price in one bar gives 1.0;
a slow drift across the average gives a value near 0. THROTTLE filters on confidence > 0.7.

Duplicate suppression: a signal whose side equals the side last stored for (symbol, fast, slow)
in the LastSignalStore comes out in `StrategyOutput.suppressed` (journaled, never ordered); any
other signal is saved in the store and comes out in `signals`, so a restart cannot re-send the
same cross.

`Strategy` is what the session needs from any strategy (see docs/architecture.md); SmaCrossover
is the default implementation, and `strategy.class` in the settings names another one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple, Protocol

from engine.errors import DataError
from engine.model import Bar, Side, Signal
from engine.ports import InMemoryLastSignals, LastSignalStore
from engine.strategy_config import DEFAULT_STRATEGY_CLASS as DEFAULT_STRATEGY_CLASS
from engine.strategy_config import Pair as Pair
from engine.strategy_config import StrategyConfig as StrategyConfig

_SCALE_BITS: Final = 64
_SCALE: Final = float(2**_SCALE_BITS)
_QTY_TOL: Final = 1e-9


class StrategyOutput(NamedTuple):
    """What one bar fired: signals to gate and order, and duplicates to journal only."""

    signals: tuple[Signal, ...]
    suppressed: tuple[Signal, ...]


NO_OUTPUT: Final = StrategyOutput((), ())


class _PairState:
    __slots__ = ("denominator", "fast", "fast_sum", "prev", "slow", "slow_sum")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast = fast
        self.slow = slow
        self.fast_sum = 0
        self.slow_sum = 0
        self.prev: int | None = None
        # d = numerator / denominator in price units, numerator = fast_sum*slow - slow_sum*fast
        self.denominator = (fast * slow) << _SCALE_BITS


class _Series:
    __slots__ = ("buffer", "count", "pairs")

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self.pairs = tuple(_PairState(fast, slow) for fast, slow in pairs)
        self.buffer = [0] * max(slow for _, slow in pairs)
        self.count = 0


class Strategy(Protocol):
    """What the session needs from a strategy; built as `cls(config)` from `strategy.class`.

    snapshot() is the strategy's durable memory (JSON-ready: "SYMBOL:fast:slow" -> side, the
    store's last_signals section) and restore() puts it back on restart; everything else
    is rebuilt by warm() on the bars an earlier process already handled.
    """

    def update(self, bar: Bar) -> StrategyOutput:
        """Add one bar and return what it fired."""
        ...

    def warm(self, bar: Bar) -> None:
        """Add one bar an earlier process already handled: rebuild state, fire nothing."""
        ...

    def snapshot(self) -> dict[str, str]:
        """Return the durable memory, JSON-ready."""
        ...

    def restore(self, state: dict[str, str]) -> None:
        """Replace the durable memory with a snapshot() an earlier process committed."""
        ...


StrategyFactory = Callable[[StrategyConfig], Strategy]


class SmaCrossover:
    """Incremental SMA crossover over any number of symbols and (fast, slow) pairs."""

    def __init__(
        self, config: StrategyConfig, last_signals: LastSignalStore | None = None
    ) -> None:
        self._config = config
        self._store: LastSignalStore = (
            last_signals if last_signals is not None else InMemoryLastSignals()
        )
        self._full_confidence = config.confidence_scale_pct / 100.0
        self._series: dict[str, _Series] = {}

    @property
    def config(self) -> StrategyConfig:
        """Return the strategy parameters."""
        return self._config

    def warmup_bars(self, symbol: str) -> int:
        """Return how many trailing bars warm() needs to rebuild symbol's state exactly."""
        return max(slow for _, slow in self._config.pairs_for(symbol))

    def update(self, bar: Bar) -> StrategyOutput:
        """Add one bar and return what it fires (the shared NO_OUTPUT when nothing)."""
        return self._step(bar, emit=True)

    def warm(self, bar: Bar) -> None:
        """Add one bar without emitting or touching the last-signal store (restart rebuild)."""
        self._step(bar, emit=False)

    def snapshot(self) -> dict[str, str]:
        """Return the last signal side per "SYMBOL:fast:slow", JSON-ready."""
        return self._store.snapshot()

    def restore(self, state: dict[str, str]) -> None:
        """Replace the last-signal memory with a snapshot() committed earlier."""
        self._store = InMemoryLastSignals(state)

    def averages(self, symbol: str, fast: int, slow: int) -> tuple[float, float] | None:
        """Return (fast SMA, slow SMA) for a pair, or None until the slow window is full."""
        series = self._series.get(symbol)
        if series is None or series.count < slow:
            return None
        for state in series.pairs:
            if state.fast == fast and state.slow == slow:
                scale = 1 << _SCALE_BITS
                return state.fast_sum / (fast * scale), state.slow_sum / (slow * scale)
        return None

    def _step(self, bar: Bar, emit: bool) -> StrategyOutput:
        series = self._series.get(bar.symbol)
        if series is None:
            series = self._series[bar.symbol] = _Series(self._config.pairs_for(bar.symbol))
        value = _fixed_point(bar)
        buffer = series.buffer
        index = series.count % len(buffer)
        count = series.count = series.count + 1
        crossings: list[tuple[_PairState, Side, int]] | None = None
        for state in series.pairs:
            crossing = _roll(state, buffer, index, count, value)
            if crossing is not None and emit:
                crossings = [*(crossings or ()), (state, *crossing)]
        buffer[index] = value
        if crossings is None:
            return NO_OUTPUT
        return self._emit(bar, crossings)

    def _emit(self, bar: Bar, crossings: list[tuple[_PairState, Side, int]]) -> StrategyOutput:
        fired: list[Signal] = []
        suppressed: list[Signal] = []
        store = self._store
        for state, side, move in crossings:
            signal = self._signal(bar, side, move / state.denominator, state)
            if store.get_last_signal(bar.symbol, state.fast, state.slow) == side:
                suppressed.append(signal)
            else:
                store.save_last_signal(bar.symbol, state.fast, state.slow, side)
                fired.append(signal)
        return StrategyOutput(tuple(fired), tuple(suppressed))

    def _signal(self, bar: Bar, side: Side, swing: float, state: _PairState) -> Signal:
        close = abs(bar.close)
        speed = swing / close if close > 0 else 0.0
        confidence = min(1.0, speed / self._full_confidence)
        return Signal(bar.symbol, side, confidence, bar.ts, (state.fast, state.slow))


def _fixed_point(bar: Bar) -> int:
    close = bar.close
    try:
        return int(close * _SCALE)
    except (ValueError, OverflowError) as e:
        message = f"{bar.symbol} bar at {bar.ts.isoformat()} has unusable close {close!r}"
        raise DataError(message) from e


def _roll(
    state: _PairState, buffer: list[int], index: int, count: int, value: int
) -> tuple[Side, int] | None:
    """Slide one pair's windows over value; return (side, |gap move|) when the gap crossed zero."""
    fast = state.fast
    slow = state.slow
    # Negative indexes wrap: the buffer length is the largest slow period.
    fast_sum = state.fast_sum + value
    if count > fast:
        fast_sum -= buffer[index - fast]
    state.fast_sum = fast_sum
    slow_sum = state.slow_sum + value
    if count > slow:
        slow_sum -= buffer[index - slow]
    state.slow_sum = slow_sum
    if count < slow:
        return None
    numerator = fast_sum * slow - slow_sum * fast
    prev = state.prev
    state.prev = numerator
    if prev is None:
        return None
    if numerator > 0 >= prev:
        return Side.BUY, abs(numerator - prev)
    if numerator < 0 <= prev:
        return Side.SELL, abs(numerator - prev)
    return None


def target_order(
    signal: Signal, position: float, config: StrategyConfig
) -> tuple[Side, float, bool] | None:
    """Return (side, quantity, reduce_only) moving position toward the signal's target.

    long_only: BUY targets +order_quantity, SELL targets flat; long_short: SELL targets
    -order_quantity. Orders only go in the signal's direction: a BUY never sells down a larger
    long. None when the position is already at (or beyond) the target.
    """
    quantity = config.order_quantity
    if signal.side is Side.BUY:
        target = quantity
    else:
        target = 0.0 if config.position_mode == "long_only" else -quantity
    delta = target - position
    if not math.isfinite(delta) or delta * signal.side.sign <= quantity * _QTY_TOL:
        return None
    reduce_only = position * target >= 0 and abs(target) < abs(position)
    return signal.side, abs(delta), reduce_only

"""A second, tiny Strategy for the plugin test: buy on a symbol's first bar, sell on its tenth."""

from __future__ import annotations

from collections import Counter

from engine.model import Bar, Side, Signal
from engine.strategy import NO_OUTPUT, StrategyConfig, StrategyOutput

BUY_AT = 1
SELL_AT = 10
PERIODS = (BUY_AT, SELL_AT)


class FirstAndTenth:
    """Buys on the first bar of each symbol and sells on its tenth; nothing else."""

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config
        self._seen: Counter[str] = Counter()
        self._last: dict[str, str] = {}

    def update(self, bar: Bar) -> StrategyOutput:
        """Count the bar and fire on the first and tenth one of its symbol."""
        self._seen[bar.symbol] += 1
        count = self._seen[bar.symbol]
        if count not in PERIODS:
            return NO_OUTPUT
        side = Side.BUY if count == BUY_AT else Side.SELL
        signal = Signal(bar.symbol, side, 1.0, bar.ts, PERIODS)
        key = f"{bar.symbol}:{BUY_AT}:{SELL_AT}"
        if self._last.get(key) == side.value:
            return StrategyOutput((), (signal,))
        self._last[key] = side.value
        return StrategyOutput((signal,), ())

    def warm(self, bar: Bar) -> None:
        """Count a bar an earlier process already handled."""
        self._seen[bar.symbol] += 1

    def snapshot(self) -> dict[str, str]:
        """Return the last side per key."""
        return dict(self._last)

    def restore(self, state: dict[str, str]) -> None:
        """Take back the last side per key."""
        self._last = dict(state)


class NotAStrategy:
    """Has update but none of warm, snapshot, restore."""

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config

    def update(self, bar: Bar) -> StrategyOutput:
        """Never fire."""
        del bar
        return NO_OUTPUT


class NoConfig(FirstAndTenth):
    """Has every method but a constructor that does not take the config."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig())

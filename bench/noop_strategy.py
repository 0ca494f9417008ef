"""A strategy that never signals: tradeguard's side of NautilusTrader's NoOp in the benches.

Selected with `strategy.class = "bench.noop_strategy:NoSignals"` (the bench puts the repository
root on sys.path). It only exists so a replay without orders measures the session's own bar
path, as NautilusTrader's NoOp strategy measures its engine's.
"""

from __future__ import annotations

from engine.model import Bar
from engine.strategy import NO_OUTPUT, StrategyConfig, StrategyOutput

CLASS_PATH = "bench.noop_strategy:NoSignals"


class NoSignals:
    """Sees every bar, remembers nothing, fires nothing."""

    def __init__(self, config: StrategyConfig) -> None:
        del config

    def update(self, bar: Bar) -> StrategyOutput:
        """Fire nothing."""
        del bar
        return NO_OUTPUT

    def warm(self, bar: Bar) -> None:
        """Rebuild nothing."""
        del bar

    def snapshot(self) -> dict[str, str]:
        """Return the (empty) durable memory."""
        return {}

    def restore(self, state: dict[str, str]) -> None:
        """Keep nothing of an earlier process."""
        del state

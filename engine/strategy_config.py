"""Settings of the strategy: which class, its SMA pairs, and how signals become positions.

Kept apart from the SMA crossover so that the settings load no strategy (`tradeguard status`
reads a config file without it). `engine.strategy` re-exports `StrategyConfig`, `Pair` and
`DEFAULT_STRATEGY_CLASS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_STRATEGY_CLASS", "Pair", "StrategyConfig"]

_MAX_PERIOD: Final = 100_000
DEFAULT_STRATEGY_CLASS: Final = "engine.strategy:SmaCrossover"

Pair = tuple[int, int]


def _check_pairs(pairs: Sequence[Pair], field: str) -> list[Pair]:
    if not pairs:
        message = f"{field} must hold at least one (fast, slow) pair"
        raise ValueError(message)
    seen: set[Pair] = set()
    for fast, slow in pairs:
        if not 1 <= fast < slow <= _MAX_PERIOD:
            message = f"{field}: pair ({fast}, {slow}) needs 1 <= fast < slow <= {_MAX_PERIOD}"
            raise ValueError(message)
        if (fast, slow) in seen:
            message = f"{field}: pair ({fast}, {slow}) is listed twice"
            raise ValueError(message)
        seen.add((fast, slow))
    return list(pairs)


class StrategyConfig(BaseModel):
    """SMA crossover parameters and how signals become target positions."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True
    )

    class_path: str = Field(
        DEFAULT_STRATEGY_CLASS,
        alias="class",
        description="Strategy implementation as 'package.module:ClassName' (see the Strategy "
        "protocol in docs/architecture.md); the SMA crossover by default",
        min_length=3,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
    )
    strategy_id: str = Field(
        "sma", description="Stable id used in client order ids", min_length=1, max_length=32,
        pattern=r"^[A-Za-z0-9_]+$",
    )
    pairs: list[Pair] = Field(
        default_factory=lambda: [(10, 30)],
        description="(fast, slow) SMA periods in bars, fast < slow, used for every symbol",
    )
    symbol_pairs: dict[str, list[Pair]] = Field(
        default_factory=dict, description="Per-symbol override of pairs"
    )
    order_quantity: float = Field(
        0.01, description="Units per order (the target position size)", gt=0, le=1e12
    )
    position_mode: Literal["long_only", "long_short"] = Field(
        "long_only", description="long_only: SELL goes flat; long_short: SELL goes short"
    )
    confidence_scale_pct: float = Field(
        0.05, description="Gap swing on the crossing bar, percent of price, that gives "
        "confidence 1.0", gt=0, le=100,
    )

    @field_validator("pairs")
    @classmethod
    def _check_default_pairs(cls, value: list[Pair]) -> list[Pair]:
        return _check_pairs(value, "pairs")

    @field_validator("symbol_pairs")
    @classmethod
    def _check_symbol_pairs(cls, value: dict[str, list[Pair]]) -> dict[str, list[Pair]]:
        for symbol, pairs in value.items():
            if not symbol:
                message = "symbol_pairs: symbol names must not be empty"
                raise ValueError(message)
            _check_pairs(pairs, f"symbol_pairs[{symbol!r}]")
        return value

    def pairs_for(self, symbol: str) -> list[Pair]:
        """Return the (fast, slow) pairs traded on symbol."""
        return self.symbol_pairs.get(symbol, self.pairs)

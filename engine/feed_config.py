"""Settings of the bar feed: bar spacing, the reported gap and what a sane bar is.

Kept apart from the validator so that the settings load no feed machinery (`tradeguard status`
reads a config file without it). `engine.feed` re-exports `FeedConfig`.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["FeedConfig"]

_MAX_BAND_PCT = 1000.0


def _check_band(value: float, field: str) -> float:
    if not (math.isfinite(value) and 0.0 < value <= _MAX_BAND_PCT):
        message = f"{field} must be a percentage in (0, {_MAX_BAND_PCT:g}], got {value}"
        raise ValueError(message)
    return value


class FeedConfig(BaseModel):
    """Bar spacing, the gap above which a data-feed issue is reported, and what a sane bar is."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    bar_seconds: int = Field(60, description="Length of one bar in seconds.", gt=0, le=86_400)
    max_gap_seconds: float = Field(
        900.0, description="A gap between good bars above this is reported and the symbol's "
        "indicators are re-warmed on fresh bars.", gt=0
    )
    max_future_seconds: float = Field(
        366 * 86_400.0,
        description="A bar more than this after the last good bar of its symbol (or, for a "
        "symbol's first bar, after the stream's latest bar or a live clock) is a bad bar, "
        "never a clock jump. The default keeps the months-long holes of the shared sample "
        "files as gaps; a live feed wants far less (e.g. 3600).",
        gt=0,
        le=100 * 366 * 86_400.0,
    )
    price_band_pct: float = Field(
        20.0,
        description="A bar whose high or low is further than this percentage from the last "
        "good close (within max_gap_seconds) is quarantined: not traded on, reported.",
        gt=0,
        le=_MAX_BAND_PCT,
    )
    symbol_price_bands: dict[str, float] = Field(
        default_factory=dict, description="Per-symbol price_band_pct overrides, e.g. "
        "{\"SPX\" = 5.0}."
    )
    max_price: float = Field(
        1e9, description="Prices above this are absurd: the bar is a bad bar.", gt=0, le=1e15
    )
    min_price: float = Field(
        1e-12, description="Prices below this are absurd (5e-324 is not a price): a bad bar.",
        gt=0, le=1.0,
    )
    max_volume: float = Field(
        1e18, description="A volume above this is absurd: the bar is a bad bar.", gt=0, le=1e30
    )

    @field_validator("symbol_price_bands")
    @classmethod
    def _check_symbol_bands(cls, value: dict[str, float]) -> dict[str, float]:
        for symbol, pct in value.items():
            if not symbol.strip():
                message = "symbol_price_bands: symbol names must not be empty"
                raise ValueError(message)
            _check_band(pct, f"symbol_price_bands[{symbol!r}]")
        return value

    @model_validator(mode="after")
    def _gap_at_least_one_bar(self) -> Self:
        if self.max_gap_seconds < self.bar_seconds:
            message = "max_gap_seconds must be at least bar_seconds"
            raise ValueError(message)
        if self.max_future_seconds < self.max_gap_seconds:
            message = "max_future_seconds must be at least max_gap_seconds"
            raise ValueError(message)
        return self

    def band_pct(self, symbol: str) -> float:
        """Return the price band of symbol, percent."""
        return self.symbol_price_bands.get(symbol, self.price_band_pct)

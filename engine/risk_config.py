"""Risk limit settings: every bound validated, errors naming the field."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.clock import check_iana_zone

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class RiskConfig(BaseModel):
    """Pre-trade limits and the trading-day definition."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    max_daily_loss: float = Field(
        1000.0, description="Largest loss allowed per trading day, account currency", gt=0, le=1e12
    )
    max_daily_trades: int = Field(
        50, description="Executed trades (fills) allowed per trading day", gt=0, le=10_000_000
    )
    max_position: float = Field(
        1.0, description="Largest absolute position per symbol, in units", gt=0, le=1e12
    )
    max_order_notional: float = Field(
        50_000.0, description="Largest value of one order, account currency", gt=0, le=1e15
    )
    price_collar_pct: float = Field(
        5.0, description="Largest distance of a limit price from the last price, percent",
        gt=0, le=100,
    )
    max_orders_per_second: int = Field(
        5, description="Order submissions allowed in any sliding 1-second window", gt=0, le=10_000
    )
    max_orders_per_minute: int = Field(
        60, description="Order submissions allowed in any sliding 60-second window",
        gt=0, le=600_000,
    )
    worst_case_move_pct: float = Field(
        2.0, description="Adverse move, percent of notional, used as an order's worst-case loss "
        "when the order does not carry one", gt=0, le=100,
    )
    day_boundary: str = Field(
        "00:00", description="Local wall-clock time 'HH:MM' at which a trading day starts"
    )
    day_timezone: str = Field(
        "UTC", description="IANA time zone of day_boundary, e.g. 'America/New_York'"
    )

    @field_validator("day_boundary")
    @classmethod
    def _check_boundary(cls, value: str) -> str:
        if not _HHMM.match(value):
            message = f"day_boundary must be 'HH:MM' between 00:00 and 23:59, got {value!r}"
            raise ValueError(message)
        return value

    @field_validator("day_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_iana_zone(value, "day_timezone")

    @model_validator(mode="after")
    def _check_rates(self) -> RiskConfig:
        if self.max_orders_per_minute < self.max_orders_per_second:
            message = (
                f"max_orders_per_minute ({self.max_orders_per_minute}) must be >= "
                f"max_orders_per_second ({self.max_orders_per_second})"
            )
            raise ValueError(message)
        return self

"""Settings of the paper venue: its economics and latency (kept apart from the venue itself).

The settings load this module alone: reading a config file needs no broker, fault plan or
paper book (`tradeguard status` loads none of them). `engine.broker` re-exports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BrokerConfig"]


class BrokerConfig(BaseModel):
    """Paper venue economics and latency."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    starting_cash: float = Field(100_000.0, description="Cash of a new paper book.", gt=0)
    fee_pct: float = Field(0.05, description="Fee, percent of fill notional.", ge=0, le=10)
    slippage_pct: float = Field(
        0.01, description="Base adverse slippage, percent of the fill bar open.", ge=0, le=10
    )
    slippage_jitter_pct: float = Field(
        0.0, description="Extra uniform adverse slippage 0..x percent per order.", ge=0, le=10
    )
    base_latency_ms: float = Field(
        20.0, description="Acknowledgement latency reported on every ack.", ge=0, le=600_000
    )
    timeout_executes_fraction: float = Field(
        0.5,
        description="Of the orders that time out, the fraction that reached the venue anyway.",
        ge=0,
        le=1,
    )

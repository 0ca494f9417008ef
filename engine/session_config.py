"""Settings of the trading loop: checkpoints, command polling, the breaker's HALT handling.

Kept apart from the session values so that the settings load no session machinery
(`tradeguard status` reads a config file without it). `engine.session_state` re-exports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SessionConfig"]


class SessionConfig(BaseModel):
    """How the trading loop checkpoints, reacts to the breaker and polls operator commands."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    checkpoint_every_bars: int = Field(
        1000, ge=1, description="Commit the cursor and counters at least every N quiet bars."
    )
    command_poll_every_bars: int = Field(
        1, ge=1, description="Poll the operator command queue every N bars."
    )
    flatten_on_halt: bool = Field(
        True, description="Close open positions at market while the breaker is in HALT."
    )
    dry_run: bool = Field(
        False, description="Compute and journal signals but never send an order."
    )
    equity_every_bars: int = Field(
        60, ge=1, description="Record an equity-curve point every N bars (and at every fill)."
    )

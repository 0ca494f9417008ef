"""Injected time: the only place in engine/ that may read the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import ConfigurationError


class Clock(Protocol):
    """Source of timezone-aware UTC time, told when the session reaches a bar's close."""

    @property
    def simulated(self) -> bool:
        """Return True when time moves only by advance_to (replays), not with the wall."""
        ...

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...

    def advance_to(self, when: datetime) -> None:
        """Move to `when` if the clock is driven by the data; wall clocks ignore it."""
        ...


class SystemClock:
    """Wall-clock time for live and real-time paper sessions."""

    @property
    def simulated(self) -> bool:
        """Return False: wall time."""
        return False

    def now(self) -> datetime:
        """Return the current wall-clock time in UTC."""
        return datetime.now(UTC)

    def advance_to(self, when: datetime) -> None:
        """Do nothing: wall time moves by itself."""
        del when


def ensure_utc(value: datetime, name: str = "time") -> datetime:
    """Return value as UTC; refuse naive datetimes instead of guessing their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        message = f"{name} must be timezone-aware (got naive {value.isoformat()})"
        raise ConfigurationError(message)
    return value.astimezone(UTC)


def check_iana_zone(value: str, field: str) -> str:
    """Return value if it names an IANA time zone, else raise ValueError naming the field."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        message = f"{field} must be an IANA time zone name, got {value!r}"
        raise ValueError(message) from e
    return value


class SimulatedClock:
    """Deterministic clock for replays and tests, moved only by advance() and set()."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start, "start")

    @property
    def simulated(self) -> bool:
        """Return True: time moves only when told."""
        return True

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._now

    def advance(self, delta: float | timedelta) -> datetime:
        """Move time forward by seconds or a timedelta and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            message = f"cannot advance a clock backwards (by {step})"
            raise ValueError(message)
        self._now = self._now + step
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to an absolute time; going backwards is refused."""
        when = ensure_utc(when, "when")
        if when < self._now:
            message = f"cannot set clock back from {self._now.isoformat()} to {when.isoformat()}"
            raise ValueError(message)
        self._now = when

    def advance_to(self, when: datetime) -> None:
        """Move forward to `when` if it is later; earlier or equal times change nothing."""
        if when > self._now:
            self._now = when if when.tzinfo is UTC else ensure_utc(when, "when")

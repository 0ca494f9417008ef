"""Venue round trips of the ccxt adapter: timed, classified, reported, backed off.

Every ccxt call goes through `VenueCalls._call`: its latency is measured with the injected
clock, listeners see it as a `VenueCall`, every exception becomes a `VenueCallError` with its
`FailureKind`, and bad credentials are reported to the attached breaker at once (SHUTDOWN).
After a 429 nothing is sent until the venue's Retry-After has passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from engine.breaker_config import IssueType
from engine.clock import Clock
from tradeguard.venues.failures import (
    FailureKind,
    VenueCallError,
    VenueCredentialsError,
    classify,
    describe_error,
)

__all__ = ["BreakerSink", "VenueCall", "VenueCalls"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class BreakerSink(Protocol):
    """The part of the circuit breaker the adapter reports to (CircuitBreaker satisfies it)."""

    def report_critical_error(self, issue_type: IssueType | str, details: Any = None) -> None:
        """Record a critical error."""


@dataclass(frozen=True, slots=True)
class VenueCall:
    """One venue round trip, as measured by the adapter."""

    call: str
    at: datetime
    latency_ms: float
    failure: FailureKind | None = None
    detail: str = ""




class VenueCalls:
    """The round trips to one ccxt exchange, shared by the order and the fill halves."""

    def __init__(
        self, exchange: Any, clock: Clock, listeners: Sequence[Callable[[VenueCall], None]] = ()
    ) -> None:
        self._exchange = exchange
        self._clock = clock
        self._listeners = list(listeners)
        self._breaker: BreakerSink | None = None
        self._markets_loaded = False
        self._backoff_until: datetime | None = None
        self.last_latency_ms = 0.0

    def attach_breaker(self, breaker: BreakerSink) -> None:
        """Report critical venue errors (bad credentials) to this breaker from now on."""
        self._breaker = breaker

    def add_listener(self, listener: Callable[[VenueCall], None]) -> None:
        """Call listener after every venue round trip."""
        self._listeners.append(listener)

    def _call(self, call: str, fn: Callable[..., T], *args: Any) -> T:
        """Run one ccxt call, timing it; failures become VenueCallError with their kind."""
        started = self._clock.now()
        if self._backoff_until is not None and started < self._backoff_until:
            # Binance bans clients that keep calling after a 429: nothing is sent until then.
            detail = f"backing off after a rate limit until {self._backoff_until.isoformat()}"
            self._emit(VenueCall(call, started, 0.0, FailureKind.RATE_LIMITED, detail))
            message = f"{self._exchange.id} {call} not sent: {detail}"
            raise VenueCallError(message, FailureKind.RATE_LIMITED)
        try:
            result = fn(*args)
        except Exception as e:  # every ccxt error (and any other) is classified, never lost
            raise self._failed(call, started, e) from e
        self.last_latency_ms = self._since(started)
        self._emit(VenueCall(call, started, self.last_latency_ms))
        return result

    def _failed(self, call: str, started: datetime, error: Exception) -> VenueCallError:
        kind = classify(error)
        latency = self._since(started)
        self.last_latency_ms = latency
        detail = describe_error(error)
        log.warning("venue_call_failed call=%s kind=%s latency_ms=%.1f error=%s", call,
                    kind.value, latency, detail)
        self._emit(VenueCall(call, started, latency, kind, detail))
        message = f"{self._exchange.id} {call} failed ({kind.value}): {detail}"
        if kind is FailureKind.RATE_LIMITED:
            self._backoff_until = started + timedelta(seconds=self._retry_after())
        if not kind.critical:
            return VenueCallError(message, kind)
        if self._breaker is not None:
            self._breaker.report_critical_error(
                IssueType.SECURITY_BREACH,
                {"venue": self._exchange.id, "call": call, "kind": kind.value, "error": detail},
            )
        return VenueCredentialsError(message, kind)

    def _retry_after(self) -> float:
        headers = self._exchange.last_response_headers or {}
        raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return max(float(raw), 1.0) if raw is not None else 1.0
        except ValueError:
            return 1.0

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._call("load_markets", self._exchange.load_markets)
            self._markets_loaded = True

    def _since(self, started: datetime) -> float:
        return max((self._clock.now() - started).total_seconds() * 1000.0, 0.0)

    def _emit(self, event: VenueCall) -> None:
        for listener in self._listeners:
            listener(event)

"""What a ccxt exception means for tradeguard: a failure kind the breaker and the engine act on.

ccxt raises one class hierarchy for every exchange. Order submits need one distinction above all:
did the venue definitely refuse the order (rejected: safe to count as a failure), or may it have
executed (ambiguous: the intent stays UNKNOWN until the venue is queried by client order id)?
"""

from __future__ import annotations

import re
from enum import StrEnum

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information

from engine.errors import BrokerUnavailableError

__all__ = [
    "FailureKind",
    "VenueCallError",
    "VenueCredentialsError",
    "classify",
    "describe_error",
]


class FailureKind(StrEnum):
    """Kind of venue failure, from the breaker's and the order journal's point of view."""

    CREDENTIALS = "credentials"  # bad key/secret/permissions: critical, SHUTDOWN
    RATE_LIMITED = "rate_limited"  # 429/418: the request was refused, back off
    CLOCK_SKEW = "clock_skew"  # timestamp outside recvWindow: refused, fix the clock
    TIMEOUT = "timeout"  # no answer in time: the order may have executed
    UNAVAILABLE = "unavailable"  # 5xx, connection lost, maintenance: the order may have executed
    NOT_FOUND = "not_found"  # the venue confirms it does not know the order
    DUPLICATE = "duplicate"  # the venue already has an order with this client id
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"  # bad price/quantity/symbol/parameters: refused
    VENUE_ERROR = "venue_error"  # any other definite error answer

    @property
    def ambiguous(self) -> bool:
        """Return True when an order sent in this call may or may not have reached the venue."""
        return self in (FailureKind.TIMEOUT, FailureKind.UNAVAILABLE)

    @property
    def critical(self) -> bool:
        """Return True when trading must stop (the breaker goes to SHUTDOWN)."""
        return self is FailureKind.CREDENTIALS


# Most specific first: RateLimitExceeded, InvalidNonce and RequestTimeout are NetworkErrors,
# OrderNotFound and DuplicateOrderId are InvalidOrders, PermissionDenied is an AuthenticationError.
_ORDERED: tuple[tuple[type[BaseException], FailureKind], ...] = (
    (ccxt.AuthenticationError, FailureKind.CREDENTIALS),
    (ccxt.RateLimitExceeded, FailureKind.RATE_LIMITED),
    (ccxt.DDoSProtection, FailureKind.RATE_LIMITED),
    (ccxt.InvalidNonce, FailureKind.CLOCK_SKEW),
    (ccxt.RequestTimeout, FailureKind.TIMEOUT),
    (ccxt.NetworkError, FailureKind.UNAVAILABLE),  # ExchangeNotAvailable, OnMaintenance, ...
    (ccxt.OrderNotFound, FailureKind.NOT_FOUND),
    (ccxt.DuplicateOrderId, FailureKind.DUPLICATE),
    (ccxt.InsufficientFunds, FailureKind.INSUFFICIENT_FUNDS),
    (ccxt.InvalidOrder, FailureKind.INVALID_ORDER),
    (ccxt.BadRequest, FailureKind.INVALID_ORDER),  # BadSymbol too
    (ccxt.ArgumentsRequired, FailureKind.INVALID_ORDER),
    (ccxt.NotSupported, FailureKind.INVALID_ORDER),
    (ccxt.OperationRejected, FailureKind.INVALID_ORDER),  # MarketClosed, ...
    (ccxt.ExchangeError, FailureKind.VENUE_ERROR),
    (ccxt.OperationFailed, FailureKind.UNAVAILABLE),  # BadResponse, NullResponse
)

# Binance answers a resent client order id with {"code":-2010,"msg":"Duplicate order sent."},
# which ccxt raises as a plain InvalidOrder.
_DUPLICATE_MARKERS = ("duplicate order", "-2010,\"msg\":\"duplicate")


# After one successful signed call ccxt raises Binance's -2015 "Invalid API-key, IP, or
# permissions for action." as DDoSProtection (it can mean a temporary ban). A key revoked or
# stripped of permissions mid-session answers exactly that, so it fails closed as credentials.
_REVOKED_KEY_MARKER = '"code":-2015'


def classify(error: BaseException) -> FailureKind:
    """Return the failure kind of an exception raised by a ccxt call (unknown: UNAVAILABLE)."""
    revoked = _REVOKED_KEY_MARKER in str(error).replace(" ", "")
    if isinstance(error, ccxt.DDoSProtection) and revoked:
        return FailureKind.CREDENTIALS
    for cls, kind in _ORDERED:
        if isinstance(error, cls):
            if kind is FailureKind.INVALID_ORDER and _is_duplicate(error):
                return FailureKind.DUPLICATE
            return kind
    # Anything else (a bug in a parser, an unexpected library error) fails closed: the order
    # state is unknown and must be reconciled before trusting it.
    return FailureKind.UNAVAILABLE


_SIGNATURE = re.compile(r"signature=[0-9A-Za-z%+/=_-]+")


def describe_error(error: BaseException, limit: int = 300) -> str:
    """Return `Type: message`, shortened, with request signatures masked (ccxt logs URLs)."""
    text = _SIGNATURE.sub("signature=***", f"{type(error).__name__}: {error}")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_duplicate(error: BaseException) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _DUPLICATE_MARKERS)


class VenueCallError(BrokerUnavailableError):
    """A venue call failed; `kind` says whether the venue refused it or may have acted."""

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind = kind


class VenueCredentialsError(VenueCallError):
    """The venue refused the API key, secret or their permissions: fix the keys, then reset."""

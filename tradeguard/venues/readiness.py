"""`tradeguard venue check`: is this venue and account ready to trade? Never places an order.

Each check returns a frozen `ReadinessCheck` (name, ok, observed, expected); the report is ready
only when every check passes. Credentials, markets and balances are checked with real calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigurationError
from tradeguard.venues.config import VenueConfig, VenueCredentials
from tradeguard.venues.exchange import build_exchange
from tradeguard.venues.failures import FailureKind, classify, describe_error

__all__ = ["ReadinessCheck", "ReadinessReport", "check_venue"]

_WEIGHT_HEADER = "x-mbx-used-weight-1m"
_WEIGHT_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One line of the readiness table."""

    name: str
    ok: bool
    observed: str
    expected: str


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """Every check of one venue; ready when all pass."""

    exchange: str
    checks: tuple[ReadinessCheck, ...]

    @property
    def ready(self) -> bool:
        """Return True when every check passed."""
        return all(c.ok for c in self.checks)

    def failed(self) -> list[ReadinessCheck]:
        """Return the checks that failed."""
        return [c for c in self.checks if not c.ok]


def _error_text(error: BaseException) -> str:
    kind = classify(error)
    what = "credentials refused" if kind is FailureKind.CREDENTIALS else kind.value
    return f"{what}: {describe_error(error, 240)}"


def _mode(config: VenueConfig) -> ReadinessCheck:
    if config.api_url is not None:
        observed = f"loopback/override {config.api_url}"
    elif config.sandbox:
        observed = "sandbox (testnet)"
    else:
        observed = "MAINNET (real money)" + ("" if config.allow_mainnet else ", not allowed")
    ok = not config.is_mainnet or config.allow_mainnet
    return ReadinessCheck("mode", ok, observed, "sandbox, or mainnet with allow_mainnet = true")


def _connectivity(exchange: Any, wall_ms: Callable[[], int]) -> tuple[ReadinessCheck, ...]:
    sent = wall_ms()
    try:
        server = int(exchange.fetch_time())
    except Exception as e:  # every failure is reported in the table, never raised
        return (ReadinessCheck("connectivity", False, _error_text(e), "server time answered"),)
    received = wall_ms()
    skew = server - (sent + received) / 2
    return (
        ReadinessCheck("connectivity", True, f"round trip {received - sent} ms",
                       "server time answered"),
        ReadinessCheck("clock_skew", True, f"{skew:+.0f} ms", "within limit"),
    )


def _skew_check(base: ReadinessCheck, limit_ms: float) -> ReadinessCheck:
    skew = abs(float(base.observed.split()[0]))
    return ReadinessCheck("clock_skew", skew <= limit_ms, base.observed,
                          f"|server - local| <= {limit_ms:g} ms (recvWindow safety)")


def _markets(exchange: Any, symbols: list[str]) -> ReadinessCheck:
    expected = "every symbol listed and active: " + ", ".join(symbols)
    try:
        markets = exchange.load_markets()
    except Exception as e:  # reported, not raised
        return ReadinessCheck("markets", False, _error_text(e), expected)
    missing = [s for s in symbols if s not in markets or markets[s].get("active") is False]
    observed = f"{len(markets)} markets" + (f"; missing {', '.join(missing)}" if missing else "")
    return ReadinessCheck("markets", not missing, observed, expected)


def _account(exchange: Any, symbols: list[str]) -> tuple[ReadinessCheck, ...]:
    try:
        balance = exchange.fetch_balance()
    except Exception as e:  # reported, not raised
        text = _error_text(e)
        return (
            ReadinessCheck("credentials", False, text, "signed request accepted"),
            ReadinessCheck("balances", False, "not read (credentials failed)",
                           "quote currency free > 0"),
        )
    quotes = sorted({s.split("/")[1].split(":")[0] for s in symbols})
    free = {q: float((balance.get(q) or {}).get("free") or 0.0) for q in quotes}
    shown = ", ".join(f"{q} free={v:g}" for q, v in free.items())
    return (
        ReadinessCheck("credentials", True, "signed request accepted", "signed request accepted"),
        ReadinessCheck("balances", all(v > 0 for v in free.values()), shown,
                       "quote currency free > 0"),
    )


def _weight_limit(exchange: Any) -> int | None:
    """Return Binance's REQUEST_WEIGHT per minute from exchangeInfo (None elsewhere)."""
    fetch = getattr(exchange, "publicGetExchangeInfo", None)
    if fetch is None:
        return None
    try:
        info = fetch()
    except Exception:  # the limit is informative only; the check falls back to the header
        return None
    for entry in info.get("rateLimits") or []:
        if entry.get("rateLimitType") == "REQUEST_WEIGHT" and entry.get("interval") == "MINUTE":
            return int(entry["limit"])
    return None


def _rate_limits(exchange: Any) -> ReadinessCheck:
    limit = _weight_limit(exchange)
    headers = {k.lower(): v for k, v in (exchange.last_response_headers or {}).items()}
    used = headers.get(_WEIGHT_HEADER)
    limiting = bool(exchange.enableRateLimit)
    spacing = f"ccxt spacing {exchange.rateLimit} ms ({'on' if limiting else 'off'})"
    expected = f"limiting on, < {int(_WEIGHT_SHARE * 100)} % of the weight limit"
    if used is None or limit is None:
        return ReadinessCheck("rate_limits", limiting, f"{spacing}; weight not reported",
                              expected)
    ok = int(used) < limit * _WEIGHT_SHARE and limiting
    return ReadinessCheck("rate_limits", ok, f"{spacing}; used weight {used}/{limit} per minute",
                          expected)


def _open_orders(exchange: Any, symbols: list[str]) -> ReadinessCheck:
    counts: list[str] = []
    try:
        for symbol in symbols:
            counts.append(f"{symbol}={len(exchange.fetch_open_orders(symbol))}")
    except Exception as e:  # reported, not raised
        return ReadinessCheck("open_orders", False, _error_text(e), "listable")
    return ReadinessCheck("open_orders", True, ", ".join(counts),
                          "listable (reconciled at session start)")


def check_venue(
    config: VenueConfig,
    exchange: Any = None,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> ReadinessReport:
    """Connect and run every readiness check without trading."""
    checks: list[ReadinessCheck] = [_mode(config)]
    try:
        credentials: VenueCredentials | None = VenueCredentials.resolve(config)
    except ConfigurationError as e:
        credentials = None
        checks.append(ReadinessCheck("credentials", False, str(e), "api key and secret set"))
    if exchange is None:
        exchange = build_exchange(config, credentials)
    connectivity = _connectivity(exchange, wall_ms)
    checks.append(connectivity[0])
    if len(connectivity) > 1:
        checks.append(_skew_check(connectivity[1], config.max_clock_skew_ms))
    checks.append(_markets(exchange, config.symbols))
    if credentials is not None:
        checks.extend(_account(exchange, config.symbols))
        checks.append(_open_orders(exchange, config.symbols))
    checks.append(_rate_limits(exchange))
    return ReadinessReport(config.exchange, tuple(checks))

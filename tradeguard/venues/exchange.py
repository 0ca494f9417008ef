"""Build the ccxt client of the configured venue (sandbox, keys, loopback URL override)."""

from __future__ import annotations

import logging
from typing import Any

import ccxt  # type: ignore[import-untyped]  # ccxt ships no type information

from engine.errors import ConfigurationError
from tradeguard.venues.config import VenueConfig, VenueCredentials

__all__ = ["build_exchange", "override_urls"]

# ccxt binance.py `urls['api']` keys used for spot: public and private are /api/v3, v1 is /api/v1.
_SPOT_PATHS = {"public": "/api/v3", "private": "/api/v3", "v1": "/api/v1", "sapi": "/sapi/v1"}


def override_urls(exchange: Any, base_url: str) -> None:
    """Point every REST endpoint family of the exchange at base_url (the loopback emulator)."""
    api = exchange.urls.get("api")
    if not isinstance(api, dict):
        message = f"ccxt {exchange.id} has no per-family API URLs to override"
        raise ConfigurationError(message)
    exchange.urls["api"] = {
        family: base_url + _SPOT_PATHS.get(family, "/" + family) for family in api
    }


def build_exchange(config: VenueConfig, credentials: VenueCredentials | None) -> Any:
    """Return a configured ccxt exchange; keys are optional for public-only use."""
    factory = getattr(ccxt, config.exchange, None)
    if factory is None:
        message = f"venue.exchange {config.exchange!r} is not a ccxt exchange id"
        raise ConfigurationError(message)
    params: dict[str, Any] = {
        "timeout": config.timeout_ms,
        "enableRateLimit": config.enable_rate_limit,
        "options": {
            "defaultType": config.market_type,
            "fetchMarkets": {"types": [config.market_type]},
            "fetchCurrencies": False,  # a sapi call testnets and the emulator do not serve
            "recvWindow": config.recv_window_ms,
            "adjustForTimeDifference": False,
        },
    }
    if credentials is not None:
        params["apiKey"] = credentials.api_key.get_secret_value()
        params["secret"] = credentials.api_secret.get_secret_value()
    # ccxt's and urllib3's DEBUG lines dump request headers (the API key) and signed URLs:
    # keep them off even when tradeguard runs with --log-level DEBUG.
    for name in ("ccxt", "urllib3"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, logging.INFO))
    exchange = factory(params)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    if config.api_url is not None:
        override_urls(exchange, config.api_url)
    return exchange

"""The `venue` settings group: which exchange, which account, and the mainnet safety catch."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from engine.errors import ConfigurationError

__all__ = [
    "MainnetNotAllowedError",
    "VenueConfig",
    "VenueCredentials",
    "require_supported",
    "require_trading_allowed",
]

_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")


class MainnetNotAllowedError(ConfigurationError):
    """A live session would trade a real (mainnet) account: set venue.allow_mainnet = true."""


class VenueConfig(BaseModel):
    """Live venue reached through ccxt: exchange, account keys, symbols and timeouts."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    exchange: str = Field(
        "binance",
        pattern=r"^[a-z][a-z0-9_]{1,40}$",
        description="ccxt exchange id (binance is the one the emulator and tests cover).",
    )
    sandbox: bool = Field(
        True, description="Use the exchange's testnet/sandbox endpoints (ccxt set_sandbox_mode)."
    )
    allow_mainnet: bool = Field(
        False,
        description="Must be true to trade a real account (sandbox = false, no api_url override).",
    )
    api_key: SecretStr | None = Field(
        None, description="API key (prefer env TRADEGUARD_VENUE__API_KEY or api_key_file)."
    )
    api_secret: SecretStr | None = Field(
        None, description="API secret (prefer env TRADEGUARD_VENUE__API_SECRET or api_secret_file)."
    )
    api_key_file: Path | None = Field(
        None, description="File holding the API key; must be mode 0600 (no group/other access)."
    )
    api_secret_file: Path | None = Field(
        None, description="File holding the API secret; must be mode 0600."
    )
    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT"],
        min_length=1,
        max_length=100,
        description="ccxt unified symbols traded (BASE/QUOTE); they are the engine's symbols.",
    )
    market_type: Literal["spot"] = Field(
        "spot", description="Market type; only spot is implemented (no reduce-only, no shorts)."
    )
    api_url: str | None = Field(
        None,
        description="Base URL replacing the exchange's REST hosts (the loopback emulator, "
        "e.g. http://127.0.0.1:8765); never a real exchange.",
    )
    timeout_ms: int = Field(
        10_000, ge=100, le=120_000, description="ccxt HTTP timeout of one request (ms)."
    )
    recv_window_ms: int = Field(
        5_000, ge=100, le=60_000, description="Binance recvWindow of signed requests (ms)."
    )
    collar_pct: float = Field(
        0.5,
        gt=0,
        le=10,
        description="Market orders are sent as IOC limits this percent beyond the reference "
        "price (price protection).",
    )
    poll_delay_seconds: float = Field(
        2.0, ge=0, le=50, description="Wait after a minute boundary before asking for the bar."
    )
    stale_after_seconds: float = Field(
        180.0,
        ge=60,
        le=86_400,
        description="No new closed bar for this long is a data-feed issue (stale feed).",
    )
    warmup_bars: int = Field(
        200, ge=0, le=1000, description="Closed bars of history fetched at start to warm up."
    )
    max_clock_skew_ms: float = Field(
        1_000.0, gt=0, le=60_000, description="venue check fails above this server-local skew."
    )
    enable_rate_limit: bool = Field(
        True, description="Let ccxt space requests by the exchange's declared rate limit."
    )
    sync_lookback_hours: int = Field(
        720,
        ge=1,
        le=8_760,
        description="How far back the venue sync at start and `reconcile` read the account's "
        "trades: from the store's oldest bar cursor, never earlier than this many hours ago "
        "(an empty store reads all of it). Binance myTrades needs one request per symbol per "
        "24 h of window; a store older than this HALTs the session (trades in between unseen).",
    )

    @field_validator("symbols")
    @classmethod
    def _unified_symbols(cls, value: list[str]) -> list[str]:
        for index, symbol in enumerate(value):
            if not _SYMBOL.match(symbol):
                message = f"symbols[{index}] {symbol!r} is not a ccxt unified symbol like BTC/USDT"
                raise ValueError(message)
        if len(set(value)) != len(value):
            message = "symbols must not repeat"
            raise ValueError(message)
        return value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            message = f"api_url {value!r} must be an http(s) URL"
            raise ValueError(message)
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Self:
        if self.api_key is not None and self.api_key_file is not None:
            message = "give api_key or api_key_file, not both"
            raise ValueError(message)
        if self.api_secret is not None and self.api_secret_file is not None:
            message = "give api_secret or api_secret_file, not both"
            raise ValueError(message)
        return self

    @property
    def is_mainnet(self) -> bool:
        """Return True when orders would reach a real account."""
        return not self.sandbox and self.api_url is None


class VenueCredentials(BaseModel):
    """API key and secret resolved from the settings (inline/env or 0600 files)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    api_key: SecretStr
    api_secret: SecretStr

    @classmethod
    def resolve(cls, config: VenueConfig) -> VenueCredentials:
        """Return the credentials, reading 0600 files; raise ConfigurationError when missing."""
        key = config.api_key or _read_secret(config.api_key_file, "venue.api_key_file")
        secret = config.api_secret or _read_secret(config.api_secret_file, "venue.api_secret_file")
        missing = [name for name, v in (("api_key", key), ("api_secret", secret)) if v is None]
        if missing or key is None or secret is None:
            names = " and ".join(f"venue.{m}" for m in missing)
            message = (
                f"{names} not set: export TRADEGUARD_VENUE__API_KEY / TRADEGUARD_VENUE__API_SECRET "
                "or point venue.api_key_file / venue.api_secret_file at 0600 files"
            )
            raise ConfigurationError(message)
        return cls(api_key=key, api_secret=secret)


def _read_secret(path: Path | None, name: str) -> SecretStr | None:
    if path is None:
        return None
    path = path.expanduser()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            message = f"{name} {path} is readable by others (mode {mode & 0o777:o}): chmod 600 it"
            raise ConfigurationError(message)
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        message = f"{name} {path} cannot be read: {e.strerror}"
        raise ConfigurationError(message) from e
    if not text:
        message = f"{name} {path} is empty"
        raise ConfigurationError(message)
    return SecretStr(text)


def require_trading_allowed(config: VenueConfig) -> None:
    """Refuse to trade a mainnet account unless venue.allow_mainnet is true (fails closed)."""
    if config.is_mainnet and not config.allow_mainnet:
        message = (
            f"refusing to trade a mainnet {config.exchange} account: venue.sandbox is false and "
            "venue.allow_mainnet is not true; set venue.allow_mainnet = true (or "
            "TRADEGUARD_VENUE__ALLOW_MAINNET=true) only after the checks in README 'Live venues'"
        )
        raise MainnetNotAllowedError(message)



# CcxtBroker sends and queries client order ids with Binance's parameter names
# (newClientOrderId / origClientOrderId); other exchanges need their own mapping first.
SUPPORTED_EXCHANGES = frozenset({"binance"})


def require_supported(config: VenueConfig) -> None:
    """Refuse to trade on an exchange whose client-order-id rules the adapter does not know."""
    if config.exchange not in SUPPORTED_EXCHANGES:
        message = (
            f"venue.exchange {config.exchange!r} cannot trade yet: the adapter only knows the "
            f"client order id rules of {', '.join(sorted(SUPPORTED_EXCHANGES))} "
            "(venue check and paper mode work with any ccxt exchange)"
        )
        raise ConfigurationError(message)

"""Venue adapter safety: failure kinds, client ids, credentials, mainnet catch, live feed."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import ccxt  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.circuit_breaker import CircuitBreaker, CircuitConfig, CircuitState
from engine.clock import SimulatedClock
from engine.errors import ConfigurationError
from engine.model import OrderRequest, OrderStatus, Side
from tests.integration.venue_support import (
    DATA_FILE,
    SYMBOL,
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    exchange_for,
    make_emulator,
    minutes,
    serving,
    venue_config,
)
from tradeguard.marketdata import read_bars
from tradeguard.venues.ccxt_broker import CcxtBroker
from tradeguard.venues.config import (
    MainnetNotAllowedError,
    VenueConfig,
    VenueCredentials,
    require_supported,
    require_trading_allowed,
)
from tradeguard.venues.emulator.faults import FaultRule, HttpFaults
from tradeguard.venues.failures import FailureKind, VenueCredentialsError, classify
from tradeguard.venues.ids import encode_client_order_id
from tradeguard.venues.live_feed import LiveBarFeed, LiveFeedConfig

BINANCE_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
CID = "sma-BTC/USDT-BUY-20220121T195900Z-10x30"

# ------------------------------------------------------------------ failure kinds

EXPECTED = {
    "AuthenticationError": FailureKind.CREDENTIALS,
    "PermissionDenied": FailureKind.CREDENTIALS,
    "AccountSuspended": FailureKind.CREDENTIALS,
    "RateLimitExceeded": FailureKind.RATE_LIMITED,
    "DDoSProtection": FailureKind.RATE_LIMITED,
    "InvalidNonce": FailureKind.CLOCK_SKEW,
    "RequestTimeout": FailureKind.TIMEOUT,
    "NetworkError": FailureKind.UNAVAILABLE,
    "ExchangeNotAvailable": FailureKind.UNAVAILABLE,
    "OnMaintenance": FailureKind.UNAVAILABLE,
    "OrderNotFound": FailureKind.NOT_FOUND,
    "DuplicateOrderId": FailureKind.DUPLICATE,
    "InsufficientFunds": FailureKind.INSUFFICIENT_FUNDS,
    "InvalidOrder": FailureKind.INVALID_ORDER,
    "BadSymbol": FailureKind.INVALID_ORDER,
    "BadRequest": FailureKind.INVALID_ORDER,
    "ExchangeError": FailureKind.VENUE_ERROR,
    "BadResponse": FailureKind.UNAVAILABLE,
}


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED.items()))
def test_each_ccxt_error_class_maps_to_its_failure_kind(name: str, kind: FailureKind) -> None:
    assert classify(getattr(ccxt, name)("binance boom")) is kind


def test_every_ccxt_error_class_is_classified_and_only_auth_is_critical() -> None:
    errors = importlib.import_module("ccxt.base.errors")
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == errors.__name__]
    assert len(classes) > 30
    for cls in classes:
        kind = classify(cls("x"))
        assert kind.critical == issubclass(cls, ccxt.AuthenticationError), cls.__name__
    assert classify(ValueError("parser bug")) is FailureKind.UNAVAILABLE  # fails closed


def test_binance_revoked_key_after_a_good_call_is_credentials_not_rate_limit() -> None:
    error = ccxt.DDoSProtection(
        'binance {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}'
    )
    assert classify(error) is FailureKind.CREDENTIALS
    assert classify(ccxt.DDoSProtection("binance 429 Too Many Requests")) is (
        FailureKind.RATE_LIMITED
    )


def test_binance_duplicate_answer_is_a_duplicate_not_an_invalid_order() -> None:
    error = ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}')
    assert classify(error) is FailureKind.DUPLICATE
    assert FailureKind.TIMEOUT.ambiguous and FailureKind.UNAVAILABLE.ambiguous
    assert not FailureKind.RATE_LIMITED.ambiguous


# ------------------------------------------------------------------ client ids


@given(st.text(min_size=1, max_size=120))
def test_encoded_client_ids_fit_binance_and_are_deterministic(engine_id: str) -> None:
    encoded = encode_client_order_id(engine_id)
    assert BINANCE_ID.match(encoded)
    assert encoded == encode_client_order_id(engine_id)


def test_short_valid_ids_pass_unchanged_and_long_ones_stay_distinct() -> None:
    assert encode_client_order_id("sma-BTC-BUY-1") == "sma-BTC-BUY-1"
    ids = {encode_client_order_id(f"{CID[:-5]}{n:05d}") for n in range(5000)}
    assert len(ids) == 5000
    assert encode_client_order_id(CID).startswith("sma-BTC/USDT-BUY-20")


# ------------------------------------------------------------------ settings


def test_mainnet_needs_allow_mainnet_and_sandbox_or_loopback_do_not() -> None:
    with pytest.raises(MainnetNotAllowedError, match=r"venue\.allow_mainnet"):
        require_trading_allowed(VenueConfig(sandbox=False))
    require_trading_allowed(VenueConfig(sandbox=False, allow_mainnet=True))
    require_trading_allowed(VenueConfig())
    require_trading_allowed(VenueConfig(sandbox=False, api_url="http://127.0.0.1:9"))


def test_trading_an_exchange_without_known_client_id_rules_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="only knows the client order id rules"):
        require_supported(VenueConfig(exchange="kraken"))
    require_supported(VenueConfig())


def test_secret_files_must_be_private(tmp_path: Path) -> None:
    key, secret = tmp_path / "key", tmp_path / "secret"
    key.write_text("abc123\n")
    secret.write_text("s3cret\n")
    key.chmod(0o600)
    secret.chmod(0o644)
    config = VenueConfig(api_key_file=key, api_secret_file=secret)
    with pytest.raises(ConfigurationError, match=r"readable by others .* chmod 600"):
        VenueCredentials.resolve(config)
    secret.chmod(0o600)
    resolved = VenueCredentials.resolve(config)
    assert resolved.api_key.get_secret_value() == "abc123"
    assert "s3cret" not in repr(resolved)


def test_symbols_must_be_unified() -> None:
    with pytest.raises(ValueError, match="not a ccxt unified symbol"):
        VenueConfig(symbols=["BTCUSDT"])


# ------------------------------------------------------------------ broker against emulator


def _broker(server_url: str, clock: SimulatedClock, **kw: Any) -> CcxtBroker:
    return CcxtBroker(exchange_for(venue_config(server_url, **kw)), clock, [SYMBOL])


def _request(clock: SimulatedClock, price: float, limit: float | None = None) -> OrderRequest:
    return OrderRequest(CID, SYMBOL, Side.BUY, 0.01, price, clock.now(), limit_price=limit)


def test_wrong_secret_is_critical_and_shuts_the_breaker_down(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    breaker = CircuitBreaker(CircuitConfig(), clock)
    with serving(make_emulator(data_dir, clock)) as server:
        broker = _broker(server.url, clock, api_secret="wrong")
        broker.attach_breaker(breaker)
        with pytest.raises(VenueCredentialsError, match="credentials"):
            broker.get_balance()
        ack = broker.place_order(_request(clock, 38_000.0))
    assert breaker.state is CircuitState.SHUTDOWN
    assert ack.status is OrderStatus.REJECTED
    assert ack.reason.startswith("binance place_order failed (credentials)")


def test_partial_fill_then_expiry_books_the_filled_part(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="partial_fill", method="POST", path="/api/v3/order",
                                   fraction=0.4)])
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        broker = _broker(server.url, clock)
        price = emulator.book.market.price("BTCUSDT", T0) or 0.0
        assert broker.place_order(_request(clock, price)).status is OrderStatus.SUBMITTED
        (fill,) = broker.poll_fills()
        order = broker.get_order(CID)
    assert fill.quantity == pytest.approx(0.004)
    assert order is not None and order.status is OrderStatus.FILLED
    assert "partially filled 0.004 of 0.01" in order.reason


def test_venue_side_cancel_is_reported_cancelled_without_a_fill(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="venue_cancel", method="POST", path="/api/v3/order")])
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        broker = _broker(server.url, clock)
        ack = broker.place_order(_request(clock, 38_000.0, limit=30_000.0))
        order = broker.get_order(CID)
        fills = broker.poll_fills()
    assert ack.status is OrderStatus.REJECTED
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert fills == []


def test_resend_of_an_open_order_from_a_new_process_is_refused_by_the_venue(
    data_dir: Path,
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    with serving(emulator) as server:
        first = _broker(server.url, clock).place_order(_request(clock, 38_000.0, 30_000.0))
        # A restarted process knows nothing of the first; the venue refuses the same id.
        again = _broker(server.url, clock).place_order(_request(clock, 38_000.0, 30_000.0))
    assert again.status is OrderStatus.SUBMITTED
    assert again.broker_order_id == first.broker_order_id
    assert again.reason == "already at the venue"
    assert len(emulator.orders()) == 1


def test_timeout_after_accept_raises_broker_timeout_and_the_order_is_found(
    data_dir: Path,
) -> None:
    from engine.errors import BrokerTimeoutError

    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="timeout_after_accept", method="POST",
                                   path="/api/v3/order", hold_seconds=0.6)])
    with serving(make_emulator(data_dir, clock, faults=faults)) as server:
        broker = _broker(server.url, clock, timeout_ms=200)
        with pytest.raises(BrokerTimeoutError, match="may or may not have executed"):
            broker.place_order(_request(clock, 38_000.0))
        found = broker.get_order(CID)
    assert found is not None and found.status is OrderStatus.FILLED


def test_lost_request_leaves_nothing_at_the_venue(data_dir: Path) -> None:
    from engine.errors import BrokerTimeoutError

    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="lost_request", method="POST", path="/api/v3/order")])
    with serving(make_emulator(data_dir, clock, faults=faults)) as server:
        broker = _broker(server.url, clock)
        with pytest.raises(BrokerTimeoutError):
            broker.place_order(_request(clock, 38_000.0))
        assert broker.get_order(CID) is None  # confirmed never received: safe to resend
        assert broker.place_order(_request(clock, 38_000.0)).status is OrderStatus.SUBMITTED


# ------------------------------------------------------------------ live feed


def test_live_feed_yields_closed_bars_once_with_the_file_values(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    issues: list[dict[str, Any]] = []
    with serving(make_emulator(data_dir, clock)) as server:
        feed = LiveBarFeed(exchange_for(venue_config(server.url)), clock, [SYMBOL],
                           config=LiveFeedConfig(2.0, 180.0, 5), wait_until=clock.advance_to,
                           on_issue=issues.append,
                           should_stop=lambda: clock.now() >= T0 + minutes(10))
        warm = feed.warmup()
        live = list(feed)
    expected = [i.bar for i in read_bars(data_dir / DATA_FILE, SYMBOL, T0 - minutes(5),
                                         T0 + minutes(9))]
    assert [i.bar for i in warm + live] == expected
    assert issues == []


def test_silent_feed_is_reported_as_a_data_feed_issue_once_per_window(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    breaker = CircuitBreaker(CircuitConfig(), clock)
    # The venue's data stops at 20:10: from then on no new bar closes.
    emulator = make_emulator(data_dir, clock, end=T0 + minutes(10))
    with serving(emulator) as server:
        feed = LiveBarFeed(exchange_for(venue_config(server.url)), clock, [SYMBOL],
                           config=LiveFeedConfig(2.0, 180.0, 5), wait_until=clock.advance_to,
                           on_issue=breaker.report_data_feed_issue,
                           should_stop=lambda: clock.now() >= T0 + minutes(17))
        bars = list(feed)
    assert bars[-1].ts == T0 + minutes(9)
    stale = [i for i in breaker.get_recent_issues(60) if i.details.get("kind") == "stale_feed"]
    assert len(stale) == 2  # silent from 20:10:02: reported at 20:13:02 and 20:16:02
    assert breaker.state is CircuitState.ALERT


def test_call_latency_is_measured_on_the_injected_clock_and_escalates(
    tmp_path: Path, data_dir: Path
) -> None:
    from tests.integration.venue_support import journal, live_settings, run_live_until

    clock = SimulatedClock(T0)
    # The emulator "takes" 1.2 s of simulated time to answer the first order.
    faults = HttpFaults([FaultRule(kind="slow", method="POST", path="/api/v3/order",
                                   hold_seconds=1.2)])
    emulator = make_emulator(data_dir, clock, faults=faults, sleep=clock.advance)
    with serving(emulator) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url))
        run_live_until(settings, clock, T0 + minutes(10))
    events = journal(tmp_path / "s")["breaker"]
    assert ("CLOSED", "THROTTLE", "api_latency") in events  # 1200 ms >= 1000 ms


def test_clock_skew_beyond_recv_window_refuses_signed_calls_as_clock_skew(
    data_dir: Path,
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    emulator.skew_ms = -20_000  # the venue's clock is 20 s behind ours
    with serving(emulator) as server:
        ack = _broker(server.url, clock).place_order(_request(clock, 38_000.0))
    assert ack.status is OrderStatus.REJECTED
    assert "(clock_skew)" in ack.reason and "-1021" in ack.reason
    assert emulator.orders() == []


def test_bars_that_closed_before_an_outage_ended_are_not_yielded_as_live(
    data_dir: Path,
) -> None:
    clock = SimulatedClock(T0)
    # Warm-up and two polls work, then eight polls hit 503s: an eight-minute outage.
    faults = HttpFaults([FaultRule(kind="server_error", method="GET", path="/api/v3/klines",
                                   after=3, times=8)])
    issues: list[dict[str, Any]] = []
    with serving(make_emulator(data_dir, clock, faults=faults)) as server:
        feed = LiveBarFeed(exchange_for(venue_config(server.url)), clock, [SYMBOL],
                           config=LiveFeedConfig(2.0, 180.0, 5), wait_until=clock.advance_to,
                           on_issue=issues.append,
                           should_stop=lambda: clock.now() >= T0 + minutes(14))
        feed.warmup()
        seen = [(clock.now(), item.ts) for item in feed]
    ages = [(now - (ts + minutes(1))).total_seconds() for now, ts in seen]
    assert max(ages) <= 180.0
    times = [ts for _, ts in seen]
    assert times[:2] == [T0, T0 + minutes(1)]
    assert times[2] > T0 + minutes(3)  # the bars closed during the outage were dropped
    assert [i["kind"] for i in issues].count("fetch_failed") == 8
    assert "stale_feed" in [i["kind"] for i in issues]


def test_no_key_secret_or_signature_reaches_the_logs_even_at_debug(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.integration.venue_support import KEY, SECRET

    caplog.set_level("DEBUG")
    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="lost_response", method="GET", path="/api/v3/order")])
    with serving(make_emulator(data_dir, clock, faults=faults)) as server:
        broker = _broker(server.url, clock)
        broker.place_order(_request(clock, 38_000.0))
        with pytest.raises(Exception, match="unavailable"):
            broker.get_order(CID)  # the answer is lost: the signed URL is in ccxt's message
        bad = _broker(server.url, clock, api_secret="wrong")
        with pytest.raises(VenueCredentialsError):
            bad.get_balance()
    assert "venue_call_failed" in caplog.text
    assert "signature=***" in caplog.text
    assert KEY not in caplog.text and SECRET not in caplog.text
    assert not re.search(r"signature=[0-9a-f]{64}", caplog.text)


def test_after_a_429_nothing_is_sent_until_retry_after_has_passed(data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="rate_limit", method="POST", path="/api/v3/order",
                                   retry_after_seconds=30)])
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        broker = _broker(server.url, clock)
        first = broker.place_order(_request(clock, 38_000.0))
        clock.advance(29)
        second = broker.place_order(_request(clock, 38_000.0))
        assert emulator.orders() == []  # the second was never sent
        clock.advance(1)
        third = broker.place_order(_request(clock, 38_000.0))
    assert first.status is OrderStatus.REJECTED and "(rate_limited)" in first.reason
    assert second.status is OrderStatus.REJECTED and "backing off" in second.reason
    assert third.status is OrderStatus.SUBMITTED
    assert len(emulator.orders()) == 1

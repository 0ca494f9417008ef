"""A loopback Binance spot REST emulator: the subset ccxt uses, HMAC-checked, with faults.

Endpoints (under /api/v3): ping, time, exchangeInfo, klines, order (POST/GET/DELETE),
openOrders, myTrades, account. Signed endpoints check X-MBX-APIKEY, the HMAC-SHA256 signature
and the timestamp/recvWindow like Binance, and answer with Binance's error JSON. Two times are
kept apart: the *market* clock (an injected engine Clock, simulated or accelerated in tests)
decides which bars exist and at which price orders fill; the *wall* clock plus `skew_ms` is the
server time that signed requests must match, since ccxt stamps them with the real time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.clock import Clock, SimulatedClock
from tradeguard.venues.emulator.book import ApiError, Book, Order
from tradeguard.venues.emulator.faults import FaultRule, HttpFaults
from tradeguard.venues.emulator.market import MarketData, SymbolSpec, to_ms

__all__ = ["EmulatorServer", "ExchangeEmulator"]

log = logging.getLogger(__name__)

API = "/api/v3"
_PRIVATE = frozenset({"order", "openOrders", "myTrades", "account"})
_INVALID_KEY = ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
_BAD_KEY_FORMAT = ApiError(401, -2014, "API-key format invalid.")
_BAD_SIGNATURE = ApiError(401, -1022, "Signature for this request is not valid.")
_WEIGHT_LIMIT = 6000
_SIGNATURE = re.compile(r"signature=[0-9a-fA-F]+")


class ExchangeEmulator:
    """The venue behind the HTTP server: credentials, book, clocks and fault plan."""

    def __init__(
        self,
        *,
        market: MarketData,
        specs: list[SymbolSpec],
        clock: Clock,
        api_key: str,
        api_secret: str,
        balances: dict[str, float] | None = None,
        fee_rate: float = 0.001,
        faults: HttpFaults | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.faults = faults or HttpFaults()
        self.skew_ms = 0
        self._key = api_key
        self._secret = api_secret.encode("utf-8")
        self._wall_ms = wall_ms
        self._sleep = sleep
        self._lock = threading.Lock()
        by_id = {s.venue_id: s for s in specs}
        self.book = Book(market, by_id, dict(balances or {"USDT": 100_000.0}), fee_rate)
        self._weight: list[int] = []

    # ------------------------------------------------------------------ inspection
    def submissions(self) -> list[str]:
        """Return every client order id the venue accepted, in order (duplicates show twice)."""
        with self._lock:
            return list(self.book.submissions)

    def orders(self) -> list[Order]:
        """Return a copy of every order."""
        with self._lock:
            return list(self.book.orders.values())

    def set_credentials(self, api_key: str, api_secret: str) -> None:
        """Replace the account's API key (a revoked or rotated key fails from now on)."""
        with self._lock:
            self._key, self._secret = api_key, api_secret.encode("utf-8")

    def server_ms(self) -> int:
        """Return the server time in epoch ms (wall clock plus the injected skew)."""
        return self._wall_ms() + self.skew_ms

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, raw_query: str, body: str,
               headers: dict[str, str]) -> tuple[int, Any, FaultRule | None]:
        """Answer one request: (HTTP status, JSON body, fault applied after processing)."""
        rule = self.faults.take(method, path)
        if rule is not None and rule.kind in ("server_error", "rate_limit", "duplicate",
                                              "lost_request"):
            return self._refuse(rule)
        if rule is not None and rule.kind == "slow":
            self._sleep(rule.hold_seconds)
        name = path.removeprefix(API + "/")
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        try:
            if name in _PRIVATE:
                self._authenticate(raw_query, body, params, headers)
            with self._lock:
                self._weight.append(self._wall_ms())
                status, payload = 200, self._route(method, name, params, rule)
        except ApiError as e:
            status, payload = e.http, {"code": e.code, "msg": e.msg}
        if rule is not None and rule.kind in ("timeout_after_accept", "lost_response"):
            if rule.kind == "timeout_after_accept":
                self._sleep(rule.hold_seconds)
            return status, payload, rule
        return status, payload, None

    def used_weight(self) -> int:
        """Return requests in the last minute (the X-MBX-USED-WEIGHT-1M header)."""
        cutoff = self._wall_ms() - 60_000
        self._weight = [t for t in self._weight if t > cutoff]
        return len(self._weight)

    def _refuse(self, rule: FaultRule) -> tuple[int, Any, FaultRule | None]:
        if rule.kind == "server_error":
            return rule.status, {"code": -1001, "msg": "Internal error; unable to process your "
                                 "request. Please try again."}, None
        if rule.kind == "rate_limit":
            return 429, {"code": -1003, "msg": "Too many requests; current limit is 6000 "
                         "request weight per 1 MINUTE."}, rule
        if rule.kind == "duplicate":
            return 400, {"code": -2010, "msg": "Duplicate order sent."}, None
        return 0, None, rule  # lost_request: the server drops the connection

    def _authenticate(self, raw_query: str, body: str, params: dict[str, str],
                      headers: dict[str, str]) -> None:
        key = headers.get("x-mbx-apikey", "")
        if not key or not key.isalnum():
            raise _BAD_KEY_FORMAT
        if not hmac.compare_digest(key, self._key):
            raise _INVALID_KEY
        total = raw_query + body
        payload, sep, signature = total.rpartition("&signature=")
        expected = hmac.new(self._secret, payload.encode("utf-8"), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            raise _BAD_SIGNATURE
        stamp = params.get("timestamp", "")
        window = int(params.get("recvWindow", "5000") or 5000)
        server = self.server_ms()
        if not stamp.isdigit() or int(stamp) > server + 1000 or server - int(stamp) > window:
            message = "Timestamp for this request is outside of the recvWindow."
            raise ApiError(400, -1021, message)

    def _route(self, method: str, name: str, p: dict[str, str],
               rule: FaultRule | None) -> Any:
        now = self.clock.now()
        book = self.book
        if name == "ping":
            return {}
        if name == "time":
            return {"serverTime": self.server_ms()}
        if name == "exchangeInfo":
            return self._exchange_info()
        if name == "klines":
            symbol = book._symbol(p)
            return book.market.klines(symbol, now, _int(p.get("startTime")),
                                      _int(p.get("endTime")), min(_int(p.get("limit")) or 500,
                                                                  1000))
        if name == "order":
            return self._order(method, p, now, rule)
        if name == "openOrders":
            return [o.to_json() for o in book.open_orders(p.get("symbol") or None)]
        if name == "myTrades":
            book.match(now)
            return [t.to_json() for t in book.my_trades(p)]
        if name == "account":
            book.match(now)
            return self._account(now)
        raise ApiError(404, -1000, f"Unknown endpoint {name}.")

    def _order(self, method: str, p: dict[str, str], now: datetime,
               rule: FaultRule | None) -> Any:
        book = self.book
        if method == "GET":
            book.match(now)
            return book.find(p).to_json()
        if method == "DELETE":
            return book.cancel(p, now).to_json()
        fraction = rule.fraction if rule is not None and rule.kind == "partial_fill" else 1.0
        pieces = rule.pieces if rule is not None and rule.kind in ("partial_fill",
                                                                   "split_fill") else 1
        order = book.place(p, now, fraction, pieces)
        if rule is not None and rule.kind == "venue_cancel" and order.is_open:
            order.status, order.updated_at = "EXPIRED", now
        answer = order.to_json()
        answer["transactTime"] = to_ms(now)
        answer["fills"] = [
            {"price": t["price"], "qty": t["qty"], "commission": t["commission"],
             "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
            for t in (x.to_json() for x in book.trades if x.order_id == order.order_id)
        ]
        return answer

    def _account(self, now: datetime) -> dict[str, Any]:
        locked: dict[str, float] = {}
        for o in self.book.open_orders(None):
            spec = self.book.specs[o.symbol]
            rest = o.quantity - o.executed
            asset, amount = (spec.quote, rest * o.price) if o.side == "BUY" else (spec.base, rest)
            locked[asset] = locked.get(asset, 0.0) + amount
        assets = sorted(set(self.book.balances) | {a for s in self.book.specs.values()
                                                   for a in (s.base, s.quote)})
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0, "canTrade": True, "canWithdraw": False, "canDeposit": False,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": to_ms(now), "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [
                {"asset": a, "free": f"{self.book.balances.get(a, 0.0) - locked.get(a, 0.0):.8f}",
                 "locked": f"{locked.get(a, 0.0):.8f}"} for a in assets
            ],
        }

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.server_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": _WEIGHT_LIMIT},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(s) for s in self.book.specs.values()],
        }


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.venue_id, "status": "TRADING", "baseAsset": spec.base,
        "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False,
        "ocoAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "cancelReplaceAllowed": False, "allowTrailingStop": False,
        "quoteOrderQtyMarketAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
             "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00000100", "maxQty": "9000.00000000",
             "stepSize": "0.00000100"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
             "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.lstrip("-").isdigit() else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            line = _SIGNATURE.sub("signature=***", format % args)
            log.debug("emulator_http %s", line)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        emulator = self.server.emulator
        if parts.path.startswith("/emulator/"):
            self._control(method, parts.path, parts.query)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, rule = emulator.handle(method, parts.path, parts.query, body, headers)
        if rule is not None and rule.kind in ("timeout_after_accept", "lost_response",
                                              "lost_request"):
            self.close_connection = True  # the answer is lost: the client sees a dead socket
            return
        extra = {"Retry-After": str(rule.retry_after_seconds)} if rule is not None else {}
        extra["X-MBX-USED-WEIGHT-1M"] = str(emulator.used_weight())
        self._send(status, payload, extra)

    def _control(self, method: str, path: str, query: str) -> None:
        emulator = self.server.emulator
        if method == "POST" and path == "/emulator/v1/clock":
            when = datetime.fromisoformat(dict(parse_qsl(query)).get("ts", ""))
            clock = emulator.clock
            if isinstance(clock, SimulatedClock):
                clock.advance_to(when)
            self._send(200, {"now": clock.now().isoformat()}, {})
            return
        if path == "/emulator/v1/state":
            self._send(200, {"now": emulator.clock.now().isoformat(),
                             "submissions": emulator.submissions(),
                             "trades": len(emulator.book.trades)}, {})
            return
        self._send(404, {"code": -1000, "msg": "unknown control endpoint"}, {})

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: ExchangeEmulator


class EmulatorServer:
    """Serve an ExchangeEmulator on 127.0.0.1 (port 0 = a free port) in a background thread."""

    def __init__(self, emulator: ExchangeEmulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.emulator = emulator
        self._thread: threading.Thread | None = None
        self.emulator = emulator

    @property
    def url(self) -> str:
        """Return the base URL (http://127.0.0.1:PORT) to give ccxt as venue.api_url."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        """Start serving in a daemon thread and return self."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="exchange-emulator")
        self._thread.start()
        log.info("emulator_started url=%s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until shutdown() (the CLI's foreground mode)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

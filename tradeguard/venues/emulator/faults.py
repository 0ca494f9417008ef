"""HTTP-level faults the emulator injects, from a small plan (JSON file or Python values).

A rule matches requests by method and path (e.g. POST /api/v3/order), skips the first `after`
matches and then hits the next `times` ones (0 = every one). Kinds:

- `server_error`: answer 503 without processing (the venue did not act, but the client cannot
  know that: ccxt raises ExchangeNotAvailable).
- `rate_limit`: answer 429 with Retry-After and Binance's -1003 body, without processing.
- `timeout_after_accept`: process the request, then hold the answer `hold_seconds` and drop the
  connection: the ambiguous case (the order exists, the client saw a timeout).
- `lost_response`: process the request, then drop the connection without an answer.
- `lost_request`: drop the connection without processing (the venue never saw the order).
- `duplicate`: answer -2010 "Duplicate order sent." without processing.
- `slow`: wait `hold_seconds` (through the emulator's injected sleep), then answer normally.
- `partial_fill`: fill only `fraction` of the order (IOC/market rest expires, GTC rests), in
  `pieces` trades.
- `split_fill`: fill the order in `pieces` trades (a taker order eating several resting ones).
- `venue_cancel`: accept the order, then cancel it on the venue side (status EXPIRED).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import FaultPlanError

__all__ = ["FaultRule", "HttpFaults"]

FaultKind = Literal[
    "server_error", "rate_limit", "timeout_after_accept", "lost_response", "lost_request",
    "duplicate", "partial_fill", "split_fill", "venue_cancel", "slow",
]


class FaultRule(BaseModel):
    """One fault: which requests it hits and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind = Field(description="What happens to a matching request.")
    method: str = Field("*", pattern=r"^(\*|GET|POST|DELETE|PUT)$", description="HTTP method.")
    path: str = Field("*", description="Request path such as /api/v3/order, or * for any.")
    after: int = Field(0, ge=0, description="Matching requests let through before the first hit.")
    times: int = Field(1, ge=0, description="Requests hit (0 = every matching request).")
    status: int = Field(503, ge=500, le=599, description="HTTP status of server_error.")
    retry_after_seconds: int = Field(1, ge=0, le=3600, description="Retry-After of rate_limit.")
    hold_seconds: float = Field(
        1.0, ge=0, le=120, description="How long timeout_after_accept and slow hold the answer."
    )
    fraction: float = Field(0.5, gt=0, lt=1, description="Filled share of partial_fill.")
    pieces: int = Field(
        1, ge=1, le=20, description="Trades the filled quantity is split into (partial_fill, "
        "split_fill)."
    )


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    seen: int = 0
    hits: int = 0


class HttpFaults:
    """Thread-safe list of armed rules; take() returns the rule hitting a request, if any."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._lock = threading.Lock()
        self._armed = [_Armed(r) for r in rules or []]
        self.fired: list[tuple[str, str, str]] = []

    def add(self, *rules: FaultRule) -> None:
        """Arm more rules."""
        with self._lock:
            self._armed.extend(_Armed(r) for r in rules)

    def take(self, method: str, path: str) -> FaultRule | None:
        """Return the first rule that hits this request, counting it."""
        with self._lock:
            for armed in self._armed:
                rule = armed.rule
                if rule.method not in ("*", method) or rule.path not in ("*", path):
                    continue
                armed.seen += 1
                if armed.seen <= rule.after:
                    continue
                if rule.times and armed.hits >= rule.times:
                    continue
                armed.hits += 1
                self.fired.append((rule.kind, method, path))
                return rule
        return None

    @classmethod
    def load(cls, path: Path) -> HttpFaults:
        """Read a JSON list of rules; errors name the entry and field."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            message = f"emulator fault plan {path} cannot be read as JSON: {e}"
            raise FaultPlanError(message) from e
        if not isinstance(raw, list):
            message = f"emulator fault plan {path} must be a JSON list of rules"
            raise FaultPlanError(message)
        rules: list[FaultRule] = []
        for index, entry in enumerate(raw):
            try:
                rules.append(FaultRule.model_validate(entry))
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "entry"
                message = f"emulator fault plan {path} entry {index}: {where}: {first['msg']}"
                raise FaultPlanError(message) from e
        return cls(rules)

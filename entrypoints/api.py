"""The HTTP control API (seed 004's dashboard endpoints): FastAPI over the control port.

Every endpoint but the OpenAPI docs needs `Authorization: Bearer <token>`; GET endpoints need
the `read` scope, POST actions `operate`. Every action is audited as `api:<token name>` and
operate calls are rate limited per token. Actions are serialized: two concurrent POSTs never
race for the state directory.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.errors import ConfigurationError, TradeguardError
from tradeguard.cockpit import metrics
from tradeguard.cockpit.config import ApiConfig, ApiToken
from tradeguard.cockpit.port import ControlPort

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
_bearer = HTTPBearer(auto_error=False)


class ReasonBody(BaseModel):
    """A reason for an operator action: one printable line, audited."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why; stored in the audit.")

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.strip():
            message = "must not be blank"
            raise ValueError(message)
        if any(not ch.isprintable() for ch in value):
            message = "must be one printable line (no control characters)"
            raise ValueError(message)
        return value.strip()


class OptionalReasonBody(ReasonBody):
    """A reason that may be left out."""

    reason: str = Field("via API", min_length=1, max_length=500)


class OverrideBody(ReasonBody):
    """Manual override: enabled=true halts trading (reduce-only), false releases it."""

    enabled: bool


class RateLimiter:
    """Sliding one-minute window of operate calls per token name."""

    def __init__(self, per_minute: int, now: Monotonic) -> None:
        self._per_minute = per_minute
        self._now = now
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, name: str) -> float | None:
        """Record a call; return None if admitted, else the seconds until one would be."""
        with self._lock:
            now = self._now()
            calls = self._calls.setdefault(name, deque())
            while calls and calls[0] <= now - 60.0:
                calls.popleft()
            if len(calls) >= self._per_minute:
                return max(0.0, calls[0] + 60.0 - now)
            calls.append(now)
            return None


def _match(tokens: Sequence[ApiToken], presented: str) -> ApiToken | None:
    found = None
    for token in tokens:
        # Compare against every token in constant time so timing reveals nothing.
        if hmac.compare_digest(token.token.get_secret_value().encode(), presented.encode()):
            found = token
    return found


class _ApiState:
    """What the endpoints share: the port, the tokens, the limiter and the action lock."""

    def __init__(self, port: ControlPort, config: ApiConfig, now: Monotonic) -> None:
        self.port = port
        self.config = config
        self.limiter = RateLimiter(config.operate_per_minute, now)
        self.act_lock = threading.Lock()


def _api(request: Request) -> _ApiState:
    state: _ApiState = request.app.state.tradeguard
    return state


Api = Annotated[_ApiState, Depends(_api)]


def _authenticated(
    api: Api, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiToken:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    token = _match(api.config.tokens, credentials.credentials)
    if token is None:
        log.warning("api_auth_refused reason=unknown_token")
        raise HTTPException(401, "invalid bearer token", {"WWW-Authenticate": "Bearer"})
    return token


Reader = Annotated[ApiToken, Depends(_authenticated)]


def _operator(api: Api, token: Reader) -> ApiToken:
    if token.scope != "operate":
        log.warning("api_auth_refused reason=scope name=%s", token.name)
        raise HTTPException(403, f"token {token.name!r} has scope read; operate needed")
    wait = api.limiter.admit(token.name)
    if wait is not None:
        headers = {"Retry-After": str(int(wait) + 1)}
        raise HTTPException(429, "too many operator actions; retry later", headers)
    return token


Operator = Annotated[ApiToken, Depends(_operator)]
router = APIRouter()


def _act(api: _ApiState, action: str, reason: str, token: ApiToken) -> Mapping[str, Any]:
    with api.act_lock:
        receipt = api.port.act(action, reason, f"api:{token.name}")
    log.info("api_action action=%s who=api:%s", action, token.name)
    return receipt


@router.get("/status", summary="Breaker state, counters, daily P&L, positions, open intents")
def status(api: Api, token: Reader) -> Mapping[str, Any]:
    """Return the latest committed state."""
    return api.port.status()


@router.get("/metrics", summary="Prometheus text format", response_class=Response)
def prometheus(api: Api, token: Reader) -> Response:
    """Return the status as Prometheus gauges."""
    body = metrics.render(api.port.status())
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/issues", summary="Issues reported to the breaker in the last N minutes")
def issues(
    api: Api, token: Reader, minutes: Annotated[float, Query(gt=0, le=10_080)] = 5.0
) -> Sequence[Mapping[str, Any]]:
    """Return recent issues."""
    return api.port.issues(minutes)


@router.get("/transitions", summary="Latest breaker transitions, newest last")
def transitions(
    api: Api, token: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> Sequence[Mapping[str, Any]]:
    """Return recent transitions."""
    return api.port.transitions(limit)


@router.post("/halt", summary="Force HALT (reduce-only) until resume")
def halt(api: Api, body: ReasonBody, token: Operator) -> Mapping[str, Any]:
    """Halt trading."""
    return _act(api, "halt", body.reason, token)


@router.post("/resume", summary="Release a manual HALT into HALF_OPEN probing")
def resume(api: Api, body: OptionalReasonBody, token: Operator) -> Mapping[str, Any]:
    """Release a manual halt."""
    return _act(api, "resume", body.reason, token)


@router.post("/recover", summary="Recover from HALT (confirm policy: start probing)")
def recover(api: Api, body: ReasonBody, token: Operator) -> Mapping[str, Any]:
    """Confirm recovery from HALT."""
    return _act(api, "recover", body.reason, token)


@router.post("/override", summary="Manual override: enabled halts, disabled releases")
def override(api: Api, body: OverrideBody, token: Operator) -> Mapping[str, Any]:
    """Turn the manual override on or off."""
    return _act(api, "halt" if body.enabled else "resume", body.reason, token)


@router.post("/reset", summary="Leave SHUTDOWN once the root cause is fixed")
def reset(api: Api, body: ReasonBody, token: Operator) -> Mapping[str, Any]:
    """Reset the breaker out of SHUTDOWN."""
    return _act(api, "reset", body.reason, token)


async def _refused(request: Request, error: Exception) -> JSONResponse:
    # An action the engine refuses (e.g. recover in SHUTDOWN) is a conflict, not a crash.
    return JSONResponse({"detail": str(error)}, status_code=409)


def create_app(port: ControlPort, config: ApiConfig, now: Monotonic = time.monotonic) -> FastAPI:
    """Build the API over a control port; refuses a configuration without tokens."""
    if not config.tokens:
        message = "api.tokens is empty: configure at least one token before serving the API"
        raise ConfigurationError(message)
    app = FastAPI(
        title="tradeguard control API",
        description="Status, metrics and operator actions of one tradeguard state directory.",
        version="1",
    )
    app.state.tradeguard = _ApiState(port, config, now)
    app.include_router(router)
    app.add_exception_handler(TradeguardError, _refused)
    return app


def serve(port: ControlPort, config: ApiConfig) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    app = create_app(port, config)
    log.info("api_listening url=http://%s:%d docs=/docs", config.host, config.port)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")

"""Turn engine breaker transitions into Prefect events that automations can react to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.events import emit_event

from engine.events import BreakerTransitioned
from tradeguard.contracts import Transition

log = logging.getLogger(__name__)

EVENT_PREFIX = "tradeguard.breaker."
HALT_EVENTS = ("tradeguard.breaker.halt", "tradeguard.breaker.shutdown")


def session_resource_id(state_dir: Path) -> str:
    """Return the Prefect resource id naming the session that owns this state dir."""
    return f"tradeguard.session.{Path(state_dir).name}"


def breaker_event(event: BreakerTransitioned, state_dir: Path) -> dict[str, Any]:
    """Return the emit_event keyword arguments describing one breaker transition."""
    return {
        "event": f"{EVENT_PREFIX}{event.to_state.lower()}",
        "resource": {
            "prefect.resource.id": session_resource_id(state_dir),
            "prefect.resource.name": Path(state_dir).name,
        },
        "payload": {
            **Transition.of(event).to_json(),
            # The incident_report trigger renders this into its state_dir parameter.
            "state_dir": str(Path(state_dir).resolve()),
        },
        # `occurred` stays the wall-clock emit time: replays carry historical simulated times,
        # which the server's trigger windows would treat as long expired.
    }


def breaker_event_listener(
    state_dir: Path,
    emit: Callable[..., Any] = emit_event,
) -> Callable[[Any], None]:
    """Return an engine listener that emits a Prefect event for every breaker transition."""

    def listen(event: Any) -> None:
        if not isinstance(event, BreakerTransitioned):
            return
        kwargs = breaker_event(event, state_dir)
        try:
            emit(**kwargs)
        except Exception as e:  # an unreachable event bus must never stop a trading session
            log.warning(
                "breaker_event_emit_failed event=%s error=%s", kwargs["event"], type(e).__name__
            )

    return listen

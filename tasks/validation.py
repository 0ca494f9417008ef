"""Validation task: run 24h through the engine and judge the gates services evaluated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from engine.errors import TradeguardError
from tradeguard import services

if TYPE_CHECKING:
    from tradeguard.services import ReplayRequest
    from tradeguard.settings import Settings

UNHANDLED_EXCEPTION_GATE = "no_unhandled_exception"


class ValidationFailedError(TradeguardError):
    """At least one validation gate failed: read the validation-result artifact before go-live."""

    def __init__(self, message: str, gates: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.gates = [dict(g) for g in gates]


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict with the value observed and what was required."""

    name: str
    passed: bool
    observed: Any = None
    expected: Any = None
    detail: str = ""


def parse_gates(result: Mapping[str, Any]) -> tuple[GateResult, ...]:
    """Read the gates out of a validate_24h result (a list of dicts or a name->dict mapping)."""
    raw = result.get("gates")
    items: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(raw, Mapping):
        items = [(str(name), body) for name, body in raw.items()]
    elif isinstance(raw, list):
        items = [(str(body.get("name", f"gate_{i}")), body) for i, body in enumerate(raw)]
    return tuple(
        GateResult(
            name=name,
            passed=body.get("passed") is True,  # anything but an explicit True fails closed
            observed=body.get("observed"),
            expected=body.get("expected", body.get("threshold")),
            detail=str(body.get("detail", body.get("reason", ""))),
        )
        for name, body in items
    )


def gate_dicts(gates: Sequence[GateResult]) -> list[dict[str, Any]]:
    """Return gates as plain dicts (name, passed, observed, expected, detail)."""
    return [asdict(g) for g in gates]


def failed_gates(gates: tuple[GateResult, ...]) -> tuple[GateResult, ...]:
    """Return the failing gates; an empty gate list counts as one failure (fail closed)."""
    if not gates:
        return (GateResult("gates_present", False, observed=0, expected=">= 1"),)
    return tuple(g for g in gates if not g.passed)


def crashed_validation(error: BaseException) -> dict[str, Any]:
    """Return a validation result recording that the run itself raised."""
    return {
        "passed": False,
        "gates": [
            {
                "name": UNHANDLED_EXCEPTION_GATE,
                "passed": False,
                "observed": f"{type(error).__name__}: {error}",
                "expected": "no exception",
            }
        ],
    }


@task(name="validate-24h", cache_policy=NO_CACHE)
def validate_24h_task(
    settings: Settings, request: ReplayRequest, declare_faults: bool = True
) -> dict[str, Any]:
    """Run the validation replay; an exception becomes a failed gate instead of a lost result."""
    # No breaker events: a validation replay escalating on purpose is not a live incident.
    try:
        return services.validate_24h(settings, request, declare_faults=declare_faults)
    except Exception as e:  # the gate "no unhandled exception" must be reported, not just raised
        return crashed_validation(e)

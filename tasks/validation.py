"""Validation task: run 24h through the engine and return the typed verdict of its gates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import task
from prefect.cache_policies import NO_CACHE

from tradeguard import services
from tradeguard.contracts import ValidationResult

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.requests import ReplayRequest


@task(name="validate-24h", cache_policy=NO_CACHE)
def validate_24h_task(
    app: App, request: ReplayRequest, declare_faults: bool = True
) -> ValidationResult:
    """Run the validation replay; an exception becomes a failed gate instead of a lost result."""
    # No breaker events: a validation replay escalating on purpose is not a live incident.
    try:
        return services.validate_24h(app, request, declare_faults=declare_faults)
    except Exception as e:  # the gate "no unhandled exception" must be reported, not just raised
        return ValidationResult.crashed(e)

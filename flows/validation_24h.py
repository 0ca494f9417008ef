"""24h validation flow: replay a day, judge every gate, publish the verdict, fail if any fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from prefect import flow

from flows._common import ALERT_HOOKS, build_app, build_request, day_window, validation_data
from tasks.checks import PREFLIGHT_GATE, audit_gate, check_gate, preflight_task
from tasks.reports import (
    VALIDATION_KEY,
    VALIDATION_TABLE_KEY,
    publish_markdown_task,
    publish_table_task,
)
from tasks.validation import validate_24h_task
from tradeguard.contracts import ValidationFailedError, ValidationResult
from tradeguard.render import gate_row, validation_markdown


@flow(name="validation-24h", **ALERT_HOOKS)
def validation_24h(
    data: list[str] | None = None,
    day: date | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    faults: str | None = None,
    declare_faults: bool = True,
    realtime: bool = False,
    seed: int = 0,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> ValidationResult:
    """Replay one UTC day (or start..end) of `data`; the run ends Failed if any gate fails.

    Without data the calm control of settings.replay is replayed (its file and day).
    declare_faults=False judges a run with injected faults as a calm control: any escalation
    above ALERT then fails the calm gate (proves the gate can fail).
    """
    app = build_app(config_file, state_dir)
    if not data:
        data = validation_data(app.settings)
        if day is None and start is None:
            day = app.settings.replay.validation_day
    if day is not None:
        start, end = day_window(day)
    request = build_request(data, start, end, None, faults, seed, realtime)
    preflight = preflight_task(app.settings, request)
    if not preflight.success:  # bad data refuses the run: the failed pre-flight is the verdict
        result = ValidationResult(
            gates=(check_gate(PREFLIGHT_GATE, preflight),), summary=None,
            state_dir=app.workspace.location, start=request.start, end=request.end,
            faults=request.faults,
        )
    else:
        result = validate_24h_task(app, request, declare_faults)
        run_dir = str(result.state_dir)  # the validation's own fresh state dir
        result = replace(result, gates=(*result.gates,
                                        audit_gate(app.settings, request, run_dir)))
    failed = result.failed
    publish_markdown_task(VALIDATION_KEY, validation_markdown(result), "24h validation verdict")
    publish_table_task(
        VALIDATION_TABLE_KEY,
        [gate_row(g) for g in result.gates or failed],
        "24h validation gates",
    )
    if failed:
        names = ", ".join(f"{g.name} (observed {g.observed!r})" for g in failed)
        message = f"validation failed: {len(failed)} gate(s) failed: {names}"
        raise ValidationFailedError(message, result)
    return result

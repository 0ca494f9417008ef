"""24h validation flow: replay a day, judge every gate, publish the verdict, fail if any fails."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow

from flows._common import (
    ALERT_HOOKS,
    build_request,
    build_settings,
    day_window,
    validation_data,
)
from tasks.checks import PREFLIGHT_GATE, audit_gate, check_gate, preflight_task
from tasks.reports import (
    VALIDATION_KEY,
    VALIDATION_TABLE_KEY,
    gate_row,
    publish_markdown_task,
    publish_table_task,
    validation_markdown,
)
from tasks.validation import (
    ValidationFailedError,
    failed_gates,
    gate_dicts,
    parse_gates,
    validate_24h_task,
)


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
) -> dict[str, Any]:
    """Replay one UTC day (or start..end) of `data`; the run ends Failed if any gate fails.

    Without data the calm control of settings.replay is replayed (its file and day).
    declare_faults=False judges a run with injected faults as a calm control: any escalation
    above ALERT then fails the calm gate (proves the gate can fail).
    """
    settings = build_settings(config_file, state_dir)
    if not data:
        data = validation_data(settings)
        if day is None and start is None:
            day = settings.replay.validation_day
    if day is not None:
        start, end = day_window(day)
    request = build_request(data, start, end, None, faults, seed, realtime)
    preflight = preflight_task(settings, request)
    result: dict[str, Any]
    if not preflight.success:  # bad data refuses the run: the failed pre-flight is the verdict
        result = {"gates": [gate_dicts([check_gate(PREFLIGHT_GATE, preflight)])[0]]}
    else:
        result = validate_24h_task(settings, request, declare_faults)
    gates = parse_gates(result)
    if gates and preflight.success:
        run_dir = result.get("state_dir")  # the validation's own fresh state dir
        gates = (*gates, audit_gate(settings, request, str(run_dir) if run_dir else None))
    failed = failed_gates(gates)
    publish_markdown_task(
        VALIDATION_KEY, validation_markdown(gates, failed), "24h validation verdict"
    )
    publish_table_task(
        VALIDATION_TABLE_KEY, [gate_row(g) for g in gates or failed], "24h validation gates"
    )
    if failed:
        names = ", ".join(f"{g.name} (observed {g.observed!r})" for g in failed)
        message = f"validation failed: {len(failed)} gate(s) failed: {names}"
        raise ValidationFailedError(message, gate_dicts(gates or failed))
    return {"passed": True, "gates": gate_dicts(gates), "summary": result.get("summary")}

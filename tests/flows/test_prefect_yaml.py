"""prefect.yaml (for `prefect deploy --all`) registers what `tradeguard deploy` registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deployments.register import deployment_specs
from tasks.events import HALT_EVENTS
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _yaml_deployments() -> dict[tuple[str, str], dict[str, Any]]:
    document = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    return {(d["entrypoint"], d["name"]): d for d in document["deployments"]}


def test_prefect_yaml_matches_tradeguard_deploy_with_default_settings(tmp_path: Path) -> None:
    settings = load_settings(None, store={"state_dir": tmp_path})
    specs = {(s.entrypoint, s.name): s for s in deployment_specs(settings)}
    declared = _yaml_deployments()

    assert set(declared) == set(specs)
    for key, spec in specs.items():
        entry = declared[key]
        assert entry.get("concurrency_limit") == spec.concurrency_limit, key
        assert entry["description"] == spec.description, key
        assert entry["work_pool"]["name"] == settings.orchestration.work_pool
        crons = [(s["cron"], s["timezone"], s["slug"]) for s in entry.get("schedules", [])]
        assert crons == [(s.cron, s.timezone, s.slug) for s in spec.schedules], key
        # Parameters the settings fill in (paths) are left to run time in the YAML.
        fixed = {k: v for k, v in spec.parameters.items()
                 if k not in ("state_dir", "config_file", "data")}
        assert {k: v for k, v in entry.get("parameters", {}).items() if k != "data"} == fixed


def test_prefect_yaml_triggers_the_incident_report_on_halt_events() -> None:
    entry = _yaml_deployments()[("flows/incident_report.py:incident_report", "on-breaker-halt")]
    (trigger,) = entry["triggers"]
    assert set(trigger["expect"]) == set(HALT_EVENTS)
    assert trigger["match"] == {"prefect.resource.id": "tradeguard.session.*"}
    assert trigger["parameters"]["state_dir"] == "{{ event.payload.state_dir }}"

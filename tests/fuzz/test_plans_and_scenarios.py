"""Broken fault plans and scenario files give a ConfigurationError naming entry and field."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from engine.errors import ConfigurationError
from tests.conftest import REPO
from tests.fuzz.plan_cases import PlanCase, fault_plan_cases, scenario_cases
from tradeguard.faultplan import load_fault_plan
from tradeguard.scenarios.model import load_scenario

pytestmark = pytest.mark.fuzz
ENTRY = re.compile(r"fault\[\d+\]")


@pytest.fixture(scope="module")
def plan_cases(fuzz_seed: int) -> list[PlanCase]:
    return list(fault_plan_cases(random.Random(fuzz_seed + 3), 320))


@pytest.fixture(scope="module")
def broken_scenarios(fuzz_seed: int) -> list[PlanCase]:
    bases = [p.read_text() for p in sorted((REPO / "scenarios").glob("*.toml"))]
    return list(scenario_cases(random.Random(fuzz_seed + 4), bases, 120))


def _write(case: PlanCase, path: Path) -> Path:
    path.write_bytes(case.text.encode() if isinstance(case.text, str) else case.text)
    return path


def _plan_problem(case: PlanCase, path: Path) -> str | None:
    try:
        load_fault_plan(path)
    except ConfigurationError as e:
        message = str(e)
        if "document" in case.name:
            return None if str(path) in message else f"file not named: {message!r}"
        if not ENTRY.search(message) or not any(n in message for n in case.names):
            return f"entry or field not named: {message!r}"
        return None
    except Exception as e:
        return f"traceback {type(e).__name__}: {e}"
    return "accepted" if case.must_fail else None


def _scenario_problem(case: PlanCase, path: Path) -> str | None:
    try:
        load_scenario(path)
    except ConfigurationError as e:
        message = str(e)
        if str(path) not in message or not any(n in message for n in case.names):
            return f"file or field not named: {message[:300]!r}"
        return None
    except Exception as e:
        return f"traceback {type(e).__name__}: {e}"
    return "accepted"


def test_at_least_300_fault_plans_and_100_scenarios(
    plan_cases: list[PlanCase], broken_scenarios: list[PlanCase]
) -> None:
    assert len(plan_cases) >= 300
    assert len(broken_scenarios) >= 100


def _plan_holes(cases: list[PlanCase], directory: Path) -> list[str]:
    holes = []
    for number, case in enumerate(cases):
        problem = _plan_problem(case, _write(case, directory / f"plan-{number:04d}.toml"))
        if problem is not None:
            holes.append(f"{case.name}: {problem}")
    return holes


def test_broken_fault_plans_name_the_entry_and_field(
    plan_cases: list[PlanCase], tmp_path: Path
) -> None:
    cases = [c for c in plan_cases if not c.known_hole]
    holes = _plan_holes(cases, tmp_path)
    assert not holes, f"{len(holes)} hole(s) of {len(cases)}:\n" + "\n".join(holes)


def test_fault_plans_at_the_edge_of_the_calendar_name_the_entry(
    plan_cases: list[PlanCase], tmp_path: Path
) -> None:
    cases = [c for c in plan_cases if c.known_hole]
    assert cases
    holes = _plan_holes(cases, tmp_path)
    assert not holes, f"{len(holes)} hole(s) of {len(cases)}:\n" + "\n".join(holes)


def test_broken_scenarios_name_the_file_and_field(
    broken_scenarios: list[PlanCase], tmp_path: Path
) -> None:
    holes = []
    for number, case in enumerate(broken_scenarios):
        problem = _scenario_problem(case, _write(case, tmp_path / f"{number:03d}-s.toml"))
        if problem is not None:
            holes.append(f"{case.name}: {problem}")
    assert not holes, f"{len(holes)} hole(s) of {len(broken_scenarios)}:\n" + "\n".join(holes)

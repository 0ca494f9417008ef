"""A sample of the generated bar files through the real console command, in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fuzz.bar_cases import BarCase
from tests.fuzz.test_bar_files import KNOWN_HOLES

pytestmark = pytest.mark.fuzz
SAMPLE = 16
PARALLEL = 4


def _sample(bar_cases: dict[str, list[BarCase]], holes: bool, size: int) -> list[BarCase]:
    pool = [c for f, cs in sorted(bar_cases.items()) if (f in KNOWN_HOLES) == holes
            for c in cs if f != "huge"]
    step = max(1, len(pool) // size)
    return pool[::step][:size]


def _run_cli(cases: list[BarCase], directory: Path) -> list[str]:
    """Run `tradeguard --state-dir D replay --data F --json` per case; return the problems."""
    exe = Path(sys.executable).with_name("tradeguard")
    problems = []
    for start in range(0, len(cases), PARALLEL):
        batch = list(enumerate(cases[start:start + PARALLEL], start=start))
        procs = []
        for number, case in batch:
            data = case.write(directory, number)
            state = directory / f"cli-state-{number:03d}"
            command = [str(exe), "--state-dir", str(state), "replay", "--data", str(data), "--json"]
            procs.append((case, subprocess.Popen(
                command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                errors="replace",
            )))
        for case, proc in procs:
            out, err = proc.communicate(timeout=120)
            problem = _judge(case, proc.returncode, out, err)
            if problem is not None:
                problems.append(f"{case.name} ({case.suffix}): {problem}")
    return problems


def _judge(case: BarCase, code: int, out: str, err: str) -> str | None:
    if "Traceback" in err:
        return f"exit {code} with a traceback: {err.strip().splitlines()[-1][:200]}"
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        return None if errors else f"exit 2 without an `error: ...` line: {err[-200:]!r}"
    if code != 0:
        return f"exit {code} (documented: 0 ok, 2 data error): {err[-200:]!r}"
    if case.must_refuse:
        return "exit 0 on an unusable file"
    try:
        json.loads(out)
    except json.JSONDecodeError:
        return f"exit 0 without one JSON object on stdout: {out[:200]!r}"
    return None


def test_cli_exits_0_or_2_without_traceback_on_sampled_bar_files(
    bar_cases: dict[str, list[BarCase]], tmp_path: Path
) -> None:
    cases = _sample(bar_cases, holes=False, size=SAMPLE)
    assert len(cases) == SAMPLE
    problems = _run_cli(cases, tmp_path)
    assert not problems, "\n".join(problems)


def test_cli_exits_0_or_2_on_files_of_the_known_holes(
    bar_cases: dict[str, list[BarCase]], tmp_path: Path
) -> None:
    cases = _sample(bar_cases, holes=True, size=4)
    problems = _run_cli(cases, tmp_path)
    assert not problems, "\n".join(problems)

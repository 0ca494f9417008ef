"""Legal but extreme fault plans through a replay: a clean error or an honest session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.fuzz.bar_cases import BarCase, Window, csv_bytes, valid_map
from tests.fuzz.oracle import collar, judge, replay
from tradeguard.settings import load_settings

pytestmark = pytest.mark.fuzz

SPANS = (
    ("0001-01-02T00:00:00Z", "9999-12-30T00:00:00Z"),
    ("1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z"),
    ("{first}", "{last}"),
    ("{first}", "9999-12-30T00:00:00Z"),
    ("0001-01-02T00:00:00Z", "{first}"),
)
FIELDS = (
    ("reject_rate", (1.0, 0.5, 0.0)), ("timeout_rate", (1.0, 0.3)),
    ("latency_ms", (0, 1e6, 1e12, 1e300)), ("slippage_pct", (0.0, 50.0, 90.0)),
    ("outage", (True, False)), ("unfunded", (True, False)),
)


def _plan(rng: random.Random, window: Window) -> tuple[str, float]:
    first, last = window.rows[0][0], window.rows[-1][0]
    start, end = (t.format(first=first, last=last) for t in rng.choice(SPANS))
    lines = ["[[fault]]", f'start = "{start}"', f'end = "{end}"']
    slippage = 0.0
    for name, values in rng.sample(FIELDS, rng.randint(1, 3)):
        value = rng.choice(values)
        if name == "timeout_rate" and any(line.startswith("reject_rate") for line in lines):
            continue
        slippage = float(value) if name == "slippage_pct" else slippage
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        lines.append(f"{name} = {shown}")
    return "\n".join(lines) + "\n", slippage


def _holes(plans: list[tuple[str, float]], windows: list[Window], tmp_path: Path) -> list[str]:
    base = collar(load_settings(store={"state_dir": tmp_path / "unused"}))
    holes = []
    for number, (text, slippage) in enumerate(plans):
        window = windows[number % len(windows)]
        rows = [list(r) for r in window.rows]
        case = BarCase("plan-replay", f"plan-replay#{number}", ".csv", csv_bytes(rows),
                       valid_map(rows, set()), max_bad=0)
        plan = tmp_path / f"plan-{number:03d}.toml"
        plan.write_text(text)
        data = case.write(tmp_path, number)
        try:
            outcome = replay(data, tmp_path / f"state-{number:03d}", faults=plan)
        except Exception as e:
            holes.append(f"{case.name} {text!r}: traceback {type(e).__name__}: {e}")
            continue
        problem = judge(case, outcome, base + slippage / 100.0)
        if problem is not None:
            holes.append(f"{case.name} {text!r}: {problem}")
    return holes


def test_extreme_fault_plans_replay_cleanly(
    windows: list[Window], fuzz_seed: int, tmp_path: Path
) -> None:
    rng = random.Random(fuzz_seed + 5)
    holes = _holes([_plan(rng, windows[n % len(windows)]) for n in range(24)], windows, tmp_path)
    assert not holes, f"{len(holes)} hole(s):\n" + "\n".join(holes)


def test_fault_plan_slippage_near_100_pct_never_crashes_the_session(
    windows: list[Window], tmp_path: Path
) -> None:
    plans = [
        (f'[[fault]]\nstart = "1970-01-01T00:00:00Z"\nend = "2100-01-01T00:00:00Z"\n'
         f"slippage_pct = {value}\n", value)
        for value in (99.99, 99.995, 99.9999)
    ] * 2
    holes = _holes(plans, windows, tmp_path)
    assert not holes, f"{len(holes)} hole(s):\n" + "\n".join(holes)

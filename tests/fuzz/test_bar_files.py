"""Malformed bar files never trace back and are never traded on (issue 8 §4, §8, §10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.bar_cases import ROW_FAMILIES, BarCase
from tests.fuzz.bar_files import FILE_FAMILIES
from tests.fuzz.oracle import collar, run_case
from tradeguard.settings import load_settings

pytestmark = pytest.mark.fuzz

# Holes of issue 8 that other branches close; each family turns XPASS when its fix lands,
# then its mark goes (strict=False so that a partial fix does not break the build meanwhile).
KNOWN_HOLES = {
    "price-absurd": "hole §4: a consistent bar of 1e299/5e-324 is traded (fill at 5e-324) or "
    "raises OverflowError 'cannot convert float infinity to integer' (a traceback)",
    "price-spike": "hole §4: a consistent bar at 25x (or 1/25x) the last close passes the OHLC "
    "checks and a market order fills at it; no price band",
    "time-far": "hole §4/§8: a bar dated 9999-12-31/0001-01-01 raises OverflowError (traceback); "
    "one dated 2099 jumps the cursor (fill at 2099, later good bars skipped as out of order)",
    "parquet-schema": "hole §4: Parquet with int/date/float/bool ts or bool prices completes "
    "with every row skipped (or bool volume traded as 1.0), exit 0, instead of a schema error",
}
# The families that found the holes of issue 8 (KNOWN_HOLES says what each one was) run
# strictly: a hole that reopens fails the suite.
FAMILIES = [*ROW_FAMILIES, *FILE_FAMILIES, "parquet-schema", "huge", "control"]


def test_generators_produce_at_least_500_malformed_bar_files(
    bar_cases: dict[str, list[BarCase]],
) -> None:
    malformed = [c for family, cs in bar_cases.items() if family != "control" for c in cs]
    assert len(malformed) >= 500
    assert {c.suffix for c in malformed} == {".csv", ".csv.gz", ".parquet"}


@pytest.mark.parametrize("family", FAMILIES)
def test_bar_family_errors_cleanly_or_never_fills_on_a_bad_bar(
    family: str, bar_cases: dict[str, list[BarCase]], tmp_path: Path
) -> None:
    tolerance = collar(load_settings(store={"state_dir": tmp_path / "unused"}))
    holes = []
    for number, case in enumerate(bar_cases[family]):
        problem = run_case(case, tmp_path, number, tolerance)
        if problem is not None:
            holes.append(f"{case.name} ({case.suffix}): {problem}")
    assert not holes, f"{len(holes)} hole(s) of {len(bar_cases[family])}:\n" + "\n".join(holes)

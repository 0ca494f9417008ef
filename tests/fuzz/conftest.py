"""Fixtures of the fuzz suite: the seed, real windows of the FTX file and the generated cases.

The seed is fixed so every CI run replays the same cases; set FUZZ_SEED to explore others
(a failure message names the case, and the seed reproduces it).
"""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from tests.fuzz.bar_cases import ROW_FAMILIES, BarCase, Window, csv_bytes, parse_ts, row_cases
from tests.fuzz.bar_files import FILE_FAMILIES, control_cases, file_cases, huge_cases, parquet_cases
from tests.fuzz.oracle import replay

SOURCE = "btc-perp_ftx_1m.csv.gz"
WINDOW_ROWS = 150
WINDOWS = 6
DEFAULT_SEED = 20261129
# cases per family: row families 50 each (350), file families 25 each (100), Parquet 50,
# huge 2, controls 6: 508 files, 502 of them malformed
ROW_CASES = 50
FILE_CASES = 25
PARQUET_CASES = 50


@pytest.fixture(scope="session")
def fuzz_seed() -> int:
    """Return the generators' seed (FUZZ_SEED, else a fixed default)."""
    return int(os.environ.get("FUZZ_SEED", DEFAULT_SEED))


@pytest.fixture(scope="session")
def windows(
    data_dir: Path, fuzz_seed: int, tmp_path_factory: pytest.TempPathFactory
) -> list[Window]:
    """Return real windows of the FTX file with the rows a clean replay of each filled on."""
    with gzip.open(data_dir / SOURCE, "rt") as handle:
        lines = handle.read().splitlines()[1:]
    rng = random.Random(fuzz_seed)
    directory = tmp_path_factory.mktemp("windows")
    out = []
    for number in range(WINDOWS):
        start = rng.randrange(0, len(lines) - WINDOW_ROWS)
        rows = tuple(tuple(line.split(",")) for line in lines[start:start + WINDOW_ROWS])
        path = directory / f"btc-perp_window-{number}.csv"
        path.write_bytes(csv_bytes([list(r) for r in rows]))
        outcome = replay(path, directory / f"state-{number}")
        assert outcome.error is None, outcome.error
        index = {parse_ts(row[0]): i for i, row in enumerate(rows)}
        out.append(Window(rows, tuple(sorted({index[ts] for ts, _ in outcome.fills}))))
    # aiming bad bars at fill bars needs fills: a window set without any would test little
    assert sum(len(w.fill_rows) for w in out) >= WINDOWS
    return out


@pytest.fixture(scope="session")
def bar_cases(windows: list[Window], fuzz_seed: int) -> dict[str, list[BarCase]]:
    """Return every generated bar file, by family."""
    rng = random.Random(fuzz_seed + 1)
    cases: dict[str, list[BarCase]] = {}
    for family in ROW_FAMILIES:
        cases[family] = list(row_cases(family, rng, windows, ROW_CASES))
    for family in FILE_FAMILIES:
        cases[family] = list(file_cases(family, rng, windows, FILE_CASES))
    cases["parquet-schema"] = list(parquet_cases(rng, windows, PARQUET_CASES))
    cases["huge"] = list(huge_cases(rng, windows, 2))
    cases["control"] = list(control_cases(rng, windows, WINDOWS))
    return cases

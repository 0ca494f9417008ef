"""Start-up time of the light CLI commands against the floor measured in the same run.

    .venv/bin/python bench/bench_startup.py [--runs 15] [--compare DIR] [--instructions]

Prints the median wall time of `tradeguard status` and `tradeguard --help` next to two
references: a bare interpreter and `import typer, pydantic_settings` (what any command needs
before tradeguard's own code), and their ratio. Target (issue 15): status <= 0.3 s on a warm
install, i.e. within ~2x of the typer+pydantic-settings floor.

The rows are interleaved (one run of each per round), so load that comes and goes on a shared
machine hits every row alike; the CPU column (user + system time of the child) is the figure
that other processes' load disturbs least, and its minimum over the runs the steadiest.
`--compare DIR` adds the status of another checkout (e.g. `git worktree add /tmp/before
main`) as one more interleaved row: a before/after under the same load. `--instructions`
counts the instructions of one run of each row under valgrind (callgrind): the same on a busy
machine as on a quiet one, slow (about 20 s a row).

Compile the bytecode first (as bootstrap does): `.venv/bin/python -m compileall -q entrypoints
tradeguard engine` (in DIR too) and run without PYTHONDONTWRITEBYTECODE, or every run pays for
compiling tradeguard's modules.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import typer, pydantic_settings"

Row = tuple[list[str], Path]  # argv and the directory it runs in (whose tradeguard it loads)


def _run(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run argv once; return (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _instructions(argv: list[str], cwd: Path) -> int:
    """Count the instructions of one run of argv under callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    refs = [line for line in done.stderr.splitlines() if "I   refs:" in line]
    return int(refs[-1].rsplit(maxsplit=1)[-1].replace(",", "")) if refs else 0


def _rows(state: Path, compare: Path | None) -> dict[str, Row]:
    status = [PY, "-m", "tradeguard", "--state-dir", str(state), "status"]
    rows: dict[str, Row] = {
        "python -c pass": ([PY, "-c", "pass"], ROOT),
        FLOOR: ([PY, "-c", FLOOR], ROOT),
        "tradeguard --help": ([PY, "-m", "tradeguard", "--help"], ROOT),
        "tradeguard status": (status, ROOT),
    }
    if compare is not None:
        rows[f"status of {compare.name}"] = (status, compare)
    return rows


def _time_rows(rows: dict[str, Row], runs: int) -> None:
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for _ in range(runs):
        for name, (argv, cwd) in rows.items():
            samples[name].append(_run(argv, cwd))
    wall = {name: statistics.median(s[0] for s in got) for name, got in samples.items()}
    cpu = {name: statistics.median(s[1] for s in got) for name, got in samples.items()}
    low = {name: min(s[1] for s in got) for name, got in samples.items()}
    for name in rows:
        print(f"{name:34s} {wall[name]:6.3f} s   x{wall[name] / wall[FLOOR]:4.2f} of the "
              f"typer+pydantic floor   (CPU {cpu[name]:6.3f} s, x{cpu[name] / cpu[FLOOR]:4.2f}; "
              f"min {low[name]:6.3f} s, x{low[name] / low[FLOOR]:4.2f})")


def _count_rows(rows: dict[str, Row]) -> None:
    counts = {name: _instructions(argv, cwd) for name, (argv, cwd) in rows.items()}
    for name, count in counts.items():
        print(f"{name:34s} {count / 1e6:8.1f} M instructions   "
              f"x{count / max(counts[FLOOR], 1):4.2f} of the typer+pydantic floor")


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another checkout: its status as a row")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind instead of timing")
    args = parser.parse_args()
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: uncompiled modules are compiled every run")
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        subprocess.run([PY, "-m", "tradeguard", "--state-dir", str(state), "replay", "--data",
                        "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z", "--end",
                        "2016-10-07T01:00:00Z"], cwd=ROOT, capture_output=True, check=True)
        rows = _rows(state, args.compare.resolve() if args.compare else None)
        if args.instructions:
            _count_rows(rows)
        else:
            _time_rows(rows, args.runs)


if __name__ == "__main__":
    main()

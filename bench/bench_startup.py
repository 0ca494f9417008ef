"""Start-up time of the light CLI commands against the floor measured in the same run.

    .venv/bin/python bench/bench_startup.py [--runs 15]

Prints the median wall time of `tradeguard status` and `tradeguard --help` next to two
references: a bare interpreter and `import typer, pydantic_settings` (what any command needs
before tradeguard's own code), and their ratio. Target (issue 15): status <= 0.3 s on a warm
install, i.e. within ~2x of the typer+pydantic-settings floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def _median(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    state = Path(tempfile.mkdtemp()) / "state"
    subprocess.run([PY, "-m", "tradeguard", "--state-dir", str(state), "replay", "--data",
                    "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z", "--end",
                    "2016-10-07T01:00:00Z"], capture_output=True, check=True)
    bare = _median([PY, "-c", "pass"], runs)
    floor = _median([PY, "-c", "import typer, pydantic_settings"], runs)
    rows = [
        ("python -c pass", bare),
        ("import typer, pydantic_settings", floor),
        ("tradeguard --help", _median([PY, "-m", "tradeguard", "--help"], runs)),
        ("tradeguard status", _median([PY, "-m", "tradeguard", "--state-dir", str(state),
                                       "status"], runs)),
    ]
    for name, seconds in rows:
        print(f"{name:34s} {seconds:6.3f} s   x{seconds / floor:4.2f} of the typer+pydantic floor")


if __name__ == "__main__":
    main()

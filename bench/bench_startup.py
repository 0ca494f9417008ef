"""Start-up time of the light CLI commands against the floor measured in the same run.

    .venv/bin/python bench/bench_startup.py [--runs 15]

Prints the median wall time of `tradeguard status` and `tradeguard --help` next to two
references: a bare interpreter and `import typer, pydantic_settings` (what any command needs
before tradeguard's own code), and their ratio. Target (issue 15): status <= 0.3 s on a warm
install, i.e. within ~2x of the typer+pydantic-settings floor.

The rows are interleaved (one run of each per round), so load that comes and goes on a shared
machine hits every row alike; the CPU column (user + system time of the child) is the figure
that other processes' load disturbs least. Compile the bytecode first (as bootstrap does):
`.venv/bin/python -m compileall -q entrypoints tradeguard engine` and run without
PYTHONDONTWRITEBYTECODE, or every run pays for compiling tradeguard's modules.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def _run(argv: list[str]) -> tuple[float, float]:
    """Run argv once; return (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: uncompiled modules are compiled every run")
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        subprocess.run([PY, "-m", "tradeguard", "--state-dir", str(state), "replay", "--data",
                        "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z", "--end",
                        "2016-10-07T01:00:00Z"], capture_output=True, check=True)
        rows = {
            "python -c pass": [PY, "-c", "pass"],
            "import typer, pydantic_settings": [PY, "-c", "import typer, pydantic_settings"],
            "tradeguard --help": [PY, "-m", "tradeguard", "--help"],
            "tradeguard status": [PY, "-m", "tradeguard", "--state-dir", str(state), "status"],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        for _ in range(runs):
            for name, argv in rows.items():
                samples[name].append(_run(argv))
    wall = {name: statistics.median(s[0] for s in runs_of) for name, runs_of in samples.items()}
    cpu = {name: statistics.median(s[1] for s in runs_of) for name, runs_of in samples.items()}
    floor = "import typer, pydantic_settings"
    for name in rows:
        print(f"{name:34s} {wall[name]:6.3f} s   x{wall[name] / wall[floor]:4.2f} of the "
              f"typer+pydantic floor   (CPU {cpu[name]:6.3f} s, x{cpu[name] / cpu[floor]:4.2f})")


if __name__ == "__main__":
    main()

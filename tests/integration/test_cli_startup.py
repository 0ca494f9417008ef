"""Light commands stay light: `status` and `--help` never import the heavy packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("prefect", "pyarrow", "great_expectations", "duckdb", "matplotlib", "ccxt", "fastapi",
         "pandas", "numpy", "rich", "httpx", "apprise")
PROBE = """
import runpy, sys
sys.argv = ["tradeguard", *sys.argv[1:]]
try:
    runpy.run_module("tradeguard", run_name="__main__")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
""".replace("HEAVY_NAMES", repr(HEAVY))


def _heavy_imports(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    line = [x for x in done.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line, done.stderr
    return [m for m in line[-1].removeprefix("HEAVY=").split(",") if m]


@pytest.mark.parametrize("args", [["--help"], ["status"], ["validate", "--help"]])
def test_light_commands_import_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    if args == ["status"]:
        state = tmp_path / "state"
        replay = subprocess.run(
            [sys.executable, "-m", "tradeguard", "--state-dir", str(state), "replay", "--data",
             "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z", "--end",
             "2016-10-07T01:00:00Z"], capture_output=True, text=True, timeout=300, check=False)
        assert replay.returncode == 0, replay.stderr
        args = ["--state-dir", str(state), "status"]
    assert _heavy_imports(*args) == []

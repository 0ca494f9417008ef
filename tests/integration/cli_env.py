"""The CLI tests' fresh-machine environment: the shared bars, no TRADEGUARD_* variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = (REPO / ".." / "shared" / "data").resolve()
FTX = DATA_DIR / "btc-perp_ftx_1m.csv.gz"


def run_cli(state: Path, *args: str, failpoint: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m tradeguard --state-dir state ...` as a fresh process, optionally armed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    env["PYTHONPATH"] = str(REPO)
    if failpoint:
        env["TRADEGUARD_FAILPOINT"] = failpoint
    command = [sys.executable, "-m", "tradeguard", "--state-dir", str(state), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)

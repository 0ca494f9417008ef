"""Crash soak: replay real data in a subprocess, SIGKILL it again and again, compare outcomes.

Each run is killed either at a failpoint (after an intent is journaled but before the broker
call; after the venue booked the order but before the ack is seen; after the paper venue
committed a bar's fills but before the journal saw them; right after a journal commit) or by
an external SIGKILL timer, then restarted with the same command until the data
ends. The result is compared with an uninterrupted run of the same seed. The test suite runs
a bounded version; `python bench/crash_soak.py --kills 500` is the long mode.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeguard.scenarios.drill import outcome

REPO = Path(__file__).resolve().parents[1]
FAULTS = """
[[fault]]
start = "2022-01-01T00:00:00Z"
end = "2022-02-02T00:00:00Z"
reject_rate = 0.1
timeout_rate = 0.25
"""


@dataclass
class SoakResult:
    """What the soak observed: one final outcome per episode, all to equal the reference."""

    kills: int = 0
    runs: int = 0
    by_point: dict[str, int] = field(default_factory=dict)
    finals: list[dict[str, Any]] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """Return the last episode's outcome."""
        return self.finals[-1]


def replay_command(data: Path, state_dir: Path, faults: Path, seed: int) -> list[str]:
    """Return the replay command line (the same for every restart)."""
    return [
        sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
        "--data", str(data), "--start", "2022-01-10T00:00:00Z", "--end", "2022-01-31T00:00:00Z",
        "--faults", str(faults), "--seed", str(seed), "--json",
    ]


def run_soak(
    data: Path, work: Path, kills_wanted: int, seed: int = 5, rng_seed: int = 2024,
    timeout: float = 120.0, timer_weight: int = 1,
) -> SoakResult:
    """Kill and restart until kills_wanted kills, then compare every episode's outcome.

    An episode replays the window into a fresh state directory until a run ends normally.
    A failpoint a run never reaches (the data ended first) ends its episode early: the next
    episode starts over, so the soak always gets its kills.
    """
    rng = random.Random(rng_seed)
    faults = work / "faults.toml"
    faults.write_text(FAULTS)
    result = SoakResult()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    while not result.finals or result.kills < kills_wanted:
        state = work / f"soak-{len(result.finals)}"
        _episode(result, replay_command(data, state, faults, seed), env, rng, kills_wanted,
                 timeout, timer_weight)
        result.finals.append(outcome(state))
    reference = work / "reference"
    subprocess.run(replay_command(data, reference, faults, seed), env=env, cwd=REPO,
                   check=True, capture_output=True, timeout=timeout)
    result.reference = outcome(reference)
    return result


def _episode(
    result: SoakResult, command: list[str], env: dict[str, str], rng: random.Random,
    kills_wanted: int, timeout: float, timer_weight: int,
) -> None:
    """Run the command, killing it at random points, until one run ends normally.

    timer_weight: the weight of a SIGKILL after a random wall-clock delay among the kinds of
    kill (the failpoints weigh 3 each). Timer kills land anywhere, so a run with them is not
    repeatable; 0 makes the whole soak repeatable for a given rng_seed.
    """
    while True:
        result.runs += 1
        point = rng.choices(
            ["before_broker", "inside_broker", "venue_fill", "after_commit", "timer"],
            [3, 3, 3, 3, timer_weight],
        )[0]
        if result.kills >= kills_wanted:
            point = "none"
        run_env = dict(env)
        if point in ("before_broker", "inside_broker", "venue_fill"):
            run_env["TRADEGUARD_FAILPOINT"] = f"{point}:{rng.randint(1, 2)}"
        elif point == "after_commit":
            run_env["TRADEGUARD_FAILPOINT"] = f"after_commit:{rng.randint(1, 25)}"
        proc = subprocess.Popen(command, env=run_env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            wait = rng.uniform(0.2, 0.9) if point == "timer" else timeout
            proc.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        if proc.returncode == 0:
            return
        if proc.returncode != -signal.SIGKILL:
            message = f"replay exited {proc.returncode} (not a kill) on run {result.runs}"
            raise RuntimeError(message)
        result.kills += 1
        result.by_point[point] = result.by_point.get(point, 0) + 1


def main() -> None:
    """Run the long soak and print what it found."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tradeguard.data import find_data_dir

    data = find_data_dir(REPO) / "btc-perp_ftx_1m.csv.gz"
    with tempfile.TemporaryDirectory() as tmp:
        result = run_soak(data, Path(tmp), args.kills, seed=args.seed)
    print(f"runs={result.runs} kills={result.kills} episodes={len(result.finals)} "
          f"by_point={result.by_point}")
    for final in result.finals:
        same = {k: final[k] == result.reference[k] for k in final}
        print(f"fills={len(final['fills'])} equal_to_uninterrupted={same}")


if __name__ == "__main__":
    main()

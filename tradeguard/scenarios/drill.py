"""Crash drills: SIGKILL a replaying process at failpoints, restart it, compare with a clean run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import TradeguardError
from tradeguard.store.files import store_path
from tradeguard.store.union import open_reader

BOOK_FILE = "paper_broker.sqlite"
COMPARED = ("fills", "engine_cash", "book_cash", "book_positions", "trades_executed")


class DrillFailedError(TradeguardError):
    """A drill run ended in a way no kill explains: read its stderr."""


@dataclass(frozen=True)
class DrillRun:
    """How one drill ended: the kills that landed and the final state's outcome."""

    kills: int
    by_point: dict[str, int]
    outcome: dict[str, Any]


def outcome(state_dir: Path) -> dict[str, Any]:
    """Read fills, cash, positions and counts from the journal and the venue's book."""
    store = open_reader(store_path(state_dir))  # state.db and history.db as one journal
    book = sqlite3.connect(f"file:{state_dir / BOOK_FILE}?mode=ro", uri=True)
    try:
        fills = sorted(r[0] for r in store.execute("SELECT fill_id FROM trades"))
        book_fills = sorted(r[0] for r in book.execute("SELECT fill_id FROM fills"))
        duplicated = store.execute(
            "SELECT COUNT(*) FROM (SELECT fill_id FROM trades GROUP BY fill_id "
            "HAVING COUNT(*) > 1)"
        ).fetchall()[0][0]
        state = dict(store.execute("SELECT key, value FROM key_state"))
        positions = dict(book.execute("SELECT symbol, quantity FROM positions"))
        cash = book.execute("SELECT cash FROM account").fetchall()[0][0]
        integrity = store.execute("PRAGMA integrity_check").fetchall()[0][0]
    finally:
        store.close()
        book.close()
    return {
        "fills": fills,
        "book_fills": book_fills,
        "duplicate_fill_rows": duplicated,
        "engine_cash": round(json.loads(state["portfolio"])["cash"], 6),
        "book_cash": round(cash, 6),
        "book_positions": {k: round(v, 10) for k, v in sorted(positions.items()) if v},
        "trades_executed": json.loads(state["execution"])["trades_executed"],
        "integrity": integrity,
    }


def differences(final: Mapping[str, Any], reference: Mapping[str, Any]) -> tuple[str, ...]:
    """Name every compared field that differs, plus any self-inconsistency of the final run."""
    found = [key for key in COMPARED if final[key] != reference[key]]
    if final["fills"] != final["book_fills"]:
        found.append("journal fills != venue fills")
    if final["duplicate_fill_rows"]:
        found.append("duplicate fill rows")
    if final["integrity"] != "ok":
        found.append(f"integrity_check={final['integrity']}")
    return tuple(found)


def run_drill(
    argv: Sequence[str],
    failpoints: Sequence[str],
    state_dir: Path,
    env: Mapping[str, str],
    timeout: float = 300.0,
) -> DrillRun:
    """Run argv once per failpoint (each may be killed there), then once more to the end."""
    kills = 0
    by_point: dict[str, int] = {}
    for failpoint in [*failpoints, ""]:
        run_env = dict(env)
        run_env.pop("TRADEGUARD_FAILPOINT", None)
        if failpoint:
            run_env["TRADEGUARD_FAILPOINT"] = failpoint
        proc = subprocess.run(list(argv), env=run_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode == -signal.SIGKILL and failpoint:
            kills += 1
            point = failpoint.partition(":")[0]
            by_point[point] = by_point.get(point, 0) + 1
            continue
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-3:]
            message = (
                f"drill run with failpoint {failpoint or 'none'!r} exited {proc.returncode}: "
                + " | ".join(tail)
            )
            raise DrillFailedError(message)
    return DrillRun(kills, by_point, outcome(state_dir))


def child_env(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Return this process's environment plus settings overrides as TRADEGUARD_ variables."""
    env = dict(os.environ)
    for group, fields in overrides.items():
        for name, value in fields.items():
            # pydantic-settings reads str fields raw and complex ones as JSON.
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"TRADEGUARD_{group.upper()}__{name.upper()}"] = text
    return env

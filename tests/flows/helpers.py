"""Helpers shared by the flow tests: artifacts of a run, fault plans, state queries."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.artifacts import Artifact
from prefect.client.schemas.objects import State

from tradeguard.settings import load_settings

DATA_DIR = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()
FTX = DATA_DIR / "btc-perp_ftx_1m.csv.gz"
COINBASE_BTC = DATA_DIR / "btc-usd_coinbase_1m.csv.gz"


def run_id(state: State[Any]) -> Any:
    """Return the flow run id of a final state."""
    return state.state_details.flow_run_id


def artifact_of(state: State[Any], key: str) -> str:
    """Return the latest artifact `key`, asserting the given flow run wrote it."""
    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key!r}"
    assert artifact.flow_run_id == run_id(state), f"artifact {key!r} is from another run"
    return str(artifact.data)


def write_fault_plan(path: Path, start: str, end: str, **fields: Any) -> Path:
    """Write a one-window TOML fault plan."""
    lines = ["[[fault]]", f'start = "{start}"', f'end = "{end}"']
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def duplicates_in(state_dir: Path) -> list[str]:
    """Return the store's duplicate client order ids of a state dir."""
    from tradeguard import bootstrap

    settings = load_settings(None, store={"state_dir": state_dir})
    store = bootstrap.open_store(settings, state_dir)
    try:
        return store.duplicate_client_order_ids()
    finally:
        store.close()


def count_bars(path: Path, start: datetime, end: datetime) -> int:
    """Count rows of a data file with start <= ts < end (independent of the engine's reader)."""
    lo, hi = start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")
    with gzip.open(path, "rt") as handle:
        next(handle)
        return sum(1 for line in handle if lo <= line[:20] < hi)

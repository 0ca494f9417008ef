"""Request and result values exchanged between the CLI/flows and the service layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataSpec:
    """One replay input: a file and the symbol its bars belong to."""

    path: Path
    symbol: str


@dataclass(frozen=True)
class ReplayRequest:
    """Parameters of one session run."""

    data: tuple[DataSpec, ...]
    start: datetime | None = None
    end: datetime | None = None
    faults: Path | None = None
    seed: int = 0
    realtime: bool = False  # True: paper trading on the replayed feed at 1x speed (SystemClock)


@dataclass(frozen=True)
class CleanReport:
    """Files removed (or that would be, with dry_run) by state cleanup."""

    removed: tuple[Path, ...] = ()
    kept: tuple[Path, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class CommandReceipt:
    """How an operator command was handled: queued for a live session, or applied directly."""

    action: str
    applied_directly: bool
    command_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""  # one human sentence: what the command did (reset-daily: which day)

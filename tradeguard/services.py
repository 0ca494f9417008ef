"""Use cases of the shell: each CLI command and each Prefect task calls exactly one of these.

Every function takes the already-built `Settings` (built once at the edge) and returns plain
frozen values or JSON-ready dicts. Implemented by the lead; the signatures are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeguard.settings import Settings


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
class SessionResult:
    """What a session run returns: the summary dict printed by `replay --json`."""

    summary: dict[str, Any]
    stopped_by_breaker: bool
    state_dir: Path


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


def run_session(settings: Settings, request: ReplayRequest) -> SessionResult:
    """Run (or resume) a trading session on the state dir in settings.store.state_dir."""
    raise NotImplementedError


def reconcile(settings: Settings) -> dict[str, Any]:
    """Reconcile every non-final order intent with the broker; return counts by outcome."""
    raise NotImplementedError


def reset_daily(settings: Settings, source: str = "operator") -> dict[str, Any]:
    """Reset daily P&L and trade count for the current trading day (idempotent per day)."""
    raise NotImplementedError


def operator_command(settings: Settings, action: str, reason: str, who: str) -> CommandReceipt:
    """Apply halt/resume/recover/reset/reset-daily: queued if a session runs, else direct."""
    raise NotImplementedError


def status(settings: Settings) -> dict[str, Any]:
    """Return breaker state, counters, daily P&L/trades, positions, pending intents."""
    raise NotImplementedError


def clean_state(settings: Settings, older_than_seconds: float, dry_run: bool) -> CleanReport:
    """Remove stale locks/temp files and rotate backups in the state dir."""
    raise NotImplementedError


def backup_state(settings: Settings) -> Path:
    """Write an online backup of the state store and return its path."""
    raise NotImplementedError


def restore_state(settings: Settings, source: Path | None) -> Path:
    """Restore the latest good backup (or `source`) over the state store."""
    raise NotImplementedError


def incident_timeline(
    settings: Settings, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Return breaker events, orders and operator actions in a window (default: last incident)."""
    raise NotImplementedError


def validate_24h(settings: Settings, request: ReplayRequest) -> dict[str, Any]:
    """Run 24h of data through the engine and evaluate the validation gates."""
    raise NotImplementedError

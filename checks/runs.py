"""The checks of one session or validation run, with their parameters taken from the settings.

This is the seam between the settings and the suites: `preflight_for` runs before the engine
starts, `audit_for` after it stops; both write that run's Data Docs under
STATE_DIR/data_docs/. Great Expectations is imported only when a check runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.audit import audit
from checks.gx_context import run_docs_dir
from checks.journal_suite import JournalParams
from checks.market_data import BarSource, MarketDataParams, preflight
from checks.report import CheckReport

if TYPE_CHECKING:
    from tradeguard.requests import ReplayRequest
    from tradeguard.settings import Settings

PREFLIGHT_DOCS = "preflight"
AUDIT_DOCS = "audit"
# Until the feed settings carry a per-symbol price band, the suite uses this default (20 % from
# the previous close within one bar). The integrator wires it to the feed setting.
DEFAULT_PRICE_BAND = 0.20


def market_params(settings: Settings, price_band: float = DEFAULT_PRICE_BAND) -> MarketDataParams:
    """Return the market-data suite parameters of the settings (gap from feed.max_gap_seconds)."""
    return MarketDataParams(
        max_gap_seconds=settings.feed.max_gap_seconds,
        price_band=price_band,
    )


def journal_params(settings: Settings) -> JournalParams:
    """Return the journal suite parameters: the risk limits in force."""
    return JournalParams.from_risk(settings.risk)


def bar_sources(request: ReplayRequest) -> tuple[BarSource, ...]:
    """Return the bar files of a run request."""
    return tuple(BarSource(Path(spec.path), spec.symbol) for spec in request.data)


def preflight_for(
    settings: Settings, request: ReplayRequest, now: datetime, docs: bool = True
) -> CheckReport:
    """Check the bars the run will replay ([start, end) of each file) before it starts."""
    docs_dir = _docs(settings.store.state_dir, PREFLIGHT_DOCS, now) if docs else None
    return preflight(
        bar_sources(request), market_params(settings), request.start, request.end, docs_dir
    )


def audit_for(
    settings: Settings,
    request: ReplayRequest | None,
    now: datetime,
    docs: bool = True,
    store_dir: Path | None = None,
) -> CheckReport:
    """Audit the journal and breaker events after a run (store_dir: the run's own state dir)."""
    from tradeguard.bootstrap import store_path

    state_dir = settings.store.state_dir
    docs_dir = _docs(state_dir, AUDIT_DOCS, now) if docs else None
    sources: Sequence[BarSource] = bar_sources(request) if request is not None else ()
    store = store_path(store_dir if store_dir is not None else state_dir)
    return audit(store, journal_params(settings), sources, docs_dir)


def _docs(state_dir: Path, kind: str, now: datetime) -> Path:
    return run_docs_dir(state_dir, kind, now)

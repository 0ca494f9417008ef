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
from engine.feed import FeedConfig

if TYPE_CHECKING:
    from tradeguard.requests import ReplayRequest
    from tradeguard.settings import Settings

PREFLIGHT_DOCS = "preflight"
AUDIT_DOCS = "audit"
# The suite's band is a fraction (0.20 = 20 %); the engine's feed.price_band_pct a percentage.
DEFAULT_PRICE_BAND = FeedConfig.model_validate({}).price_band_pct / 100.0


def market_params(settings: Settings) -> MarketDataParams:
    """Return the market-data suite parameters of the settings: the engine's own thresholds.

    The gap threshold is feed.max_gap_seconds and the price band feed.price_band_pct, so the
    pre-flight check and the engine's BarValidator judge bars by one set of parameters.
    """
    return MarketDataParams(
        max_gap_seconds=settings.feed.max_gap_seconds,
        price_band=settings.feed.price_band_pct / 100.0,
    )


def bar_source(feed: FeedConfig, path: Path, symbol: str) -> BarSource:
    """Return one bar file to check, with its symbol's feed.symbol_price_bands override."""
    band = feed.symbol_price_bands.get(symbol)
    return BarSource(path, symbol, price_band=None if band is None else band / 100.0)


def journal_params(settings: Settings) -> JournalParams:
    """Return the journal suite parameters: the risk limits in force."""
    return JournalParams.from_risk(settings.risk)


def bar_sources(request: ReplayRequest, feed: FeedConfig | None = None) -> tuple[BarSource, ...]:
    """Return the bar files of a run request (with per-symbol price bands when feed is given)."""
    feed = feed if feed is not None else FeedConfig.model_validate({})
    return tuple(bar_source(feed, Path(spec.path), spec.symbol) for spec in request.data)


def preflight_for(
    settings: Settings, request: ReplayRequest, now: datetime, docs: bool = True
) -> CheckReport:
    """Check the bars the run will replay ([start, end) of each file) before it starts."""
    docs_dir = _docs(settings.store.state_dir, PREFLIGHT_DOCS, now) if docs else None
    return preflight(
        bar_sources(request, settings.feed), market_params(settings), request.start,
        request.end, docs_dir,
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

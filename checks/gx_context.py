"""One ephemeral Great Expectations context per check run, with an optional Data Docs site.

Great Expectations takes about five seconds to import, so nothing here imports it at module
level: the CLI and the trading loop never pay for it unless a check actually runs. The context
is ephemeral (in-memory stores, nothing written but the Data Docs HTML), with progress bars and
analytics off.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.checkpoint.checkpoint import CheckpointResult
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext,
    )

log = logging.getLogger(__name__)

DOCS_SITE = "tradeguard"
DOCS_FOLDER = "data_docs"
DOCS_KEEP = 30
# SUMMARY keeps a bounded sample of failing values whatever the table size.
RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
_QUIET_LOGGERS = ("great_expectations",)


def new_context(docs_dir: Path | None = None) -> AbstractDataContext:
    """Return an ephemeral GX context; with docs_dir, a Data Docs site is written there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    for name in _QUIET_LOGGERS:
        # GX logs every metric at INFO; our own lines say what was checked.
        logging.getLogger(name).setLevel(logging.WARNING)
    sites: dict[str, Any] = {}
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def build_docs(context: AbstractDataContext, docs_dir: Path | None) -> Path | None:
    """Render the context's validation results as HTML; return index.html (None: no site)."""
    if docs_dir is None:
        return None
    context.build_data_docs(site_names=[DOCS_SITE])
    index = docs_dir / "index.html"
    return index if index.is_file() else None


def run_docs_dir(state_dir: Path, kind: str, now: datetime, keep: int = DOCS_KEEP) -> Path:
    """Return a fresh STATE_DIR/data_docs/<kind>-<UTC time> folder, pruning the oldest runs."""
    base = state_dir / DOCS_FOLDER
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    target = base / f"{kind}-{stamp}"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)  # beside the state: private
    prune_docs(base, kind, keep)
    return target


def prune_docs(base: Path, kind: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` run folders of one kind; return the removed ones."""
    runs = sorted(p for p in base.glob(f"{kind}-*") if p.is_dir())
    removed = runs[: max(0, len(runs) - keep)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
        log.info("data_docs_pruned path=%s", path)
    return removed


def suite_results(result: CheckpointResult) -> list[Any]:
    """Return the suite validation results of a checkpoint run, in run order."""
    return list(result.run_results.values())

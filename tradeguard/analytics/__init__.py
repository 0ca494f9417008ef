"""Analytics over the journal: a DuckDB file beside the state store, refreshed incrementally.

See docs/analytics.md for the tables, the views and the named queries.
"""

from tradeguard.analytics.combine import CombineResult, combine, combined_path
from tradeguard.analytics.db import ANALYTICS_FILE, analytics_path, connect
from tradeguard.analytics.queries import QUERIES, NamedQuery, overview, query_names, run_query
from tradeguard.analytics.refresh import RefreshResult, refresh
from tradeguard.analytics.render import FORMATS, as_key_values, render
from tradeguard.analytics.usecase import answer

__all__ = [
    "ANALYTICS_FILE",
    "FORMATS",
    "QUERIES",
    "CombineResult",
    "NamedQuery",
    "RefreshResult",
    "analytics_path",
    "answer",
    "as_key_values",
    "combine",
    "combined_path",
    "connect",
    "overview",
    "query_names",
    "refresh",
    "render",
    "run_query",
]

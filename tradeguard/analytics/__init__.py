"""Analytics over the journal: a DuckDB file beside the state store, refreshed incrementally."""

"""Shell-side adapters for engine ports that need real I/O (SQLite, files)."""

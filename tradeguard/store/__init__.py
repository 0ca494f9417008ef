"""Durable state for the shell: SQLite EngineStore, state-dir lock, backups and cleanup.

Import from the modules (`tradeguard.store.sqlite_store.SqliteStore`, `.files.STORE_FILENAME`,
`.lock`, `.hygiene`, `.serialize`): the package itself loads nothing, so a reader of one
module (`tradeguard status` reads the store and the lock) does not load the backups and cleanup.
"""

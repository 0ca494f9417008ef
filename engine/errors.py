"""Project exceptions: one base, subclasses named for what the operator must do."""

from __future__ import annotations


class TradeguardError(Exception):
    """Base of every error tradeguard raises on purpose."""


class ConfigurationError(TradeguardError):
    """A setting, config file or parameter is invalid: fix the configuration."""


class DataError(TradeguardError):
    """Market data cannot be read at all: fix or fetch the data file."""


class FaultPlanError(ConfigurationError):
    """A fault plan is malformed: fix the plan file (the message names entry and field)."""


class StateError(TradeguardError):
    """Persisted state cannot be read or trusted: the engine will not trade until restored."""


class StateCorruptedError(StateError):
    """The state store failed its integrity check: restore a backup."""


class StateLockedError(StateError):
    """Another live session owns the state directory: stop it or use another directory."""


class SerializationError(StateError):
    """A value cannot be written faithfully to the state store."""


class StatePathError(StateError):
    """A state directory or file is missing, of the wrong kind or inaccessible: fix the path."""


class StateSectionError(StateCorruptedError):
    """A stored snapshot section does not have the shape tradeguard writes: restore a backup."""


class StateLockedRemotelyError(StateLockedError):
    """The lock names a process on another host: stop it there, or take over with force."""


class BrokerError(TradeguardError):
    """The broker did not give a definite answer."""


class BrokerTimeoutError(BrokerError):
    """No acknowledgement arrived: the order may or may not have executed; reconcile it."""


class BrokerUnavailableError(BrokerError):
    """The broker cannot be reached: the order state is unknown until reconciled."""

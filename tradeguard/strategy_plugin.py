"""Resolve `strategy.class` ("package.module:ClassName") to the engine's strategy factory."""

from __future__ import annotations

import importlib
import inspect
import logging

from engine.errors import ConfigurationError
from engine.strategy import (
    DEFAULT_STRATEGY_CLASS,
    SmaCrossover,
    Strategy,
    StrategyConfig,
    StrategyFactory,
)

log = logging.getLogger(__name__)

SETTING = "strategy.class"
# What the session calls on a strategy (engine.strategy.Strategy).
REQUIRED_METHODS = ("update", "warm", "snapshot", "restore")


def load_strategy(class_path: str) -> StrategyFactory:
    """Import the class `class_path` names and return a factory building it from the config.

    Raises ConfigurationError naming the setting when the import fails or the class does not
    have the Strategy protocol's methods.
    """
    if class_path == DEFAULT_STRATEGY_CLASS:
        return SmaCrossover
    module_name, _, class_name = class_path.partition(":")
    if not module_name or not class_name:
        message = f"{SETTING}: expected 'package.module:ClassName', got {class_path!r}"
        raise ConfigurationError(message)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        message = f"{SETTING}: cannot import module {module_name!r} ({e})"
        raise ConfigurationError(message) from e
    found = getattr(module, class_name, None)
    if not inspect.isclass(found):
        message = f"{SETTING}: module {module_name!r} has no class {class_name!r}"
        raise ConfigurationError(message)
    missing = [name for name in REQUIRED_METHODS if not callable(getattr(found, name, None))]
    if missing:
        message = (
            f"{SETTING}: {class_path} is not a Strategy (missing {', '.join(missing)}; "
            f"it needs {', '.join(REQUIRED_METHODS)})"
        )
        raise ConfigurationError(message)
    log.info("strategy_loaded class=%s", class_path)
    return _factory(found, class_path)


def _factory(cls: type, class_path: str) -> StrategyFactory:
    def build(config: StrategyConfig) -> Strategy:
        try:
            strategy: Strategy = cls(config)
        except TypeError as e:
            message = f"{SETTING}: {class_path}(config) failed: {e}"
            raise ConfigurationError(message) from e
        return strategy

    return build

"""Render pydantic validation errors of the settings as dotted fields with their source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

ENV_PREFIX = "TRADEGUARD_"
ENV_NESTED_DELIMITER = "__"
CONFIG_ENV_VAR = "TRADEGUARD_CONFIG"


def format_validation_error(
    error: ValidationError,
    settings_cls: type[BaseModel],
    toml_data: Mapping[str, Any],
    config_file: Path | None,
    overrides: Mapping[str, Any],
) -> str:
    """Render a ValidationError as one line per dotted field, naming where the value came from."""
    lines = [
        _format_error_line(item, settings_cls, toml_data, config_file, overrides)
        for item in error.errors()
    ]
    count = len(lines)
    head = f"invalid configuration ({count} error{'s' if count != 1 else ''}):"
    return "\n".join([head, *(f"  {line}" for line in lines)])


def _format_error_line(
    item: ErrorDetails,
    settings_cls: type[BaseModel],
    toml_data: Mapping[str, Any],
    config_file: Path | None,
    overrides: Mapping[str, Any],
) -> str:
    loc = [str(part) for part in item["loc"]]
    message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if item["type"] == "extra_forbidden":
        message = "unknown setting (not a field of this group)"
    # A model-level validator reports on the group; name the field its message starts with.
    first_word, _, rest = message.partition(" ")
    if first_word in _fields_of(settings_cls, loc) and rest[:1].isalpha():
        loc, message = [*loc, first_word], rest
    elif loc and first_word == loc[-1] and rest:
        message = rest
    dotted = ".".join(loc) if loc else "settings"
    source = _source_of(loc, toml_data, config_file, overrides)
    suffix = f" [from {source}]" if source else ""
    return f"{dotted}: {message}{suffix}"


def _fields_of(settings_cls: type[BaseModel], loc: list[str]) -> set[str]:
    if len(loc) != 1:
        return set()
    field = settings_cls.model_fields.get(loc[0])
    annotation = field.annotation if field is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return set(annotation.model_fields)
    return set()


def _source_of(
    loc: list[str],
    toml_data: Mapping[str, Any],
    config_file: Path | None,
    overrides: Mapping[str, Any],
) -> str:
    sources: list[str] = []
    if _lookup(overrides, loc):
        sources.append("command-line override")
    env_names = _env_names(loc)
    if env_names:
        sources.append("env " + ", ".join(env_names))
    # A cross-field error names one field; the group may have come from the file as a whole.
    if config_file is not None and any(_lookup(toml_data, loc[:n]) for n in range(len(loc), 0, -1)):
        sources.append(f"config file {config_file}")
    return " and ".join(sources)


def _lookup(data: Mapping[str, Any], loc: list[str]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _env_names(loc: list[str]) -> list[str]:
    """Environment variables that set loc itself, a parent group, or (for a group) a child."""
    wanted = (ENV_PREFIX + ENV_NESTED_DELIMITER.join(loc)).upper()
    found: list[str] = []
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV_VAR:
            continue
        if (
            upper == wanted
            or wanted.startswith(upper + ENV_NESTED_DELIMITER)
            or upper.startswith(wanted + ENV_NESTED_DELIMITER)
        ):
            found.append(name)
    return found

"""Render pydantic validation errors of the settings as dotted fields with their source.

Input values are never part of the text for a field that may hold a secret (a SecretStr
anywhere under it, or a name such as url, token or password): pydantic's own rendering
(`input_value=...`) is never used, and a validator message that repeats the input is replaced.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

ENV_PREFIX = "TRADEGUARD_"
ENV_NESTED_DELIMITER = "__"
CONFIG_ENV_VAR = "TRADEGUARD_CONFIG"
HIDDEN = "invalid value (not shown: this setting may hold a secret)"
_SECRET_NAME = re.compile(r"url|uri|token|password|passwd|secret|key|dsn|credential|auth", re.I)


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
        message = "unknown setting (not a field of this group)" + _closest(settings_cls, loc)
    elif _may_hold_secret(settings_cls, loc) and _echoes(
        message, _secret_inputs(_annotation_at(settings_cls, loc), item.get("input"))
    ):
        message = HIDDEN
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


def _closest(settings_cls: type[BaseModel], loc: list[str]) -> str:
    """Return "; did you mean X?" naming the nearest field at loc's level, or ""."""
    model: type[BaseModel] | None = settings_cls
    for part in loc[:-1]:
        field = model.model_fields.get(part) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
    if model is None or not loc:
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _may_hold_secret(settings_cls: type[BaseModel], loc: list[str]) -> bool:
    """Return True when loc, or anything under it, is a secret or named like one."""
    annotation: Any = settings_cls
    for part in loc:
        model = _model_of(annotation)
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            break  # a list index or dict key: the field above decides
        if _SECRET_NAME.search(part):
            return True
        annotation = field.annotation
    return _holds_secret(annotation, set())


def _holds_secret(annotation: Any, seen: set[int]) -> bool:
    if annotation is SecretStr:
        return True
    if id(annotation) in seen:
        return False
    seen.add(id(annotation))
    model = _model_of(annotation)
    if model is not None:
        return any(
            _SECRET_NAME.search(name) or _holds_secret(field.annotation, seen)
            for name, field in model.model_fields.items()
        )
    return any(_holds_secret(arg, seen) for arg in get_args(annotation))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _annotation_at(settings_cls: type[BaseModel], loc: list[str]) -> Any:
    annotation: Any = settings_cls
    for part in loc:
        model = _model_of(annotation)
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return None  # a list index or dict key: judge the value without its model
        annotation = field.annotation
    return annotation


def _secret_inputs(annotation: Any, value: Any) -> Any:
    """Keep, of a group's input, only what may be secret (fields that are or hold secrets).

    A group-level validator naming a channel ("names must be unique: url1") must not be hidden
    because a non-secret field echoes; anything whose model is unknown is kept (fail closed).
    """
    model = _model_of(annotation)
    if model is None or not isinstance(value, Mapping):
        return value
    kept = {}
    for key, item in value.items():
        field = model.model_fields.get(str(key))
        if field is None:
            kept[key] = item
        elif _SECRET_NAME.search(str(key)) or _holds_secret(field.annotation, set()):
            kept[key] = _secret_list(field.annotation, item)
    return kept


def _secret_list(annotation: Any, value: Any) -> Any:
    if isinstance(value, list | tuple):
        inner = [arg for arg in get_args(annotation) if _model_of(arg) is not None]
        if inner:
            return [_secret_inputs(inner[0], item) for item in value]
    return _secret_inputs(annotation, value)


def _echoes(message: str, value: Any) -> bool:
    """Return True when any text inside value appears in message."""
    return any(text in message for text in _texts(value))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if text:
            yield text
    elif isinstance(value, Mapping):
        # Keys are field names or symbols, never secrets; "url" must not hide "url1".
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _texts(item)


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

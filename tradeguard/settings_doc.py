"""Settings explained: every field with its description, value and source; a commented template.

`config show` prints `field_views()`; `config init` writes `toml_template()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined, to_jsonable_python

from tradeguard.settings import SECRET_MASK, Settings
from tradeguard.settings_errors import ENV_NESTED_DELIMITER, ENV_PREFIX


@dataclass(frozen=True, slots=True)
class FieldView:
    """One setting as an operator needs to see it."""

    path: str
    value: Any
    default: Any
    description: str
    source: str
    changed: bool


def _groups() -> Iterator[tuple[str, type[BaseModel], str]]:
    for name, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            yield name, model, info.description or ""


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return SECRET_MASK
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, BaseModel):
        return {k: _mask(getattr(value, k)) for k in type(value).model_fields}
    return to_jsonable_python(value)


def _default(model: type[BaseModel], field: str) -> Any:
    info = model.model_fields[field]
    if info.default is not PydanticUndefined:
        return _mask(info.default)
    if info.default_factory is not None:
        return _mask(info.default_factory())  # type: ignore[call-arg]
    return None


def _source(
    group: str,
    field: str,
    toml: Mapping[str, Any],
    config_file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> str:
    if field in overrides.get(group, {}):
        return "command line"
    wanted = f"{ENV_PREFIX}{group}{ENV_NESTED_DELIMITER}{field}".upper()
    for key in environ:
        if key.upper() == wanted:
            return f"env {key}"
    whole = f"{ENV_PREFIX}{group}".upper()
    for key, text in environ.items():
        if key.upper() == whole and field in _json_keys(text):
            return f"env {key}"
    if field in toml.get(group, {}):
        return f"file {config_file}"
    return "default"


def _json_keys(text: str) -> set[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return set()
    return set(data) if isinstance(data, dict) else set()


def field_views(
    settings: Settings,
    *,
    toml: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[FieldView]:
    """Return every field of every group with value, default, description and source."""
    views = []
    for group, model, _ in _groups():
        current = getattr(settings, group)
        for field, info in model.model_fields.items():
            value = _mask(getattr(current, field))
            default = _default(model, field)
            source = _source(group, field, toml or {}, config_file, environ or {},
                             overrides or {})
            views.append(FieldView(f"{group}.{field}", value, default, info.description or "",
                                   source, value != default))
    return views


def _toml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path | date | datetime):
        return json.dumps(str(value) if not isinstance(value, str) else value)
    if isinstance(value, list):
        items = [_toml_value(v) for v in value]
        return None if None in items else "[" + ", ".join(i for i in items if i) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = [(k, _toml_value(v)) for k, v in value.items()]
        if any(v is None for _, v in pairs):
            return None
        return "{ " + ", ".join(f"{json.dumps(k)} = {v}" for k, v in pairs) + " }"
    return json.dumps(str(value))


def toml_template() -> str:
    """Return a TOML file listing every setting, commented out at its default."""
    lines = [
        "# tradeguard settings. Every field is listed at its default, commented out:",
        "# uncomment a line to change it. Environment variables (TRADEGUARD_GROUP__FIELD)",
        "# override this file; `tradeguard config show` tells where each value came from.",
    ]
    for group, model, description in _groups():
        lines += ["", f"# {description}".rstrip(), f"[{group}]"]
        for field, info in model.model_fields.items():
            lines.append(f"# {info.description or field}")
            rendered = _toml_value(_default(model, field))
            if rendered is None:
                lines.append(f"# {field} =   (unset by default)")
            else:
                lines.append(f"# {field} = {rendered}")
    return "\n".join(lines) + "\n"

"""Checks the settings need beyond pydantic's: unknown variables, strict scalars, real crons.

A limit set in a mistyped environment variable must not be dropped in silence: every variable
with the `TRADEGUARD_` prefix either maps to a setting, is one of the project's own other
variables, or is an error naming the closest valid name. Counts are whole numbers, not
booleans; booleans are true or false; cron strings are parsed by a real cron parser.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from engine.errors import ConfigurationError
from tradeguard.settings_errors import CONFIG_ENV_VAR, ENV_NESTED_DELIMITER, ENV_PREFIX

# Variables the project reads itself, outside the settings (see README and docs/state.md).
NON_SETTINGS_ENV = frozenset(
    {CONFIG_ENV_VAR, "TRADEGUARD_LOG_LEVEL", "TRADEGUARD_DATA_DIR", "TRADEGUARD_FAILPOINT"}
)
_CONTAINERS = (list, tuple, set, frozenset, dict)
_BOOL_TEXT = {"true": True, "false": False}
_STRICT_ERROR = "strict_scalar"


# A NamedTuple, not a dataclass: every command that reads the settings imports this module,
# and a dataclass costs ~0.5 ms to create at import (Python 3.11), a NamedTuple ~0.1 ms.
class EnvTarget(NamedTuple):
    """What one environment variable sets: a dotted field, JSON-decoded when complex."""

    dotted: str
    complex: bool
    open_below: bool  # a dict: any deeper __KEY sets one entry
    example: str = ""  # how a complex value is written


def env_targets(model: type[BaseModel], prefix: str = ENV_PREFIX) -> dict[str, EnvTarget]:
    """Return every environment variable name (upper case) that sets a field of model."""
    found: dict[str, EnvTarget] = {}
    _collect(model, prefix, "", found)
    return found


def _collect(model: type[BaseModel], prefix: str, dotted: str, found: dict[str, EnvTarget]) -> None:
    for name, field in model.model_fields.items():
        env_name = f"{prefix}{name}".upper()
        path = f"{dotted}.{name}" if dotted else name
        annotation = field.annotation
        nested = _model_of(annotation)
        mapping = nested is not None or _origin(annotation) is dict
        example = '{"name": value}' if mapping else '["a", "b"]'
        found[env_name] = EnvTarget(
            path, _is_complex(annotation), _origin(annotation) is dict, example
        )
        if nested is not None:
            _collect(nested, env_name + ENV_NESTED_DELIMITER, path, found)


def check_environment(environ: Mapping[str, str], model: type[BaseModel]) -> None:
    """Raise ConfigurationError for TRADEGUARD_ variables that set nothing or hold bad JSON.

    Every problem is listed; an unknown name comes with the closest valid one (difflib).
    Values are never echoed: a variable may carry a secret.
    """
    targets = env_targets(model)
    problems: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTINGS_ENV:
            continue
        target = targets.get(upper)
        if target is None:
            if not _under_open_target(upper, targets):
                problems.append(_unknown(name, targets))
            continue
        if target.complex:
            problem = _json_problem(environ[name], target)
            if problem:
                problems.append(f"{target.dotted}: {problem} [from env {name}]")
    if problems:
        count = len(problems)
        head = f"invalid configuration ({count} error{'s' if count != 1 else ''}):"
        message = "\n".join([head, *(f"  {line}" for line in problems)])
        raise ConfigurationError(message)


def _under_open_target(upper: str, targets: Mapping[str, EnvTarget]) -> bool:
    return any(
        target.open_below and upper.startswith(name + ENV_NESTED_DELIMITER)
        for name, target in targets.items()
    )


def _unknown(name: str, targets: Mapping[str, EnvTarget]) -> str:
    # Compared without the shared prefix, which would make every name look close.
    candidates = sorted(n.removeprefix(ENV_PREFIX) for n in {*targets, *NON_SETTINGS_ENV})
    wanted = name.upper().removeprefix(ENV_PREFIX)
    close = difflib.get_close_matches(wanted, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
    return (
        f"env {name}: no setting has this name, so its value would be ignored{hint} "
        f"(groups and fields are joined by '{ENV_NESTED_DELIMITER}'; "
        "`tradeguard config show` lists them)"
    )


def _json_problem(value: str, target: EnvTarget) -> str:
    try:
        json.loads(value)
    except json.JSONDecodeError as e:
        # e.msg and the position only: the document itself may hold a secret.
        return (
            f"the value is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
            f"write it as JSON, e.g. {target.example}"
        )
    return ""


# -- strict scalars --------------------------------------------------------------------------


def check_strict(annotation: Any, value: Any) -> Any:
    """Return value unless a boolean stands for a number, or a non-boolean for a flag, in it.

    Pydantic alone reads `true` as 1 for a count and "yes" or 1 as true for a flag.
    """
    problem = _scalar_problem(annotation, value, "").strip(". ")
    if problem:
        raise PydanticCustomError(_STRICT_ERROR, "{problem}", {"problem": problem})
    return value


def _model_problem(model: type[BaseModel], data: Mapping[str, Any], dotted: str) -> str:
    for name, item in data.items():
        field = model.model_fields.get(str(name))
        if field is not None:
            path = f"{dotted}.{name}" if dotted else str(name)
            problem = _scalar_problem(field.annotation, item, path)
            if problem:
                return problem
    return ""


def _scalar_problem(annotation: Any, value: Any, path: str) -> str:
    nested = _model_of(annotation)
    if nested is not None:
        return _model_problem(nested, value, path) if isinstance(value, Mapping) else ""
    if annotation is bool:
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in _BOOL_TEXT):
            return ""
        return f"{path} expects true or false"
    if _is_number(annotation):
        if isinstance(value, bool):
            kind = "a whole number" if annotation is int else "a number"
            return f"{path} expects {kind}, not true/false"
        return ""
    return _container_problem(annotation, value, path)


def _container_problem(annotation: Any, value: Any, path: str) -> str:
    origin, args = _origin(annotation), get_args(annotation)
    if origin is dict and isinstance(value, Mapping) and len(args) == 2:
        return _first(_scalar_problem(args[1], v, f"{path}[{k!r}]") for k, v in value.items())
    if origin in _CONTAINERS and isinstance(value, list | tuple):
        pairs: Iterable[tuple[Any, Any]]
        if origin is tuple and args and args[-1] is not Ellipsis:
            pairs = zip(args, value, strict=False)
        else:
            pairs = ((args[0] if args else Any, item) for item in value)
        return _first(_scalar_problem(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(pairs))
    return ""


def _first(problems: Iterable[str]) -> str:
    return next((p for p in problems if p), "")


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    members = _union_members(annotation)
    return bool(members) and bool(members & {int, float}) and bool not in members


def _union_members(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return {a for a in get_args(annotation) if a is not type(None)}
    return set()


def _origin(annotation: Any) -> Any:
    return get_origin(annotation) or (annotation if annotation in _CONTAINERS else None)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_complex(annotation: Any) -> bool:
    """Return True for the types pydantic-settings reads from the environment as JSON."""
    if _model_of(annotation) is not None or _origin(annotation) in _CONTAINERS:
        return True
    members = _union_members(annotation)
    return bool(members) and all(_is_complex(m) for m in members)


# -- cron ------------------------------------------------------------------------------------


def check_cron(value: str) -> str:
    """Return the normalised 5-field cron expression, or raise ValueError saying why not."""
    fields = value.split()
    if len(fields) != 5:
        message = f"cron expression {value!r} must have 5 fields (minute hour day month weekday)"
        raise ValueError(message)
    normal = " ".join(fields)
    # Imported on use: only a cron set in the environment or a config file is parsed here
    # (defaults are not re-validated), so `status` without one never loads the parser.
    from cronsim import CronSim, CronSimError

    try:
        CronSim(normal, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as e:
        message = f"cron expression {normal!r} is not valid: {e}"
        raise ValueError(message) from e
    return normal

"""The one JSON serializer for everything written to the state store.

It converts the value types the engine and its inputs actually carry (tz-aware datetimes and
pandas Timestamps, dates, Decimal, UUID, Enum, dataclasses, pydantic models, numpy scalars, nested
lists/tuples/dicts) and refuses anything it cannot write faithfully, naming the path inside the
value (``details.fills[2].ts: naive datetime``), instead of writing a broken or empty file the
way the seed-000 state manager did.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel

from engine.errors import SerializationError

_PRIMITIVES = (str, int, bool, type(None))


def format_utc(value: datetime, path: str = "value") -> str:
    """Return a tz-aware datetime as fixed-width ISO-8601 UTC text (sortable as text)."""
    if type(value) is datetime and value.tzinfo is UTC:
        return utc_text(value)
    if value.tzinfo is None or value.utcoffset() is None:
        message = f"{path}: naive datetime {value.isoformat()} (timezone-aware UTC required)"
        raise SerializationError(message)
    nanos = getattr(value, "nanosecond", 0)
    if nanos:
        message = f"{path}: timestamp {value.isoformat()} has nanoseconds (microseconds max)"
        raise SerializationError(message)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


@lru_cache(maxsize=256)
def utc_text(value: datetime) -> str:
    """Return format_utc(value) of a plain datetime whose tzinfo is UTC (checked by callers).

    Memoised: a commit formats the same few instants (the bar's time, the clock's now) in
    several rows, and isoformat costs about fifteen times a cache hit.
    """
    return value.isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    """Return the aware UTC datetime written by format_utc."""
    return datetime.fromisoformat(text).astimezone(UTC)


def to_jsonable(value: Any, path: str = "value") -> Any:
    """Return value converted to JSON-ready primitives, or raise SerializationError."""
    try:
        return _convert(value, path, set())
    except RecursionError as e:
        raise _too_deep(path) from e


def _too_deep(path: str) -> SerializationError:
    message = f"{path}: nested too deeply to write (beyond the interpreter's recursion limit)"
    return SerializationError(message)


def to_json(value: Any, path: str = "value") -> str:
    """Return compact, key-sorted JSON for value; refuse NaN/inf, naive times, unknown types."""
    plain = to_jsonable(value, path)
    try:
        return json.dumps(plain, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:  # pragma: no cover - _convert already vetted value
        message = f"{path}: cannot encode as JSON ({e})"
        raise SerializationError(message) from e


def _refuse(value: Any) -> Any:
    message = f"not a JSON primitive: {type(value).__name__}"
    raise TypeError(message)


# The strict encoder (NaN and infinities refused), built once: json.dumps builds its C encoder
# anew on every call, which costs as much as encoding a small section. Same output as to_json.
# Without a circular check: a cycle ends in RecursionError, and the fallback to to_json names it.
_STRICT_ENCODER: Callable[[Any, int], Any] | None = (
    None if c_make_encoder is None
    else c_make_encoder(None, _refuse, encode_basestring_ascii, None, ":", ",", True, False, False)
)
# Everything but plain JSON data (times, dataclasses, numpy scalars, subclasses of the
# primitives) goes to `default`, which refuses it, so to_json converts it or names it.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def to_json_snapshot(value: Any, path: str = "value") -> str:
    """Return to_json(value) for an engine snapshot section, fast when it is plain JSON data.

    Engine snapshots are built of str/int/float/bool/None/list/dict already, and sections are
    encoded on every commit: orjson encodes them about six times faster than json's C
    encoder, to the same values (the text may differ: 0.00001 for 1e-05, UTF-8 for \\u
    escapes; the store compares texts only with its own). orjson writes NaN and infinities
    as null, so a text holding "null" anywhere is read back: equal to value, its nulls are
    value's Nones (None never equals a float); else (a NaN, an infinity, or a tuple read
    back as a list) it is encoded again by the strict encoder, which refuses non-finite
    floats. Reading back costs about a third of encoding again.
    Anything else (a datetime, a numpy scalar, ...) falls back to to_json, which converts it
    or names the bad path.
    """
    try:
        text = orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError included (also nesting past 254 levels)
        # Not the strict encoder: it would write a non-str key as text ({1: x} as {"1": x}).
        return to_json(value, path)
    if "null" not in text or orjson.loads(text) == value:
        return text
    try:
        if _STRICT_ENCODER is not None:
            return "".join(_STRICT_ENCODER(value, 0))
        return json.dumps(
            value, allow_nan=False, sort_keys=True, separators=(",", ":"), default=_refuse
        )
    except (TypeError, ValueError, RecursionError):
        return to_json(value, path)


def _reject_constant(token: str) -> Any:
    message = f"stored JSON holds {token}, which the store never writes: the file was altered"
    raise SerializationError(message)


def from_json(text: str) -> Any:
    """Return the value stored by to_json (datetimes stay ISO strings)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        message = f"stored JSON cannot be parsed ({e}): the state store was altered"
        raise SerializationError(message) from e


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(value: Any, path: str, active: set[int]) -> Any:
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if kind is float:
        return _finite(value, path)
    if kind is dict or kind is list or kind is tuple:
        return _convert_container(value, path, active)
    if kind.__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return _convert(value.item(), path, active)
    if isinstance(value, Enum):
        return _convert(value.value, path, active)
    converted = _convert_scalar(value, path)
    if converted is not _NOT_SCALAR:
        return converted
    return _convert_structure(value, path, active)


_NOT_SCALAR = object()


def _finite(value: float, path: str) -> float:
    if not math.isfinite(value):
        message = f"{path}: non-finite float {value!r}"
        raise SerializationError(message)
    return value


def _convert_scalar(value: Any, path: str) -> Any:
    """Return the JSON form of a time, Decimal or primitive subclass, else _NOT_SCALAR."""
    if isinstance(value, datetime):
        return format_utc(value, path)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):  # as orjson writes it in to_json_snapshot
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            message = f"{path}: non-finite Decimal {value}"
            raise SerializationError(message)
        return str(value)
    if isinstance(value, bool):  # subclasses of the primitives become the plain type
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return _finite(float(value), path)
    return _NOT_SCALAR


def _convert_structure(value: Any, path: str, active: set[int]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _guarded(value, path, active, lambda: _convert_dict(fields, path, active))
    if isinstance(value, BaseModel):
        return _convert(value.model_dump(mode="json"), path, active)
    if isinstance(value, dict | list | tuple):
        return _convert_container(value, path, active)
    kind = type(value)
    message = f"{path}: unsupported type {kind.__module__}.{kind.__qualname__}"
    raise SerializationError(message)


def _convert_container(value: Any, path: str, active: set[int]) -> Any:
    if isinstance(value, dict):
        return _guarded(value, path, active, lambda: _convert_dict(value, path, active))
    return _guarded(
        value,
        path,
        active,
        lambda: [_convert(item, f"{path}[{i}]", active) for i, item in enumerate(value)],
    )


def _convert_dict(value: dict[Any, Any], path: str, active: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, Enum) and isinstance(key.value, str):
            name = key.value
        elif isinstance(key, str):
            name = str.__str__(key)
        else:
            message = f"{_child(path, repr(key))}: dict key of type {type(key).__name__} (str only)"
            raise SerializationError(message)
        if name in out:  # e.g. an Enum key beside its value as text: one would be lost
            message = f"{_child(path, name)}: two keys of this dict are written as {name!r}"
            raise SerializationError(message)
        out[name] = _convert(item, _child(path, name), active)
    return out


def _guarded(value: Any, path: str, active: set[int], build: Callable[[], Any]) -> Any:
    marker = id(value)
    if marker in active:
        message = f"{path}: value contains a reference cycle"
        raise SerializationError(message)
    active.add(marker)
    try:
        return build()
    finally:
        active.discard(marker)

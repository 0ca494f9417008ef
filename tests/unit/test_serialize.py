"""The state serializer writes the types that broke seed 000 and refuses what it cannot keep."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from engine.errors import SerializationError, StateError
from engine.model import Side, Signal
from tradeguard.store.serialize import format_utc, from_json, parse_utc, to_json, to_jsonable

BAR = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)


def test_pandas_timestamp_inside_nested_dict_becomes_iso_utc() -> None:
    position = {"entry": {"ts": pd.Timestamp("2026-01-04 17:52", tz="Europe/Berlin")}}

    out = json.loads(to_json(position))

    assert out == {"entry": {"ts": "2026-01-04T16:52:00.000000+00:00"}}
    assert parse_utc(out["entry"]["ts"]) == BAR


def test_signal_dataclass_is_serialized_field_by_field() -> None:
    signal = Signal("BTC", Side.SELL, 0.75, pd.Timestamp(BAR), (10, 30))

    out = from_json(to_json({"last": signal}))

    assert out == {
        "last": {
            "symbol": "BTC",
            "side": "SELL",
            "confidence": 0.75,
            "bar_time": "2026-01-04T16:52:00.000000+00:00",
            "periods": [10, 30],
        }
    }


def test_slotted_dataclass_without_dict_is_supported() -> None:
    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int
        when: datetime

    assert to_jsonable(Slotted(1, BAR)) == {"a": 1, "when": "2026-01-04T16:52:00.000000+00:00"}


def test_naive_datetime_is_refused_with_its_path() -> None:
    fills = [{"ts": BAR}, {"ts": BAR}, {"ts": datetime(2026, 1, 4, 16, 52)}]

    with pytest.raises(SerializationError, match=r"^details\.fills\[2\]\.ts: naive datetime"):
        to_json({"fills": fills}, "details")


def test_serialization_error_is_a_state_error_so_the_engine_fails_closed() -> None:
    with pytest.raises(StateError):
        to_json(datetime(2026, 1, 4))


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (math.nan, "non-finite float nan"),
        (math.inf, "non-finite float inf"),
        (np.float64("nan"), "non-finite float nan"),
        (Decimal("NaN"), "non-finite Decimal"),
        (object(), "unsupported type builtins.object"),
        (pd.NaT, "naive datetime"),
        ({1, 2}, "unsupported type builtins.set"),
    ],
)
def test_unwritable_values_are_refused_naming_the_path(bad: object, fragment: str) -> None:
    with pytest.raises(SerializationError, match=r"^risk\.limits\[1\]: ") as info:
        to_json({"limits": [1.0, bad]}, "risk")
    assert fragment in str(info.value)


def test_non_string_dict_key_is_refused() -> None:
    with pytest.raises(SerializationError, match=r"^value\.7: dict key of type int"):
        to_json({7: "x"})


def test_timestamp_with_nanoseconds_is_refused_rather_than_truncated() -> None:
    stamp = pd.Timestamp("2026-01-04T16:52:00.000000001", tz="UTC")

    with pytest.raises(SerializationError, match="nanoseconds"):
        to_json({"ts": stamp})


def test_reference_cycle_is_refused_instead_of_recursing_forever() -> None:
    loop: list[object] = []
    loop.append(loop)

    with pytest.raises(SerializationError, match=r"^value\[0\]: value contains a reference cycle"):
        to_json(loop)


def test_scalars_of_every_supported_kind_convert_to_plain_json() -> None:
    class Mode(Enum):
        LIVE = "live"

    class Limits(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        max_trades: int
        until: datetime

    value = {
        "np_int": np.int64(7),
        "np_float": np.float32(0.5),
        "np_bool": np.bool_(True),
        "decimal": Decimal("0.10"),
        "day": date(2026, 1, 5),
        "mode": Mode.LIVE,
        Side.BUY: "enum key",
        "tuple": (1, "a"),
        "limits": Limits(max_trades=20, until=BAR),
        "offset": datetime(2026, 1, 4, 11, 52, tzinfo=timezone(timedelta(hours=-5))),
    }

    out = from_json(to_json(value))

    assert out == {
        "np_int": 7,
        "np_float": 0.5,
        "np_bool": True,
        "decimal": "0.10",
        "day": "2026-01-05",
        "mode": "live",
        "BUY": "enum key",
        "tuple": [1, "a"],
        "limits": {"max_trades": 20, "until": "2026-01-04T16:52:00Z"},
        "offset": "2026-01-04T16:52:00.000000+00:00",
    }
    assert type(out["np_int"]) is int


def test_output_is_compact_and_key_sorted_so_equal_state_gives_equal_text() -> None:
    assert to_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert to_json({"a": 1, "b": 2}) == to_json({"b": 2, "a": 1})


def test_from_json_refuses_nan_tokens_that_the_store_never_writes() -> None:
    with pytest.raises(SerializationError, match="NaN"):
        from_json('{"pnl": NaN}')


def test_from_json_refuses_truncated_text() -> None:
    with pytest.raises(SerializationError, match="cannot be parsed"):
        from_json('{"pnl": 1')


def test_format_utc_is_fixed_width_so_text_order_is_time_order() -> None:
    early = format_utc(BAR)
    later = format_utc(BAR + timedelta(microseconds=1))

    assert len(early) == len(later)
    assert early < later


def test_snapshot_fast_path_gives_the_same_text_and_still_refuses_nan() -> None:
    from tradeguard.store.serialize import to_json_snapshot

    plain = {"b": [1, 2.5, None, True], "a": {"z": "x", "y": -0.0}}
    assert to_json_snapshot(plain) == to_json(plain)
    stamp = {"at": datetime(2022, 1, 21, tzinfo=UTC)}
    assert to_json_snapshot(stamp) == to_json(stamp)
    with pytest.raises(SerializationError, match=r"^state\.risk\.pnl"):
        to_json_snapshot({"pnl": float("nan")}, "state.risk")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_snapshot_refuses_non_finite_floats_that_orjson_would_write_as_null(bad: float) -> None:
    from tradeguard.store.serialize import to_json_snapshot

    for section in ({"pnl": bad}, {"pnl": bad, "since": None}, {"w": [1.0, {"x": bad}]}):
        with pytest.raises(SerializationError, match=r"^state\.risk\."):
            to_json_snapshot(section, "state.risk")


def test_snapshot_text_reads_back_the_same_values() -> None:
    from tradeguard.store.serialize import from_json, to_json_snapshot

    section = {"tiny": 1e-05, "big": 1e22, "neg": -0.0, "name": "caf\u00e9 \u2028", "n": None,
               "deep": {"b": [5e-324, 2**63 - 1], "a": True}}
    text = to_json_snapshot(section)
    assert from_json(text) == section
    assert list(from_json(text)) == sorted(section)  # keys sorted: stable text
    assert to_json_snapshot({"big": 2**70}) == to_json({"big": 2**70})  # beyond orjson's range
    assert to_json_snapshot({"k": (1, 2)}) == to_json({"k": (1, 2)})
    with pytest.raises(SerializationError, match="dict key of type int"):
        to_json_snapshot({"k": {1: "x"}}, "state.x")


def _nested(depth: int) -> dict[str, object]:
    inner: list[object] = []
    root = inner
    for _ in range(depth - 1):
        deeper: list[object] = []
        inner.append(deeper)
        inner = deeper
    return {"w": root}


def test_nesting_too_deep_to_write_is_refused_naming_the_path_not_a_recursion_error() -> None:
    from tradeguard.store.serialize import to_json_snapshot

    assert from_json(to_json_snapshot(_nested(100), "state.x")) == _nested(100)
    # Past orjson's 254 levels the section goes to to_json, whose walk ends in the
    # interpreter's recursion limit: a SerializationError naming the section, as for any
    # value that cannot be written, not a RecursionError escaping the commit.
    for depth in (400, 5000):
        with pytest.raises(SerializationError, match=r"^state\.risk: nested too deeply"):
            to_json_snapshot(_nested(depth), "state.risk")
        with pytest.raises(SerializationError, match=r"^risk: nested too deeply"):
            to_json(_nested(depth), "risk")


def test_snapshot_and_to_json_write_a_uuid_alike_whatever_else_the_section_holds() -> None:
    from tradeguard.store.serialize import to_json_snapshot

    # orjson writes a UUID itself; the strict path (taken when the text holds null) must
    # agree, or a section is written or refused depending on an unrelated None beside it.
    order = uuid.UUID("12345678-1234-5678-1234-567812345678")
    alone = to_json_snapshot({"id": order}, "state.x")
    beside_none = to_json_snapshot({"id": order, "since": None}, "state.x")
    assert from_json(alone) == {"id": str(order)}
    assert from_json(beside_none) == {"id": str(order), "since": None}
    assert to_json({"id": order}) == alone


def test_snapshot_with_nulls_is_read_back_and_refused_only_for_non_finite_floats() -> None:
    from tradeguard.store.serialize import from_json, to_json_snapshot

    # A text holding null is checked by reading it back: Nones pass, a NaN or an infinity
    # that orjson wrote as null does not, wherever it hides (in a tuple too, which reads
    # back as a list and so takes the strict encoder).
    section = {"since": None, "w": (1.5, None), "reason": "null and void", "x": [None, {}]}
    assert from_json(to_json_snapshot(section, "state.x")) == {
        "since": None, "w": [1.5, None], "reason": "null and void", "x": [None, {}]
    }
    for bad in ({"since": None, "w": (float("nan"),)}, {"a": None, "b": [[float("-inf")]]}):
        with pytest.raises(SerializationError, match=r"^state\.x\.\w"):
            to_json_snapshot(bad, "state.x")


def test_two_keys_written_as_one_text_are_refused_not_collapsed() -> None:
    from tradeguard.store.serialize import to_json_snapshot

    class Level(Enum):
        HIGH = "high"

    class Disguised(str):
        __hash__ = object.__hash__

        def __eq__(self, other: object) -> bool:
            return self is other

    # Both keys are written as "high": the JSON kept one value and silently lost the other.
    for section in ({Level.HIGH: 1, "high": 2}, {"w": {Disguised("high"): 1, "high": 2}}):
        for encode in (to_json_snapshot, to_json):
            with pytest.raises(SerializationError, match=r"^state\.x\.(w\.)?high: two keys"):
                encode(section, "state.x")

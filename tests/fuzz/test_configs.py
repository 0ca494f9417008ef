"""Broken configurations give a ConfigurationError naming the field or variable, or load."""

from __future__ import annotations

import logging
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigurationError
from tests.fuzz.config_cases import (
    ConfigCase,
    env_cases,
    secret_cases,
    special_cases,
    syntax_cases,
    toml_field_cases,
)
from tradeguard.settings import Settings, load_settings

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def config_cases(fuzz_seed: int) -> list[ConfigCase]:
    rng = random.Random(fuzz_seed + 2)
    return [
        *toml_field_cases(rng, 180),
        *special_cases(),
        *syntax_cases(rng, 30),
        *secret_cases(),
        *env_cases(rng, 100),
    ]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _load(case: ConfigCase, path: Path | None, monkeypatch: pytest.MonkeyPatch) -> Settings | str:
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.upper().startswith("TRADEGUARD_")]:
            patch.delenv(name)
        for name, value in case.env.items():
            patch.setenv(name, value)
        try:
            return load_settings(path)
        except ConfigurationError as e:
            return str(e)


def _non_finite(data: Any, dotted: str = "") -> list[str]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _non_finite(v, f"{dotted}.{k}".lstrip("."))]
    if isinstance(data, float) and not math.isfinite(data):
        return [dotted]
    return []


def _judge(case: ConfigCase, outcome: Settings | str, logs: list[str]) -> str | None:
    if case.secret is not None and any(case.secret in text for text in [str(outcome), *logs]):
        return "the secret is shown"
    if isinstance(outcome, Settings):
        if case.must_fail:
            return "accepted"
        bad = _non_finite(outcome.model_dump_safe())
        return f"accepted non-finite {bad}" if bad else None
    if not outcome.strip():
        return "empty message"
    lowered = outcome.lower()
    if not any(name.lower() in lowered for name in case.names):
        return f"message names none of {case.names}: {outcome[:300]!r}"
    return None


def test_at_least_300_generated_configs(config_cases: list[ConfigCase]) -> None:
    assert len(config_cases) >= 300
    assert {c.kind for c in config_cases} >= {"toml-unknown-key", "env-unknown", "secret"}


def test_broken_configs_raise_configuration_error_naming_the_field_or_load(
    config_cases: list[ConfigCase], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [c for c in config_cases if not c.known_hole]
    holes = _holes(cases, tmp_path, monkeypatch)
    assert not holes, f"{len(holes)} hole(s) of {len(cases)}:\n" + "\n".join(holes)


def test_known_config_holes_are_closed(
    config_cases: list[ConfigCase], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [c for c in config_cases if c.known_hole]
    holes = _holes(cases, tmp_path, monkeypatch)
    assert not holes, "\n".join(holes)


def _holes(cases: list[ConfigCase], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    holes = []
    try:
        for number, case in enumerate(cases):
            handler.lines.clear()
            try:
                outcome = _load(case, case.write(tmp_path, number), monkeypatch)
            except Exception as e:
                holes.append(f"{case.name}: traceback {type(e).__name__}: {str(e)[:200]}")
                continue
            problem = _judge(case, outcome, handler.lines)
            if problem is not None:
                holes.append(f"{case.kind} {case.name}: {problem}")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return holes

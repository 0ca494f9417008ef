"""The layering rule, read from every module's imports (ast): lower layers never reach up.

engine/ (pure core) < tradeguard/ (library shell) < tasks/ < flows/ < deployments/, entrypoints/.
The table in docs/engineering.md states the same rule.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "tradeguard", "tasks", "flows", "deployments", "checks", "entrypoints")
ENGINE_THIRD_PARTY = {"pydantic", "pydantic_core", "typing_extensions"}
# `python -m tradeguard` is a launcher alias of the console script: run, never imported.
LAUNCHERS = {"tradeguard/__main__.py"}


def modules(package: str) -> list[Path]:
    """Return every Python file of a top-level package."""
    return sorted((REPO / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, top-level module) of every import in a file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str, allowed: set[str] | None, forbidden: set[str]) -> list[str]:
    """List imports of package that leave `allowed` (when given) or hit `forbidden`."""
    found = []
    for path in modules(package):
        name = path.relative_to(REPO).as_posix()
        if name in LAUNCHERS:
            continue
        for line, top in imported(path):
            bad = top in forbidden or (
                allowed is not None and top not in allowed and top not in sys.stdlib_module_names
            )
            if bad:
                found.append(f"{name}:{line} imports {top}")
    return found


def test_every_package_is_scanned() -> None:
    for package in PACKAGES:
        assert modules(package), f"no module found in {package}/"


def test_engine_imports_only_itself_the_standard_library_and_pydantic() -> None:
    assert violations("engine", {"engine", *ENGINE_THIRD_PARTY}, set()) == []


def test_the_library_never_imports_prefect_layers_or_entry_points() -> None:
    forbidden = {"tasks", "flows", "deployments", "entrypoints"}
    assert violations("tradeguard", None, forbidden | {"checks"}) == []
    assert violations("checks", None, forbidden) == []


def test_tasks_never_import_flows_or_deployments() -> None:
    assert violations("tasks", None, {"flows", "deployments", "entrypoints"}) == []


def test_flows_never_import_deployments_or_entry_points() -> None:
    assert violations("flows", None, {"deployments", "entrypoints"}) == []


def test_only_entry_points_and_deployments_import_entry_points() -> None:
    for package in ("engine", "tradeguard", "tasks", "flows", "checks"):
        assert violations(package, None, {"entrypoints"}) == [], package


def test_a_planted_upward_import_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "tradeguard"
    fake.mkdir()
    (fake / "leak.py").write_text("def f():\n    from flows import x\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert violations("tradeguard", None, {"flows"}) == ["tradeguard/leak.py:2 imports flows"]

"""engine/ does no I/O: no file, compression, CSV, TOML or path modules, and no open()."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
IO_MODULES = {"csv", "gzip", "zlib", "tomllib", "pathlib", "pyarrow", "io", "shutil", "os"}


def _io_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in IO_MODULES:
                found.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "open"
        ):
            found.append("open()")
    return found


def test_engine_modules_do_no_io() -> None:
    modules = sorted(ENGINE.glob("*.py"))
    assert len(modules) > 10
    offenders = {p.name: uses for p in modules if (uses := _io_uses(p))}
    assert offenders == {}


def test_the_check_catches_a_reader() -> None:
    sample = ENGINE.parent / "tradeguard" / "marketdata.py"
    assert {"csv", "gzip", "pathlib"} <= set(_io_uses(sample))

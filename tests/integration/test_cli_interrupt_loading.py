"""A Ctrl-C while the CLI is still loading exits 130 with no traceback (adversarial pass)."""

from __future__ import annotations

import subprocess
import sys

# The interrupt is raised deterministically inside the CLI's imports: SIGINT is sent to the
# process the moment typer (the first thing the CLI loads) is imported.
CHILD = """
import builtins, os, signal, sys
real_import = builtins.__import__
def interrupting(name, *args, **kwargs):
    if name == "typer":
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupting
sys.argv = ["tradeguard", "status"]
from entrypoints.{module} import main
main()
"""


def _run(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD.replace("{module}", module)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_an_interrupt_while_loading_exits_130_without_a_traceback() -> None:
    done = _run("launcher")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


def test_the_probe_does_interrupt_the_cli_import() -> None:
    # Without the launcher the same interrupt is a KeyboardInterrupt traceback: the probe works.
    done = _run("cli")
    assert done.returncode != 0
    assert "KeyboardInterrupt" in done.stderr

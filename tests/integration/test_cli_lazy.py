"""The table of lazily built commands matches the real commands, so it cannot drift."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
import typer
from typer.main import get_command

import entrypoints
from entrypoints.cli import app
from entrypoints.cli_lazy import COMMANDS, SHORT_HELP_LIMIT, LazyGroup


def _group() -> LazyGroup:
    group = get_command(app)
    assert isinstance(group, LazyGroup)
    return group


def _context(group: LazyGroup) -> Any:
    return typer.Context(group, info_name="tradeguard")


def _cli_modules() -> list[Any]:
    names = [m.name for m in pkgutil.iter_modules(entrypoints.__path__) if m.name.startswith("cli")]
    return [importlib.import_module(f"entrypoints.{name}") for name in sorted(names)]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_listed_help_is_the_commands_own(name: str) -> None:
    group = _group()
    command = group.get_command(_context(group), name)
    assert command is not None
    assert command.name == name
    assert command.get_short_help_str(SHORT_HELP_LIMIT) == COMMANDS[name].help


def test_root_help_from_the_table_equals_help_from_the_built_commands() -> None:
    group = _group()
    from_table = group.get_help(_context(group))
    assert group.lazy_commands.built() == []  # listing built nothing
    for name in group.list_commands(_context(group)):
        group.get_command(_context(group), name)
    assert sorted(group.lazy_commands.built()) == sorted(COMMANDS)
    assert group.get_help(_context(group)) == from_table
    assert all(f"  {name} " in from_table for name in COMMANDS)


def test_every_typer_of_the_cli_modules_is_reachable_from_the_table() -> None:
    # A command or sub-app added to a cli_* module but not to the table would be unreachable.
    listed = {id(entry.load()) for entry in COMMANDS.values()}
    reachable = set(listed)
    for entry in COMMANDS.values():
        reachable |= {id(info.typer_instance) for info in entry.load().registered_groups}
    holders = {id(entry.load()) for entry in COMMANDS.values() if not entry.group}
    for module in _cli_modules():
        for attribute, value in vars(module).items():
            if isinstance(value, typer.Typer) and value is not app:
                assert id(value) in reachable, f"{module.__name__}.{attribute} is not in COMMANDS"
                if id(value) in holders:
                    for command in value.registered_commands:
                        name = command.name or command.callback.__name__.replace("_", "-")
                        assert name in COMMANDS, f"{module.__name__}: {name} is not in COMMANDS"


def test_an_unknown_command_still_gets_a_suggestion() -> None:
    from typer.testing import CliRunner

    done = CliRunner().invoke(app, ["stauts"])
    assert done.exit_code == 2
    assert "Did you mean 'status'" in done.output


def test_a_command_registered_on_the_root_app_is_kept() -> None:
    extra = typer.Typer(cls=LazyGroup, add_completion=False, rich_markup_mode=None)

    @extra.callback()
    def _root() -> None: ...

    @extra.command("extra-one")
    def _extra_one() -> None:
        """An eagerly registered command."""

    group = get_command(extra)
    assert isinstance(group, LazyGroup)
    names = group.list_commands(_context(group))
    assert names == [*COMMANDS, "extra-one"]
    assert group.lazy_commands.short_help("extra-one") == "An eagerly registered command."

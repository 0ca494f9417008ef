"""Commands built on use: `tradeguard status` imports and builds only its own command.

COMMANDS names every top-level command: the module and typer.Typer it lives in, and the
one-line help `tradeguard --help` lists. A command's module is imported, and typer turns it
into a click command, only when that command is looked up (invoked, or its own --help shown);
the root `--help` reads the table and imports nothing. tests/integration/test_cli_lazy.py
builds every command and checks the table against it, so the table cannot drift.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar, NamedTuple

import typer
from typer import main as typer_main
from typer.models import TyperInfo

from entrypoints.cli_support import EdgeGroup

# Help limit of the command list: the first sentence whole (FullHelpGroup shows it wrapped).
SHORT_HELP_LIMIT = 1_000


# A NamedTuple, not a dataclass: this class is made at every start (0.07 ms, not 0.5 ms).
class LazyCommand(NamedTuple):
    """Where a top-level command lives and the one-line help listed for it."""

    module: str
    typer_name: str  # a typer.Typer in `module`: the group itself, or a holder of commands
    help: str
    group: bool = False  # True: the Typer is the command group (`state`, `data`, ...)

    def load(self) -> typer.Typer:
        """Import the module and return its typer.Typer."""
        found = getattr(importlib.import_module(self.module), self.typer_name)
        if not isinstance(found, typer.Typer):
            message = f"{self.module}.{self.typer_name} is not a typer.Typer"
            raise TypeError(message)
        return found


_CLI = "entrypoints.cli"
_ADMIN = "entrypoints.cli_admin"
_ANALYTICS = "entrypoints.cli_analytics"
_COCKPIT = "entrypoints.cli_cockpit"
_VENUE = "entrypoints.cli_venue"

# In the order `tradeguard --help` lists them.
COMMANDS: Mapping[str, LazyCommand] = {
    "run": LazyCommand(
        _VENUE, "top_commands",
        "Run a live session on the configured venue (same as `venue run`)."),
    "replay": LazyCommand(
        _CLI, "top_commands",
        "Replay real bars through the engine (resumes the session in the state directory)."),
    "validate": LazyCommand(
        _CLI, "top_commands",
        "Run the validation matrix (every scenario and its expected outcome) on real data."),
    "halt": LazyCommand(
        _CLI, "top_commands",
        "Halt trading now (manual override): no new entries until resume/recover."),
    "resume": LazyCommand(
        _CLI, "top_commands", "Lift a manual halt; the breaker keeps its own state."),
    "recover": LazyCommand(
        _CLI, "top_commands",
        "Confirm recovery from HALT/SHUTDOWN after investigating (operator confirmation)."),
    "reset": LazyCommand(
        _CLI, "top_commands",
        "Reset the circuit breaker to CLOSED and clear its failure counters."),
    "reset-daily": LazyCommand(
        _CLI, "top_commands",
        "Reset daily P&L and trade count for the current trading day (idempotent per day)."),
    "clean-state": LazyCommand(
        _CLI, "top_commands", "Remove stale locks and temporary files and rotate backups."),
    "reconcile": LazyCommand(
        _CLI, "top_commands", "Reconcile every unfinished order intent with the broker."),
    "incident-report": LazyCommand(
        _CLI, "top_commands",
        "Print breaker events, orders and operator actions (default: the last incident)."),
    "status": LazyCommand(
        _COCKPIT, "top_commands",
        "Show breaker state and time in it, current bar, today's P&L, positions, intents."),
    "api": LazyCommand(
        _COCKPIT, "top_commands",
        "Serve the HTTP control API (status, metrics, halt/resume/recover) until Ctrl-C."),
    "server": LazyCommand(
        _CLI, "top_commands",
        "Run the local Prefect server and a process worker (blocks until interrupted)."),
    "deploy": LazyCommand(
        _CLI, "top_commands",
        "Register the work pool and every deployment with their schedules."),
    "state": LazyCommand(
        _ADMIN, "state_app", "Back up, restore and archive the state store.", True),
    "config": LazyCommand(
        _ADMIN, "config_app",
        "Show the effective configuration or write a commented template.", True),
    "faults": LazyCommand(_ADMIN, "faults_app", "Check fault-plan files before a replay.", True),
    "data": LazyCommand(_ADMIN, "data_app", "Check the market data files.", True),
    "venue": LazyCommand(
        _VENUE, "venue_app",
        "Live venues through ccxt: readiness check, loopback emulator, live session.", True),
    "analytics": LazyCommand(
        _ANALYTICS, "analytics_app",
        "Query the analytics database (DuckDB beside the state store, refreshed first).", True),
    "report": LazyCommand(
        _ANALYTICS, "report_app",
        "Write incident, session and validation reports (Markdown + HTML with charts).", True),
    "alerts": LazyCommand(
        "entrypoints.cli_alerts", "alerts_app",
        "Alert channels, outbox, acknowledgements, silences and the dead-man check.", True),
}


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name: listed from the table, built on first lookup, then kept."""

    def __init__(self, table: Mapping[str, LazyCommand], build: Callable[[str, LazyCommand], Any]):
        self._table = table
        self._build = build
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            entry = self._table[name]  # KeyError for an unknown name, as a dict does
            self._built[name] = self._build(name, entry)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._table
        yield from (name for name in self._built if name not in self._table)

    def __len__(self) -> int:
        return len(self._table) + sum(1 for name in self._built if name not in self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table or name in self._built

    def built(self) -> list[str]:
        """Names of the commands built so far."""
        return list(self._built)

    def short_help(self, name: str) -> str | None:
        """One-line help of a command without building it (None for a hidden command)."""
        command = self._built.get(name)
        if command is None:
            return self._table[name].help
        return None if command.hidden else str(command.get_short_help_str(SHORT_HELP_LIMIT))


class LazyGroup(EdgeGroup):
    """The top-level group: commands from `table`, each imported and built on first use."""

    table: ClassVar[Mapping[str, LazyCommand]] = COMMANDS

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.lazy_commands = LazyCommands(self.table, self._build)
        for name, command in self.commands.items():  # any registered on the root app directly
            self.lazy_commands[name] = command
        self.commands = self.lazy_commands

    def _build(self, name: str, entry: LazyCommand) -> Any:
        holder = entry.load()
        if entry.group:
            # As app.add_typer(holder, name=name) would: the root's help style applies.
            info = TyperInfo(holder, name=name)
            return typer_main.get_group_from_info(
                info, pretty_exceptions_short=True, suggest_commands=self.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        for command in holder.registered_commands:
            if command.callback is not None and _command_name(command) == name:
                return typer_main.get_command_from_info(
                    command, pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode
                )
        message = f"{entry.module}.{entry.typer_name} has no command {name!r}"
        raise LookupError(message)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command name, in table order, without building any."""
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the commands with their one-line help from the table (nothing imported)."""
        rows = []
        for name in self.list_commands(ctx):
            text = self.lazy_commands.short_help(name)
            if text is not None:
                rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _command_name(command: Any) -> str:
    """The name typer gives a registered command (explicit, else the function's, dashed)."""
    if command.name:
        return str(command.name)
    return typer_main.get_command_name(command.callback.__name__)

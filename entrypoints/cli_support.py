"""Helpers of the console command: option parsing, logging set-up, error edge, key/value rows."""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from engine.errors import ConfigurationError, TradeguardError

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.settings import Settings
    from tradeguard.workspace import SqliteWorkspace

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EXIT_USAGE = 2
EXIT_GATE_FAILED = 1

# Times outside this range overflow date arithmetic (zone shifts, windows, day rolls).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION_SECONDS = 36500 * 86400.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
WhoOpt = Annotated[
    str | None,
    typer.Option(
        "--who", metavar="NAME", help="Operator name for the audit trail (default: OS user)."
    ),
]
StartOpt = Annotated[
    str | None, typer.Option(metavar="ISO", help="Start, ISO-8601 with zone (…T00:00:00Z).")
]
EndOpt = Annotated[
    str | None, typer.Option(metavar="ISO", help="End (exclusive), ISO-8601 with zone.")
]


class UsageError(ConfigurationError):
    """A command-line option is invalid: fix the command (the message names the option)."""


class AppState:
    """Global options of one invocation; settings are built lazily, once, on first use."""

    # A plain class, not a dataclass: it is made at every start, and creating a dataclass
    # costs ~0.5 ms at import on Python 3.11.
    __slots__ = ("_app", "_settings", "config", "force", "log_level", "state_dir")

    def __init__(
        self,
        config: Path | None = None,
        state_dir: Path | None = None,
        log_level: str = "WARNING",
        force: bool = False,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.log_level = log_level
        self.force = force
        self._settings: Settings | None = None
        self._app: App | None = None

    def settings(self) -> Settings:
        """Build the settings on first use (so `--help` works with a broken config)."""
        if self._settings is None:
            from tradeguard.settings import load_settings

            overrides: dict[str, Any] = {}
            if self.state_dir is not None:
                overrides["store"] = {"state_dir": self.state_dir}
            self._settings = load_settings(self.config, **overrides)
        return self._settings

    def workspace(self) -> SqliteWorkspace:
        """Return the state directory's workspace (no composition root: `status` reads it)."""
        from tradeguard.workspace import SqliteWorkspace

        store = self.settings().store
        return SqliteWorkspace(store.state_dir, store.durability, force_lock=self.force)

    def app(self) -> App:
        """Build the use cases' runtime once (the composition root, on top of everything)."""
        if self._app is None:
            from tradeguard.bootstrap import bootstrap

            self._app = bootstrap(self.settings(), workspace=self.workspace())
        return self._app


def state_of(ctx: typer.Context) -> AppState:
    """Return the invocation's global options (an empty set when the callback did not run)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def settings_of(ctx: typer.Context) -> Settings:
    """Return the invocation's settings, built on first use."""
    return state_of(ctx).settings()


def app_of(ctx: typer.Context) -> App:
    """Return the use cases' runtime of this invocation, built on first use."""
    return state_of(ctx).app()


# Global options and whether they take a value: accepted before or after the command.
GLOBAL_OPTIONS = {"--config": True, "--state-dir": True, "--log-level": True, "--force": False}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options written after the command in front of it (`replay --state-dir D`)."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        name = token.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in token
            width = 2 if takes_value else 1
            front.extend(args[index : index + width])
            index += width
            continue
        rest.append(token)
        index += 1
    return front + rest


class FullHelpGroup(TyperGroup):
    """A command group whose `--help` lists each command's first sentence whole (wrapped)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the commands with their untruncated one-line help."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class EdgeGroup(FullHelpGroup):
    """Top-level group turning deliberate tradeguard errors into `error: ...` and exit code 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Accept global options on either side of the command name."""
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report TradeguardError without a traceback."""
        try:
            return super().invoke(ctx)
        except TradeguardError as e:
            log = logging.getLogger("entrypoints.cli")
            log.debug("command_failed error=%s", type(e).__name__, exc_info=True)
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_USAGE) from e
        except OSError as e:
            # The environment is at fault (a path that is a directory, unreadable, full disk):
            # name the path, keep the traceback for --log-level DEBUG.
            log = logging.getLogger("entrypoints.cli")
            log.debug("command_failed error=%s", type(e).__name__, exc_info=True)
            where = f"{e.filename}: " if e.filename else ""
            typer.echo(f"error: {where}{e.strerror or e}", err=True)
            raise typer.Exit(EXIT_USAGE) from e


class UtcFormatter(logging.Formatter):
    """Log formatter stamping every line with ISO-8601 UTC time (milliseconds, Z)."""

    def formatTime(  # noqa: N802 - overrides logging.Formatter API
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        """Return the record time as 2024-01-31T12:00:00.123Z."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to whatever sys.stderr is at emit time, so a swapped-out stream is never used."""

    @property
    def stream(self) -> Any:
        """Return the current sys.stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignore: the stream is always the current sys.stderr."""


def configure_logging(level: str) -> None:
    """Send one line per event to stderr, UTC timestamps, at the given level (idempotent)."""
    name = level.upper()
    if name not in LOG_LEVELS:
        message = f"--log-level: {level!r} is not one of {', '.join(LOG_LEVELS)}"
        raise UsageError(message)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(UtcFormatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(name)


def parse_utc(value: str | None, option: str) -> datetime | None:
    """Parse an ISO-8601 time that carries its zone and return it in UTC (None passes)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as e:
        message = f"{option}: {value!r} is not an ISO-8601 time (e.g. 2022-01-21T00:00:00Z)"
        raise UsageError(message) from e
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        message = f"{option}: {value!r} has no time zone; add Z or +00:00 (times are UTC)"
        raise UsageError(message)
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        message = (
            f"{option}: {value!r} is outside the supported range "
            f"{EARLIEST.date().isoformat()} .. {LATEST.date().isoformat()} (UTC)"
        )
        raise UsageError(message)
    return moment


def parse_duration(value: str, option: str) -> float:
    """Parse 90s / 10m / 2h / 1d into seconds."""
    match = _DURATION.match(value)
    if match is None:
        message = f"{option}: {value!r} is not a duration like 90s, 10m, 2h or 1d"
        raise UsageError(message)
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
    if seconds <= 0:
        message = f"{option}: duration must be positive (got {value!r})"
        raise UsageError(message)
    if seconds > MAX_DURATION_SECONDS:
        message = f"{option}: {value!r} is longer than the maximum of 36500d (100 years)"
        raise UsageError(message)
    return seconds


def parse_data_spec(value: str, data_dir: Path | None) -> tuple[Path, str]:
    """Parse PATH[:SYMBOL] into (existing file, symbol); bare names also tried in data_dir."""
    raw_path, symbol = value, ""
    head, sep, tail = value.rpartition(":")
    if sep and head and tail and _SYMBOL.match(tail) and "/" not in tail:
        raw_path, symbol = head, tail.upper()
    path = Path(raw_path).expanduser()
    if not path.exists() and data_dir is not None and path.name == raw_path:
        candidate = data_dir / raw_path
        if candidate.exists():
            path = candidate
    if path.exists() and not path.is_file():
        message = f"--data: {raw_path} is not a regular file (a bar file is *.csv.gz or parquet)"
        raise UsageError(message)
    if path.is_file() and not os.access(path, os.R_OK):
        message = f"--data: data file {raw_path} is not readable (check its permissions)"
        raise UsageError(message)
    if not path.is_file():
        where = f" (also looked in {data_dir})" if data_dir is not None else ""
        message = f"--data: data file {raw_path} does not exist{where}"
        raise UsageError(message)
    if symbol:
        return path, symbol
    # Imported on use: the data module loads the engine's feed (pydantic), which --help skips.
    from tradeguard.data import symbol_of

    return path, symbol_of(path)


def parse_data_specs(values: list[str], data_dir: Path | None) -> list[tuple[Path, str]]:
    """Parse every --data PATH[:SYMBOL]; refuse a file given twice under the same symbol.

    Its bars would all be read twice: every second copy skipped as a duplicate timestamp and
    reported to the breaker as a data-feed issue, up to HALT, on data that is sound.
    """
    specs: list[tuple[Path, str]] = []
    seen: dict[tuple[Path, str], str] = {}
    for value in values:
        path, symbol = parse_data_spec(value, data_dir)
        key = (path.resolve(), symbol)
        if key in seen:
            message = (
                f"--data: {value} names the same file and symbol ({symbol}) as {seen[key]}: "
                "give each file once"
            )
            raise UsageError(message)
        seen[key] = value
        specs.append((path, symbol))
    return specs


def existing_file(path: Path | None, option: str, what: str) -> Path | None:
    """Return path if it names an existing file; refuse a missing one naming the option."""
    if path is None:
        return None
    resolved = path.expanduser()
    if resolved.exists() and not resolved.is_file():
        message = f"{option}: {what} {resolved} is not a regular file"
        raise UsageError(message)
    if not resolved.is_file():
        message = f"{option}: {what} {resolved} does not exist"
        raise UsageError(message)
    return resolved


def require_state_dir(settings: Settings) -> Path:
    """Return the state directory; refuse commands aimed at one that does not exist."""
    state_dir = settings.store.state_dir
    if state_dir.exists() and not state_dir.is_dir():
        message = f"state directory {state_dir} is a file, not a directory; pass --state-dir"
        raise UsageError(message)
    if not state_dir.is_dir():
        message = (
            f"state directory {state_dir} does not exist; run a session first or pass --state-dir"
        )
        raise UsageError(message)
    return state_dir


def os_user() -> str:
    """Return the operating-system user name, for the audit trail of operator commands."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "operator"


def dumps(data: Any) -> str:
    """Serialise command output as one deterministic JSON object."""
    return json.dumps(data, sort_keys=True, default=str)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested mappings into (dotted.key, value) rows, keeping the given order."""
    if isinstance(data, Mapping):
        if not data and prefix:
            return [(prefix, "{}")]
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, data)]


def render_rows(data: Any) -> list[str]:
    """Render a mapping as `key: value` lines (lists as JSON)."""
    lines = []
    for key, value in flatten(data):
        shown = json.dumps(value, default=str) if isinstance(value, list | tuple) else value
        lines.append(f"{key}: {shown}")
    return lines


def echo_data(data: Any, as_json: bool) -> None:
    """Print data as one JSON object or as `key: value` lines."""
    if as_json:
        typer.echo(dumps(data))
    else:
        for line in render_rows(data):
            typer.echo(line)
